"""F-scores: the weighted harmonic mean of precision and recall, per class or averaged.

    F_beta = (1 + beta^2) * precision * recall / (beta^2 * precision + recall)

A prediction is positive where its score is above ``threshold``, or, with no threshold, where it is the
row's highest score (one class per sample).  Counts are kept per class (or summed, for ``"micro"``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .. import backend
from ..devices import DeviceArray
from .base import Metric


class FBetaScore(Metric):
    """The F-beta score over every sample seen.

    Args:
        average: None (one score per class), ``"micro"`` (from counts summed over classes), ``"macro"``
            (the mean of the per-class scores) or ``"weighted"`` (weighted by each class's positives).
        beta: how much more recall weighs than precision (a float > 0; 1.0 is the F1 score).
        threshold: a float in (0, 1]; None: the highest score of each row is the positive one.
        name: default ``"fbeta_score"``.
        dtype: the dtype of the state.

    Raises:
        ValueError: for an unknown ``average``, a ``beta`` that is not a positive float, a ``threshold``
            outside (0, 1], or inputs that are not (samples, classes).

    Example:

    >>> m = tinyconv.metrics.FBetaScore(beta=2.0, threshold=0.5)
    >>> np.round(m([[1, 1, 1], [1, 0, 0], [1, 1, 0]], [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]), 3)
    array([0.385, 0.909, 0.833], dtype=float32)
    """

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float | None = None,
                 name: str = "fbeta_score", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: average must be one of None, 'micro', 'macro', 'weighted', "
                             f"got average={average!r}")
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"{type(self).__name__}: beta must be a Python float > 0, got beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError(f"{type(self).__name__}: threshold must be a Python float in (0, 1], "
                             f"got threshold={threshold!r}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(f"{type(self).__name__} expects 2D inputs (samples, classes), got y_pred.shape="
                             f"{tuple(y_pred_shape)} and y_true.shape={tuple(y_true_shape)}")
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        self.true_positives = self.add_variable(shape=shape, initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape=shape, initializer="zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape=shape, initializer="zeros", name="false_negatives")
        self.intermediate_weights = self.add_variable(shape=shape, initializer="zeros", name="intermediate_weights")
        self._built = True

    def update_state(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                     sample_weight: npt.ArrayLike | None = None) -> None:
        y_true = np.asarray(y_true, dtype=self.dtype)
        y_pred = np.asarray(y_pred, dtype=self.dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(self.dtype)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=self.dtype)[:, None]

        def weighted_sum(values):
            return np.sum(values if weight is None else values * weight, axis=self.axis)

        self.true_positives.value[...] += weighted_sum(predicted * y_true)
        self.false_positives.value[...] += weighted_sum(predicted * (1 - y_true))
        self.false_negatives.value[...] += weighted_sum((1 - predicted) * y_true)
        self.intermediate_weights.value[...] += weighted_sum(y_true)

    def result(self) -> DeviceArray:
        if not self._built:
            return np.asarray(0.0, dtype=self.dtype)[()]
        eps = backend.epsilon()
        tp = self.true_positives.value
        precision = tp / (tp + self.false_positives.value + eps)
        recall = tp / (tp + self.false_negatives.value + eps)
        beta2 = self.beta ** 2
        score = (1 + beta2) * (precision * recall / (beta2 * precision + recall + eps))
        if self.average == "weighted":
            weights = self.intermediate_weights.value
            score = np.sum(score * (weights / (np.sum(weights) + eps)))
        elif self.average is not None:
            score = np.mean(score)
        return np.asarray(score, dtype=self.dtype)[()]

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score (``FBetaScore`` with ``beta=1``): the harmonic mean of precision and recall.

    Args:
        average: None, ``"micro"``, ``"macro"`` or ``"weighted"`` (see ``FBetaScore``).
        threshold: a float in (0, 1]; None: the highest score of each row is the positive one.
        name: default ``"f1_score"``.
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.F1Score(threshold=0.5)
    >>> np.round(m([[1, 1, 1], [1, 0, 0], [1, 1, 0]], [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]), 3)
    array([0.5  , 0.8  , 0.667], dtype=float32)
    """

    def __init__(self, average: str | None = None, threshold: float | None = None, name: str = "f1_score",
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config
