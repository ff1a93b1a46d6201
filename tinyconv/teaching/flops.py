"""Floating-point operations of one layer's forward pass, per sample.

Exact counts (a multiply-add counts as 2 FLOPs; bias and activation are not counted):

    Conv (1-D/2-D/3-D)   2 * prod(output spatial) * prod(kernel) * (C_in / groups) * C_out
    Transposed conv      2 * prod(input spatial) * prod(kernel) * C_in * C_out   (each input cell
                         stamps the whole kernel onto the output)
    Depthwise conv       2 * prod(output spatial) * prod(kernel) * C_in * depth_multiplier
    Separable conv       the depthwise part + 2 * prod(output spatial) * C_in * depth_multiplier * C_out
    Locally connected / tiled conv: as a convolution (same multiplications, unshared weights)
    Dense                2 * (inputs per sample / C_in) * C_in * units

Estimates (documented, not exact):

    Pooling              one operation (a compare or an add) per window element per output element
                         (global pooling: one per input element)
    Everything else      one operation per output element (activations, normalisation, merges,
                         dropout); shape-only layers (Input, Flatten, Reshape, Permute) count 0
"""
import math

from ..layers.conv import Conv2D, _ConvND, _WindowedConv
from ..layers.conv_transpose import _ConvTransposeND
from ..layers.depthwise_separable import DepthwiseConv2D, SeparableConv2D
from ..layers.core import Dense, Flatten, InputLayer

SHAPE_ONLY = ("InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector")


def _per_sample(shape):
    shape = shape[0] if isinstance(shape, list) else shape
    return math.prod(d for d in shape[1:] if d is not None)


def _spatial(shape, data_format):
    """The spatial sizes of a (None, ..., C) or (None, C, ...) shape."""
    return shape[2:] if data_format == "channels_first" else shape[1:-1]


def _channels(shape, data_format):
    return shape[1] if data_format == "channels_first" else shape[-1]


def layer_flops(layer, input_shape=None, output_shape=None):
    """FLOPs of ``layer``'s forward pass for one sample (see the module docstring for the rules)."""
    input_shape = layer.input_shape if input_shape is None else input_shape
    output_shape = layer.output_shape if output_shape is None else output_shape
    if isinstance(layer, (InputLayer, Flatten)) or type(layer).__name__ in SHAPE_ONLY:
        return 0
    data_format = getattr(layer, "data_format", "channels_last")
    if isinstance(layer, (Conv2D, _ConvND)):
        out_cells = math.prod(_spatial(output_shape, data_format))
        c_in = _channels(input_shape, data_format) // layer.groups
        return 2 * out_cells * math.prod(layer.kernel_size) * c_in * layer.filters
    if isinstance(layer, _ConvTransposeND):
        in_cells = math.prod(_spatial(input_shape, data_format))
        c_in = _channels(input_shape, data_format)
        return 2 * in_cells * math.prod(layer.kernel_size) * c_in * layer.filters
    if isinstance(layer, (DepthwiseConv2D, SeparableConv2D)):
        out_cells = math.prod(_spatial(output_shape, data_format))
        middle = _channels(input_shape, data_format) * layer.depth_multiplier
        depthwise = 2 * out_cells * math.prod(layer.kernel_size) * middle
        pointwise = 2 * out_cells * middle * layer.filters if isinstance(layer, SeparableConv2D) else 0
        return depthwise + pointwise
    if isinstance(layer, _WindowedConv):  # locally connected, tiled
        out_cells = math.prod(_spatial(output_shape, data_format))
        return 2 * out_cells * math.prod(layer.kernel_size) * _channels(input_shape, data_format) * layer.filters
    if isinstance(layer, Dense):
        return 2 * _per_sample(input_shape) * layer.units
    if type(layer).__name__.startswith("Global"):
        return _per_sample(input_shape)  # global pooling: one operation per input element
    if hasattr(layer, "pool_size"):
        return _per_sample(output_shape) * math.prod(layer.pool_size)
    return _per_sample(output_shape)
