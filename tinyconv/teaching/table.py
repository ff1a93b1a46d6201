"""A plain-text table, shared by the teaching reports (gradient check, step trace, receptive field)."""


def format_table(headers, rows):
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned.

    Args:
        headers: the column titles.
        rows: the rows, each a sequence of cells (converted with ``str``).

    Returns:
        The table as one string (header, rule, rows).

    Example:

    >>> print(tinyconv.teaching.table.format_table(["layer", "params"], [["dense", 12], ["out", 3]]))
    layer  params
    -----  ------
    dense      12
    out         3
    """
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    numeric = [all(_looks_numeric(row[i]) for row in cells) and cells for i in range(len(headers))]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(row) for row in cells])


def _looks_numeric(text):
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def shape_text(shape):
    """A shape as text; a list of shapes as their texts joined by ', '; None as '-'.

    Args:
        shape: a shape tuple, a list of them, or None.

    Returns:
        The text.

    Example:

    >>> tinyconv.teaching.table.shape_text((None, 28, 28, 1)), tinyconv.teaching.table.shape_text((None,))
    ('(None, 28, 28, 1)', '(None,)')
    """
    if shape is None:
        return "-"
    if isinstance(shape, list):
        return ", ".join(shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
