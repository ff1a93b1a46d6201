"""The course labs: student copies without the solutions, a consistency check, and notebooks.

A lab (``labs/NN_name.py``) is a jupytext percent-format script: ``# %%`` starts a code cell,
``# %% [markdown]`` a markdown cell whose lines start with ``# ``.  It runs top to bottom as a plain
script.  The code the student writes sits between two markers:

    # BEGIN SOLUTION
    ...the reference solution...
    # END SOLUTION

Commands:

    python tools/labs.py strip labs/01_convolution_by_hand.py -o build/labs/student/01_convolution_by_hand.py
    python tools/labs.py strip labs/*.py --out-dir build/labs/student
        Replace each solution block (markers included) by
        ``raise NotImplementedError("write your code here")`` at the block's indentation.

    python tools/labs.py restore-check [labs/*.py]
        For each lab: the markers pair up, no block is empty, the stripped copy compiles and holds
        no solution line, and putting the solutions back into the stripped copy gives the lab
        again, byte for byte (so a student copy always lines up with its lab).

    python tools/labs.py notebooks [labs/*.py] --out build/labs/notebooks [--student]
        Write one .ipynb per lab (``--student``: of the stripped copy), with jupytext when it is
        installed, else with the small converter below (nbformat 4 JSON).
"""
import argparse
import glob
import json
import os
import re
import sys

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
PLACEHOLDER = 'raise NotImplementedError("write your code here")'
LABS_GLOB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labs", "*.py")


class LabFormatError(ValueError):
    """A lab whose solution markers do not pair up, or whose student copy would not work."""


# --------------------------------------------------------------------------------------------
# Solution blocks
# --------------------------------------------------------------------------------------------
def solution_blocks(lines, path="<lab>"):
    """(begin, end, indent) for each block: the line numbers (0-based) of its two markers.

    Raises:
        LabFormatError: a marker without its partner, a nested BEGIN, an END indented unlike its
            BEGIN, or a block with no code in it.
    """
    blocks, begin = [], None
    for number, line in enumerate(lines):
        marker, indent = line.strip(), line[:len(line) - len(line.lstrip())]
        if marker == BEGIN:
            if begin is not None:
                raise LabFormatError(f"{path}:{number + 1}: '{BEGIN}' inside the block opened at line {begin[0] + 1}")
            begin = (number, indent)
        elif marker == END:
            if begin is None:
                raise LabFormatError(f"{path}:{number + 1}: '{END}' without a '{BEGIN}' before it")
            if indent != begin[1]:
                raise LabFormatError(f"{path}:{number + 1}: '{END}' is indented differently from its '{BEGIN}' "
                                     f"at line {begin[0] + 1}")
            if not any(text.strip() and not text.strip().startswith("#") for text in lines[begin[0] + 1:number]):
                raise LabFormatError(f"{path}:{begin[0] + 1}: an empty solution block (no code between the markers)")
            blocks.append((begin[0], number, begin[1]))
            begin = None
    if begin is not None:
        raise LabFormatError(f"{path}:{begin[0] + 1}: '{BEGIN}' is never closed by '{END}'")
    return blocks


def strip_source(text, path="<lab>"):
    """The student copy of a lab's text: every solution block becomes the placeholder ``raise``.

    Args:
        text: the lab's source.
        path: the lab's name, for error messages.

    Returns:
        The stripped source (unchanged when the lab has no solution blocks).

    Raises:
        LabFormatError: when the markers do not pair up (see ``solution_blocks``).
    """
    lines = text.splitlines(keepends=True)
    out, position = [], 0
    for begin, end, indent in solution_blocks(lines, path):
        out.extend(lines[position:begin])
        out.append(f"{indent}{PLACEHOLDER}\n")
        position = end + 1
    out.extend(lines[position:])
    return "".join(out)


def restore_source(stripped, original, path="<lab>"):
    """Put the original's solution blocks back in place of the stripped copy's placeholders."""
    lines = original.splitlines(keepends=True)
    blocks = [lines[begin:end + 1] for begin, end, _ in solution_blocks(lines, path)]
    out, remaining = [], iter(blocks)
    for line in stripped.splitlines(keepends=True):
        if line.strip() == PLACEHOLDER:
            block = next(remaining, None)
            if block is None:
                raise LabFormatError(f"{path}: the stripped copy has more placeholders than the lab has blocks")
            out.extend(block)
        else:
            out.append(line)
    if next(remaining, None) is not None:
        raise LabFormatError(f"{path}: the stripped copy has fewer placeholders than the lab has blocks")
    return "".join(out)


def check_lab(path):
    """restore-check of one lab; returns the number of solution blocks, raises LabFormatError."""
    with open(path, encoding="utf-8") as file:
        original = file.read()
    if PLACEHOLDER in original:
        raise LabFormatError(f"{path}: the lab itself contains the placeholder line {PLACEHOLDER!r}")
    stripped = strip_source(original, path)
    try:
        compile(stripped, path, "exec")
    except SyntaxError as error:
        raise LabFormatError(f"{path}: the stripped copy does not compile: {error}") from None
    if BEGIN in stripped or END in stripped:
        raise LabFormatError(f"{path}: a solution marker survived stripping (is one inside a string?)")
    if restore_source(stripped, original, path) != original:
        raise LabFormatError(f"{path}: putting the solutions back does not give the lab again")
    return len(solution_blocks(original.splitlines(keepends=True), path))


