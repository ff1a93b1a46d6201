"""tinyconv vs PyTorch, side by side in one process: `python3 benchmarks/run.py --help`.

Both frameworks get the same thread count and the same data, each in its own layout; every
case is warmed up, then timed in alternating samples, and reported as medians with
ratio = PyTorch time / tinyconv time (above 1: tinyconv is faster).
"""
import argparse
import contextlib
import datetime
import os
import sys
from pathlib import Path

# By default, one OpenMP wait policy for both frameworks, set before either loads its OpenMP
# runtime (torch ships its own).  PASSIVE is tinyconv's default; with torch's threads spinning
# between its ops while tinyconv runs (or the reverse), the alternating samples would
# measure contention, not the kernels.  Set OMP_WAIT_POLICY yourself to compare others.
# No PyTorch user sets it, though: --framework-defaults sets nothing, so torch (imported first
# by the cases) keeps its own defaults and tinyconv its own (its import sets PASSIVE for
# itself).  The headline comparison is benchmarks/race.py, one framework per process.
FRAMEWORK_DEFAULTS = "--framework-defaults" in sys.argv[1:]
ENV_SET_HERE = {} if FRAMEWORK_DEFAULTS else {
    "OMP_WAIT_POLICY": "PASSIVE",
    # The same for NumPy's OpenBLAS (tinyconv's GEMMs): its idle threads otherwise spin for
    # about 2^28 cycles after each product, taking the core tinyconv's next OpenMP loop needs;
    # 4 (the minimum) makes them sleep at once.  torch's BLAS (MKL, oneDNN) ignores it.
    "OPENBLAS_THREAD_TIMEOUT": "4",
}
ENV_SET_HERE = {name: value for name, value in ENV_SET_HERE.items() if name not in os.environ}
os.environ.update(ENV_SET_HERE)

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import cases as bench_cases  # noqa: E402
from benchmarks import ceilings as machine_ceilings  # noqa: E402
from benchmarks import environment, machine, report, timing  # noqa: E402

RESULTS_DIR = machine.results_dir()  # one folder per CPU model, so no result is read as another's


@contextlib.contextmanager
def same_threads(threads):
    """One thread count for tinyconv's OpenMP kernels, NumPy's BLAS and torch; restored on exit."""
    import torch
    import tinyconv

    before = tinyconv.get_num_threads(), torch.get_num_threads()
    tinyconv.set_num_threads(threads)
    torch.set_num_threads(threads)
    blas_limits = limit_blas_threads(threads)
    try:
        yield
    finally:
        tinyconv.set_num_threads(before[0])
        torch.set_num_threads(before[1])
        if blas_limits is not None:
            blas_limits.restore_original_limits()


def limit_blas_threads(threads):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None  # NumPy's BLAS keeps its default: every core
    return threadpool_limits(limits=threads, user_api="blas")


def rates(case, seconds, ceilings):
    """(rate, unit, fraction of the machine's ceiling or None) for one framework's median."""
    if case.flops is not None:
        rate = case.flops / seconds / 1e9
        return rate, "GFLOP/s", rate / ceilings["gemm_gflops"]
    if case.bytes_moved is not None:
        rate = case.bytes_moved / seconds / 1e9
        return rate, "GB/s", rate / ceilings["copy_gbytes_per_s"]
    if case.items is not None:
        return case.items / seconds, "img/s", None
    return None, None, None


def warmup_and_sample(quick):
    return (1, 0.0) if quick else (3, 0.05)


