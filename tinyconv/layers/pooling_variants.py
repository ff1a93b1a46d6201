"""Pooling functions the course teaches beyond max and mean (not in Keras).

All take Keras's pooling arguments (``pool_size``, ``strides`` defaulting to the pool size,
``padding="valid"|"same"``, ``data_format``) plus their own parameter, and never let padding
take part (see ``kernels/reference/pooling_variants.py`` for every formula and backward):

* ``MinPooling2D``: the minimum of each window ("performs well when the background is dark
  and the object is light"); backward routes dy to the winner, as max pooling does;
* ``LpPooling2D(p=2)``: (sum x^p)^(1/p), PyTorch's ``LPPool2d`` (p=2: the L2 norm of the window);
* ``LogSumExpPooling2D(beta=1)``: (1/beta) log sum exp(beta x), a smooth max;
* ``WeightedPooling2D(sigma=1)``: a mean weighted by a Gaussian of the distance to the
  window's centre, the weights normalised over each window's real cells.
"""
import numpy as np

from .. import dispatch
from .arguments import contiguous, from_channels_last, to_channels_last
from .pooling import _Pooling2D


def check_positive(value, what, layer_name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{layer_name}: {what} must be a positive number, got {value!r}")
    return float(value)


class MinPooling2D(_Pooling2D):
    """Min pooling: y[n, i, j, c] = min over the window of x[n, i*sh + a, j*sw + b, c].

    Not in Keras (it equals ``-MaxPooling2D(-x)``); tinyconv adds it for teaching.  With
    ``"valid"`` padding out = floor((in - pool_size) / strides) + 1 along each spatial axis.

    Args:
        pool_size: window size, an int or a tuple of 2 ints (default ``(2, 2)``).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that out = ceil(in / strides)).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, channels)``.

    Example:

    >>> x = np.arange(16.).reshape(1, 4, 4, 1)
    >>> layers.MinPooling2D(pool_size=(2, 2))(x)[0, :, :, 0].tolist()
    [[0.0, 2.0], [8.0, 10.0]]
    """

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y, self._argmin = dispatch.min_pool2d_forward(x, self.pool_size, self.strides, self._pads(x.shape[1:3]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        # "Route dy to the window's winner" is the same for a min as for a max.
        dy = to_channels_last(dy, self.data_format)
        dx = dispatch.max_pool2d_backward(contiguous(dy), self._argmin, self._input_shape)
        return from_channels_last(dx, self.data_format)


class _ParametricPooling2D(_Pooling2D):
    """A pooling with one positive parameter (p, beta, sigma) stored under ``parameter_name``."""

    parameter_name = None

    def _set_parameter(self, value):
        setattr(self, self.parameter_name, check_positive(value, self.parameter_name, self.describe()))

    @property
    def _parameter(self):
        return getattr(self, self.parameter_name)

    def _geometry(self, height, width):
        return self.pool_size, self.strides, self._pads((height, width))

    def get_config(self):
        return {**super().get_config(), self.parameter_name: self._parameter}


class _PoolingFromInputAndOutput(_ParametricPooling2D):
    """Poolings whose backward needs the forward's x and y (Lp, log-sum-exp)."""

    forward_kernel = backward_kernel = None

    def forward(self, x, training=False):
        self._x = to_channels_last(x, self.data_format)
        self._y = getattr(dispatch, self.forward_kernel)(self._x, self._parameter, *self._geometry(*self._x.shape[1:3]))
        return from_channels_last(self._y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = contiguous(to_channels_last(dy, self.data_format))
        dx = getattr(dispatch, self.backward_kernel)(dy, self._x, self._y, self._parameter,
                                                *self._geometry(*self._x.shape[1:3]))
        return from_channels_last(dx, self.data_format)


class LpPooling2D(_PoolingFromInputAndOutput):
    """y = (sum over the window of x^p)^(1/p); PyTorch's LPPool2d (whose windows never pad).

    Not in Keras; tinyconv adds it (p = 1 is a sum pooling, p -> inf a max pooling).

    Args:
        pool_size: window size, an int or a tuple of 2 ints (default ``(2, 2)``).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (the default) or ``"same"``.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        p: the norm's order, > 0 (default 2).

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, channels)``, out = floor((in - pool) / strides) + 1
        with ``"valid"`` padding.

    Example:

    >>> x = np.array([[3., 4.], [0., 0.]]).reshape(1, 2, 2, 1)
    >>> layers.LpPooling2D(pool_size=2, p=2)(x).tolist()
    [[[[5.0]]]]
    """

    parameter_name = "p"
    forward_kernel, backward_kernel = "lp_pool2d_forward", "lp_pool2d_backward"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, p=2, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        self._set_parameter(p)


class LogSumExpPooling2D(_PoolingFromInputAndOutput):
    """y = (1/beta) log sum exp(beta x) over the window: a soft maximum (beta -> inf gives max).

    Not in Keras; tinyconv adds it.

    Args:
        pool_size: window size, an int or a tuple of 2 ints (default ``(2, 2)``).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (the default) or ``"same"``.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        beta: the sharpness, > 0 (default 1.0).

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, channels)``, out = floor((in - pool) / strides) + 1
        with ``"valid"`` padding.

    Example:

    >>> x = np.zeros((1, 4, 4, 2))
    >>> np.round(layers.LogSumExpPooling2D(pool_size=2)(x)[0, :, :, 0], 4)  # log 4
    array([[1.3863, 1.3863],
           [1.3863, 1.3863]], dtype=float32)
    """

    parameter_name = "beta"
    forward_kernel, backward_kernel = "logsumexp_pool2d_forward", "logsumexp_pool2d_backward"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, beta=1.0, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        self._set_parameter(beta)


class WeightedPooling2D(_ParametricPooling2D):
    """y = sum g x / sum g, g = exp(-r^2 / (2 sigma^2)), r = distance to the window's centre.

    A Gaussian-weighted average of each window.  Not in Keras; tinyconv adds it.

    Args:
        pool_size: window size, an int or a tuple of 2 ints (default ``(2, 2)``).
        strides: step between windows; ``None`` (the default) uses ``pool_size``.
        padding: ``"valid"`` (the default) or ``"same"``.
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        sigma: the Gaussian's width, > 0 (default 1.0).

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, out_height, out_width, channels)``, out = floor((in - pool) / strides) + 1
        with ``"valid"`` padding.

    Example:

    >>> x = np.full((1, 4, 4, 3), 2.0)
    >>> layers.WeightedPooling2D(pool_size=2)(x)[0, :, :, 0].tolist()
    [[2.0, 2.0], [2.0, 2.0]]
    """

    parameter_name = "sigma"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, sigma=1.0, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        self._set_parameter(sigma)

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        y = dispatch.weighted_pool2d_forward(x, self.sigma, *self._geometry(*x.shape[1:3]))
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = contiguous(to_channels_last(dy, self.data_format))
        dx = dispatch.weighted_pool2d_backward(dy, self._input_shape, self.sigma,
                                          *self._geometry(*self._input_shape[1:3]))
        return from_channels_last(dx, self.data_format)

