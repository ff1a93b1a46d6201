"""Showing and keeping the results: terminal tables, Markdown, JSON files and an optional bar chart."""
import json
from pathlib import Path

COLUMNS = ("case", "tinyconv ms", "torch ms", "ratio", "tinyconv rate", "torch rate", "unit", "tinyconv % of ceiling")


def format_optional(value, spec=".1f"):
    return "-" if value is None else format(value, spec)


def table_rows(results):
    rows = []
    for result in results:
        fraction = result.get("tinyconv_fraction_of_ceiling")
        rows.append((
            result["case"],
            f"{result['tinyconv_ms']:.3f}",
            f"{result['torch_ms']:.3f}",
            f"{result['ratio']:.2f}",
            format_optional(result.get("tinyconv_rate")),
            format_optional(result.get("torch_rate")),
            result.get("unit") or "-",
            "-" if fraction is None else f"{100 * fraction:.0f}%",
        ))
    return rows


def scaling_columns(report):
    counts = report["scaling"][0]["threads"] if report.get("scaling") else []
    return ("case",) + tuple(f"tinyconv x{n}" for n in counts) + tuple(f"torch x{n}" for n in counts)


def scaling_rows(report):
    """Speed-up over one thread, per thread count, for each framework."""
    return [(row["case"],) + tuple(f"{s:.2f}" for s in row["tinyconv_speedup"])
            + tuple(f"{s:.2f}" for s in row["torch_speedup"]) for row in report.get("scaling", [])]


MEMORY_COLUMNS = ("training run", "tinyconv MiB", "torch MiB", "torch / tinyconv")


def memory_rows(report):
    return [(f"{row['model']} N={row['batch']}, {row['steps']} steps", f"{row['tinyconv_mib']:.1f}",
             f"{row['torch_mib']:.1f}", format_optional(row.get("ratio"), ".2f"))
            for row in report.get("memory", [])]


def text_table(columns, rows):
    rows = [tuple(columns)] + list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def header_lines(report):
    env, ceilings = report["environment"], report.get("ceilings", {})
    lines = [
        f"{env['cpu']}, {env['cores']} cores; {report['threads']} threads; median of {report['repeats']}; "
        f"load average {env['load_average_at_start']} -> {report['load_average_at_end']}",
        f"NumPy BLAS: {env['numpy_blas']}",
        f"torch: {env['torch']}",
    ]
    if ceilings:
        lines.append(f"Machine ceilings: float32 GEMM {ceilings['gemm_gflops']:.1f} GFLOP/s, "
                     f"copy bandwidth {ceilings['copy_gbytes_per_s']:.1f} GB/s")
    geomean = report.get("summary", {}).get("train_step_ratio_geomean")
    if geomean is not None:
        lines.append(f"Training steps: geometric mean of the ratios = {geomean:.2f}")
    return lines


def render(report, table):
    """The whole report with ``table`` (text_table or markdown_table) for each section."""
    parts = ["\n".join(header_lines(report)), table(COLUMNS, table_rows(report["results"]))]
    if report.get("scaling"):
        parts.append("Thread scaling (speed-up over 1 thread):\n" + table(scaling_columns(report),
                                                                           scaling_rows(report)))
    if report.get("memory"):
        parts.append("Peak memory of a training run (above the process's resident size before it):\n"
                     + table(MEMORY_COLUMNS, memory_rows(report)))
    return "\n\n".join(parts)


def text_report(report):
    return render(report, text_table)


def markdown_report(report):
    return render(report, markdown_table)


def save_json(report, out_dir):
    """Write ``latest.json`` and append one line to ``history.jsonl``; returns the latest path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    latest = out_dir / "latest.json"
    latest.write_text(json.dumps(report, indent=2) + "\n")
    with open(out_dir / "history.jsonl", "a") as history:
        history.write(json.dumps(report) + "\n")
    return latest


def save_chart(results, out_dir):
    """A bar chart of the ratios, if matplotlib is importable; returns the path or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the chart (pip install matplotlib to get it).")
        return None
    names = [result["case"] for result in results]
    ratios = [result["ratio"] for result in results]
    figure, axes = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    axes.barh(names, ratios, color=["tab:green" if r >= 1 else "tab:red" for r in ratios])
    axes.axvline(1.0, color="black", linewidth=1)
    axes.invert_yaxis()
    axes.set_xlabel("PyTorch time / tinyconv time  (> 1: tinyconv faster)")
    figure.tight_layout()
    path = Path(out_dir) / "ratios.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


if __name__ == "__main__":  # python3 -m benchmarks.report [results.json]: the tables for the README
    import sys

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "latest.json"
    print(markdown_report(json.loads(path.read_text())))
