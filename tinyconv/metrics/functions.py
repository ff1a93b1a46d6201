"""Per-sample metric functions: ``(y_true, y_pred)`` of one batch -> one value per sample (or per element).

Each is Keras 3's function of the same name (``keras.metrics.sparse_categorical_accuracy`` ...): 1.0 where
the prediction was right and 0.0 where it was wrong, or an error per sample.  The stateful classes in this
package average these values over many batches (see ``MeanMetricWrapper``).

They take NumPy arrays or, on the GPU, device (CuPy) arrays, and compute where their inputs are.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import backend, devices
from ..devices import DeviceArray
from ..losses import (binary_crossentropy, categorical_crossentropy, mean_absolute_error,  # noqa: F401
                      mean_squared_error, sparse_categorical_crossentropy)


def same_rank(x1: npt.ArrayLike, x2: npt.ArrayLike, expand_rank_1: bool = True) -> tuple[DeviceArray, DeviceArray]:
    """Keras's rule for arrays whose ranks differ by one: drop (or add) a trailing axis of size 1.

    ``(N, 1)`` against ``(N,)``: the ``(N,)`` one gains the axis when it has rank 1 (and
    ``expand_rank_1``), otherwise the size-1 axis is squeezed away.
    """
    x1, x2 = devices.asarray(x1), devices.asarray(x2)
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _labels_like(y_true, y_pred):
    """Keras: (N, 1) integer labels against (N, k) outputs are squeezed to (N,)."""
    y_true = devices.asarray(y_true)
    if y_true.ndim == np.ndim(y_pred) and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true


def _floatx(values):
    return devices.asarray(values).astype(backend.floatx())


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> DeviceArray:
    """1.0 where y_pred equals y_true exactly (class ids against class ids), element by element."""
    y_pred = devices.asarray(y_pred)
    y_true, y_pred = same_rank(devices.asarray(y_true).astype(y_pred.dtype), y_pred)
    return _floatx(y_true == y_pred)


def sparse_categorical_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> DeviceArray:
    """1.0 where argmax(y_pred) == label, else 0.0; shape (N,). Works on probabilities or logits.

    On the GPU one fused kernel (one thread per sample finds its row's argmax and compares it)."""
    y_pred = devices.asarray(y_pred)
    labels = _labels_like(y_true, y_pred)
    if devices.is_device_array(y_pred) and devices.is_device_array(labels) and y_pred.ndim >= 1 and \
            labels.shape == y_pred.shape[:-1]:
        from ..kernels.gpu import fused
        return fused.run("sparse_categorical_accuracy", _argmax_hits, _build_argmax_hits, y_pred, labels,
                         np.dtype(backend.floatx()))
    return _floatx(y_pred.argmax(axis=-1) == labels)


def _argmax_hits(y_pred, labels, dtype):
    """1.0 where the row's first maximum (or first NaN, as NumPy's argmax) is at the label, in ``dtype``."""
    return (np.argmax(y_pred, axis=-1) == labels).astype(dtype)


def _build_argmax_hits(cupy):
    kernel = cupy.ElementwiseKernel(
        "raw T scores, L label, int64 k", "F hit",
        """
        long long best = 0;
        T top = scores[i * k];
        for (long long j = 1; j < k && !isnan(top); ++j) {
            T v = scores[i * k + j];
            if (isnan(v) || v > top) { top = v; best = j; }
        }
        hit = best == label ? (F)1 : (F)0;
        """, "tinyconv_argmax_hits")

    def run(y_pred, labels, dtype):
        k = y_pred.shape[-1]
        hits = cupy.empty(labels.shape, dtype=dtype)
        kernel(cupy.ascontiguousarray(y_pred).reshape(-1, k), labels.reshape(-1), np.int64(k), hits.reshape(-1))
        return hits
    return run


def categorical_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> DeviceArray:
    """1.0 where argmax(y_pred) == argmax(y_true) (one-hot targets), else 0.0; shape (N,)."""
    return _floatx(devices.asarray(y_pred).argmax(axis=-1) == devices.asarray(y_true).argmax(axis=-1))


def binary_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, threshold: float = 0.5) -> DeviceArray:
    """1.0 where (y_pred > threshold) equals the 0/1 target, per element (shape of y_pred), as Keras.

    Note, as in Keras: the threshold is applied to y_pred as given, so with from_logits=True models
    pass ``threshold=0.0`` yourself.
    """
    y_true, y_pred = same_rank(y_true, y_pred)
    return _floatx((y_pred > threshold).astype(y_true.dtype) == y_true)


def _in_top_k(labels, y_pred, k):
    """True where the label's score is among the k largest of its row (Keras's in_top_k: ties count)."""
    y_pred = devices.asarray(y_pred)
    xp = devices.array_module_of(y_pred)
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    labels = devices.asarray(labels).reshape(-1).astype(np.int64)
    target = xp.take_along_axis(y_pred, labels[:, None], axis=1)
    return (y_pred > target).sum(axis=1) < k


def top_k_categorical_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, k: int = 5) -> DeviceArray:
    """1.0 where the one-hot target's class is among the k highest scores of y_pred; shape (N,)."""
    labels = devices.asarray(y_true).argmax(axis=-1)
    return _floatx(_in_top_k(labels, y_pred, k)).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, k: int = 5,
                                      from_sorted_ids: bool = False) -> DeviceArray:
    """1.0 where the integer label is among the k highest scores of y_pred; shape (N,).

    With ``from_sorted_ids=True`` y_pred holds class ids sorted by score (best first), as Keras allows.
    """
    y_true = devices.asarray(y_true)
    shape = y_true.shape
    if from_sorted_ids:
        ids = devices.asarray(y_pred).reshape(-1, np.shape(y_pred)[-1])
        hits = (y_true.reshape(-1, 1) == ids[:, :k]).any(axis=1)
    else:
        hits = _in_top_k(y_true, y_pred, k)
    return _floatx(hits).reshape(shape)


def mean_absolute_percentage_error(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> DeviceArray:
    """Per-sample 100 * mean(|y_true - y_pred| / max(|y_true|, epsilon)) over the last axis."""
    y_pred = devices.asarray(y_pred)
    dtype = y_pred.dtype if y_pred.dtype.kind == "f" else np.dtype(backend.floatx())
    xp = devices.array_module_of(y_pred)
    y_true, y_pred = same_rank(xp.asarray(y_true, dtype=dtype), y_pred.astype(dtype))
    error = xp.abs(y_true - y_pred) / xp.maximum(xp.abs(y_true), dtype.type(backend.epsilon()))
    return dtype.type(100.0) * error.mean(axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error

# The functions above compute wherever their inputs are (NumPy or a device array module).
_DEVICE_FUNCTIONS = (accuracy, sparse_categorical_accuracy, categorical_accuracy, binary_accuracy,
                     top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_absolute_percentage_error,
                     mean_squared_error, mean_absolute_error, sparse_categorical_crossentropy,
                     categorical_crossentropy, binary_crossentropy)


def runs_on_device(fn: Callable[..., Any]) -> bool:
    """True when metric function ``fn`` takes device (CuPy) arrays: tinyconv's own functions do; a user's
    function is given host copies on the GPU, since it may call NumPy on them."""
    return any(fn is known for known in _DEVICE_FUNCTIONS)
