"""Variations on the convolution: who shares weights with whom, and which channels meet.

A Conv2D output cell sums over a kh x kw window of *every* input channel, with *one* kernel
shared by every position.  Each layer here changes one of those two choices:

* ``DepthwiseConv2D``: each input channel is filtered on its own (depth_multiplier filters per
  channel), no sum across channels.  That is a grouped convolution with one group per input
  channel, so it runs on the Conv2D kernels with ``groups = in_channels``.
* ``SeparableConv2D``: a depthwise convolution (space) followed by a 1x1 convolution (channels):
  kh*kw*C*M + C*M*F weights instead of kh*kw*C*F.
* ``LocallyConnected1D/2D`` (Keras 2's layers): the window of a convolution, but a different
  kernel at every output position: no weight sharing ("unshared convolution").
* ``TiledConv2D`` (Goodfellow et al., ch. 9): a cycle of th x tw kernels; positions th apart
  (tw apart across) share weights.  Tile (1, 1) is a Conv2D, tile = output size is a locally
  connected layer.

Spatially separable kernels (a k x k kernel as a column times a row) are covered by functions
in ``tinyconv.kernels.reference.separable``; true convolution vs cross-correlation by
``tinyconv.kernels.reference.flip``.
"""
import numpy as np

from .. import activations, dispatch
from .. import geometry
from ..kernels.reference.local import locally_connected_output_hw
from .base import (ActivationMixin, Layer, as_pair, check_data_format, from_channels_last,
                   shape_from_channels_last, shape_to_channels_last, to_channels_last)
from .core import _init_name

__all__ = ["DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D", "LocallyConnected1D",
           "LocallyConnected2D", "TiledConv2D"]


def _check_padding(padding, me, allowed=("valid", "same")):
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{me}: padding must be one of {list(allowed)}, got {padding!r}")
    return padding.lower()


def _positive_int(value, what, me):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{me}: {what} must be a positive integer, got {value!r}")
    return int(value)


