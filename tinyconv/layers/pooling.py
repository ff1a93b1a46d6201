"""Max and average pooling over 1, 2 or 3 spatial axes, and global pooling (Keras 3's classes and aliases).

A pool slides a window (pool_size, moved by strides; strides default to the pool size) over
each channel and keeps the max or the mean.  No weights.  Backward:

* max: route each upstream gradient to the input cell that won the max;
* average: share each upstream gradient equally among the cells of its window
  (padded cells excluded, as Keras does for ``padding="same"``).

Which kernels run the loops:

* 2-D: ``dispatch.max_pool2d_forward``, ``avg_pool2d_forward``, ... (``kernels/reference/pooling.py``);
* 1-D: the 2-D kernels on a sequence seen as an image one row high: (N, steps, C) -> (N, 1, steps, C),
  pool (1, p), strides (1, s);
* 3-D: the 3-D kernels (``dispatch.max_pool3d_forward``, ...), the same rules one axis further
  (argmax = d*H*W + h*W + w).
* Global pooling reduces every spatial axis at once, so it is a single NumPy reduction:

      GlobalMaxPooling:     y[n, c] = max over all positions of x[n, ..., c]
                            backward: dy goes to the position of the max (the first on ties)
      GlobalAveragePooling: y[n, c] = mean over the S positions of x[n, ..., c]
                            backward: dy / S spread evenly over every position

``data_format="channels_first"`` puts the channel axis right after the batch axis; the layers
move it to the end at their edges (the kernels work channels-last).
"""
import numpy as np

from .. import devices, dispatch, geometry
from .arguments import (as_tuple, check_data_format, check_padding, contiguous, from_channels_last, input_layout,
                        shape_from_channels_last, shape_to_channels_last, to_channels_last)
from .base import Layer


# --------------------------------------------------------------------------------------------
# Windowed pooling over N spatial axes
# --------------------------------------------------------------------------------------------
class _Pooling(Layer):
    """What every windowed pooling shares: arguments, padding, output sizes."""

    rank = None  # number of spatial axes

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.pool_size = as_tuple(pool_size, self.rank, "pool_size", me)
        self.strides = as_tuple(strides, self.rank, "strides", me) if strides is not None else self.pool_size
        self.padding = check_padding(padding, me)
        self.data_format = check_data_format(data_format, me)
        self.expected_ndim = self.rank + 2

    def _rank_hint(self):
        return input_layout(self.rank, self.data_format)

    def _pads(self, spatial):
        """(before, after) per spatial axis: none for 'valid', Keras's split for 'same'."""
        if self.padding == "valid":
            return tuple((0, 0) for _ in spatial)
        return tuple(geometry.same_padding(n, k, s) for n, k, s in zip(spatial, self.pool_size, self.strides))

    def compute_output_shape(self, input_shape):
        shape = shape_to_channels_last(input_shape, self.data_format)
        spatial = shape[1:-1]
        out = []
        for size, pool, stride in zip(spatial, self.pool_size, self.strides):
            if size is None:
                out.append(None)
                continue
            before, after = geometry.same_padding(size, pool, stride) if self.padding == "same" else (0, 0)
            n = geometry.output_size(size, pool, stride, before, after)
            if n < 1:
                raise ValueError(f"{self.describe()}: input of spatial size {tuple(spatial)} is smaller than "
                                 f"pool_size {self.pool_size} with padding 'valid'")
            out.append(n)
        return shape_from_channels_last((shape[0], *out, shape[-1]), self.data_format)

    def check_input(self, x):
        super().check_input(x)
        self.compute_output_shape(x.shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class _Pooling1D(_Pooling):
    """A sequence is an image one row high: the 2-D kernels do the work."""

    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def _as_image(self, x):
        x = to_channels_last(x, self.data_format)      # (N, steps, C)
        self._input_shape = (x.shape[0], 1) + x.shape[1:]
        pads = ((0, 0),) + self._pads(x.shape[1:2])
        return x[:, None, :, :], (1,) + self.pool_size, (1,) + self.strides, pads

    def _from_image(self, y):
        return from_channels_last(y[:, 0], self.data_format)


class MaxPooling1D(_Pooling1D):
    """Max pooling over 1-D windows: y[n, t, c] = max over the window of x[n, t*s + i, c].

    Each window of ``pool_size`` cells, moved by ``strides``, gives one output cell per channel;
    along each spatial axis out = floor((in - pool_size) / strides) + 1 with ``"valid"`` padding.

    Args:
        pool_size: window size, an int (default 2).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, steps, channels)`` (channels_last).

    Output shape:
        The same rank, each spatial axis reduced as above; the channels unchanged.

    Example:

    >>> x = np.array([[[1.], [5.], [2.], [3.]]])
    >>> layers.MaxPooling1D(pool_size=2)(x)[0, :, 0].tolist()
    [5.0, 3.0]
    """

    def forward(self, x, training=False):
        image, pool, strides, pads = self._as_image(x)
        y, self._argmax = dispatch.max_pool2d_forward(image, pool, strides, pads)
        return self._from_image(y)

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)[:, None]
        return self._from_image(dispatch.max_pool2d_backward(contiguous(dy), self._argmax,
                                                             self._input_shape))


