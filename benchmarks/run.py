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

# One OpenMP wait policy for both frameworks, set before either loads its OpenMP runtime
# (torch ships its own).  PASSIVE is tinyconv's default; with torch's threads spinning
# between its ops while tinyconv runs (or the reverse), the alternating samples would
# measure contention, not the kernels.  Set OMP_WAIT_POLICY yourself to compare others.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import cases as bench_cases  # noqa: E402
from benchmarks import environment, report, timing  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"


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


def gflops(flops, seconds):
    return None if flops is None else flops / seconds / 1e9


def run_case(case, repeats, quick, seed=0):
    tinyconv_fn, torch_fn = case.build(np.random.default_rng(seed))
    warmup, min_sample_s = (1, 0.0) if quick else (3, 0.05)
    tinyconv_s, torch_s = timing.compare(tinyconv_fn, torch_fn, repeats, warmup, min_sample_s)
    tinyconv_median, torch_median = timing.median(tinyconv_s), timing.median(torch_s)
    return {
        "case": case.name,
        "description": case.description,
        "tinyconv_ms": tinyconv_median * 1e3,
        "torch_ms": torch_median * 1e3,
        "ratio": torch_median / tinyconv_median,
        "flops": case.flops,
        "tinyconv_gflops": gflops(case.flops, tinyconv_median),
        "torch_gflops": gflops(case.flops, torch_median),
        "tinyconv_samples_ms": [s * 1e3 for s in tinyconv_s],
        "torch_samples_ms": [s * 1e3 for s in torch_s],
    }


def run_suite(threads=None, repeats=11, quick=False, case_filter=None, out_dir=RESULTS_DIR,
              chart=True, verbose=True, command=None):
    """Run the selected cases, save the JSON (and chart) under ``out_dir``; returns the report."""
    threads = threads or os.cpu_count() or 1
    selected = bench_cases.select_cases(bench_cases.all_cases(quick), case_filter)
    if not selected:
        raise ValueError(f"no case matches {case_filter!r}")
    results = []
    with same_threads(threads):
        environment_info = environment.describe_environment()
        for case in selected:
            if verbose:
                print(f"  {case.name} ({case.description}) ...", flush=True)
            results.append(run_case(case, repeats, quick))
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "threads": threads,
        "repeats": repeats,
        "quick": quick,
        "environment": environment_info,
        "load_average_at_end": environment.load_average(),
        "results": results,
    }
    report.save_json(result, out_dir)
    if chart:
        report.save_chart(results, out_dir)
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="threads for both frameworks (default: all cores)")
    parser.add_argument("--repeats", type=int, default=11, help="timed samples per framework and case (default: 11)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--cases", nargs="*", default=None, metavar="PATTERN",
                        help="run only the cases whose name contains one of these")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON and chart go")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    command = " ".join(["python3"] + sys.argv)
    result = run_suite(args.threads, args.repeats, args.quick, args.cases, args.out, chart=not args.no_chart,
                       command=command)
    env = result["environment"]
    print(f"\n{env['cpu']}, {env['cores']} cores; {result['threads']} threads; median of {result['repeats']}; "
          f"load average {env['load_average_at_start']} -> {result['load_average_at_end']}")
    print(f"NumPy BLAS: {env['numpy_blas']}; torch: {env['torch']}\n")
    print(report.text_table(result["results"]))
    print(f"\nratio = PyTorch time / tinyconv time (> 1: tinyconv faster). JSON in {args.out}/latest.json")


if __name__ == "__main__":
    main()