def run_case(case, repeats, quick, ceilings, seed=0):
    tinyconv_fn, torch_fn = case.build(np.random.default_rng(seed))
    tinyconv_s, torch_s = timing.compare(tinyconv_fn, torch_fn, repeats, *warmup_and_sample(quick))
    tinyconv_median, torch_median = timing.median(tinyconv_s), timing.median(torch_s)
    tinyconv_rate, unit, tinyconv_fraction = rates(case, tinyconv_median, ceilings)
    torch_rate, _, torch_fraction = rates(case, torch_median, ceilings)
    return {
        "case": case.name,
        "kind": case.kind,
        "description": case.description,
        "tinyconv_ms": tinyconv_median * 1e3,
        "torch_ms": torch_median * 1e3,
        "ratio": torch_median / tinyconv_median,
        "flops": case.flops,
        "bytes_moved": case.bytes_moved,
        "items": case.items,
        "unit": unit,
        "tinyconv_rate": tinyconv_rate,
        "torch_rate": torch_rate,
        "tinyconv_fraction_of_ceiling": tinyconv_fraction,
        "torch_fraction_of_ceiling": torch_fraction,
        "tinyconv_samples_ms": [s * 1e3 for s in tinyconv_s],
        "torch_samples_ms": [s * 1e3 for s in torch_s],
    }


def geometric_mean(values):
    values = list(values)
    return float(np.exp(np.mean(np.log(values)))) if values else None


# Cases timed at every thread count from 1 to all cores (the thread-scaling table).
SCALING_CASES = ("conv2d/3x3_28x28x128/fwd+bwd", "lenet5/train_step", "resnet20/train_step")
# Training runs whose peak memory is measured, one fresh process per framework.
MEMORY_MODELS = ("lenet5", "resnet20")
MEMORY_STEPS = 3


