"""The confusion matrix: row = true class, column = predicted class, entry = how many samples."""
import numpy as np


def _labels(values, what):
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] > 1:
        values = values.argmax(axis=1)  # one-hot rows or probabilities -> class indices
    values = values.reshape(-1)
    if values.size and (not np.all(np.equal(np.mod(values, 1), 0)) or values.min() < 0):
        raise ValueError(f"confusion_matrix: {what} must be non-negative class indices (or one-hot rows)")
    return values.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """counts[t, p] = number of samples of true class t predicted as p.

    Args:
        y_true: the true labels: class indices, or one-hot rows (their argmax is taken).
        y_pred: the predicted labels: class indices, or one-hot / probability rows.
        num_classes: the matrix size; None: the largest label + 1.

    Returns:
        An int64 array of shape (num_classes, num_classes).

    Raises:
        ValueError: if the labels are not non-negative integers, or their counts differ.

    Example:

    >>> tinyconv.teaching.confusion.confusion_matrix([0, 1, 1], [0, 1, 0])
    array([[1, 0],
           [1, 1]])
    """
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true has {y_true.size} labels, y_pred has {y_pred.size}")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts
