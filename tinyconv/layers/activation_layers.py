"""Activation layers with arguments: LeakyReLU, PReLU, ELU, Softmax, and Maxout.

(``ReLU`` and ``Activation`` are in ``core.py``.)  Each keeps what its derivative needs:

    LeakyReLU: y = x if x > 0 else s x               dy/dx = 1 or s
    PReLU:     y = x if x > 0 else alpha x           dy/dx = 1 or alpha,  dy/dalpha = min(x, 0)
    ELU:       y = x if x > 0 else alpha (e^x - 1)   dy/dx = 1 or y + alpha
    Softmax:   y = e^x / sum(e^x) along ``axis``     dx = y * (dy - sum(dy * y) along axis)
    Maxout:    y_k = max of the k-th group of features; the gradient goes to the winner of each group
"""
import warnings

import numpy as np

from .. import activations, devices
from .base import Layer


class LeakyReLU(Layer):
    """Keras 3's LeakyReLU (default slope 0.3); Keras 2's ``alpha=`` is accepted as the slope.

    f(x) = x for x >= 0, negative_slope * x otherwise.

    Args:
        negative_slope: the slope for x < 0 (default 0.3).

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> layers.LeakyReLU(negative_slope=0.5)(np.array([[-2., 0., 3.]])).tolist()
    [[-1.0, 0.0, 3.0]]
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: argument `alpha` is deprecated (Keras 2); use `negative_slope`",
                          DeprecationWarning, stacklevel=2)
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"{self.describe()}: negative_slope must be a number >= 0, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x, training=False):
        self._positive = x > 0
        return activations.leaky_relu(x, self.negative_slope)

    def backward(self, dy, need_input_gradient=True):
        return dy * np.where(self._positive, 1, self.negative_slope).astype(dy.dtype)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Leaky ReLU with a learnt slope per feature; ``shared_axes`` share one slope along those axes.

    The weight ``alpha`` has the input's shape without the batch axis, with a 1 on each shared
    axis (axes count from 1, as Keras counts them: ``shared_axes=[1, 2]`` for one slope per channel
    of an image).

    f(x) = x for x >= 0, alpha * x otherwise, with alpha learnt.

    Args:
        alpha_initializer: initializer of ``alpha`` (default ``"zeros"``: a ReLU at first).
        shared_axes: the axes (from 1) that share one slope, or ``None``.

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> layer = layers.PReLU(alpha_initializer="ones", shared_axes=[1, 2])
    >>> layer(np.ones((2, 4, 4, 3))).shape
    (2, 4, 4, 3)
    >>> layer.get_weights()[0].shape
    (1, 1, 3)
    """

    _CONSTRAINT_ARGUMENTS = {"alpha_constraint": "alpha"}

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (int, np.integer)):
            self.shared_axes = [int(shared_axes)]
        else:
            self.shared_axes = [int(a) for a in shared_axes]

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: expected input of rank >= 2, got shape {tuple(shape)}")
        for a in self.shared_axes or []:
            if not 1 <= a < len(shape):
                raise ValueError(f"{self.describe()}: shared_axes must be in 1..{len(shape) - 1} for input shape "
                                 f"{tuple(shape)}, got {self.shared_axes}")

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"{self.describe()}: every unshared axis must have a known size, got {input_shape}")
        self.alpha = self._add_array_weight("alpha", tuple(shape), self.alpha_initializer)

    def check_input(self, x):
        super().check_input(x)
        matches = x.ndim == self.alpha.ndim + 1 and all(
            a == 1 or a == d for a, d in zip(self.alpha.shape, x.shape[1:]))
        if not matches:
            raise ValueError(f"{self.describe()}: expected input shaped like (batch,) + {self.alpha.shape} "
                             f"(from its weights, 1 = shared), got shape {x.shape}")

    def forward(self, x, training=False):
        self._input = x
        return np.where(x > 0, x, self.alpha * x).astype(x.dtype, copy=False)

    def backward(self, dy, need_input_gradient=True):
        x = self._input
        negative_part = np.minimum(x, 0)
        # dL/dalpha: sum over the batch and every axis alpha is shared along.
        per_sample = dy * negative_part
        shared = tuple(a + 1 for a, size in enumerate(self.alpha.shape) if size == 1 and x.shape[a + 1] != 1)
        self.grads["alpha"] = per_sample.sum(axis=(0,) + shared, keepdims=True)[0].astype(self.dtype, copy=False)
        return (dy * np.where(x > 0, 1, self.alpha)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer,
                "shared_axes": self.shared_axes}


