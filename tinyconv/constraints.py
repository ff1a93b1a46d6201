"""Weight constraints (``keras.constraints``): a projection applied to a weight after every update.

    Dense(64, kernel_constraint=tinyconv.constraints.MaxNorm(3))

Training with a constraint is projected gradient descent: the optimizer takes its step, then the
weight is replaced by the nearest allowed value, ``w <- constraint(w)``.  As in Keras 3 the projection
belongs to the optimizer's update (``Optimizer.apply`` projects every weight it has just changed),
so a custom training loop that calls ``optimizer.apply(...)`` is projected too.

The norms are taken over ``axis`` (Keras's default 0: for a ``Dense`` kernel ``(in, out)``, one norm per
output unit, over its incoming weights; for a ``Conv2D`` kernel pass ``axis=[0, 1, 2]`` for one norm per
filter).  With ``n`` that norm and ``eps = backend.epsilon()``:

    MaxNorm(m):              w * clip(n, 0, m) / (eps + n)
    MinMaxNorm(lo, hi, r):   w * (r * clip(n, lo, hi) + (1 - r) * n) / (eps + n)
    UnitNorm():              w / (eps + n)
    NonNeg():                max(w, 0)
"""
import inspect

import numpy as np

from . import backend, devices


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (the identity here).

    Subclass it and override ``__call__`` (and ``get_config`` when the constraint has arguments).

    Example:

    >>> class Clip(tinyconv.constraints.Constraint):
    ...     def __call__(self, w):
    ...         return np.clip(w, -1.0, 1.0)
    >>> Clip()(np.array([-3.0, 0.5, 2.0]))
    array([-1. ,  0.5,  1. ])
    """

    def __call__(self, w):
        return w

    def get_config(self):
        """The constructor arguments as a dict (empty for the base class)."""
        return {}

    @classmethod
    def from_config(cls, config):
        """A constraint from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _axis(axis, who):
    """Keras accepts an int or a list of ints (a list after JSON); NumPy wants an int or a tuple."""
    if isinstance(axis, (list, tuple)):
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
            raise TypeError(f"{who}: axis must be an int or a list of ints, got {axis!r}")
        return tuple(int(a) for a in axis)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{who}: axis must be an int or a list of ints, got {axis!r}")
    return int(axis)


def _number(value, name, who):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: {name} must be a number, got {value!r}")
    return value


def _norms(w, axis):
    """The L2 norm of ``w`` over ``axis``, keeping the reduced axes (so it broadcasts against w)."""
    xp = devices.array_module_of(w)
    return xp.sqrt(xp.sum(xp.square(w), axis=axis, keepdims=True))


def _as_float(w):
    xp = devices.array_module_of(w)
    w = xp.asarray(w)
    return w if w.dtype.kind == "f" else w.astype(backend.floatx())


