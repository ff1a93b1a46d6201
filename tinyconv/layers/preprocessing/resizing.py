"""Changing the size of images: ``Resizing``, ``CenterCrop`` and ``RandomCrop``.

Each is "cut a box out of the image (or pad it), then resize the box to (height, width)": a linear map,
so backward resizes the gradient back (the transpose of the resize, see ``tinyconv/utils/resample.py``)
and puts it in the box, zeros elsewhere (cropped pixels did not reach the output).

Resizing by a whole factor (8x8 -> 16x24) goes through the compiled up-sampling kernels of
``UpSampling2D`` (``dispatch.upsample2d_bilinear_forward`` / ``..._nearest_...``), which compute exactly
these half-pixel formulas; other sizes use the separable matrices of ``utils/resample.py``, applied on the
device of the images (two matrix products).
"""
from ... import devices, dispatch
from ...utils import resample
from ..arguments import contiguous, positive_int
from .base import ImageLayer, RandomImageLayer


def resize_separable(x, rows, cols):
    """y[n, i, j, c] = sum_h sum_w rows[i, h] cols[j, w] x[n, h, w, c]: two matrix products on ``x``'s device.

    ``rows`` and ``cols`` are host matrices (``resample.resize_matrix``, or their transposes for the
    backward), copied next to ``x``."""
    xp = devices.array_module_of(x)
    n, height, width, channels = x.shape
    rows, cols = xp.asarray(rows, dtype=x.dtype), xp.asarray(cols, dtype=x.dtype)
    along_rows = xp.matmul(rows, x.reshape(n, height, width * channels))      # (n, OH, W*C)
    along_rows = along_rows.reshape(n, rows.shape[0], width, channels)
    return xp.matmul(cols, along_rows)                                         # (OW, W) @ (n, OH, W, C)


def _is_upsampling_by_whole_factors(in_hw, out_hw):
    return all(o % i == 0 and o >= i for i, o in zip(in_hw, out_hw)) and out_hw != in_hw


