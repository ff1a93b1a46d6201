"""Conv1D, Conv2D, Conv3D: a bank of learned filters slid over 1, 2 or 3 spatial axes.

    Conv1D  z[n, t, f]       = b[f] + sum_{q, c}     x[n, t*s + q*d, c] * W[q, c, f]
    Conv2D  z[n, i, j, f]    = b[f] + sum_{p, q, c}  x[n, i*s_h + p*d_h, j*s_w + q*d_w, c] * W[p, q, c, f]
    Conv3D  z[n, d, i, j, f] = b[f] + sum_{o,p,q,c}  x[n, d*sd + o*dd, i*sh + p*dh, j*sw + q*dw, c] * W[o, p, q, c, f]
    y = act(z)

(cross-correlation, as in every framework).  Each spatial axis follows the course's formula
out = floor((N + P_before + P_after - D*(F-1) - 1) / S) + 1 (``tinyconv/geometry.py``).

The three layers are one class, ``_ConvND``, over ``rank`` spatial axes: it handles the
arguments, the weights and the shapes, in Keras's layouts (kernel (*kernel_size, in/groups,
filters)); each layer only says which kernels run the loops:

* Conv2D calls ``dispatch.conv2d_forward`` / ``conv2d_backward``
  (``tinyconv/kernels/reference/conv.py`` reads like the formula);
* Conv1D (sequences: audio, text, sensor series) needs no kernel of its own: a sequence of
  length L is an image of height 1 and width L, and a (k,) kernel is a (1, k) kernel.
  ``padding="causal"`` pads ``dilation*(k-1)`` zeros on the left only, so output t sees inputs
  t, t-d, t-2d, ... and never the future (WaveNet);
* Conv3D (volumes: video, CT scans) has its own kernels, ``dispatch.conv3d_forward`` / ``conv3d_backward``.

``_WindowedConv`` is what every layer with a sliding kernel shares (these three, and the
depthwise, separable, locally connected and tiled convolutions): window arguments, padding,
output sizes and the channel axis.
"""
import numpy as np

from .. import activations, devices, dispatch, geometry
from .arguments import (as_tuple, check_data_format, check_filters, check_groups, check_padding,
                        check_strides_with_dilation, explicit_padding, from_channels_last, input_layout, shape_from_channels_last,
                        shape_to_channels_last, to_channels_last)
from .base import ActivationMixin, Layer
from .core import _init_name


