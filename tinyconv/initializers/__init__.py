"""Weight initializers with Keras 3's names, defaults and formulas.

``fan_in`` is how many inputs feed one output unit, ``fan_out`` how many outputs one input feeds. For a Dense
kernel ``(in, out)`` they are ``in`` and ``out``; for a Conv2D kernel ``(kh, kw, in, out)`` each is multiplied
by the receptive field ``kh * kw``. The variance-scaling family draws weights with variance ``scale / n``
where ``n`` is fan_in, fan_out or their average, so activations keep roughly the same size layer after layer:

* Glorot (Xavier): scale 1, n = (fan_in + fan_out) / 2 -- uniform limit sqrt(6 / (fan_in + fan_out))
* He (Kaiming):    scale 2, n = fan_in                 -- for ReLU networks
* LeCun:           scale 1, n = fan_in                 -- for SELU networks

The *normal* variants draw from a normal truncated at 2 standard deviations (redrawing anything beyond),
with the stddev divided by 0.8796... to make up for the variance the truncation removes.

An initializer with an integer ``seed`` gives the same values every call (Keras 3 behaviour); without one
it draws from tinyconv's global generator (see ``tinyconv.utils.random.set_random_seed``).
"""
import inspect
import math

import numpy as np

from .. import serialization
from ..utils.random import make_rng

# stddev of a standard normal truncated to [-2, 2]; dividing by it restores the wanted variance
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) for a weight shape, Keras's rule (see the module docstring).

    Args:
        shape: a weight shape: () or (n,) count as n in and n out, (in, out) for Dense, (kh, kw, in, out)
            for Conv2D (the receptive field multiplies both).

    Returns:
        A tuple of two ints.

    Example:

    >>> tinyconv.initializers.compute_fans((784, 10)), tinyconv.initializers.compute_fans((3, 3, 16, 32))
    ((784, 10), (144, 288))
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_shape(who, shape):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: shape must be a tuple of non-negative ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{who}: shape must be a tuple of non-negative ints, got {shape!r}")
    return shape


def _check_dtype(who, dtype):
    dtype = np.dtype("float32" if dtype is None else dtype)
    if dtype.kind != "f":
        raise ValueError(f"{who}: expected a float dtype, got {dtype}")
    return dtype


def _truncated_normal(rng, shape, stddev, mean=0.0):
    """Normal(mean, stddev) restricted to mean +- 2 stddev, by redrawing the values that fall outside."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return mean + stddev * out


class Initializer:
    """Base class: ``init(shape, dtype) -> np.ndarray``.

    A subclass defines ``__call__(shape, dtype)`` and, if it takes arguments, ``get_config``.

    Example:

    >>> class Twos(tinyconv.initializers.Initializer):
    ...     def __call__(self, shape, dtype="float32"):
    ...         return np.full(shape, 2.0, dtype=dtype)
    >>> Twos()((2,))
    array([2., 2.], dtype=float32)
    """

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments as a dict; ``from_config`` reads it back.

        Example:

        >>> tinyconv.initializers.RandomUniform(-1.0, 1.0, seed=3).get_config()
        {'minval': -1.0, 'maxval': 1.0, 'seed': 3}
        """
        return {}

    @classmethod
    def from_config(cls, config):
        """A new initializer from what ``get_config`` returned.

        Args:
            config: a dict of constructor arguments.
        """
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class _Random(Initializer):
    """Shared seed handling: a fixed seed gives a fresh generator (same values) on every call."""

    def __init__(self, seed=None):
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be a non-negative int or None, got {seed!r}")
        self.seed = seed

    def _rng(self):
        return make_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


class Zeros(Initializer):
    """All zeros (Keras's default for biases).

    Example:

    >>> tinyconv.initializers.Zeros()(3)
    array([0., 0., 0.], dtype=float32)
    """

    def __call__(self, shape, dtype="float32"):
        return np.zeros(_check_shape("Zeros", shape), dtype=_check_dtype("Zeros", dtype))


class Ones(Initializer):
    """All ones (BatchNormalization's gamma).

    Example:

    >>> tinyconv.initializers.Ones()((2,), dtype="float64")
    array([1., 1.])
    """

    def __call__(self, shape, dtype="float32"):
        return np.ones(_check_shape("Ones", shape), dtype=_check_dtype("Ones", dtype))


