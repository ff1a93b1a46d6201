"""How much arithmetic one layer's forward pass costs, per sample, and in which convention.

Three conventions are in use, and a number means nothing until you know which one it is in:

    macs        multiply-accumulates: one multiplication and the addition that accumulates it.
                Papers' "FLOPs" of ResNet or VGG are usually this.
    flops       2 * macs: the multiplication and the addition counted separately.  The default here,
                and what ``summary``'s and ``trace_step``'s FLOPs columns show.
    muls_adds   every multiplication and addition the layer really does: an output that sums P products
                needs P multiplications and P - 1 additions, plus one addition for the bias when the layer
                has one.  Goodfellow et al. count this way: the edge detector (kernel [-1, +1] on a
                320 x 280 image, 319 x 280 outputs) costs 2 multiplications + 1 addition per output,
                319 * 280 * 3 = 267,960, where macs = 178,640 and flops = 357,280.

For the linear layers the counts are exact (P = products per output, O = outputs per sample):

    Conv (1-D/2-D/3-D)   P = prod(kernel) * C_in / groups      O = prod(output spatial) * C_out
    Transposed conv      macs = prod(input spatial) * prod(kernel) * C_in * C_out   (each input cell stamps the
                         whole kernel onto the output; each output then sums what landed on it)
    Depthwise conv       P = prod(kernel)                      O = prod(output spatial) * C_in * depth_multiplier
    Separable conv       the depthwise part (no bias) + a 1x1 convolution with P = C_in * depth_multiplier
    Locally connected / tiled conv: as a convolution (the same products, with unshared weights)
    Dense                P = C_in (the last axis)              O = the outputs per sample

so macs = P * O, flops = 2 * macs and muls_adds = 2 * macs - O (+ O with a bias).  Padding cells are counted
as if they were pixels (the kernel multiplies them too).

For the other layers there is no multiply-add: macs is 0, and flops and muls_adds share one estimate
(documented, not exact):

    Pooling              one operation (a compare or an add) per window element per output element
                         (global pooling: one per input element)
    Everything else      one operation per output element (activations, normalisation, merges,
                         dropout); shape-only layers (Input, Flatten, Reshape, Permute) count 0
"""
import math
from collections import namedtuple

from ..layers.conv import Conv2D, _ConvND, _WindowedConv
from ..layers.conv_transpose import _ConvTransposeND
from ..layers.depthwise_separable import DepthwiseConv2D, SeparableConv2D
from ..layers.core import Dense, Flatten, InputLayer
from .table import format_table

SHAPE_ONLY = ("InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector")
CONVENTIONS = ("flops", "macs", "muls_adds")


class LayerCost(namedtuple("LayerCost", ["macs", "flops", "muls_adds", "exact"])):
    """One layer's forward cost per sample in the three conventions; ``exact`` is False for an estimate.

    Attributes:
        macs: multiply-accumulates.
        flops: floating-point operations, counted as 2 x MACs.
        muls_adds: multiplications plus additions, counted separately.
        exact: False when the count is an estimate.

    Example:

    >>> layer = layers.Dense(2)
    >>> _ = layer(np.ones((1, 3), "float32"))
    >>> cost = tinyconv.teaching.layer_cost(layer)
    >>> cost.macs, cost.in_convention("flops")
    (6, 12)
    """

    def in_convention(self, convention):
        """One of the three counts.

        Args:
            convention: 'flops', 'macs' or 'muls_adds'.
        """
        return getattr(self, check_convention(convention, "LayerCost.in_convention"))


def check_convention(convention, where):
    if convention not in CONVENTIONS:
        raise ValueError(f"{where}: convention must be one of {', '.join(map(repr, CONVENTIONS))}, "
                         f"got {convention!r}")
    return convention


def _per_sample(shape):
    shape = shape[0] if isinstance(shape, list) else shape
    return math.prod(d for d in shape[1:] if d is not None)


def _spatial(shape, data_format):
    """The spatial sizes of a (None, ..., C) or (None, C, ...) shape."""
    return shape[2:] if data_format == "channels_first" else shape[1:-1]


def _channels(shape, data_format):
    return shape[1] if data_format == "channels_first" else shape[-1]


def _linear(macs, outputs, has_bias):
    """The three counts of a layer that sums products into ``outputs`` cells (then adds a bias)."""
    return LayerCost(macs, 2 * macs, 2 * macs - outputs + (outputs if has_bias else 0), True)