class MaxNorm(Constraint):
    """Rescale each weight vector whose L2 norm exceeds ``max_value`` down to that norm.

    The classic companion of dropout (Srivastava et al. 2014): ``kernel_constraint=MaxNorm(3)``.

    Args:
        max_value: the largest norm allowed (default 2).
        axis: the axis (or list of axes) the norms run over; 0 for a Dense kernel, ``[0, 1, 2]`` for one
            norm per Conv2D filter.

    Example:

    >>> w = np.array([[3.0, 0.3], [4.0, 0.4]])     # column norms 5 and 0.5
    >>> np.round(tinyconv.constraints.MaxNorm(2.0)(w), 4)
    array([[1.2, 0.3],
           [1.6, 0.4]])
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number(max_value, "max_value", "MaxNorm")
        self.axis = axis
        self._axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        w = _as_float(w)
        norms = _norms(w, self._axis)
        xp = devices.array_module_of(w)
        desired = xp.clip(norms, 0, self.max_value)
        return w * (desired / (w.dtype.type(backend.epsilon()) + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Keep each weight vector's L2 norm within ``[min_value, max_value]``, moving it there at ``rate``.

    Args:
        min_value: the smallest norm allowed (default 0).
        max_value: the largest norm allowed (default 1).
        rate: 1.0 projects at once; below 1 each step moves the norm only that fraction of the way:
            ``n' = rate * clip(n, min_value, max_value) + (1 - rate) * n``.
        axis: the axis (or list of axes) the norms run over.

    Example:

    >>> w = np.array([[0.3], [0.4]])                # norm 0.5
    >>> np.round(tinyconv.constraints.MinMaxNorm(1.0, 2.0)(w), 4)
    array([[0.6],
           [0.8]])
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _number(min_value, "min_value", "MinMaxNorm")
        self.max_value = _number(max_value, "max_value", "MinMaxNorm")
        self.rate = _number(rate, "rate", "MinMaxNorm")
        self.axis = axis
        self._axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        w = _as_float(w)
        norms = _norms(w, self._axis)
        xp = devices.array_module_of(w)
        desired = self.rate * xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (w.dtype.type(backend.epsilon()) + norms)).astype(w.dtype, copy=False)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Set negative weights to zero: ``max(w, 0)``.

    Example:

    >>> tinyconv.constraints.NonNeg()(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """

    def __call__(self, w):
        w = _as_float(w)
        return devices.array_module_of(w).maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    """Rescale each weight vector to an L2 norm of 1 (up to the fuzz factor ``epsilon``).

    Args:
        axis: the axis (or list of axes) the norms run over.

    Example:

    >>> np.round(tinyconv.constraints.UnitNorm()(np.array([[3.0], [4.0]])), 4)
    array([[0.6],
           [0.8]])
    """

    def __init__(self, axis=0):
        self.axis = axis
        self._axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        w = _as_float(w)
        return w / (w.dtype.type(backend.epsilon()) + _norms(w, self._axis))

    def get_config(self):
        return {"axis": self.axis}


# Keras's lower-case spellings name the same classes: max_norm(3) is MaxNorm(3).
max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm

_BY_NAME = {"Constraint": Constraint, "MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
            "UnitNorm": UnitNorm, "constraint": Constraint, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
            "non_neg": NonNeg, "unit_norm": UnitNorm}


def serialize(constraint):
    """Keras's dict form of a constraint (``{"module", "class_name", "config", "registered_name"}``).

    Args:
        constraint: a ``Constraint`` (or None).

    Returns:
        A JSON-ready dict, or None.

    Raises:
        TypeError: for a plain function (it has no config to write).

    Example:

    >>> tinyconv.constraints.serialize(tinyconv.constraints.MaxNorm(3))["config"]
    {'max_value': 3, 'axis': 0}
    """
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise TypeError(f"constraints.serialize: expected a tinyconv.constraints.Constraint, got {constraint!r}; "
                        f"a plain function cannot be written to a file (subclass Constraint instead)")
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in constraint.get_config().items()}
    builtin = _BY_NAME.get(type(constraint).__name__) is type(constraint)
    return {"module": "keras.constraints" if builtin else type(constraint).__module__,
            "class_name": type(constraint).__name__, "config": config, "registered_name": None}


def deserialize(config, custom_objects=None):
    """A constraint from ``serialize``'s dict (Keras's or Keras 2's ``{class_name, config}``).

    Args:
        config: the dict.
        custom_objects: ``{class name: class}`` for your own Constraint subclasses.

    Returns:
        A ``Constraint``.

    Raises:
        ValueError: for an unknown class name.

    Example:

    >>> tinyconv.constraints.deserialize({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": [0, 1]}})
    MaxNorm(max_value=3, axis=[0, 1])
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"constraints.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Unknown constraint {name!r}. Valid names: {', '.join(sorted(_BY_NAME))} "
                         f"(pass your own classes in custom_objects)")
    return cls.from_config(config.get("config") or {})


def get(identifier):
    """A constraint from None, a name (``"max_norm"``, ``"MaxNorm"``...), a config dict, a class, an instance
    or a function ``w -> projected w``.

    Args:
        identifier: what a layer's ``kernel_constraint=`` (etc.) received.

    Returns:
        A callable constraint, or None.

    Raises:
        ValueError: for a name or an object that is not a constraint.

    Example:

    >>> tinyconv.constraints.get("non_neg")
    NonNeg()
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret constraint identifier: {identifier!r}. Valid names: "
                             f"{', '.join(sorted(_BY_NAME))}")
        return cls()
    if inspect.isclass(identifier) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")