class AveragePooling1D(_Pooling1D):
    """Average pooling over 1-D windows: y[n, t, c] = mean over the window of x[n, t*s + i, c].

    Each window of ``pool_size`` cells, moved by ``strides``, gives one output cell per channel;
    along each spatial axis out = floor((in - pool_size) / strides) + 1 with ``"valid"`` padding.

    Args:
        pool_size: window size, an int.
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, steps, channels)`` (channels_last).

    Output shape:
        The same rank, each spatial axis reduced as above; the channels unchanged.

    Example:

    >>> x = np.array([[[1.], [5.], [2.], [4.]]])
    >>> layers.AveragePooling1D(pool_size=2)(x)[0, :, 0].tolist()
    [3.0, 3.0]
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)  # no default, as in Keras

    def forward(self, x, training=False):
        image, pool, strides, pads = self._as_image(x)
        self._geometry = pool, strides, pads
        return self._from_image(dispatch.avg_pool2d_forward(image, pool, strides, pads))

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)[:, None]
        dx = dispatch.avg_pool2d_backward(contiguous(dy), self._input_shape, *self._geometry)
        return self._from_image(dx)


class _Pooling2D(_Pooling):
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling2D):
    """Max pooling over 2-D windows: y[n, i, j, c] = max over the window of x[n, i*sh + a, j*sw + b, c].

    Each window of ``pool_size`` cells, moved by ``strides``, gives one output cell per channel;
    along each spatial axis out = floor((in - pool_size) / strides) + 1 with ``"valid"`` padding.

    Args:
        pool_size: window size, an int or a tuple of 2 ints (default ``(2, 2)``).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        The same rank, each spatial axis reduced as above; the channels unchanged.

    Example:

    >>> x = np.arange(16.).reshape(1, 4, 4, 1)
    >>> layers.MaxPooling2D(pool_size=(2, 2))(x)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y, self._argmax = dispatch.max_pool2d_forward(x, self.pool_size, self.strides, self._pads(x.shape[1:3]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)
        dx = dispatch.max_pool2d_backward(dy, self._argmax, self._input_shape)
        return from_channels_last(dx, self.data_format)


class AveragePooling2D(_Pooling2D):
    """Average pooling over 2-D windows: y[n, i, j, c] = mean over the window of x[n, i*sh + a, j*sw + b, c].

    Each window of ``pool_size`` cells, moved by ``strides``, gives one output cell per channel;
    along each spatial axis out = floor((in - pool_size) / strides) + 1 with ``"valid"`` padding.

    Args:
        pool_size: window size, an int or a tuple of 2 ints (default ``(2, 2)``).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        The same rank, each spatial axis reduced as above; the channels unchanged.

    Example:

    >>> x = np.arange(16.).reshape(1, 4, 4, 1)
    >>> layers.AveragePooling2D(pool_size=(2, 2))(x)[0, :, :, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y = dispatch.avg_pool2d_forward(x, self.pool_size, self.strides, self._pads(x.shape[1:3]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)
        dx = dispatch.avg_pool2d_backward(dy, self._input_shape, self.pool_size, self.strides,
                                          self._pads(self._input_shape[1:3]))
        return from_channels_last(dx, self.data_format)


class _Pooling3D(_Pooling):
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling3D):
    """Max pooling over 3-D windows: y[n, d, i, j, c] = max over the (pd, ph, pw) window.

    Each window of ``pool_size`` cells, moved by ``strides``, gives one output cell per channel;
    along each spatial axis out = floor((in - pool_size) / strides) + 1 with ``"valid"`` padding.

    Args:
        pool_size: window size, an int or a tuple of 3 ints (default ``(2, 2, 2)``).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        The same rank, each spatial axis reduced as above; the channels unchanged.

    Example:

    >>> layers.MaxPooling3D(pool_size=(2, 2, 2))(np.ones((1, 4, 6, 8, 3))).shape
    (1, 2, 3, 4, 3)
    """

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y, self._argmax = dispatch.max_pool3d_forward(x, self.pool_size, self.strides, self._pads(x.shape[1:4]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dx = dispatch.max_pool3d_backward(to_channels_last(dy, self.data_format), self._argmax, self._input_shape)
        return from_channels_last(dx, self.data_format)


class AveragePooling3D(_Pooling3D):
    """Average pooling over 3-D windows: y[n, d, i, j, c] = mean over the (pd, ph, pw) window.

    Each window of ``pool_size`` cells, moved by ``strides``, gives one output cell per channel;
    along each spatial axis out = floor((in - pool_size) / strides) + 1 with ``"valid"`` padding.

    Args:
        pool_size: window size, an int or a tuple of 3 ints.
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        The same rank, each spatial axis reduced as above; the channels unchanged.

    Example:

    >>> layers.AveragePooling3D(pool_size=2)(np.ones((1, 4, 6, 8, 3))).shape
    (1, 2, 3, 4, 3)
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)  # no default, as in Keras

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y = dispatch.avg_pool3d_forward(x, self.pool_size, self.strides, self._pads(x.shape[1:4]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dx = dispatch.avg_pool3d_backward(to_channels_last(dy, self.data_format), self._input_shape,
                                          self.pool_size, self.strides, self._pads(self._input_shape[1:4]))
        return from_channels_last(dx, self.data_format)


# --------------------------------------------------------------------------------------------
# Global pooling
# --------------------------------------------------------------------------------------------
class _GlobalPooling(Layer):
    rank = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, self.describe())
        self.keepdims = bool(keepdims)
        self.expected_ndim = self.rank + 2

    def _rank_hint(self):
        return input_layout(self.rank, self.data_format)

    def compute_output_shape(self, input_shape):
        shape = shape_to_channels_last(input_shape, self.data_format)
        if not self.keepdims:
            return (shape[0], shape[-1])
        return shape_from_channels_last((shape[0],) + (1,) * self.rank + (shape[-1],), self.data_format)

    def _positions(self, x):
        """(N, ..., C) channels-last -> (N, S, C): all S spatial positions in one axis."""
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        return x.reshape(x.shape[0], -1, x.shape[-1])

    def _shape_output(self, y):
        """(N, C) -> the layer's output shape."""
        if not self.keepdims:
            return y
        return from_channels_last(y.reshape((y.shape[0],) + (1,) * self.rank + (y.shape[-1],)), self.data_format)

    def _gradient_per_channel(self, dy):
        """The layer's dy -> (N, C)."""
        return dy.reshape(dy.shape[0], -1) if self.keepdims else dy

    def _to_input_layout(self, positions_grad):
        return from_channels_last(positions_grad.reshape(self._input_shape), self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalMaxPooling(_GlobalPooling):
    def forward(self, x, training=False):
        positions = self._positions(x)
        self._winner = positions.argmax(axis=1)[:, None, :]      # (N, 1, C): first max on ties
        xp = devices.array_module_of(positions)
        return self._shape_output(xp.take_along_axis(positions, self._winner, axis=1)[:, 0, :])

    def backward(self, dy, need_input_gradient=True):
        """Route each channel's gradient to the position that held its max; zeros elsewhere."""
        xp = devices.array_module_of(dy)
        n, channels = self._input_shape[0], self._input_shape[-1]
        dx = xp.zeros((n, int(np.prod(self._input_shape[1:-1])), channels), dtype=dy.dtype)
        xp.put_along_axis(dx, self._winner, self._gradient_per_channel(dy)[:, None, :], axis=1)
        return self._to_input_layout(dx)


class _GlobalAveragePooling(_GlobalPooling):
    def forward(self, x, training=False):
        return self._shape_output(self._positions(x).mean(axis=1))

    def backward(self, dy, need_input_gradient=True):
        """Each of the S positions gets dy / S (d mean / d x = 1/S)."""
        count = int(np.prod(self._input_shape[1:-1]))
        per_position = (self._gradient_per_channel(dy) / count).astype(dy.dtype)
        dx = devices.array_module_of(dy).broadcast_to(per_position[:, None, :],
                                                      (self._input_shape[0], count, self._input_shape[-1]))
        return self._to_input_layout(contiguous(dx))


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """Global max pooling, one value per channel: y[n, c] = max over t of x[n, t, c].

    Args:
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        keepdims: if ``True``, keep the spatial axes with length 1.

    Input shape:
        ``(batch, steps, channels)`` (channels_last).

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, channels)`` with ``keepdims=True``.

    Example:

    >>> x = np.array([[[1., 9.], [4., 2.], [3., 5.]]])
    >>> layers.GlobalMaxPooling1D()(x).tolist()
    [[4.0, 9.0]]
    """

    rank = 1


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """Global max pooling, one value per channel: y[n, c] = max over (i, j) of x[n, i, j, c].

    Args:
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        keepdims: if ``True``, keep the spatial axes with length 1.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Example:

    >>> x = np.arange(8.).reshape(1, 2, 2, 2)
    >>> layers.GlobalMaxPooling2D()(x).tolist()
    [[6.0, 7.0]]
    >>> layers.GlobalMaxPooling2D(keepdims=True)(x).shape
    (1, 1, 1, 2)
    """

    rank = 2


class GlobalMaxPooling3D(_GlobalMaxPooling):
    """Global max pooling, one value per channel: y[n, c] = max over (d, i, j) of x[n, d, i, j, c].

    Args:
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        keepdims: if ``True``, keep the spatial axes with length 1.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, 1, channels)`` with ``keepdims=True``.

    Example:

    >>> layers.GlobalMaxPooling3D()(np.ones((2, 3, 4, 5, 6))).shape
    (2, 6)
    """

    rank = 3


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """Global average pooling, one value per channel: y[n, c] = mean over t of x[n, t, c].

    Args:
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        keepdims: if ``True``, keep the spatial axes with length 1.

    Input shape:
        ``(batch, steps, channels)`` (channels_last).

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, channels)`` with ``keepdims=True``.

    Example:

    >>> x = np.array([[[1., 9.], [4., 2.], [4., 4.]]])
    >>> layers.GlobalAveragePooling1D()(x).tolist()
    [[3.0, 5.0]]
    """

    rank = 1


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """Global average pooling, one value per channel: y[n, c] = mean over (i, j) of x[n, i, j, c].

    Args:
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        keepdims: if ``True``, keep the spatial axes with length 1.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Example:

    >>> x = np.arange(8.).reshape(1, 2, 2, 2)
    >>> layers.GlobalAveragePooling2D()(x).tolist()
    [[3.0, 4.0]]
    >>> layers.GlobalAveragePooling2D(keepdims=True)(x).shape
    (1, 1, 1, 2)
    """

    rank = 2


class GlobalAveragePooling3D(_GlobalAveragePooling):
    """Global average pooling, one value per channel: y[n, c] = mean over (d, i, j) of x[n, d, i, j, c].

    Args:
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        keepdims: if ``True``, keep the spatial axes with length 1.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, 1, 1, channels)`` with ``keepdims=True``.

    Example:

    >>> layers.GlobalAveragePooling3D()(np.ones((2, 3, 4, 5, 6))).shape
    (2, 6)
    """

    rank = 3


MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
MaxPool3D = MaxPooling3D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
AvgPool3D = AveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D
