"""Depthwise and depthwise-separable convolution (Keras 3): which channels meet.

A Conv2D output cell sums over a kh x kw window of *every* input channel.  These layers split
that sum in two:

* ``DepthwiseConv2D``: each input channel is filtered on its own (depth_multiplier filters per
  channel), no sum across channels.  That is a grouped convolution with one group per input
  channel, so it runs on the Conv2D kernels with ``groups = in_channels``.
* ``SeparableConv2D``: a depthwise convolution (space) followed by a 1x1 convolution (channels):
  kh*kw*C*M + C*M*F weights instead of kh*kw*C*F.

Spatially separable kernels (a k x k kernel as a column times a row) are covered by functions
in ``tinyconv.kernels.reference.separable``; true convolution vs cross-correlation by
``tinyconv.kernels.reference.flip``.
"""
from .. import activations, devices, dispatch
from .arguments import check_filters, from_channels_last, positive_int, to_channels_last
from .conv import _WindowedConv
from .core import _init_name


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

    Args:
        kernel_size: the window size, an int or a tuple of 2 ints.
        strides: the step of the window, an int or a tuple of 2 ints (default ``(1, 1)``).
        padding: ``"valid"`` (the default) or ``"same"``.
        depth_multiplier: filters per input channel, M (default 1).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the kernel's taps (default ``(1, 1)``).
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        depthwise_initializer: initializer of the kernel (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, height, width, C)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, C * depth_multiplier)``.

    Example:

    >>> layers.DepthwiseConv2D(kernel_size=3, depth_multiplier=2)(np.ones((1, 8, 8, 3))).shape
    (1, 6, 6, 6)
    """

    _CONSTRAINT_ARGUMENTS = {"depthwise_constraint": "kernel", "bias_constraint": "bias"}

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self._setup_window(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", self.describe())
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self._add_array_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer)
        self.bias = (self._add_array_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer)
                     if self.use_bias else None)

    def compute_output_shape(self, input_shape):
        return self._output_shape_with(input_shape, self._channels(input_shape) * self.depth_multiplier)

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.kernel.shape[2])

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1:3])
        z = dispatch.conv2d_forward(x, depthwise_as_grouped_kernel(self.kernel), self.bias, self.strides,
                               self._pad_spec, self.dilation_rate, x.shape[3])
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = devices.array_module_of(dz).ascontiguousarray(to_channels_last(dz, self.data_format),
                                                          dtype=self._input.dtype)
        dx, dgrouped, dbias = dispatch.conv2d_backward(dz, self._input, depthwise_as_grouped_kernel(self.kernel),
                                                       self.strides, self._pad_spec, self.dilation_rate,
                                                       self._input.shape[3], input_gradient=need_input_gradient)
        self.grads["kernel"] = dgrouped.reshape(self.kernel.shape)
        if self.use_bias:
            self.grads["bias"] = dbias
        return None if dx is None else from_channels_last(dx, self.data_format)

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

    Args:
        filters: the number of output channels.
        kernel_size: the depthwise window size, an int or a tuple of 2 ints.
        strides: the depthwise step, an int or a tuple of 2 ints (default ``(1, 1)``).
        padding: ``"valid"`` (the default) or ``"same"``.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        dilation_rate: spacing between the depthwise kernel's taps (default ``(1, 1)``).
        depth_multiplier: depthwise filters per input channel, M (default 1).
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        depthwise_initializer: initializer of ``depthwise_kernel`` (default ``"glorot_uniform"``).
        pointwise_initializer: initializer of ``pointwise_kernel`` (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, height, width, C)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, filters)``.

    Example:

    >>> layers.SeparableConv2D(filters=16, kernel_size=3)(np.ones((1, 8, 8, 3))).shape
    (1, 6, 6, 16)
    """

    _CONSTRAINT_ARGUMENTS = {"depthwise_constraint": "depthwise_kernel", "pointwise_constraint": "pointwise_kernel",
                             "bias_constraint": "bias"}

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.filters = check_filters(filters, me)
        self._setup_window(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", me)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        middle = channels * self.depth_multiplier
        depthwise_shape = self.kernel_size + (channels, self.depth_multiplier)
        self.depthwise_kernel = self._add_array_weight("depthwise_kernel", depthwise_shape, self.depthwise_initializer)
        self.pointwise_kernel = self._add_array_weight("pointwise_kernel", (1, 1, middle, self.filters),
                                                self.pointwise_initializer)
        self.bias = self._add_array_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.depthwise_kernel.shape[2])

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1:3])
        self._depthwise_output = dispatch.conv2d_forward(
            x, depthwise_as_grouped_kernel(self.depthwise_kernel), None, self.strides, self._pad_spec,
            self.dilation_rate, x.shape[3])
        z = dispatch.conv2d_forward(self._depthwise_output, self.pointwise_kernel, self.bias, (1, 1),
                               ((0, 0), (0, 0)), (1, 1), 1)
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = devices.array_module_of(dz).ascontiguousarray(to_channels_last(dz, self.data_format),
                                                          dtype=self._input.dtype)
        d_depthwise_output, dpointwise, dbias = dispatch.conv2d_backward(
            dz, self._depthwise_output, self.pointwise_kernel, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
        dx, dgrouped, _ = dispatch.conv2d_backward(
            d_depthwise_output, self._input, depthwise_as_grouped_kernel(self.depthwise_kernel), self.strides,
            self._pad_spec, self.dilation_rate, self._input.shape[3], input_gradient=need_input_gradient)
        self.grads["depthwise_kernel"] = dgrouped.reshape(self.depthwise_kernel.shape)
        self.grads["pointwise_kernel"] = dpointwise
        if self.use_bias:
            self.grads["bias"] = dbias
        return None if dx is None else from_channels_last(dx, self.data_format)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": _init_name(self.depthwise_initializer),
                "pointwise_initializer": _init_name(self.pointwise_initializer),
                "bias_initializer": _init_name(self.bias_initializer)}


SeparableConvolution2D = SeparableConv2D
