"""1-D and 3-D pooling, and global pooling (Keras 3's classes and aliases).

* ``MaxPooling1D`` / ``AveragePooling1D`` run the 2-D pooling kernels on a sequence seen as an
  image one row high: (N, steps, C) -> (N, 1, steps, C), pool (1, p), strides (1, s).
* ``MaxPooling3D`` / ``AveragePooling3D`` use the 3-D kernels (``dispatch.max_pool3d_forward``, ...):
  the same rules one axis further (padding never takes part, argmax = d*H*W + h*W + w).
* Global pooling reduces every spatial axis at once, so it is a single NumPy reduction:

      GlobalMaxPooling:     y[n, c] = max over all positions of x[n, ..., c]
                            backward: dy goes to the position of the max (the first on ties)
      GlobalAveragePooling: y[n, c] = mean over the S positions of x[n, ..., c]
                            backward: dy / S spread evenly over every position

``data_format="channels_first"`` puts the channel axis right after the batch axis; the layers
move it to the end at their edges, as the 2-D ones do.
"""
import numpy as np

from .. import dispatch
from .. import geometry
from .base import Layer, check_data_format

SPATIAL_NAMES = {1: "(batch, steps, channels)", 2: "(batch, height, width, channels)",
                 3: "(batch, depth, height, width, channels)"}


# --------------------------------------------------------------------------------------------
# Helpers shared with resizing.py: argument forms and moving the channel axis
# --------------------------------------------------------------------------------------------
def as_tuple(value, rank, what, layer_name, minimum=1):
    """Keras accepts ``3`` or ``(3, 5, ...)`` for sizes; return ``rank`` ints >= minimum."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != rank or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{layer_name}: {what} must be an int or a tuple of {rank} ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{layer_name}: {what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def channels_to_last(x, data_format):
    """(N, C, ...) -> (N, ..., C) for channels_first data; channels_last passes through."""
    if data_format == "channels_first":
        return np.ascontiguousarray(np.moveaxis(x, 1, -1))
    return x


def channels_back(x, data_format):
    """Undo ``channels_to_last``."""
    return np.moveaxis(x, -1, 1) if data_format == "channels_first" else x


def shape_to_last(shape, data_format):
    shape = tuple(shape)
    return (shape[0],) + shape[2:] + (shape[1],) if data_format == "channels_first" else shape


def shape_back(shape, data_format):
    shape = tuple(shape)
    return (shape[0], shape[-1]) + shape[1:-1] if data_format == "channels_first" else shape


def check_padding_mode(padding, layer_name):
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in ("valid", "same"):
        raise ValueError(f"{layer_name}: padding must be 'valid' or 'same', got {padding!r}")
    return padding


# --------------------------------------------------------------------------------------------
# Windowed pooling over N spatial axes
# --------------------------------------------------------------------------------------------
class _PoolingND(Layer):
    rank = None  # number of spatial axes

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.pool_size = as_tuple(pool_size, self.rank, "pool_size", me)
        self.strides = as_tuple(strides, self.rank, "strides", me) if strides is not None else self.pool_size
        self.padding = check_padding_mode(padding, me)
        self.data_format = check_data_format(data_format, me)
        self.expected_ndim = self.rank + 2

    def _rank_hint(self):
        return SPATIAL_NAMES[self.rank]

    def _pads(self, spatial):
        """(before, after) per spatial axis: none for 'valid', Keras's split for 'same'."""
        if self.padding == "valid":
            return tuple((0, 0) for _ in spatial)
        return tuple(geometry.same_padding(n, k, s) for n, k, s in zip(spatial, self.pool_size, self.strides))

    def compute_output_shape(self, input_shape):
        shape = shape_to_last(input_shape, self.data_format)
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
        return shape_back((shape[0], *out, shape[-1]), self.data_format)

    def check_input(self, x):
        super().check_input(x)
        self.compute_output_shape(x.shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class _Pooling1D(_PoolingND):
    """A sequence is an image one row high: the 2-D kernels do the work."""

    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)

    def _as_image(self, x):
        x = channels_to_last(x, self.data_format)      # (N, steps, C)
        self._input_shape = (x.shape[0], 1) + x.shape[1:]
        pads = ((0, 0),) + self._pads(x.shape[1:2])
        return x[:, None, :, :], (1,) + self.pool_size, (1,) + self.strides, pads

    def _from_image(self, y):
        return channels_back(y[:, 0], self.data_format)


class MaxPooling1D(_Pooling1D):
    def forward(self, x, training=False):
        image, pool, strides, pads = self._as_image(x)
        y, self._argmax = dispatch.max_pool2d_forward(image, pool, strides, pads)
        return self._from_image(y)

    def backward(self, dy, need_input_gradient=True):
        dy = channels_to_last(dy, self.data_format)[:, None]
        return self._from_image(dispatch.max_pool2d_backward(np.ascontiguousarray(dy), self._argmax,
                                                        self._input_shape))


