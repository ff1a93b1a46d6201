"""Loss functions, with their gradients, following Keras 3's names, defaults and numbers.

Vocabulary used below (N samples, k classes or outputs per sample):

* ``y_true``  -- the targets: integer labels (sparse), one-hot rows (categorical), 0/1 values (binary)
  or real values (regression).
* ``y_pred``  -- what the model produced: probabilities, or *logits* (pre-activation scores) when
  ``from_logits=True``.
* *per-sample loss* -- one number per sample (shape ``y_pred.shape[:-1]``), what the function forms
  such as :func:`sparse_categorical_crossentropy` return.
* *reduction* ``"sum_over_batch_size"`` -- the value a ``Loss`` object returns:
  ``sum(per_sample * sample_weight) / number_of_per_sample_values``, so sample weights scale terms but do not
  change the divisor (Keras 3 behaviour).

Every ``Loss`` also has ``gradient(y_true, y_pred)``: d(reduced loss)/d(y_pred), same shape as ``y_pred``.
That is where backpropagation starts.

The cross-entropies add a *fused* path. A model whose last layer is a softmax (or sigmoid) and whose loss is
categorical (or binary) cross-entropy can skip the activation's backward pass entirely: the gradient of the
loss with respect to the logits ``z`` is simply ``(softmax(z) - onehot) / N`` (or ``(sigmoid(z) - y) / (N*k)``).
``fused_activation`` names the activation that may be fused; ``logits_loss`` / ``logits_gradient`` compute
the loss and that gradient straight from the logits, stably (log-softmax, log-sigmoid), without the
``epsilon`` clipping the probability path needs.

On the GPU every loss computes where its inputs are and a model's training step keeps the value there
(``value``): it is copied to the host only when the progress bar or a callback reads it.  Integer labels
are checked on the host before they travel to the device (``check_targets``); inside
``checked_targets()`` the losses trust device labels instead of checking them again, which would copy
them back (a host synchronisation).
"""
from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Self, TypeAlias

import numpy as np
import numpy.typing as npt

from . import devices, serialization
from .devices import DeviceArray
from .devices import asarray as _asarray  # np.asarray that keeps a GPU array on the GPU

# A reduced loss: a Python float; an array with ``reduction="none"`` (one value per sample), and a taped
# scalar when ``y_pred`` is being recorded by a GradientTape (so typed as a float or Any).
LossValue: TypeAlias = float | Any
# The reductions a Loss accepts (None means "none").
Reduction: TypeAlias = str | None

EPSILON = 1e-7  # Keras's backend.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON]

_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None)

_TARGETS_CHECKED = [False]  # inside ``checked_targets()``: device labels were checked on the host already


@contextlib.contextmanager
def checked_targets() -> Iterator[None]:
    """Within this block the losses take device targets as checked (a model checks NumPy labels with
    ``Loss.check_targets`` before copying them to the GPU), so they never read labels back to the host.

    Example:

    >>> with tinyconv.losses.checked_targets():
    ...     round(tinyconv.losses.SparseCategoricalCrossentropy()([1], np.array([[0.2, 0.8]])), 4)
    0.2231
    """
    previous = _TARGETS_CHECKED[0]
    _TARGETS_CHECKED[0] = True
    try:
        yield
    finally:
        _TARGETS_CHECKED[0] = previous


# ----------------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------------
def _float_dtype(y_pred):
    """Work in y_pred's float dtype (float32 or float64); anything else is computed in float32."""
    dtype = _asarray(y_pred).dtype
    return dtype if dtype.kind == "f" else np.dtype("float32")


def _as_arrays(who, y_true, y_pred):
    """Both as arrays of one float dtype, with matching batch sizes."""
    y_pred = _asarray(y_pred)
    dtype = _float_dtype(y_pred)
    y_pred = y_pred.astype(dtype, copy=False)
    # Targets follow the predictions to their device (NumPy labels next to GPU outputs).
    y_true = _asarray(y_true) if devices.is_numpy(y_pred) else devices.array_module_of(y_pred).asarray(y_true)
    if y_pred.ndim == 0:
        raise ValueError(f"{who}: y_pred must have at least one dimension (the batch), got a scalar")
    if y_true.ndim >= 1 and y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"{who}: y_true and y_pred have different numbers of samples: "
            f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    return y_true, y_pred


def _dense_targets(who, y_true, y_pred):
    """Targets with exactly y_pred's shape (one-hot, binary or regression targets)."""
    y_true, y_pred = _as_arrays(who, y_true, y_pred)
    # Keras's squeeze_or_expand_to_same_rank: (N,) targets against (N, 1) outputs, and the reverse
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape:
        hint = ""
        if "Categorical" in who and (y_true.shape == y_pred.shape[:-1] or y_true.shape[-1:] == (1,)):
            hint = " (integer labels? use SparseCategoricalCrossentropy / 'sparse_categorical_crossentropy')"
        elif "Categorical" in who and y_true.ndim == y_pred.ndim:
            hint = (f" (one-hot width {y_true.shape[-1]} does not match the model's "
                    f"{y_pred.shape[-1]} outputs)")
        raise ValueError(f"{who}: y_true.shape={y_true.shape} does not match y_pred.shape={y_pred.shape}{hint}")
    return y_true.astype(y_pred.dtype, copy=False), y_pred


