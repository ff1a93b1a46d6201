"""Random geometric augmentation: ``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation``.

In training each image of the batch gets its own random transform; at inference they are the identity.
Rotation, zoom and translation are affine warps: each output pixel reads the input at
(x_in, y_in) = A (x, y) + t, blended from its neighbours (``tinyconv/utils/resample.py`` has the formulas,
a loop reference and the sparse-matrix twin used here). The warp is linear in the image, so backward sends
each output gradient back along the same taps with the same weights (dx = S^T dy) - the transform itself
is random, not learned, and gets no gradient. A flip's backward is the same flip.
"""
import math

import numpy as np

from ... import devices
from ...utils import resample
from .base import RandomImageLayer, factor_range

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(RandomImageLayer):
    """Flips each image left-right and/or upside down with probability 1/2 (in training).

    With ``mode="horizontal_and_vertical"`` one coin per image decides both flips together (Keras 3).

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"`` (default).
        seed: makes the flips repeatable.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        Same as the input.

    Example:

    >>> x = np.arange(4.).reshape(1, 1, 4, 1)
    >>> layers.RandomFlip("horizontal")(x, training=False)[0, 0, :, 0].tolist()
    [0.0, 1.0, 2.0, 3.0]
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in FLIP_MODES:
            raise ValueError(f"{self.describe()}: mode must be one of {FLIP_MODES}, got {mode!r}")
        self.mode = mode

    def _flip(self, x, flips):
        """x with the images where ``flips`` is True mirrored along the mode's axes (its own inverse)."""
        row_axis, col_axis = (2, 3) if self.data_format == "channels_first" else (1, 2)
        axes = {"horizontal": (col_axis,), "vertical": (row_axis,),
                "horizontal_and_vertical": (row_axis, col_axis)}[self.mode]
        xp = devices.array_module_of(x)
        chosen = xp.asarray(flips.reshape((-1,) + (1,) * (x.ndim - 1)))   # host coins, one per image
        return xp.where(chosen, xp.flip(x, axis=axes), x)

    def forward(self, x, training=False):
        self._flips = None
        if not training:
            return x
        self._flips = self.rng().uniform(size=len(x)) <= 0.5
        return self._flip(x, self._flips)

    def backward(self, dy, need_input_gradient=True):
        if not need_input_gradient:
            return None
        return dy if self._flips is None else self._flip(dy, self._flips)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _RandomAffine(RandomImageLayer):
    """A random affine warp per image: subclasses draw the transforms (``_transforms``)."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in resample.FILL_MODES:
            raise ValueError(f"{self.describe()}: fill_mode must be one of {resample.FILL_MODES}, got {fill_mode!r}")
        if interpolation not in resample.WARP_INTERPOLATIONS:
            raise ValueError(f"{self.describe()}: interpolation must be one of {resample.WARP_INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def _transforms(self, n, height, width):
        raise NotImplementedError

    def forward(self, x, training=False):
        self._warp = None
        if not training:
            return x
        x = self._to_nhwc(x)
        transforms = self._transforms(len(x), x.shape[1], x.shape[2])
        warp = resample.AffineWarp(transforms, x.shape, self.interpolation, self.fill_mode, self.fill_value)
        self._warp = warp if devices.is_numpy(x) else WarpOnDevice(warp, devices.array_module_of(x))
        return self._from_nhwc(self._warp.forward(x))

    def backward(self, dy, need_input_gradient=True):
        if not need_input_gradient:
            return None
        if self._warp is None:
            return dy
        return self._from_nhwc(self._warp.backward(self._to_nhwc(dy)))

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class WarpOnDevice:
    """An ``AffineWarp``'s sparse matrix S applied to GPU images: its (output, input, weight) entries are
    copied to the device once per batch; y = S x is a gather and a scatter-add, dx = S^T dy the same
    with the roles of the two index lists swapped.

    Args:
        warp: the ``resample.AffineWarp`` built on the host for this batch.
        xp: the array module of the images (CuPy).
    """

    def __init__(self, warp, xp):
        entries = warp.matrix.tocoo()
        self.xp, self.shape, self.fill_value = xp, warp.shape, warp.fill_value
        self.outputs, self.inputs = xp.asarray(entries.row.astype(np.int64)), xp.asarray(entries.col.astype(np.int64))
        self.weights = xp.asarray(entries.data)
        self.outside = xp.asarray(warp.outside) if warp.fill_value != 0.0 else None

    def _apply(self, values, read, write, rows):
        flat = values.reshape(-1, values.shape[-1])
        out = self.xp.zeros((rows, flat.shape[1]), dtype=values.dtype)
        contributions = self.weights.astype(values.dtype)[:, None] * flat[read]
        return devices.scatter_add(out, write, contributions)

    def forward(self, x):
        y = self._apply(x, self.inputs, self.outputs, x.shape[0] * x.shape[1] * x.shape[2])
        if self.outside is not None:
            y += (self.fill_value * self.outside[:, None]).astype(x.dtype)
        return y.reshape(x.shape)

    def backward(self, dy):
        dx = self._apply(dy, self.outputs, self.inputs, self.shape[0] * self.shape[1] * self.shape[2])
        return dx.reshape(self.shape[:3] + (dy.shape[-1],))


def rotation_transforms(angles_degrees, height, width):
    """Keras's rotation about the image centre ((W-1)/2, (H-1)/2), one [a0, a1, a2, b0, b1, b2, 0, 0] per angle."""
    theta = np.asarray(angles_degrees, dtype=np.float64) * (math.pi / 180.0)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    a0, a1, b0, b1 = np.cos(theta), -np.sin(theta), np.sin(theta), np.cos(theta)
    zeros = np.zeros_like(theta)
    return np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1, zeros, zeros], axis=1)


