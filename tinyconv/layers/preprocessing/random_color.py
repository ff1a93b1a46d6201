"""Random photometric augmentation: ``RandomContrast`` and ``RandomBrightness`` (identity at inference).

Contrast: y = clip((x - m) * f + m, value_range), m the mean of each image's channel over its pixels.
Brightness: y = clip(x + d, value_range). Backward (where the clip did not cut, m_k = 1):

    contrast:   dx_k = f m_k dy_k + (1 - f) / (H W) * sum over the channel's pixels p of m_p dy_p
    brightness: dx_k = m_k dy_k
"""
from ... import devices
from .base import RandomImageLayer, factor_range


def _check_value_range(value_range, layer):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(f"{layer}: value_range must be a list of two numbers (low, high), got {value_range!r}")
    return value_range


class _RandomColor(RandomImageLayer):
    """Draws one number per image in training, applies it, clips to ``value_range``."""

    def forward(self, x, training=False):
        self._kept = None
        if not training:
            return x
        self._spatial_axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
        low, high = self.value_range
        moved = self._adjust(x, self.rng())
        self._kept = (moved >= low) & (moved <= high)  # where the clip let the value through
        return moved.clip(low, high).astype(x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomContrast(_RandomColor):
    """Changes the contrast of each image by a random factor (in training).

    Each channel of each image is pushed away from its mean by a factor drawn uniformly from
    ``[1 - lower, 1 + upper]``: y = (x - mean) * factor + mean, then clipped to ``value_range``. As in Keras 3,
    a single number f gives (lower, upper) = (0, f), i.e. factors in [1, 1 + f].

    Args:
        factor: a number in [0, 1], or a pair (lower, upper).
        value_range: the (low, high) range of the pixel values (default (0, 255)).
        seed: makes the factors repeatable.
        **kwargs: ``name``, ``dtype``, ``input_shape``, ``data_format`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        Same as the input.

    Example:

    >>> x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3))
    >>> np.allclose(layers.RandomContrast(0.0)(x), x)
    True
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, (0.0, 1.0), "factor", self.describe(), loose_pairs=True)
        self.value_range = _check_value_range(value_range, self.describe())

    def _adjust(self, x, rng):
        factors = rng.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], size=len(x)).reshape(len(x), 1, 1, 1)
        self._factors = devices.array_module_of(x).asarray(factors.astype(x.dtype))   # drawn on the host
        mean = x.mean(axis=self._spatial_axes, keepdims=True)
        return (x - mean) * self._factors + mean

    def backward(self, dy, need_input_gradient=True):
        if not need_input_gradient:
            return None
        if self._kept is None:
            return dy
        passed = dy * self._kept
        # The mean depends on every pixel of the channel: each one gets (1 - f) / (H W) of the sum.
        spread = passed.mean(axis=self._spatial_axes, keepdims=True) * (1.0 - self._factors)
        return (passed * self._factors + spread).astype(dy.dtype)


class RandomBrightness(_RandomColor):
    """Adds a random brightness offset to each image (in training).

    The offset is drawn uniformly from ``[lower, upper] * (high - low)`` of ``value_range``: with the
    default range (0, 255), ``factor=0.2`` adds up to +-51. The result is clipped to ``value_range``.

    Args:
        factor: a number f in [-1, 1] (offsets in [-f, f]) or a pair (lower, upper).
        value_range: the (low, high) range of the pixel values (default (0, 255)).
        seed: makes the offsets repeatable.
        **kwargs: ``name``, ``dtype``, ``input_shape``, ``data_format`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        Same as the input.

    Example:

    >>> x = np.full((1, 2, 2, 3), 100.0)
    >>> layers.RandomBrightness((0.2, 0.2))(x)[0, 0, 0].tolist()
    [151.0, 151.0, 151.0]
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, (-1.0, 1.0), "factor", self.describe(), loose_pairs=True)
        self.value_range = sorted(_check_value_range(value_range, self.describe()))

    def _adjust(self, x, rng):
        delta = rng.uniform(self.factor[0], self.factor[1], size=len(x)) * (self.value_range[1] - self.value_range[0])
        return x + devices.array_module_of(x).asarray(delta.reshape(len(x), 1, 1, 1).astype(x.dtype))

    def backward(self, dy, need_input_gradient=True):
        if not need_input_gradient:
            return None
        return dy if self._kept is None else dy * self._kept