class Constant(Initializer):
    """Every entry equal to ``value``.

    Args:
        value: the number to fill with.

    Example:

    >>> tinyconv.initializers.Constant(0.5)((2, 2))
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)
    """

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return np.full(_check_shape("Constant", shape), self.value, dtype=_check_dtype("Constant", dtype))

    def get_config(self):
        return {"value": self.value}


class RandomNormal(_Random):
    """Normal(mean, stddev), untruncated.

    Args:
        mean: the mean.
        stddev: the standard deviation.
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Example:

    >>> w = tinyconv.initializers.RandomNormal(stddev=1.0, seed=0)((10000,))
    >>> round(float(w.std()), 1)
    1.0
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check_shape("RandomNormal", shape), _check_dtype("RandomNormal", dtype)
        return self._rng().normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(_Random):
    """Normal(mean, stddev) redrawn beyond 2 stddev.

    Args:
        mean: the mean.
        stddev: the standard deviation before truncation.
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Example:

    >>> w = tinyconv.initializers.TruncatedNormal(stddev=1.0, seed=0)((10000,))
    >>> bool(np.abs(w).max() <= 2.0)
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check_shape("TruncatedNormal", shape), _check_dtype("TruncatedNormal", dtype)
        return _truncated_normal(self._rng(), shape, self.stddev, self.mean).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Random):
    """Uniform on [minval, maxval).

    Args:
        minval: the lower bound.
        maxval: the upper bound (excluded).
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: if ``maxval`` < ``minval``.

    Example:

    >>> w = tinyconv.initializers.RandomUniform(0.0, 1.0, seed=0)((1000,))
    >>> bool(w.min() >= 0.0 and w.max() < 1.0)
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        if maxval < minval:
            raise ValueError(f"RandomUniform: maxval ({maxval}) must not be below minval ({minval})")
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype="float32"):
        shape, dtype = _check_shape("RandomUniform", shape), _check_dtype("RandomUniform", dtype)
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(_Random):
    """Weights with variance scale / n, n chosen by ``mode`` ('fan_in', 'fan_out', 'fan_avg').

    'truncated_normal': stddev = sqrt(scale / n) / 0.8796..., cut at 2 stddev
    'untruncated_normal': stddev = sqrt(scale / n)
    'uniform': U(-limit, limit) with limit = sqrt(3 scale / n)

    Args:
        scale: a positive factor.
        mode: 'fan_in', 'fan_out' or 'fan_avg' (see ``compute_fans``).
        distribution: 'truncated_normal', 'untruncated_normal' or 'uniform'.
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: for a non-positive scale, an unknown mode or distribution.

    Example:

    >>> init = tinyconv.initializers.VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=0)
    >>> bool(np.abs(init((100, 50))).max() <= np.sqrt(6 / 100))   # He uniform
    True
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if not scale > 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling: distribution must be 'truncated_normal', 'untruncated_normal' "
                             f"or 'uniform', got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype="float32"):
        who = type(self).__name__
        shape, dtype = _check_shape(who, shape), _check_dtype(who, dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, math.sqrt(variance) / _TRUNCATED_STDDEV)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, shape)
        return values.astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed scale/mode/distribution; only ``seed`` is configurable."""

    _preset = {}

    def __init__(self, seed=None):
        super().__init__(seed=seed, **self._preset)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)). Keras's default kernel initializer.

    Args:
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: for a negative or non-integer seed; when called, for a bad shape or a non-float dtype.

    Example:

    >>> w = tinyconv.initializers.GlorotUniform(seed=1)((784, 10))
    >>> bool(np.abs(w).max() <= np.sqrt(6 / (784 + 10)))
    True
    >>> np.array_equal(w, tinyconv.initializers.GlorotUniform(seed=1)((784, 10)))   # a seed repeats itself
    True
    """
    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}


class GlorotNormal(_Preset):
    """Truncated normal, stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796...

    Args:
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: for a negative or non-integer seed; when called, for a bad shape or a non-float dtype.

    Example:

    >>> w = tinyconv.initializers.GlorotNormal(seed=0)((400, 100))
    >>> w.shape, w.dtype, round(float(w.std()), 3)   # about sqrt(2 / 500)
    ((400, 100), dtype('float32'), 0.063)
    """
    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}