# --------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------
CELL_MARKER = re.compile(r"^# %%(.*)$")
MARKDOWN_TAG = re.compile(r"\[(markdown|md)\]")


def percent_cells(text):
    """[(kind, lines)] of a percent-format script, kind "code" or "markdown" (comment marks removed)."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "# ---":  # a jupytext header: metadata, not a cell
        closing = next((n for n in range(1, len(lines)) if lines[n].strip() == "# ---"), None)
        if closing is not None:
            lines = lines[closing + 1:]
    cells, kind, body = [], "code", []
    for line in lines:
        marker = CELL_MARKER.match(line)
        if marker:
            cells.append((kind, body))
            kind, body = ("markdown" if MARKDOWN_TAG.search(marker.group(1)) else "code"), []
        elif kind == "markdown":
            body.append(line[2:] if line.startswith("# ") else line[1:] if line.startswith("#") else line)
        else:
            body.append(line)
    cells.append((kind, body))
    return [(kind, trimmed(body)) for kind, body in cells if any(line.strip() for line in body)]


def trimmed(lines):
    start = next(n for n, line in enumerate(lines) if line.strip())
    stop = max(n for n, line in enumerate(lines) if line.strip()) + 1
    return lines[start:stop]


def notebook_from_percent(text, name="lab"):
    """An nbformat-4 notebook (a dict ready for ``json.dump``) from a percent-format script.

    Args:
        text: the script's source.
        name: used in the cell ids (``name-1``, ``name-2``...), which nbformat 4.5 requires.

    Returns:
        A dict with ``cells``, ``metadata``, ``nbformat`` 4 and ``nbformat_minor`` 5.
    """
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:50]
    cells = []
    for number, (kind, lines) in enumerate(percent_cells(text), 1):
        source = [line + "\n" for line in lines[:-1]] + [lines[-1]]
        cell = {"cell_type": kind, "id": f"{safe}-{number}", "metadata": {}, "source": source}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"}}
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def write_notebook(text, out_path, name):
    """Write ``text`` (percent format) as a notebook; returns "jupytext" or "built-in", the converter used."""
    try:
        import jupytext
    except ImportError:
        jupytext = None
    if jupytext is not None:
        jupytext.write(jupytext.reads(text, fmt="py:percent"), out_path, fmt="ipynb")
        return "jupytext"
    with open(out_path, "w", encoding="utf-8") as file:
        json.dump(notebook_from_percent(text, name), file, indent=1, ensure_ascii=False)
        file.write("\n")
    return "built-in"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def lab_paths(paths):
    paths = paths or sorted(glob.glob(LABS_GLOB))
    if not paths:
        raise SystemExit(f"labs.py: no labs given and none found at {LABS_GLOB}")
    return paths


def read(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


def write(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def command_strip(args):
    if args.output and len(args.labs) != 1:
        raise SystemExit("labs.py strip: -o names one output file; give one lab, or use --out-dir")
    for path in args.labs:
        stripped = strip_source(read(path), path)
        if args.output or args.out_dir:
            target = args.output or os.path.join(args.out_dir, os.path.basename(path))
            write(target, stripped)
            print(f"{path} -> {target}")
        else:
            sys.stdout.write(stripped)


def command_restore_check(args):
    for path in lab_paths(args.labs):
        blocks = check_lab(path)
        print(f"ok  {path}: {blocks} solution block(s)")


def command_notebooks(args):
    for path in lab_paths(args.labs):
        text = read(path)
        if args.student:
            text = strip_source(text, path)
        name = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(args.out, name + ".ipynb")
        os.makedirs(args.out, exist_ok=True)
        converter = write_notebook(text, target, name)
        print(f"{path} -> {target} ({converter})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="labs.py", description="Student copies, checks and notebooks of the labs.")
    commands = parser.add_subparsers(dest="command", required=True)
    strip = commands.add_parser("strip", help="replace the solutions by a NotImplementedError")
    strip.add_argument("labs", nargs="+")
    strip.add_argument("-o", "--output", help="the student copy (one lab); stdout without -o or --out-dir")
    strip.add_argument("--out-dir", help="a folder for the student copies (any number of labs)")
    restore = commands.add_parser("restore-check", help="check the markers and that stripping loses nothing")
    restore.add_argument("labs", nargs="*")
    notebooks = commands.add_parser("notebooks", help="write .ipynb notebooks of the labs")
    notebooks.add_argument("labs", nargs="*")
    notebooks.add_argument("--out", default=os.path.join("build", "labs", "notebooks"))
    notebooks.add_argument("--student", action="store_true", help="notebooks of the stripped copies")
    args = parser.parse_args(argv)
    handler = {"strip": command_strip, "restore-check": command_restore_check, "notebooks": command_notebooks}
    try:
        handler[args.command](args)
    except LabFormatError as error:
        raise SystemExit(f"labs.py {args.command}: {error}") from None


if __name__ == "__main__":
    main()
