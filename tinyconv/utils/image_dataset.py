"""``keras.utils.image_dataset_from_directory``: a folder of images, one sub-folder per class, as batches.

The files are found, ordered, shuffled and split exactly as Keras does it, so ``dataset.file_paths`` is
Keras's list for the same folder, seed and split:

1. the classes are the sub-folders, sorted by name (or ``class_names``, in the order given);
2. each class folder is walked (sub-folders sorted, files sorted) for .bmp .gif .jpeg .jpg .png files;
3. with ``shuffle``, the list is shuffled with ``np.random.RandomState(seed).shuffle`` (labels alike);
4. ``validation_split`` keeps the last ``int(split * n)`` files for validation, the rest for training.

Keras returns a ``tf.data.Dataset``; tinyconv returns a ``Sequence`` of NumPy batches ``(images, labels)``,
which ``fit`` / ``evaluate`` / ``predict`` take as they are, with ``class_names``, ``file_paths`` and
``len()`` (the number of batches). Keras also reshuffles the files on every pass through a tf.data buffer,
which cannot be reproduced without TensorFlow; here each pass is a fresh seeded permutation instead.

Images are decoded with Pillow and resized with the half-pixel bilinear (or nearest) formula Keras's
``tf.image.resize`` uses, without antialiasing (``tinyconv/utils/resample.py``); values stay 0..255 float32.
"""
import os

import numpy as np

from . import images, resample
from .sequence import Sequence

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
LABEL_MODES = ("int", "categorical", "binary", None)
COLOR_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


# ------------------------------------------------------------------ finding the files (Keras's order)
def _class_folders(directory):
    return [name for name in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]


