"""One random generator for the whole library, so ``set_random_seed`` makes runs repeatable."""
import random as _py_random

import numpy as np

_generator = np.random.default_rng()


def set_random_seed(seed):
    """Seed tinyconv's generator (initializers, dropout, shuffling), NumPy's and Python's.

    Args:
        seed: a non-negative integer.

    Raises:
        ValueError: for anything else.

    Example:

    >>> tinyconv.utils.set_random_seed(7)
    >>> first = layers.Dense(2)(np.ones((1, 3)))
    >>> tinyconv.utils.set_random_seed(7)
    >>> bool(np.all(layers.Dense(2)(np.ones((1, 3))) == first))
    True
    """
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative integer seed, got {seed!r}")
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _generator = np.random.default_rng(int(seed))


def global_rng():
    """The generator every random draw in tinyconv uses.

    ``set_random_seed`` replaces it, so a seeded script draws the same initial weights, shuffles
    and dropout masks on every run.

    Returns:
        A ``numpy.random.Generator``.

    Example:

    >>> set_random_seed(7)
    >>> first = global_rng().random()
    >>> set_random_seed(7)
    >>> global_rng().random() == first
    True
    """
    return _generator


def make_rng(seed=None):
    """A generator of its own for an explicit ``seed``, else the global one.

    Layers that take a ``seed`` argument (Dropout, the initializers) use this: with a seed they repeat
    their draws whatever else the program draws.

    Args:
        seed: an int, or None for the global generator.

    Returns:
        A ``numpy.random.Generator``.

    Example:

    >>> bool(make_rng(3).integers(100) == make_rng(3).integers(100))
    True
    >>> make_rng() is global_rng()
    True
    """
    return np.random.default_rng(seed) if seed is not None else _generator
