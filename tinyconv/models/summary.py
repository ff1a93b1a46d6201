"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts.

``print_summary`` also takes ``extra_columns``: further columns, each filled one layer at a time, so
other parts of tinyconv can add to the table without this module knowing about them
(``tinyconv.teaching.summary`` adds receptive fields and FLOPs this way).
"""
from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple


class SummaryColumn(NamedTuple):
    """One extra column of the summary table: ``cell(layer)`` is its text in that layer's row."""

    header: str
    width: int
    cell: Callable[[Any], str]
    align: str = "right"


def _format_shape(shape):
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def readable_size(num_bytes):
    """Bytes as Keras prints them: 241.04 KB (1 KB = 1024 B)."""
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024


def _params(layer):
    return f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"


def _is_nested_model(layer):
    # a model used as a layer has layers of its own and no weight slots of its own
    return getattr(layer, "layers", None) is not None and not hasattr(layer, "_weights")


def _is_graph(model):
    return hasattr(model, "summary_rows") and not model.is_sequential_like()


def _entries(model):
    """(layer, output shape, connections or None) per layer, in the order Keras prints them."""
    if _is_graph(model):
        return model.summary_rows()
    return [(layer, layer.output_shape if layer.built else None, None) for layer in model.layers]


def _rows(model, expand_nested, depth=0):
    """(layer, cells) per printed row; with ``expand_nested`` a nested model's layers follow its own
    row, indented."""
    for layer, shape, connections in _entries(model):
        name = f"{layer.name} ({getattr(layer, 'summary_type', None) or type(layer).__name__})"
        if depth:
            name = "  " * (depth - 1) + "└ " + name
        cells = [name, _format_shape(shape), _params(layer)]
        if connections is not None:
            cells.append("\n".join(connections))
        yield layer, cells
        if expand_nested and _is_nested_model(layer):
            yield from _rows(layer, expand_nested, depth + 1)


def _select_layer_range(model, rows, layer_range):
    """Keras's ``layer_range=(first, last)``: the rows from the first layer whose name matches the
    ``first`` pattern to the last layer whose name matches ``last`` (regular expressions, inclusive)."""
    if layer_range is None:
        return rows
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2:
        raise ValueError(f"summary: layer_range must be a list or tuple of 2 layer names, got {layer_range!r}")
    names = [layer.name for layer, _ in rows]
    first = next((i for i, name in enumerate(names) if re.match(layer_range[0], name)), None)
    last = next((i for i in reversed(range(len(names))) if re.match(layer_range[1], names[i])), None)
    if first is None or last is None or last < first:
        raise ValueError(f"summary: layer_range {tuple(layer_range)} matches no run of layers of "
                         f"{model.describe()} (layers: {names})")
    return rows[first:last + 1]


def _table(headers, rows, widths, aligns):
    """Box-drawn table; cells wrap within their column."""
    def line(left, fill, mid, right):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values, border, aligns):
        wrapped = [[piece for line in v.split("\n") for piece in (textwrap.wrap(line, w) or [""])]
                   for v, w in zip(values, widths)]
        height = max(len(c) for c in wrapped)
        out = []
        for i in range(height):
            parts = []
            for column, width, align in zip(wrapped, widths, aligns):
                text = column[i] if i < len(column) else ""
                parts.append(" " + (text.rjust(width) if align == "right" else text.ljust(width)) + " ")
            out.append(border + border.join(parts) + border)
        return out

    lines = [line("┏", "━", "┳", "┓"), *cells(headers, "┃", aligns), line("┡", "━", "╇", "┩")]
    for i, row in enumerate(rows):
        if i:
            lines.append(line("├", "─", "┼", "┤"))
        lines.extend(cells(row, "│", aligns))
    lines.append(line("└", "─", "┴", "┘"))
    return lines


def _column_widths(positions, count, total_width, default_fractions):
    """Text width of Keras's columns: from ``positions`` (right edge of each column, as fractions of
    the line or in characters) or the default fractions of ``total_width``."""
    if positions is None:  # Keras's optional Trainable column then keeps its own width
        return [int(total_width * f) for f in default_fractions]
    positions = list(positions)
    if len(positions) != count:
        raise ValueError(f"summary: positions must give the right edge of each of the {count} columns, "
                         f"got {len(positions)} values {positions}")
    if positions[-1] <= 1:
        positions = [int(total_width * p) for p in positions]
    edges = [0] + [int(p) for p in positions]
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"summary: positions must increase, got {positions}")
    return [max(1, b - a - 3) for a, b in zip(edges, edges[1:])]  # 3: a border and a space each side


def print_summary(model: Any, line_length: int | None = None, positions: Sequence[float] | None = None,
                  print_fn: Callable[..., Any] | None = None, expand_nested: bool = False, show_trainable: bool = False,
                  layer_range: Sequence[str] | None = None, extra_columns: Sequence[SummaryColumn] = ()) -> None:
    """Print Keras's summary table of ``model``; ``extra_columns`` (``SummaryColumn``s) add to it."""
    print_fn = print_fn or print
    graph = _is_graph(model)
    total_width = line_length or (98 if graph else 79)
    if graph:
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        fractions = [0.29, 0.22, 0.11, 0.26]
    else:
        headers = ["Layer (type)", "Output Shape", "Param #"]
        fractions = [0.41, 0.30, 0.19]
    aligns = ["left", "left", "right", "left"][:len(headers)]
    columns = list(extra_columns)
    if show_trainable:  # Keras's own optional column comes before any extra one
        frozen_model = not model.trainable
        columns.insert(0, SummaryColumn("Trainable", 9, lambda layer: "-" if not layer.weights else
                                        "N" if frozen_model or not layer.trainable else "Y", align="left"))
    keras_columns = len(headers) + (1 if show_trainable else 0)  # the ones ``positions`` places
    widths = _column_widths(positions, keras_columns, total_width, fractions)
    widths += [column.width for column in columns[len(widths) - len(headers):]]
    headers += [column.header for column in columns]
    aligns += [column.align for column in columns]
    rows = _select_layer_range(model, list(_rows(model, expand_nested)), layer_range)
    rows = [cells + [column.cell(layer) for column in columns] for layer, cells in rows]
    lines = [f'Model: "{model.name}"']
    lines += _table(headers, rows, widths, aligns)
    trainable = sum(w.size for w in model.trainable_weights)
    non_trainable = sum(w.size for w in model.non_trainable_weights)
    total = trainable + non_trainable
    bytes_per = 4 if not model.layers else {"float32": 4, "float64": 8}.get(model.layers[0].dtype, 4)
    lines.append(f" Total params: {total:,} ({readable_size(total * bytes_per)})")
    lines.append(f" Trainable params: {trainable:,} ({readable_size(trainable * bytes_per)})")
    lines.append(f" Non-trainable params: {non_trainable:,} ({readable_size(non_trainable * bytes_per)})")
    print_fn("\n".join(lines))