def _sparse_targets(who, y_true, y_pred):
    """Integer labels shaped like y_pred without its class axis; checked to lie in [0, k)."""
    y_true, y_pred = _as_arrays(who, y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]  # (N, 1) labels -> (N,)
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{who}: expected integer labels of shape {y_pred.shape[:-1]} (or {y_pred.shape[:-1] + (1,)}) "
            f"for y_pred of shape {y_pred.shape}, got y_true.shape={y_true.shape}"
            + (" (one-hot labels? use CategoricalCrossentropy)" if y_true.shape == y_pred.shape else "")
        )
    if not (_TARGETS_CHECKED[0] and devices.is_device_array(y_true)):  # (checking device labels reads them back)
        _check_label_values(who, y_true, y_pred.shape[-1])
    return y_true.astype(np.int64, copy=False), y_pred


def _check_label_values(who, labels, k):
    """Labels must be whole numbers in [0, k)."""
    if labels.dtype.kind not in "iub":
        if labels.dtype.kind != "f" or not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{who}: labels must be whole numbers, got dtype {labels.dtype} with fractional values")
    labels = labels.astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        bad = labels.max() if labels.max() >= k else labels.min()
        raise ValueError(f"{who}: labels must be in [0, {k}), got {bad}")


def _one_hot(labels, k, dtype):
    xp = devices.array_module_of(labels)  # numpy, or cupy on the GPU
    return (labels[..., None] == xp.arange(k)).astype(dtype)  # 1 where the class is the label


def _log_softmax(z):
    """log softmax(z) = z - max - log(sum(exp(z - max))) along the last axis; never overflows."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    """1 / (1 + exp(-z)) written so that neither branch overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z):
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), stable for large |z|."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _clip(p):
    """Clip probabilities to [EPSILON, 1 - EPSILON], and say where the clip was inactive (gradient flows)."""
    lo, hi = p.dtype.type(EPSILON), p.dtype.type(1.0) - p.dtype.type(EPSILON)
    return np.clip(p, lo, hi), (p > lo) & (p < hi)


# ----------------------------------------------------------------------------------------------------------
# per-sample maths: each pair returns (per-sample loss, d per-sample loss / d y_pred)
# ----------------------------------------------------------------------------------------------------------
def _cce_probs(target, probs):
    """Categorical CE on probabilities, Keras style.

    q = p / sum(p);  c = clip(q, eps, 1 - eps);  L = -sum_j t_j log c_j
    dL/dq_j = -t_j / c_j (0 where clipped);  dL/dp_k = (dL/dq_k - sum_j dL/dq_j q_j) / sum(p)
    """
    total = probs.sum(axis=-1, keepdims=True)
    q = probs / total
    c, inside = _clip(q)
    loss = -(target * np.log(c)).sum(axis=-1)
    g_q = np.where(inside, -target / c, 0)
    grad = (g_q - (g_q * q).sum(axis=-1, keepdims=True)) / total
    return loss, grad


def _sparse_cce_probs_loss(labels, probs):
    """The loss of ``_cce_probs`` for integer labels, without building one-hot rows:
    L = -log clip(p[label] / sum(p), eps, 1 - eps) (the one-hot sum has this one non-zero term).

    On the GPU one fused kernel (one thread per sample sums its row and picks its label's entry)."""
    lo, hi = probs.dtype.type(EPSILON), probs.dtype.type(1.0) - probs.dtype.type(EPSILON)
    if devices.is_numpy(probs):
        return _sparse_cce_probs_loss_twin(probs, labels, lo, hi)
    from .kernels.gpu import fused
    return fused.run("sparse_cross_entropy_from_probabilities", _sparse_cce_probs_loss_twin,
                     _build_sparse_cce_probs_loss, probs, labels, lo, hi)


def _sparse_cce_probs_loss_twin(probs, labels, lo, hi):
    total = probs.sum(axis=-1)
    picked = np.take_along_axis(probs, labels[..., None], axis=-1)[..., 0]
    return -np.log(np.clip(picked / total, lo, hi))


def _build_sparse_cce_probs_loss(cupy):
    kernel = cupy.ElementwiseKernel(
        "raw T probs, int64 label, int64 k, T lo, T hi", "T loss",
        """
        T total = 0;
        for (long long j = 0; j < k; ++j) total += probs[i * k + j];
        loss = -log(min(max(probs[i * k + label] / total, lo), hi));
        """, "tinyconv_sparse_cross_entropy_from_probabilities")

    def run(probs, labels, lo, hi):
        k = probs.shape[-1]
        rows = cupy.ascontiguousarray(probs).reshape(-1, k)
        return kernel(rows, labels.reshape(-1), np.int64(k), lo, hi).reshape(labels.shape)
    return run


def _softmax_minus_one_hot(probs, labels, count):
    """(softmax(z) - onehot(label)) / count from the softmax's output: dL/dz of the mean sparse cross-entropy.

    The same numbers as ``_cce_logits``' gradient scaled by ``_scale_grad`` (softmax * 1 - onehot, then / count),
    in one fused kernel on the GPU."""
    if devices.is_numpy(probs):
        return _softmax_minus_one_hot_twin(probs, labels[..., None], np.arange(probs.shape[-1]), count)
    from .kernels.gpu import _common, fused
    classes = _common.device_table(_class_numbers, probs.shape[-1])
    return fused.run("softmax_minus_one_hot", _softmax_minus_one_hot_twin, _build_softmax_minus_one_hot,
                     probs, labels[..., None], classes, count)


