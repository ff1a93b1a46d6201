"""MaxPooling2D and AveragePooling2D.

A pool slides a window (pool_size, moved by strides; strides default to the pool size) over
each channel and keeps the max or the mean.  No weights.  Backward:

* max: route each upstream gradient to the input cell that won the max;
* average: share each upstream gradient equally among the cells of its window
  (padded cells excluded, as Keras does for ``padding="same"``).
"""
from .. import dispatch
from .. import geometry
from .base import (Layer, as_pair, check_data_format, from_channels_last, shape_from_channels_last,
                   shape_to_channels_last, to_channels_last)


class _Pooling2D(Layer):
    runs_on_gpu = True
    expected_ndim = 4

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        me = self.describe()
        self.pool_size = as_pair(pool_size, "pool_size", me)
        self.strides = as_pair(strides, "strides", me) if strides is not None else self.pool_size
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise ValueError(f"{me}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding
        self.data_format = check_data_format(data_format, me)

    def _pads(self, height, width):
        return geometry.resolve_padding(self.padding, (height, width), self.pool_size, self.strides)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = shape_to_channels_last(input_shape, self.data_format)
        out = []
        for axis, size in enumerate((height, width)):
            if size is None:
                out.append(None)
                continue
            before, after = self._pads(height or 1, width or 1)[axis]
            n = geometry.output_size(size, self.pool_size[axis], self.strides[axis], before, after)
            if n < 1:
                raise ValueError(f"{self.describe()}: input of spatial size {(height, width)} is smaller than "
                                 f"pool_size {self.pool_size} with padding 'valid'")
            out.append(n)
        return shape_from_channels_last((batch, out[0], out[1], channels), self.data_format)

    def check_input(self, x):
        super().check_input(x)
        self.compute_output_shape(x.shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y, self._argmax = dispatch.max_pool2d_forward(x, self.pool_size, self.strides, self._pads(*x.shape[1:3]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)
        dx = dispatch.max_pool2d_backward(dy, self._argmax, self._input_shape)
        return from_channels_last(dx, self.data_format)


class AveragePooling2D(_Pooling2D):
    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y = dispatch.avg_pool2d_forward(x, self.pool_size, self.strides, self._pads(*x.shape[1:3]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)
        dx = dispatch.avg_pool2d_backward(dy, self._input_shape, self.pool_size, self.strides,
                                     self._pads(*self._input_shape[1:3]))
        return from_channels_last(dx, self.data_format)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
