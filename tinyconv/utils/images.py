"""``keras.utils.load_img`` / ``img_to_array`` / ``array_to_img`` / ``save_img``: image files <-> arrays.

Files are read and written with Pillow (``pip install pillow``), as Keras does; the functions that
need it say so when it is missing. ``img_to_array`` needs only NumPy. Arrays are float32 (H, W, C)
(channels_last) by default, with values 0..255.
"""
import io
import pathlib
import warnings

import numpy as np

from .. import backend

COLOR_MODES = ("grayscale", "rgb", "rgba")


def pil_image():
    """Pillow's ``PIL.Image`` module, or an ImportError that says how to install it.

    Returns:
        The ``PIL.Image`` module.

    Raises:
        ImportError: without Pillow, naming the pip command that installs it.

    Example:

    >>> pil_image().new("RGB", (2, 1)).size
    (2, 1)
    """
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("Reading and writing image files needs Pillow: pip install pillow "
                          "(or pip install 'tinyconv[dev]')") from error
    return Image


def pil_interpolations():
    """Keras's interpolation names -> Pillow's resampling filters.

    Returns:
        A dict from "nearest", "bilinear", "bicubic", "hamming", "box", "lanczos" to Pillow's filters.

    Example:

    >>> sorted(pil_interpolations())
    ['bicubic', 'bilinear', 'box', 'hamming', 'lanczos', 'nearest']
    """
    resampling = getattr(pil_image(), "Resampling", pil_image())
    return {"nearest": resampling.NEAREST, "bilinear": resampling.BILINEAR, "bicubic": resampling.BICUBIC,
            "hamming": resampling.HAMMING, "box": resampling.BOX, "lanczos": resampling.LANCZOS}


def _data_format(data_format):
    data_format = data_format or backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Loads an image file as a Pillow image, optionally converted and resized.

    Args:
        path: a file path (str, bytes or pathlib.Path) or an ``io.BytesIO``.
        color_mode: ``"grayscale"``, ``"rgb"`` or ``"rgba"``.
        target_size: None (keep the size) or ``(height, width)``.
        interpolation: Pillow's filter for resizing: ``"nearest"``, ``"bilinear"``, ``"bicubic"``,
            ``"hamming"``, ``"box"`` or ``"lanczos"``.
        keep_aspect_ratio: resize the largest centred crop with the target's aspect ratio instead of
            stretching the whole image.

    Returns:
        A ``PIL.Image.Image``.

    Raises:
        ImportError: Pillow is not installed.
        TypeError / ValueError: a bad ``path``, ``color_mode`` or ``interpolation``.

    Example:

    >>> import io
    >>> buffer = io.BytesIO()
    >>> save_img(buffer, np.zeros((4, 6, 3)), file_format="png")
    >>> load_img(buffer, target_size=(2, 3)).size  # Pillow sizes are (width, height)
    (3, 2)
    """
    image_module = pil_image()
    if color_mode not in COLOR_MODES:
        raise ValueError(f"load_img: color_mode must be one of {COLOR_MODES}, got {color_mode!r}")
    if isinstance(path, io.BytesIO):
        path.seek(0)
        image = image_module.open(path)
    elif isinstance(path, (str, bytes, pathlib.Path)):
        with open(path, "rb") as f:  # read it whole: the file is closed before Pillow decodes lazily
            image = image_module.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"load_img: path should be path-like or io.BytesIO, got {type(path).__name__}")

    if color_mode == "grayscale":
        if image.mode not in ("L", "I;16", "I"):
            image = image.convert("L")
    elif image.mode != color_mode.upper():
        image = image.convert(color_mode.upper())

    if target_size is None:
        return image
    target_height, target_width = (int(s) for s in target_size)
    if image.size == (target_width, target_height):
        return image
    filters = pil_interpolations()
    if interpolation not in filters:
        raise ValueError(f"load_img: interpolation must be one of {sorted(filters)}, got {interpolation!r}")
    box = None
    if keep_aspect_ratio:
        width, height = image.size
        crop_height = min(height, (width * target_height) // target_width)
        crop_width = min(width, (height * target_width) // target_height)
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
        box = (left, top, left + crop_width, top + crop_height)
    return image.resize((target_width, target_height), filters[interpolation], box=box)


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image (or any array-like) as a (H, W, C) array; grey images get a channel axis of 1.

    Args:
        img: a Pillow image or an array of shape (H, W) or (H, W, C).
        data_format: ``"channels_last"`` (default) or ``"channels_first"`` (C, H, W).
        dtype: the array's dtype (default float32).

    Returns:
        A NumPy array.

    Example:

    >>> img_to_array(np.ones((2, 3))).shape
    (2, 3, 1)
    """
    data_format = _data_format(data_format)
    x = np.asarray(img, dtype=dtype or backend.floatx())
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"img_to_array: expected an image of shape (height, width[, channels]), got {x.shape}")
    return np.ascontiguousarray(x.transpose(2, 0, 1)) if data_format == "channels_first" else x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A (H, W, C) array as a Pillow image (C = 1, 3 or 4).

    Args:
        x: the array.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        scale: stretch the values to 0..255 (min -> 0, max -> 255) before the uint8 conversion.
        dtype: the dtype the values are computed in (default float32).

    Returns:
        A ``PIL.Image.Image`` (mode L, I, RGB or RGBA).

    Example:

    >>> array_to_img(np.zeros((2, 3, 3))).size
    (3, 2)
    """
    image_module = pil_image()
    x = np.array(x, dtype=dtype or backend.floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected one image of rank 3, got shape {x.shape}")
    if _data_format(data_format) == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        peak = np.max(x)
        if peak != 0:
            x /= peak
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image_module.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if np.max(x) > 255:  # more than 8 bits: a 32-bit integer image
            return image_module.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_module.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: unsupported number of channels {channels} (expected 1, 3 or 4)")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves an array as an image file.

    Args:
        path: a file path or a file object.
        x: the (H, W, C) array.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        file_format: e.g. ``"png"``, ``"jpeg"``; None takes it from the file name's extension.
        scale: stretch the values to 0..255 first (see ``array_to_img``).
        **kwargs: passed to ``PIL.Image.Image.save`` (e.g. ``quality=``).

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> save_img(path, np.random.rand(4, 4, 3))
    >>> load_img(path).size
    (4, 4)
    """
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    image = array_to_img(x, data_format=data_format, scale=scale)
    if image.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("save_img: JPEG has no alpha channel; saving the RGB channels only", stacklevel=2)
        image = image.convert("RGB")
    image.save(path, format=file_format, **kwargs)
