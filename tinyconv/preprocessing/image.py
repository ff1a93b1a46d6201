"""Keras 2's image augmentation: ``ImageDataGenerator`` and the affine transform under it, in NumPy.

    datagen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, horizontal_flip=True, rescale=1/255)
    datagen.fit(x_train)                                # only for the featurewise_* and zca options
    for x_batch, y_batch in datagen.flow(x_train, y_train, batch_size=32): ...

How a rotation, shift, shear or zoom is drawn (*inverse mapping*): for every pixel o of the output we ask
where it comes from in the input, i = A o + b, and read the input there. Reading between pixels is
interpolation: order 0 takes the nearest pixel, order 1 blends the four around i bilinearly. A source point
outside the image is filled according to ``fill_mode`` (for an input row a b c d):

    'constant'  k k k k | a b c d | k k k k    (k = cval)
    'nearest'   a a a a | a b c d | d d d d
    'reflect'   d c b a | a b c d | d c b a
    'wrap'      periodic, as SciPy's 'wrap' (which Keras uses): the period is n - 1 pixels

Numbers match Keras's own implementation (which calls ``scipy.ndimage.affine_transform``) for every fill mode.
One deliberate difference: Keras 3's legacy copy applies a random ``height_shift_range`` sideways and
``width_shift_range`` up and down (its transform swaps the axes but its random draw does not). Here height
shifts move images vertically, as Keras documents. ``apply_transform`` itself takes Keras's parameters:
'tx' shifts along the columns (x) and 'ty' along the rows (y).
"""
import math
import warnings

import numpy as np

from .. import backend
from ..utils.sequence import Sequence

FILL_MODES = ("constant", "nearest", "reflect", "wrap")


# --- the affine transform -------------------------------------------------------------------------------------

def transform_matrix_offset_center(matrix, x, y):
    """Conjugate ``matrix`` so it acts about the image centre ((x - 1) / 2, (y - 1) / 2), not the corner."""
    o_x, o_y = float(x) / 2 - 0.5, float(y) / 2 - 0.5
    to_center = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    from_center = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return to_center @ matrix @ from_center


def affine_matrix(theta=0, tx=0, ty=0, shear=0, zx=1, zy=1):
    """The 3x3 homogeneous matrix rotation @ shift @ shear @ zoom (angles in degrees), as Keras composes it.

    It maps output coordinates to input coordinates (inverse mapping); None when it is the identity.
    """
    parts = []
    if theta != 0:
        t = np.deg2rad(theta)
        parts.append(np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]]))
    if tx != 0 or ty != 0:
        parts.append(np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]]))
    if shear != 0:
        s = np.deg2rad(shear)
        parts.append(np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]]))
    if zx != 1 or zy != 1:
        parts.append(np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]))
    if not parts:
        return None
    matrix = parts[0]
    for part in parts[1:]:
        matrix = np.dot(matrix, part)
    return matrix


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2,
                           channel_axis=0, fill_mode="nearest", cval=0.0, order=1):
    """Rotate, shift, shear and zoom one image ``x`` (3-D, channels first or last) about its centre.

    Same arguments and numbers as Keras 2's ``apply_affine_transform``: ``theta`` and ``shear`` in degrees,
    ``tx``/``ty`` in pixels along x (columns) / y (rows), ``zx``/``zy`` zoom factors (output pixel o reads the
    input at z * o from the centre, so z > 1 shows more of the image, smaller), ``order`` 0 (nearest) or
    1 (bilinear).
    """
    x = np.asarray(x)
    if sorted((row_axis, col_axis, channel_axis)) != [0, 1, 2]:
        raise ValueError(f"apply_affine_transform: row_axis, col_axis and channel_axis must be 0, 1 and 2 in "
                         f"some order, got {row_axis}, {col_axis}, {channel_axis}")
    if x.ndim != 3:
        raise ValueError(f"apply_affine_transform: expected one image with 3 dimensions, got shape {x.shape}")
    if channel_axis not in (0, 2):
        raise ValueError(f"apply_affine_transform: channels must be the first or last axis, got {channel_axis}")
    _check_fill(fill_mode, order)
    matrix = affine_matrix(theta, tx, ty, shear, zx, zy)
    if matrix is None:
        return x
    matrix = transform_matrix_offset_center(matrix, x.shape[row_axis], x.shape[col_axis])
    if col_axis > row_axis:
        # The matrix speaks (x, y) = (column, row); arrays are indexed (row, column): swap both axes.
        matrix = matrix[[1, 0, 2]][:, [1, 0, 2]]
    image = np.moveaxis(x, channel_axis, -1)  # (a, b, channels): one transform for all channels
    warped = warp(image, matrix[:2, :2], matrix[:2, 2], order=order, fill_mode=fill_mode, cval=cval)
    return np.moveaxis(warped, -1, channel_axis)


def warp(image, matrix, offset, order=1, fill_mode="nearest", cval=0.0):
    """out[o] = image[matrix @ o + offset] for every output pixel o = (row, col), over all channels.

    ``image`` is (rows, cols, channels); the result has its shape and dtype.
    """
    _check_fill(fill_mode, order)
    rows, cols = image.shape[:2]
    out_r, out_c = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64),
                               indexing="ij")
    src_r = matrix[0, 0] * out_r + matrix[0, 1] * out_c + offset[0]
    src_c = matrix[1, 0] * out_r + matrix[1, 1] * out_c + offset[1]
    taps_r, outside_r = _taps(src_r, rows, order, fill_mode)
    taps_c, outside_c = _taps(src_c, cols, order, fill_mode)
    source = image.astype(np.float64)
    out = np.zeros(image.shape, dtype=np.float64)
    for index_r, weight_r in taps_r:
        for index_c, weight_c in taps_c:
            out += (weight_r * weight_c)[..., None] * source[index_r, index_c]
    outside = outside_r | outside_c
    out[outside] = cval
    if np.issubdtype(image.dtype, np.integer):
        out = np.rint(out)
    return out.astype(image.dtype)


def _check_fill(fill_mode, order):
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    if order not in (0, 1):
        raise ValueError(f"interpolation order must be 0 (nearest) or 1 (bilinear), got {order!r}")


def _taps(coords, n, order, fill_mode):
    """Along one axis: the pixels to read for each source coordinate and their weights.

    Returns ([(indices, weights), ...], outside) where ``outside`` marks points that get ``cval``
    ('constant' mode only). Order 0 reads one pixel (weight 1), order 1 two (weights 1 - f and f).
    """
    outside = np.zeros(coords.shape, dtype=bool)
    if fill_mode == "constant":
        outside = (coords < 0) | (coords > n - 1)
    elif fill_mode == "nearest":
        coords = np.clip(coords, 0, n - 1)
    elif fill_mode == "wrap":
        # SciPy's 'wrap' folds a point outside [0, n - 1] back by multiples of n - 1.
        period = max(n - 1, 1)
        coords = np.where((coords < 0) | (coords > n - 1), np.mod(coords, period), coords)
    if order == 0:
        taps = [(np.floor(coords + 0.5).astype(np.int64), np.ones(coords.shape))]
    else:
        low = np.floor(coords)
        fraction = coords - low
        low = low.astype(np.int64)
        taps = [(low, 1.0 - fraction), (low + 1, fraction)]
    return [(_fold_index(index, n, fill_mode), weight) for index, weight in taps], outside


def _fold_index(index, n, fill_mode):
    """Map integer pixel indices outside 0..n-1 back inside."""
    if fill_mode == "reflect":  # half-sample symmetric: ... b a | a b c d | d c ...
        index = np.mod(index, 2 * n)
        return np.where(index >= n, 2 * n - 1 - index, index)
    return np.clip(index, 0, n - 1)  # other modes already moved the point inside; this guards the edge tap


def flip_axis(x, axis):
    """``x`` mirrored along ``axis``."""
    return np.flip(np.asarray(x), axis)


def apply_channel_shift(x, intensity, channel_axis=0):
    """Add ``intensity`` to every channel, clipped to the image's original value range."""
    x = np.asarray(x)
    return np.clip(x + intensity, np.min(x), np.max(x))


