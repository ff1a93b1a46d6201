"""What the image preprocessing layers share: NHWC batches (channels_first is transposed in and out),
Keras's ``factor`` ranges, and for the random layers a seeded generator and Keras's training rule.

Keras's rule for the random layers: they transform only when ``training`` is true. Inside ``fit`` they
augment, inside ``predict`` / ``evaluate`` they are the identity; called directly, ``layer(images)``
augments (Keras's default there is ``training=True``), so ``layer(images, training=False)`` is needed for
the identity. A ``seed`` makes the sequence of transforms repeatable: two layers built with the same seed
draw the same transforms call after call. Without a seed they draw from tinyconv's generator, which
``tinyconv.utils.set_random_seed`` seeds.
"""
import numbers

import numpy as np

from ...utils.random import global_rng
from ..arguments import check_data_format, contiguous, from_channels_last, input_layout, to_channels_last
from ..base import Layer


class ImageLayer(Layer):
    """A layer over batches of images (N, H, W, C), or (N, C, H, W) with ``data_format="channels_first"``."""

    expected_ndim = 4

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, self.describe())

    def _rank_hint(self):
        return input_layout(2, self.data_format)

    def _spatial(self, shape):
        """(height, width) of an input shape in this layer's data format."""
        return (shape[2], shape[3]) if self.data_format == "channels_first" else (shape[1], shape[2])

    def _with_spatial(self, shape, height, width):
        if self.data_format == "channels_first":
            return (shape[0], shape[1], height, width)
        return (shape[0], height, width, shape[3])

    def _to_nhwc(self, x):
        return to_channels_last(x, self.data_format)

    def _from_nhwc(self, x):
        return contiguous(from_channels_last(x, self.data_format))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class RandomImageLayer(ImageLayer):
    """An image layer that draws a random transform per call in training and is the identity otherwise."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if seed is not None and (not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"{self.describe()}: seed must be None or a non-negative integer, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._own_rng = None if seed is None else np.random.default_rng(self.seed)

    def rng(self):
        """This layer's generator (seeded), or tinyconv's global one (read at each call: it may be reseeded)."""
        return self._own_rng if self._own_rng is not None else global_rng()

    def __call__(self, x, training=True):
        # Keras: called directly on images, a random preprocessing layer augments unless told otherwise.
        return super().__call__(x, training=training)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def factor_range(factor, bounds, what, layer, open_lower=False, loose_pairs=False):
    """Keras's ``factor``: a number f gives (-|f|, |f|) cut to ``bounds``; a pair gives itself, sorted.

    ``open_lower``: the lower bound itself is excluded (RandomZoom's (-1, 1]). ``loose_pairs``: a pair is
    only required to overlap ``bounds`` (Keras's rule for RandomRotation, RandomContrast, RandomBrightness).
    """
    low, high = bounds
    interval = f"({low}, {high}]" if open_lower else f"[{low}, {high}]"

    def bad():
        return ValueError(f"{layer}: {what} must be a number or a pair of numbers in {interval}, got {factor!r}")

    def number(value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise bad()
        return float(value)

    def in_bounds(value):
        if value > high or value < low or (open_lower and value <= low):
            raise bad()
        return value

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise bad()
        first, second = number(factor[0]), number(factor[1])
        if loose_pairs:
            if first > high or second < low:
                raise bad()
        else:
            in_bounds(first), in_bounds(second)
        return tuple(sorted((first, second)))
    magnitude = abs(in_bounds(number(factor)))
    return max(-magnitude, low), magnitude