class HeNormal(_Preset):
    """Truncated normal, stddev = sqrt(2 / fan_in) / 0.8796...

    Args:
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: for a negative or non-integer seed; when called, for a bad shape or a non-float dtype.

    Example:

    >>> w = tinyconv.initializers.HeNormal(seed=0)((400, 100))
    >>> w.shape, w.dtype, round(float(w.std()), 3)   # about sqrt(2 / 400)
    ((400, 100), dtype('float32'), 0.071)
    """
    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}


class HeUniform(_Preset):
    """U(-limit, limit), limit = sqrt(6 / fan_in).

    Args:
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: for a negative or non-integer seed; when called, for a bad shape or a non-float dtype.

    Example:

    >>> w = tinyconv.initializers.HeUniform(seed=0)((400, 100))
    >>> w.shape, w.dtype, round(float(w.std()), 3)   # sqrt(2 / 400)
    ((400, 100), dtype('float32'), 0.071)
    """
    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}


class LecunNormal(_Preset):
    """Truncated normal, stddev = sqrt(1 / fan_in) / 0.8796...

    Args:
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: for a negative or non-integer seed; when called, for a bad shape or a non-float dtype.

    Example:

    >>> w = tinyconv.initializers.LecunNormal(seed=0)((400, 100))
    >>> w.shape, w.dtype, round(float(w.std()), 3)   # about sqrt(1 / 400)
    ((400, 100), dtype('float32'), 0.05)
    """
    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}


class LecunUniform(_Preset):
    """U(-limit, limit), limit = sqrt(3 / fan_in).

    Args:
        seed: a non-negative int gives the same values on every call; None draws from the global generator.

    Raises:
        ValueError: for a negative or non-integer seed; when called, for a bad shape or a non-float dtype.

    Example:

    >>> w = tinyconv.initializers.LecunUniform(seed=0)((400, 100))
    >>> w.shape, w.dtype, round(float(w.std()), 3)   # sqrt(1 / 400)
    ((400, 100), dtype('float32'), 0.05)
    """
    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}


_CLASSES = [Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal, LecunUniform]
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
})
serialization.register("initializers", {**_BY_NAME, "Initializer": Initializer})

# Keras's lowercase aliases of the classes (keras.initializers.zeros, glorot_uniform, ...)
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform


def _hand_designed(name):
    """Sobel, Gabor, ... (``hand_designed.py``), imported only when asked for by name."""
    from .hand_designed import KERNELS

    return KERNELS.get(name)


def get(identifier):
    """An initializer from a name ('glorot_uniform', 'HeNormal'), a config dict, an instance, a class or a
    callable ``(shape, dtype) -> array`` (returned as is). None gives None.

    The hand-designed kernels of ``tinyconv.teaching`` ('Sobel', 'Gabor', ...) are found by name too.

    Args:
        identifier: None, a name, a ``{"class_name": ..., "config": ...}`` dict, an ``Initializer`` subclass
            or instance, or a callable.

    Raises:
        ValueError: for an unknown name or anything else it cannot interpret.

    Example:

    >>> tinyconv.initializers.get("he_normal")
    HeNormal(seed=None)
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _hand_designed(identifier)
        if cls is None:
            raise ValueError(f"Unknown initializer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(identifier["class_name"]) or _hand_designed(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown initializer class {identifier['class_name']!r}")
        return cls.from_config(identifier.get("config", {}))
    if inspect.isclass(identifier) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(initializer):
    """An initializer as a ``{"class_name": ..., "config": ...}`` dict, which ``deserialize`` reads back.

    Args:
        initializer: an ``Initializer``.

    Example:

    >>> tinyconv.initializers.serialize(tinyconv.initializers.Constant(0.5))
    {'class_name': 'Constant', 'config': {'value': 0.5}}
    """
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def deserialize(config):
    """An initializer from what ``serialize`` returned (or anything ``get`` accepts).

    Args:
        config: a ``{"class_name": ..., "config": ...}`` dict.

    Raises:
        ValueError: if ``config`` names no known initializer.

    Example:

    >>> tinyconv.initializers.deserialize({"class_name": "HeNormal", "config": {"seed": 3}})
    HeNormal(seed=3)
    """
    return get(config)
