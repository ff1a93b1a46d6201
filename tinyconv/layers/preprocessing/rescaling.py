"""Value preprocessing: ``Rescaling`` (y = x * scale + offset) and ``Normalization`` (y = (x - mean) / std).

Both are affine in x with fixed coefficients, so their backward is a multiplication:
dL/dx = dL/dy * scale, and dL/dx = dL/dy / max(sqrt(variance), epsilon) (times it, when ``invert``).
"""
import numbers

import numpy as np

from ... import backend, devices
from ..base import Layer


def _as_constant(value, layer, what):
    """A number, or a per-channel list / array (Keras accepts both for scale and offset)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{layer}: {what} must be a number or an array of numbers, got {value!r}") from None


def _config_value(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


class Rescaling(Layer):
    """Multiplies by ``scale`` and adds ``offset``: y = x * scale + offset.

    ``Rescaling(1. / 255)`` maps pixels from [0, 255] to [0, 1]; ``Rescaling(1. / 127.5, offset=-1)`` to
    [-1, 1].

    Args:
        scale: a number, or one number per channel.
        offset: a number, or one number per channel (default 0).
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        Any.

    Output shape:
        Same as the input.

    Example:

    >>> layers.Rescaling(1. / 255)(np.array([[0., 127.5, 255.]])).tolist()
    [[0.0, 0.5, 1.0]]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _as_constant(scale, self.describe(), "scale")
        self.offset = _as_constant(offset, self.describe(), "offset")
        self._scale_in_config, self._offset_in_config = scale, offset

    def _broadcast(self, value):
        """A per-channel array on the channel axis: the last, or axis 1 of channels_first images (Keras)."""
        if isinstance(value, float) or value.ndim == 0 or backend.image_data_format() != "channels_first":
            return value
        return value.reshape(value.shape + (1,) * (3 - value.ndim))

    def _constant(self, value, x):
        """A number as it is (it keeps x's dtype); a per-channel array copied next to x, in x's dtype."""
        if isinstance(value, float):
            return value
        return devices.array_module_of(x).asarray(self._broadcast(value), dtype=x.dtype)

    def forward(self, x, training=False):
        self._scale_used = self._constant(self.scale, x)
        self._input_shape = x.shape
        return x * self._scale_used + self._constant(self.offset, x)

    def backward(self, dy, need_input_gradient=True):
        if not need_input_gradient:
            return None
        dx = dy * self._scale_used
        # Where a per-channel scale broadcast x up (one grey channel times three scales), sum back.
        extra = dx.ndim - len(self._input_shape)
        dx = dx.sum(axis=tuple(range(extra))) if extra else dx
        axes = tuple(a for a, n in enumerate(self._input_shape) if n == 1 and dx.shape[a] != 1)
        return dx.sum(axis=axes, keepdims=True) if axes else dx

    def get_config(self):
        return {**super().get_config(), "scale": _config_value(self._scale_in_config),
                "offset": _config_value(self._offset_in_config)}


