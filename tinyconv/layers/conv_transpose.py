"""Transposed convolutions: Conv1DTranspose, Conv2DTranspose, Conv3DTranspose.

The transposed convolution is the backward pass of a convolution.  A convolution maps a
big image y to a small one x; its input-gradient maps a small x back to the big y:

    y[n, i*s + p*d, j*s + q*d, f] += sum_c x[n, i, j, c] * W[p, q, f, c]     (for every i, j, p, q)

Each input pixel *stamps* a copy of the kernel, scaled by its value, onto the output, s
cells further along for each step, and overlapping stamps add.  That is exactly what
``dispatch.conv2d_backward`` computes for dx when the convolution's kernel is W, so:

    forward  = conv2d_backward(dy=x, ...)'s dx      (the convolution run backwards)
    backward = dL/dx is conv2d_forward(dL/dy, W): the convolution run forwards;
               dL/dW is conv2d_backward(dy=x, x=dL/dy, W)'s dkernel.

Keras's kernel layout (kh, kw, filters, in_channels) is already the layout of the convolution
that maps ``filters`` channels to ``in_channels``, so W goes to the conv kernels unchanged.
Each call asks ``conv2d_backward`` for the one gradient it uses (``kernel_gradient=False`` in
forward, ``input_gradient=False`` for dL/dW), so reusing the conv kernels costs no extra work.

Output size per axis (Keras's arithmetic, as TensorFlow and JAX compute it), with
K = d*(k-1) + 1 the dilated kernel: (N - 1)*S + K for 'valid' (plus output_padding), N*S for
'same'; ``tinyconv/geometry.py`` (``keras_transpose_pads``, ``transpose_axis_geometry``) has the
whole rule and how the layer turns it into the padding of the convolution it runs backwards.
"""
import numpy as np

from .. import activations, devices, dispatch
from ..geometry import transpose_axis_geometry
from .arguments import (check_filters, check_strides_with_dilation, from_channels_last, is_int, to_channels_last,
                        zero_pad)
from .conv import _WindowedConv
from .core import _init_name


