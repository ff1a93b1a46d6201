"""Peak memory of a training run, one framework per process.

tracemalloc sees only Python's allocator, not torch's, so this measures what the operating
system sees: the resident set.  A fresh process builds the model and the data, records its
resident size, resets the kernel's high-water mark (``/proc/self/clear_refs``), runs the
training steps and reads the high-water mark (``VmHWM``) again.  The difference is the
memory the training run itself needed at its peak: activations, gradients, workspaces and
optimizer state.  Where the reset is not possible, ``ru_maxrss`` before and after is used.

    python3 benchmarks/memory.py --framework tinyconv --model resnet20 --batch 32 --steps 3
"""
import argparse
import json
import os
import resource
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # as benchmarks/run.py does
if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def status_kib(field):
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in KiB (None off Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak():
    """Set VmHWM back to the current resident size; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def measure_training_peak(framework, model, batch, steps, threads, blocks_per_stage=None):
    import numpy as np

    from benchmarks import cases

    import torch
    import tinyconv

    tinyconv.set_num_threads(threads)
    torch.set_num_threads(threads)
    spec = cases.MODELS[model]
    builder = cases.tinyconv_train_step if framework == "tinyconv" else cases.torch_train_step
    model_args = {"blocks_per_stage": blocks_per_stage} if blocks_per_stage else {}
    step = builder(spec, batch, np.random.default_rng(0), **model_args)

    baseline_kib = status_kib("VmRSS")
    if reset_peak() and baseline_kib is not None:
        method = "VmHWM after clear_refs - VmRSS before"
        for _ in range(steps):
            step()
        peak_kib = status_kib("VmHWM")
    else:
        method = "ru_maxrss after - ru_maxrss before"
        baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(steps):
            step()
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"framework": framework, "model": model, "batch": batch, "steps": steps,
            "baseline_mib": baseline_kib / 1024, "peak_mib": peak_kib / 1024,
            "training_peak_mib": (peak_kib - baseline_kib) / 1024, "method": method}


def run_in_subprocess(framework, model, batch, steps, threads, blocks_per_stage=None):
    """The measurement in a fresh Python (so neither framework's memory counts for the other)."""
    import subprocess

    command = [sys.executable, str(Path(__file__).resolve()), "--framework", framework, "--model", model,
               "--batch", str(batch), "--steps", str(steps), "--threads", str(threads)]
    if blocks_per_stage:
        command += ["--blocks-per-stage", str(blocks_per_stage)]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("tinyconv", "torch"), required=True)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--blocks-per-stage", type=int, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(measure_training_peak(args.framework, args.model, args.batch, args.steps, args.threads,
                                           args.blocks_per_stage)))


if __name__ == "__main__":
    main()
