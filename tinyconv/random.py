"""``tinyconv.random``: Keras's ``keras.random`` - random tensors, seeds, and the dropout op.

Where the randomness comes from, by the ``seed`` argument every function takes:

* ``None``: tinyconv's global generator, which ``tinyconv.utils.set_random_seed(n)`` re-seeds
  (so a script that sets the seed once is repeatable);
* an int: a generator of its own seeded with it - the same int gives the same numbers every call;
* a ``SeedGenerator``: a seed with a state, advanced by each draw, so successive calls differ yet the
  whole sequence repeats for the same starting seed (Keras's way to seed a layer's dropout).

The generators are NumPy's (PCG64): the numbers differ from Keras's (each Keras backend draws its
own anyway); the distributions, shapes, dtypes and seeding semantics are Keras's.  On the GPU device
the results are moved to it.

``dropout`` is differentiable: it is a ``tinyconv.ops`` operation whose backward multiplies the
upstream gradient by the same mask (kept from the forward), so it is recorded on the tape.

The ``Dropout`` layer on the GPU draws its masks with the GPU's own generator (``xp.random``: no host
work and no copy in a training step).  ``set_mask_source("host")`` makes it draw them with NumPy's
generator instead, as on the CPU, and copy them up: the same masks as a CPU run with the same seeds,
for comparing the two devices.
"""
import numpy as np

from . import devices
from .ops.operation import operation, xp
from .utils import random as _global

# Keras's names; tinyconv's own (``set_mask_source``, ``mask_source``) are reached as attributes.
__all__ = ["SeedGenerator", "normal", "uniform", "randint", "truncated_normal", "dropout", "shuffle",
           "categorical", "gamma", "beta", "binomial"]

MASK_SOURCES = ("device", "host")
_mask_source = ["device"]


def set_mask_source(source):
    """Where the ``Dropout`` layer draws its masks when it runs on the GPU.

    Args:
        source: ``"device"`` (the default: the GPU's own random generator, nothing drawn on the host or
            copied in a training step) or ``"host"`` (NumPy's generator with the layer's seed, exactly as
            on the CPU, then copied to the GPU: a GPU run then drops the same units as a CPU run).

    Returns:
        The previous source, so a test can put it back.

    Raises:
        ValueError: for another source.

    Example:

    >>> previous = set_mask_source("host")
    >>> mask_source()
    'host'
    >>> _ = set_mask_source(previous)
    """
    if source not in MASK_SOURCES:
        raise ValueError(f"random.set_mask_source: source must be one of {list(MASK_SOURCES)}, got {source!r}")
    previous = _mask_source[0]
    _mask_source[0] = source
    return previous


def mask_source():
    """``"device"`` or ``"host"``: where ``Dropout`` draws its masks on the GPU (see ``set_mask_source``).

    Example:

    >>> mask_source()
    'device'
    """
    return _mask_source[0]


def device_generator(array_module, seed=None):
    """A random generator living on ``array_module``'s device (``cupy.random.default_rng``).

    Args:
        array_module: the device's array module (CuPy).
        seed: an int; None draws one from tinyconv's global generator (so
            ``tinyconv.utils.set_random_seed`` makes the device's draws repeatable too).

    Returns:
        The module's ``Generator``.
    """
    if seed is None:
        seed = int(_global.global_rng().integers(0, 2 ** 63 - 1))
    return array_module.random.default_rng(seed)


def dropout_mask(generator, array_module, shape, rate, dtype):
    """keep / (1 - rate), drawn on the device: keep[i] = 1 with probability 1 - rate, else 0.

    One uniform draw and one comparison-and-select; a kept entry holds ``dtype(1 / (1 - rate))``, as the
    host mask ``(keep / (1 - rate)).astype(dtype)`` does.

    Args:
        generator: a device generator (``device_generator``).
        array_module: its array module.
        shape: the mask's shape.
        rate: the probability of dropping each value, in [0, 1).
        dtype: the mask's dtype (the input's).

    Returns:
        The mask, a device array of ``shape`` and ``dtype``.
    """
    dtype = np.dtype(dtype)
    uniform = generator.random(shape, dtype=dtype if dtype in (np.float32, np.float64) else np.float32)
    return array_module.where(uniform >= rate, dtype.type(1.0 / (1.0 - rate)), dtype.type(0))