class _ConvTransposeND(_WindowedConv):
    """What the three transposed convolutions share; subclasses call their conv kernels."""

    rank = None

    _CONSTRAINT_ARGUMENTS = {"kernel_constraint": "kernel", "bias_constraint": "bias"}

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = check_filters(filters, self.describe())
        self._setup_window(kernel_size, strides, padding, data_format, dilation_rate)
        check_strides_with_dilation(self.strides, self.dilation_rate, self.describe())   # as Keras
        self.output_padding = None if output_padding is None else self._check_output_padding(output_padding)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _check_output_padding(self, output_padding):
        me = self.describe()
        values = (output_padding,) * self.rank if is_int(output_padding) else tuple(output_padding)
        if len(values) != self.rank or not all(is_int(v) and v >= 0 for v in values):
            raise ValueError(f"{me}: output_padding must be a non-negative int or a tuple of {self.rank}, "
                             f"got {output_padding!r}")
        if any(op >= s for op, s in zip(values, self.strides)):
            raise ValueError(f"{me}: output_padding must be strictly less than strides in every dimension, "
                             f"got output_padding={values} and strides={self.strides}")
        return tuple(int(v) for v in values)

    def _geometry(self, spatial):
        """Per axis (output size, conv pads, bias-only cells) for an input of these spatial sizes."""
        output_padding = self.output_padding or (None,) * self.rank
        return [transpose_axis_geometry(size, k, s, d, self.padding, op) for size, k, s, d, op in
                zip(spatial, self.kernel_size, self.strides, self.dilation_rate, output_padding)]

    def build(self, input_shape):
        channels = self._channels(input_shape)
        # Keras's layout: (*kernel_size, filters, in_channels), the conv that maps filters -> in_channels.
        self.kernel = self._add_array_weight("kernel", self.kernel_size + (self.filters, channels),
                                      self.kernel_initializer)
        self.bias = self._add_array_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def _output_spatial(self, spatial):
        """Output sizes (None where the input's is unknown); raises if the output would be empty."""
        out = tuple(None if size is None else geometry[0]
                    for size, geometry in zip(spatial, self._geometry([s or 1 for s in spatial])))
        if min((n for n in out if n is not None), default=1) < 1:
            raise ValueError(f"{self.describe()}: input of spatial size {tuple(spatial)} gives an empty output "
                             f"{out} with kernel {self.kernel_size}, strides {self.strides}, padding "
                             f"{self.padding!r} and output_padding {self.output_padding}")
        return out

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.kernel.shape[-1])  # raises too if the output would be empty

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        geometry = self._geometry(x.shape[1:-1])
        self._conv_pads = tuple(g[1] for g in geometry)
        self._unreached = tuple(g[2] for g in geometry)
        reached_shape = (x.shape[0],) + tuple(g[0] - sum(g[2]) for g in geometry) + (self.filters,)
        # The convolution's input-gradient: every input cell stamps the kernel onto the output.
        xp = devices.array_module_of(x)
        stamped = self._conv_input_gradient(x, xp.zeros(reached_shape, dtype=x.dtype), self._conv_pads)
        z = zero_pad(stamped, ((0, 0),) + self._unreached + ((0, 0),))
        if self.use_bias:
            z += self.bias
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        xp = devices.array_module_of(dz)
        dz = xp.ascontiguousarray(to_channels_last(dz, self.data_format), dtype=self._input.dtype)
        reached = (slice(None),) + tuple(slice(before, size - after) for (before, after), size
                                         in zip(self._unreached, dz.shape[1:-1])) + (slice(None),)
        dz_reached = xp.ascontiguousarray(dz[reached])
        # Backward of "the convolution run backwards" is the convolution run forwards ...
        dx = self._conv_forward(dz_reached, self._conv_pads)
        # ... and the kernel gradient is the convolution's, with the roles of x and dy swapped.
        self.grads["kernel"] = self._conv_kernel_gradient(self._input, dz_reached, self._conv_pads)
        if self.use_bias:
            self.grads["bias"] = dz.sum(axis=tuple(range(dz.ndim - 1)))
        return from_channels_last(dx, self.data_format)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "output_padding": self.output_padding,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": _init_name(self.kernel_initializer),
                "bias_initializer": _init_name(self.bias_initializer)}


class Conv2DTranspose(_ConvTransposeND):
    """2-D transposed convolution ("deconvolution"), NHWC, kernel (kh, kw, filters, in_channels).

    The gradient of a convolution with respect to its input, used to up-sample: along each spatial
    axis out = (in - 1) * strides + dilation*(k - 1) + 1 + output_padding with ``"valid"`` padding,
    and out = in * strides with ``"same"``.

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int or a tuple of 2 ints.
        strides: the up-sampling step, an int or a tuple of 2 ints (default 1).
        padding: ``"valid"`` (the default) or ``"same"``.
        output_padding: extra cells added at the end of each spatial axis (each smaller than its
            stride), or ``None`` to infer the size as above.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the kernel's taps, an int or a tuple of 2 ints (default 1).
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

    >>> layers.Conv2DTranspose(filters=8, kernel_size=3, strides=2)(np.ones((2, 7, 7, 3))).shape
    (2, 15, 15, 8)
    >>> layers.Conv2DTranspose(8, 3, strides=2, padding="same")(np.ones((2, 7, 7, 3))).shape
    (2, 14, 14, 8)
    """

    rank = 2

    def _conv_input_gradient(self, x, reached, pads):
        return dispatch.conv2d_backward(x, reached, self.kernel, self.strides, pads, self.dilation_rate, 1,
                                   kernel_gradient=False)[0]

    def _conv_forward(self, dz, pads):
        return dispatch.conv2d_forward(dz, self.kernel, None, self.strides, pads, self.dilation_rate, 1)

    def _conv_kernel_gradient(self, x, dz, pads):
        return dispatch.conv2d_backward(x, dz, self.kernel, self.strides, pads, self.dilation_rate, 1,
                                   input_gradient=False)[1]


