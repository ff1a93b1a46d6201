"""`make gpu-check`: everything about the GPU backend that only an NVIDIA GPU can show, in one
command and one report.  Run it from the repository root on a machine with a GPU, CuPy
(``pip install -e '.[gpu]'``) and, for the comparisons, PyTorch with CUDA:

    python tools/gpu_check.py                 # writes build/gpu-check/report.md (+ the logs beside it)
    python tools/gpu_check.py --dry-run       # no GPU: the same stages on the test suite's CuPy stand-in

The stages, each in its own process, each with a time limit (about 8 minutes in all):

1. machine: the GPU, its driver, CUDA, CuPy and PyTorch versions;
2. build: the compiled CPU kernels are the oracle of the GPU tests; when they do not import,
   ``pip install --no-build-isolation --no-deps -e .`` builds them (``--rebuild`` forces it);
3. tests: ``tests/gpu`` on real CuPy (``TINYCONV_GPU_TESTS=cupy``) with TF32 off (``CUPY_TF32=0``):
   every kernel and model test that runs on the stand-in, now against the CPU kernels on the device,
   and the raw CUDA kernels compiled and run;
4. census: per training step of LeNet-5 (batch 64) and ResNet-20 (batch 128), taken as the
   difference between two ``fit`` runs of different lengths (so start-up and the end-of-epoch
   loss read cancel): host synchronisations that CuPy detects (its ``syncdetect`` hook: every
   ``.get()``, ``bool()``, ``float()``, ``.item()``, ``synchronize()``; not those outside CuPy), and,
   when PyTorch with CUDA is installed, the kernels and copies the device ran (CUPTI through
   ``torch.profiler``: cuBLAS's and CuPy's own kernels included, so more than the stand-in's count
   of array operations);
5. benchmark: ``benchmarks/gpu_bench.py`` (TF32 off and on, float64 accuracy against PyTorch).

The exit status is 0 only when every stage ran and passed.
"""
import argparse
import collections
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, "build", "gpu-check", "report.md")
CENSUS_TAG = "GPU_CHECK_CENSUS "
CENSUS_MODELS = (("lenet", 64), ("resnet20", 128))
SHORT_FIT, LONG_FIT = 2, 6  # steps of the two census fits: per step = (long - short) / (LONG_FIT - SHORT_FIT)
STEP_BUDGETS = {"lenet": 60, "resnet20": 300}  # array operations per step on the stand-in (tests/gpu/test_census.py)
LIMITS = {"build": 300, "tests": 300, "census": 150, "benchmark": 300}  # seconds


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="The GPU backend's check on a real NVIDIA GPU: build, the GPU test "
                                     "suite on CuPy (TF32 off), the op and sync census, the benchmark; one report.")
    parser.add_argument("--report", default=REPORT, help="the markdown report to write (default build/gpu-check/"
                        "report.md; the stage logs go beside it)")
    parser.add_argument("--tests", default="tests/gpu", help="what pytest runs (default tests/gpu)")
    parser.add_argument("--bench-args", default="", help="extra arguments for benchmarks/gpu_bench.py")
    parser.add_argument("--no-bench", dest="bench", action="store_false", help="skip the benchmark")
    parser.add_argument("--census", default=",".join(name for name, _ in CENSUS_MODELS),
                        help="comma-separated models for the census (default lenet,resnet20)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the compiled kernels even when they import")
    parser.add_argument("--dry-run", action="store_true", help="no GPU: the tests, the census and the benchmark on "
                        "the test suite's CuPy stand-in (checks this tool; measures nothing about a GPU)")
    parser.add_argument("--census-worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------------------------
# Running the stages
# ----------------------------------------------------------------------------------------------
class Stage:
    """One stage's outcome: status 'passed', 'failed' or 'skipped', a one-line summary, seconds taken."""

    def __init__(self, name, status, summary, seconds=0.0, details=""):
        self.name, self.status, self.summary, self.seconds, self.details = name, status, summary, seconds, details


def run_logged(command, log_path, limit, environment=None):
    """Run ``command`` from the repository root with a time limit; (exit status, output, seconds).
    The output also goes to ``log_path``.  A command past its limit gives status None."""
    start = time.perf_counter()
    try:
        completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=limit)
        status, output = completed.returncode, completed.stdout + completed.stderr
    except subprocess.TimeoutExpired as expired:
        status = None
        output = f"{expired.stdout or ''}{expired.stderr or ''}\n[stopped after the {limit} s limit]\n"
        output = output if isinstance(output, str) else output.decode(errors="replace")
    with open(log_path, "w") as log:
        log.write(f"$ {shlex.join(command)}\n{output}")
    return status, output, time.perf_counter() - start