class _WindowedConv(ActivationMixin, Layer):
    """A kernel slid over ``rank`` spatial axes: its arguments, padding, output sizes and layouts."""

    rank = 2
    padding_modes = ("valid", "same")
    # The lecture's explicit padding P (an int or per-axis amounts) besides Keras's mode names;
    # Keras itself takes only the names.
    takes_explicit_padding = False

    @property
    def expected_ndim(self):
        return self.rank + 2

    def _setup_window(self, kernel_size, strides, padding, data_format, dilation_rate=1):
        me = self.describe()
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size", me)
        self.strides = as_tuple(strides, self.rank, "strides", me)
        self.dilation_rate = as_tuple(dilation_rate, self.rank, "dilation_rate", me)
        if self.takes_explicit_padding and not isinstance(padding, str):
            self.padding = explicit_padding(padding, self.rank, me)
        else:
            self.padding = check_padding(padding, me, self.padding_modes)
        self.data_format = check_data_format(data_format, me)

    def _rank_hint(self):
        return input_layout(self.rank, self.data_format)

    def _nhwc_shape(self, shape):
        """The shape as the kernels see it: channels last."""
        return shape_to_channels_last(shape, self.data_format)

    def _channels(self, input_shape):
        channels = self._nhwc_shape(input_shape)[-1]
        if channels is None:
            raise ValueError(f"{self.describe()}: the channel axis of the input must be known, got {input_shape}")
        return channels

    def _axis_pads(self, size, axis):
        """(before, after) zeros on one spatial axis of the given size."""
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        if isinstance(self.padding, tuple):
            return self.padding[axis]   # explicit amounts
        if self.padding == "same":
            return geometry.same_padding(size, k, s, d)
        if self.padding == "causal":
            return (d * (k - 1), 0)   # only the past: output t never sees input t+1
        return (0, 0)

    def _pads(self, spatial):
        """(before, after) per spatial axis of an input of these spatial sizes."""
        return tuple(self._axis_pads(size, axis) for axis, size in enumerate(spatial))

    def _output_spatial(self, spatial):
        """Output sizes (None where the input's is unknown); raises if the input is too small."""
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
        return tuple(out)

    def compute_output_shape(self, input_shape):
        """The input's shape with every spatial size slid over, and ``filters`` channels."""
        return self._output_shape_with(input_shape, self.filters)

    def _output_shape_with(self, input_shape, channels_out):
        shape = self._nhwc_shape(input_shape)
        return shape_from_channels_last((shape[0],) + self._output_spatial(shape[1:-1]) + (channels_out,),
                                        self.data_format)

    def _check_channels(self, x, expected):
        shape = self._nhwc_shape(x.shape)
        if shape[-1] != expected:
            raise ValueError(f"{self.describe()}: expected input with {expected} channels (from its weights), "
                             f"got shape {x.shape}")
        self._output_spatial(shape[1:-1])  # raises if the input is too small

    def _window_config(self):
        return {"kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias}


class _ConvND(_WindowedConv):
    """What Conv1D, Conv2D and Conv3D share; each says how to call its kernels (``_convolve``,
    ``_convolve_backward``)."""

    rank = None
    takes_explicit_padding = True

    _CONSTRAINT_ARGUMENTS = {"kernel_constraint": "kernel", "bias_constraint": "bias"}

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.filters = check_filters(filters, me)
        self.groups = check_groups(groups, self.filters, me)
        self._setup_window(kernel_size, strides, padding, data_format, dilation_rate)
        check_strides_with_dilation(self.strides, self.dilation_rate, me)   # Keras's base convolution refuses it
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        """Weights in Keras's layout: kernel (*kernel_size, in_channels / groups, filters), bias (filters,)."""
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{self.describe()}: input channels ({channels}) must be divisible by groups "
                             f"({self.groups})")
        self.kernel = self._add_array_weight("kernel", self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer)
        self.bias = self._add_array_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.kernel.shape[-2] * self.groups)

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1:-1])
        # Training: the kernel set may keep work for backward (the compiled conv2d keeps the im2col
        # columns of a few-channel layer), reusing the buffers of this layer's previous step.
        # A shared layer's calls each get their own cache (the functional model snapshots it).
        self._kernel_cache = dispatch.KernelCache(recycled=self.__dict__.pop("_spent_cache", None)) \
            if training else None
        z = self._convolve(x, self._pad_spec, self._kernel_cache)
        return self._activate(from_channels_last(z, self.data_format), owned=True)

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = devices.array_module_of(dz).ascontiguousarray(to_channels_last(dz, self.data_format),
                                                         dtype=self._input.dtype)
        cache = getattr(self, "_kernel_cache", None)
        dx, dkernel, dbias = self._convolve_backward(dz, self._input, self._pad_spec, need_input_gradient, cache)
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


class Conv2D(_ConvND):
    """2-D convolution over (batch, height, width, channels); kernel (kh, kw, in/groups, filters).

    Along each spatial axis out = floor((in + P_before + P_after - dilation*(k - 1) - 1) / strides) + 1.

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int or a tuple of 2 ints.
        strides: the step of the window, an int or a tuple of 2 ints (default 1).
        padding: ``"valid"`` (no padding, the default) or ``"same"`` (out = ceil(in / strides)).
            tinyconv also takes the lecture's explicit padding P, which Keras lacks: an int (the
            same zeros on both sides of every axis) or one entry per spatial axis, each an int or
            a ``(before, after)`` pair.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the kernel's taps, an int or a tuple of 2 ints (default 1).
        groups: split the input channels into this many groups, each with its own filters
            (``filters`` and the input channels must both be divisible by it).
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        kernel_initializer: initializer of the kernel (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, filters)``, each as above.

    Example:

    >>> layers.Conv2D(filters=16, kernel_size=3)(np.ones((2, 28, 28, 3))).shape
    (2, 26, 26, 16)
    >>> layers.Conv2D(16, 3, strides=2, padding=1)(np.ones((2, 28, 28, 3))).shape  # explicit P = 1
    (2, 14, 14, 16)
    >>> layers.Conv2D(16, 3, padding=((1, 0), (2, 2)))(np.ones((2, 28, 28, 3))).shape
    (2, 27, 30, 16)
    """

    rank = 2

    def _convolve(self, x, pads, cache):
        return dispatch.conv2d_forward(x, self.kernel, self.bias, self.strides, pads, self.dilation_rate,
                                       self.groups, cache=cache)

    def _convolve_backward(self, dz, x, pads, need_input_gradient, cache):
        return dispatch.conv2d_backward(dz, x, self.kernel, self.strides, pads, self.dilation_rate, self.groups,
                                        input_gradient=need_input_gradient, cache=cache,
                                        bias_gradient=self.use_bias)


