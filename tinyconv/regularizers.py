"""Weight regularizers: a penalty on a weight's size, added to the training loss.

    Dense(64, kernel_regularizer=tinyconv.regularizers.L2(1e-4))

A regularizer R contributes R(w) to the loss and dR/dw to the weight's gradient (the layer adds it in
``trainable_gradients``):

    L1:  R(w) = l1 * sum |w|        dR/dw = l1 * sign(w)
    L2:  R(w) = l2 * sum w^2        dR/dw = 2 * l2 * w
    L1L2: both.

As in Keras 3 the penalty is a plain sum over the weight (not divided by the batch size).
"""
import inspect
import math

import numpy as np

from . import serialization


class Regularizer:
    """Base class: ``__call__(w)`` is the penalty (a float), ``gradient(w)`` its derivative (an array).

    A subclass overrides both (tinyconv has no autodiff, so the gradient is written by hand) and
    ``get_config``.  The base class itself is the zero penalty.

    Example:

    >>> class L4(tinyconv.regularizers.Regularizer):
    ...     def __call__(self, w):
    ...         return float(np.sum(w ** 4))
    ...     def gradient(self, w):
    ...         return 4 * w ** 3
    ...     def get_config(self):
    ...         return {}
    >>> L4()(np.array([1.0, 2.0])), L4().gradient(np.array([1.0, 2.0]))
    (17.0, array([ 4., 32.]))
    """

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """dR/dw, the penalty's derivative, added to the weight's gradient during training.

        Args:
            x: the weight array.

        Returns:
            An array shaped and typed like ``x``.
        """
        return np.zeros_like(x)

    def get_config(self):
        """The constructor arguments as a dict; ``from_config`` reads it back.

        Raises:
            NotImplementedError: in the base class: a subclass must define it.
        """
        raise NotImplementedError(f"{type(self).__name__} must override get_config()")

    @classmethod
    def from_config(cls, config):
        """A new regularizer from what ``get_config`` returned.

        Args:
            config: a dict of constructor arguments.

        Example:

        >>> tinyconv.regularizers.L1L2.from_config({"l1": 0.1, "l2": 0.0})
        L1L2(l1=0.1, l2=0.0)
        """
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_factor(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float, got {name}={value!r}")
    return float(value)


def _l1_penalty(l1, x):
    return l1 * float(np.sum(np.abs(x), dtype=np.float64))


def _l2_penalty(l2, x):
    return l2 * float(np.sum(np.square(x, dtype=np.float64)))


def _l1_gradient(l1, x):
    return x.dtype.type(l1) * np.sign(x)  # sign(0) = 0: the subgradient Keras's autodiff picks


def _l2_gradient(l2, x):
    return x.dtype.type(2 * l2) * x


class L1(Regularizer):
    """penalty = l1 * sum(|w|); pushes weights to exactly zero (sparse weights).  Also ``l1``.

    Args:
        l1: the factor, a non-negative number.

    Raises:
        ValueError: if ``l1`` is negative, not finite or not a number.

    Example:

    >>> w = np.array([[1.0, -2.0], [0.0, 3.0]], dtype="float32")
    >>> penalty = tinyconv.regularizers.L1(0.1)
    >>> round(penalty(w), 4), penalty.gradient(w)
    (0.6, array([[ 0.1, -0.1],
           [ 0. ,  0.1]], dtype=float32))
    """

    def __init__(self, l1=0.01):
        self.l1 = _check_factor(l1, "l1")

    def __call__(self, x):
        return _l1_penalty(self.l1, x)

    def gradient(self, x):
        return _l1_gradient(self.l1, x)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """penalty = l2 * sum(w^2); "weight decay" through the loss: shrinks every weight towards zero.  Also ``l2``.

    Args:
        l2: the factor, a non-negative number.

    Raises:
        ValueError: if ``l2`` is negative, not finite or not a number.

    Example:

    >>> w = np.array([[1.0, -2.0], [0.0, 3.0]], dtype="float32")
    >>> penalty = tinyconv.regularizers.L2(0.1)
    >>> round(penalty(w), 4), penalty.gradient(w)
    (1.4, array([[ 0.2, -0.4],
           [ 0. ,  0.6]], dtype=float32))
    >>> dense = layers.Dense(4, kernel_regularizer=tinyconv.regularizers.l2(1e-4))
    """

    def __init__(self, l2=0.01):
        self.l2 = _check_factor(l2, "l2")

    def __call__(self, x):
        return _l2_penalty(self.l2, x)

    def gradient(self, x):
        return _l2_gradient(self.l2, x)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """penalty = l1 * sum(|w|) + l2 * sum(w^2).  Also ``l1_l2``.

    Args:
        l1: the L1 factor, a non-negative number.
        l2: the L2 factor, a non-negative number.

    Raises:
        ValueError: if a factor is negative, not finite or not a number.

    Example:

    >>> w = np.array([[1.0, -2.0], [0.0, 3.0]], dtype="float32")
    >>> round(tinyconv.regularizers.L1L2(l1=0.1, l2=0.1)(w), 4)
    2.0
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check_factor(l1, "l1")
        self.l2 = _check_factor(l2, "l2")

    def __call__(self, x):
        return _l1_penalty(self.l1, x) + _l2_penalty(self.l2, x)

    def gradient(self, x):
        return _l1_gradient(self.l1, x) + _l2_gradient(self.l2, x)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


# Keras's lower-case spellings name the same classes: l2(1e-4) is L2(1e-4).
l1 = L1
l2 = L2
l1_l2 = L1L2

_BY_NAME = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
serialization.register("regularizers", {**_BY_NAME, "Regularizer": Regularizer})


def serialize(regularizer):
    """A regularizer as a ``{"class_name": ..., "config": ...}`` dict (None stays None).

    Args:
        regularizer: a ``Regularizer`` or None.

    Example:

    >>> tinyconv.regularizers.serialize(tinyconv.regularizers.L2(1e-4))
    {'class_name': 'L2', 'config': {'l2': 0.0001}}
    """
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config):
    """A regularizer from what ``serialize`` returned (or anything ``get`` accepts).

    Args:
        config: a ``{"class_name": ..., "config": ...}`` dict, or None.

    Raises:
        ValueError: if ``config`` names no known regularizer.

    Example:

    >>> tinyconv.regularizers.deserialize({"class_name": "L1L2", "config": {"l1": 0.1}})
    L1L2(l1=0.1, l2=0.0)
    """
    return get(config)


def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2', 'L2', ...), a config dict, a class or an instance.

    Args:
        identifier: None (returned as it is), a name (the class with its default factor), a
            ``{"class_name": ..., "config": ...}`` dict, a ``Regularizer`` subclass or instance.

    Returns:
        A ``Regularizer``, or None.

    Raises:
        ValueError: for an unknown name, a plain function (it has no gradient), or anything else.

    Example:

    >>> tinyconv.regularizers.get("l2")
    L2(l2=0.01)
    """
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown regularizer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown regularizer {identifier['class_name']!r}")
        return cls.from_config(identifier.get("config", {}))
    if inspect.isclass(identifier) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        raise ValueError(f"Regularizer {identifier!r}: tinyconv has no autodiff, so a regularizer needs a "
                         f"gradient(w) method too; subclass tinyconv.regularizers.Regularizer")
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
