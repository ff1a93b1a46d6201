"""Showing and keeping the results: a terminal table, JSON files and an optional bar chart."""
import json
from pathlib import Path

COLUMNS = ("case", "tinyconv ms", "torch ms", "ratio", "tinyconv GFLOP/s", "torch GFLOP/s")


def table_rows(results):
    rows = []
    for result in results:
        rows.append((
            result["case"],
            f"{result['tinyconv_ms']:.3f}",
            f"{result['torch_ms']:.3f}",
            f"{result['ratio']:.2f}",
            format_optional(result.get("tinyconv_gflops")),
            format_optional(result.get("torch_gflops")),
        ))
    return rows


def format_optional(value):
    return "-" if value is None else f"{value:.1f}"


def text_table(results):
    rows = [COLUMNS] + table_rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(results):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


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
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    axes.barh(names, ratios, color=["tab:green" if r >= 1 else "tab:red" for r in ratios])
    axes.axvline(1.0, color="black", linewidth=1)
    axes.invert_yaxis()
    axes.set_xlabel("PyTorch time / tinyconv time  (> 1: tinyconv faster)")
    figure.tight_layout()
    path = Path(out_dir) / "ratios.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


if __name__ == "__main__":  # python3 -m benchmarks.report [results.json]: the table for the README
    import sys

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "latest.json"
    print(markdown_table(json.loads(path.read_text())["results"]))
