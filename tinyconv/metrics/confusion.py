"""Metrics from confusion counts at thresholds: TruePositives ... FalseNegatives, Precision, Recall, AUC.

A prediction counts as positive at threshold t when ``y_pred > t``.  For every threshold the metric keeps
four (weighted) counts over everything seen:

    TP: label 1, predicted positive      FP: label 0, predicted positive
    FN: label 1, predicted negative      TN: label 0, predicted negative

Precision = TP / (TP + FP), recall = TP / (TP + FN) (0 where nothing was counted).  AUC keeps the counts
at ``num_thresholds`` evenly spaced thresholds and integrates the ROC curve (recall against FP rate)
or the precision-recall curve over them, as Keras 3 does.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .. import backend
from ..devices import DeviceArray
from .base import Metric, _divide_no_nan
from .functions import same_rank

NEG_INF = -1e10  # the threshold Keras uses with top_k: every kept score counts as positive


def _threshold_list(thresholds, default, who):
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    bad = [t for t in values if t is None or not 0 <= t <= 1]
    if bad:
        raise ValueError(f"{who}: threshold values must be in [0, 1], got {bad}")
    return [float(t) for t in values]


def _evenly_spaced(thresholds):
    """True for thresholds 0, 1/(n-1), ..., 1 (n >= 3): the counts can then be gathered in one pass."""
    n = len(thresholds)
    if n < 3:
        return False
    return bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=backend.epsilon()))


def _keep_top_k(y_pred, k):
    """Scores outside each row's k largest become NEG_INF (never above a threshold)."""
    order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
    kept = np.zeros(y_pred.shape, dtype=bool)
    np.put_along_axis(kept, order, True, axis=-1)
    return np.where(kept, y_pred, y_pred.dtype.type(NEG_INF))


