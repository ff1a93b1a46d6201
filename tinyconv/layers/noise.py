"""Regularisation by noise, active only in training: SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout.

* ``SpatialDropout*``: dropout that drops whole feature maps (channels) rather than single cells.
  Neighbouring cells of a feature map are strongly correlated, so dropping single cells barely
  regularises a conv net; dropping the whole channel does (Tompson et al., 2015).  Keras semantics:
  the mask has shape (batch, 1, ..., 1, channels) and kept channels are scaled by 1 / (1 - rate).
* ``GaussianNoise(stddev)``: y = x + n, n ~ N(0, stddev^2).  Backward is the identity.
* ``GaussianDropout(rate)``: y = x * m, m ~ N(1, rate / (1 - rate)): multiplicative noise with the
  same mean and variance as inverted dropout.  Backward multiplies by the same m.
At inference every one of them is the identity.  On the GPU their random numbers come from the device's
own generator, or, with ``tinyconv.random.set_mask_source("host")``, from NumPy's exactly as on the CPU.
"""
import numpy as np

from .. import devices, random as random_module
from ..utils.random import make_rng
from .arguments import check_data_format, input_layout
from .base import Layer
from .core import Dropout


class _SpatialDropout(Dropout):
    """Dropout whose mask is shared along the spatial axes: one keep/drop per (sample, channel)."""

    spatial_rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = check_data_format(data_format, self.describe())
        self.expected_ndim = self.spatial_rank + 2

    def _rank_hint(self):
        return input_layout(self.spatial_rank, self.data_format)

    def forward(self, x, training=False):
        # Keep the batch and channel axes, share the mask along the others.
        channel_axis = 1 if self.data_format == "channels_first" else x.ndim - 1
        self.noise_shape = tuple(x.shape[a] if a in (0, channel_axis) else 1 for a in range(x.ndim))
        return super().forward(x, training=training)

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        config.pop("noise_shape")
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of (batch, steps, channels) inputs.

    In training each whole channel is kept with probability 1 - rate (and scaled by 1 / (1 - rate))
    or set to 0 in every position; at inference the layer is the identity.

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        seed: seed of the dropout mask's random numbers, or ``None``.

    Input shape:
        ``(batch, steps, channels)`` (channels_last).

    Output shape:
        The input's shape.

    Example:

    >>> y = layers.SpatialDropout1D(0.5, seed=0)(np.ones((1, 4, 6)), training=True)
    >>> bool((y == y[:, :1, :]).all())  # a channel is dropped at every step or at none
    True
    """

    spatial_rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, data_format="channels_last", seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")
        return config


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of images (NHWC, or NCHW with data_format='channels_first').

    In training each whole channel is kept with probability 1 - rate (and scaled by 1 / (1 - rate))
    or set to 0 in every position; at inference the layer is the identity.

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        seed: seed of the dropout mask's random numbers, or ``None``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        The input's shape.

    Example:

    >>> y = layers.SpatialDropout2D(0.5, seed=0)(np.ones((1, 3, 3, 6)), training=True)
    >>> bool((y == y[:, :1, :1, :]).all())  # a map is dropped everywhere or nowhere
    True
    """

    spatial_rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature maps of volumes (batch, d1, d2, d3, channels).

    In training each whole channel is kept with probability 1 - rate (and scaled by 1 / (1 - rate))
    or set to 0 in every position; at inference the layer is the identity.

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        seed: seed of the dropout mask's random numbers, or ``None``.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        The input's shape.

    Example:

    >>> y = layers.SpatialDropout3D(0.5, seed=0)(np.ones((1, 2, 3, 3, 6)), training=True)
    >>> bool((y == y[:, :1, :1, :1, :]).all())  # a volume is dropped everywhere or nowhere
    True
    """

    spatial_rank = 3


class _NormalNoise(Layer):
    """What GaussianNoise and GaussianDropout share: N(0, 1) draws shaped like the input, next to it."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = make_rng(seed) if seed is not None else None
        self._device_rng = None   # the GPU's generator, made on the first training call there

    def _noise_like(self, x, transform):
        """``transform(n)`` in x's dtype, n ~ N(0, 1) of x's shape, on x's device.  On the GPU the device's
        own generator draws it (nothing drawn on the host or copied), unless ``tinyconv.random``'s mask
        source is "host": then NumPy's generator with the layer's seed draws it, as on the CPU, and it is
        copied up (a GPU run then sees the same noise as a CPU run)."""
        xp = devices.array_module_of(x)
        if devices.is_device_array(x) and random_module.mask_source() == "device":
            if self._device_rng is None:
                self._device_rng = random_module.device_generator(xp, self.seed)
            return transform(self._device_rng.standard_normal(x.shape, dtype=x.dtype)).astype(x.dtype, copy=False)
        rng = self._rng if self._rng is not None else make_rng(None)
        return xp.asarray(transform(rng.standard_normal(x.shape)).astype(x.dtype))


class GaussianNoise(_NormalNoise):
    """Adds N(0, stddev^2) noise in training; the identity at inference and in backward.

    Args:
        stddev: the noise's standard deviation.
        seed: seed of the noise's random numbers, or ``None``.

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> layers.GaussianNoise(0.1, seed=0)(np.ones((2, 3))).tolist()  # inference: the identity
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    >>> layers.GaussianNoise(0.1, seed=0)(np.ones((2, 3)), training=True).shape
    (2, 3)
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not stddev >= 0:
            raise ValueError(f"{self.describe()}: stddev must be >= 0, got {stddev!r}")
        self.stddev = float(stddev)

    def forward(self, x, training=False):
        if not training or self.stddev == 0:
            return x
        return x + self._noise_like(x, lambda n: self.stddev * n)

    def backward(self, dy, need_input_gradient=True):
        return dy  # d(x + n)/dx = 1: the noise does not depend on x

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_NormalNoise):
    """Multiplies by N(1, rate / (1 - rate)) noise in training; the identity at inference.

    Args:
        rate: the drop rate whose dropout this noise matches, in [0, 1).
        seed: seed of the noise's random numbers, or ``None``.

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> layers.GaussianDropout(0.2, seed=0)(np.ones((2, 3))).tolist()  # inference: the identity
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"{self.describe()}: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._noise = None
            return x
        stddev = float(np.sqrt(self.rate / (1.0 - self.rate)))   # a Python float keeps x's dtype
        self._noise = self._noise_like(x, lambda n: 1.0 + stddev * n)
        return x * self._noise

    def backward(self, dy, need_input_gradient=True):
        return dy if self._noise is None else dy * self._noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
