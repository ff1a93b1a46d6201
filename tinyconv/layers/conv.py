"""Conv2D: a bank of learned filters slid over the image.

    z[n, i, j, f] = b[f] + sum_{p, q, c} x[n, i*s_h + p*d_h, j*s_w + q*d_w, c] * W[p, q, c, f]
    y = act(z)

(cross-correlation, as in every framework).  The loops live in the kernels
(``tinyconv/kernels/reference/conv.py`` reads like the formula); this layer handles the
arguments, the weights and the shapes, in Keras's layout: kernel (kh, kw, in/groups, filters).
"""
import numpy as np

from .. import activations, devices, dispatch
from .. import geometry
from .base import (ActivationMixin, Layer, as_pair, check_data_format, from_channels_last,
                   shape_from_channels_last, shape_to_channels_last, to_channels_last)
from .core import _init_name


# --- helpers shared with conv_nd.py (Conv1D, Conv3D) and conv_transpose.py ----------------------


def check_filters(filters, layer_name):
    if not isinstance(filters, (int, np.integer)) or filters <= 0:
        raise ValueError(f"{layer_name}: filters must be a positive integer, got {filters!r}")
    return int(filters)


def check_groups(groups, filters, layer_name):
    """Each of the ``groups`` groups maps its share of the input channels to filters / groups outputs."""
    if not isinstance(groups, (int, np.integer)) or groups <= 0 or filters % groups:
        raise ValueError(f"{layer_name}: groups must be a positive integer dividing filters={filters}, "
                         f"got {groups!r}")
    return int(groups)


def add_conv_weights(layer, input_shape):
    """Give a (grouped) convolution layer its weights in Keras's layout:
    kernel (*kernel_size, in_channels / groups, filters) and bias (filters,)."""
    channels = shape_to_channels_last(input_shape, layer.data_format)[-1]
    if channels is None:
        raise ValueError(f"{layer.describe()}: the channel axis of the input must be known, got {input_shape}")
    if channels % layer.groups:
        raise ValueError(f"{layer.describe()}: input channels ({channels}) must be divisible by groups "
                         f"({layer.groups})")
    kernel_shape = layer.kernel_size + (channels // layer.groups, layer.filters)
    layer.kernel = layer.add_weight("kernel", kernel_shape, layer.kernel_initializer)
    layer.bias = layer.add_weight("bias", (layer.filters,), layer.bias_initializer) if layer.use_bias else None


class Conv2D(ActivationMixin, Layer):
    runs_on_gpu = True
    expected_ndim = 4

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.filters = check_filters(filters, me)
        self.groups = check_groups(groups, self.filters, me)
        self.kernel_size = as_pair(kernel_size, "kernel_size", me)
        self.strides = as_pair(strides, "strides", me)
        self.dilation_rate = as_pair(dilation_rate, "dilation_rate", me)
        if isinstance(padding, str):
            padding = padding.lower()
            if padding not in ("valid", "same"):
                raise ValueError(f"{me}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding
        self.data_format = check_data_format(data_format, me)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _nhwc_shape(self, shape):
        return shape_to_channels_last(shape, self.data_format)

    def _pads(self, height, width):
        return geometry.resolve_padding(self.padding, (height, width), self.kernel_size, self.strides,
                                      self.dilation_rate)

    def build(self, input_shape):
        add_conv_weights(self, input_shape)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = self._nhwc_shape(input_shape)
        out_hw = []
        for axis, size in enumerate((height, width)):
            if size is None:
                out_hw.append(None)
                continue
            pads = self._pads(height or 1, width or 1)[axis]
            out = geometry.output_size(size, self.kernel_size[axis], self.strides[axis], pads[0], pads[1],
                                     self.dilation_rate[axis])
            if out < 1:
                raise ValueError(
                    f"{self.describe()}: input of spatial size {(height, width)} is too small for kernel "
                    f"{self.kernel_size} with dilation {self.dilation_rate} and padding {self.padding!r} "
                    f"(output size would be {out})"
                )
            out_hw.append(out)
        return shape_from_channels_last((batch, out_hw[0], out_hw[1], self.filters), self.data_format)

    def check_input(self, x):
        super().check_input(x)
        channels = self._nhwc_shape(x.shape)[-1]
        expected = self.kernel.shape[2] * self.groups
        if channels != expected:
            raise ValueError(f"{self.describe()}: expected input with {expected} channels (from its weights), "
                             f"got shape {x.shape}")
        self.compute_output_shape(x.shape)  # raises if the image is too small

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1], x.shape[2])
        # Training: the kernel set may keep work for backward (the compiled one keeps the im2col
        # columns of a few-channel layer), reusing the buffers of this layer's previous step.
        # A shared layer's calls each get their own cache (the functional model snapshots it).
        self._kernel_cache = dispatch.KernelCache(recycled=self.__dict__.pop("_spent_cache", None)) \
            if training else None
        z = dispatch.conv2d_forward(x, self.kernel, self.bias, self.strides, self._pad_spec, self.dilation_rate,
                                    self.groups, cache=self._kernel_cache)
        return self._activate(from_channels_last(z, self.data_format), owned=True)

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = devices.array_module_of(dz).ascontiguousarray(to_channels_last(dz, self.data_format),
                                                         dtype=self._input.dtype)
        cache = getattr(self, "_kernel_cache", None)
        dx, dkernel, dbias = dispatch.conv2d_backward(dz, self._input, self.kernel, self.strides, self._pad_spec,
                                                      self.dilation_rate, self.groups,
                                                      input_gradient=need_input_gradient, cache=cache)
        self.grads["kernel"] = dkernel
        if self.use_bias:
            self.grads["bias"] = dbias
        self._spent_cache = cache
        return None if dx is None else from_channels_last(dx, self.data_format)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": _init_name(self.kernel_initializer),
                "bias_initializer": _init_name(self.bias_initializer)}


Convolution2D = Conv2D
