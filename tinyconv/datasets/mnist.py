"""MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 training and 10,000 test images, 28x28 grey.

``load_data()`` returns what ``keras.datasets.mnist.load_data()`` returns:
x_train (60000, 28, 28) uint8, y_train (60000,) uint8, x_test (10000, 28, 28) uint8, y_test (10000,) uint8.
The file is Keras's ``mnist.npz``; see ``tinyconv/datasets/_files.py`` for where it is looked for.
"""
import os
from pathlib import Path

from . import _files

FILE_NAME = "mnist.npz"
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # Keras's published checksum


def load_data(path=FILE_NAME):
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays.

    ``path``: an .npz file with x_train, y_train, x_test, y_test; a bare file name (the default,
    'mnist.npz') is looked for in TINYCONV_DATA, Keras's cache, the system and shared data folders,
    and downloaded into Keras's cache when none has it.

    Args:
        path: an .npz file, or a bare file name to search for.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images (N, 28, 28), labels (N,).

    Raises:
        FileNotFoundError: the file is nowhere and the download failed (the message lists the places).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "mnist.npz")
    >>> np.savez(path, x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.arange(3, dtype=np.uint8),
    ...          x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.array([7], np.uint8))
    >>> (x_train, y_train), (x_test, y_test) = load_data(path)
    >>> x_train.shape, y_test.tolist()
    ((3, 28, 28), [7])
    """
    return _files.load_npz_arrays(find_or_download(path))


def find_or_download(path=FILE_NAME):
    """The .npz file to read: ``path`` itself, or a file of that name in the data folders, or a download.

    Args:
        path: an .npz file, or a bare file name to look for (TINYCONV_DATA, Keras's cache, the system
            and shared data folders), downloaded into Keras's cache when none has it.

    Returns:
        A ``pathlib.Path``.

    Raises:
        FileNotFoundError: a path with folders that does not exist, or nothing found and the download
            failed.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "mnist.npz")
    >>> np.savez(path, x_train=np.zeros((1, 28, 28), np.uint8))
    >>> find_or_download(path).name
    'mnist.npz'
    """
    path = Path(os.fspath(path)).expanduser()
    if path.is_file():
        return path
    if path.name != str(path):  # a path with folders that does not exist: the caller meant that file
        raise _files.not_found("mnist", [path], f"'{path.name}'")
    places = [directory / path.name for directory in _files.search_dirs()]
    found = _files.first_existing(places, os.path.isfile)
    if found is not None:
        return found
    target = _files.keras_cache_dir() / path.name
    try:
        return _files.download(_files.base_url(_files.KERAS_DATASETS_URL) + FILE_NAME, target, sha256=SHA256)
    except _files.ChecksumError:
        raise
    except OSError as error:
        raise _files.not_found("mnist", places, f"Keras's '{FILE_NAME}'", error) from error