class _WindowedConv(ActivationMixin, Layer):
    """What the sliding-window layers here share: arguments, padding, output sizes, layouts."""

    expected_ndim = 4

    def _setup_window(self, kernel_size, strides, padding, data_format, dilation_rate=(1, 1)):
        me = self.describe()
        self.kernel_size = as_pair(kernel_size, "kernel_size", me)
        self.strides = as_pair(strides, "strides", me)
        self.dilation_rate = as_pair(dilation_rate, "dilation_rate", me)
        self.padding = _check_padding(padding, me)
        self.data_format = check_data_format(data_format, me)

    def _nhwc_shape(self, shape):
        return shape_to_channels_last(shape, self.data_format)

    def _channels(self, input_shape):
        channels = self._nhwc_shape(input_shape)[-1]
        if channels is None:
            raise ValueError(f"{self.describe()}: the channel axis of the input must be known, got {input_shape}")
        return channels

    def _pads(self, height, width):
        return geometry.resolve_padding(self.padding, (height, width), self.kernel_size, self.strides,
                                      self.dilation_rate)

    def _output_hw(self, height, width):
        """Output height and width (None where the input's is unknown); raises if the image is too small."""
        out_hw = []
        for axis, size in enumerate((height, width)):
            if size is None:
                out_hw.append(None)
                continue
            before, after = self._pads(height or 1, width or 1)[axis]
            out = geometry.output_size(size, self.kernel_size[axis], self.strides[axis], before, after,
                                     self.dilation_rate[axis])
            if out < 1:
                raise ValueError(
                    f"{self.describe()}: input of spatial size {(height, width)} is too small for kernel "
                    f"{self.kernel_size} with dilation {self.dilation_rate} and padding {self.padding!r} "
                    f"(output size would be {out})")
            out_hw.append(out)
        return tuple(out_hw)

    def _output_shape_with(self, input_shape, channels_out):
        batch, height, width, _ = self._nhwc_shape(input_shape)
        return shape_from_channels_last((batch, *self._output_hw(height, width), channels_out), self.data_format)

    def _check_channels(self, x, expected):
        channels = self._nhwc_shape(x.shape)[-1]
        if channels != expected:
            raise ValueError(f"{self.describe()}: expected input with {expected} channels (from its weights), "
                             f"got shape {x.shape}")
        self._output_hw(*self._nhwc_shape(x.shape)[1:3])  # raises if the image is too small

    def _window_config(self):
        return {"kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias}


# ------------------------------------------------------------------------------------------
# Depthwise and depthwise-separable convolution (Keras 3)
# ------------------------------------------------------------------------------------------


def depthwise_as_grouped_kernel(depthwise_kernel):
    """Keras's depthwise kernel (kh, kw, C, M) -> a grouped Conv2D kernel (kh, kw, 1, C*M).

    Why a depthwise convolution *is* a grouped convolution: with groups = C, group c sees only
    input channel c (C/groups = 1 input channel per filter) and owns filters [c*M, (c+1)*M).
    Depthwise output channel c*M + m is input channel c filtered by kernel[:, :, c, m], which is
    exactly where a C-order reshape of (C, M) into C*M puts it (Keras orders its outputs so too).
    """
    kh, kw, channels, multiplier = depthwise_kernel.shape
    return depthwise_kernel.reshape(kh, kw, 1, channels * multiplier)


class DepthwiseConv2D(_WindowedConv):
    """Each input channel convolved with its own ``depth_multiplier`` filters; no mixing of channels.

        z[n, i, j, c*M + m] = b[c*M + m] + sum_{p, q} x[n, i*sh + p*dh, j*sw + q*dw, c] * K[p, q, c, m]

    Weights (Keras 3): ``kernel`` (kh, kw, C, depth_multiplier), ``bias`` (C * depth_multiplier,).
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self._setup_window(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", self.describe())
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer)
        self.bias = (self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer)
                     if self.use_bias else None)

    def compute_output_shape(self, input_shape):
        return self._output_shape_with(input_shape, self._channels(input_shape) * self.depth_multiplier)

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.kernel.shape[2])

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1], x.shape[2])
        z = dispatch.conv2d_forward(x, depthwise_as_grouped_kernel(self.kernel), self.bias, self.strides,
                               self._pad_spec, self.dilation_rate, x.shape[3])
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = np.ascontiguousarray(to_channels_last(dz, self.data_format), dtype=self._input.dtype)
        dx, dgrouped, dbias = dispatch.conv2d_backward(dz, self._input, depthwise_as_grouped_kernel(self.kernel),
                                                  self.strides, self._pad_spec, self.dilation_rate,
                                                  self._input.shape[3])
        self.grads["kernel"] = dgrouped.reshape(self.kernel.shape)
        if self.use_bias:
            self.grads["bias"] = dbias
        return from_channels_last(dx, self.data_format)

    def get_config(self):
        return {**super().get_config(), **self._window_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": _init_name(self.depthwise_initializer),
                "bias_initializer": _init_name(self.bias_initializer)}


class SeparableConv2D(_WindowedConv):
    """Depthwise convolution (space, channel by channel) then a 1x1 convolution (mixing channels).

        u = depthwise(x, depthwise_kernel)               strides, padding, dilation apply here
        z[n, i, j, f] = b[f] + sum_k u[n, i, j, k] * pointwise_kernel[0, 0, k, f]
        y = act(z)

    Weights (Keras 3): ``depthwise_kernel`` (kh, kw, C, M), ``pointwise_kernel`` (1, 1, C*M, filters),
    ``bias`` (filters,).  Backward runs the two convolutions' backward passes in reverse order.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.filters = _positive_int(filters, "filters", me)
        self._setup_window(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", me)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        middle = channels * self.depth_multiplier
        depthwise_shape = self.kernel_size + (channels, self.depth_multiplier)
        self.depthwise_kernel = self.add_weight("depthwise_kernel", depthwise_shape, self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1, 1, middle, self.filters),
                                                self.pointwise_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def compute_output_shape(self, input_shape):
        self._channels(input_shape)
        return self._output_shape_with(input_shape, self.filters)

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.depthwise_kernel.shape[2])

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1], x.shape[2])
        self._depthwise_output = dispatch.conv2d_forward(
            x, depthwise_as_grouped_kernel(self.depthwise_kernel), None, self.strides, self._pad_spec,
            self.dilation_rate, x.shape[3])
        z = dispatch.conv2d_forward(self._depthwise_output, self.pointwise_kernel, self.bias, (1, 1),
                               ((0, 0), (0, 0)), (1, 1), 1)
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = np.ascontiguousarray(to_channels_last(dz, self.data_format), dtype=self._input.dtype)
        d_depthwise_output, dpointwise, dbias = dispatch.conv2d_backward(
            dz, self._depthwise_output, self.pointwise_kernel, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
        dx, dgrouped, _ = dispatch.conv2d_backward(
            d_depthwise_output, self._input, depthwise_as_grouped_kernel(self.depthwise_kernel), self.strides,
            self._pad_spec, self.dilation_rate, self._input.shape[3])
        self.grads["depthwise_kernel"] = dgrouped.reshape(self.depthwise_kernel.shape)
        self.grads["pointwise_kernel"] = dpointwise
        if self.use_bias:
            self.grads["bias"] = dbias
        return from_channels_last(dx, self.data_format)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": _init_name(self.depthwise_initializer),
                "pointwise_initializer": _init_name(self.pointwise_initializer),
                "bias_initializer": _init_name(self.bias_initializer)}