def thread_counts(cores):
    """1, 2, 4, ... and the core count itself."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return counts + [cores]


def run_scaling(selected, cores, repeats, quick, verbose, names=SCALING_CASES):
    """Medians of the ``names`` cases at each thread count, and the speed-up over one thread."""
    rows = []
    for case in [case for case in selected if case.name in names]:
        row = {"case": case.name, "threads": [], "tinyconv_ms": [], "torch_ms": []}
        for threads in thread_counts(cores):
            if verbose:
                print(f"  scaling {case.name} at {threads} thread(s) ...", flush=True)
            with same_threads(threads):
                tinyconv_fn, torch_fn = case.build(np.random.default_rng(0))
                tinyconv_s, torch_s = timing.compare(tinyconv_fn, torch_fn, repeats, *warmup_and_sample(quick))
            row["threads"].append(threads)
            row["tinyconv_ms"].append(timing.median(tinyconv_s) * 1e3)
            row["torch_ms"].append(timing.median(torch_s) * 1e3)
        row["tinyconv_speedup"] = [row["tinyconv_ms"][0] / ms for ms in row["tinyconv_ms"]]
        row["torch_speedup"] = [row["torch_ms"][0] / ms for ms in row["torch_ms"]]
        rows.append(row)
    return rows


def run_memory(sizes, threads, verbose, models=MEMORY_MODELS):
    """Peak memory of MEMORY_STEPS training steps, per model and framework (subprocesses)."""
    from benchmarks import memory

    rows = []
    for model in models:
        batch = sizes["train"][model]
        blocks = bench_cases.model_args(model, sizes).get("blocks_per_stage")
        row = {"model": model, "batch": batch, "steps": MEMORY_STEPS}
        for framework in ("tinyconv", "torch"):
            if verbose:
                print(f"  peak memory: {model}, {framework} ...", flush=True)
            measured = memory.run_in_subprocess(framework, model, batch, MEMORY_STEPS, threads, blocks)
            row[f"{framework}_mib"] = measured["training_peak_mib"]
            row["method"] = measured["method"]
        row["ratio"] = row["torch_mib"] / row["tinyconv_mib"] if row["tinyconv_mib"] > 0 else None
        rows.append(row)
    return rows


def run_suite(threads=None, repeats=11, quick=False, case_filter=None, out_dir=RESULTS_DIR,
              chart=True, verbose=True, command=None, suite=None, scaling=True, memory=True):
    """Run the selected cases (plus thread scaling and peak memory), save the JSON (and chart)
    under ``out_dir``; returns the report.

    With a ``case_filter`` the scaling runs only on the selected scaling cases, and the
    memory runs only when a pattern contains "memory".
    """
    suite = suite or ("quick" if quick else "full")
    quick = suite == "quick"
    threads = threads or os.cpu_count() or 1
    selected = bench_cases.select_cases(bench_cases.all_cases(suite=suite), case_filter)
    wants_memory = memory and (not case_filter or any("memory" in pattern for pattern in case_filter))
    if not selected and not wants_memory:
        raise ValueError(f"no case matches {case_filter!r}")
    results = []
    with same_threads(threads):
        environment_info = environment.describe_environment()
        if verbose:
            print("  measuring the machine's GEMM rate and copy bandwidth ...", flush=True)
        ceilings = machine_ceilings.measure(quick)
        for case in selected:
            if verbose:
                print(f"  {case.name} ({case.description}) ...", flush=True)
            results.append(run_case(case, repeats, quick, ceilings))
    cores = os.cpu_count() or 1
    # The quick suite (a smoke test) runs one case of each extra, to stay fast.
    scaling_names = SCALING_CASES[1:2] if quick else SCALING_CASES
    memory_models = MEMORY_MODELS[:1] if quick else MEMORY_MODELS
    scaling_rows = (run_scaling(selected, cores, max(3, repeats // 2), quick, verbose, scaling_names)
                    if scaling else [])
    memory_rows = run_memory(bench_cases.SUITES[suite], threads, verbose, memory_models) if wants_memory else []
    train_ratios = [result["ratio"] for result in results if result["kind"] == "train"]
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "suite": suite,
        "threads": threads,
        "repeats": repeats,
        "quick": quick,
        "environment": environment_info,
        # What this script set before either framework loaded ({} under --framework-defaults).
        "env_set_by_run_py": ENV_SET_HERE,
        "compiled_isas": machine.compiled_isas(),
        "ceilings": ceilings,
        "load_average_at_end": environment.load_average(),
        "results": results,
        "summary": {"train_step_ratio_geomean": geometric_mean(train_ratios)},
        "scaling": scaling_rows,
        "memory": memory_rows,
    }
    report.save_json(result, out_dir)
    if chart and results:
        report.save_chart(results, out_dir)
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="threads for both frameworks (default: all cores)")
    parser.add_argument("--repeats", type=int, default=11, help="timed samples per framework and case (default: 11)")
    parser.add_argument("--suite", choices=sorted(bench_cases.SUITES), default="full",
                        help="'full' (the real sizes, default) or 'quick' (tiny sizes, a smoke test)")
    parser.add_argument("--quick", action="store_true", help="same as --suite quick")
    parser.add_argument("--cases", nargs="*", default=None, metavar="PATTERN",
                        help="run only the cases whose name contains one of these ('memory' for peak memory)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the thread-scaling runs")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON and chart go")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    parser.add_argument("--framework-defaults", action="store_true",
                        help="set no OMP_WAIT_POLICY / OPENBLAS_THREAD_TIMEOUT: each framework keeps its own "
                             "defaults (default: both set to tinyconv's, PASSIVE and 4, unless already set)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    command = " ".join(["python3"] + sys.argv)
    suite = "quick" if args.quick else args.suite
    result = run_suite(args.threads, args.repeats, case_filter=args.cases, out_dir=args.out,
                       chart=not args.no_chart, command=command, suite=suite, scaling=not args.no_scaling,
                       memory=not args.no_memory)
    print()
    print(report.text_report(result))
    print("Compiled modules picked: " + ", ".join(f"{name} -> {isa}" for name, isa in result["compiled_isas"].items())
          + "; set by run.py before loading: " + (", ".join(f"{k}={v}" for k, v in result["env_set_by_run_py"].items())
                                                 or "nothing (each framework's defaults)"))
    print(f"\nratio = PyTorch time / tinyconv time (> 1: tinyconv faster). JSON in {args.out}/latest.json")


if __name__ == "__main__":
    main()