class Conv1DTranspose(_ConvTransposeND):
    """1-D transposed convolution over (batch, steps, channels): the 2-D one with a unit height axis.

    The gradient of a convolution with respect to its input, used to up-sample: along each spatial
    axis out = (in - 1) * strides + dilation*(k - 1) + 1 + output_padding with ``"valid"`` padding,
    and out = in * strides with ``"same"``.

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int.
        strides: the up-sampling step, an int (default 1).
        padding: ``"valid"`` (the default) or ``"same"``.
        output_padding: extra cells added at the end of each spatial axis (each smaller than its
            stride), or ``None`` to infer the size as above.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the kernel's taps, an int (default 1).
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

    >>> layers.Conv1DTranspose(filters=4, kernel_size=3, strides=2)(np.ones((2, 5, 3))).shape
    (2, 11, 4)
    """

    rank = 1

    def _as_2d(self, pads):
        return (1,) + self.strides, ((0, 0),) + tuple(pads), (1,) + self.dilation_rate

    def _conv_input_gradient(self, x, reached, pads):
        strides, pads2d, dilation = self._as_2d(pads)
        return dispatch.conv2d_backward(x[:, np.newaxis], reached[:, np.newaxis], self.kernel[np.newaxis], strides,
                                   pads2d, dilation, 1, kernel_gradient=False)[0][:, 0]

    def _conv_forward(self, dz, pads):
        strides, pads2d, dilation = self._as_2d(pads)
        return dispatch.conv2d_forward(dz[:, np.newaxis], self.kernel[np.newaxis], None, strides, pads2d, dilation,
                                  1)[:, 0]

    def _conv_kernel_gradient(self, x, dz, pads):
        strides, pads2d, dilation = self._as_2d(pads)
        return dispatch.conv2d_backward(x[:, np.newaxis], dz[:, np.newaxis], self.kernel[np.newaxis], strides, pads2d,
                                   dilation, 1, input_gradient=False)[1][0]


class Conv3DTranspose(_ConvTransposeND):
    """3-D transposed convolution, NDHWC, kernel (kd, kh, kw, filters, in_channels).

    The gradient of a convolution with respect to its input, used to up-sample: along each spatial
    axis out = (in - 1) * strides + dilation*(k - 1) + 1 + output_padding with ``"valid"`` padding,
    and out = in * strides with ``"same"``.

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int or a tuple of 3 ints.
        strides: the up-sampling step, an int or a tuple of 3 ints (default 1).
        padding: ``"valid"`` (the default) or ``"same"``.
        output_padding: extra cells added at the end of each spatial axis (each smaller than its
            stride), or ``None`` to infer the size as above.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the kernel's taps, an int or a tuple of 3 ints (default 1).
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

    >>> layers.Conv3DTranspose(filters=2, kernel_size=2, strides=2)(np.ones((1, 3, 4, 5, 3))).shape
    (1, 6, 8, 10, 2)
    """

    rank = 3

    def _conv_input_gradient(self, x, reached, pads):
        return dispatch.conv3d_backward(x, reached, self.kernel, self.strides, pads, self.dilation_rate, 1,
                                   kernel_gradient=False)[0]

    def _conv_forward(self, dz, pads):
        return dispatch.conv3d_forward(dz, self.kernel, None, self.strides, pads, self.dilation_rate, 1)

    def _conv_kernel_gradient(self, x, dz, pads):
        return dispatch.conv3d_backward(x, dz, self.kernel, self.strides, pads, self.dilation_rate, 1,
                                   input_gradient=False)[1]


Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
