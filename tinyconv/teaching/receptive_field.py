"""Receptive fields: how much of the input one output cell sees.

Going through the layers one by one, per spatial axis (Dumoulin & Visin; Araujo et al.,
"Computing receptive fields of convolutional neural networks", distill.pub 2019):

    r_l = r_{l-1} + (k_l - 1) * d_l * j_{l-1}          receptive field size, in input pixels
    j_l = j_{l-1} * s_l                                 jump: input pixels between neighbouring outputs
    start_l = start_{l-1} + ((k_l - 1) * d_l / 2 - p_l) * j_{l-1}
                                                        centre of output cell 0's field, as an input index

starting from r_0 = 1, j_0 = 1, start_0 = 0 (the input pixel itself); p_l is the padding before
the first cell.  Output cell i of layer l then sees input indices
start_l + i * j_l -/+ (r_l - 1) / 2 (clipped to the image: padding cells are not pixels).
Pooling is a window like a convolution's (d = 1).

A transposed convolution with stride s spreads each input over s outputs, so the jump shrinks,
j_l = j_{l-1} / s, and each output gathers at most floor((k_l - 1) * d_l / s) + 1 input cells:

    r_l = r_{l-1} + floor((k_l - 1) * d_l / s_l) * j_{l-1}          (the largest over output cells)
    start_l = start_{l-1} + (c_l - (k_l - 1) * d_l / 2) / s_l * j_{l-1}      c_l = cells cropped before

Three 3x3 convolutions see 7x7 (1 -> 3 -> 5 -> 7), like one 7x7, for 27 C^2 weights instead
of 49 C^2 (see ``conv_cost``).
"""
from fractions import Fraction

from .. import geometry
from .table import format_table

CONV, POOL, TRANSPOSED = "conv", "pool", "transposed conv"


