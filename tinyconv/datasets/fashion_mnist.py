"""Fashion-MNIST (Zalando): 60,000 training and 10,000 test images of clothes, 28x28 grey, 10 classes.

``load_data()`` returns what ``keras.datasets.fashion_mnist.load_data()`` returns:
x_train (60000, 28, 28) uint8, y_train (60000,) uint8, x_test (10000, 28, 28) uint8, y_test (10000,) uint8.
The data are the four IDX files as published (``train-images-idx3-ubyte.gz`` ...), in a folder
``fashion-mnist/`` as Keras's cache and Debian's ``dataset-fashion-mnist`` package store them.
"""
import os
from pathlib import Path

from . import _files, _idx

FOLDER = "fashion-mnist"
# file name -> its MD5 as Zalando publishes it
FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
NPZ_NAMES = ("fashion_mnist.npz", "fashion-mnist.npz")


def load_data(path=None):
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays.

    ``path``: a folder holding the four IDX files (.gz or uncompressed), or an .npz file with
    x_train, y_train, x_test, y_test. Without it the usual places are searched, then Keras's
    download address is tried (see ``tinyconv/datasets/_files.py``).

    Args:
        path: where the data are, or None to search and download.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images (N, 28, 28), labels (N,).

    Raises:
        FileNotFoundError: nothing usable found and the download failed (the message lists the places).
        ValueError: IDX files whose images and labels do not pair up.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "fashion_mnist.npz")
    >>> np.savez(path, x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.arange(3, dtype=np.uint8),
    ...          x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.array([9], np.uint8))
    >>> (x_train, y_train), (x_test, y_test) = load_data(path)
    >>> x_train.shape, y_train.tolist(), y_test.tolist()
    ((3, 28, 28), [0, 1, 2], [9])
    """
    source = find_or_download(path)
    if source.is_file():
        return _files.load_npz_arrays(source)
    return _read_idx_folder(source)


def _idx_file(folder, name):
    """``folder/name``, or its uncompressed twin (name without .gz), or None."""
    return _files.first_existing([folder / name, folder / name[:-len(".gz")]], os.path.isfile)


def _has_idx_files(folder):
    return all(_idx_file(Path(folder), name) is not None for name in FILES)


def _read_idx_folder(folder):
    def read(name):
        return _idx.read_idx(_idx_file(folder, name))
    x_train, y_train = read("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz")
    x_test, y_test = read("t10k-images-idx3-ubyte.gz"), read("t10k-labels-idx1-ubyte.gz")
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"fashion_mnist: {folder}: {split} images {images.shape} and labels "
                             f"{labels.shape} do not pair up (expected (N, 28, 28) and (N,))")
    return (x_train, y_train), (x_test, y_test)


def find_or_download(path=None):
    """The folder of IDX files (or the .npz file) to read.

    Args:
        path: a folder of the four IDX files or an .npz file, or None to search the data folders and
            then download into Keras's cache.

    Returns:
        A ``pathlib.Path``.

    Raises:
        DatasetNotFoundError: (a FileNotFoundError) an explicit ``path`` without the data, or nothing found
            and the download failed.

    Example:

    >>> import tempfile
    >>> try:
    ...     find_or_download(tempfile.mkdtemp())   # an empty folder
    ... except FileNotFoundError as error:
    ...     print(str(error)[:47])
    fashion_mnist: no copy of the data found. Put t
    """
    if path is not None:
        path = Path(os.fspath(path)).expanduser()
        if path.is_file() or (path.is_dir() and _has_idx_files(path)):
            return path
        raise _files.not_found("fashion_mnist", [path], f"the four IDX files {list(FILES)}")
    places = []
    for directory in _files.search_dirs():
        places += [directory / FOLDER] + [directory / name for name in NPZ_NAMES]
    for place in places:
        if place.is_file() or (place.is_dir() and _has_idx_files(place)):
            return place
    target = _files.keras_cache_dir() / FOLDER
    base = _files.base_url(_files.KERAS_DATASETS_URL)
    try:
        for name, md5 in FILES.items():
            if not (target / name).is_file():
                _files.download(base + name, target / name, md5=md5)
    except _files.ChecksumError:
        raise
    except OSError as error:
        raise _files.not_found("fashion_mnist", places, f"the four IDX files {list(FILES)} (in a folder "
                               f"'{FOLDER}')", error) from error
    return target