class ELU(Layer):
    """x if x > 0 else alpha (e^x - 1).

    Args:
        alpha: the value approached for large negative x (default 1.0).

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> np.round(layers.ELU()(np.array([[-1., 0., 2.]])), 3)
    array([[-0.632,  0.   ,  2.   ]], dtype=float32)
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def forward(self, x, training=False):
        self._positive = x > 0
        self._output = activations.elu(x, self.alpha)
        return self._output

    def backward(self, dy, need_input_gradient=True):
        # For x <= 0, d/dx alpha (e^x - 1) = alpha e^x = y + alpha.
        return (dy * np.where(self._positive, 1, self._output + self.alpha)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Softmax along ``axis`` (an int or a tuple of axes, as in Keras 3).

    y = exp(x - max x) / sum exp(x - max x) along ``axis``: each slice sums to 1.

    Args:
        axis: the axis (or axes) to normalise over (default -1).

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> np.round(layers.Softmax()(np.array([[0., 0., np.log(2.)]])), 3).tolist()
    [[0.25, 0.25, 0.5]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def _check_rank(self, shape):
        for a in self.axis if isinstance(self.axis, tuple) else (self.axis,):
            if not -len(shape) < a < len(shape) or a % len(shape) == 0:
                raise ValueError(f"{self.describe()}: axis {self.axis} is not a feature axis of input shape "
                                 f"{tuple(shape)}")

    def forward(self, x, training=False):
        self._output = activations.softmax(x, axis=self.axis)
        return self._output

    def backward(self, dy, need_input_gradient=True):
        # Jacobian-vector product of softmax: dx_i = y_i (dy_i - sum_j dy_j y_j), the sum along axis.
        y = self._output
        return y * (dy - np.sum(dy * y, axis=self.axis, keepdims=True))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Maxout(Layer):
    """Maxout (Goodfellow et al., 2013): ``num_units`` outputs, each the max of a group of features.

    The F features on ``axis`` are cut into ``num_units`` consecutive groups of F / num_units:
    y_k = max(x_{k p}, ..., x_{k p + p - 1}), p = F / num_units (TensorFlow Addons' layout).
    Backward routes each dy_k to the feature that won its group (the first one on a tie).

    Args:
        num_units: the number of outputs; must divide the features on ``axis``.
        axis: the feature axis (default -1).

    Input shape:
        ``(batch, ..., F)``.

    Output shape:
        ``(batch, ..., num_units)``.

    Example:

    >>> layers.Maxout(num_units=2)(np.array([[1., 5., 4., 2.]])).tolist()
    [[5.0, 4.0]]
    """

    def __init__(self, num_units, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_units, (int, np.integer)) or num_units <= 0:
            raise ValueError(f"{self.describe()}: num_units must be a positive int, got {num_units!r}")
        self.num_units = int(num_units)
        self.axis = int(axis)

    def _check_rank(self, shape):
        if not -len(shape) <= self.axis < len(shape) or self.axis % len(shape) == 0:
            raise ValueError(f"{self.describe()}: axis {self.axis} is not a feature axis of input shape "
                             f"{tuple(shape)}")
        features = shape[self.axis]
        if features is not None and features % self.num_units != 0:
            raise ValueError(f"{self.describe()}: the {features} features on axis {self.axis} must be a multiple "
                             f"of num_units={self.num_units}")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.axis] = self.num_units
        return tuple(shape)

    def check_input(self, x):
        super().check_input(x)
        self._check_rank(x.shape)
        if x.shape[self.axis] != self.input_shape[self.axis]:
            raise ValueError(f"{self.describe()}: expected {self.input_shape[self.axis]} features on axis "
                             f"{self.axis}, got shape {x.shape}")

    def _grouped(self, x):
        """Move the features last and split them: (..., num_units, group size)."""
        last = devices.array_module_of(x).moveaxis(x, self.axis, -1)
        return last.reshape(last.shape[:-1] + (self.num_units, -1))

    def forward(self, x, training=False):
        xp = devices.array_module_of(x)
        grouped = self._grouped(x)
        self._winner = xp.argmax(grouped, axis=-1)      # which feature of each group won
        self._input_shape = x.shape
        y = xp.take_along_axis(grouped, self._winner[..., None], axis=-1)[..., 0]
        return xp.moveaxis(y, -1, self.axis)

    def backward(self, dy, need_input_gradient=True):
        xp = devices.array_module_of(dy)
        dy_last = xp.moveaxis(dy, self.axis, -1)
        dx_grouped = xp.zeros(dy_last.shape + (self._input_shape[self.axis] // self.num_units,), dy.dtype)
        xp.put_along_axis(dx_grouped, self._winner[..., None], dy_last[..., None], axis=-1)
        dx_last = dx_grouped.reshape(dx_grouped.shape[:-2] + (-1,))
        return xp.moveaxis(dx_last, -1, self.axis)

    def get_config(self):
        return {**super().get_config(), "num_units": self.num_units, "axis": self.axis}
