"""Finding dataset files on disk, and downloading them when they are missing.

Every loader looks in the same places, in this order, and uses the first file it finds:

1. the ``path=`` given to ``load_data``;
2. the folder named by the environment variable ``TINYCONV_DATA``;
3. Keras's cache, ``$KERAS_HOME/datasets`` (``~/.keras/datasets`` by default), laid out as Keras stores it,
   so data that Keras once downloaded is reused;
4. system-wide copies (Debian's ``dataset-fashion-mnist`` package puts its files in
   ``/usr/share/datasets/fashion-mnist/``);
5. the project's shared folder ``../shared/datasets`` (NumPy ``.npz`` files with ``x_train``, ``y_train``,
   ``x_test``, ``y_test``).

If none holds the data, the loader downloads it from the address Keras uses into Keras's cache.
Downloads go to a temporary file in the cache folder, are checked against a known checksum, and are only
then renamed to their final name: an interrupted or corrupted download never looks like a good file.
"""
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

# Where the files come from. Tests (or a local mirror) replace these through the environment variable
# TINYCONV_DATASETS_URL, which then serves every file, or by assigning the module variables.
KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/"
DOWNLOAD_TIMEOUT_S = 30

# System-wide copies (Debian's dataset-* packages).
SYSTEM_DATASETS_DIR = Path("/usr/share/datasets")

# The project's shared data folder: ../shared/datasets seen from the repository root (and from the
# current directory, for scripts run from the root of a checkout somewhere else).
_REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATASETS_DIRS = [_REPOSITORY_ROOT.parent / "shared" / "datasets", Path("..") / "shared" / "datasets"]


class DatasetNotFoundError(FileNotFoundError):
    """No copy of a dataset on disk, and downloading it failed."""


class ChecksumError(ValueError):
    """A downloaded file does not have the checksum it is published with."""


def keras_cache_dir():
    """Keras's download folder: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def user_data_dir():
    """The folder named by ``TINYCONV_DATA``, or None when it is not set."""
    value = os.environ.get("TINYCONV_DATA")
    return Path(value).expanduser() if value else None


def search_dirs():
    """The folders a loader searches, most preferred first (``path=`` comes before all of them)."""
    dirs = []
    if user_data_dir() is not None:
        dirs.append(user_data_dir())
    dirs.append(keras_cache_dir())
    dirs.append(SYSTEM_DATASETS_DIR)
    dirs.extend(Path(d) for d in SHARED_DATASETS_DIRS)
    return dirs


def first_existing(candidates, is_wanted=os.path.exists):
    """The first candidate path that exists (and passes ``is_wanted``), or None."""
    for candidate in candidates:
        if is_wanted(candidate):
            return Path(candidate)
    return None


def base_url(default):
    """``TINYCONV_DATASETS_URL`` when set, else ``default``; always ending in '/'."""
    url = os.environ.get("TINYCONV_DATASETS_URL") or default
    return url if url.endswith("/") else url + "/"


def file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, target, sha256=None, md5=None, timeout=None):
    """Fetch ``url`` into ``target``, atomically, checking the checksum when one is known.

    The bytes go to a temporary file beside ``target``; it is renamed to ``target`` only when complete
    and correct, so a crash or a bad download leaves no file with the final name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(
                url, timeout=timeout or DOWNLOAD_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        for algorithm, expected in (("sha256", sha256), ("md5", md5)):
            if expected is not None:
                received = file_digest(temporary, algorithm)
                if received != expected:
                    raise ChecksumError(f"download of {url} is corrupt: {algorithm} {received}, "
                                        f"expected {expected}; nothing was saved")
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return target


def not_found(dataset, searched, wanted, download_error=None):
    """The error a loader raises when it found nothing: what to put where, and every place it looked."""
    lines = [f"{dataset}: no copy of the data found. Put {wanted} in one of these places "
             "(or pass path= to load_data):"]
    lines += [f"  - {place}" for place in searched]
    if download_error is not None:
        lines.append(f"Downloading it failed too ({type(download_error).__name__}: {download_error}).")
    return DatasetNotFoundError("\n".join(lines))


def load_npz_arrays(path):
    """``(x_train, y_train), (x_test, y_test)`` from an .npz in Keras's layout (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as f:
        missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in f.files]
        if missing:
            raise ValueError(f"{path}: expected arrays x_train, y_train, x_test, y_test; missing {missing}")
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
