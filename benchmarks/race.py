"""The fair race, tinyconv against PyTorch as their users run them: `python3 benchmarks/race.py --help`.

Each measurement runs in a fresh process (``benchmarks/race_worker.py``) that imports NumPy
first, then one framework, with that framework's own defaults: nothing is set in the
environment on anyone's behalf, and the thread count is set the way each framework's users set
it (``tinyconv.set_num_threads(n)``, ``torch.set_num_threads(n)``; "default" sets nothing, so
each framework picks its own count: all cores).  The processes alternate (tinyconv, torch,
tinyconv in one process with torch loaded, then the next case) so load from elsewhere hits every
framework, and each figure is the median over the rounds.  Beside the race: the BLAS's best
float32 GEMM rate at each thread count and the CPU's theoretical peak, for the convolutions'
"% of ceiling".

ratio = tinyconv images/s / PyTorch images/s (above 1: tinyconv is faster).
"""
import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import machine, race_cases  # noqa: E402  (neither imports tinyconv or torch)

WORKER = Path(__file__).resolve().parent / "race_worker.py"
ENV_REPORTED = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def run_worker(arguments, timeout=900):
    """Run race_worker.py with ``arguments`` in a fresh Python with this environment, unchanged."""
    finished = subprocess.run([sys.executable, str(WORKER)] + arguments, capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ))
    if finished.returncode != 0:
        raise RuntimeError(f"race worker {' '.join(arguments)} failed ({finished.returncode}):\n"
                           f"{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def median_or_none(values):
    return statistics.median(values) if values else None


def geometric_mean(values):
    values = [value for value in values if value]
    return math.exp(sum(math.log(value) for value in values) / len(values)) if values else None


def run_race(cases=None, threads=(1, "default"), rounds=3, one_process=True, warmup=3, samples=5,
             min_sample_s=0.3, gemm_sizes=(512, 1024, 2048), gemm_repeats=5, fma_units=None, verbose=True,
             load=0):
    """Run the race; returns the report (a dict, see ``save``).

    Args:
        cases: race case names (``race_cases.race_cases()``); None for all.
        threads: thread counts to race at; "default" leaves each framework's own count.
        rounds: how many times every measurement is repeated; figures are medians over rounds.
        one_process: also time tinyconv with NumPy and torch imported before it in its process.
        warmup, samples, min_sample_s: per process, untimed calls, then ``samples`` timed
            samples of at least ``min_sample_s`` seconds each (the process's figure: their median).
        gemm_sizes, gemm_repeats: the square float32 GEMMs timed for the ceiling, best of
            ``gemm_repeats`` per size and round.
        fma_units: FMA units per core for the theoretical peak (None: assumed 2, and said so).
        load: busy processes (each one spinning a core) kept running through the whole race, to
            measure both frameworks on a machine another program is using.

    Raises:
        ValueError: for an unknown case name, fewer than 1 round, or an empty thread list.
        RuntimeError: when torch is not installed, or a worker process fails.

    Example (a real run: ``run_race(cases=["lenet5_28x28x1_b64"], rounds=1)``, about 30 s):
    >>> run_race(rounds=0)
    Traceback (most recent call last):
    ...
    ValueError: run_race: expected rounds >= 1, got 0
    """
    selected = race_cases.race_cases() if cases is None else [race_cases.find_case(name) for name in cases]
    if rounds < 1:
        raise ValueError(f"run_race: expected rounds >= 1, got {rounds!r}")
    if not threads:
        raise ValueError(f"run_race: expected at least one thread count, got {threads!r}")
    if importlib.util.find_spec("torch") is None:
        raise RuntimeError("run_race: torch is not installed; the race needs it (pip install torch)")
    frameworks = ("tinyconv", "torch") + (("both",) if one_process else ())
    step_options = ["--warmup", str(warmup), "--samples", str(samples), "--min-sample-s", str(min_sample_s)]
    gemm_options = ["--sizes"] + [str(size) for size in gemm_sizes] + ["--repeats", str(gemm_repeats)]
    started = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "load_average": load_average(),
               "env": {name: os.environ.get(name) for name in ENV_REPORTED}}
    raw = []
    hogs = start_load(load)
    try:
        run_rounds(raw, selected, threads, rounds, frameworks, step_options, gemm_options, verbose)
    finally:
        stop_load(hogs)
    return summarise(raw, selected, threads, frameworks, started, fma_units,
                     {"rounds": rounds, "warmup": warmup, "samples": samples, "min_sample_s": min_sample_s,
                      "gemm_sizes": list(gemm_sizes), "gemm_repeats": gemm_repeats, "load_processes": load})