def _files_of(directory, subdir, follow_links):
    """The image files under ``directory/subdir``, as paths relative to ``directory`` (Keras's walk order)."""
    root_dir = os.path.join(directory, subdir)
    found = []
    for root, _, files in sorted(os.walk(root_dir, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(ALLOWED_FORMATS):
                relative = os.path.relpath(os.path.join(root, name), root_dir)
                found.append(os.path.join(os.path.basename(root_dir), relative))
    return found


def index_directory(directory, labels, class_names=None, shuffle=True, seed=None, follow_links=False):
    """``(file_paths, labels, class_names)`` in Keras's order (see the module docstring).

    Args:
        directory: the folder to walk.
        labels: "inferred" (one sub-folder per class, in sorted order), None (no labels), or a list
            with one label per image file, in the sorted walk order.
        class_names: with "inferred", the sub-folders to use and their order (others are ignored).
        shuffle: shuffle files and labels together (with ``seed``) as Keras does.
        seed: the shuffle's seed (a random one when None).
        follow_links: follow symbolic links to sub-folders.

    Returns:
        ``(file_paths, labels, class_names)``: full paths, an int32 array (or the given labels, or
        None), and the class names.

    Raises:
        ValueError: ``class_names`` that are not sub-folders, ``class_names`` without inferred labels,
            or a labels list of the wrong length.

    Example:

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("cat/a.png", "cat/b.png", "dog/c.png"):
    ...     os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
    ...     open(os.path.join(root, name), "wb").close()
    >>> paths, labels, names = index_directory(root, "inferred", shuffle=False)
    >>> [os.path.relpath(p, root) for p in paths], labels.tolist(), names
    (['cat/a.png', 'cat/b.png', 'dog/c.png'], [0, 0, 1], ['cat', 'dog'])
    """
    if labels == "inferred":
        subdirs = _class_folders(directory)
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(f"image_dataset_from_directory: class_names {list(class_names)} must name "
                                 f"sub-folders of {directory}; found {subdirs}")
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ValueError("image_dataset_from_directory: class_names can only be given with labels='inferred'")
        subdirs = [""]
    filenames, inferred = [], []
    for index, subdir in enumerate(subdirs):
        found = _files_of(directory, subdir, follow_links)
        filenames += found
        inferred += [index] * len(found)
    if labels == "inferred":
        labels = np.array(inferred, dtype="int32")
        class_names = subdirs
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(f"image_dataset_from_directory: got {len(labels)} labels for the {len(filenames)} "
                             f"image files found in {directory}")
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)
    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def split(samples, labels, validation_split, subset):
    """Keras's split: the last ``int(validation_split * n)`` samples validate, the others train.

    Args:
        samples: the (already shuffled) file paths.
        labels: their labels, or None.
        validation_split: the fraction kept for validation (0 or None: no split).
        subset: "training" or "validation".

    Returns:
        ``(samples, labels)`` of the chosen subset.

    Example:

    >>> split(list("abcde"), None, 0.4, "validation")
    (['d', 'e'], None)
    >>> split(list("abcde"), [0, 1, 2, 3, 4], 0.4, "training")
    (['a', 'b', 'c'], [0, 1, 2])
    """
    if not validation_split:
        return samples, labels
    count = int(validation_split * len(samples))
    if subset == "training":
        return samples[:-count], (None if labels is None else labels[:-count])
    return samples[-count:], (None if labels is None else labels[-count:])


# ------------------------------------------------------------------ reading one image
def load_image(path, image_size, color_mode="rgb", interpolation="bilinear", crop_to_aspect_ratio=False,
               pad_to_aspect_ratio=False):
    """One image file as a float32 (height, width, channels) array, resized as Keras resizes it.

    Args:
        path: the image file (.bmp, .gif, .jpeg, .jpg or .png).
        image_size: ``(height, width)`` of the result.
        color_mode: "rgb" (3 channels), "rgba" (4) or "grayscale" (1).
        interpolation: the resize method ("bilinear", "nearest", "bicubic", "area", ...).
        crop_to_aspect_ratio: crop the centre to the target's aspect ratio before resizing.
        pad_to_aspect_ratio: pad with zeros to the target's aspect ratio before resizing.

    Returns:
        A float32 array of shape ``(height, width, channels)`` with values 0..255.

    Example:

    >>> import os, tempfile
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
    >>> Image.new("RGB", (4, 2), (255, 0, 0)).save(path)
    >>> x = load_image(path, (2, 2))
    >>> x.shape, x.dtype, x[0, 0].tolist()
    ((2, 2, 3), dtype('float32'), [255.0, 0.0, 0.0])
    """
    image = images.load_img(path, color_mode=color_mode)
    x = np.asarray(image, dtype=np.float32)
    x = x[:, :, None] if x.ndim == 2 else x
    height, width = x.shape[:2]
    target = tuple(image_size)
    if crop_to_aspect_ratio:
        top, left, crop_h, crop_w = resample.crop_box_for_aspect_ratio(height, width, *target)
        x = x[top:top + crop_h, left:left + crop_w]
    elif pad_to_aspect_ratio:
        # Keras's layout: the same margin on both sides of the padded axis (zeros)
        top = int(float(max(height, int(float(width * target[0]) / target[1])) - height) / 2)
        left = int(float(max(width, int(float(height * target[1]) / target[0])) - width) / 2)
        x = np.pad(x, [(top, top), (left, left), (0, 0)])
    if x.shape[:2] == target:
        return x
    return resample.resize(x[None], target, interpolation)[0]


# ------------------------------------------------------------------ the dataset
class ImageDataset(Sequence):
    """Batches ``(images, labels)`` (or images alone without labels) read from files on demand.

    What ``image_dataset_from_directory`` returns: a ``keras.utils.Sequence``, so ``fit`` reads it
    batch by batch and reshuffles it after every pass.

    Args:
        file_paths: the image files.
        labels: one label index per file, or None.
        class_names: the class of each label index.
        label_mode: "int", "categorical" (one-hot), "binary" (float, shape (n, 1)) or None.
        batch_size: images per batch; None yields single images.
        image_size: ``(height, width)`` every image is resized to.
        color_mode, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio: as in ``load_image``.
        shuffle: a new order on every pass.
        seed: the shuffles' seed.

    Attributes:
        class_names: the class of each label index.
        file_paths: the files, in Keras's order (before the per-pass shuffle).

    Example:

    >>> import os, tempfile
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for name, colour in (("a.png", 0), ("b.png", 255)):
    ...     Image.new("L", (3, 3), colour).save(os.path.join(root, name))
    >>> data = ImageDataset([os.path.join(root, "a.png"), os.path.join(root, "b.png")], [0, 1], ["dark", "light"],
    ...                     "int", 2, (3, 3), "grayscale", "bilinear", False, False, False, 0)
    >>> x, y = data[0]
    >>> x.shape, y.tolist(), len(data)
    ((2, 3, 3, 1), [0, 1], 1)
    """

    def __init__(self, file_paths, labels, class_names, label_mode, batch_size, image_size, color_mode,
                 interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, shuffle, seed):
        super().__init__()
        self.file_paths, self.class_names = list(file_paths), class_names
        self._labels, self._label_mode = labels, label_mode
        self._batch_size, self._image_size = batch_size, tuple(image_size)
        self._read = dict(color_mode=color_mode, interpolation=interpolation,
                          crop_to_aspect_ratio=crop_to_aspect_ratio, pad_to_aspect_ratio=pad_to_aspect_ratio)
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()

    def _new_order(self):
        count = len(self.file_paths)
        return self._rng.permutation(count) if self._shuffle else np.arange(count)

    def __len__(self):
        if self._batch_size is None:
            return len(self.file_paths)
        return -(-len(self.file_paths) // self._batch_size)

    def _encoded_labels(self, index):
        labels = np.asarray(self._labels)[index]
        if self._label_mode == "int":
            return labels.astype("int32")
        if self._label_mode == "binary":
            return labels.astype("float32").reshape(-1, 1)
        one_hot = np.zeros((len(labels), len(self.class_names)), dtype="float32")
        one_hot[np.arange(len(labels)), labels] = 1.0
        return one_hot

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"ImageDataset: batch {index} out of range for {len(self)} batches")
        index %= len(self)
        size = self._batch_size or 1
        chosen = self._order[index * size:(index + 1) * size]
        x = np.stack([load_image(self.file_paths[i], self._image_size, **self._read) for i in chosen])
        if self._label_mode is None:
            return x if self._batch_size else x[0]
        y = self._encoded_labels(chosen)
        return (x, y) if self._batch_size else (x[0], y[0])

    def on_epoch_end(self):
        """A new order for the next pass (when shuffling)."""
        self._order = self._new_order()

    def __repr__(self):
        return (f"<ImageDataset: {len(self.file_paths)} files, {len(self)} batches, "
                f"class_names={self.class_names}>")


def _check_arguments(labels, label_mode, class_names, color_mode, image_size, interpolation, validation_split,
                     subset, shuffle, seed):
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        raise ValueError(f"image_dataset_from_directory: labels must be 'inferred', None or a list of integer "
                         f"labels (one per file), got {labels!r}")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"image_dataset_from_directory: label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
    if color_mode not in COLOR_CHANNELS:
        raise ValueError(f"image_dataset_from_directory: color_mode must be one of {list(COLOR_CHANNELS)}, "
                         f"got {color_mode!r}")
    if not (isinstance(image_size, (list, tuple)) and len(image_size) == 2):
        raise ValueError(f"image_dataset_from_directory: image_size must be (height, width), got {image_size!r}")
    if interpolation not in resample.RESIZE_INTERPOLATIONS:
        raise ValueError(f"image_dataset_from_directory: interpolation must be one of "
                         f"{resample.RESIZE_INTERPOLATIONS} in tinyconv, got {interpolation!r}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"image_dataset_from_directory: validation_split must be between 0 and 1, "
                         f"got {validation_split!r}")
    if bool(validation_split) != bool(subset):
        raise ValueError("image_dataset_from_directory: give validation_split and subset together (or neither)")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"image_dataset_from_directory: subset must be 'training', 'validation' or 'both', "
                         f"got {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError("image_dataset_from_directory: with validation_split and shuffle=True, pass a seed, so "
                         "the training and validation subsets do not overlap")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """Batches of images (and labels) from a folder with one sub-folder per class.

    Args:
        directory: the folder: ``directory/class_a/*.jpg``, ``directory/class_b/*.jpg``, ...
        labels: ``"inferred"`` (from the sub-folders), None (images only) or a list of labels, one per file
            in the sorted order of the files.
        label_mode: ``"int"`` (int32 labels), ``"categorical"`` (one-hot float32), ``"binary"`` (float32 of
            shape (n, 1), two classes) or None (no labels).
        class_names: with inferred labels, the sub-folders to use, in this order.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
        batch_size: the batch size, or None for single images.
        image_size: ``(height, width)`` every image is resized to.
        shuffle: shuffle the files (with ``seed``) and each pass.
        seed: the shuffle's seed.
        validation_split: the fraction of files kept for validation.
        subset: ``"training"``, ``"validation"`` or ``"both"`` (a list [training, validation]).
        interpolation: ``"bilinear"`` or ``"nearest"``.
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: crop each image to the target aspect ratio before resizing.
        pad_to_aspect_ratio: pad each image (with zeros) to the target aspect ratio before resizing.
        data_format: only ``"channels_last"`` (None means it).
        verbose: print how many files and classes were found.

    Returns:
        An ``ImageDataset`` (a ``Sequence`` of ``(images, labels)`` batches with ``class_names`` and
        ``file_paths``), or a list of two with ``subset="both"``.

    Raises:
        ValueError: bad arguments, or no image in the folder.
        ImportError: Pillow is not installed.

    Example:

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("cats", "dogs"):
    ...     os.mkdir(os.path.join(root, name))
    ...     for i in range(3):
    ...         tinyconv.utils.save_img(os.path.join(root, name, f"{i}.png"), np.random.rand(8, 8, 3))
    >>> data = image_dataset_from_directory(root, image_size=(4, 4), batch_size=4, seed=1, verbose=False)
    >>> data.class_names, len(data), data[0][0].shape
    (['cats', 'dogs'], 2, (4, 4, 4, 3))
    """
    _check_arguments(labels, label_mode, class_names, color_mode, image_size, interpolation, validation_split,
                     subset, shuffle, seed)
    if data_format not in (None, "channels_last"):
        raise ValueError(f"image_dataset_from_directory: tinyconv reads images channels_last, got {data_format!r}")
    if labels is None or label_mode is None:
        labels = label_mode = None
    if seed is None:
        seed = np.random.randint(1e6)
    file_paths, labels, class_names = index_directory(os.fspath(directory), labels, class_names, shuffle, seed,
                                                      follow_links)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"image_dataset_from_directory: label_mode='binary' needs exactly 2 classes, "
                         f"got {class_names}")
    if verbose:
        print(f"Found {len(file_paths)} files" + ("." if labels is None
                                                  else f" belonging to {len(class_names)} classes."))

    def dataset(paths, subset_labels, subset_shuffle, what):
        if not paths:
            raise ValueError(f"image_dataset_from_directory: no {what}images found in {directory}; allowed "
                             f"formats: {ALLOWED_FORMATS}")
        return ImageDataset(paths, subset_labels, class_names, label_mode, batch_size, image_size, color_mode,
                            interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, subset_shuffle, seed)

    if subset == "both":
        train = split(file_paths, labels, validation_split, "training")
        validation = split(file_paths, labels, validation_split, "validation")
        if verbose:
            print(f"Using {len(train[0])} files for training.\nUsing {len(validation[0])} files for validation.")
        return [dataset(*train, shuffle, "training "), dataset(*validation, False, "validation ")]
    paths, subset_labels = split(file_paths, labels, validation_split, subset)
    if verbose and validation_split:
        print(f"Using {len(paths)} files for {subset}.")
    return dataset(paths, subset_labels, shuffle, "")
