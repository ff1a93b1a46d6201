"""Accuracy metrics: the fraction of samples (or elements) predicted right, averaged over every batch seen.

Each is ``MeanMetricWrapper`` around the function of the same name in ``functions.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy.typing as npt

from . import functions
from .base import MeanMetricWrapper


class _FixedFunctionMetric(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the class; its config holds only its own arguments."""

    _function: ClassVar[Callable[..., Any] | None] = None

    def __init__(self, name: str, dtype: npt.DTypeLike | None = None, **kwargs: Any) -> None:
        function: Any = type(self)._function  # (None on a subclass without one: MeanMetricWrapper says so)
        super().__init__(function, name=name, dtype=dtype, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        return cls(**config)


class Accuracy(_FixedFunctionMetric):
    """How often ``y_pred`` equals ``y_true`` exactly (for class ids, not scores).

    Args:
        name: default ``"accuracy"``.
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.Accuracy()
    >>> float(m([[1], [2], [3], [4]], [[0], [2], [3], [4]]))
    0.75
    """

    _function = staticmethod(functions.accuracy)

    def __init__(self, name: str = "accuracy", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)


class BinaryAccuracy(_FixedFunctionMetric):
    """How often ``y_pred > threshold`` matches a 0/1 target, element by element.

    Args:
        name: default ``"binary_accuracy"``.
        dtype: the dtype of the state.
        threshold: the score above which a prediction counts as 1 (use 0.0 for logits).

    Example:

    >>> m = tinyconv.metrics.BinaryAccuracy()
    >>> float(m([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]))
    0.75
    """

    _function = staticmethod(functions.binary_accuracy)

    def __init__(self, name: str = "binary_accuracy", dtype: npt.DTypeLike | None = None,
                 threshold: float = 0.5) -> None:
        super().__init__(name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(_FixedFunctionMetric):
    """How often the highest score's class is the one-hot target's class.

    Args:
        name: default ``"categorical_accuracy"``.
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.CategoricalAccuracy()
    >>> float(m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    0.5
    """

    _function = staticmethod(functions.categorical_accuracy)

    def __init__(self, name: str = "categorical_accuracy", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)


class SparseCategoricalAccuracy(_FixedFunctionMetric):
    """How often the highest score's class is the integer label.

    Args:
        name: default ``"sparse_categorical_accuracy"``.
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.SparseCategoricalAccuracy()
    >>> float(m([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]))
    0.5
    """

    _function = staticmethod(functions.sparse_categorical_accuracy)

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)


class TopKCategoricalAccuracy(_FixedFunctionMetric):
    """How often the one-hot target's class is among the ``k`` highest scores.

    Args:
        k: how many of the best-scored classes count (default 5).
        name: default ``"top_k_categorical_accuracy"``.
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.TopKCategoricalAccuracy(k=1)
    >>> float(m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    0.5
    """

    _function = staticmethod(functions.top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy",
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(_FixedFunctionMetric):
    """How often the integer label is among the ``k`` highest scores.

    Args:
        k: how many of the best-scored classes count (default 5).
        name: default ``"sparse_top_k_categorical_accuracy"``.
        dtype: the dtype of the state.
        from_sorted_ids: y_pred holds class ids sorted best first instead of scores.

    Example:

    >>> m = tinyconv.metrics.SparseTopKCategoricalAccuracy(k=1)
    >>> float(m([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    0.5
    """

    _function = staticmethod(functions.sparse_top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy",
                 dtype: npt.DTypeLike | None = None, from_sorted_ids: bool = False) -> None:
        super().__init__(name=name, dtype=dtype, k=k, from_sorted_ids=from_sorted_ids)
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config