# ------------------------------------------------------------------ numbers for people
def number_text(value):
    """Integers as integers, other fractions as short decimals."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.4g}"


def _plain(value):
    value = Fraction(value)
    return int(value) if value.denominator == 1 else float(value)


def _axes_text(values):
    return "x".join(number_text(v) for v in values)


# ------------------------------------------------------------------ the layer-by-layer rule
class Step:
    """One windowed layer on every spatial axis: kernel, stride, dilation, padding before (tuples)."""

    def __init__(self, name, kind, kernel, stride, dilation, pad_before):
        self.name, self.kind = name, kind
        self.kernel, self.stride, self.dilation, self.pad_before = kernel, stride, dilation, pad_before


class Row:
    """The state after one step: receptive field ``r``, ``jump``, ``start`` per axis (Fractions)."""

    def __init__(self, step, r, jump, start, previous):
        self.step, self.r, self.jump, self.start, self.previous = step, r, jump, start, previous


def apply_step(previous, step):
    """r, j, start after ``step`` from the state ``previous`` = (r, j, start), per axis."""
    r_out, j_out, start_out = [], [], []
    for r, j, start, k, s, d, p in zip(*previous, step.kernel, step.stride, step.dilation, step.pad_before):
        span = (k - 1) * d  # the dilated kernel spans span + 1 cells
        if step.kind == TRANSPOSED:
            r_out.append(r + (span // s) * j)
            j_out.append(j / s)
            start_out.append(start + (p - Fraction(span, 2)) / s * j)
        else:
            r_out.append(r + span * j)
            j_out.append(j * s)
            start_out.append(start + (Fraction(span, 2) - p) * j)
    return tuple(r_out), tuple(j_out), tuple(start_out)


class ReceptiveField:
    """Per-layer receptive field size ``r``, jump ``j`` and ``start`` offset, with ``explain()``.

    For a 1-D spec (plain ints) the values are numbers; otherwise tuples, one entry per axis.
    ``receptive_field`` and ``receptive_field_of`` build it; ``str(field)`` is the per-layer table.

    Args:
        steps: the windowed layers as ``Step`` records, first layer first.
        rank: the number of spatial axes.

    Example:

    >>> field = tinyconv.teaching.receptive_field([(3, 1), (2, 2), (3, 1)])
    >>> field.size, field.jump, field.start
    (8, 2, 3.5)
    """

    def __init__(self, steps, rank):
        self.rank = rank
        state = tuple((Fraction(1),) * rank for _ in range(2)) + ((Fraction(0),) * rank,)
        self.rows = []
        for step in steps:
            new = apply_step(state, step)
            self.rows.append(Row(step, *new, previous=state))
            state = new
        self._final = state

    def _value(self, values):
        values = tuple(_plain(v) for v in values)
        return values[0] if self.rank == 1 else values

    @property
    def size(self):
        """Receptive field of the last layer's output cells."""
        return self._value(self._final[0])

    @property
    def jump(self):
        """Distance, in input pixels, between neighbouring output cells of the last layer."""
        return self._value(self._final[1])

    @property
    def start(self):
        """Input position of the centre of the last layer's first output cell."""
        return self._value(self._final[2])

    def as_dict(self):
        """The table as plain data: per-layer rows, and the last layer's receptive field, jump and start.

        Returns:
            A dict with keys 'layers', 'receptive_field', 'jump' and 'start'.
        """
        return {"layers": [{"name": row.step.name, "kind": row.step.kind, "kernel": self._value(row.step.kernel),
                            "stride": self._value(row.step.stride), "dilation": self._value(row.step.dilation),
                            "padding": self._value(row.step.pad_before), "receptive_field": self._value(row.r),
                            "jump": self._value(row.jump), "start": self._value(row.start)} for row in self.rows],
                "receptive_field": self.size, "jump": self.jump, "start": self.start}

    def __str__(self):
        rows = [[row.step.name, row.step.kind, _axes_text(row.step.kernel), _axes_text(row.step.stride),
                 _axes_text(row.step.dilation), _axes_text(row.step.pad_before), _axes_text(row.r),
                 _axes_text(row.jump), _axes_text(row.start)] for row in self.rows]
        return format_table(["Layer", "Kind", "Kernel", "Stride", "Dilation", "Pad before", "Receptive field",
                             "Jump", "Start"], rows)

    __repr__ = __str__

    def explain(self, print_fn=print):
        """Print (and return) every step of the sums, axis by axis.

        Args:
            print_fn: called with the text; None: only return it.

        Returns:
            The text.
        """
        lines = ["r_0 = 1, j_0 = 1, start_0 = 0 (one input pixel)"]
        for l, row in enumerate(self.rows, start=1):
            step = row.step
            lines.append(f"layer {l}: {step.name} ({step.kind})")
            for axis in range(self.rank):
                lines.append(self._explain_axis(l, row, axis))
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def _explain_axis(self, l, row, axis):
        step = row.step
        k, s, d, p = step.kernel[axis], step.stride[axis], step.dilation[axis], step.pad_before[axis]
        r0, j0, c0 = (row.previous[i][axis] for i in range(3))
        r, j, c = row.r[axis], row.jump[axis], row.start[axis]
        n = number_text
        where = f"  axis {axis}: " if self.rank > 1 else "  "
        if step.kind == TRANSPOSED:
            return (f"{where}r_{l} = r_{l-1} + floor((k - 1) * d / s) * j_{l-1} = {n(r0)} + floor(({k} - 1) * {d} / {s})"
                    f" * {n(j0)} = {n(r)};  j_{l} = j_{l-1} / s = {n(j0)} / {s} = {n(j)};  "
                    f"start_{l} = {n(c0)} + ({p} - ({k} - 1) * {d} / 2) / {s} * {n(j0)} = {n(c)}")
        return (f"{where}r_{l} = r_{l-1} + (k - 1) * d * j_{l-1} = {n(r0)} + ({k} - 1) * {d} * {n(j0)} = {n(r)};  "
                f"j_{l} = j_{l-1} * s = {n(j0)} * {s} = {n(j)};  "
                f"start_{l} = {n(c0)} + (({k} - 1) * {d} / 2 - {p}) * {n(j0)} = {n(c)}")