SeparableConvolution2D = SeparableConv2D


# ------------------------------------------------------------------------------------------
# Locally connected layers (Keras 2's API; Keras 3 dropped them)
# ------------------------------------------------------------------------------------------


class _LocallyConnected(_WindowedConv):
    """Shared by LocallyConnected1D/2D: both run on the 2-D kernels (1-D as height 1).

    Weights in Keras 2's layout.  channels_last: kernel (positions, kh*kw*C, F) with each patch
    flattened in (row, column, channel) order, bias (OH, OW, F).  channels_first: patches
    flattened in (channel, row, column) order and bias (F, OH, OW), as Keras 2 stored them; the
    layer converts at its edges so the kernels always see the channels_last layout.
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides, padding, data_format, activation, use_bias,
                 kernel_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.filters = _positive_int(filters, "filters", me)
        if not isinstance(padding, str) or padding.lower() != "valid":
            raise ValueError(f"{me}: only padding='valid' is supported (as in Keras 2's implementation=1), "
                             f"got {padding!r}")
        self._setup_window(self._as_2d(kernel_size), self._as_2d(strides), padding, data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    # --- layout conversions between this layer's shapes and the 2-D NHWC kernels' ------------
    def _as_2d(self, value):
        return value

    def _x_to_nhwc(self, x):
        return to_channels_last(x, self.data_format)

    def _dx_from_nhwc(self, dx):
        return from_channels_last(dx, self.data_format)

    def _spatial_in(self, input_shape):
        """(H, W) of the input as the 2-D kernel sees it."""
        return self._nhwc_shape(input_shape)[1:3]

    def _out_hw(self, input_shape):
        height, width = self._spatial_in(input_shape)
        if height is None or width is None:
            raise ValueError(f"{self.describe()}: needs fully known spatial input dimensions (its weights depend "
                             f"on them), got input shape {input_shape}")
        out_hw = locally_connected_output_hw((height, width), self.kernel_size, self.strides)
        if min(out_hw) < 1:
            raise ValueError(f"{self.describe()}: input of spatial size {(height, width)} is too small for kernel "
                             f"{self.kernel_size} (output size would be {out_hw})")
        return out_hw

    def _bias_shape(self, out_hw):
        if self.data_format == "channels_first":
            return (self.filters, *out_hw)
        return (*out_hw, self.filters)

    def _bias_to_nhwc(self, bias):
        return np.ascontiguousarray(bias.transpose(1, 2, 0)) if self.data_format == "channels_first" else bias

    def _dbias_from_nhwc(self, dbias):
        return np.ascontiguousarray(dbias.transpose(2, 0, 1)) if self.data_format == "channels_first" else dbias

    def _kernel_to_nhwc(self, kernel):
        """channels_first patches are flattened (c, p, q); the kernels want (p, q, c)."""
        if self.data_format != "channels_first":
            return kernel
        (kh, kw), (positions, _, filters) = self.kernel_size, kernel.shape
        by_axis = kernel.reshape(positions, -1, kh, kw, filters)
        return np.ascontiguousarray(by_axis.transpose(0, 2, 3, 1, 4)).reshape(positions, -1, filters)

    def _dkernel_from_nhwc(self, dkernel):
        if self.data_format != "channels_first":
            return dkernel
        (kh, kw), (positions, _, filters) = self.kernel_size, dkernel.shape
        by_axis = dkernel.reshape(positions, kh, kw, -1, filters)
        return np.ascontiguousarray(by_axis.transpose(0, 3, 1, 2, 4)).reshape(positions, -1, filters)

    # --- the Layer contract ---------------------------------------------------------------
    def build(self, input_shape):
        channels = self._channels(input_shape)
        out_hw = self._out_hw(input_shape)
        patch = self.kernel_size[0] * self.kernel_size[1] * channels
        self.kernel = self.add_weight("kernel", (out_hw[0] * out_hw[1], patch, self.filters),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", self._bias_shape(out_hw), self.bias_initializer) if self.use_bias else None

    def check_input(self, x):
        super().check_input(x)
        channels = self._channels(x.shape)
        out_hw = self._out_hw(x.shape)
        expected = (out_hw[0] * out_hw[1], self.kernel_size[0] * self.kernel_size[1] * channels, self.filters)
        if expected != self.kernel.shape:
            raise ValueError(f"{self.describe()}: an input of shape {x.shape} needs a kernel of shape {expected}, "
                             f"but the layer was built with {self.kernel.shape} (its weights fix the input size)")

    def forward(self, x, training=False):
        self._input = self._x_to_nhwc(x)
        self._out_hw_2d = self._out_hw(x.shape)
        bias = None if self.bias is None else self._bias_to_nhwc(self.bias)
        z = dispatch.locally_connected2d_forward(self._input, self._kernel_to_nhwc(self.kernel), bias,
                                            self.kernel_size, self.strides, self._out_hw_2d)
        return self._activate(self._z_from_nhwc(z))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = np.ascontiguousarray(self._dz_to_nhwc(dz), dtype=self._input.dtype)
        dx, dkernel, dbias = dispatch.locally_connected2d_backward(dz, self._input, self._kernel_to_nhwc(self.kernel),
                                                              self.kernel_size, self.strides, self._out_hw_2d)
        self.grads["kernel"] = self._dkernel_from_nhwc(dkernel)
        if self.use_bias:
            self.grads["bias"] = self._dbias_from_nhwc(dbias)
        return self._dx_from_nhwc(dx)

    def _z_from_nhwc(self, z):
        return from_channels_last(z, self.data_format)

    def _dz_to_nhwc(self, dz):
        return to_channels_last(dz, self.data_format)

    def get_config(self):
        config = {**super().get_config(), "filters": self.filters, **self._window_config(),
                  "kernel_initializer": _init_name(self.kernel_initializer),
                  "bias_initializer": _init_name(self.bias_initializer)}
        del config["dilation_rate"]  # locally connected layers have none
        return config


class LocallyConnected2D(_LocallyConnected):
    """Like Conv2D, but every output position (i, j) has its own kernel and bias (no sharing).

        z[n, i, j, f] = b[i, j, f] + sum_k patch(n, i, j)[k] * kernel[i*OW + j, k, f]

    Keras 2's API and weights: ``kernel`` (OH*OW, kh*kw*C, filters), ``bias`` (OH, OW, filters);
    padding 'valid' only.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, activation, use_bias,
                         kernel_initializer, bias_initializer, **kwargs)

    def compute_output_shape(self, input_shape):
        self._channels(input_shape)
        batch = input_shape[0]
        return shape_from_channels_last((batch, *self._out_hw(input_shape), self.filters), self.data_format)