def _class_numbers(k):
    return np.arange(k, dtype=np.int64)


def _softmax_minus_one_hot_twin(probs, labels, classes, count):
    return (probs - (labels == classes).astype(probs.dtype)) / probs.dtype.type(count)


def _build_softmax_minus_one_hot(cupy):
    kernel = cupy.ElementwiseKernel("T p, int64 label, int64 k, T count", "T g",
                                    "g = (p - (label == k ? (T)1 : (T)0)) / count", "tinyconv_softmax_minus_one_hot")
    return lambda probs, labels, classes, count: kernel(probs, labels, classes, probs.dtype.type(count))


def _cce_logits(target, logits):
    """Categorical CE on logits: L = -sum_j t_j log_softmax(z)_j;  dL/dz = softmax(z) * sum(t) - t."""
    loss = -(target * _log_softmax(logits)).sum(axis=-1)
    grad = _softmax(logits) * target.sum(axis=-1, keepdims=True) - target
    return loss, grad


def _bce_probs(target, probs):
    """Binary CE on probabilities, averaged over the last axis (k values):

    c = clip(p, eps, 1 - eps);  L = mean_k -(y log c + (1 - y) log(1 - c))
    dL/dp = -(y / c - (1 - y) / (1 - c)) / k   (0 where clipped)
    """
    k = probs.shape[-1]
    c, inside = _clip(probs)
    loss = -(target * np.log(c) + (1 - target) * np.log(1 - c)).mean(axis=-1)
    grad = np.where(inside, -(target / c - (1 - target) / (1 - c)) / k, 0)
    return loss, grad


def _bce_logits(target, logits):
    """Binary CE on logits z: -(y log sigmoid(z) + (1-y) log(1 - sigmoid(z))) = softplus(z) - y z;
    its derivative is sigmoid(z) - y (then / k for the mean over the last axis)."""
    k = logits.shape[-1]
    loss = (_softplus(logits) - target * logits).mean(axis=-1)
    grad = (_sigmoid(logits) - target) / k
    return loss, grad


def _mse(target, pred):
    """L = mean_k (y_pred - y_true)^2;  dL/dy_pred = 2 (y_pred - y_true) / k."""
    diff = pred - target
    return np.square(diff).mean(axis=-1), 2 * diff / pred.shape[-1]


def _mae(target, pred):
    """L = mean_k |y_pred - y_true|;  dL/dy_pred = sign(y_pred - y_true) / k (0 at a tie)."""
    diff = pred - target
    return np.abs(diff).mean(axis=-1), np.sign(diff) / pred.shape[-1]


def _smooth_categorical(target, label_smoothing):
    """Keras: t -> t (1 - s) + s / k."""
    if label_smoothing:
        k = target.shape[-1]
        target = target * (1.0 - label_smoothing) + label_smoothing / k
    return target


def _smooth_binary(target, label_smoothing):
    """Keras: y -> y (1 - s) + s / 2 (squeezes 0/1 labels towards 0.5)."""
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return target


# ----------------------------------------------------------------------------------------------------------
# the Loss classes
# ----------------------------------------------------------------------------------------------------------
def _taped_loss(loss, y_true, y_pred, sample_weight):
    """``loss(y_true, y_pred)`` recorded on y_pred's tape: its backward is the loss's own ``gradient``."""
    prediction = y_pred.value
    y_true = getattr(y_true, "value", y_true)
    value = _asarray(loss(y_true, prediction, sample_weight), dtype=prediction.dtype)

    def backward(upstream):
        return [upstream[0] * loss.gradient(y_true, prediction, sample_weight=sample_weight)]

    return y_pred.tape.record(f"{type(loss).__name__} loss", [y_pred], value, backward)