class Conv1D(_ConvND):
    """1-D convolution over (batch, steps, channels), computed as a 2-D one of height 1.

    Along each spatial axis out = floor((in + P_before + P_after - dilation*(k - 1) - 1) / strides) + 1.

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int or a tuple of 1 int.
        strides: the step of the window, an int or a tuple of 1 int (default 1).
        padding: ``"valid"`` (no padding, the default), ``"same"`` (out = ceil(in / strides)), or
            ``"causal"`` (zeros on the left only, so step t never sees the future).
            tinyconv also takes the lecture's explicit padding P, which Keras lacks: an int (the
            same zeros on both sides of every axis) or one entry per spatial axis, each an int or
            a ``(before, after)`` pair.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the kernel's taps, an int or a tuple of 1 int (default 1).
        groups: split the input channels into this many groups, each with its own filters
            (``filters`` and the input channels must both be divisible by it).
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        kernel_initializer: initializer of the kernel (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, steps, channels)`` (channels_last).

    Output shape:
        ``(batch, out_steps, filters)``, out_steps as above.

    Example:

    >>> layers.Conv1D(filters=8, kernel_size=3)(np.ones((2, 10, 4))).shape
    (2, 8, 8)
    >>> layers.Conv1D(8, 3, padding="causal", dilation_rate=2)(np.ones((2, 10, 4))).shape
    (2, 10, 8)
    """

    rank = 1
    padding_modes = ("valid", "same", "causal")

    def _as_2d(self, pads):
        """This layer's geometry as a (1, k) convolution: strides, pads, dilation."""
        return (1,) + self.strides, ((0, 0),) + tuple(pads), (1,) + self.dilation_rate

    def _convolve(self, x, pads, cache):
        strides, pads2d, dilation = self._as_2d(pads)
        # (N, L, C) -> (N, 1, L, C) and kernel (k, Cg, F) -> (1, k, Cg, F): a sequence is a one-row image.
        z = dispatch.conv2d_forward(x[:, np.newaxis], self.kernel[np.newaxis], self.bias, strides, pads2d,
                                    dilation, self.groups, cache=cache)
        return z[:, 0]

    def _convolve_backward(self, dz, x, pads, need_input_gradient, cache):
        strides, pads2d, dilation = self._as_2d(pads)
        dx, dkernel, dbias = dispatch.conv2d_backward(dz[:, np.newaxis], x[:, np.newaxis], self.kernel[np.newaxis],
                                                      strides, pads2d, dilation, self.groups,
                                                      input_gradient=need_input_gradient, cache=cache)
        return None if dx is None else dx[:, 0], dkernel[0], dbias


class Conv3D(_ConvND):
    """3-D convolution over (batch, depth, height, width, channels); kernel (kd, kh, kw, in/groups, filters).

    Along each spatial axis out = floor((in + P_before + P_after - dilation*(k - 1) - 1) / strides) + 1.

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int or a tuple of 3 ints.
        strides: the step of the window, an int or a tuple of 3 ints (default 1).
        padding: ``"valid"`` (no padding, the default) or ``"same"`` (out = ceil(in / strides)).
            tinyconv also takes the lecture's explicit padding P, which Keras lacks: an int (the
            same zeros on both sides of every axis) or one entry per spatial axis, each an int or
            a ``(before, after)`` pair.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the kernel's taps, an int or a tuple of 3 ints (default 1).
        groups: split the input channels into this many groups, each with its own filters
            (``filters`` and the input channels must both be divisible by it).
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        kernel_initializer: initializer of the kernel (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_depth, out_height, out_width, filters)``, each as above.

    Example:

    >>> layers.Conv3D(filters=4, kernel_size=3)(np.ones((1, 8, 10, 12, 2))).shape
    (1, 6, 8, 10, 4)
    >>> layers.Conv3D(4, 3, padding=1)(np.ones((1, 8, 10, 12, 2))).shape
    (1, 8, 10, 12, 4)
    """

    rank = 3

    def _convolve(self, x, pads, cache):
        return dispatch.conv3d_forward(x, self.kernel, self.bias, self.strides, pads, self.dilation_rate,
                                       self.groups)

    def _convolve_backward(self, dz, x, pads, need_input_gradient, cache):
        return dispatch.conv3d_backward(dz, x, self.kernel, self.strides, pads, self.dilation_rate, self.groups,
                                        input_gradient=need_input_gradient)


Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