# ------------------------------------------------------------------ from a hand-written spec
_KEYS = {"kernel": ("kernel", "kernel_size", "pool_size"), "stride": ("stride", "strides"),
         "dilation": ("dilation", "dilation_rate"), "padding": ("padding",)}


def _spec_entry(entry, index):
    """(kernel, stride, dilation, padding) tuple or dict -> dict with those four keys."""
    if isinstance(entry, dict):
        parsed = {"name": entry.get("name", f"layer_{index + 1}"), "transposed": bool(entry.get("transposed")),
                  "kind": entry.get("kind")}
        for key, aliases in _KEYS.items():
            found = [entry[a] for a in aliases if a in entry]
            if key == "kernel" and not found:
                raise ValueError(f"receptive_field: layer {index} ({entry}) has no 'kernel'")
            parsed[key] = found[0] if found else (1 if key != "padding" else 0)
        return parsed
    entry = tuple(entry) if isinstance(entry, (list, tuple)) else (entry,)
    if not 1 <= len(entry) <= 4:
        raise ValueError(f"receptive_field: layer {index} must be (kernel, stride, dilation, padding), got {entry}")
    kernel, stride, dilation, padding = entry + (1, 1, 0)[len(entry) - 1:]
    return {"name": f"layer_{index + 1}", "transposed": False, "kind": None, "kernel": kernel, "stride": stride,
            "dilation": dilation, "padding": padding}


def _per_axis(value, rank, what):
    values = (value,) * rank if isinstance(value, (int, str)) else tuple(value)
    if len(values) != rank:
        raise ValueError(f"receptive_field: {what} {value!r} does not have {rank} axes")
    return values


def _rank_of(entries):
    ranks = {len(v) for e in entries for k, v in e.items() if k in _KEYS and isinstance(v, (list, tuple))}
    if len(ranks) > 1:
        raise ValueError(f"receptive_field: layers disagree on the number of spatial axes {sorted(ranks)}")
    return ranks.pop() if ranks else 1