class Loss:
    """Base class: a per-sample loss plus a reduction, with the gradient of the reduced value.

    Subclasses implement ``_pair(y_true, y_pred) -> (per_sample, d_per_sample/d_y_pred)``; everything else
    (sample weights, reduction, gradient scaling) lives here.

    Args:
        name: the loss's name (the class name in snake case by default).
        reduction: how per-sample losses become one number: "sum_over_batch_size" (the default), "mean",
            "sum", "mean_with_sample_weight", or "none"/None for the per-sample values themselves.
        dtype: kept for Keras compatibility; the loss computes in y_pred's float dtype.

    Raises:
        ValueError: for an unknown ``reduction``.

    Example:

    >>> class SquaredSum(tinyconv.losses.Loss):
    ...     def _pair(self, y_true, y_pred):
    ...         diff = y_pred - y_true
    ...         return (diff ** 2).sum(axis=-1), 2 * diff
    >>> loss = SquaredSum()
    >>> y_pred = np.array([[1.0, 3.0]], dtype="float32")
    >>> loss([[1.0, 1.0]], y_pred), loss.gradient([[1.0, 1.0]], y_pred)
    (4.0, array([[0., 4.]], dtype=float32))
    """

    #: name of the output activation whose backward pass this loss can absorb ('softmax', 'sigmoid', None)
    fused_activation: str | None = None

    def __init__(self, name: str | None = None, reduction: Reduction = "sum_over_batch_size",
                 dtype: npt.DTypeLike | None = None) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")
        self.name = name or _snake_name(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    # --- what subclasses provide --------------------------------------------------------------------------
    def _pair(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement _pair(y_true, y_pred)")

    def _logits_pair(self, y_true, logits):
        raise ValueError(f"{type(self).__name__} has no fused logits path (fused_activation is None)")

    def _per_sample(self, y_true, y_pred):
        """The per-sample losses alone (subclasses may skip computing the gradient ``_pair`` also returns)."""
        return self._pair(y_true, y_pred)[0]

    # --- Keras surface -------------------------------------------------------------------------------------
    def call(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> DeviceArray:
        """Per-sample losses (no reduction), as Keras's ``Loss.call``.

        Args:
            y_true: the targets.
            y_pred: the predictions, (N, ...) with the batch first.

        Returns:
            An array of shape ``y_pred.shape[:-1]``.

        Example:

        >>> tinyconv.losses.MeanSquaredError().call([[1.0, 2.0], [0.0, 0.0]], np.array([[1.0, 4.0], [1.0, 1.0]]))
        array([2., 1.])
        """
        return self._per_sample(y_true, y_pred)

    def __call__(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                 sample_weight: npt.ArrayLike | None = None) -> LossValue:
        """The reduced loss, a Python float (an array for reduction='none').

        On a value being recorded by a tape (a hand-written training loop), the loss is recorded too, as
        one step whose backward is ``gradient``; it then returns a taped scalar."""
        from .ops.tape import TapedTensor  # (the ops sit above the losses' maths)
        if isinstance(y_pred, TapedTensor) and self.reduction not in ("none", None):
            return _taped_loss(self, y_true, y_pred, sample_weight)
        return self._reduce(self._per_sample(y_true, y_pred), sample_weight)

    def value(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
              sample_weight: npt.ArrayLike | None = None) -> DeviceArray:
        """The reduced loss as a 0-d array where y_pred is (on the GPU it stays in device memory).

        ``__call__`` returns the same number as a Python float, which on the GPU is a host synchronisation;
        a training step uses this one and leaves the reading to the progress bar.

        Args:
            y_true: the targets.
            y_pred: the predictions.
            sample_weight: optional per-sample weights.

        Returns:
            A 0-d array (NumPy, or CuPy for GPU predictions).

        Raises:
            ValueError: for reduction="none" (no single value).

        Example:

        >>> tinyconv.losses.MeanSquaredError().value([[1.0, 2.0]], np.array([[1.0, 4.0]], dtype="float32"))
        array(2., dtype=float32)
        """
        if self.reduction in (None, "none"):
            raise ValueError(f"{type(self).__name__}: value() needs a reducing loss, reduction is {self.reduction!r}")
        return self._reduced(self._per_sample(y_true, y_pred), sample_weight)

    def check_targets(self, y_true: npt.ArrayLike, output_shape: Sequence[int | None] | None, who: str) -> None:
        """Check host targets before they are copied to the device (where checking would read them back).

        The base class checks nothing; the sparse cross-entropy checks its labels.

        Args:
            y_true: the targets of one output, a NumPy array.
            output_shape: the output's shape (``None`` for unknown sizes).
            who: what to name in the error (e.g. ``"fit"``).
        """
        del y_true, output_shape, who

    def gradient(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                 sample_weight: npt.ArrayLike | None = None) -> DeviceArray:
        """d(reduced loss)/d(y_pred), same shape and dtype as y_pred: where backpropagation starts.

        Args:
            y_true: the targets.
            y_pred: the predictions.
            sample_weight: optional per-sample weights, broadcast to the per-sample losses.

        Returns:
            An array shaped like ``y_pred``.

        Raises:
            ValueError: if the reduction is "none" (there is no single value to differentiate).

        Example:

        >>> tinyconv.losses.MeanSquaredError().gradient([[1.0, 2.0]], np.array([[1.0, 4.0]], dtype="float32"))
        array([[0., 2.]], dtype=float32)
        """
        values, grad = self._pair(y_true, y_pred)
        return self._scale_grad(values, grad, sample_weight, _asarray(y_pred))

    def logits_loss(self, y_true: npt.ArrayLike, logits: npt.ArrayLike,
                    sample_weight: npt.ArrayLike | None = None) -> LossValue:
        """The reduced loss computed from pre-activation logits (softmax/sigmoid folded in, stably).

        Args:
            y_true: the targets.
            logits: the scores before the output activation named by ``fused_activation``.
            sample_weight: optional per-sample weights.

        Raises:
            ValueError: for a loss without a fused path (``fused_activation`` is None).

        Example:

        >>> z = np.array([[2.0, 1.0, 0.1]])
        >>> round(tinyconv.losses.CategoricalCrossentropy().logits_loss([[1, 0, 0]], z), 4)
        0.417
        """
        values, _ = self._logits_pair(y_true, logits)
        return self._reduce(values, sample_weight)

    def logits_gradient(self, y_true: npt.ArrayLike, logits: npt.ArrayLike,
                        sample_weight: npt.ArrayLike | None = None) -> DeviceArray:
        """d(reduced loss)/d(logits): (softmax(z) - onehot) / N, or (sigmoid(z) - y) / (N k).

        Args:
            y_true: the targets.
            logits: the scores before the output activation named by ``fused_activation``.
            sample_weight: optional per-sample weights.

        Raises:
            ValueError: for a loss without a fused path (``fused_activation`` is None).

        Example:

        >>> z = np.array([[2.0, 1.0, 0.1]])
        >>> tinyconv.losses.CategoricalCrossentropy().logits_gradient([[1, 0, 0]], z).round(4)
        array([[-0.341 ,  0.2424,  0.0986]])
        """
        values, grad = self._logits_pair(y_true, logits)
        return self._scale_grad(values, grad, sample_weight, _asarray(logits))

    def fused_gradient(self, y_true: npt.ArrayLike, logits: npt.ArrayLike, activated: npt.ArrayLike,
                       sample_weight: npt.ArrayLike | None = None) -> DeviceArray:
        """``logits_gradient`` for a model whose output layer computed ``activated = activation(logits)`` already.

        A subclass may start from ``activated`` (the softmax's probabilities) instead of computing the
        activation again; the base class uses ``logits_gradient``.

        Args:
            y_true: the targets.
            logits: the scores before the output activation named by ``fused_activation``.
            activated: the output layer's result, ``activation(logits)``.
            sample_weight: optional per-sample weights.
        """
        del activated
        return self.logits_gradient(y_true, logits, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as a dict; ``from_config`` reads it back.

        Example:

        >>> tinyconv.losses.BinaryCrossentropy(from_logits=True).get_config()["from_logits"]
        True
        """
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """A new loss from what ``get_config`` returned.

        Args:
            config: a dict of constructor arguments.
        """
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k not in ("name", "dtype"))
        return f"{type(self).__name__}({args})"

    # --- reduction -----------------------------------------------------------------------------------------
    def _weights(self, values, sample_weight):
        """Sample weights broadcast to the per-sample values' shape (Keras squeezes/expands a trailing 1)."""
        if sample_weight is None:
            return None
        w = devices.array_module_of(values).asarray(sample_weight, dtype=values.dtype)
        while w.ndim > values.ndim and w.shape[-1] == 1:
            w = w[..., 0]
        while w.ndim < values.ndim:
            w = w[..., None]
        try:
            return np.broadcast_to(w, values.shape)
        except ValueError:
            raise ValueError(
                f"{type(self).__name__}: sample_weight of shape {np.shape(sample_weight)} does not fit "
                f"per-sample losses of shape {values.shape}"
            ) from None

    def _divisor(self, values, w):
        if self.reduction == "sum":
            return 1.0
        if self.reduction == "mean_with_sample_weight" and w is not None:
            if devices.is_device_array(w):  # (a device array: no host round trip)
                total = w.sum()
                return devices.array_module_of(w).where(total != 0, total, np.inf)
            total = float(w.sum())
            return total if total != 0 else np.inf  # Keras divides "no NaN": 0 / 0 -> 0
        return max(values.size, 1)

    def _reduce(self, values, sample_weight):
        if self.reduction in (None, "none"):
            w = self._weights(values, sample_weight)
            return values if w is None else values * w
        return float(self._reduced(values, sample_weight))

    def _reduced(self, values, sample_weight):
        """The reduced loss as a 0-d array (on the device for device values)."""
        w = self._weights(values, sample_weight)
        if w is not None:
            values = values * w
        if not devices.is_device_array(values):
            return np.asarray(values.sum() / self._divisor(values, w))
        if w is None and self.reduction != "sum":
            return values.mean()  # (sum / size in one reduction)
        return values.sum() / self._divisor(values, w)

    def _scale_grad(self, values, grad, sample_weight, like):
        if self.reduction in (None, "none"):
            raise ValueError(f"{type(self).__name__}: gradient needs a reducing loss, reduction is {self.reduction!r}")
        w = self._weights(values, sample_weight)
        if w is not None:
            grad = grad * w.reshape(w.shape + (1,) * (grad.ndim - w.ndim))
        grad = grad / grad.dtype.type(self._divisor(values, w))
        return grad.astype(_float_dtype(like), copy=False)


class _Crossentropy(Loss):
    """What the three cross-entropies share: a ``from_logits`` switch, the fused logits path, and the config.

    A subclass names its per-sample maths (``_on_probs``, ``_on_logits``), the activation it can fuse, and
    ``_targets(y_true, y_pred) -> (target, y_pred)`` that turns y_true into targets shaped like y_pred.
    """

    _on_probs: ClassVar[Callable[..., Any] | None] = None  # staticmethod(per-sample pair on probabilities)
    _on_logits: ClassVar[Callable[..., Any] | None] = None  # staticmethod(per-sample pair on logits)
    _activation: ClassVar[str | None] = None  # the output activation the fused path folds in

    def __init__(self, from_logits: bool, name: str, reduction: Reduction, dtype: npt.DTypeLike | None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.fused_activation = None if self.from_logits else self._activation

    def _pair(self, y_true, y_pred):
        target, y_pred = self._targets(y_true, y_pred)
        return (self._on_logits if self.from_logits else self._on_probs)(target, y_pred)

    def _logits_pair(self, y_true, logits):
        return self._on_logits(*self._targets(y_true, logits))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


class _SmoothedCrossentropy(_Crossentropy):
    """A cross-entropy on dense targets with ``label_smoothing`` (categorical and binary)."""

    _smooth: ClassVar[Callable[..., Any] | None] = None  # staticmethod(target, label_smoothing) -> smoothed target

    def __init__(self, from_logits: bool, label_smoothing: float, name: str, reduction: Reduction,
                 dtype: npt.DTypeLike | None) -> None:
        super().__init__(from_logits, name=name, reduction=reduction, dtype=dtype)
        _check_smoothing(type(self).__name__, label_smoothing)
        self.label_smoothing = float(label_smoothing)

    def _targets(self, y_true, y_pred):
        target, y_pred = _dense_targets(type(self).__name__, y_true, y_pred)
        return self._smooth(target, self.label_smoothing), y_pred

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(_Crossentropy):
    """Cross-entropy with integer labels: L_i = -log p_i[label_i].

    y_true: labels of shape (N,) or (N, 1), ints or floats holding whole numbers, each in [0, k).
    y_pred: (N, k) probabilities (renormalised to sum 1, then clipped to [1e-7, 1 - 1e-7]) or logits.

    Args:
        from_logits: y_pred holds logits (softmax is applied inside, stably) instead of probabilities.
        reduction: how per-sample losses become one number: "sum_over_batch_size" (the default), "mean",
            "sum", "mean_with_sample_weight", or "none"/None for the per-sample values themselves.
        name: the loss's name.
        dtype: kept for Keras compatibility; the loss computes in y_pred's float dtype.

    Raises:
        ValueError: for an unknown ``reduction``; when called, for labels that are not whole numbers in
            [0, k) or not shaped (N,) / (N, 1).

    Example:

    >>> y_pred = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], dtype="float32")
    >>> loss = tinyconv.losses.SparseCategoricalCrossentropy()
    >>> round(loss([1, 2], y_pred), 4)   # (-log 0.8 - log 0.6) / 2
    0.367
    >>> round(loss([1, 2], y_pred, sample_weight=[1, 0]), 4)
    0.1116
    """

    _on_probs, _on_logits, _activation = staticmethod(_cce_probs), staticmethod(_cce_logits), "softmax"

    def __init__(self, from_logits: bool = False, reduction: Reduction = "sum_over_batch_size",
                 name: str = "sparse_categorical_crossentropy", dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(from_logits, name=name, reduction=reduction, dtype=dtype)

    def _targets(self, y_true, y_pred):
        labels, y_pred = _sparse_targets(type(self).__name__, y_true, y_pred)
        return _one_hot(labels, y_pred.shape[-1], y_pred.dtype), y_pred

    def _per_sample(self, y_true, y_pred):
        if self.from_logits:
            return super()._per_sample(y_true, y_pred)
        labels, probs = _sparse_targets(type(self).__name__, y_true, y_pred)
        return _sparse_cce_probs_loss(labels, probs)

    def check_targets(self, y_true: npt.ArrayLike, output_shape: Sequence[int | None] | None, who: str) -> None:
        """Integer labels, whole numbers in [0, k) with k the output's last size (checked on the host).

        Args:
            y_true: the labels of one output, a NumPy array.
            output_shape: the output's shape; its last size is k (nothing is checked when it is unknown).
            who: what to name in the error (e.g. ``"fit"``).

        Raises:
            ValueError: for a fractional label or one outside [0, k).
        """
        k = output_shape[-1] if output_shape else None
        if k is not None:
            _check_label_values(f"{who}: {type(self).__name__}", np.asarray(y_true), k)

    def fused_gradient(self, y_true: npt.ArrayLike, logits: npt.ArrayLike, activated: npt.ArrayLike,
                       sample_weight: npt.ArrayLike | None = None) -> DeviceArray:
        if sample_weight is not None or self.reduction not in ("sum_over_batch_size", "mean"):
            return super().fused_gradient(y_true, logits, activated, sample_weight)
        labels, probs = _sparse_targets(type(self).__name__, y_true, activated)
        count = max(labels.size, 1)
        return _softmax_minus_one_hot(probs, labels, count).astype(_float_dtype(logits), copy=False)


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy with one-hot (or soft) targets: L_i = -sum_j t_ij log p_ij.

    label_smoothing s replaces t by t (1 - s) + s / k. y_pred as for SparseCategoricalCrossentropy.

    Args:
        from_logits: y_pred holds logits (softmax is applied inside, stably) instead of probabilities.
        label_smoothing: s in [0, 1].
        reduction: how per-sample losses become one number: "sum_over_batch_size" (the default), "mean",
            "sum", "mean_with_sample_weight", or "none"/None for the per-sample values themselves.
        name: the loss's name.
        dtype: kept for Keras compatibility; the loss computes in y_pred's float dtype.

    Raises:
        ValueError: for an unknown ``reduction`` or ``label_smoothing`` outside [0, 1]; when called, for
            targets not shaped like y_pred (with a hint when they look like integer labels).

    Example:

    >>> y_pred = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], dtype="float32")
    >>> y_true = np.array([[0, 1, 0], [0, 0, 1]])
    >>> round(tinyconv.losses.CategoricalCrossentropy()(y_true, y_pred), 4)
    0.367
    >>> round(tinyconv.losses.CategoricalCrossentropy(label_smoothing=0.1)(y_true, y_pred), 4)
    0.4729
    """

    _on_probs, _on_logits, _activation = staticmethod(_cce_probs), staticmethod(_cce_logits), "softmax"
    _smooth = staticmethod(_smooth_categorical)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: Reduction = "sum_over_batch_size", name: str = "categorical_crossentropy",
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(from_logits, label_smoothing, name=name, reduction=reduction, dtype=dtype)


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Binary cross-entropy, averaged over the last axis:
    L_i = mean_k -(y log p + (1 - y) log(1 - p)), p clipped to [1e-7, 1 - 1e-7] (or p = sigmoid(logits)).

    label_smoothing s replaces y by y (1 - s) + s / 2.

    Args:
        from_logits: y_pred holds logits (sigmoid is applied inside, stably) instead of probabilities.
        label_smoothing: s in [0, 1].
        reduction: how per-sample losses become one number: "sum_over_batch_size" (the default), "mean",
            "sum", "mean_with_sample_weight", or "none"/None for the per-sample values themselves.
        name: the loss's name.
        dtype: kept for Keras compatibility; the loss computes in y_pred's float dtype.

    Raises:
        ValueError: for an unknown ``reduction`` or ``label_smoothing`` outside [0, 1]; when called, for
            targets not shaped like y_pred.

    Example:

    >>> y_pred = np.array([[0.9], [0.2]], dtype="float32")
    >>> round(tinyconv.losses.BinaryCrossentropy()([[1.0], [0.0]], y_pred), 4)   # (-log 0.9 - log 0.8) / 2
    0.1643
    """

    _on_probs, _on_logits, _activation = staticmethod(_bce_probs), staticmethod(_bce_logits), "sigmoid"
    _smooth = staticmethod(_smooth_binary)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: Reduction = "sum_over_batch_size", name: str = "binary_crossentropy",
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(from_logits, label_smoothing, name=name, reduction=reduction, dtype=dtype)


class MeanSquaredError(Loss):
    """L_i = mean_k (y_true - y_pred)^2.

    Args:
        reduction: how per-sample losses become one number: "sum_over_batch_size" (the default), "mean",
            "sum", "mean_with_sample_weight", or "none"/None for the per-sample values themselves.
        name: the loss's name.
        dtype: kept for Keras compatibility; the loss computes in y_pred's float dtype.

    Raises:
        ValueError: for an unknown ``reduction``; when called, for targets whose shape does not fit y_pred.

    Example:

    >>> tinyconv.losses.MeanSquaredError()([[1.0, 2.0]], np.array([[1.0, 4.0]], dtype="float32"))
    2.0
    """

    def __init__(self, reduction: Reduction = "sum_over_batch_size", name: str = "mean_squared_error",
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _pair(self, y_true, y_pred):
        return _mse(*_dense_targets(type(self).__name__, y_true, y_pred))


class MeanAbsoluteError(Loss):
    """L_i = mean_k |y_true - y_pred|.

    Args:
        reduction: how per-sample losses become one number: "sum_over_batch_size" (the default), "mean",
            "sum", "mean_with_sample_weight", or "none"/None for the per-sample values themselves.
        name: the loss's name.
        dtype: kept for Keras compatibility; the loss computes in y_pred's float dtype.

    Raises:
        ValueError: for an unknown ``reduction``; when called, for targets whose shape does not fit y_pred.

    Example:

    >>> tinyconv.losses.MeanAbsoluteError()([[1.0, 2.0]], np.array([[1.0, 4.0]], dtype="float32"))
    1.0
    """

    def __init__(self, reduction: Reduction = "sum_over_batch_size", name: str = "mean_absolute_error",
                 dtype: npt.DTypeLike | None = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _pair(self, y_true, y_pred):
        return _mae(*_dense_targets(type(self).__name__, y_true, y_pred))


def _check_smoothing(who, s):
    if not isinstance(s, (int, float, np.floating)) or not 0.0 <= s <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be a number in [0, 1], got {s!r}")


def _snake_name(camel):
    out = "".join("_" + ch.lower() if ch.isupper() else ch for ch in camel)
    return out.lstrip("_")


# ----------------------------------------------------------------------------------------------------------
# function forms: per-sample losses, as keras.losses.<name> returns them
# ----------------------------------------------------------------------------------------------------------
def sparse_categorical_crossentropy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                                    from_logits: bool = False) -> DeviceArray:
    """Per-sample -log p[label], shape y_pred.shape[:-1].

    Args:
        y_true: integer labels, shaped (N,) or (N, 1).
        y_pred: (N, k) probabilities, or logits with ``from_logits=True``.
        from_logits: y_pred holds logits.

    Returns:
        The per-sample losses.

    Raises:
        ValueError: for labels outside [0, k), fractional labels, or mismatched shapes.

    Example:

    >>> y_pred = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], dtype="float32")
    >>> tinyconv.losses.sparse_categorical_crossentropy([1, 2], y_pred).round(4)
    array([0.2231, 0.5108], dtype=float32)
    """
    return SparseCategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def categorical_crossentropy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> DeviceArray:
    """Per-sample -sum_j t_j log p_j, shape y_pred.shape[:-1].

    Args:
        y_true: one-hot (or soft) targets shaped like y_pred.
        y_pred: (N, k) probabilities, or logits with ``from_logits=True``.
        from_logits: y_pred holds logits.
        label_smoothing: s in [0, 1]: targets become t (1 - s) + s / k.

    Returns:
        The per-sample losses.

    Raises:
        ValueError: for targets not shaped like y_pred, or ``label_smoothing`` outside [0, 1].

    Example:

    >>> y_pred = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], dtype="float32")
    >>> tinyconv.losses.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], y_pred).round(4)
    array([0.2231, 0.5108], dtype=float32)
    """
    return CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing).call(y_true, y_pred)


def binary_crossentropy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, from_logits: bool = False,
                        label_smoothing: float = 0.0) -> DeviceArray:
    """Per-sample mean over the last axis of -(y log p + (1 - y) log(1 - p)).

    Args:
        y_true: 0/1 (or soft) targets shaped like y_pred.
        y_pred: probabilities, or logits with ``from_logits=True``.
        from_logits: y_pred holds logits.
        label_smoothing: s in [0, 1]: targets become y (1 - s) + s / 2.

    Returns:
        The per-sample losses.

    Raises:
        ValueError: for targets not shaped like y_pred, or ``label_smoothing`` outside [0, 1].

    Example:

    >>> tinyconv.losses.binary_crossentropy([[1.0], [0.0]], np.array([[0.9], [0.2]], dtype="float32")).round(4)
    array([0.1054, 0.2231], dtype=float32)
    """
    return BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing).call(y_true, y_pred)


def mean_squared_error(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> DeviceArray:
    """Per-sample mean over the last axis of (y_true - y_pred)^2 (also ``mse`` and ``MSE``).

    Args:
        y_true: the targets, shaped like y_pred.
        y_pred: the predictions.

    Returns:
        The per-sample losses.

    Raises:
        ValueError: for targets not shaped like y_pred.

    Example:

    >>> tinyconv.losses.mse([[1.0, 2.0], [0.0, 0.0]], np.array([[1.0, 4.0], [1.0, 1.0]]))
    array([2., 1.])
    """
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> DeviceArray:
    """Per-sample mean over the last axis of |y_true - y_pred| (also ``mae`` and ``MAE``).

    Args:
        y_true: the targets, shaped like y_pred.
        y_pred: the predictions.

    Returns:
        The per-sample losses.

    Raises:
        ValueError: for targets not shaped like y_pred.

    Example:

    >>> tinyconv.losses.mae([[1.0, 2.0], [0.0, 0.0]], np.array([[1.0, 4.0], [1.0, 1.0]]))
    array([1., 1.])
    """
    return MeanAbsoluteError().call(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


# ----------------------------------------------------------------------------------------------------------
# lookup
# ----------------------------------------------------------------------------------------------------------
_CLASSES: dict[str, type[Loss]] = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
}
_BY_CLASS_NAME: dict[str, type[Loss]] = {cls.__name__: cls for cls in set(_CLASSES.values())}
serialization.register("losses", {**_BY_CLASS_NAME, "Loss": Loss})
_FUNCTIONS = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
}


def get(identifier: str | Loss | type[Loss] | dict[str, Any] | Callable[..., Any]) -> Loss:
    """A Loss instance from a Keras name ('mse', 'sparse_categorical_crossentropy', 'BinaryCrossentropy'),
    a config dict, a Loss instance or class, or one of this module's loss functions.

    Args:
        identifier: a name, a ``{"class_name": ..., "config": ...}`` dict, a ``Loss`` (returned as it is), a
            ``Loss`` subclass, or a function of this module such as ``tinyconv.losses.mse``.

    Returns:
        A ``Loss``.

    Raises:
        ValueError: for an unknown name, or a function of the user's own (it has no gradient: subclass
            ``Loss`` instead).

    Example:

    >>> tinyconv.losses.get("mse"), tinyconv.losses.get(tinyconv.losses.mean_absolute_error)
    (MeanSquaredError(reduction='sum_over_batch_size'), MeanAbsoluteError(reduction='sum_over_batch_size'))
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier) or _CLASSES.get(identifier.lower()) or _BY_CLASS_NAME.get(identifier)
        if cls is None:
            valid = sorted(_CLASSES) + sorted(_BY_CLASS_NAME)
            raise ValueError(f"Unknown loss {identifier!r}. Valid names: {', '.join(valid)}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_CLASS_NAME.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown loss class {identifier['class_name']!r}; known: {sorted(_BY_CLASS_NAME)}")
        return cls.from_config(identifier.get("config", {}))
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if callable(identifier):
        raise ValueError(
            f"Loss function {getattr(identifier, '__name__', identifier)!r} has no gradient: tinyconv does "
            "explicit backprop without autograd. Subclass tinyconv.losses.Loss and implement "
            "_pair(y_true, y_pred) -> (per_sample_loss, d_per_sample_loss/d_y_pred)."
        )
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss: Loss) -> dict[str, Any]:
    """A loss as a ``{"class_name": ..., "config": ...}`` dict, which ``deserialize`` reads back.

    Args:
        loss: a ``Loss``.

    Example:

    >>> tinyconv.losses.serialize(tinyconv.losses.MeanSquaredError())
    {'class_name': 'MeanSquaredError', 'config': {'name': 'mean_squared_error', 'reduction': 'sum_over_batch_size', 'dtype': None}}
    """
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict[str, Any] | str | Loss) -> Loss:
    """A loss from what ``serialize`` returned (or anything ``get`` accepts).

    Args:
        config: a ``{"class_name": ..., "config": ...}`` dict.

    Raises:
        ValueError: if ``config`` names no known loss.

    Example:

    >>> tinyconv.losses.deserialize({"class_name": "BinaryCrossentropy", "config": {"from_logits": True}})
    BinaryCrossentropy(reduction='sum_over_batch_size', from_logits=True, label_smoothing=0.0)
    """
    return get(config)
