"""Error and cross-entropy metrics: the mean over every sample seen of a per-sample error.

``RootMeanSquaredError`` is the one that is not a plain mean: the square root of the mean squared error
over all samples (not the mean of per-batch roots).
"""
from __future__ import annotations

from typing import Any

import numpy.typing as npt

from .. import devices, losses
from ..devices import DeviceArray
from . import functions
from .accuracy_metrics import _FixedFunctionMetric
from .base import Mean


class MeanSquaredError(_FixedFunctionMetric):
    """The mean of ``(y_true - y_pred)^2``.

    Args:
        name: default ``"mean_squared_error"``.
        dtype: the dtype of the state.

    Example:

    >>> float(tinyconv.metrics.MeanSquaredError()([[0, 1], [0, 0]], [[1, 1], [0, 0]]))
    0.25
    """

    _function = staticmethod(losses.mean_squared_error)

    def __init__(self, name: str = "mean_squared_error", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)


class MeanAbsoluteError(_FixedFunctionMetric):
    """The mean of ``|y_true - y_pred|``.

    Args:
        name: default ``"mean_absolute_error"``.
        dtype: the dtype of the state.

    Example:

    >>> float(tinyconv.metrics.MeanAbsoluteError()([[0, 1], [0, 0]], [[1, 1], [0, 0]]))
    0.25
    """

    _function = staticmethod(losses.mean_absolute_error)

    def __init__(self, name: str = "mean_absolute_error", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)


class MeanAbsolutePercentageError(_FixedFunctionMetric):
    """The mean of ``100 * |y_true - y_pred| / max(|y_true|, epsilon)``.

    Args:
        name: default ``"mean_absolute_percentage_error"``.
        dtype: the dtype of the state.

    Example:

    >>> round(float(tinyconv.metrics.MeanAbsolutePercentageError()([[2.0], [4.0]], [[1.0], [5.0]])), 4)
    37.5
    """

    _function = staticmethod(functions.mean_absolute_percentage_error)

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """``sqrt(mean((y_true - y_pred)^2))`` over every element seen (weighted per sample).

    Args:
        name: default ``"root_mean_squared_error"``.
        dtype: the dtype of the state.

    Example:

    >>> float(tinyconv.metrics.RootMeanSquaredError()([[0, 1], [0, 0]], [[1, 1], [0, 0]]))
    0.5
    """

    runs_on_device = True

    def __init__(self, name: str = "root_mean_squared_error", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,  # type: ignore[override]
                     sample_weight: npt.ArrayLike | None = None) -> None:
        y_true, y_pred = functions.same_rank(devices.asarray(y_true, dtype=self.dtype),
                                             devices.asarray(y_pred, dtype=self.dtype))
        difference = y_pred - y_true
        self._update_with_fresh(difference * difference, sample_weight=sample_weight)

    def result(self) -> DeviceArray:
        mean = super().result()
        return devices.array_module_of(mean).sqrt(mean)


class BinaryCrossentropy(_FixedFunctionMetric):
    """The mean binary cross-entropy between 0/1 targets and predicted probabilities (or logits).

    Args:
        name: default ``"binary_crossentropy"``.
        dtype: the dtype of the state.
        from_logits: y_pred holds logits rather than probabilities.
        label_smoothing: in [0, 1]; targets are squeezed towards 0.5 by this much.

    Example:

    >>> round(float(tinyconv.metrics.BinaryCrossentropy()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])), 4)
    0.8149
    """

    _function = staticmethod(losses.binary_crossentropy)

    def __init__(self, name: str = "binary_crossentropy", dtype: npt.DTypeLike | None = None,
                 from_logits: bool = False, label_smoothing: float = 0) -> None:
        super().__init__(name=name, dtype=dtype, from_logits=from_logits, label_smoothing=label_smoothing)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing


class CategoricalCrossentropy(_FixedFunctionMetric):
    """The mean categorical cross-entropy between one-hot targets and predicted probabilities (or logits).

    Args:
        name: default ``"categorical_crossentropy"``.
        dtype: the dtype of the state.
        from_logits: y_pred holds logits rather than probabilities.
        label_smoothing: in [0, 1]; the one-hot targets are mixed with the uniform distribution.
        axis: the class axis; only the last one (-1) is supported.

    Raises:
        ValueError: for an ``axis`` other than -1.

    Example:

    >>> round(float(tinyconv.metrics.CategoricalCrossentropy()([[0, 1, 0], [0, 0, 1]],
    ...                                                        [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 4)
    1.1769
    """

    _function = staticmethod(losses.categorical_crossentropy)

    def __init__(self, name: str = "categorical_crossentropy", dtype: npt.DTypeLike | None = None,
                 from_logits: bool = False, label_smoothing: float = 0, axis: int = -1) -> None:
        if axis != -1:
            raise ValueError(f"CategoricalCrossentropy metric: only axis=-1 (the last axis holds the classes) is "
                             f"supported, got axis={axis!r}")
        super().__init__(name=name, dtype=dtype, from_logits=from_logits, label_smoothing=label_smoothing)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class SparseCategoricalCrossentropy(_FixedFunctionMetric):
    """The mean cross-entropy between integer labels and predicted probabilities (or logits).

    Args:
        name: default ``"sparse_categorical_crossentropy"``.
        dtype: the dtype of the state.
        from_logits: y_pred holds logits rather than probabilities.
        ignore_class: a label whose samples count for nothing (neither in the sum nor in the count).
        axis: the class axis; only the last one (-1) is supported.

    Raises:
        ValueError: for an ``axis`` other than -1.

    Example:

    >>> round(float(tinyconv.metrics.SparseCategoricalCrossentropy()([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 4)
    1.1769
    """

    _function = staticmethod(losses.sparse_categorical_crossentropy)

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype: npt.DTypeLike | None = None,
                 from_logits: bool = False, ignore_class: int | None = None, axis: int = -1) -> None:
        if axis != -1:
            raise ValueError(f"SparseCategoricalCrossentropy metric: only axis=-1 (the last axis holds the classes) "
                             f"is supported, got axis={axis!r}")
        super().__init__(name=name, dtype=dtype, from_logits=from_logits)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    runs_on_device = True

    def update_state(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,  # type: ignore[override]
                     sample_weight: npt.ArrayLike | None = None) -> None:
        if self.ignore_class is None:
            return super().update_state(y_true, y_pred, sample_weight=sample_weight)
        # Keras masks the ignored samples: their loss and their weight are both zero.
        labels = functions._labels_like(y_true, y_pred)
        keep = (labels != self.ignore_class)
        safe = devices.array_module_of(labels).where(keep, labels, 0)
        values = losses.sparse_categorical_crossentropy(safe, y_pred, from_logits=self.from_logits) * keep
        weights = keep.astype(self.dtype)
        if sample_weight is not None:
            weights, sample_weight = functions.same_rank(weights, devices.asarray(sample_weight, dtype=self.dtype))
            weights = weights * sample_weight
        Mean.update_state(self, values, sample_weight=weights)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}
