"""CIFAR-100 (Krizhevsky, 2009): 50,000 training and 10,000 test colour images, 32x32, 100 classes in 20
superclasses.

``load_data(label_mode)`` returns what ``keras.datasets.cifar100.load_data()`` returns (channels_last):
x_train (50000, 32, 32, 3) uint8, y_train (50000, 1) int64, x_test (10000, 32, 32, 3) uint8,
y_test (10000, 1) int64; the labels are the 100 fine classes or, with ``label_mode="coarse"``, the 20
superclasses.

The canonical archive ``cifar-100-python.tar.gz`` holds ``cifar-100-python/train`` and ``.../test``, each a
pickled dict {b"data": uint8 (N, 3072) R, G, B planes, b"fine_labels": [...], b"coarse_labels": [...]}.
They are read with cifar10's arrays-only unpickler. Keras keeps the extracted folder in its cache as
``cifar-100-python-target/cifar-100-python/``; that folder is found and reused here.
"""
import os
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from . import _files
from .cifar10 import _ArraysOnlyUnpickler

FOLDER = "cifar-100-python"
KERAS_FOLDER = "cifar-100-python-target"       # Keras's extraction folder in its cache
ARCHIVE = "cifar-100-python.tar.gz"
KERAS_ARCHIVE = "cifar-100-python-target_archive"  # the name Keras downloads the archive under
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"  # Keras's published checksum
FILES = ("train", "test")
LABEL_MODES = ("fine", "coarse")


def load_data(label_mode="fine"):
    """Loads CIFAR-100.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images (N, 32, 32, 3) uint8, labels (N, 1) int64.

    Raises:
        ValueError: an unknown ``label_mode``.
        DatasetNotFoundError: no copy found and the download failed.

    Example:

    >>> (x_train, y_train), _ = cifar100.load_data(label_mode="coarse")  # doctest: +SKIP
    >>> int(y_train.max())  # doctest: +SKIP
    19
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"cifar100.load_data: label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
    folder = find_or_download()
    (x_train, y_train), (x_test, y_test) = (read_file(folder / name, f"{label_mode}_labels") for name in FILES)
    return ((np.ascontiguousarray(x_train.transpose(0, 2, 3, 1)), y_train.reshape(-1, 1)),
            (np.ascontiguousarray(x_test.transpose(0, 2, 3, 1)), y_test.reshape(-1, 1)))


class _Cifar100Unpickler(_ArraysOnlyUnpickler):
    """cifar10's allow-list (NumPy arrays and plain values), naming this dataset when it refuses."""

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"cifar100: refusing to load {module}.{name} from a CIFAR-100 file; "
                                     "it should hold only NumPy arrays and lists")


def read_file(path, label_key):
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of the pickled ``train`` or ``test`` file.

    Args:
        path: the ``train`` or ``test`` file of ``cifar-100-python/``.
        label_key: "fine_labels" (100 classes) or "coarse_labels" (20 superclasses).

    Returns:
        ``(images, labels)``.

    Raises:
        ValueError: the file lacks the data or the labels asked for.
        pickle.UnpicklingError: the file names anything but NumPy arrays and plain values.

    Example:

    >>> import os, pickle, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "test")
    >>> with open(path, "wb") as f:
    ...     pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [7, 99]}, f)
    >>> images, labels = read_file(path, "fine_labels")
    >>> images.shape, labels.tolist()
    ((2, 3, 32, 32), [7, 99])
    """
    with open(path, "rb") as f:
        batch = _Cifar100Unpickler(f, encoding="bytes").load()
    batch = {(key.decode("utf8") if isinstance(key, bytes) else key): value for key, value in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise ValueError(f"cifar100: {path} should hold 'data' and '{label_key}', found {sorted(batch)}")
    data = np.asarray(batch["data"], dtype=np.uint8)
    # Keras reshapes the label list as it is: Python ints become int64.
    return data.reshape(len(data), 3, 32, 32), np.asarray(batch[label_key], dtype=np.int64)


def _is_folder(folder):
    return all((Path(folder) / name).is_file() for name in FILES)


def _extract(archive, destination):
    """``cifar-100-python/{train,test}`` from the archive into ``destination/cifar-100-python``, atomically."""
    final = Path(destination) / FOLDER
    if _is_folder(final):
        return final
    Path(destination).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination, prefix=".cifar100-extract-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if member.isfile() and len(parts) == 2 and parts[0] == FOLDER and parts[1] in FILES:
                    with tar.extractfile(member) as source, open(staging / parts[1], "wb") as out:
                        shutil.copyfileobj(source, out)
        if not _is_folder(staging):
            raise ValueError(f"cifar100: {archive} does not contain {FOLDER}/train and {FOLDER}/test")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return final


def find_or_download():
    """The ``cifar-100-python`` folder: found in the data folders / Keras's cache, extracted or downloaded.

    Returns:
        A ``pathlib.Path`` to the folder holding ``train`` and ``test``.

    Raises:
        FileNotFoundError: nothing found and the download failed (the message lists the places).

    Example:

    >>> import os, tempfile
    >>> data = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(data, "cifar-100-python"))
    >>> for name in ("train", "test"):
    ...     open(os.path.join(data, "cifar-100-python", name), "wb").close()
    >>> os.environ["TINYCONV_DATA"] = data
    >>> find_or_download().name
    'cifar-100-python'
    >>> del os.environ["TINYCONV_DATA"]
    """
    wanted = f"the folder '{FOLDER}' (as extracted from {ARCHIVE}) or the archive itself"
    folders, archives = [], []
    for directory in _files.search_dirs():
        folders += [directory / FOLDER, directory / KERAS_FOLDER / FOLDER]
        archives += [directory / ARCHIVE, directory / KERAS_ARCHIVE]
    found = _files.first_existing(folders, _is_folder)
    if found is not None:
        return found
    archive = _files.first_existing(archives, os.path.isfile)
    cache = _files.keras_cache_dir()
    if archive is None:
        try:
            archive = _files.download(_files.base_url(_files.CIFAR10_URL) + ARCHIVE, cache / KERAS_ARCHIVE,
                                      sha256=SHA256)
        except _files.ChecksumError:
            raise
        except OSError as error:
            raise _files.not_found("cifar100", folders + archives, wanted, error) from error
    destination = archive.parent / KERAS_FOLDER if os.access(archive.parent, os.W_OK) else cache / KERAS_FOLDER
    return _extract(archive, destination)
