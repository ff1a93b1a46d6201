"""From what ``compile(metrics=[...])`` receives to metric objects, as Keras 3 does it.

'accuracy' / 'acc' pick the accuracy that fits the problem; other names find a function (``"mse"``) or a
class (``"auc"``, ``"precision"``); a function is wrapped in ``MeanMetricWrapper``; a ``Metric`` object is
used as it is (its state is reset at the start of every epoch and every evaluation).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from ..losses import (BinaryCrossentropy as _BinaryCrossentropyLoss,
                      SparseCategoricalCrossentropy as _SparseCategoricalCrossentropyLoss)
from . import accuracy_metrics as accuracy, confusion, f_score, functions, regression
from .base import Mean, MeanMetricWrapper, Metric, Sum

_FUNCTIONS = {
    "sparse_categorical_accuracy": functions.sparse_categorical_accuracy,
    "categorical_accuracy": functions.categorical_accuracy,
    "binary_accuracy": functions.binary_accuracy,
    "top_k_categorical_accuracy": functions.top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": functions.sparse_top_k_categorical_accuracy,
    "mean_squared_error": functions.mean_squared_error,
    "mse": functions.mean_squared_error,
    "mean_absolute_error": functions.mean_absolute_error,
    "mae": functions.mean_absolute_error,
    "mean_absolute_percentage_error": functions.mean_absolute_percentage_error,
    "mape": functions.mean_absolute_percentage_error,
    "sparse_categorical_crossentropy": functions.sparse_categorical_crossentropy,
    "categorical_crossentropy": functions.categorical_crossentropy,
    "binary_crossentropy": functions.binary_crossentropy,
}
_NAMED = _FUNCTIONS  # the name earlier versions used

# A metric as compile(metrics=[...]) and get() take it: a name, a Metric object or class, a function, a config.
MetricLike: TypeAlias = str | Metric | type[Metric] | Callable[..., Any] | dict[str, Any]

_CLASSES: list[type[Metric]] = [Metric, Mean, Sum, MeanMetricWrapper, accuracy.Accuracy, accuracy.BinaryAccuracy,
            accuracy.CategoricalAccuracy, accuracy.SparseCategoricalAccuracy, accuracy.TopKCategoricalAccuracy,
            accuracy.SparseTopKCategoricalAccuracy, regression.MeanSquaredError, regression.MeanAbsoluteError,
            regression.MeanAbsolutePercentageError, regression.RootMeanSquaredError,
            regression.BinaryCrossentropy, regression.CategoricalCrossentropy,
            regression.SparseCategoricalCrossentropy, confusion.TruePositives, confusion.FalsePositives,
            confusion.TrueNegatives, confusion.FalseNegatives, confusion.Precision, confusion.Recall,
            confusion.AUC, f_score.FBetaScore, f_score.F1Score]


def _snake(name):
    from ..naming import to_snake_case
    return to_snake_case(name)


# Keras finds a class by its name and by its snake-case name: "AUC" and "auc", "F1Score" and "f1_score".
CLASSES_BY_NAME: dict[str, type[Metric]] = {cls.__name__: cls for cls in _CLASSES}
CLASSES_BY_NAME.update({_snake(cls.__name__): cls for cls in _CLASSES if _snake(cls.__name__) not in _FUNCTIONS})


def resolve(identifier: MetricLike | None, loss: Any = None, output_shape: Sequence[int | None] | None = None,
            y_true_shape: Sequence[int] | None = None) -> tuple[str, Metric | Callable[..., Any]]:
    """``(display_name, metric)`` for a metric given to ``compile(metrics=[...])``.

    'accuracy' / 'acc' pick the accuracy that fits the problem, and keep the name the user wrote:

    * with ``y_true_shape`` known (Keras 3 decides on the first batch): binary accuracy if the output's last
      dim is 1; else sparse categorical if y_true has lower rank than the output or a last dim of 1;
      else categorical;
    * without it: binary if the loss is BinaryCrossentropy or the output's last dim is 1; sparse categorical
      if the loss is SparseCategoricalCrossentropy; else categorical.

    Names of functions ('sparse_categorical_accuracy', 'mse', 'mae', ...) give the function; names of
    classes ('auc', 'Precision', ...) a new instance; a ``Metric`` object is returned as it is, named by its
    ``name``; other callables are named by ``__name__``.

    Raises:
        ValueError: for None or an unknown name (the message lists the valid ones).
    """
    if identifier is None:
        raise ValueError("Expected a metric, received None")
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return identifier, _pick_accuracy(loss, output_shape, y_true_shape)
    if isinstance(identifier, str):
        found = _FUNCTIONS.get(identifier) or _FUNCTIONS.get(identifier.lower())
        if found is None and identifier in CLASSES_BY_NAME:
            found = CLASSES_BY_NAME[identifier]()
        if found is None:
            valid = ["accuracy", "acc"] + sorted(set(_FUNCTIONS) | set(CLASSES_BY_NAME) - {"Metric", "metric"})
            raise ValueError(f"Unknown metric {identifier!r}. Valid names: {', '.join(valid)}")
        return identifier, found
    if isinstance(identifier, Metric):
        return identifier.name, identifier
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        metric = identifier()
        return metric.name, metric
    if callable(identifier):
        return getattr(identifier, "__name__", type(identifier).__name__), identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def metric_object(identifier: MetricLike | None, loss: Any = None, output_shape: Sequence[int | None] | None = None,
                  y_true_shape: Sequence[int] | None = None) -> tuple[str, Metric]:
    """``(log name, Metric)`` for one entry of ``compile(metrics=...)``: what ``resolve`` finds, with a
    function wrapped in ``MeanMetricWrapper`` (so every compiled metric is a stateful object)."""
    name, found = resolve(identifier, loss, output_shape, y_true_shape)
    if isinstance(found, Metric):
        return name, found
    return name, MeanMetricWrapper(found, name=name)


def _pick_accuracy(loss, output_shape, y_true_shape):
    last = output_shape[-1] if output_shape else None
    if last == 1:
        return functions.binary_accuracy
    if y_true_shape is not None and output_shape is not None:
        if len(y_true_shape) < len(output_shape) or (y_true_shape[-1] == 1 and (last or 0) > 1):
            return functions.sparse_categorical_accuracy
        return functions.categorical_accuracy
    if isinstance(loss, str):
        loss = loss.lower()
    if isinstance(loss, _BinaryCrossentropyLoss) or loss in ("binary_crossentropy", functions.binary_crossentropy):
        return functions.binary_accuracy
    if isinstance(loss, _SparseCategoricalCrossentropyLoss) or loss in (
            "sparse_categorical_crossentropy", functions.sparse_categorical_crossentropy):
        return functions.sparse_categorical_accuracy
    return functions.categorical_accuracy


def get(identifier: MetricLike | None) -> Metric | Callable[..., Any] | None:
    """A metric from a name, a config dict, a class, an object or a function (Keras's ``metrics.get``).

    Args:
        identifier: ``"auc"`` / ``"AUC"`` (a new object), ``"mse"`` (the function), ``{"class_name": ...,
            "config": ...}``, a ``Metric`` class, a ``Metric`` object or a function.

    Returns:
        A ``Metric`` object or a function; None for None.

    Raises:
        ValueError: for what is none of these.

    Example:

    >>> type(tinyconv.metrics.get("AUC")).__name__, tinyconv.metrics.get("mse").__name__
    ('AUC', 'mean_squared_error')
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        found = _FUNCTIONS.get(identifier)
        if found is not None:
            return found
        cls = CLASSES_BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
        return cls()
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric: Metric | Callable[..., Any]) -> dict[str, Any] | str:
    """Keras's dict form of a metric object: ``{"module", "class_name", "config", "registered_name"}``.

    Example:

    >>> tinyconv.metrics.serialize(tinyconv.metrics.AUC(name="auc"))["class_name"]
    'AUC'
    """
    if isinstance(metric, Metric):
        return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
                "registered_name": None}
    if callable(metric):
        return getattr(metric, "__name__", repr(metric))
    raise TypeError(f"metrics.serialize: expected a Metric or a metric function, got {metric!r}")


def deserialize(config: dict[str, Any] | str,
                custom_objects: Mapping[str, Any] | None = None) -> Metric | Callable[..., Any] | None:
    """A metric from ``serialize``'s dict (or a function name).

    Example:

    >>> m = tinyconv.metrics.deserialize({"class_name": "Precision", "config": {"thresholds": 0.3}})
    >>> m.thresholds
    [0.3]
    """
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"metrics.deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or CLASSES_BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Unknown metric class {name!r} (pass your own in custom_objects)")
    return cls.from_config(dict(config.get("config") or {}))
