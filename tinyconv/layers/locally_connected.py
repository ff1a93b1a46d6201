"""Convolutions without full weight sharing: LocallyConnected1D/2D and TiledConv2D.

A Conv2D output cell uses *one* kernel shared by every position.  These layers keep the
sliding window of a convolution but share less:

* ``LocallyConnected1D/2D`` (Keras 2's layers): a different kernel at every output position,
  no weight sharing at all ("unshared convolution").
* ``TiledConv2D`` (Goodfellow et al., ch. 9): a cycle of th x tw kernels; positions th apart
  (tw apart across) share weights.  Tile (1, 1) is a Conv2D, tile = output size is a locally
  connected layer.

Their window arguments, output sizes and layouts are the convolutions' (``_WindowedConv`` in
``conv.py``); the output size of a locally connected layer is ``geometry.locally_connected_output_hw``.
"""
from .. import activations, dispatch
from ..geometry import locally_connected_output_hw
from .arguments import (as_tuple, check_filters, contiguous, from_channels_last, input_layout,
                        shape_from_channels_last, to_channels_last)
from .conv import _WindowedConv
from .core import _init_name


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
    padding_modes = ("valid",)   # as Keras 2's layers

    _CONSTRAINT_ARGUMENTS = {"kernel_constraint": "kernel", "bias_constraint": "bias"}

    def __init__(self, filters, kernel_size, strides, padding, data_format, activation, use_bias,
                 kernel_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_filters(filters, self.describe())
        self._setup_window(self._as_2d(kernel_size, "kernel_size"), self._as_2d(strides, "strides"), padding,
                           data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    # --- layout conversions between this layer's shapes and the 2-D NHWC kernels' ------------
    def _as_2d(self, value, what):
        return as_tuple(value, 2, what, self.describe())

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
        return contiguous(bias.transpose(1, 2, 0)) if self.data_format == "channels_first" else bias

    def _dbias_from_nhwc(self, dbias):
        return contiguous(dbias.transpose(2, 0, 1)) if self.data_format == "channels_first" else dbias

    def _kernel_to_nhwc(self, kernel):
        """channels_first patches are flattened (c, p, q); the kernels want (p, q, c)."""
        if self.data_format != "channels_first":
            return kernel
        (kh, kw), (positions, _, filters) = self.kernel_size, kernel.shape
        by_axis = kernel.reshape(positions, -1, kh, kw, filters)
        return contiguous(by_axis.transpose(0, 2, 3, 1, 4)).reshape(positions, -1, filters)

    def _dkernel_from_nhwc(self, dkernel):
        if self.data_format != "channels_first":
            return dkernel
        (kh, kw), (positions, _, filters) = self.kernel_size, dkernel.shape
        by_axis = dkernel.reshape(positions, kh, kw, -1, filters)
        return contiguous(by_axis.transpose(0, 3, 1, 2, 4)).reshape(positions, -1, filters)

    # --- the Layer contract ---------------------------------------------------------------
    def build(self, input_shape):
        channels = self._channels(input_shape)
        out_hw = self._out_hw(input_shape)
        patch = self.kernel_size[0] * self.kernel_size[1] * channels
        self.kernel = self._add_array_weight("kernel", (out_hw[0] * out_hw[1], patch, self.filters),
                                      self.kernel_initializer)
        self.bias = self._add_array_weight("bias", self._bias_shape(out_hw), self.bias_initializer) if self.use_bias else None

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
        dz = contiguous(self._dz_to_nhwc(dz), dtype=self._input.dtype)
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

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int or a tuple of 2 ints.
        strides: the step of the window (default ``(1, 1)``).
        padding: only ``"valid"`` (as in Keras 2, which had these layers).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        kernel_initializer: initializer of the kernel (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, filters)``, out = floor((in - k) / strides) + 1.

    Example:

    >>> layers.LocallyConnected2D(filters=4, kernel_size=3)(np.ones((2, 6, 6, 3))).shape
    (2, 4, 4, 4)
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

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int.
        strides: the step of the window, an int (default 1).
        padding: only ``"valid"`` (as in Keras 2, which had these layers).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        kernel_initializer: initializer of the kernel (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, steps, channels)`` (channels_last).

    Output shape:
        ``(batch, output_length, filters)``, output_length = floor((steps - kernel_size) / strides) + 1.

    Example:

    >>> layers.LocallyConnected1D(filters=4, kernel_size=3)(np.ones((2, 10, 3))).shape
    (2, 8, 4)
    """

    expected_ndim = 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, activation, use_bias,
                         kernel_initializer, bias_initializer, **kwargs)

    def _rank_hint(self):
        return input_layout(1, self.data_format)

    def _as_2d(self, value, what):
        """A 1-D size as the 2-D kernels see it: (1, size)."""
        return (1,) + as_tuple(value, 1, what, self.describe())

    def _nhwc_shape(self, shape):
        batch, steps, channels = shape if self.data_format == "channels_last" else (shape[0], shape[2], shape[1])
        return (batch, 1, steps, channels)

    def _x_to_nhwc(self, x):
        x = x if self.data_format == "channels_last" else x.transpose(0, 2, 1)
        return contiguous(x[:, None, :, :])

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

    Not in Keras; tinyconv adds it to show the range between weight sharing and none.

    Args:
        filters: the number of output channels.
        kernel_size: the window size, an int or a tuple of 2 ints.
        tile_size: ``(th, tw)``, the number of distinct kernels along each axis (default ``(2, 2)``).
        strides: the step of the window (default ``(1, 1)``).
        padding: ``"valid"`` (the default) or ``"same"`` (out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        kernel_initializer: initializer of the kernel (default ``"glorot_uniform"``).
        bias_initializer: initializer of the bias (default ``"zeros"``).

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, filters)``, out = floor((in - k) / strides) + 1 with
        ``"valid"`` padding.

    Example:

    >>> layers.TiledConv2D(filters=4, kernel_size=3, tile_size=(2, 2))(np.ones((1, 6, 6, 3))).shape
    (1, 4, 4, 4)
    """

    _CONSTRAINT_ARGUMENTS = {"kernel_constraint": "kernel", "bias_constraint": "bias"}

    def __init__(self, filters, kernel_size, tile_size=(2, 2), strides=(1, 1), padding="valid", data_format=None,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = check_filters(filters, self.describe())
        self.tile_size = as_tuple(tile_size, 2, "tile_size", self.describe())
        self._setup_window(kernel_size, strides, padding, data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self._add_array_weight("kernel", self.tile_size + self.kernel_size + (channels, self.filters),
                                      self.kernel_initializer)
        self.bias = self._add_array_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def check_input(self, x):
        super().check_input(x)
        self._check_channels(x, self.kernel.shape[4])

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input = x
        self._pad_spec = self._pads(x.shape[1:3])
        z = dispatch.tiled_conv2d_forward(x, self.kernel, self.bias, self.strides, self._pad_spec)
        return self._activate(from_channels_last(z, self.data_format))

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        dz = contiguous(to_channels_last(dz, self.data_format), dtype=self._input.dtype)
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