def apply_brightness_shift(x, brightness):
    """Scale the pixel values by ``brightness`` and clip them to 0..255.

    PIL's ``ImageEnhance.Brightness``, which Keras uses, does the same on a uint8 copy of the image
    (so Keras also rounds to whole numbers); this keeps the fractions.
    """
    return np.clip(np.asarray(x) * brightness, 0, 255).astype(np.asarray(x).dtype)


# --- ImageDataGenerator ---------------------------------------------------------------------------------------

class ImageDataGenerator:
    """Random augmentation and normalisation of image batches, with Keras 2's arguments and defaults.

    ``flow(x, y)`` gives an iterator (and a ``tinyconv.utils.Sequence``) of (x_batch, y_batch) pairs.
    Per image, in this order: random affine transform, channel shift, flips, brightness; then
    ``standardize``: preprocessing_function, rescale, samplewise centre/std, featurewise centre/std, ZCA.
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None):
        data_format = data_format or backend.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"ImageDataGenerator: data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}")
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"ImageDataGenerator: validation_split must be strictly between 0 and 1, "
                             f"got {validation_split}")
        _check_fill(fill_mode, interpolation_order)
        self.featurewise_center = featurewise_center or featurewise_std_normalization or zca_whitening
        self.samplewise_center = samplewise_center or samplewise_std_normalization
        self.featurewise_std_normalization = featurewise_std_normalization and not zca_whitening
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.brightness_range = _check_brightness(brightness_range)
        self.shear_range = shear_range
        self.zoom_range = _zoom_bounds(zoom_range)
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.data_format = data_format
        self.dtype = dtype or backend.floatx()
        self.interpolation_order = interpolation_order
        self._validation_split = validation_split
        # Axes of a batch (N, ...); a single image drops the first.
        self.channel_axis, self.row_axis, self.col_axis = (3, 1, 2) if data_format == "channels_last" else (1, 2, 3)
        self.mean = None
        self.std = None
        self.zca_whitening_matrix = None

    # -- batches --

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, subset=None,
             ignore_class_split=False):
        """An iterator of ``(x_batch, y_batch)`` (just ``x_batch`` when y is None) over augmented copies.

        ``subset``: 'training' or 'validation', with ``validation_split`` set: the first
        ``int(len(x) * validation_split)`` samples are the validation subset, the rest training.
        """
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, data_format=self.data_format, subset=subset,
                                  ignore_class_split=ignore_class_split, dtype=self.dtype)

    # -- normalisation --

    def standardize(self, x):
        """Normalise ``x`` (one image or a batch) in place, as configured, and return it."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is None:
                self._warn_not_fit("featurewise_center")
            else:
                x -= self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                self._warn_not_fit("featurewise_std_normalization")
            else:
                x /= self.std + 1e-6
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                self._warn_not_fit("zca_whitening")
            else:
                flat = x.reshape(-1, math.prod(x.shape[-3:]))
                x = (flat @ self.zca_whitening_matrix).reshape(x.shape)
        return x

    def _warn_not_fit(self, option):
        warnings.warn(f"ImageDataGenerator specifies {option}, but it has not been fit on any training data: "
                      "call .fit(x_train) first", stacklevel=3)

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Compute the per-channel mean and std (and ZCA matrix) that the featurewise options use."""
        x = np.array(x, dtype=self.dtype)  # a copy: fitting never changes the caller's array
        if x.ndim != 4:
            raise ValueError(f"ImageDataGenerator.fit: expected a batch of images with 4 dimensions, "
                             f"got shape {x.shape}")
        rng = np.random.RandomState(seed) if seed is not None else np.random
        if self.rescale:
            x *= self.rescale
        if augment:
            x = np.concatenate([np.stack([self._random_transform(image, rng) for image in x])
                                for _ in range(rounds)]).astype(self.dtype)
        spatial = (0, self.row_axis, self.col_axis)
        per_channel = [1, 1, 1]
        per_channel[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.mean(x, axis=spatial).reshape(per_channel)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=spatial).reshape(per_channel)
            x /= self.std + 1e-6
        if self.zca_whitening:
            flat = x.reshape(len(x), -1)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            self.zca_whitening_matrix = (u * (np.sqrt(len(x)) / (s + self.zca_epsilon))) @ u.T

    # -- random transforms --

    def get_random_transform(self, img_shape, seed=None):
        """A dict of random parameters (theta, tx, ty, shear, zx, zy, flips, ...) for one image."""
        return self._draw_transform(img_shape, np.random.RandomState(seed) if seed is not None else np.random)

    def _draw_transform(self, img_shape, rng):
        # Draws in Keras's order, so a seeded flow gives Keras's rotations, zooms, shears and flips.
        rows, cols = img_shape[self.row_axis - 1], img_shape[self.col_axis - 1]
        theta = rng.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        shift_rows = _draw_shift(rng, self.height_shift_range, rows)
        shift_cols = _draw_shift(rng, self.width_shift_range, cols)
        shear = rng.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = bool(rng.random() < 0.5) and bool(self.horizontal_flip)
        flip_vertical = bool(rng.random() < 0.5) and bool(self.vertical_flip)
        channel_shift = None
        if self.channel_shift_range != 0:
            channel_shift = rng.uniform(-self.channel_shift_range, self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = rng.uniform(self.brightness_range[0], self.brightness_range[1])
        # tx moves along x (the columns), ty along y (the rows): see the module docstring.
        return {"theta": theta, "tx": shift_cols, "ty": shift_rows, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift, "brightness": brightness}

    def apply_transform(self, x, transform_parameters):
        """Apply the parameters of ``get_random_transform`` to one image ``x``."""
        row_axis, col_axis, channel_axis = self.row_axis - 1, self.col_axis - 1, self.channel_axis - 1
        p = transform_parameters
        x = apply_affine_transform(x, p.get("theta", 0), p.get("tx", 0), p.get("ty", 0), p.get("shear", 0),
                                   p.get("zx", 1), p.get("zy", 1), row_axis=row_axis, col_axis=col_axis,
                                   channel_axis=channel_axis, fill_mode=self.fill_mode, cval=self.cval,
                                   order=self.interpolation_order)
        if p.get("channel_shift_intensity") is not None:
            x = apply_channel_shift(x, p["channel_shift_intensity"], channel_axis)
        if p.get("flip_horizontal", False):
            x = flip_axis(x, col_axis)
        if p.get("flip_vertical", False):
            x = flip_axis(x, row_axis)
        if p.get("brightness") is not None:
            x = apply_brightness_shift(x, p["brightness"])
        return x

    def random_transform(self, x, seed=None):
        """One image, randomly transformed."""
        return self.apply_transform(x, self.get_random_transform(np.shape(x), seed))

    def _random_transform(self, x, rng):
        return self.apply_transform(x, self._draw_transform(np.shape(x), rng))


def _zoom_bounds(zoom_range):
    """0.2 -> [0.8, 1.2]; (lo, hi) -> [lo, hi]."""
    if isinstance(zoom_range, (int, float)):
        return [1 - zoom_range, 1 + zoom_range]
    if len(zoom_range) == 2 and all(isinstance(v, (int, float)) for v in zoom_range):
        return [zoom_range[0], zoom_range[1]]
    raise ValueError(f"ImageDataGenerator: zoom_range must be a float or a pair of floats, got {zoom_range!r}")


def _check_brightness(brightness_range):
    if brightness_range is not None and (not isinstance(brightness_range, (tuple, list))
                                         or len(brightness_range) != 2):
        raise ValueError(f"ImageDataGenerator: brightness_range must be a pair of floats, got {brightness_range!r}")
    return brightness_range


def _draw_shift(rng, shift_range, size):
    """A random shift in pixels, read from Keras's three forms of a shift range.

    float f < 1: uniform in (-f, f) times the image size; float >= 1: uniform pixels in (-f, f);
    int n or a list of values: one of range(n) (or of the list), with a random sign.
    """
    if not shift_range:
        return 0
    try:
        shift = rng.choice(shift_range) * rng.choice([-1, 1])
    except ValueError:  # a float: NumPy's choice accepts only ints and 1-D lists
        shift = rng.uniform(-shift_range, shift_range)
    if np.max(shift_range) < 1:
        shift *= size
    return shift


# --- iterating over arrays ------------------------------------------------------------------------------------

class NumpyArrayIterator(Sequence):
    """Batches of augmented images from arrays: indexable (``it[i]``) and endlessly iterable (``next(it)``).

    Shuffling happens at the start of every pass. With ``seed``, batch k of the iterator draws its
    shuffle and transforms from ``RandomState(seed + k)``, so runs repeat exactly (and match Keras's).
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 data_format=None, subset=None, ignore_class_split=False, dtype=None):
        super().__init__()
        self.dtype = dtype or backend.floatx()
        self.data_format = data_format or backend.image_data_format()
        x, y, sample_weight = _take_subset(x, y, sample_weight, subset,
                                           image_data_generator._validation_split, ignore_class_split)
        self.x = np.asarray(x, dtype=self.dtype)
        if self.x.ndim != 4:
            raise ValueError(f"ImageDataGenerator.flow: x must be a batch of images with 4 dimensions, "
                             f"got shape {self.x.shape}")
        if y is not None and len(y) != len(self.x):
            raise ValueError(f"ImageDataGenerator.flow: x and y must have the same length, got x.shape = "
                             f"{self.x.shape} and y.shape = {np.shape(y)}")
        if sample_weight is not None and len(sample_weight) != len(self.x):
            raise ValueError(f"ImageDataGenerator.flow: x and sample_weight must have the same length, got "
                             f"{len(self.x)} and {len(sample_weight)}")
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        self.n = len(self.x)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self.index_array = None

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size  # the last batch may be short

    def __getitem__(self, idx):
        if idx >= len(self):
            raise IndexError(f"ImageDataGenerator.flow: asked for batch {idx}, but there are {len(self)}")
        rng = self._batch_rng()
        if self.index_array is None:
            self._set_index_array(rng)
        return self._batch(self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)], rng)

    def on_epoch_end(self):
        self._set_index_array(np.random)

    def reset(self):
        self.batch_index = 0

    def __iter__(self):
        return self

    def __next__(self):
        rng = self._batch_rng()
        if self.batch_index == 0:
            self._set_index_array(rng)
        start = (self.batch_index * self.batch_size) % self.n if self.n else 0
        self.batch_index = self.batch_index + 1 if self.n > start + self.batch_size else 0
        return self._batch(self.index_array[start:start + self.batch_size], rng)

    def _batch_rng(self):
        """The random source of the next batch; counts the batch."""
        rng = np.random.RandomState(self.seed + self.total_batches_seen) if self.seed is not None else np.random
        self.total_batches_seen += 1
        return rng

    def _set_index_array(self, rng):
        self.index_array = rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def _batch(self, index_array, rng):
        generator = self.image_data_generator
        batch_x = np.zeros((len(index_array),) + self.x.shape[1:], dtype=self.dtype)
        for i, j in enumerate(index_array):
            image = generator._random_transform(self.x[j].astype(self.dtype), rng)
            batch_x[i] = generator.standardize(image)
        if self.y is None:
            return batch_x
        if self.sample_weight is None:
            return batch_x, self.y[index_array]
        return batch_x, self.y[index_array], self.sample_weight[index_array]


def _take_subset(x, y, sample_weight, subset, validation_split, ignore_class_split):
    """The 'training' or 'validation' part of the arrays: validation is the first int(N * split) samples."""
    if subset is None:
        return x, y, sample_weight
    if subset not in ("training", "validation"):
        raise ValueError(f"ImageDataGenerator.flow: subset must be 'training' or 'validation', got {subset!r}")
    if not validation_split:
        raise ValueError("ImageDataGenerator.flow: subset needs ImageDataGenerator(validation_split=...) > 0")
    split = int(len(x) * validation_split)
    if y is not None and not ignore_class_split and not np.array_equal(np.unique(y[:split]), np.unique(y[split:])):
        raise ValueError("ImageDataGenerator.flow: the training and validation subsets hold different classes "
                         "after the split; if the arrays are sorted by label, shuffle them first "
                         "(or pass ignore_class_split=True)")
    part = slice(None, split) if subset == "validation" else slice(split, None)
    return (x[part], None if y is None else y[part], None if sample_weight is None else sample_weight[part])