# One busy process: a loop that never sleeps, as another program computing on one core.
BUSY_LOOP = "while True: pass"


def start_load(count):
    """``count`` busy processes (see run_race's ``load``)."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]


def stop_load(processes):
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def run_rounds(raw, selected, threads, rounds, frameworks, step_options, gemm_options, verbose):
    """Every measurement of every round, appended to ``raw``."""
    for round_index in range(rounds):
        for count in threads:
            for blas in ("numpy", "torch"):
                if verbose:
                    print(f"  round {round_index + 1}/{rounds}, {count} thread(s): {blas} GEMM ...", flush=True)
                raw.append({"round": round_index, **run_worker(["gemm", "--framework", blas, "--threads", str(count)]
                                                              + gemm_options)})
            for case in selected:
                for framework in frameworks:
                    if verbose:
                        print(f"  round {round_index + 1}/{rounds}, {count} thread(s): {case.name}, {framework} ...",
                              flush=True)
                    raw.append({"round": round_index, **run_worker(
                        ["step", "--framework", framework, "--case", case.name, "--threads", str(count)]
                        + step_options)})


def first_report(raw, framework, key):
    return next((entry[key] for entry in raw if entry["mode"] == "step" and entry["framework"] == framework
                 and key in entry), None)


def summarise(raw, selected, threads, frameworks, started, fma_units, settings):
    """Medians over rounds, ratios, ceilings and the machine, from the workers' raw results."""
    steps = [entry for entry in raw if entry["mode"] == "step"]
    ceilings = ceilings_by_threads(raw, threads, fma_units, steps)
    rows = []
    for count in threads:
        for case in selected:
            row = {"case": case.name, "label": case.label, "threads": count, "batch": case.batch,
                   "flops_per_step": case.flops, "pids": {}, "images_per_s_by_round": {}}
            for framework in frameworks:
                mine = [entry for entry in steps if entry["case"] == case.name and entry["threads"] == count
                        and entry["framework"] == framework]
                row["pids"][framework] = [entry["pid"] for entry in mine]
                row["images_per_s_by_round"][framework] = [entry["images_per_s"] for entry in mine]
                row[f"{framework}_images_per_s"] = median_or_none(row["images_per_s_by_round"][framework])
                row[f"{framework}_peak_rss_mib"] = median_or_none(
                    [entry["peak_rss_mib"] for entry in mine if entry.get("peak_rss_mib") is not None])
                # The count the framework ran at ("both": tinyconv's, the one timed there).
                reporter = "tinyconv" if framework == "both" else framework
                row[f"{framework}_num_threads"] = next((entry[reporter]["num_threads"] for entry in mine), None)
            row["ratio"] = row["tinyconv_images_per_s"] / row["torch_images_per_s"]
            if "both" in frameworks:
                row["one_process_over_separate"] = row["both_images_per_s"] / row["tinyconv_images_per_s"]
            if case.flops:
                row["ceiling"] = ceiling_row(case, row, ceilings[str(count)])
            rows.append(row)
    tinyconv_info = first_report(raw, "tinyconv", "tinyconv") or {}
    return {
        "kind": "race",
        "date": started["date"],
        "command": None,
        "machine": {"cpu": machine.cpu_description(), "python": platform.python_version(),
                    "compiled_isas": tinyconv_info.get("compiled_isas"),
                    "numpy_blas": first_report(raw, "tinyconv", "numpy_blas"),
                    "scipy_blas": first_report(raw, "tinyconv", "scipy_blas"),
                    "torch": first_report(raw, "torch", "torch"),
                    "tinyconv": tinyconv_info},
        "env_in_parent": started["env"],
        # A parent that imported tinyconv (a notebook, pytest) passes on the variables that import set.
        "parent_had_imported_tinyconv": "tinyconv" in sys.modules,
        "load_average": {"start": started["load_average"], "end": load_average()},
        "settings": {**settings, "threads": list(threads), "frameworks": list(frameworks)},
        "ceilings": ceilings,
        "rows": rows,
        "geometric_mean_ratio": {str(count): geometric_mean(row["ratio"] for row in rows if row["threads"] == count)
                                 for count in threads},
        "separate_processes": separate_processes(rows),
        "raw": raw,
    }