class LocallyConnected1D(_LocallyConnected):
    """The 1-D locally connected layer: a different kernel at every output step.

        z[n, l, f] = b[l, f] + sum_k x[n, l*s : l*s + k_size, :].flat[k] * kernel[l, k, f]

    Keras 2's weights: ``kernel`` (output_length, kernel_size*C, filters), ``bias`` (output_length,
    filters) in both data formats.  Runs on the 2-D kernels with a height-1 image.
    """

    expected_ndim = 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, activation, use_bias,
                         kernel_initializer, bias_initializer, **kwargs)

    def _rank_hint(self):
        return "(batch, steps, channels)" if self.data_format == "channels_last" else "(batch, channels, steps)"

    def _as_2d(self, value):
        """A 1-D size as the 2-D kernels see it: (1, size)."""
        if isinstance(value, (tuple, list)):
            if len(value) != 1:
                raise ValueError(f"{self.describe()}: expected an int or a 1-tuple, got {value!r}")
            value = value[0]
        return (1, value)

    def _nhwc_shape(self, shape):
        batch, steps, channels = shape if self.data_format == "channels_last" else (shape[0], shape[2], shape[1])
        return (batch, 1, steps, channels)

    def _x_to_nhwc(self, x):
        x = x if self.data_format == "channels_last" else x.transpose(0, 2, 1)
        return np.ascontiguousarray(x[:, None, :, :])

    def _dx_from_nhwc(self, dx):
        dx = dx[:, 0]
        return dx if self.data_format == "channels_last" else dx.transpose(0, 2, 1)

    _z_from_nhwc = _dx_from_nhwc

    def _dz_to_nhwc(self, dz):
        return self._x_to_nhwc(dz)

    def _bias_shape(self, out_hw):
        return (out_hw[1], self.filters)

    def _bias_to_nhwc(self, bias):
        return bias[None]

    def _dbias_from_nhwc(self, dbias):
        return dbias[0]

    def compute_output_shape(self, input_shape):
        self._channels(input_shape)
        steps = self._out_hw(input_shape)[1]
        if self.data_format == "channels_first":
            return (input_shape[0], self.filters, steps)
        return (input_shape[0], steps, self.filters)

    def get_config(self):
        config = super().get_config()
        config["kernel_size"] = (self.kernel_size[1],)
        config["strides"] = (self.strides[1],)
        return config


