"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""
import textwrap


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


def _rows(model):
    for layer in model.layers:
        name = f"{layer.name} ({type(layer).__name__})"
        yield name, _format_shape(layer.output_shape) if layer.built else "?", _params(layer)


def _graph_rows(model):
    """Functional models add "Connected to": layer[call][output] of every input of the layer."""
    for layer, shape, connections in model.summary_rows():
        yield f"{layer.name} ({type(layer).__name__})", _format_shape(shape), _params(layer), \
            "\n".join(connections)


def _teaching_cells(model, show_receptive_field, show_flops):
    """Extra cells per layer of ``model.layers`` for the teaching columns (see tinyconv/teaching)."""
    from ..teaching.flops import layer_flops
    from ..teaching.receptive_field import per_layer_receptive_fields, receptive_field_text

    if getattr(model, "is_sequential_like", lambda: True)() is False:
        raise ValueError(f"{model.describe()}: show_receptive_field / show_flops need a chain of layers "
                         "(Sequential or a sequential-like functional model)")
    fields = per_layer_receptive_fields(model) if show_receptive_field else [None] * len(model.layers)
    for layer, field in zip(model.layers, fields):
        cells = list(receptive_field_text(field)) if show_receptive_field else []
        if show_flops:
            cells.append(f"{layer_flops(layer):,}" if layer.built and layer.input_shape is not None else "?")
        yield cells


def _table(headers, rows, widths, aligns=None):
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

    aligns = aligns or ["left", "left", "right", "left"][:len(widths)]
    lines = [line("┏", "━", "┳", "┓"), *cells(headers, "┃", aligns), line("┡", "━", "╇", "┩")]
    for i, row in enumerate(rows):
        if i:
            lines.append(line("├", "─", "┼", "┤"))
        lines.extend(cells(row, "│", aligns))
    lines.append(line("└", "─", "┴", "┘"))
    return lines


def print_summary(model, line_length=None, print_fn=None, show_receptive_field=False, show_flops=False):
    print_fn = print_fn or print
    graph = hasattr(model, "summary_rows") and not model.is_sequential_like()
    total_width = line_length or (98 if graph else 79)
    if graph:
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        widths = [int(total_width * f) for f in (0.29, 0.22, 0.11, 0.26)]
        rows = list(_graph_rows(model))
    else:
        headers = ["Layer (type)", "Output Shape", "Param #"]
        widths = [int(total_width * f) for f in (0.41, 0.30, 0.19)]
        rows = list(_rows(model))
    aligns = None
    if show_receptive_field or show_flops:
        extra = (["Receptive field", "Jump"] if show_receptive_field else []) + (["FLOPs"] if show_flops else [])
        rows = [row + tuple(cells) for row, cells in zip(rows, _teaching_cells(model, show_receptive_field,
                                                                             show_flops))]
        aligns = ["left"] * (len(headers) - 1) + ["right"] + ["right"] * len(extra)
        aligns[1] = "left"
        headers = headers + extra
        widths = widths + [15 if name == "Receptive field" else 11 for name in extra]
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
