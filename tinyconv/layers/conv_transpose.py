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
K = d*(k-1) + 1 the dilated kernel:

    stamped ("full") size   (N - 1)*S + K
    valid                   (N - 1)*S + K + output_padding       output_padding defaults to max(K, S) - K
    same                    N*S                                  when output_padding is None
                            (N - 1)*S + K % 2 + output_padding   otherwise

which is the course's  (N - 1)*S - 2P + F + output_padding  with the padding P cropped from
the full stamp.  Keras (like JAX) states it as the padding of the equivalent direct convolution
over the stride-dilated input, per axis:

    pad_len = S + K - 2                         (same, no output_padding)
              K + K % 2 - 2 + output_padding    (same, with output_padding)
    left    = min(ceil(pad_len / 2), K - 1)     right = pad_len - left
    valid:  left = K - 1,  right = K - 1 + output_padding

and the stamp keeps K-1-left cells fewer on the left and K-1-right fewer on the right.  When
that count is negative the output has cells no stamp reaches: they hold only the bias.
"""
import numpy as np

from .. import activations, dispatch
from .base import (ActivationMixin, Layer, check_data_format, from_channels_last, shape_from_channels_last,
                   shape_to_channels_last, to_channels_last)
from .conv import check_filters
from .conv_nd import RANK_HINTS, as_tuple, check_strides_with_dilation
from .core import _init_name


def keras_transpose_pads(kernel, stride, dilation, padding, output_padding):
    """Keras's (left, right) padding on one axis, seen from the convolution (see the module docstring)."""
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        if output_padding is None:
            output_padding = max(effective, stride) - effective
        return effective - 1, effective - 1 + output_padding
    if output_padding is None:
        pad_len = stride + effective - 2
    else:
        pad_len = effective + effective % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, effective - 1)
    return left, pad_len - left


def transpose_axis_geometry(size, kernel, stride, dilation, padding, output_padding):
    """For one axis: (output size, conv pads (before, after), bias-only cells (before, after)).

    The stamped output has (size-1)*stride + K cells.  Keras crops ``K-1-left`` of them at the
    start and ``K-1-right`` at the end; a negative crop adds cells no input reaches.  Seen from
    the convolution, a crop is padding of its input, an added cell is simply not convolved.
    """
    effective = dilation * (kernel - 1) + 1
    left, right = keras_transpose_pads(kernel, stride, dilation, padding, output_padding)
    crop_before, crop_after = effective - 1 - left, effective - 1 - right
    out = (size - 1) * stride + effective - crop_before - crop_after
    conv_pads = (max(crop_before, 0), max(crop_after, 0))
    unreached = (max(-crop_before, 0), max(-crop_after, 0))
    return out, conv_pads, unreached


class _ConvTransposeND(ActivationMixin, Layer):
    """What the three transposed convolutions share; subclasses call their conv kernels."""

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.filters = check_filters(filters, me)
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size", me)
        self.strides = as_tuple(strides, self.rank, "strides", me)
        self.dilation_rate = as_tuple(dilation_rate, self.rank, "dilation_rate", me)
        check_strides_with_dilation(self.strides, self.dilation_rate, me)
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise ValueError(f"{me}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding
        self.output_padding = None if output_padding is None else self._check_output_padding(output_padding)
        self.data_format = check_data_format(data_format, me)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _check_output_padding(self, output_padding):
        me = self.describe()
        values = (output_padding,) * self.rank if isinstance(output_padding, (int, np.integer)) \
            else tuple(output_padding)
        if len(values) != self.rank or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in values):
            raise ValueError(f"{me}: output_padding must be a non-negative int or a tuple of {self.rank}, "
                             f"got {output_padding!r}")
        if any(op >= s for op, s in zip(values, self.strides)):
            raise ValueError(f"{me}: output_padding must be strictly less than strides in every dimension, "
                             f"got output_padding={values} and strides={self.strides}")
        return tuple(int(v) for v in values)

    @property
    def expected_ndim(self):
        return self.rank + 2

    def _rank_hint(self):
        return RANK_HINTS[self.rank + 2]

    def _geometry(self, spatial):
        """Per axis (output size, conv pads, bias-only cells) for an input of these spatial sizes."""
        output_padding = self.output_padding or (None,) * self.rank
        return [transpose_axis_geometry(size, k, s, d, self.padding, op) for size, k, s, d, op in
                zip(spatial, self.kernel_size, self.strides, self.dilation_rate, output_padding)]

    def build(self, input_shape):
        channels = shape_to_channels_last(input_shape, self.data_format)[-1]
        if channels is None:
            raise ValueError(f"{self.describe()}: the channel axis of the input must be known, got {input_shape}")
        # Keras's layout: (*kernel_size, filters, in_channels), the conv that maps filters -> in_channels.
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels),
                                      self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def compute_output_shape(self, input_shape):
        shape = shape_to_channels_last(input_shape, self.data_format)
        out = []
        for size, geometry in zip(shape[1:-1], self._geometry([s or 1 for s in shape[1:-1]])):
            out.append(None if size is None else geometry[0])
        if min((n for n in out if n is not None), default=1) < 1:
            raise ValueError(f"{self.describe()}: input of spatial size {tuple(shape[1:-1])} gives an empty output "
                             f"{tuple(out)} with kernel {self.kernel_size}, strides {self.strides}, padding "
                             f"{self.padding!r} and output_padding {self.output_padding}")
        return shape_from_channels_last((shape[0],) + tuple(out) + (self.filters,), self.data_format)

    def check_input(self, x):
        super().check_input(x)
        channels = shape_to_channels_last(x.shape, self.data_format)[-1]
        if channels != self.kernel.shape[-1]:
            raise ValueError(f"{self.describe()}: expected input with {self.kernel.shape[-1]} channels "
                             f"(from its weights), got shape {x.shape}")
        self.compute_output_shape(x.shape)  # raises if the output would be empty

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        geometry = self._geometry(x.shape[1:-1])
        self._conv_pads = tuple(g[1] for g in geometry)
        self._unreached = tuple(g[2] for g in geometry)
        reached_shape = (x.shape[0],) + tuple(g[0] - sum(g[2]) for g in geometry) + (self.filters,)
        # The convolution's input-gradient: every input cell stamps the kernel onto the output.
        stamped = self._conv_input_gradient(x, np.zeros(reached_shape, dtype=x.dtype), self._conv_pads)
        z = np.pad(stamped, ((0, 0),) + self._unreached + ((0, 0),))
        if self.use_bias:
            z += self.bias
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = np.ascontiguousarray(to_channels_last(dz, self.data_format), dtype=self._input.dtype)
        reached = (slice(None),) + tuple(slice(before, size - after) for (before, after), size
                                         in zip(self._unreached, dz.shape[1:-1])) + (slice(None),)
        dz_reached = np.ascontiguousarray(dz[reached])
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
    """2-D transposed convolution ("deconvolution"), NHWC, kernel (kh, kw, filters, in_channels)."""

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
    """1-D transposed convolution over (batch, steps, channels): the 2-D one with a unit height axis."""

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
    """3-D transposed convolution, NDHWC, kernel (kd, kh, kw, filters, in_channels)."""

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