class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and variance 1 per feature: y = (x - mean) / sqrt(variance).

    The statistics come from ``mean`` / ``variance`` given at construction, or from ``adapt(data)``, which
    measures them over every axis except ``axis`` (the features kept apart, the last by default). The
    denominator is ``max(sqrt(variance), epsilon)`` (``backend.epsilon()``, 1e-7), so a constant feature
    gives 0 instead of a division by zero. ``invert=True`` undoes a normalization: y = x * std + mean.

    Args:
        axis: the axis (or axes) with separate statistics; None for one mean over everything.
        mean: the mean to use (broadcast to the kept axes); None to ``adapt``.
        variance: the variance to use; given together with ``mean``.
        invert: apply the inverse transform.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        Any; the kept axes must have a known size.

    Output shape:
        Same as the input.

    Example:

    >>> layer = layers.Normalization()
    >>> layer.adapt(np.array([[0., 10.], [2., 30.]]))
    >>> layer(np.array([[1., 20.]])).tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        self.axis = (int(axis),) if isinstance(axis, numbers.Integral) else tuple(int(a) for a in axis)
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        if (mean is None) != (variance is None):
            raise ValueError(f"{self.describe()}: give both mean and variance, or neither (to adapt); "
                             f"got mean={mean!r}, variance={variance!r}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"{self.describe()}: mean and variance must have the same shape, got "
                                 f"{np.shape(mean)} and {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"{self.describe()}: mean of shape {np.shape(mean)} has more axes than "
                                 f"axis={self.axis}")
        self.mean = self.variance = None

    # ------------------------------------------------------------ statistics
    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"{self.describe()}: axis {self.axis} out of range for inputs of rank {ndim}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in self._keep):
            raise ValueError(f"{self.describe()}: the kept axes {self._keep} need a known size, "
                             f"got input shape {tuple(input_shape)}")
        self._reduce = tuple(a for a in range(ndim) if a not in self._keep)
        self._broadcast_shape = tuple(input_shape[a] if a in self._keep else 1 for a in range(ndim))
        stats_shape = tuple(input_shape[a] for a in self._keep)
        if self.input_mean is None:
            # Keras's weights, in its order: mean, variance, count (all non-trainable; count stays 0).
            self.add_weight(name="mean", shape=stats_shape, initializer="zeros", trainable=False)
            self.add_weight(name="variance", shape=stats_shape, initializer="ones", trainable=False)
            self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)
        else:
            mean = np.asarray(self.input_mean, dtype=np.float64)
            variance = np.asarray(self.input_variance, dtype=np.float64)
            if mean.ndim:  # its axes are the last kept axes
                shape = [1] * ndim
                for k in range(1, mean.ndim + 1):
                    shape[self._keep[-k]] = mean.shape[-k]
                mean, variance = mean.reshape(shape), variance.reshape(shape)
            self.mean = np.broadcast_to(mean, self._broadcast_shape).astype(self.dtype)
            self.variance = np.broadcast_to(variance, self._broadcast_shape).astype(self.dtype)
        super().build(input_shape)

    def _statistics(self, xp):
        """mean and variance shaped to broadcast against the input, on array module ``xp``."""
        if self.input_mean is not None:
            return xp.asarray(self.mean), xp.asarray(self.variance)
        return (self._weight("mean").reshape(self._broadcast_shape),
                self._weight("variance").reshape(self._broadcast_shape))

    def adapt(self, data):
        """Measures the mean and variance of ``data`` over every axis but ``axis``.

        Args:
            data: a NumPy array, or an iterable of batches (arrays, or ``(x, y)`` tuples whose x is used),
                such as a ``Sequence`` or what ``image_dataset_from_directory`` returns. Batches are
                combined exactly (running mean and variance).
        """
        batches = [data] if isinstance(data, np.ndarray) or hasattr(data, "__array__") else data
        if not hasattr(batches, "__iter__"):
            raise TypeError(f"{self.describe()}: adapt expects an array or an iterable of batches, "
                            f"got {type(data).__name__}")
        total_mean = total_var = None
        count = 0
        for batch in batches:
            if isinstance(batch, tuple):
                batch = batch[0]
            batch = devices.to_host(batch).astype(np.float64)   # statistics in float64 on the host
            if not self.built:  # the batch axis stays open unless it is a kept axis (axis=0)
                keeps_batch = 0 in {a % batch.ndim for a in self.axis}
                self.build_for(batch.shape if keeps_batch else (None,) + batch.shape[1:])
            if tuple(batch.shape[a] for a in self._keep) != tuple(self._broadcast_shape[a] for a in self._keep):
                raise ValueError(f"{self.describe()}: adapt got a batch of shape {batch.shape}, incompatible "
                                 f"with the layer's kept axes {self._keep} of sizes "
                                 f"{[self._broadcast_shape[a] for a in self._keep]}")
            mean = batch.mean(axis=self._reduce)
            var = batch.var(axis=self._reduce)
            n = int(np.prod([batch.shape[a] for a in self._reduce])) if self._reduce else 1
            if total_mean is None:
                total_mean, total_var, count = mean, var, n
                continue
            # Chan et al.'s parallel update: the merged variance adds the spread between the two means.
            new_count = count + n
            w = n / new_count
            new_mean = total_mean * (1 - w) + mean * w
            total_var = ((total_var + (total_mean - new_mean) ** 2) * (1 - w)
                         + (var + (mean - new_mean) ** 2) * w)
            total_mean, count = new_mean, new_count
        if total_mean is None:
            raise ValueError(f"{self.describe()}: adapt received no data")
        if self.input_mean is not None:
            raise ValueError(f"{self.describe()}: adapt cannot change a mean and variance given at construction")
        devices.assign(self._weight("mean"), total_mean)
        devices.assign(self._weight("variance"), total_var)
        # Keras keeps its ``count`` weight at 0 (adapt never writes it); so does tinyconv, for equal weights.

    # ------------------------------------------------------------ forward / backward
    def forward(self, x, training=False):
        mean, variance = self._statistics(devices.array_module_of(x))
        self._scale = np.maximum(np.sqrt(variance), backend.epsilon()).astype(x.dtype)
        if self.invert:
            return (x * self._scale + mean).astype(x.dtype)
        return ((x - mean) / self._scale).astype(x.dtype)

    def backward(self, dy, need_input_gradient=True):
        if not need_input_gradient:
            return None
        return dy * self._scale if self.invert else dy / self._scale

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "invert": self.invert,
                       "mean": np.array(self.input_mean).tolist(), "variance": np.array(self.input_variance).tolist()})
        return config