class SeedGenerator:
    """A seed that advances with each draw: successive draws differ, the sequence repeats.

    Args:
        seed: the starting seed, an int; None (default) draws one from the global generator
            (``tinyconv.utils.set_random_seed`` makes that repeatable too).
        name: an optional name.

    Example:

    >>> a, b = SeedGenerator(7), SeedGenerator(7)
    >>> x1, x2 = normal((2,), seed=a), normal((2,), seed=a)
    >>> bool((x1 != x2).all()), bool((x1 == normal((2,), seed=b)).all())
    (True, True)
    """

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"SeedGenerator: unexpected keyword arguments {sorted(kwargs)}")
        if seed is None:
            seed = int(_global.global_rng().integers(0, 2 ** 31 - 1))
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"SeedGenerator: seed must be a non-negative int or None, got {seed!r}")
        self.initial_seed = int(seed)
        self.name = name or "seed_generator"
        self._draws = 0

    @property
    def state(self):
        """[seed, number of draws so far]: everything that decides the next draw."""
        return np.array([self.initial_seed, self._draws], dtype=np.int64)

    def next(self, ordered=True):
        """The seed of the next draw (a pair of ints), advancing the state by one."""
        value = np.array([self.initial_seed, self._draws], dtype=np.int64)
        self._draws += 1
        return value

    def generator(self):
        """A NumPy generator for the next draw (advances the state)."""
        return np.random.default_rng([int(v) for v in self.next()])

    def get_config(self):
        return {"seed": self.initial_seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator seed={self.initial_seed} draws={self._draws}>"


def _rng(seed, where):
    """The NumPy generator a draw uses, from the ``seed`` argument (see the module docstring)."""
    if seed is None:
        return _global.global_rng()
    if isinstance(seed, SeedGenerator):
        return seed.generator()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise TypeError(f"random.{where}: seed must be None, a non-negative int or a SeedGenerator, got {seed!r}")


def _shape(shape, where):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
        raise ValueError(f"random.{where}: shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(n) for n in shape)


def _float_dtype(dtype, where):
    dtype = np.dtype(dtype or "float32")
    if dtype.kind != "f":
        raise ValueError(f"random.{where}: dtype must be a float dtype, got {dtype}")
    return dtype


def _placed(array):
    """The result on the active device (NumPy on the CPU, CuPy on the GPU)."""
    return devices.to_device(array)


def _host(value):
    return devices.to_host(value) if devices.is_device_array(value) else np.asarray(value)


# ================================================================ draws
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of the normal distribution N(mean, stddev^2).

    Args:
        shape: the output's shape.
        mean: the mean (default 0).
        stddev: the standard deviation (default 1).
        dtype: a float dtype (default float32).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of ``shape``.

    Example:

    >>> normal((2, 3), seed=1).shape
    (2, 3)
    """
    dtype = _float_dtype(dtype, "normal")
    values = _rng(seed, "normal").normal(_host(mean), _host(stddev), _shape(shape, "normal"))
    return _placed(values.astype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples of the uniform distribution on [minval, maxval).

    Args:
        shape: the output's shape.
        minval: the lower bound, included (default 0).
        maxval: the upper bound, excluded (default 1).
        dtype: a float dtype (default float32).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of ``shape``.

    Example:

    >>> x = uniform((1000,), minval=2.0, maxval=3.0, seed=0)
    >>> bool((x >= 2).all() and (x < 3).all())
    True
    """
    dtype = _float_dtype(dtype, "uniform")
    values = _rng(seed, "uniform").uniform(_host(minval), _host(maxval), _shape(shape, "uniform"))
    return _placed(np.minimum(values.astype(dtype), np.nextafter(np.asarray(maxval, dtype), -np.inf, dtype=dtype)))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Uniform random integers in [minval, maxval).

    Args:
        shape: the output's shape.
        minval: the lowest value, included.
        maxval: the bound, excluded.
        dtype: an integer dtype (default int32).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of ``shape``.

    Example:

    >>> sorted(set(randint((100,), 0, 3, seed=0).tolist()))
    [0, 1, 2]
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"random.randint: dtype must be an integer dtype, got {dtype}")
    values = _rng(seed, "randint").integers(_host(minval), _host(maxval), _shape(shape, "randint"))
    return _placed(values.astype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of N(mean, stddev^2) restricted to two standard deviations: values beyond are redrawn.

    Args:
        shape: the output's shape.
        mean: the mean before truncation (default 0).
        stddev: the standard deviation before truncation (default 1).
        dtype: a float dtype (default float32).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of ``shape``, every value within mean +- 2 stddev.

    Example:

    >>> bool((abs(truncated_normal((1000,), seed=0)) <= 2).all())
    True
    """
    dtype = _float_dtype(dtype, "truncated_normal")
    rng = _rng(seed, "truncated_normal")
    z = rng.standard_normal(_shape(shape, "truncated_normal"))
    outside = np.abs(z) > 2
    while outside.any():   # redraw only the rejected cells (about 4.6% each round)
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2
    return _placed((_host(mean) + _host(stddev) * z).astype(dtype))


def gamma(shape, alpha, dtype=None, seed=None):
    """Samples of the gamma distribution with shape ``alpha`` and scale 1 (mean alpha, variance alpha).

    Args:
        shape: the output's shape.
        alpha: the concentration (> 0).
        dtype: a float dtype (default float32).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of ``shape``.

    Example:

    >>> gamma((3,), alpha=2.0, seed=0).dtype
    dtype('float32')
    """
    dtype = _float_dtype(dtype, "gamma")
    return _placed(_rng(seed, "gamma").gamma(_host(alpha), 1.0, _shape(shape, "gamma")).astype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples of the beta distribution Beta(alpha, beta) on [0, 1] (mean alpha / (alpha + beta)).

    Args:
        shape: the output's shape.
        alpha: the first concentration (> 0).
        beta: the second concentration (> 0).
        dtype: a float dtype (default float32).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of ``shape``.

    Example:

    >>> x = beta((100,), 2.0, 5.0, seed=0)
    >>> bool((x >= 0).all() and (x <= 1).all())
    True
    """
    dtype = _float_dtype(dtype, "beta")
    return _placed(_rng(seed, "beta").beta(_host(alpha), _host(beta), _shape(shape, "beta")).astype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples of the binomial distribution: successes in ``counts`` trials of probability ``probabilities``.

    Args:
        shape: the output's shape.
        counts: the number of trials.
        probabilities: the probability of success of each trial.
        dtype: the result's dtype (default float32, as Keras).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of ``shape``.

    Example:

    >>> binomial((4,), counts=10, probabilities=1.0, seed=0).tolist()
    [10.0, 10.0, 10.0, 10.0]
    """
    dtype = np.dtype(dtype or "float32")
    values = _rng(seed, "binomial").binomial(_host(counts).astype(np.int64), _host(probabilities),
                                             _shape(shape, "binomial"))
    return _placed(values.astype(dtype))


# ================================================================ ops on tensors
@operation()
def categorical(logits, num_samples, dtype="int32", seed=None):
    """Draws class indices from the categorical distributions softmax(logits) of each row.

    Each sample is argmax_k (logits_k + G_k) with G_k standard Gumbel noise (the Gumbel-max trick:
    class k wins with probability softmax(logits)_k).  Not differentiable.

    Args:
        logits: (batch, classes) unnormalised log-probabilities.
        num_samples: samples per row.
        dtype: an integer dtype (default int32).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        (batch, num_samples) class indices.

    Example:

    >>> categorical(np.array([[0.0, -1e9], [-1e9, 0.0]]), 3, seed=0).tolist()
    [[0, 0, 0], [1, 1, 1]]
    """
    logits = _host(logits)
    if logits.ndim != 2:
        raise ValueError(f"random.categorical: expected logits of rank 2 (batch, classes), got shape {logits.shape}")
    gumbel = _rng(seed, "categorical").gumbel(size=(logits.shape[0], int(num_samples), logits.shape[1]))
    return _placed(np.argmax(logits[:, None, :] + gumbel, axis=-1).astype(dtype))


@operation(differentiable=("x",), saves=True)
def shuffle(x, axis=0, seed=None):
    """x with its slices along ``axis`` in a random order: y = take(x, perm, axis).

    Backward: the gradient slices put back where they came from, take(g, argsort(perm), axis).

    Args:
        x: input tensor.
        axis: the axis shuffled (default 0).
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of x's shape and dtype.

    Example:

    >>> sorted(shuffle(np.arange(5), seed=0).tolist())
    [0, 1, 2, 3, 4]
    """
    x = x if hasattr(x, "shape") else np.asarray(x)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"random.shuffle: axis {axis} is out of range for an input of rank {x.ndim}")
    permutation = _rng(seed, "shuffle").permutation(x.shape[axis])
    m = xp(x)
    return m.take(x, m.asarray(permutation), axis=axis), permutation


@shuffle.defbackward
def _(g, out, x, axis=0, seed=None, *, saved):
    m = xp(g)
    return m.take(g, m.asarray(np.argsort(saved)), axis=axis)


def _noise_shape(noise_shape, shape):
    if noise_shape is None:
        return tuple(shape)
    noise_shape = tuple(n if n is not None else s for n, s in zip(noise_shape, shape))
    if len(noise_shape) != len(shape) or any(n not in (1, s) for n, s in zip(noise_shape, shape)):
        raise ValueError(f"random.dropout: noise_shape {noise_shape} must have the input's rank and each size "
                         f"1 or the input's ({tuple(shape)})")
    return noise_shape


@operation(differentiable=("inputs",), saves=True)
def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout: y = x * keep / (1 - rate), keep[i] = 1 with probability 1 - rate, else 0.

    The surviving values are scaled up so the expected value is unchanged (nothing to do at
    inference).  Backward: dx = g * keep / (1 - rate), with the very mask of the forward.

    Args:
        inputs: input tensor.
        rate: the probability of dropping each value, in [0, 1).
        noise_shape: the mask's shape, broadcast against the input (1 where the mask is shared,
            None for the input's size); default None: one draw per value.
        seed: None, an int or a ``SeedGenerator``.

    Returns:
        A tensor of the input's shape and dtype.

    Example:

    >>> y = dropout(np.ones(10000, dtype="float32"), 0.2, seed=0)
    >>> sorted(set(y.round(2).tolist())), 0.75 < float((y > 0).mean()) < 0.85
    ([0.0, 1.25], True)
    """
    x = inputs if hasattr(inputs, "shape") else np.asarray(inputs, dtype=np.float32)
    if not 0 <= rate < 1:
        raise ValueError(f"random.dropout: rate must be in [0, 1), got {rate!r}")
    shape = _noise_shape(noise_shape, x.shape)
    keep = _rng(seed, "dropout").uniform(size=shape) >= rate
    scale = xp(x).asarray(keep, dtype=x.dtype) / x.dtype.type(1 - rate) if x.dtype.kind == "f" else \
        xp(x).asarray(keep / (1 - rate), dtype=np.float32)
    return x * scale, scale


@dropout.defbackward
def _(g, out, inputs, rate, noise_shape=None, seed=None, *, saved):
    return (g * saved).astype(g.dtype, copy=False)
