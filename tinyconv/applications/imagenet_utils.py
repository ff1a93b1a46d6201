"""``keras.applications.imagenet_utils``: the three ImageNet input conventions, and the class names.

Each pretrained family expects its images scaled the way it was trained:

* ``"caffe"`` (VGG, ResNet): RGB -> BGR, then each channel minus its ImageNet mean
  (B 103.939, G 116.779, R 123.68); no scaling.
* ``"tf"`` (MobileNet, MobileNetV2): ``x / 127.5 - 1``, pixels in [-1, 1].
* ``"torch"`` (DenseNet): ``x / 255``, then each channel minus its mean (0.485, 0.456, 0.406) and divided
  by its standard deviation (0.229, 0.224, 0.225).
"""
import json

import numpy as np

from .. import backend
from . import _files

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)

_CLASS_INDEX = None  # read once from Keras's imagenet_class_index.json


def preprocess_input(x, data_format=None, mode="caffe"):
    """Scale a batch of RGB images in [0, 255] the way an ImageNet model expects.

    Unlike Keras, which may write the result over a float input, the input is never changed.

    Args:
        x: an array of images, 3D (one image) or 4D (a batch), with 3 colour channels, values in [0, 255].
        data_format: ``"channels_last"`` or ``"channels_first"``; None means
            ``tinyconv.backend.image_data_format()``.
        mode: ``"caffe"``, ``"tf"`` or ``"torch"`` (see the module's docstring).

    Returns:
        A new float array (float inputs keep their dtype; others become ``floatx()``).

    Raises:
        ValueError: for an unknown ``mode`` or ``data_format``, or an image without 3 channels.

    Example:

    >>> image = np.full((1, 2, 2, 3), 255.0)
    >>> preprocess_input(image, mode="tf")[0, 0, 0]
    array([1., 1., 1.])
    >>> preprocess_input(image, mode="caffe")[0, 0, 0].round(3)
    array([151.061, 138.221, 131.32 ])
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"preprocess_input: mode must be 'caffe', 'tf' or 'torch', got mode={mode!r}")
    if data_format is None:
        data_format = backend.image_data_format()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(f"preprocess_input: data_format must be 'channels_first' or 'channels_last', got "
                         f"data_format={data_format!r}")
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(backend.floatx())
    x = x.astype(dtype, copy=True)
    if mode == "tf":
        return x / dtype.type(127.5) - dtype.type(1.0)
    channel_axis = (0 if x.ndim == 3 else 1) if data_format == "channels_first" else x.ndim - 1
    if x.ndim not in (3, 4) or x.shape[channel_axis] != 3:
        raise ValueError(f"preprocess_input: expected RGB images of shape (rows, cols, 3) or a batch of them "
                         f"({data_format}), got shape {x.shape}")
    # per-channel constants shaped to broadcast along the channel axis
    shape = [1] * x.ndim
    shape[channel_axis] = 3
    if mode == "torch":
        x /= dtype.type(255.0)
        return (x - np.reshape(TORCH_MEAN_RGB, shape).astype(dtype)) / np.reshape(TORCH_STD_RGB, shape).astype(dtype)
    bgr = np.flip(x, axis=channel_axis)
    return bgr - np.reshape(CAFFE_MEAN_BGR, shape).astype(dtype)


def class_index():
    """``{"0": ["n01440764", "tench"], ...}``: Keras's ImageNet class index, read from Keras's cache."""
    global _CLASS_INDEX
    if _CLASS_INDEX is None:
        path = _files.fetch("imagenet_class_index.json", _files.CLASS_INDEX_URL, _files.CLASS_INDEX_MD5,
                            what="decode_predictions: the ImageNet class index")
        with open(path) as handle:
            _CLASS_INDEX = json.load(handle)
    return _CLASS_INDEX


def decode_predictions(preds, top=5):
    """The ``top`` most probable ImageNet classes of each prediction, best first.

    The class names come from Keras's ``imagenet_class_index.json``, looked for in Keras's cache
    (``~/.keras/models``) and downloaded from Keras's address when missing.

    Args:
        preds: an array of shape ``(samples, 1000)``.
        top: how many classes to return per sample.

    Returns:
        One list per sample of ``(class_name, class_description, score)`` tuples.

    Raises:
        ValueError: when ``preds`` is not of shape ``(samples, 1000)``.
        FileNotFoundError: the class index is not cached and could not be downloaded (the message says where
            to put it).

    Example:

    >>> decode_predictions(np.zeros((1, 10)))
    Traceback (most recent call last):
    ...
    ValueError: decode_predictions: expected a batch of predictions of shape (samples, 1000), got shape (1, 10)
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"decode_predictions: expected a batch of predictions of shape (samples, 1000), got "
                         f"shape {preds.shape}")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"decode_predictions: top must be a positive int, got top={top!r}")
    index = class_index()
    results = []
    for pred in preds:
        best = np.argsort(pred, kind="stable")[::-1][:top]
        results.append([tuple(index[str(i)]) + (pred[i],) for i in best])
    return results


__all__ = ["decode_predictions", "preprocess_input"]
