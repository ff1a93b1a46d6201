"""One-file datasets Keras ships as ``.npz`` (imdb, reuters, boston_housing, california_housing) and their
word-index ``.json`` files: finding or downloading the file, and reading it safely.

Finding follows every loader here (see ``_files.py``): ``path=`` when it names an existing file, else the
file name in TINYCONV_DATA, Keras's cache (``~/.keras/datasets``), the system and shared folders, else a
download from Keras's address into Keras's cache (checked against the checksum Keras publishes, with a
timeout: offline, the loader fails fast with the list of places to put the file).

imdb and reuters store ragged lists of word indices as NumPy *object* arrays, which ``.npy`` keeps as a
pickle. ``np.load(allow_pickle=True)`` would run whatever a crafted file asks for, so those members are
read with the arrays-only unpickler of ``cifar10`` (NumPy arrays, dtypes and plain Python values only).
"""
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from . import _files
from .cifar10 import _ArraysOnlyUnpickler


def find_or_download(dataset, path, file_name, sha256=None, md5=None):
    """The local copy of ``file_name`` (Keras's name for the file), downloading it when none exists.

    ``path``: what the user passed (Keras's default is the bare file name). An existing file is used as
    is; a missing path with folders in it is an error naming it; a bare name is searched for.
    """
    path = Path(os.fspath(path)).expanduser()
    if path.is_file():
        return path
    wanted = f"Keras's '{file_name}'"
    if path.name != str(path):  # a path with folders that does not exist: the caller meant that file
        raise _files.not_found(dataset, [path], f"'{path.name}'")
    places = [directory / path.name for directory in _files.search_dirs()]
    found = _files.first_existing(places, os.path.isfile)
    if found is not None:
        return found
    url = _files.base_url(_files.KERAS_DATASETS_URL) + file_name
    try:
        return _files.download(url, _files.keras_cache_dir() / path.name, sha256=sha256, md5=md5)
    except _files.ChecksumError:
        raise
    except OSError as error:
        raise _files.not_found(dataset, places, wanted, error) from error


class _DatasetUnpickler(_ArraysOnlyUnpickler):
    """The cifar10 allow-list (arrays, dtypes, plain values), with an error that names the dataset."""

    def __init__(self, file, dataset):
        super().__init__(file, encoding="latin1")
        self.dataset = dataset

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"{self.dataset}: refusing to load {module}.{name} from the data file; "
                                     "it should hold only NumPy arrays of numbers and lists")


def _read_npy(stream, dataset):
    """One ``.npy`` member: numbers without any pickle, object arrays through the arrays-only unpickler."""
    version = np.lib.format.read_magic(stream)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read_header(stream)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = _DatasetUnpickler(stream, dataset).load()
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ValueError(f"{dataset}: a member of the .npz does not hold the array of shape {shape} its "
                         "header announces")
    return array


def load_npz(path, dataset, keys):
    """``{key: array}`` for ``keys`` of an .npz written by ``np.savez`` (object arrays read safely)."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for key in keys:
            try:
                raw = archive.read(key + ".npy")
            except KeyError:
                raise ValueError(f"{dataset}: {path} should hold the arrays {list(keys)}; "
                                 f"'{key}' is missing") from None
            arrays[key] = _read_npy(io.BytesIO(raw), dataset)
    return arrays


def shuffled(rng, *arrays):
    """The arrays in one random order drawn from ``rng`` (Keras: ``rng.shuffle`` of an index range)."""
    indices = np.arange(len(arrays[0]))
    rng.shuffle(indices)
    return [array[indices] for array in arrays]


def check_test_split(dataset, test_split):
    if not 0 <= test_split < 1:
        raise ValueError(f"{dataset}.load_data: test_split must be in [0, 1), got {test_split!r}")
