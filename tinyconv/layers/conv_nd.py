"""Conv1D and Conv3D: the convolution of ``conv.py`` over one and over three spatial axes.

    Conv1D  z[n, t, f]       = b[f] + sum_{q, c}    x[n, t*s + q*d, c] * W[q, c, f]
    Conv3D  z[n, d, i, j, f] = b[f] + sum_{o,p,q,c} x[n, d*sd + o*dd, i*sh + p*dh, j*sw + q*dw, c] * W[o, p, q, c, f]
    y = act(z)

Each spatial axis follows the course's formula  out = floor((N + P_before + P_after - D*(F-1) - 1) / S) + 1.

* Conv1D (sequences: audio, text, sensor series) needs no kernel of its own: a sequence of
  length L is an image of height 1 and width L, and a (k,) kernel is a (1, k) kernel, so it
  calls the conv2d kernels with a unit height axis.  ``padding="causal"`` pads
  ``dilation*(k-1)`` zeros on the left only, so output t sees inputs t, t-d, t-2d, ... and
  never the future (WaveNet).
* Conv3D (volumes: video, CT scans) has its own kernels, ``dispatch.conv3d_forward`` /
  ``dispatch.conv3d_backward`` (``tinyconv/kernels/reference/conv3d.py`` reads like the formula).

Keras's layouts: Conv1D input (batch, steps, channels), kernel (k, in/groups, filters);
Conv3D input (batch, depth, height, width, channels), kernel (kd, kh, kw, in/groups, filters).
"""
import numpy as np

from .. import activations, dispatch
from .. import geometry
from .base import (ActivationMixin, Layer, check_data_format, from_channels_last, shape_from_channels_last,
                   shape_to_channels_last, to_channels_last)
from .conv import add_conv_weights, check_filters, check_groups
from .core import _init_name


# --- helpers shared with conv_transpose.py -----------------------------------------------


def as_tuple(value, rank, what, layer_name):
    """Keras accepts ``3`` or ``(3, 3, 3)`` for sizes; return a tuple of ``rank`` positive ints."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != rank or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                      for v in values):
        raise ValueError(f"{layer_name}: {what} must be an int or a tuple of {rank} ints, got {value!r}")
    if min(values) <= 0:
        raise ValueError(f"{layer_name}: {what} must be positive, got {value!r}")
    return tuple(int(v) for v in values)


def check_strides_with_dilation(strides, dilation_rate, layer_name):
    """Keras refuses strides > 1 together with dilation > 1; so do we."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{layer_name}: strides > 1 is not supported together with dilation_rate > 1, "
                         f"got strides={strides} and dilation_rate={dilation_rate}")


RANK_HINTS = {3: "(batch, steps, channels)", 4: "(batch, height, width, channels)",
              5: "(batch, depth, height, width, channels)"}


# --- the layers ----------------------------------------------------------------------------


class _ConvND(ActivationMixin, Layer):
    """What Conv1D and Conv3D share; subclasses say how to call the kernels (``_convolve``)."""

    rank = None
    padding_modes = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.filters = check_filters(filters, me)
        self.groups = check_groups(groups, self.filters, me)
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size", me)
        self.strides = as_tuple(strides, self.rank, "strides", me)
        self.dilation_rate = as_tuple(dilation_rate, self.rank, "dilation_rate", me)
        check_strides_with_dilation(self.strides, self.dilation_rate, me)
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in self.padding_modes:
            raise ValueError(f"{me}: padding must be one of {self.padding_modes}, got {padding!r}")
        self.padding = padding
        self.data_format = check_data_format(data_format, me)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    @property
    def expected_ndim(self):
        return self.rank + 2

    def _rank_hint(self):
        return RANK_HINTS[self.rank + 2]

    def _axis_pads(self, size, axis):
        """(before, after) zeros for one spatial axis of the given size."""
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        if self.padding == "same":
            return geometry.same_padding(size, k, s, d)
        if self.padding == "causal":
            return (d * (k - 1), 0)   # only the past: output t never sees input t+1
        return (0, 0)

    def build(self, input_shape):
        add_conv_weights(self, input_shape)

    def compute_output_shape(self, input_shape):
        shape = shape_to_channels_last(input_shape, self.data_format)
        spatial = shape[1:-1]
        out = []
        for axis, size in enumerate(spatial):
            if size is None:
                out.append(None)
                continue
            before, after = self._axis_pads(size, axis)
            n_out = geometry.output_size(size, self.kernel_size[axis], self.strides[axis], before, after,
                                       self.dilation_rate[axis])
            if n_out < 1:
                raise ValueError(
                    f"{self.describe()}: input of spatial size {tuple(spatial)} is too small for kernel "
                    f"{self.kernel_size} with dilation {self.dilation_rate} and padding {self.padding!r} "
                    f"(output size would be {n_out})")
            out.append(n_out)
        return shape_from_channels_last((shape[0],) + tuple(out) + (self.filters,), self.data_format)

    def check_input(self, x):
        super().check_input(x)
        channels = shape_to_channels_last(x.shape, self.data_format)[-1]
        expected = self.kernel.shape[-2] * self.groups
        if channels != expected:
            raise ValueError(f"{self.describe()}: expected input with {expected} channels (from its weights), "
                             f"got shape {x.shape}")
        self.compute_output_shape(x.shape)  # raises if the input is too small

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = tuple(self._axis_pads(size, axis) for axis, size in enumerate(x.shape[1:-1]))
        z = self._convolve(x, self._pad_spec)
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = np.ascontiguousarray(to_channels_last(dz, self.data_format), dtype=self._input.dtype)
        dx, dkernel, dbias = self._convolve_backward(dz, self._input, self._pad_spec)
        self.grads["kernel"] = dkernel
        if self.use_bias:
            self.grads["bias"] = dbias
        return from_channels_last(dx, self.data_format)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": _init_name(self.kernel_initializer),
                "bias_initializer": _init_name(self.bias_initializer)}


class Conv1D(_ConvND):
    """1-D convolution over (batch, steps, channels), computed as a 2-D one of height 1."""

    rank = 1
    padding_modes = ("valid", "same", "causal")

    def _as_2d(self, pads):
        """This layer's geometry as a (1, k) convolution: strides, pads, dilation."""
        return (1,) + self.strides, ((0, 0),) + tuple(pads), (1,) + self.dilation_rate

    def _convolve(self, x, pads):
        strides, pads2d, dilation = self._as_2d(pads)
        # (N, L, C) -> (N, 1, L, C) and kernel (k, Cg, F) -> (1, k, Cg, F): a sequence is a one-row image.
        z = dispatch.conv2d_forward(x[:, np.newaxis], self.kernel[np.newaxis], self.bias, strides, pads2d, dilation,
                               self.groups)
        return z[:, 0]

    def _convolve_backward(self, dz, x, pads):
        strides, pads2d, dilation = self._as_2d(pads)
        dx, dkernel, dbias = dispatch.conv2d_backward(dz[:, np.newaxis], x[:, np.newaxis], self.kernel[np.newaxis],
                                                 strides, pads2d, dilation, self.groups)
        return dx[:, 0], dkernel[0], dbias


class Conv3D(_ConvND):
    """3-D convolution over (batch, depth, height, width, channels)."""

    rank = 3

    def _convolve(self, x, pads):
        return dispatch.conv3d_forward(x, self.kernel, self.bias, self.strides, pads, self.dilation_rate, self.groups)

    def _convolve_backward(self, dz, x, pads):
        return dispatch.conv3d_backward(dz, x, self.kernel, self.strides, pads, self.dilation_rate, self.groups)


Convolution1D = Conv1D
Convolution3D = Conv3D
