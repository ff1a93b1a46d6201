"""Metrics: per-sample functions, Keras-3 style name resolution, and a running mean for epoch averages.

A metric function takes ``(y_true, y_pred)`` for one batch and returns one value per sample (or per element),
e.g. 1.0 where the prediction was right and 0.0 where it was wrong. ``MeanMetric`` averages those values over
all the batches of an epoch, weighting each batch by how many samples it had.
"""
import numpy as np

from .losses import (
    BinaryCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_crossentropy,
)


def _labels_like(y_true, y_pred):
    """Keras: (N, 1) integer labels against (N, k) outputs are squeezed to (N,)."""
    y_true = np.asarray(y_true)
    if y_true.ndim == np.ndim(y_pred) and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) == label, else 0.0; shape (N,). Works on probabilities or logits."""
    y_pred = np.asarray(y_pred)
    labels = _labels_like(y_true, y_pred)
    return (np.argmax(y_pred, axis=-1) == labels).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) == argmax(y_true) (one-hot targets), else 0.0; shape (N,)."""
    return (np.argmax(np.asarray(y_pred), axis=-1) == np.argmax(np.asarray(y_true), axis=-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals the 0/1 target, per element (shape of y_pred), as Keras.

    Note, as in Keras: the threshold is applied to y_pred as given, so with from_logits=True models
    pass ``threshold=0.0`` yourself.
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return ((y_pred > threshold).astype(y_true.dtype) == y_true).astype(np.float32)


_NAMED = {
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
}


def resolve(identifier, loss=None, output_shape=None, y_true_shape=None):
    """``(display_name, fn)`` for a metric given to ``compile(metrics=[...])``.

    'accuracy' / 'acc' pick the accuracy that fits the problem, and keep the name the user wrote:

    * with ``y_true_shape`` known (Keras 3 decides on the first batch): binary accuracy if the output's last
      dim is 1; else sparse categorical if y_true has lower rank than the output or a last dim of 1;
      else categorical;
    * without it: binary if the loss is BinaryCrossentropy or the output's last dim is 1; sparse categorical
      if the loss is SparseCategoricalCrossentropy; else categorical.

    Explicit names ('sparse_categorical_accuracy', 'mse', 'mae', ...) and callables (named by ``__name__``)
    are taken as they are.
    """
    if identifier is None:
        raise ValueError("Expected a metric, received None")
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return identifier, _pick_accuracy(loss, output_shape, y_true_shape)
    if isinstance(identifier, str):
        fn = _NAMED.get(identifier) or _NAMED.get(identifier.lower())
        if fn is None:
            valid = ["accuracy", "acc"] + sorted(_NAMED)
            raise ValueError(f"Unknown metric {identifier!r}. Valid names: {', '.join(valid)}")
        return identifier, fn
    if callable(identifier):
        return getattr(identifier, "__name__", type(identifier).__name__), identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def _pick_accuracy(loss, output_shape, y_true_shape):
    last = output_shape[-1] if output_shape else None
    if last == 1:
        return binary_accuracy
    if y_true_shape is not None and output_shape is not None:
        if len(y_true_shape) < len(output_shape) or (y_true_shape[-1] == 1 and (last or 0) > 1):
            return sparse_categorical_accuracy
        return categorical_accuracy
    if isinstance(loss, str):
        loss = loss.lower()
    if isinstance(loss, BinaryCrossentropy) or loss in ("binary_crossentropy", binary_crossentropy):
        return binary_accuracy
    if isinstance(loss, SparseCategoricalCrossentropy) or loss in (
            "sparse_categorical_crossentropy", sparse_categorical_crossentropy):
        return sparse_categorical_accuracy
    return categorical_accuracy


class MeanMetric:
    """Running weighted mean: result = sum_i w_i v_i / sum_i w_i over everything seen since reset_state().

    ``update_state(values, sample_weight)`` first reduces values to one number per sample (mean over the
    trailing axes). Without weights each sample counts 1, so a batch of 32 counts 32 times a batch of 1.
    A scalar (such as a batch's mean loss) with ``sample_weight=batch_size`` counts as batch_size samples.
    """

    def __init__(self, name="mean", dtype=None):
        self.name = name
        self.dtype = dtype
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            per_sample = values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values
            self.total += float(per_sample.sum())
            self.count += float(per_sample.shape[0]) if per_sample.ndim else 1.0
            return
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim > values.ndim and w.shape[-1] == 1:
            w = w.reshape(w.shape[:-1])
        if values.ndim > w.ndim:  # average values down to the weight's rank
            values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
        try:
            w = np.broadcast_to(w, values.shape)
        except ValueError:
            raise ValueError(
                f"MeanMetric '{self.name}': sample_weight of shape {np.shape(sample_weight)} does not fit "
                f"values of shape {np.shape(values)}"
            ) from None
        self.total += float((values * w).sum())
        self.count += float(w.sum())

    def result(self):
        """The weighted mean so far (0.0 before any update, as Keras's divide_no_nan)."""
        return self.total / self.count if self.count else 0.0

    def __repr__(self):
        return f"MeanMetric(name={self.name!r}, result={self.result():.6g})"


Mean = MeanMetric
