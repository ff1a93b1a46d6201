"""``keras.utils``: seeding and label helpers.  (The gradient check is teaching material:
``tinyconv.teaching.gradient_check``.)"""
import numpy as np

from ..serialization import get_registered_name, get_registered_object, register_keras_serializable
from .files import get_file
from .image_dataset import image_dataset_from_directory
from .images import array_to_img, img_to_array, load_img, save_img
from .plotting import model_to_dot, plot_model
from .random import set_random_seed
from .sequence import Sequence


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer class labels -> one-hot rows: 3 -> [0, 0, 0, 1, 0, ...] (Keras's ``to_categorical``).

    Args:
        y: integer labels, any shape (a trailing axis of size 1 is dropped, as Keras does).
        num_classes: the number of classes; default the largest label + 1.
        dtype: the dtype of the result.

    Returns:
        An array of shape ``y.shape + (num_classes,)``.

    Raises:
        ValueError: for negative or fractional labels, or a label >= ``num_classes``.

    Example:

    >>> tinyconv.utils.to_categorical([0, 2, 1], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])  # Keras accepts labels shaped (N, 1)
    if y.size and (not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0):
        raise ValueError("to_categorical: labels must be non-negative integers")
    y = y.astype(np.int64)
    largest = int(y.max()) if y.size else -1
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise ValueError(f"to_categorical: label {largest} is out of range for num_classes={num_classes}")
    one_hot = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(one_hot, y[..., None], 1, axis=-1)
    return one_hot


def normalize(x, axis=-1, order=2):
    """Scale ``x`` so every slice along ``axis`` has unit ``order``-norm (all-zero slices stay zero).

    Args:
        x: an array.
        axis: the axis along which each slice is normalised.
        order: the norm's order (2: Euclidean, 1: sum of absolute values).

    Returns:
        An array of ``x``'s shape.

    Example:

    >>> tinyconv.utils.normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    x = np.asarray(x)
    norms = np.atleast_1d(np.linalg.norm(x, order, axis))
    norms[norms == 0] = 1  # leave all-zero rows alone instead of dividing by zero
    return x / np.expand_dims(norms, axis)


__all__ = ["Sequence", "array_to_img", "get_file", "get_registered_name", "get_registered_object",
           "image_dataset_from_directory", "img_to_array", "load_img", "model_to_dot", "normalize", "plot_model",
           "register_keras_serializable", "save_img", "set_random_seed", "to_categorical"]