def _estimate(operations):
    return LayerCost(0, operations, operations, False)


def layer_cost(layer, input_shape=None, output_shape=None):
    """The forward cost of ``layer`` for one sample, in all three conventions.

    Args:
        layer: a built layer.
        input_shape: the input shape with the batch axis (``layer.input_shape`` by default).
        output_shape: the output shape with the batch axis (``layer.output_shape`` by default).

    Returns:
        A ``LayerCost(macs, flops, muls_adds, exact)``; see the module docstring for the rules.

    Example:

    >>> edge = layers.Conv2D(1, (1, 2), use_bias=False)   # Goodfellow's [-1, +1] edge detector
    >>> _ = edge(np.zeros((1, 280, 320, 1), "float32"))
    >>> layer_cost(edge)
    LayerCost(macs=178640, flops=357280, muls_adds=267960, exact=True)
    """
    input_shape = layer.input_shape if input_shape is None else input_shape
    output_shape = layer.output_shape if output_shape is None else output_shape
    if input_shape is None or output_shape is None:
        raise ValueError(f"layer_cost: {layer.describe()} is not built yet; call it on a batch first "
                         "or pass input_shape and output_shape")
    if isinstance(layer, (InputLayer, Flatten)) or type(layer).__name__ in SHAPE_ONLY:
        return LayerCost(0, 0, 0, True)
    data_format = getattr(layer, "data_format", "channels_last")
    has_bias = bool(getattr(layer, "use_bias", False))
    if isinstance(layer, (Conv2D, _ConvND)):
        outputs = math.prod(_spatial(output_shape, data_format)) * layer.filters
        c_in = _channels(input_shape, data_format) // layer.groups
        return _linear(outputs * math.prod(layer.kernel_size) * c_in, outputs, has_bias)
    if isinstance(layer, _ConvTransposeND):
        in_cells = math.prod(_spatial(input_shape, data_format))
        macs = in_cells * math.prod(layer.kernel_size) * _channels(input_shape, data_format) * layer.filters
        return _linear(macs, math.prod(_spatial(output_shape, data_format)) * layer.filters, has_bias)
    if isinstance(layer, (DepthwiseConv2D, SeparableConv2D)):
        out_cells = math.prod(_spatial(output_shape, data_format))
        middle = _channels(input_shape, data_format) * layer.depth_multiplier
        is_separable = isinstance(layer, SeparableConv2D)
        depthwise = _linear(out_cells * middle * math.prod(layer.kernel_size), out_cells * middle,
                            has_bias and not is_separable)
        if not is_separable:
            return depthwise
        pointwise = _linear(out_cells * layer.filters * middle, out_cells * layer.filters, has_bias)
        return LayerCost(*(a + b for a, b in zip(depthwise[:3], pointwise[:3])), True)
    if isinstance(layer, _WindowedConv):  # locally connected, tiled
        outputs = math.prod(_spatial(output_shape, data_format)) * layer.filters
        c_in = _channels(input_shape, data_format)
        return _linear(outputs * math.prod(layer.kernel_size) * c_in, outputs, has_bias)
    if isinstance(layer, Dense):
        outputs = _per_sample(output_shape)
        return _linear(_per_sample(input_shape) * layer.units, outputs, has_bias)
    if type(layer).__name__.startswith("Global"):
        return _estimate(_per_sample(input_shape))  # global pooling: one operation per input element
    if hasattr(layer, "pool_size"):
        return _estimate(_per_sample(output_shape) * math.prod(layer.pool_size))
    return _estimate(_per_sample(output_shape))


def layer_flops(layer, input_shape=None, output_shape=None, convention="flops"):
    """The forward cost of ``layer`` for one sample, as one number in ``convention``.

    Args:
        layer: a built layer.
        input_shape: the input shape with the batch axis (``layer.input_shape`` by default).
        output_shape: the output shape with the batch axis (``layer.output_shape`` by default).
        convention: 'flops' (2 per multiply-add, the default), 'macs' (multiply-adds) or 'muls_adds'
            (multiplications plus additions as they happen: P products need P - 1 additions).

    Returns:
        An int.

    Raises:
        ValueError: for an unknown convention or a layer that is not built.

    Example:

    >>> dense = layers.Dense(7)
    >>> _ = dense(np.zeros((2, 10), "float32"))
    >>> layer_flops(dense), layer_flops(dense, convention="macs"), layer_flops(dense, convention="muls_adds")
    (140, 70, 140)
    """
    check_convention(convention, "layer_flops")
    return layer_cost(layer, input_shape, output_shape).in_convention(convention)


class ModelCost:
    """Per-layer costs of a model (``rows``: name, class, LayerCost) and their totals per convention.

    ``model_cost`` builds it; ``str(cost)`` is the per-layer table.

    Args:
        model_name: the model's name.
        rows: ``[(layer name, class name, LayerCost)]``, in layer order.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2)])
    >>> cost = tinyconv.teaching.model_cost(model)
    >>> cost.total("macs"), cost.total()
    (20, 40)
    """

    def __init__(self, model_name, rows):
        self.model_name = model_name
        self.rows = rows

    def total(self, convention="flops"):
        """The sum over the layers.

        Args:
            convention: 'flops' (the default), 'macs' or 'muls_adds'.
        """
        check_convention(convention, "ModelCost.total")
        return sum(cost.in_convention(convention) for _, _, cost in self.rows)

    def __str__(self):
        table = [[name, kind, f"{cost.macs:,}", f"{cost.flops:,}", f"{cost.muls_adds:,}",
                  "exact" if cost.exact else "estimate"] for name, kind, cost in self.rows]
        table.append(["total", "", f"{self.total('macs'):,}", f"{self.total('flops'):,}",
                      f"{self.total('muls_adds'):,}", ""])
        return (f"Forward cost of '{self.model_name}' per sample\n"
                + format_table(["Layer", "Class", "MACs", "FLOPs (2 x MACs)", "Muls + adds", ""], table))

    __repr__ = __str__


def model_cost(model):
    """The forward cost of every layer of a built model, per sample (nested models looked inside).

    Args:
        model: a built model.

    Returns:
        A ``ModelCost``: ``print`` it for the table, ``.total("macs")`` for one number.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((10,)), layers.Dense(7), layers.Dense(2)])
    >>> model_cost(model).total("macs")
    84
    """
    from .hooks import leaf_layers

    if not model.built:
        raise ValueError(f"model_cost: {model.describe()} is not built yet: build it or call it on data first")
    rows = [(layer.name, type(layer).__name__, layer_cost(layer)) for layer in leaf_layers(model)]
    return ModelCost(model.name, rows)


def matrix_vs_convolution(input_size, kernel_size):
    """A one-channel convolution (valid, stride 1) against the same map written as a matrix product.

    Goodfellow et al.'s table ("Efficiency of convolution"): the convolution stores its kernel only;
    the matrix has one row per output and one column per input, dense or with only the kernel's
    entries stored (sparse).  Operations count multiplications and additions as they happen
    (``muls_adds``): a row of the dense matrix multiplies every input.

    Args:
        input_size: (height, width) of the image.
        kernel_size: (height, width) of the kernel.

    Returns:
        A dict {"convolution" | "dense matrix" | "sparse matrix": {"stored floats", "operations"}}
        and "output size": (height, width).

    Example:

    >>> costs = matrix_vs_convolution((280, 320), (1, 2))
    >>> costs["output size"], costs["convolution"], costs["sparse matrix"]["stored floats"]
    ((280, 319), {'stored floats': 2, 'operations': 267960}, 178640)
    """
    (h, w), (kh, kw) = tuple(input_size), tuple(kernel_size)
    if kh > h or kw > w or min(h, w, kh, kw) < 1:
        raise ValueError(f"matrix_vs_convolution: the kernel {kernel_size} must fit the image {input_size}")
    out_h, out_w = h - kh + 1, w - kw + 1
    outputs, inputs, taps = out_h * out_w, h * w, kh * kw
    per_output = taps + (taps - 1)  # products, then the additions that sum them
    return {
        "output size": (out_h, out_w),
        "convolution": {"stored floats": taps, "operations": outputs * per_output},
        "dense matrix": {"stored floats": outputs * inputs, "operations": outputs * (2 * inputs - 1)},
        "sparse matrix": {"stored floats": outputs * taps, "operations": outputs * per_output},
    }


__all__ = ["CONVENTIONS", "LayerCost", "ModelCost", "layer_cost", "layer_flops", "matrix_vs_convolution",
           "model_cost"]
