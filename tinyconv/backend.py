"""``keras.backend``-style settings: float type, image layout, fuzz factor, sessions.

Arrays live on the CPU as NumPy arrays.
"""
import numpy as np

from . import naming

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


def floatx():
    """The default float type of weights and activations ('float32')."""
    return _FLOATX


def set_floatx(value):
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"floatx must be 'float32' or 'float64', got {value!r}")
    _FLOATX = value


def epsilon():
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    return _IMAGE_DATA_FORMAT


def set_image_data_format(value):
    global _IMAGE_DATA_FORMAT
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"image data format must be 'channels_last' or 'channels_first', got {value!r}")
    _IMAGE_DATA_FORMAT = value


def clear_session():
    """Restart automatic names from ``conv2d``, ``dense`` ... as Keras does."""
    naming.reset()


def standardize_dtype(dtype):
    return np.dtype(dtype if dtype is not None else _FLOATX).name