def _pad_before(padding, size, k, s, d, transposed):
    """Padding before the first cell (for a transposed conv: cells cropped before)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in ("valid", "same"):
            raise ValueError(f"receptive_field: padding must be an int, 'valid' or 'same', got {padding!r}")
        if transposed:
            from ..geometry import keras_transpose_pads

            left = keras_transpose_pads(k, s, d, mode, None)[0]
            return d * (k - 1) - left
        if mode == "valid":
            return 0
        if s == 1:
            return d * (k - 1) // 2  # 'same' with stride 1 pads (K-1)/2 before, whatever the size
        if size is None:
            raise ValueError("receptive_field: 'same' padding with stride > 1 depends on the input size; "
                             "pass input_size=...")
        return geometry.same_padding(size, k, s, d)[0]
    return int(padding)


def _next_size(size, padding, k, s, d, before, transposed):
    if size is None:
        return None
    effective = geometry.effective_kernel_size(k, d)
    if transposed:
        return (size - 1) * s + effective - 2 * before
    if isinstance(padding, str) and padding.lower() == "same":
        return -(-size // s)
    return geometry.output_size(size, k, s, before, before, d)


def receptive_field(layers_spec, input_size=None):
    """Receptive field, jump and start per layer of ``layers_spec``.

    Each entry is ``(kernel, stride, dilation, padding)`` (trailing items optional; defaults 1, 1, 0)
    or a dict with those keys (plus optional ``name`` and ``transposed=True``).  Values are ints
    (one axis) or tuples (one per axis).  ``padding`` is the number of cells before the first one,
    or 'valid' / 'same' (Keras's split; with stride > 1 it needs ``input_size``).

    Args:
        layers_spec: a list of tuples or dicts, one per windowed layer, first layer first.
        input_size: the input's spatial size (an int or a tuple per axis); needed for 'same'
            padding with stride > 1.

    Returns:
        A ``ReceptiveField``.

    Raises:
        ValueError: if an entry is malformed or axes disagree.

    Example:

    >>> field = tinyconv.teaching.receptive_field([(3,), (3,), (3,)])  # three 3x3 convolutions
    >>> field.size, field.jump
    (7, 1)
    """
    entries = [_spec_entry(e, i) for i, e in enumerate(layers_spec)]
    rank = _rank_of(entries)
    sizes = list(_per_axis(input_size, rank, "input_size")) if input_size is not None else [None] * rank
    steps = []
    for entry in entries:
        kernel, stride, dilation = (tuple(int(v) for v in _per_axis(entry[key], rank, key))
                                    for key in ("kernel", "stride", "dilation"))
        if min(kernel + stride + dilation) < 1:
            raise ValueError(f"receptive_field: {entry['name']}: kernel, stride and dilation must be >= 1")
        padding = _per_axis(entry["padding"], rank, "padding")
        transposed = entry["transposed"]
        pads = tuple(_pad_before(p, n, k, s, d, transposed)
                     for p, n, k, s, d in zip(padding, sizes, kernel, stride, dilation))
        sizes = [_next_size(n, p, k, s, d, b, transposed)
                 for n, p, k, s, d, b in zip(sizes, padding, kernel, stride, dilation, pads)]
        kind = entry["kind"] or (TRANSPOSED if transposed else CONV)
        steps.append(Step(entry["name"], kind, kernel, stride, dilation, pads))
    return ReceptiveField(steps, rank)


# ------------------------------------------------------------------ from a built model
WHOLE_INPUT = "whole input"
_FLATTENING = ("Flatten", "Reshape")


def _spatial(shape, layer):
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return tuple(shape[2:])
    return tuple(shape[1:-1])


def layer_step(layer):
    """The ``Step`` of a built windowed layer, WHOLE_INPUT for a layer after which every output sees
    everything (global pooling, flattening), or None for a layer that keeps positions (activations,
    normalisation, dropout, Dense on the last axis...)."""
    from ..geometry import keras_transpose_pads
    from ..layers.conv_transpose import _ConvTransposeND

    name = type(layer).__name__
    if name.startswith("Global") or name in _FLATTENING:
        return WHOLE_INPUT
    window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if window is None or layer.input_shape is None:
        return None
    window = tuple(window)
    stride = tuple(getattr(layer, "strides", window))
    dilation = tuple(getattr(layer, "dilation_rate", None) or (1,) * len(window))
    sizes = _spatial(layer.input_shape, layer)
    padding = getattr(layer, "padding", "valid")
    if isinstance(layer, _ConvTransposeND):
        pads = tuple(d * (k - 1) - keras_transpose_pads(k, s, d, padding, _output_padding(layer, i))[0]
                     for i, (k, s, d) in enumerate(zip(window, stride, dilation)))
        return Step(layer.name, TRANSPOSED, window, stride, dilation, pads)
    if isinstance(padding, str):
        pads = tuple(0 if padding == "valid" else geometry.same_padding(n or 1, k, s, d)[0]
                     for n, k, s, d in zip(sizes, window, stride, dilation))
    else:
        resolved = geometry.resolve_padding(padding, sizes, window, stride, dilation)
        pads = tuple(p[0] for p in resolved)
    kind = POOL if hasattr(layer, "pool_size") else CONV
    return Step(layer.name, kind, window, stride, dilation, pads)


def _output_padding(layer, axis):
    output_padding = getattr(layer, "output_padding", None)
    return None if output_padding is None else output_padding[axis]


def _chain(model):
    from ..models.functional import Functional
    from .hooks import leaf_layers

    if isinstance(model, Functional) and not model.is_sequential_like():
        raise ValueError(f"{model.describe()}: receptive fields are computed for chains of layers (Sequential or "
                         "sequential-like functional models); this model branches")
    if not model.built:
        raise ValueError(f"{model.describe()} is not built yet: build it or call it on data first")
    return leaf_layers(model)


def per_layer_receptive_fields(model):
    """One entry per layer of ``model.layers``: (r, j) tuples of Fractions, or WHOLE_INPUT.

    Args:
        model: a built model whose layers form a chain.

    Returns:
        A list with one entry per layer: (receptive field per axis, jump per axis), or the text
        'whole input' from a Flatten or global pooling layer on.

    Raises:
        ValueError: if the model's layers do not form a chain.

    Example:

    >>> from tinyconv.teaching.receptive_field import per_layer_receptive_fields
    >>> model = tinyconv.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.MaxPooling2D(2)])
    >>> [(tuple(map(int, r)), tuple(map(int, j))) for r, j in per_layer_receptive_fields(model)]
    [((3, 3), (1, 1)), ((4, 4), (2, 2))]
    """
    from ..layers.core import InputLayer
    from ..models.model import Model
    from .hooks import leaf_layers

    _chain(model)
    rank = next((len(s.kernel) for s in map(layer_step, leaf_layers(model)) if isinstance(s, Step)), 2)
    state = tuple((Fraction(1),) * rank for _ in range(2)) + ((Fraction(0),) * rank,)
    whole = False
    found = []
    for layer in model.layers:  # a nested model counts as one row: all its layers at once
        inner = leaf_layers(layer) if isinstance(layer, Model) else [layer]
        for step in (layer_step(l) for l in inner if not isinstance(l, InputLayer)):
            if step == WHOLE_INPUT:
                whole = True
            elif isinstance(step, Step) and not whole:
                state = apply_step(state, step)
        found.append(WHOLE_INPUT if whole else (state[0], state[1]))
    return found


def receptive_field_of(model):
    """The receptive-field table of a built model's windowed layers (convolutions, pooling and their
    1-D/3-D/transposed variants), skipping layers that keep positions; it stops at the first layer
    (Flatten, global pooling) after which every output sees the whole input.

    Args:
        model: a built model whose layers form a chain.

    Returns:
        A ``ReceptiveField``.

    Raises:
        ValueError: if the model has no convolution or pooling layer.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.MaxPooling2D(2)])
    >>> tinyconv.teaching.receptive_field_of(model).size
    (4, 4)
    """
    steps = []
    for layer in _chain(model):
        step = layer_step(layer)
        if step == WHOLE_INPUT:
            break
        if isinstance(step, Step):
            steps.append(step)
    if not steps:
        raise ValueError(f"{model.describe()} has no convolution or pooling layer")
    return ReceptiveField(steps, len(steps[0].kernel))


# ------------------------------------------------------------------ cost
def conv_cost(kernel_size, channels, layers=1, out_channels=None):
    """Weights (= multiplications per output pixel) of ``layers`` stacked k x k convolutions with
    ``channels`` in and ``out_channels`` (default: the same) out, biases left out:
    layers * k * k * C_in * C_out.  With channels=1 it is the coefficient of C^2 in the lecture:
    conv_cost(7, 1) = 49 (one 7x7) and conv_cost(3, 1, layers=3) = 27 (three 3x3, the same 7x7 field).

    Args:
        kernel_size: k, or (kh, kw).
        channels: the input channels C_in.
        layers: how many convolutions are stacked.
        out_channels: the output channels C_out; None: ``channels``.

    Returns:
        The number of weights, an int.

    Example:

    >>> tinyconv.teaching.conv_cost(7, 1), tinyconv.teaching.conv_cost(3, 1, layers=3)
    (49, 27)
    """
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    out_channels = channels if out_channels is None else out_channels
    return int(layers) * kh * kw * int(channels) * int(out_channels)


def receptive_field_text(entry):
    """'7x7' / '1x1' / 'whole input' for the summary's column."""
    if entry == WHOLE_INPUT:
        return WHOLE_INPUT, "-"
    r, j = entry
    return _axes_text(r), _axes_text(j)


__all__ = ["ReceptiveField", "conv_cost", "per_layer_receptive_fields", "receptive_field", "receptive_field_of"]
