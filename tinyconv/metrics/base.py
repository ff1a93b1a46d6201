"""Stateful metrics (Keras 3's ``keras.metrics.Metric``): state that survives across batches.

A metric is three methods around a few state variables:

    m.update_state(y_true, y_pred, sample_weight=None)   # fold one batch into the state
    m.result()                                          # the value so far
    m.reset_state()                                     # back to zero (fit does it before every epoch)

``m(y_true, y_pred)`` is ``update_state`` then ``result``, as in Keras.  The state variables are
``tinyconv.variables.Variable`` objects (``assign``, ``assign_add``, ``numpy()``), so a metric subclass
written for Keras (``self.total = self.add_variable(shape=(), initializer="zeros", name="total")``) works.

On the GPU a model hands device (CuPy) arrays to the metrics that say they take them (``runs_on_device``:
the means and sums here, the accuracies, the regression metrics); their state then lives on the device and
is only copied to the host when the result is read, so a training step never waits for the GPU because of
a metric.  Every other metric receives host copies of y_true and y_pred, as before.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .. import backend, devices, initializers, naming
from ..devices import DeviceArray
from ..variables import Variable


def _as_float(values, dtype):
    values = devices.asarray(getattr(values, "value", values))
    return values.astype(dtype, copy=False)


def _on_device(*arrays):
    return any(devices.is_device_array(getattr(a, "value", a)) for a in arrays)


class Metric:
    """Base class of the stateful metrics.

    Subclasses create their state in ``__init__`` with ``add_variable`` and implement ``update_state``
    and ``result``; the default ``reset_state`` sets every variable to zero.

    Args:
        name: the metric's name (the key it is logged under); default: the class name in snake case,
            made unique (``precision``, ``precision_1``...) as Keras does.
        dtype: the dtype of the state and the result (default ``backend.floatx()``).

    Example:

    >>> class Count(tinyconv.metrics.Metric):
    ...     def __init__(self, name="count", **kwargs):
    ...         super().__init__(name=name, **kwargs)
    ...         self.seen = self.add_variable(shape=(), initializer="zeros", name="seen")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         self.seen.assign_add(len(y_true))
    ...     def result(self):
    ...         return self.seen.numpy()
    >>> m = Count()
    >>> float(m(np.zeros(3), np.zeros(3))), float(m(np.zeros(2), np.zeros(2)))
    (3.0, 5.0)
    """

    #: True when ``update_state`` takes device (CuPy) arrays; a model gives the other metrics host copies.
    #: A subclass that overrides ``update_state`` is taken as host-only unless it sets this again.
    runs_on_device = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "update_state" in vars(cls) and "runs_on_device" not in vars(cls):
            cls.runs_on_device = False

    def __init__(self, name: str | None = None, dtype: npt.DTypeLike | None = None) -> None:
        self.name = name if name is not None else naming.unique_name(naming.to_snake_case(type(self).__name__))
        self._dtype = backend.standardize_dtype(getattr(dtype, "name", dtype))
        self._variables: list[Variable] = []

    @property
    def dtype(self) -> str:
        """The dtype of the metric's state and result, as a string (``'float32'``)."""
        return self._dtype

    @property
    def variables(self) -> list[Variable]:
        """The state variables, in the order they were added."""
        return list(self._variables)

    def add_variable(self, shape: Sequence[int] = (), initializer: str | Callable[..., Any] = "zeros",
                     dtype: npt.DTypeLike | None = None, aggregation: str = "sum",
                     name: str | None = None) -> Variable:
        """Create one state variable (not trainable) and return it.

        Args:
            shape: its shape (``()`` for a running total).
            initializer: an initializer or its name; ``reset_state`` sets the variable back to zeros.
            dtype: default the metric's dtype.
            aggregation: Keras's argument for distributed training; accepted.
            name: the variable's name.

        Returns:
            A ``tinyconv.variables.Variable``.
        """
        if not hasattr(self, "_variables"):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() in __init__ before add_variable")
        dtype = backend.standardize_dtype(dtype or self._dtype)
        value = initializers.get(initializer)(tuple(shape), dtype=dtype)
        variable = Variable(np.asarray(value, dtype=dtype), dtype=dtype, trainable=False, name=name)
        variable.path = f"{self.name}/{name}"
        self._variables.append(variable)
        return variable

    add_weight = add_variable  # Keras 2's name

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Fold one batch into the state (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self) -> DeviceArray:
        """The metric's value from the state so far (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def reset_state(self) -> None:
        """Set every state variable back to zero (``fit`` does this before each epoch)."""
        for variable in self._variables:
            variable.value[...] = 0

    def reset_states(self) -> None:
        """Keras 2's name for ``reset_state``."""
        self.reset_state()

    def __call__(self, *args: Any, **kwargs: Any) -> DeviceArray:
        """``update_state(*args, **kwargs)`` then ``result()``, as Keras does."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments: ``{"name", "dtype"}`` plus the subclass's own."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """A new metric (with empty state) from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _divide_no_nan(a, b):
    """a / b, and 0 where b is 0 (Keras's divide_no_nan)."""
    a, b = devices.asarray(a), devices.asarray(b)
    xp = devices.array_module_of(a if devices.is_device_array(a) else b)
    safe = xp.where(b == 0, 1, b)
    return xp.where(b == 0, xp.zeros_like(a / safe), a / safe)