def confusion_counts(y_true, y_pred, thresholds, dtype, sample_weight=None, top_k=None, class_id=None,
                     multi_label=False, label_weights=None, evenly_spaced=False):
    """(weighted) TP, FP, TN, FN at each threshold, as a dict of arrays of shape (T,) or (T, labels).

    Args:
        y_true: 0/1 labels, shaped like y_pred (or differing by a trailing axis of 1).
        y_pred: scores in [0, 1].
        thresholds: the T thresholds (a sequence).
        dtype: the dtype the counts are computed in.
        sample_weight: optional weights, per sample or per element.
        top_k: only each row's k best scores may count as positive.
        class_id: look at this one column (class) only.
        multi_label: keep one set of counts per label (last axis) instead of flattening.
        label_weights: per-label weights (when not ``multi_label``).
        evenly_spaced: the thresholds are evenly spaced (Keras then gathers counts by bucket).
    """
    y_true = np.asarray(y_true).astype(dtype)
    y_pred = np.asarray(y_pred).astype(dtype)
    thresholds = np.asarray(thresholds, dtype=dtype)
    y_pred, y_true = same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion counts need y_true shaped like y_pred (0/1 per score), got y_true.shape="
                         f"{y_true.shape} and y_pred.shape={y_pred.shape} (integer class labels? one-hot them)")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=dtype)[..., None]
        _, sample_weight = same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = _keep_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(f"class_id needs y_pred of shape (samples, classes), got shape {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weights = np.ones(y_pred.shape, dtype) if sample_weight is None else np.broadcast_to(sample_weight, y_pred.shape)
    if label_weights is not None and not multi_label:
        weights = weights * np.broadcast_to(np.asarray(label_weights, dtype=dtype), y_pred.shape)
    positive = y_true.astype(bool)
    if not multi_label:
        y_pred, positive, weights = y_pred.reshape(-1, 1), positive.reshape(-1, 1), weights.reshape(-1, 1)
    else:
        y_pred, positive, weights = (a.reshape(-1, a.shape[-1]) for a in (y_pred, positive, weights))
    if evenly_spaced:
        tp, fp = _counts_by_bucket(y_pred, positive, weights, thresholds)
    else:
        above = y_pred[None] > thresholds.reshape(-1, 1, 1)               # (T, samples, labels)
        tp = np.sum(np.where(above & positive, weights, 0), axis=1, dtype=np.float64)
        fp = np.sum(np.where(above & ~positive, weights, 0), axis=1, dtype=np.float64)
    all_true = np.sum(np.where(positive, weights, 0), axis=0, dtype=np.float64)
    all_false = np.sum(np.where(positive, 0, weights), axis=0, dtype=np.float64)
    counts = {"tp": tp, "fp": fp, "tn": all_false - fp, "fn": all_true - tp}
    return {key: (value if multi_label else value[:, 0]).astype(dtype) for key, value in counts.items()}


def _counts_by_bucket(y_pred, positive, weights, thresholds):
    """TP and FP at evenly spaced thresholds in one pass (Keras's method): a score p lies above the
    thresholds with index < ceil(p * (T - 1)), so each sample lands in one bucket, and the count at
    threshold t is the sum of the buckets from t up."""
    n = len(thresholds)
    with_epsilon = thresholds[0] < 0 or thresholds[-1] > 1  # AUC's -eps / 1 + eps end points
    scores = np.clip(y_pred, 0, 1)
    bucket = np.ceil(scores * y_pred.dtype.type(n - 1)).astype(np.int64) - 1
    if with_epsilon:
        bucket = np.maximum(bucket, 0)
    tp = np.zeros((n, y_pred.shape[1]))
    fp = np.zeros((n, y_pred.shape[1]))
    for label in range(y_pred.shape[1]):
        b, w, pos = bucket[:, label], weights[:, label], positive[:, label]
        inside = b >= 0  # a score of exactly 0 is above no threshold >= 0
        tp[:, label] = np.bincount(b[inside], w[inside] * pos[inside], minlength=n)[:n]
        fp[:, label] = np.bincount(b[inside], w[inside] * ~pos[inside], minlength=n)[:n]
    # from the highest bucket down: count at threshold t = sum of buckets t..n-1
    return np.cumsum(tp[::-1], axis=0)[::-1], np.cumsum(fp[::-1], axis=0)[::-1]


class _ThresholdedMetric(Metric):
    """Shared set-up: the thresholds and their count variables."""

    def _set_thresholds(self, thresholds, default):
        self.init_thresholds = thresholds
        self.thresholds = _threshold_list(thresholds, default, type(self).__name__)
        self._evenly = _evenly_spaced(self.thresholds)

    def _add_counts(self, counts, names, y_true, y_pred, sample_weight, **kwargs):
        found = confusion_counts(y_true, y_pred, self.thresholds, self.dtype, sample_weight=sample_weight,
                                 evenly_spaced=self._evenly, **kwargs)
        for variable, key in zip(counts, names):
            variable.value[...] += found[key]

    def _single_or_all(self, values):
        return values[0] if len(self.thresholds) == 1 else values


class _CountMetric(_ThresholdedMetric):
    _count: ClassVar[str | None] = None  # "tp", "fp", "tn" or "fn"

    def __init__(self, thresholds: float | Sequence[float] | None = None, name: str | None = None,
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._set_thresholds(thresholds, 0.5)
        self.accumulator = self.add_variable(shape=(len(self.thresholds),), initializer="zeros", name="accumulator")

    def update_state(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                     sample_weight: npt.ArrayLike | None = None) -> None:
        self._add_counts([self.accumulator], [self._count], y_true, y_pred, sample_weight)

    def result(self) -> DeviceArray:
        return self._single_or_all(self.accumulator.numpy())

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_CountMetric):
    """The (weighted) number of samples with label 1 and ``y_pred > threshold``.

    Args:
        thresholds: a threshold in [0, 1] or a list of them (default 0.5); with a list the result has one
            count per threshold.
        name: default ``"true_positives"`` (made unique).
        dtype: the dtype of the state.

    Example:

    >>> float(tinyconv.metrics.TruePositives()([0, 1, 1, 1], [1, 0, 1, 1]))
    2.0
    """

    _count = "tp"


class FalsePositives(_CountMetric):
    """The (weighted) number of samples with label 0 and ``y_pred > threshold``.

    Args:
        thresholds: a threshold in [0, 1] or a list of them (default 0.5).
        name: default ``"false_positives"`` (made unique).
        dtype: the dtype of the state.

    Example:

    >>> float(tinyconv.metrics.FalsePositives()([0, 1, 0, 0], [0, 0, 1, 1]))
    2.0
    """

    _count = "fp"


class TrueNegatives(_CountMetric):
    """The (weighted) number of samples with label 0 and ``y_pred <= threshold``.

    Args:
        thresholds: a threshold in [0, 1] or a list of them (default 0.5).
        name: default ``"true_negatives"`` (made unique).
        dtype: the dtype of the state.

    Example:

    >>> float(tinyconv.metrics.TrueNegatives()([0, 1, 0, 0], [1, 1, 0, 0]))
    2.0
    """

    _count = "tn"


class FalseNegatives(_CountMetric):
    """The (weighted) number of samples with label 1 and ``y_pred <= threshold``.

    Args:
        thresholds: a threshold in [0, 1] or a list of them (default 0.5).
        name: default ``"false_negatives"`` (made unique).
        dtype: the dtype of the state.

    Example:

    >>> float(tinyconv.metrics.FalseNegatives()([0, 1, 1, 1], [0, 1, 0, 0]))
    2.0
    """

    _count = "fn"


class _PrecisionRecall(_ThresholdedMetric):
    _other: ClassVar[str | None] = None  # "fp" for precision, "fn" for recall

    def __init__(self, thresholds: float | Sequence[float] | None = None, top_k: int | None = None,
                 class_id: int | None = None, name: str | None = None, dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.top_k = top_k
        self.class_id = class_id
        self._set_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        size = (len(self.thresholds),)
        self.true_positives = self.add_variable(shape=size, initializer="zeros", name="true_positives")
        other_name = "false_positives" if self._other == "fp" else "false_negatives"
        setattr(self, other_name, self.add_variable(shape=size, initializer="zeros", name=other_name))
        self._other_count = getattr(self, other_name)

    def update_state(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                     sample_weight: npt.ArrayLike | None = None) -> None:
        self._add_counts([self.true_positives, self._other_count], ["tp", self._other], y_true, y_pred,
                         sample_weight, top_k=self.top_k, class_id=self.class_id)

    def result(self) -> DeviceArray:
        tp = self.true_positives.value
        return self._single_or_all(_divide_no_nan(tp, tp + self._other_count.value))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """TP / (TP + FP): of the samples predicted positive, the fraction that are positive.

    Args:
        thresholds: a threshold in [0, 1] or a list of them (default 0.5; with ``top_k``, none: the top k
            scores of each row count as positive).
        top_k: only each row's k highest scores count as predicted positive.
        class_id: compute it for this class (column) only.
        name: default ``"precision"`` (made unique).
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.Precision()
    >>> round(float(m([0, 1, 1, 1], [1, 0, 1, 1])), 4)
    0.6667
    """

    _other = "fp"


class Recall(_PrecisionRecall):
    """TP / (TP + FN): of the positive samples, the fraction predicted positive.

    Args:
        thresholds: a threshold in [0, 1] or a list of them (default 0.5; with ``top_k``, none).
        top_k: only each row's k highest scores count as predicted positive.
        class_id: compute it for this class (column) only.
        name: default ``"recall"`` (made unique).
        dtype: the dtype of the state.

    Example:

    >>> m = tinyconv.metrics.Recall()
    >>> round(float(m([0, 1, 1, 1], [1, 0, 1, 1])), 4)
    0.6667
    """

    _other = "fn"


class AUC(Metric):
    """Area under the ROC curve (or the precision-recall curve), from counts at ``num_thresholds`` thresholds.

    The thresholds are ``-eps, 1/(n-1), 2/(n-1), ..., (n-2)/(n-1), 1 + eps``; the area is a Riemann sum over
    them (``summation_method``), and for ``curve="PR"`` with interpolation the precision between two
    thresholds is interpolated as Davis & Goadrich (2006) describe.

    Args:
        num_thresholds: how many thresholds (default 200; more is finer and slower).
        curve: ``"ROC"`` (default), ``"PR"`` or ``"PRGAIN"``.
        summation_method: ``"interpolation"`` (default), ``"minoring"`` or ``"majoring"``.
        name: default ``"auc"`` (made unique).
        dtype: the dtype of the state.
        thresholds: explicit thresholds in [0, 1] instead of ``num_thresholds`` even ones.
        multi_label: one curve per label (last axis), averaged (weighted by ``label_weights``).
        num_labels: the number of labels, with ``multi_label`` (else learnt from the first batch).
        label_weights: a weight per label.
        from_logits: y_pred holds logits (a sigmoid is applied first).

    Raises:
        ValueError: for an unknown ``curve`` or ``summation_method``, or ``num_thresholds < 2``.

    Example:

    >>> m = tinyconv.metrics.AUC(num_thresholds=3)
    >>> float(m([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]))
    0.75
    """

    _CURVES = ("ROC", "PR", "PRGAIN")
    _SUMMATIONS = ("interpolation", "minoring", "majoring")

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: str | None = None, dtype: npt.DTypeLike | None = None,
                 thresholds: float | Sequence[float] | None = None, multi_label: bool = False,
                 num_labels: int | None = None, label_weights: npt.ArrayLike | None = None,
                 from_logits: bool = False) -> None:
        curve = str(curve).upper()
        if curve not in self._CURVES:
            raise ValueError(f'AUC: invalid curve "{curve}"; expected one of {list(self._CURVES)}')
        method = str(summation_method).lower()
        if method not in self._SUMMATIONS:
            raise ValueError(f'AUC: invalid summation_method "{summation_method}"; expected one of '
                             f'{list(self._SUMMATIONS)}')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_threshold_list(thresholds, None, "AUC"))
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spaced([0.0] + inner + [1.0])
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1, got {num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            self._evenly = True
        eps = backend.epsilon()
        self._thresholds = np.array([0.0 - eps] + inner + [1.0 + eps])
        self.curve = curve
        self.summation_method = method
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=self.dtype)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build(num_labels)
        else:
            if num_labels:
                raise ValueError("AUC: num_labels is needed only when multi_label=True")
            self._build(None)

    @property
    def thresholds(self) -> list[float]:
        """The thresholds, end points included."""
        return list(self._thresholds)

    def _build(self, labels):
        shape = (self.num_thresholds,) if labels is None else (self.num_thresholds, int(labels))
        self._num_labels = labels
        self.true_positives = self.add_variable(shape=shape, initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape=shape, initializer="zeros", name="false_positives")
        self.true_negatives = self.add_variable(shape=shape, initializer="zeros", name="true_negatives")
        self.false_negatives = self.add_variable(shape=shape, initializer="zeros", name="false_negatives")
        self._built = True

    def update_state(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                     sample_weight: npt.ArrayLike | None = None) -> None:
        y_pred = np.asarray(y_pred)
        if not self._built:
            if y_pred.ndim != 2:
                raise ValueError(f"AUC '{self.name}': y_pred must have rank 2 when multi_label=True, got shape "
                                 f"{y_pred.shape}")
            self._build(y_pred.shape[1])
        if self._from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred.astype(self.dtype)))
        found = confusion_counts(y_true, y_pred, self._thresholds, self.dtype, sample_weight=sample_weight,
                                 multi_label=self.multi_label,
                                 label_weights=None if self.multi_label else self.label_weights,
                                 evenly_spaced=self._evenly)
        for variable, key in ((self.true_positives, "tp"), (self.false_positives, "fp"),
                              (self.true_negatives, "tn"), (self.false_negatives, "fn")):
            variable.value[...] += found[key]

    def _average_labels(self, by_label):
        if not self.multi_label:
            return by_label
        if self.label_weights is None:
            return np.mean(by_label)
        return _divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights))

    def _interpolated_pr_auc(self):
        """Precision-recall AUC with precision interpolated between thresholds (Davis & Goadrich 2006)."""
        tp, fp, fn = self.true_positives.value, self.false_positives.value, self.false_negatives.value
        n = self.num_thresholds
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:n - 1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:n - 1], np.maximum(p[1:], 0)), 1)
        increment = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return self._average_labels(np.sum(increment, axis=0))

    def result(self) -> DeviceArray:
        if not self._built:
            return np.asarray(0.0, dtype=self.dtype)[()]
        if self.curve == "PR" and self.summation_method == "interpolation":
            return np.asarray(self._interpolated_pr_auc(), dtype=self.dtype)[()]
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
            precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
            x, y = np.maximum(recall_gain, 0.0), precision_gain
        n = self.num_thresholds
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:n - 1], y[1:])
        else:
            heights = np.maximum(y[:n - 1], y[1:])
        area = np.sum((x[:n - 1] - x[1:]) * heights, axis=0)
        return np.asarray(self._average_labels(area), dtype=self.dtype)[()]

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