def ceiling_row(case, row, limits):
    """GFLOP/s of both frameworks, as fractions of the measured GEMM rates and of the peak."""
    out = {}
    for framework in ("tinyconv", "torch"):
        gflops = case.flops * row[f"{framework}_images_per_s"] / case.batch / 1e9
        out[f"{framework}_gflops"] = gflops
        for name, ceiling in (("numpy_gemm", limits["numpy_gemm_gflops"]), ("torch_gemm", limits["torch_gemm_gflops"]),
                              ("peak", limits["theoretical_peak"]["gflops"])):
            out[f"{framework}_of_{name}"] = gflops / ceiling if ceiling else None
    return out


def ceilings_by_threads(raw, threads, fma_units, steps):
    out = {}
    for count in threads:
        gemm_entries = [entry for entry in raw if entry["mode"] == "gemm" and entry["threads"] == count]
        reported = next((entry["tinyconv"]["num_threads"] for entry in steps
                         if entry["threads"] == count and "tinyconv" in entry), None)
        out[str(count)] = {
            "numpy_gemm_gflops": max((e["best_gflops"] for e in gemm_entries if e["framework"] == "numpy"),
                                     default=None),
            "torch_gemm_gflops": max((e["best_gflops"] for e in gemm_entries if e["framework"] == "torch"),
                                     default=None),
            "gemm_by_size": {blas: best_by_size([e for e in gemm_entries if e["framework"] == blas])
                             for blas in ("numpy", "torch")},
            "theoretical_peak": machine.theoretical_peak(
                count if count != "default" else (reported or os.cpu_count() or 1), fma_units),
        }
    return out


def best_by_size(entries):
    """{size: best GFLOP/s over the rounds} of one BLAS's GEMM runs."""
    best = {}
    for entry in entries:
        for size, rate in entry["gflops_by_size"].items():
            best[size] = max(best.get(size, 0.0), rate)
    return best


def separate_processes(rows):
    """True when no two frameworks (and no two measurements) shared a process, nor the parent's."""
    pids = [pid for row in rows for framework_pids in row["pids"].values() for pid in framework_pids]
    return len(pids) == len(set(pids)) and os.getpid() not in pids


# ----------------------------------------------------------------------------- reports
def threads_label(report, count):
    if count != "default":
        return f"{count} thread" + ("s" if count != 1 else "")
    row = next(row for row in report["rows"] if row["threads"] == count)
    return (f"all cores (defaults: tinyconv {row['tinyconv_num_threads']}, "
            f"PyTorch {row['torch_num_threads']} threads)")


def short_threads(count):
    return "all cores" if count == "default" else str(count)


def fmt(value, spec=",.0f"):
    return "-" if value is None else format(value, spec)


def machine_lines(report):
    m = report["machine"]
    torch = m.get("torch") or {}
    blas = m.get("numpy_blas") or {}
    scipy_blas = m.get("scipy_blas") or {}
    wake_ups = wake_up_ranges(report)
    load = report["settings"].get("load_processes", 0)
    lines = [
        f"CPU: {m['cpu']['model']} ({m['cpu']['slug']}; {m['cpu']['physical_cores']} cores, "
        f"{m['cpu']['logical_cpus']} logical CPUs; SIMD {', '.join(m['cpu']['simd_flags']) or 'none listed'})",
        f"tinyconv {m.get('tinyconv', {}).get('version')}: compiled modules picked "
        + ", ".join(f"{name} -> {isa}" for name, isa in (m.get("compiled_isas") or {}).items()),
        f"tinyconv's matrix products: SciPy's BLAS, {scipy_blas.get('internal_api')} {scipy_blas.get('version')}, "
        f"kernel {scipy_blas.get('architecture')}, one BLAS thread per tinyconv thread; team wake-up measured "
        + (", ".join(wake_ups) or "(one thread only)"),
        f"NumPy's BLAS (the GEMM ceiling): {blas.get('internal_api')} {blas.get('version')}, "
        f"kernel {blas.get('architecture')}, {blas.get('threading_layer')}",
        f"PyTorch {torch.get('version')}: BLAS {torch.get('blas')}, CPU capability {torch.get('cpu_capability')}, "
        f"oneDNN (mkldnn) {torch.get('mkldnn (oneDNN) for conv')}",
        f"{report['date']}; load average {report['load_average']['start']} -> {report['load_average']['end']}; "
        f"medians of {report['settings']['rounds']} rounds; "
        + (f"**under load: {load} busy process(es) running through the race**; " if load else "")
        + "environment as given: "
        + (", ".join(f"{k}={v}" for k, v in report["env_in_parent"].items() if v is not None) or "none of "
           + "/".join(ENV_REPORTED) + " set"),
    ]
    return lines