def zoom_transforms(height_zooms, width_zooms, height, width):
    """Scale about the centre: x_in = zw x + (W-1)/2 (1 - zw), y_in likewise (zoom > 1 shows more)."""
    zh, zw = np.asarray(height_zooms, np.float64), np.asarray(width_zooms, np.float64)
    zeros = np.zeros_like(zh)
    return np.stack([zw, zeros, (width - 1) / 2.0 * (1 - zw), zeros, zh, (height - 1) / 2.0 * (1 - zh),
                     zeros, zeros], axis=1)


def translation_transforms(dy_pixels, dx_pixels):
    """Shift by (dx, dy) pixels: the output at (x, y) reads the input at (x - dx, y - dy)."""
    dy_pixels, dx_pixels = np.asarray(dy_pixels, np.float64), np.asarray(dx_pixels, np.float64)
    ones, zeros = np.ones_like(dy_pixels), np.zeros_like(dy_pixels)
    return np.stack([ones, zeros, -dx_pixels, zeros, ones, -dy_pixels, zeros, zeros], axis=1)


class RandomRotation(_RandomAffine):
    """Rotates each image by a random angle (in training), in fractions of a full turn.

    ``factor=0.1`` draws angles uniformly in [-36, 36] degrees (0.1 x 360); ``factor=(-0.2, 0.3)`` in
    [-72, 108]. Pixels that come from outside the image are filled as ``fill_mode`` says.

    Args:
        factor: a number f (angles in [-f, f] turns) or a pair (lower, upper).
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: makes the rotations repeatable.
        fill_value: the value outside the image with ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        Same as the input.

    Example:

    >>> x = np.random.default_rng(0).random((2, 5, 5, 1))
    >>> np.allclose(layers.RandomRotation(0.0)(x), x)
    True
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.factor = factor_range(factor, (-1.0, 1.0), "factor", self.describe(), loose_pairs=True)

    def _transforms(self, n, height, width):
        angles = self.rng().uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, size=n)
        return rotation_transforms(angles, height, width)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_RandomAffine):
    """Zooms each image in or out by a random factor (in training).

    ``height_factor=0.2`` draws a vertical zoom in [-20%, +20%]: a positive value zooms *out* (the image
    shrinks and the border is filled), a negative one zooms in. ``width_factor=None`` keeps the aspect
    ratio (the same zoom both ways).

    Args:
        height_factor: a number f in (-1, 1] (zoom in [-f, f]) or a pair (lower, upper).
        width_factor: the same for the width, or None to follow the height.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: makes the zooms repeatable.
        fill_value: the value outside the image with ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        Same as the input.

    Example:

    >>> layers.RandomZoom(0.2, seed=1)(np.ones((2, 6, 6, 3))).shape
    (2, 6, 6, 3)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height_range = factor_range(height_factor, (-1.0, 1.0), "height_factor", self.describe(),
                                          open_lower=True)
        self._width_range = None if width_factor is None else factor_range(
            width_factor, (-1.0, 1.0), "width_factor", self.describe(), open_lower=True)

    def _transforms(self, n, height, width):
        rng = self.rng()
        height_zoom = rng.uniform(1.0 + self._height_range[0], 1.0 + self._height_range[1], size=n)
        width_zoom = height_zoom if self._width_range is None else rng.uniform(
            1.0 + self._width_range[0], 1.0 + self._width_range[1], size=n)
        return zoom_transforms(height_zoom, width_zoom, height, width)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_RandomAffine):
    """Shifts each image by a random fraction of its size (in training).

    ``height_factor=0.1`` shifts up or down by up to 10% of the height; ``width_factor`` likewise
    sideways. Positive values shift down / right.

    Args:
        height_factor: a number f in [-1, 1] (shift in [-f, f] x height) or a pair (lower, upper).
        width_factor: the same for the width.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: makes the shifts repeatable.
        fill_value: the value outside the image with ``fill_mode="constant"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        Same as the input.

    Example:

    >>> layers.RandomTranslation(0.1, 0.1, seed=1)(np.ones((2, 6, 6, 3))).shape
    (2, 6, 6, 3)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height_range = factor_range(height_factor, (-1.0, 1.0), "height_factor", self.describe())
        self._width_range = factor_range(width_factor, (-1.0, 1.0), "width_factor", self.describe())

    def _transforms(self, n, height, width):
        rng = self.rng()
        shift_rows = rng.uniform(*self._height_range, size=n) * height
        shift_cols = rng.uniform(*self._width_range, size=n) * width
        return translation_transforms(shift_rows, shift_cols)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}
