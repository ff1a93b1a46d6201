"""CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test colour images, 32x32, 10 classes.

``load_data()`` returns what ``keras.datasets.cifar10.load_data()`` returns (channels_last):
x_train (50000, 32, 32, 3) uint8, y_train (50000, 1) uint8, x_test (10000, 32, 32, 3) uint8,
y_test (10000, 1) uint8.

The canonical files are the "python version": ``cifar-10-python.tar.gz`` holding a folder
``cifar-10-batches-py/`` of five training batches and a test batch, each a Python pickle of a dict
{b"data": uint8 array (10000, 3072) with the red, green, blue planes of each image, b"labels": [...]}.
Those pickles are read with an unpickler that accepts nothing but NumPy arrays, because a pickle can
otherwise run arbitrary code; this is the only pickle tinyconv ever reads.
"""
import codecs
import os
import pickle
import shutil
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import _files

try:  # NumPy 2 keeps array reconstruction in numpy._core, NumPy 1 in numpy.core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1
    from numpy.core.multiarray import _reconstruct

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"  # Keras's published checksum
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
NPZ_NAMES = ("cifar10.npz", "cifar10_jpeg_subset.npz")


def load_data(path=None):
    """``(x_train, y_train), (x_test, y_test)``: images (N, 32, 32, 3) uint8, labels (N, 1) uint8.

    ``path``: the ``cifar-10-batches-py`` folder (or a folder holding it), the ``.tar.gz`` archive,
    or an .npz file with x_train, y_train, x_test, y_test. Without it the usual places are searched,
    then the archive is downloaded from cs.toronto.edu (see ``tinyconv/datasets/_files.py``).

    Args:
        path: where the data are, or None to search and download.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        FileNotFoundError: nothing usable found and the download failed (the message lists the places).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "cifar10.npz")
    >>> np.savez(path, x_train=np.zeros((4, 32, 32, 3), np.uint8), y_train=np.zeros((4, 1), np.uint8),
    ...          x_test=np.zeros((2, 32, 32, 3), np.uint8), y_test=np.ones((2, 1), np.uint8))
    >>> (x_train, y_train), (x_test, y_test) = load_data(path)
    >>> x_train.shape, y_test.ravel().tolist()
    ((4, 32, 32, 3), [1, 1])
    """
    source = find_or_download(path)
    if source.is_file() and source.suffix == ".npz":
        if source.name == "cifar10_jpeg_subset.npz":
            warnings.warn(f"cifar10: using {source}, a JPEG-compressed subset of CIFAR-10 (10,000 train and "
                          "2,000 test images), not the full canonical data", stacklevel=2)
        return _files.load_npz_arrays(source)
    if source.is_file():
        source = _extract(source, source.parent)
    return _read_batches(_batches_folder(source))


# --- reading the pickled batches ---------------------------------------------------------------------------

class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and plain Python values; refuses every other class or function."""
    _ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1"): a pure function
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"cifar10: refusing to load {module}.{name} from a CIFAR batch file; "
                                     "it should hold only NumPy arrays and lists")


def read_batch(path):
    """Images (N, 3, 32, 32) uint8 and labels (N,) uint8 of one pickled CIFAR-10 batch.

    The pickle is read with an unpickler that rebuilds NumPy arrays and plain values only.

    Args:
        path: a batch file (``data_batch_1`` ... ``test_batch``).

    Returns:
        ``(images, labels)``.

    Raises:
        pickle.UnpicklingError: the file names any other class or function.

    Example:

    >>> import os, pickle, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "data_batch_1")
    >>> with open(path, "wb") as f:
    ...     pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 5]}, f)
    >>> images, labels = read_batch(path)
    >>> images.shape, labels.tolist()
    ((2, 3, 32, 32), [3, 5])
    """
    with open(path, "rb") as f:
        batch = _ArraysOnlyUnpickler(f, encoding="bytes").load()
    batch = {(key.decode("utf8") if isinstance(key, bytes) else key): value for key, value in batch.items()}
    data = np.asarray(batch["data"], dtype=np.uint8)
    return data.reshape(len(data), 3, 32, 32), np.asarray(batch["labels"], dtype=np.uint8)


def _read_batches(folder):
    train = [read_batch(folder / name) for name in TRAIN_BATCHES]
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    x_test, y_test = read_batch(folder / TEST_BATCH)
    # planes-first (N, 3, 32, 32) -> channels_last (N, 32, 32, 3); labels as a column, as Keras has them
    return ((np.ascontiguousarray(x_train.transpose(0, 2, 3, 1)), y_train.reshape(-1, 1)),
            (np.ascontiguousarray(x_test.transpose(0, 2, 3, 1)), y_test.reshape(-1, 1)))


# --- finding the files ---------------------------------------------------------------------------------------

def _is_batches_folder(folder):
    return all((Path(folder) / name).is_file() for name in TRAIN_BATCHES + [TEST_BATCH])


def _batches_folder(folder):
    """``folder`` itself when it holds the batches, else its ``cifar-10-batches-py`` child."""
    return Path(folder) if _is_batches_folder(folder) else Path(folder) / FOLDER


def _usable(place):
    place = Path(place)
    if place.is_dir():
        return _is_batches_folder(place) or _is_batches_folder(place / FOLDER)
    return place.is_file()


def _extract(archive, destination):
    """Unpack ``cifar-10-batches-py/`` from the archive into ``destination``, atomically; returns the folder."""
    final = Path(destination) / FOLDER
    if _is_batches_folder(final):
        return final
    staging = Path(tempfile.mkdtemp(dir=destination, prefix=".cifar10-extract-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(FOLDER + "/")
                       and ".." not in Path(m.name).parts]
            for member in members:
                with tar.extractfile(member) as source, open(staging / Path(member.name).name, "wb") as out:
                    shutil.copyfileobj(source, out)
        if not _is_batches_folder(staging):
            raise ValueError(f"cifar10: {archive} does not contain {FOLDER}/ with {TRAIN_BATCHES + [TEST_BATCH]}")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return final


def find_or_download(path=None):
    """The batches folder, archive or .npz file to read.

    Args:
        path: where the data are, or None to search the data folders (``TINYCONV_DATA``, Keras's cache,
            the system and shared data folders) and then download into Keras's cache.

    Returns:
        A ``pathlib.Path``.

    Raises:
        FileNotFoundError: an explicit ``path`` that holds no CIFAR-10 data, or nothing found and the
            download failed.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "cifar10.npz")
    >>> np.savez(path, x_train=np.zeros((1, 32, 32, 3), np.uint8))
    >>> find_or_download(path).name
    'cifar10.npz'
    """
    wanted = f"the folder '{FOLDER}' (as extracted from {ARCHIVE}), the archive itself, or an .npz"
    if path is not None:
        path = Path(os.fspath(path)).expanduser()
        if _usable(path):
            return path
        raise _files.not_found("cifar10", [path], wanted)
    places = []
    for directory in _files.search_dirs():
        places += [directory / FOLDER, directory / "cifar-10-batches-py-target" / FOLDER,
                   directory / ARCHIVE] + [directory / name for name in NPZ_NAMES]
    found = _files.first_existing(places, _usable)
    if found is not None:
        return found
    cache = _files.keras_cache_dir()
    try:
        archive = _files.download(_files.base_url(_files.CIFAR10_URL) + ARCHIVE, cache / ARCHIVE, sha256=SHA256)
    except _files.ChecksumError:
        raise
    except OSError as error:
        raise _files.not_found("cifar10", places, wanted, error) from error
    return archive