class _BoxResize:
    """One batch's "crop (top, left, h, w) then resize to out_hw" with its backward."""

    def __init__(self, shape, box, out_hw, interpolation):
        self.shape, self.box, self.out_hw, self.interpolation = shape, box, tuple(out_hw), interpolation

    def forward(self, x):
        top, left, height, width = self.box
        x = contiguous(x[:, top:top + height, left:left + width, :])
        if (height, width) == self.out_hw:
            return x
        if _is_upsampling_by_whole_factors((height, width), self.out_hw):
            factors = (self.out_hw[0] // height, self.out_hw[1] // width)
            kernel = (dispatch.upsample2d_bilinear_forward if self.interpolation == "bilinear"
                      else dispatch.upsample2d_nearest_forward)
            return kernel(x, factors)
        return resize_separable(x, resample.resize_matrix(self.out_hw[0], height, self.interpolation),
                                resample.resize_matrix(self.out_hw[1], width, self.interpolation))

    def backward(self, dy):
        top, left, height, width = self.box
        box_shape = (self.shape[0], height, width, self.shape[3])
        dy = contiguous(dy)
        if (height, width) == self.out_hw:
            d_box = dy
        elif _is_upsampling_by_whole_factors((height, width), self.out_hw):
            kernel = (dispatch.upsample2d_bilinear_backward if self.interpolation == "bilinear"
                      else dispatch.upsample2d_nearest_backward)
            d_box = kernel(dy, box_shape)
        else:
            d_box = resize_separable(dy, resample.resize_matrix(self.out_hw[0], height, self.interpolation).T,
                                     resample.resize_matrix(self.out_hw[1], width, self.interpolation).T)
        if box_shape == tuple(self.shape):
            return d_box
        dx = devices.array_module_of(dy).zeros(self.shape, dtype=dy.dtype)
        dx[:, top:top + height, left:left + width, :] = d_box
        return dx


def _aspect_box(height, width, target_height, target_width):
    """The largest centred box with the target's aspect ratio, as (top, left, h, w) (Keras's smart_resize)."""
    return resample.crop_box_for_aspect_ratio(height, width, target_height, target_width)


class _SizedImageLayer(ImageLayer):
    """An image layer whose output is (height, width) whatever its input size."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = positive_int(height, "height", self.describe())
        self.width = positive_int(width, "width", self.describe())

    def compute_output_shape(self, input_shape):
        return self._with_spatial(tuple(input_shape), self.height, self.width)

    def _run(self, x, box, interpolation="bilinear"):
        x = self._to_nhwc(x)
        self._plan = _BoxResize(x.shape, box, (self.height, self.width), interpolation)
        return self._from_nhwc(self._plan.forward(x))

    def backward(self, dy, need_input_gradient=True):
        if not need_input_gradient:
            return None
        return self._from_nhwc(self._plan.backward(self._to_nhwc(dy)))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class Resizing(_SizedImageLayer):
    """Resizes images to (height, width).

    By default the whole image is stretched to the new size. ``crop_to_aspect_ratio=True`` first cuts the
    largest centred box with the target's aspect ratio; ``pad_to_aspect_ratio=True`` first pads the image
    (with ``fill_value``, evenly on both sides) to that aspect ratio. Interpolation uses half-pixel centres,
    as Keras and PyTorch (``align_corners=False``) do, without antialiasing.

    Args:
        height: the output height.
        width: the output width.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        crop_to_aspect_ratio: crop instead of distorting the aspect ratio.
        pad_to_aspect_ratio: pad instead of distorting the aspect ratio.
        fill_mode: what padding holds: only ``"constant"``.
        fill_value: the padding value.
        antialias: only False (Keras's default) is supported.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, height, width, channels)`` with the layer's height and width.

    Example:

    >>> layers.Resizing(2, 3)(np.ones((1, 4, 4, 3))).shape
    (1, 2, 3, 3)
    """

    INTERPOLATIONS = resample.RESIZE_INTERPOLATIONS

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(height, width, data_format=data_format, **kwargs)
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(f"{self.describe()}: interpolation must be one of {self.INTERPOLATIONS} in tinyconv, "
                             f"got {interpolation!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{self.describe()}: only one of crop_to_aspect_ratio and pad_to_aspect_ratio "
                             "can be True")
        if fill_mode != "constant":
            raise ValueError(f"{self.describe()}: fill_mode must be 'constant', got {fill_mode!r}")
        if antialias:
            raise ValueError(f"{self.describe()}: antialias=True is not supported by tinyconv; use the default "
                             "antialias=False")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value, self.antialias = fill_mode, fill_value, False

    def forward(self, x, training=False):
        height, width = self._spatial(x.shape)
        self._padding = None
        if self.crop_to_aspect_ratio:
            return self._run(x, _aspect_box(height, width, self.height, self.width), self.interpolation)
        if self.pad_to_aspect_ratio:
            x = self._pad(x, height, width)
            height, width = self._spatial(x.shape)
        return self._run(x, (0, 0, height, width), self.interpolation)

    def _pad(self, x, height, width):
        """Keras's padding to the target aspect ratio: the same margin on both sides of one axis."""
        pad_height = max(height, int(float(width * self.height) / self.width))
        pad_width = max(width, int(float(height * self.width) / self.height))
        top, left = int(float(pad_height - height) / 2), int(float(pad_width - width) / 2)
        self._padding = (top, left)
        pads = [(0, 0), (top, top), (left, left), (0, 0)]
        if self.data_format == "channels_first":
            pads = [pads[0], pads[3], pads[1], pads[2]]
        return devices.array_module_of(x).pad(x, pads, mode="constant", constant_values=self.fill_value)

    def backward(self, dy, need_input_gradient=True):
        dx = super().backward(dy, need_input_gradient)
        if dx is None or self._padding is None:
            return dx
        top, left = self._padding
        height, width = self._spatial(dx.shape)
        if self.data_format == "channels_first":
            return contiguous(dx[:, :, top:height - top, left:width - left])
        return contiguous(dx[:, top:height - top, left:width - left, :])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(_SizedImageLayer):
    """Crops the central (height, width) box of each image.

    An image smaller than the box on either side is instead cropped to the target's aspect ratio and
    resized (bilinear), as Keras's ``CenterCrop`` does.

    Args:
        height: the output height.
        width: the output width.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, height, width, channels)`` with the layer's height and width.

    Example:

    >>> x = np.arange(16.).reshape(1, 4, 4, 1)
    >>> layers.CenterCrop(2, 2)(x)[0, :, :, 0].tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """

    def forward(self, x, training=False):
        height, width = self._spatial(x.shape)
        if height >= self.height and width >= self.width:
            box = ((height - self.height) // 2, (width - self.width) // 2, self.height, self.width)
        else:
            box = _aspect_box(height, width, self.height, self.width)
        return self._run(x, box)


class RandomCrop(_SizedImageLayer, RandomImageLayer):
    """Crops a random (height, width) box in training; a centred box at inference.

    In training, when the images are larger than the box on both sides, one random box is cut from the
    whole batch (as Keras does). Otherwise, and at inference, the largest centred box with the target's
    aspect ratio is cut and resized (bilinear) to (height, width).

    Note: Keras 3.15 returns the images unchanged at inference, which contradicts its own output shape (a
    model with a ``Dense`` after it fails in ``predict``); tinyconv does what Keras documents instead.

    Args:
        height: the output height.
        width: the output width.
        seed: makes the crops repeatable.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        **kwargs: ``name``, ``dtype``, ``input_shape`` ... as for every layer.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, height, width, channels)`` with the layer's height and width.

    Example:

    >>> layers.RandomCrop(2, 3, seed=0)(np.ones((4, 5, 5, 3))).shape
    (4, 2, 3, 3)
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(height, width, seed=seed, data_format=data_format, **kwargs)

    def forward(self, x, training=False):
        height, width = self._spatial(x.shape)
        if training and height > self.height and width > self.width:
            rng = self.rng()
            top = int(rng.integers(0, height - self.height + 1))
            left = int(rng.integers(0, width - self.width + 1))
            box = (top, left, self.height, self.width)
        else:
            box = _aspect_box(height, width, self.height, self.width)
        return self._run(x, box)