def check_environment(dry_run):
    """The stage-0 facts as a list of (what, value); raises SystemExit without CuPy or a GPU."""
    facts = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    if dry_run:
        return facts + [("device", "none: dry run on the CuPy stand-in (NumPy on the CPU)")]
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # no cupy, no driver, no device: say which
        raise SystemExit(f"gpu_check: needs CuPy and an NVIDIA GPU ({type(error).__name__}: {error}); "
                         "install with pip install -e '.[gpu]'") from None
    if count < 1:
        raise SystemExit("gpu_check: CuPy sees no CUDA device")
    properties = cupy.cuda.runtime.getDeviceProperties(0)
    name = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]
    facts += [("device", f"{name} (compute capability {properties['major']}.{properties['minor']}, "
                         f"{properties['totalGlobalMem'] / 2 ** 30:.0f} GiB), {count} visible"),
              ("driver / runtime", f"CUDA driver {cupy.cuda.runtime.driverGetVersion()}, "
                                   f"runtime {cupy.cuda.runtime.runtimeGetVersion()}"),
              ("cupy", cupy.__version__)]
    try:
        import torch
        facts.append(("torch", f"{torch.__version__}, CUDA available: {torch.cuda.is_available()}"))
    except ImportError:
        facts.append(("torch", "not installed: the comparisons and the kernel census are skipped"))
    return facts


def build_stage(args, folder):
    probe = [sys.executable, "-c", "import tinyconv, tinyconv.dispatch as d; "
             "assert d.compiled_kernels_available(), 'the compiled kernels do not import'"]
    if not args.rebuild:
        status, _, seconds = run_logged(probe, os.path.join(folder, "build.log"), 60)
        if status == 0:
            return Stage("build", "passed", "the compiled CPU kernels import (no rebuild needed)", seconds)
    command = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "-e", "."]
    status, output, seconds = run_logged(command, os.path.join(folder, "build.log"), LIMITS["build"])
    if status != 0:
        return Stage("build", "failed", f"pip install -e . exited {status}; see build.log", seconds, output[-3000:])
    return Stage("build", "passed", "built with pip install --no-build-isolation --no-deps -e .", seconds)


def tests_stage(args, folder):
    environment = dict(os.environ, CUPY_TF32="0")
    if not args.dry_run:
        environment["TINYCONV_GPU_TESTS"] = "cupy"
    else:
        environment.pop("TINYCONV_GPU_TESTS", None)
    command = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", *shlex.split(args.tests)]
    status, output, seconds = run_logged(command, os.path.join(folder, "tests.log"), LIMITS["tests"], environment)
    summary = next((line.strip("= ") for line in reversed(output.splitlines())
                    if re.search(r"\d+ (passed|failed|error)", line)), "no pytest summary line")
    failures = "\n".join(line for line in output.splitlines() if line.startswith(("FAILED", "ERROR")))
    passed = status == 0
    where = "real CuPy" if not args.dry_run else "the CuPy stand-in"
    return Stage("tests", "passed" if passed else "failed", f"{summary} (on {where}, CUPY_TF32=0)", seconds,
                 failures)


def census_stage(args, folder):
    command = [sys.executable, os.path.abspath(__file__), "--census-worker", "--census", args.census]
    command += ["--dry-run"] if args.dry_run else []
    status, output, seconds = run_logged(command, os.path.join(folder, "census.log"), LIMITS["census"])
    found = [line for line in output.splitlines() if line.startswith(CENSUS_TAG)]
    if status != 0 or not found:
        return Stage("census", "failed", f"the census did not finish (exit {status}); see census.log", seconds,
                     output[-3000:])
    rows = json.loads(found[-1][len(CENSUS_TAG):])
    stage = Stage("census", "passed", "", seconds, census_table(rows))
    syncs = {row["model"]: row["syncs_per_step"] for row in rows}
    stage.summary = ", ".join(f"{model}: {value:g} host syncs per step" for model, value in syncs.items())
    if any(value > 0 for value in syncs.values()):
        stage.status = "failed"
        stage.summary += " (target 0)"
    return stage