def _reduce_to_samples(values, sample_weight, reduce, dtype, who):
    """Keras's reduction: one value per sample, and the weights that go with them.

    Values are first reduced (``reduce``: mean or sum) down to the weights' rank, multiplied by the
    weights, then reduced to one number per sample.
    """
    values = _as_float(values, dtype)
    if sample_weight is None:
        if values.ndim > 1:
            values = reduce(values, axis=tuple(range(1, values.ndim)))
        return values, None
    weights = _as_float(sample_weight, dtype)
    from .functions import same_rank
    values, weights = same_rank(values, weights)
    if values.ndim > weights.ndim:
        values = reduce(values, axis=tuple(range(weights.ndim, values.ndim)))
    try:
        weights = np.broadcast_to(weights, values.shape)
    except ValueError:
        raise ValueError(f"{who}: sample_weight of shape {np.shape(sample_weight)} does not fit values of shape "
                         f"{np.shape(values)}") from None
    values = values * weights
    if weights.ndim > 1:
        weights = reduce(weights, axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weights


def _on_device_like(variable, like):
    """``variable``'s value on ``like``'s device (a host state is copied up once, on the first device update)."""
    if not devices.is_device_array(variable.value):
        variable.value = devices.array_module_of(like).asarray(variable.value)
    return variable.value


class Sum(Metric):
    """The (weighted) sum of every value seen: ``sum_i w_i v_i``.

    Args:
        name: the metric's name (default ``"sum"``).
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.Sum()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    4.0
    """

    runs_on_device = True

    def __init__(self, name: str = "sum", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, values: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> None:
        values, _ = _reduce_to_samples(values, sample_weight, _sum_of(values), self.dtype, f"Sum '{self.name}'")
        if devices.is_device_array(values):
            total = _on_device_like(self.total, values)
            total += values.sum(dtype=np.float64)
        else:
            self.total.value[...] += np.sum(values, dtype=np.float64)

    def result(self) -> DeviceArray:
        return self.total.value[()]


def _sum_of(values):
    return devices.array_module_of(getattr(values, "value", values)).sum


def _mean_of(values):
    return devices.array_module_of(getattr(values, "value", values)).mean


class Mean(Metric):
    """The (weighted) mean of every value seen: ``sum_i w_i v_i / sum_i w_i`` (0 before any value).

    A value with trailing axes is first averaged down to one number per sample (or to the weights'
    rank).  Without weights every sample counts 1; a scalar counts once, or ``sample_weight`` times.

    On the GPU (device arrays in) the state lives on the device.  The metric functions' values (and a model's
    losses) are made for the update alone, so there they wait on the device and are added into ``total`` and
    ``count`` together when the metric is read (``result``, ``variables``): no launch per update.  Values
    handed to ``update_state`` directly are added at once, since their owner may change them afterwards.

    Args:
        name: the metric's name (default ``"mean"``).
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.Mean()
    >>> m.update_state([1, 3, 5, 7])
    >>> float(m.result())
    4.0
    >>> m.reset_state()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    runs_on_device = True

    def __init__(self, name: str = "mean", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")
        # (device per-sample values, host weights or None) not yet in total / count
        self._waiting: list[tuple[Any, Any]] = []

    def update_state(self, values: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> None:
        samples, weights = _reduce_to_samples(values, sample_weight, _mean_of(values), self.dtype,
                                              f"{type(self).__name__} '{self.name}'")
        if devices.is_device_array(samples):
            self._add_waiting()
            total = _on_device_like(self.total, samples)
            total += samples.sum(dtype=np.float64)
            count = _on_device_like(self.count, samples)
            count += weights.sum(dtype=np.float64) if weights is not None else (samples.size if samples.ndim else 1)
            return
        self.total.value[...] += np.sum(samples, dtype=np.float64)
        if weights is not None:
            self.count.value[...] += np.sum(weights, dtype=np.float64)
        else:
            self.count.value[...] += samples.shape[0] if samples.ndim >= 1 else 1

    def _update_with_fresh(self, values, sample_weight=None):
        """``update_state`` for values made for this update alone (a metric function's result, a step's loss):
        on the device, with no weights or host weights of rank <= 1, they wait for the next read, which adds
        them all at once - no launch now, no sync."""
        if _on_device(values) and not _on_device(sample_weight) and np.ndim(sample_weight) <= 1:
            self._wait(values, sample_weight)
            if len(self._waiting) >= MAX_WAITING:
                self._add_waiting()
        else:
            Mean.update_state(self, values, sample_weight=sample_weight)   # (a subclass's takes (y_true, y_pred))

    def _wait(self, values, sample_weight):
        """Keep device ``values`` for the next read.  The ranks are matched as ``_reduce_to_samples`` does
        (values averaged down to the weights' rank), so a read gives what ``update_state`` would have."""
        values = devices.asarray(getattr(values, "value", values))
        if sample_weight is None:
            if values.ndim > 1:
                values = values.mean(axis=tuple(range(1, values.ndim)))
            self._waiting.append((values, None))
            return
        from .functions import same_rank
        values, weights = same_rank(values, np.asarray(getattr(sample_weight, "value", sample_weight),
                                                       dtype=np.float64))
        if values.ndim > weights.ndim:
            values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
        try:
            weights = np.broadcast_to(weights, values.shape)
        except ValueError:
            raise ValueError(f"{type(self).__name__} '{self.name}': sample_weight of shape {np.shape(sample_weight)} "
                             f"does not fit values of shape {values.shape}") from None
        self._waiting.append((values, weights))

    def _add_waiting(self):
        """Fold the waiting device values into ``total`` and ``count``: one concatenation, one reduction."""
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        first = waiting[0][0]
        xp = devices.array_module_of(first)
        values = xp.concatenate([xp.ravel(v) for v, _ in waiting], dtype=np.float64)
        if all(w is None for _, w in waiting):
            added, weight = values.sum(), float(values.size)
        else:
            weights = np.concatenate([np.ones(v.size) if w is None else np.ravel(w) for v, w in waiting])
            added, weight = values @ xp.asarray(weights), float(weights.sum())
        total = _on_device_like(self.total, first)
        total += added
        if devices.is_device_array(self.count.value):
            self.count.value += weight
        else:
            self.count.value[...] += weight

    @property
    def variables(self) -> list[Variable]:
        self._add_waiting()
        return super().variables

    def reset_state(self) -> None:
        # A fresh host zero (no device launch); the next device update moves it up again.
        self._waiting = []
        for variable in self._variables:
            variable.value = np.zeros(variable.shape, dtype=variable.dtype)

    def result(self) -> DeviceArray:
        self._add_waiting()
        return _divide_no_nan(self.total.value, self.count.value)[()].astype(self.dtype)


MeanMetric = Mean  # tinyconv's earlier name

MAX_WAITING = 256  # waiting device updates folded into the state even before a read (bounds the memory held)


class MeanMetricWrapper(Mean):
    """The mean over every sample seen of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    Most metrics are this: ``CategoricalAccuracy`` is the mean of ``categorical_accuracy``.

    Args:
        fn: the function; it returns one value per sample (or per element).
        name: the metric's name (default ``"mean_metric_wrapper"``; ``compile`` names it after ``fn``).
        dtype: the dtype of the state.
        **kwargs: passed on to ``fn`` at every call.

    Example:

    >>> def squared(y_true, y_pred):
    ...     return (np.asarray(y_true) - np.asarray(y_pred)) ** 2
    >>> m = tinyconv.metrics.MeanMetricWrapper(squared, name="sq")
    >>> float(m([0.0, 0.0], [1.0, 3.0]))
    5.0
    """

    runs_on_device = True

    def __init__(self, fn: Callable[..., Any], name: str | None = None, dtype: npt.DTypeLike | None = None,
                 **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: fn must be a function (y_true, y_pred) -> values, got {fn!r}")
        super().__init__(name=name if name is not None else naming.unique_name("mean_metric_wrapper"),
                         dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        # tinyconv's own functions take device arrays; a user's function gets host copies on the GPU.
        from .functions import runs_on_device
        self.runs_on_device = type(self).runs_on_device and runs_on_device(fn)

    # (Keras's signature: the mean of fn(y_true, y_pred), not of values handed in as Mean's are)
    def update_state(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,  # type: ignore[override]
                     sample_weight: npt.ArrayLike | None = None) -> None:
        values = self._fn(devices.asarray(y_true), devices.asarray(y_pred), **self._fn_kwargs)
        self._update_with_fresh(values, sample_weight=sample_weight)   # (the function's values are fresh)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fn": getattr(self._fn, "__name__", repr(self._fn)), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        config = dict(config)
        fn = config.pop("fn")
        if isinstance(fn, str):
            from . import functions
            found = getattr(functions, fn, None)
            if found is None:
                raise ValueError(f"MeanMetricWrapper.from_config: unknown metric function {fn!r}")
            fn = found
        return cls(fn, **config)
