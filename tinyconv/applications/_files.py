"""Keras's published files (ImageNet weights, the class index) found in Keras's cache, or downloaded.

A file is looked for where Keras's ``get_file(..., cache_subdir="models")`` keeps it, so a file that Keras
once downloaded is reused as it is:

1. ``$KERAS_HOME/models`` when ``KERAS_HOME`` is set, else ``~/.keras/models``;
2. ``/tmp/.keras/models`` (Keras writes there when the home folder is not writable).

When no copy is there (or the copy fails its published checksum), the file is downloaded from the address
Keras uses into the first of those folders that can be written, through the same atomic, checksummed
download the datasets use.  Offline, the error names the file, its address and the folder to put it in.
"""
import os
import tempfile
from pathlib import Path

from ..datasets import _files as dataset_files

# Where Keras publishes its application weights and the ImageNet class index (facts, not code).
KERAS_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
CLASS_INDEX_URL = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"


class WeightsNotFoundError(FileNotFoundError):
    """A published Keras file is in no cache folder, and downloading it failed."""


def keras_models_dirs():
    """The folders searched, most preferred first: Keras's cache and Keras's fallback under /tmp."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    fallback = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    dirs = [Path(home) / "models"]
    if Path(fallback) / "models" != dirs[0]:
        dirs.append(Path(fallback) / "models")
    return dirs


def _hash_ok(path, file_hash):
    """True when no hash is published, else when the file's md5 (32 hex digits) or sha256 matches."""
    if file_hash is None:
        return True
    algorithm = "sha256" if len(file_hash) == 64 else "md5"
    return dataset_files.file_digest(path, algorithm) == file_hash


def _writable_dir():
    for folder in keras_models_dirs():
        base = folder.parent
        if (base.exists() and os.access(base, os.W_OK)) or (not base.exists() and os.access(base.parent, os.W_OK)):
            return folder
    return keras_models_dirs()[-1]


def fetch(file_name, origin, file_hash=None, what="weights"):
    """The local path of Keras's published ``file_name``: from the cache, else downloaded from ``origin``.

    Args:
        file_name: the file's name in Keras's cache (``vgg16_weights_tf_dim_ordering_tf_kernels.h5``).
        origin: the address Keras downloads it from.
        file_hash: the published md5 (32 hex digits) or sha256 (64), or None when Keras publishes none.
        what: what the file is, for the error message.

    Returns:
        A ``pathlib.Path``.

    Raises:
        WeightsNotFoundError: no good copy on disk and the download failed (offline, for example); the
            message names the file, its address and the folder to put it in.
    """
    stale = []
    for folder in keras_models_dirs():
        candidate = folder / file_name
        if candidate.is_file():
            if _hash_ok(candidate, file_hash):
                return candidate
            stale.append(candidate)  # incomplete or outdated: download a fresh copy, as Keras does
    target = _writable_dir() / file_name
    try:
        return dataset_files.download(origin, target, **_digest_argument(file_hash))
    except Exception as error:  # offline, refused, corrupt: say what to put where
        lines = [f"{what}: Keras's file {file_name!r} is not in Keras's cache and could not be downloaded "
                 f"from {origin} ({type(error).__name__}: {error}).",
                 f"Download it on a machine that is online and put it in {keras_models_dirs()[0]} "
                 f"(searched: {', '.join(str(d) for d in keras_models_dirs())})."]
        if stale:
            lines.append(f"The copies found do not match the published checksum {file_hash}: "
                         f"{', '.join(str(p) for p in stale)}")
        raise WeightsNotFoundError("\n".join(lines)) from error


def _digest_argument(file_hash):
    if file_hash is None:
        return {}
    return {"sha256": file_hash} if len(file_hash) == 64 else {"md5": file_hash}