def benchmark_stage(args, folder):
    if not args.bench:
        return Stage("benchmark", "skipped", "--no-bench")
    table = os.path.join(folder, "benchmark.md")
    command = [sys.executable, "benchmarks/gpu_bench.py", "--markdown", table, "--json",
               os.path.join(folder, "benchmark.json"), *shlex.split(args.bench_args)]
    if args.dry_run and "--dry-run" not in command:
        command.append("--dry-run")
    status, output, seconds = run_logged(command, os.path.join(folder, "benchmark.log"), LIMITS["benchmark"])
    if status != 0 or not os.path.exists(table):
        return Stage("benchmark", "failed", f"gpu_bench.py exited {status}; see benchmark.log", seconds,
                     output[-3000:])
    with open(table) as handle:
        return Stage("benchmark", "passed", "benchmarks/gpu_bench.py ran (figures below)", seconds, handle.read())


# ----------------------------------------------------------------------------------------------
# The census (a worker process)
# ----------------------------------------------------------------------------------------------
def load_benchmark_module():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import gpu_bench
    return gpu_bench


class SyncCounter:
    """Counts CuPy's declared host synchronisations (``cupy._core.syncdetect._declare_synchronize``,
    which ``.get()``, ``synchronize()`` and all that go through them call) and where in tinyconv
    each came from."""

    def __init__(self):
        from cupy._core import syncdetect
        self._module, self._original = syncdetect, syncdetect._declare_synchronize
        self.count, self.sites = 0, collections.Counter()

    def _declare(self):
        self.count += 1
        frames = [frame for frame in traceback.extract_stack()[:-1] if f"{os.sep}tinyconv{os.sep}" in frame.filename]
        if frames:
            self.sites[f"{os.path.relpath(frames[-1].filename, ROOT)}:{frames[-1].lineno}"] += 1
        self._original()

    def __enter__(self):
        self.count, self.sites = 0, collections.Counter()
        self._module._declare_synchronize = self._declare
        return self

    def __exit__(self, *exc):
        self._module._declare_synchronize = self._original
        return False


def device_activity(run, cupy):
    """Kernels and copies the device ran during ``run()``, from CUPTI via torch.profiler; None without
    PyTorch with CUDA (or when the profiler saw no kernel at all)."""
    try:
        import torch
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile
        if not torch.cuda.is_available():
            return None
    except ImportError:
        return None
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
        run()
        cupy.cuda.Device().synchronize()
    counts = collections.Counter()
    for event in profiler.events():
        if event.device_type != DeviceType.CUDA:
            continue
        name = event.name
        kind = ("copies_to_host" if name.startswith("Memcpy DtoH") else "copies_to_device"
                if name.startswith("Memcpy HtoD") else "memsets" if name.startswith("Memset")
                else "other_copies" if name.startswith("Memcpy") else "kernels")
        counts[kind] += 1
    return dict(counts) if counts["kernels"] else None