# ------------------------------------------------------------------------------------------
# Tiled convolution (Goodfellow et al., ch. 9; in neither Keras nor PyTorch)
# ------------------------------------------------------------------------------------------


class TiledConv2D(_WindowedConv):
    """A cycle of tile_size[0] x tile_size[1] kernels: output (i, j) uses kernel[i % th, j % tw].

        z[n, i, j, f] = b[f] + sum_{p, q, c} x_pad[n, i*sh + p, j*sw + q, c] * kernel[i % th, j % tw, p, q, c, f]

    Weights: ``kernel`` (th, tw, kh, kw, C, filters), ``bias`` (filters,) shared like a Conv2D's.
    tile_size (1, 1) is exactly Conv2D; tile_size = output size is LocallyConnected2D (with a
    shared bias).  The initializer sees the whole 6-D shape, so Keras's fan rule counts every
    tile (as Keras 2 did for its locally connected kernels).
    """

    def __init__(self, filters, kernel_size, tile_size=(2, 2), strides=(1, 1), padding="valid", data_format=None,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int(filters, "filters", self.describe())
        self.tile_size = as_pair(tile_size, "tile_size", self.describe())
        self._setup_window(kernel_size, strides, padding, data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", self.tile_size + self.kernel_size + (channels, self.filters),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def compute_output_shape(self, input_shape):
        self._channels(input_shape)
        return self._output_shape_with(input_shape, self.filters)

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.kernel.shape[4])

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1], x.shape[2])
        z = dispatch.tiled_conv2d_forward(x, self.kernel, self.bias, self.strides, self._pad_spec)
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = np.ascontiguousarray(to_channels_last(dz, self.data_format), dtype=self._input.dtype)
        dx, dkernel, dbias = dispatch.tiled_conv2d_backward(dz, self._input, self.kernel, self.strides, self._pad_spec)
        self.grads["kernel"] = dkernel
        if self.use_bias:
            self.grads["bias"] = dbias
        return from_channels_last(dx, self.data_format)

    def get_config(self):
        config = {**super().get_config(), "filters": self.filters, "tile_size": self.tile_size,
                  **self._window_config(), "kernel_initializer": _init_name(self.kernel_initializer),
                  "bias_initializer": _init_name(self.bias_initializer)}
        del config["dilation_rate"]
        return config
