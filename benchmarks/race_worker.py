"""One measurement of the fair race, in a process of its own: ``benchmarks/race.py`` starts it.

    python3 benchmarks/race_worker.py step --framework tinyconv --case lenet5_28x28x1_b64 --threads 1
    python3 benchmarks/race_worker.py gemm --framework numpy --threads default

It imports NumPy first, then only the framework it measures ("both": NumPy, torch, tinyconv in
that order, as a comparison notebook does, and then times tinyconv), sets nothing in the
environment, and sets the thread count the way that framework's users do
(``tinyconv.set_num_threads(n)``, ``torch.set_num_threads(n)``; "default" sets nothing).  It
prints one JSON line: the speed, its process id, and what the framework reported about itself.
"""
import os
import sys

# What the environment held before any library loaded (a library may set variables itself).
ENV_WATCHED = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "KMP_BLOCKTIME")
ENV_AT_START = {name: os.environ.get(name) for name in ENV_WATCHED}

import numpy as np  # noqa: E402  (NumPy first, as users import it)

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FRAMEWORKS = ("tinyconv", "torch", "both")


def parse_threads(text):
    """A positive thread count, or "default" (leave the framework's own count)."""
    if text == "default":
        return text
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise argparse.ArgumentTypeError(f"threads: expected a positive integer or 'default', got {text!r}")
    return threads


def load_frameworks(framework, threads):
    """Import in the user's order and set the thread count; returns the imported modules."""
    modules = {}
    if framework in ("torch", "both"):
        import torch

        modules["torch"] = torch
        if threads != "default":
            torch.set_num_threads(threads)
    if framework in ("tinyconv", "both"):
        import tinyconv

        modules["tinyconv"] = tinyconv
        if threads != "default":
            tinyconv.set_num_threads(threads)
    return modules


def time_step(step, warmup, samples, min_sample_s):
    """Median seconds per call over ``samples`` samples of at least ``min_sample_s`` each."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    step()
    inner = max(1, round(min_sample_s / max(time.perf_counter() - start, 1e-9)))
    seconds = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        seconds.append((time.perf_counter() - start) / inner)
    return statistics.median(seconds), seconds, inner


def describe(modules):
    """What each loaded framework says about itself (read after the timing, to disturb nothing)."""
    from benchmarks import environment, machine

    info = {"numpy": np.__version__, "numpy_blas": environment.numpy_blas()}
    if "tinyconv" in modules:
        tinyconv = modules["tinyconv"]
        info["tinyconv"] = {"version": tinyconv.__version__, "num_threads": tinyconv.get_num_threads(),
                            "openmp": tinyconv.openmp_enabled(), "compiled_isas": machine.compiled_isas(),
                            "team_wake_up_us": tinyconv.parallel.team_wake_up_us()}
        info["scipy_blas"] = environment.scipy_blas()
    if "torch" in modules:
        info["torch"] = environment.torch_backend()
    return info


def peak_rss_mib():
    """This process's peak resident set size so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run_step(args):
    from benchmarks import race_cases

    case = race_cases.find_case(args.case)
    modules = load_frameworks(args.framework, args.threads)
    if args.framework == "both":
        # A notebook runs torch's step too: its thread pool is then started and idle while
        # tinyconv runs, which is what this row is for.
        torch_step = case.build("torch", np.random.default_rng(args.seed))
        for _ in range(max(1, args.warmup)):
            torch_step()
    step = case.build("torch" if args.framework == "torch" else "tinyconv", np.random.default_rng(args.seed))
    seconds, samples, inner = time_step(step, args.warmup, args.samples, args.min_sample_s)
    return {"mode": "step", "case": case.name, "framework": args.framework, "threads": args.threads,
            "pid": os.getpid(), "seconds_per_step": seconds, "images_per_s": case.batch / seconds,
            "samples_s": samples, "calls_per_sample": inner, "batch": case.batch,
            # The process's peak resident memory: the framework, the model, the step's arrays.
            "peak_rss_mib": peak_rss_mib(),
            "gflops": case.flops / seconds / 1e9 if case.flops else None,
            "env_at_start": ENV_AT_START, "env_after_imports": {name: os.environ.get(name) for name in ENV_WATCHED},
            **describe(modules)}


def run_gemm(args):
    """Best float32 square GEMM rate of NumPy's BLAS (tinyconv's) or torch's at the thread count."""
    rates = {}
    if args.framework == "torch":
        import torch

        if args.threads != "default":
            torch.set_num_threads(args.threads)
        limits = None
    else:
        from threadpoolctl import threadpool_limits

        limits = None if args.threads == "default" else threadpool_limits(args.threads, user_api="blas")
    rng = np.random.default_rng(args.seed)
    for size in args.sizes:
        a = rng.standard_normal((size, size), dtype=np.float32)
        b = rng.standard_normal((size, size), dtype=np.float32)
        if args.framework == "torch":
            a, b = torch.from_numpy(a), torch.from_numpy(b)
            out = torch.empty_like(a)

            def product():
                torch.matmul(a, b, out=out)
        else:
            out = np.empty_like(a)

            def product():
                np.matmul(a, b, out=out)
        product()  # warm-up: page faults, the BLAS's threads starting
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - start)
        rates[str(size)] = 2 * size**3 / best / 1e9
    from benchmarks import environment

    info = {"numpy_blas": environment.numpy_blas()}
    if limits is not None:
        limits.restore_original_limits()
    return {"mode": "gemm", "framework": args.framework, "threads": args.threads, "pid": os.getpid(),
            "gflops_by_size": rates, "best_gflops": max(rates.values()), "repeats": args.repeats,
            "env_at_start": ENV_AT_START, **info}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    step = modes.add_parser("step", help="time one race case in one framework")
    step.add_argument("--framework", choices=FRAMEWORKS, required=True)
    step.add_argument("--case", required=True)
    step.add_argument("--warmup", type=int, default=3)
    step.add_argument("--samples", type=int, default=5)
    step.add_argument("--min-sample-s", type=float, default=0.3)
    gemm = modes.add_parser("gemm", help="best float32 GEMM rate of one BLAS")
    gemm.add_argument("--framework", choices=("numpy", "torch"), required=True)
    gemm.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    gemm.add_argument("--repeats", type=int, default=5)
    for sub in (step, gemm):
        sub.add_argument("--threads", type=parse_threads, required=True)
        sub.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = run_step(args) if args.mode == "step" else run_gemm(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