def census_worker(dry_run, names):
    bench = load_benchmark_module()
    if dry_run:
        sys.path.insert(0, ROOT)
        from tests.gpu import standin_cupy as xp
    else:
        import cupy as xp
    import tinyconv as keras
    keras.backend.set_device("gpu", array_module=xp if dry_run else None)
    rows = []
    for name, batch in CENSUS_MODELS:
        if name not in names:
            continue
        batch = 4 if dry_run else batch
        keras.utils.set_random_seed(0)
        model, _ = bench.tinyconv_model(name, keras)
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.standard_normal((LONG_FIT * batch, *bench.input_shape(name)), dtype=np.float32)
        y = rng.integers(0, 10, LONG_FIT * batch)

        def fit(steps):
            model.fit(x[:steps * batch], y[:steps * batch], batch_size=batch, epochs=1, shuffle=False, verbose=0)

        fit(SHORT_FIT)  # compile every kernel first
        row = {"model": name, "batch": batch, "budget": STEP_BUDGETS[name]}
        per_step = lambda long, short: (long - short) / (LONG_FIT - SHORT_FIT)  # noqa: E731
        if dry_run:
            counts = {}
            for steps in (SHORT_FIT, LONG_FIT):
                with xp.counting() as record:
                    fit(steps)
                counts[steps] = record
            row["syncs_per_step"] = per_step(counts[LONG_FIT]["syncs"], counts[SHORT_FIT]["syncs"])
            row["standin_ops_per_step"] = per_step(counts[LONG_FIT]["launches"], counts[SHORT_FIT]["launches"])
            row["sync_sites"] = {}
            row["device"] = None
        else:
            counter, sites = {}, {}
            for steps in (SHORT_FIT, LONG_FIT):
                with SyncCounter() as syncs:
                    fit(steps)
                counter[steps], sites[steps] = syncs.count, syncs.sites
            row["syncs_per_step"] = per_step(counter[LONG_FIT], counter[SHORT_FIT])
            row["sync_sites"] = dict(sites[LONG_FIT] - sites[SHORT_FIT])
            row["standin_ops_per_step"] = None
            short, long = device_activity(lambda: fit(SHORT_FIT), xp), device_activity(lambda: fit(LONG_FIT), xp)
            row["device"] = None if short is None or long is None else {
                kind: per_step(long.get(kind, 0), short.get(kind, 0)) for kind in set(short) | set(long)}
        rows.append(row)
    print(CENSUS_TAG + json.dumps(rows), flush=True)


def census_table(rows):
    lines = ["| model | batch | host syncs / step | stand-in array ops / step (budget) | device kernels / step | "
             "device->host copies / step | host->device copies / step | memsets / step |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        device = row["device"] or {}
        ops = row["standin_ops_per_step"]
        ops = "-" if ops is None else f"{ops:g}" + (" over" if ops > row["budget"] else "")
        measured = lambda kind: f"{device[kind]:g}" if kind in device else ("0" if device else "not measured")  # noqa
        lines.append(f"| {row['model']} | {row['batch']} | {row['syncs_per_step']:g} | {ops} ({row['budget']}) | "
                     f"{measured('kernels')} | {measured('copies_to_host')} | {measured('copies_to_device')} | "
                     f"{measured('memsets')} |")
    sites = {row["model"]: row["sync_sites"] for row in rows if row["sync_sites"]}
    for model, where in sites.items():
        lines.append(f"\nHost syncs per {LONG_FIT - SHORT_FIT} steps of {model}, by the tinyconv line that caused "
                     "them: " + ", ".join(f"`{site}` x{count}" for site, count in sorted(where.items())))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------
def write_report(path, facts, stages, seconds, dry_run):
    lines = ["# tinyconv GPU check", ""]
    if dry_run:
        lines += ["**Dry run on the CuPy stand-in: nothing here was measured on a GPU.**", ""]
    lines += [f"- {what}: {value}" for what, value in facts]
    lines += [f"- total time: {seconds:.0f} s", "", "| stage | result | time s | summary |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.status} | {s.seconds:.0f} | {s.summary} |" for s in stages]
    for stage in stages:
        if stage.details:
            lines += ["", f"## {stage.name}", "", stage.details.strip()]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def main(argv=None):
    args = parse_args(argv)
    if args.census_worker:
        census_worker(args.dry_run, [name.strip() for name in args.census.split(",") if name.strip()])
        return 0
    start = time.perf_counter()
    facts = check_environment(args.dry_run)
    folder = os.path.dirname(os.path.abspath(args.report))
    os.makedirs(folder, exist_ok=True)
    stages = []
    for run in (build_stage, tests_stage, census_stage, benchmark_stage):
        stage = run(args, folder)
        stages.append(stage)
        print(f"gpu_check: {stage.name}: {stage.status} ({stage.seconds:.0f} s) {stage.summary}", flush=True)
    write_report(args.report, facts, stages, time.perf_counter() - start, args.dry_run)
    print(f"gpu_check: report written to {os.path.relpath(args.report, ROOT)}")
    return 0 if all(stage.status in ("passed", "skipped") for stage in stages) else 1


if __name__ == "__main__":
    sys.exit(main())