def wake_up_ranges(report):
    """The team wake-ups tinyconv's processes measured, as "94-150 us at 2 threads" per count."""
    by_count = {}
    for entry in report["raw"]:
        mine = entry.get("tinyconv", {}) if entry.get("mode") == "step" and entry.get("framework") == "tinyconv" else {}
        if mine.get("team_wake_up_us"):
            by_count.setdefault(mine["num_threads"], []).append(mine["team_wake_up_us"])
    return [f"{min(values):.0f}-{max(values):.0f} us at {count} threads" for count, values in sorted(by_count.items())]


def race_table(report):
    counts = report["settings"]["threads"]
    head = ["train step"]
    for count in counts:
        label = threads_label(report, count)
        head += [f"{label}: tinyconv / PyTorch img/s", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for case in dict.fromkeys(row["case"] for row in report["rows"]):
        cells = [next(row["label"] for row in report["rows"] if row["case"] == case)]
        for count in counts:
            row = next(r for r in report["rows"] if r["case"] == case and r["threads"] == count)
            cells += [f"{fmt(row['tinyconv_images_per_s'])} / {fmt(row['torch_images_per_s'])}",
                      f"{row['ratio']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    means = ["geometric mean"]
    for count in counts:
        means += ["", f"**{report['geometric_mean_ratio'][str(count)]:.2f}**"]
    lines.append("| " + " | ".join(means) + " |")
    return "\n".join(lines)


def one_process_table(report):
    rows = [row for row in report["rows"] if "one_process_over_separate" in row]
    if not rows:
        return None
    lines = ["| train step | threads | tinyconv alone img/s | numpy, torch, tinyconv in one process img/s "
             "| one process / alone |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['label']} | {short_threads(row['threads'])} | {fmt(row['tinyconv_images_per_s'])} | "
                     f"{fmt(row['both_images_per_s'])} | {row['one_process_over_separate']:.2f} |")
    return "\n".join(lines)


def memory_table(report):
    rows = [row for row in report["rows"] if row.get("tinyconv_peak_rss_mib") and row.get("torch_peak_rss_mib")]
    if not rows:
        return None
    lines = ["| train step | threads | tinyconv peak RSS MiB | PyTorch peak RSS MiB | tinyconv / PyTorch |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        mine, theirs = row["tinyconv_peak_rss_mib"], row["torch_peak_rss_mib"]
        lines.append(f"| {row['label']} | {short_threads(row['threads'])} | {mine:,.0f} | {theirs:,.0f} | "
                     f"{mine / theirs:.2f} |")
    return "\n".join(lines)


def ceiling_table(report):
    rows = [row for row in report["rows"] if "ceiling" in row]
    if not rows:
        return None
    lines = ["| fwd+bwd | threads | tinyconv GFLOP/s | PyTorch GFLOP/s | NumPy GEMM | torch GEMM | theoretical peak "
             "| tinyconv % of NumPy GEMM / of peak | PyTorch % of its GEMM / of peak |",
             "|" + " --- |" * 9]
    for row in rows:
        ceiling, limits = row["ceiling"], report["ceilings"][str(row["threads"])]

        def pct(value):
            return "-" if value is None else f"{100 * value:.0f}%"

        lines.append(
            f"| {row['label']} | {short_threads(row['threads'])} | {ceiling['tinyconv_gflops']:.1f} | "
            f"{ceiling['torch_gflops']:.1f} | "
            f"{fmt(limits['numpy_gemm_gflops'], '.1f')} | {fmt(limits['torch_gemm_gflops'], '.1f')} | "
            f"{fmt(limits['theoretical_peak']['gflops'], '.1f')} | "
            f"{pct(ceiling['tinyconv_of_numpy_gemm'])} / {pct(ceiling['tinyconv_of_peak'])} | "
            f"{pct(ceiling['torch_of_torch_gemm'])} / {pct(ceiling['torch_of_peak'])} |")
    return "\n".join(lines)


def peak_lines(report):
    def rates(by_size):
        return ", ".join(f"{size}: {rate:.0f}" for size, rate in (by_size or {}).items())

    lines = []
    for count, limits in report["ceilings"].items():
        peak = limits["theoretical_peak"]
        where = "1 thread" if count == "1" else short_threads(count if count == "default" else f"{count} threads")
        lines.append(
            f"Theoretical peak at {where}: {fmt(peak['gflops'], '.1f')} GFLOP/s = {peak['cores']} core(s) "
            f"[{peak['cores_source']}] x {peak['fma_units']} FMA units [{peak['fma_units_source']}] x "
            f"{peak['vector_floats']} floats [{peak['vector_floats_source']}] x 2 x {peak['ghz']} GHz "
            f"[{peak['ghz_source']}]. GEMM GFLOP/s by size, best of {report['settings']['gemm_repeats']} "
            f"in each of {report['settings']['rounds']} rounds: NumPy {rates(limits['gemm_by_size'].get('numpy'))}; "
            f"torch {rates(limits['gemm_by_size'].get('torch'))}")
    return lines


def markdown_report(report):
    parts = ["\n".join(f"- {line}" for line in machine_lines(report)),
             f"Command: `{report['command']}`" if report.get("command") else "",
             race_table(report), one_process_table(report), memory_table(report), ceiling_table(report),
             "\n".join(f"- {line}" for line in peak_lines(report))]
    return "\n\n".join(part for part in parts if part)


def save(report, out_dir):
    """``race-latest.json`` and one line of ``race-history.jsonl`` in ``out_dir`` (a CPU's folder)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    latest = out_dir / "race-latest.json"
    latest.write_text(json.dumps(report, indent=2) + "\n")
    with open(out_dir / "race-history.jsonl", "a") as history:
        history.write(json.dumps(report) + "\n")
    return latest


def parse_threads(text):
    """``--threads``: comma-separated positive counts, "default" for each framework's own.

    Example:
    >>> parse_threads("1,default")
    [1, 'default']
    """
    counts = []
    for part in text.split(","):
        part = part.strip()
        if part == "default":
            counts.append(part)
        elif part.isdigit() and int(part) >= 1:
            counts.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"--threads: expected positive integers or 'default', got {part!r}")
    return counts


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds; figures are medians over them (default 3)")
    parser.add_argument("--threads", type=parse_threads, default=[1, "default"],
                        help="comma-separated counts; 'default' = each framework's own (default: 1,default)")
    parser.add_argument("--cases", nargs="*", default=None, metavar="NAME",
                        help="race cases to run: " + ", ".join(case.name for case in race_cases.race_cases()))
    parser.add_argument("--no-one-process", action="store_true",
                        help="skip the row timing tinyconv with numpy and torch imported before it")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per process (default 3)")
    parser.add_argument("--samples", type=int, default=5, help="timed samples per process (default 5)")
    parser.add_argument("--min-sample-s", type=float, default=0.3, help="least seconds per sample (default 0.3)")
    parser.add_argument("--gemm-sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--gemm-repeats", type=int, default=5)
    parser.add_argument("--fma-units", type=int, default=None,
                        help="FMA units per core for the theoretical peak (default: assume 2, and say so)")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="keep N busy processes running through the race (a machine in use; default 0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: benchmarks/results/<this CPU's slug>/)")
    parser.add_argument("--show", type=Path, default=None, metavar="JSON",
                        help="print the tables of a saved race-latest.json and exit (runs nothing)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.show is not None:
        print(markdown_report(json.loads(args.show.read_text())))
        return
    report = run_race(args.cases, args.threads, args.rounds, not args.no_one_process, args.warmup, args.samples,
                      args.min_sample_s, args.gemm_sizes, args.gemm_repeats, args.fma_units, load=args.load)
    report["command"] = " ".join(["python3"] + sys.argv)
    out_dir = args.out or machine.results_dir()
    latest = save(report, out_dir)
    print()
    print(markdown_report(report))
    print(f"\nratio = tinyconv img/s / PyTorch img/s (> 1: tinyconv faster). JSON in {latest}")


if __name__ == "__main__":
    main()