class AveragePooling1D(_Pooling1D):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)  # no default, as in Keras

    def forward(self, x, training=False):
        image, pool, strides, pads = self._as_image(x)
        self._geometry = pool, strides, pads
        return self._from_image(dispatch.avg_pool2d_forward(image, pool, strides, pads))

    def backward(self, dy, need_input_gradient=True):
        dy = channels_to_last(dy, self.data_format)[:, None]
        dx = dispatch.avg_pool2d_backward(np.ascontiguousarray(dy), self._input_shape, *self._geometry)
        return self._from_image(dx)


class _Pooling3D(_PoolingND):
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling3D):
    def forward(self, x, training=False):
        x = channels_to_last(x, self.data_format)
        self._input_shape = x.shape
        y, self._argmax = dispatch.max_pool3d_forward(x, self.pool_size, self.strides, self._pads(x.shape[1:4]))
        return channels_back(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dx = dispatch.max_pool3d_backward(channels_to_last(dy, self.data_format), self._argmax, self._input_shape)
        return channels_back(dx, self.data_format)


class AveragePooling3D(_Pooling3D):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)  # no default, as in Keras

    def forward(self, x, training=False):
        x = channels_to_last(x, self.data_format)
        self._input_shape = x.shape
        y = dispatch.avg_pool3d_forward(x, self.pool_size, self.strides, self._pads(x.shape[1:4]))
        return channels_back(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dx = dispatch.avg_pool3d_backward(channels_to_last(dy, self.data_format), self._input_shape, self.pool_size,
                                     self.strides, self._pads(self._input_shape[1:4]))
        return channels_back(dx, self.data_format)


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
        return SPATIAL_NAMES[self.rank]

    def compute_output_shape(self, input_shape):
        shape = shape_to_last(input_shape, self.data_format)
        if not self.keepdims:
            return (shape[0], shape[-1])
        return shape_back((shape[0],) + (1,) * self.rank + (shape[-1],), self.data_format)

    def _positions(self, x):
        """(N, ..., C) channels-last -> (N, S, C): all S spatial positions in one axis."""
        x = channels_to_last(x, self.data_format)
        self._input_shape = x.shape
        return x.reshape(x.shape[0], -1, x.shape[-1])

    def _shape_output(self, y):
        """(N, C) -> the layer's output shape."""
        if not self.keepdims:
            return y
        return channels_back(y.reshape((y.shape[0],) + (1,) * self.rank + (y.shape[-1],)), self.data_format)

    def _gradient_per_channel(self, dy):
        """The layer's dy -> (N, C)."""
        return dy.reshape(dy.shape[0], -1) if self.keepdims else dy

    def _to_input_layout(self, positions_grad):
        return channels_back(positions_grad.reshape(self._input_shape), self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalMaxPooling(_GlobalPooling):
    def forward(self, x, training=False):
        positions = self._positions(x)
        self._winner = positions.argmax(axis=1)[:, None, :]      # (N, 1, C): first max on ties
        return self._shape_output(np.take_along_axis(positions, self._winner, axis=1)[:, 0, :])

    def backward(self, dy, need_input_gradient=True):
        """Route each channel's gradient to the position that held its max; zeros elsewhere."""
        n, channels = self._input_shape[0], self._input_shape[-1]
        dx = np.zeros((n, int(np.prod(self._input_shape[1:-1])), channels), dtype=dy.dtype)
        np.put_along_axis(dx, self._winner, self._gradient_per_channel(dy)[:, None, :], axis=1)
        return self._to_input_layout(dx)


class _GlobalAveragePooling(_GlobalPooling):
    def forward(self, x, training=False):
        return self._shape_output(self._positions(x).mean(axis=1))

    def backward(self, dy, need_input_gradient=True):
        """Each of the S positions gets dy / S (d mean / d x = 1/S)."""
        count = int(np.prod(self._input_shape[1:-1]))
        per_position = (self._gradient_per_channel(dy) / count).astype(dy.dtype)
        dx = np.broadcast_to(per_position[:, None, :], (self._input_shape[0], count, self._input_shape[-1]))
        return self._to_input_layout(np.ascontiguousarray(dx))


class GlobalMaxPooling1D(_GlobalMaxPooling):
    rank = 1


class GlobalMaxPooling2D(_GlobalMaxPooling):
    rank = 2


class GlobalMaxPooling3D(_GlobalMaxPooling):
    rank = 3


class GlobalAveragePooling1D(_GlobalAveragePooling):
    rank = 1


class GlobalAveragePooling2D(_GlobalAveragePooling):
    rank = 2


class GlobalAveragePooling3D(_GlobalAveragePooling):
    rank = 3


MaxPool1D = MaxPooling1D
MaxPool3D = MaxPooling3D
AvgPool1D = AveragePooling1D
AvgPool3D = AveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D
