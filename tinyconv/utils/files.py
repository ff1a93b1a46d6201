"""``keras.utils.get_file``: a file from a URL, kept in Keras's cache so it is fetched once.

The cache is Keras's own (``$KERAS_HOME``, else ``~/.keras``; ``cache_subdir="datasets"`` below it), so
a file a Keras script already downloaded is found and reused, and the other way round. Downloads go to a
temporary file beside the target and are renamed only once complete and matching ``file_hash``: a failed,
interrupted or corrupt download never leaves a file under the final name. A stalled connection times out
(``DOWNLOAD_TIMEOUT_S``) instead of hanging.
"""
import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

DOWNLOAD_TIMEOUT_S = 30
ARCHIVE_FORMATS = ("tar", "zip")
HASH_ALGORITHMS = ("auto", "sha256", "md5")

_log = logging.getLogger("tinyconv")


def keras_home():
    """Keras's cache root: ``$KERAS_HOME``, else ``~/.keras``.

    ``get_file`` keeps its downloads under ``<keras_home()>/<cache_subdir>``, the same folder Keras
    uses, so a file fetched by either library is found by the other.

    Returns:
        The folder as a string (it may not exist yet).

    Example:

    >>> import os
    >>> os.environ["KERAS_HOME"] = "/tmp/keras-cache"
    >>> keras_home()
    '/tmp/keras-cache'
    >>> del os.environ["KERAS_HOME"]
    """
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def resolve_hasher(algorithm, file_hash=None):
    """The hashlib object for ``algorithm``; ``"auto"`` means sha256 for a 64-digit hash, else md5.

    Args:
        algorithm: "auto", "sha256" or "md5".
        file_hash: the expected digest, which "auto" uses to tell sha256 (64 hex digits) from md5.

    Returns:
        A fresh ``hashlib`` object.

    Raises:
        ValueError: for another algorithm name.

    Example:

    >>> resolve_hasher("auto", "0" * 64).name
    'sha256'
    >>> resolve_hasher("auto", "0" * 32).name
    'md5'
    """
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"get_file: hash_algorithm must be one of {HASH_ALGORITHMS}, got {algorithm!r}")
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath, algorithm="sha256", chunk_size=65535):
    """The hex digest of a file (``algorithm``: "sha256", "md5", or a hashlib object).

    Args:
        fpath: path of the file.
        algorithm: "sha256", "md5", or a hashlib object to feed.
        chunk_size: bytes read at a time (the file is never held in memory whole).

    Returns:
        The digest as a hexadecimal string.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(path, "wb").close()
    >>> hash_file(path)[:16]
    'e3b0c44298fc1c14'
    """
    hasher = resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    """Whether the file's sha256 / md5 digest equals ``file_hash``.

    Args:
        fpath: path of the file.
        file_hash: the expected hexadecimal digest.
        algorithm: "auto" (sha256 for a 64-digit hash, else md5), "sha256" or "md5".
        chunk_size: bytes read at a time.

    Returns:
        True when the digests match.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(path, "wb").close()
    >>> validate_file(path, "d41d8cd98f00b204e9800998ecf8427e")  # md5 of no bytes
    True
    """
    return hash_file(fpath, resolve_hasher(algorithm, file_hash), chunk_size) == str(file_hash)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Downloads a file from a URL unless it is already in the cache, and returns its local path.

    The file goes to ``cache_dir/cache_subdir/fname`` (``~/.keras/datasets/fname`` by default), exactly where
    Keras puts it. With ``extract=True`` an archive is unpacked and the folder it went to is returned
    (``fname`` without extension, or ``<name>_extracted`` when ``fname`` has a dot, as in Keras).

    Args:
        fname: the local file name; None takes the last part of ``origin``'s path. No folders allowed
            (use ``cache_dir``).
        origin: the URL to download from.
        untar: deprecated spelling of ``extract=True`` for tar archives.
        md5_hash: deprecated spelling of ``file_hash`` with ``hash_algorithm="md5"``.
        file_hash: the expected sha256 or md5 digest of the file; a cached file that does not match is
            downloaded again, a download that does not match is refused.
        cache_subdir: the folder under ``cache_dir`` (an absolute path is used as is).
        hash_algorithm: ``"auto"``, ``"sha256"`` or ``"md5"``.
        extract: unpack the archive after download.
        archive_format: ``"auto"`` (tar then zip), ``"tar"``, ``"zip"``, a list of these, or None.
        cache_dir: the cache root; None means ``$KERAS_HOME`` or ``~/.keras``.
        force_download: download even when the file is cached.

    Returns:
        The path of the file (or of the extraction folder), as a string.

    Raises:
        ValueError: no ``origin``, ``fname`` with folders, or a download whose hash does not match.
        OSError: the download failed (the message names the URL and the file to place by hand).

    Example:

    >>> import tempfile, pathlib
    >>> source = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = source.write_text("hello")
    >>> path = get_file(origin=source.as_uri(), cache_dir=tempfile.mkdtemp())
    >>> open(path).read()
    'hello'
    """
    if origin is None:
        raise ValueError('get_file: please specify the "origin" argument (the URL of the file to download)')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    resolve_hasher(hash_algorithm)  # refuse an unknown algorithm before any network access
    base = os.path.expanduser(os.fspath(cache_dir) if cache_dir is not None else keras_home())
    if not _writable_or_creatable(base):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    datadir = Path(base) / cache_subdir
    datadir.mkdir(parents=True, exist_ok=True)

    provided = fname is not None and os.fspath(fname) != ""
    fname = os.fspath(fname) if provided else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname:
        raise ValueError(f"get_file: can't read a file name from origin={origin!r}; pass fname=")
    if os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError(f"get_file: fname must be a bare file name, got {fname!r}; "
                         "choose the folder with cache_dir= / cache_subdir=")

    extract = extract or untar
    if extract and provided and "." in fname:
        download_target = datadir / fname
        extraction_dir = datadir / f"{fname[:fname.find('.')]}_extracted"
    elif extract:
        download_target = datadir / f"{fname}_archive"
        extraction_dir = datadir / fname
    else:
        download_target, extraction_dir = datadir / fname, None

    if force_download or not download_target.exists():
        _download(origin, download_target, file_hash, hash_algorithm)
    elif file_hash is not None and not validate_file(download_target, file_hash, hash_algorithm):
        _log.warning("get_file: %s does not match the expected hash %s; downloading it again",
                     download_target, file_hash)
        _download(origin, download_target, file_hash, hash_algorithm)

    if extraction_dir is None:
        return str(download_target)
    if not extract_archive(download_target, extraction_dir, "tar" if untar else archive_format):
        _log.warning("get_file: could not extract %s (not a %s archive)", download_target, archive_format)
    return str(extraction_dir)


def _writable_or_creatable(folder):
    """Whether ``folder`` exists and is writable, or could be created (its nearest existing parent is)."""
    folder = Path(folder)
    while not folder.exists():
        if folder.parent == folder:
            return False
        folder = folder.parent
    return os.access(folder, os.W_OK)


def _download(origin, target, file_hash, hash_algorithm):
    """``origin`` -> ``target`` through a temporary file, renamed only when complete and matching."""
    _log.info("Downloading data from %s", origin)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(origin, timeout=DOWNLOAD_TIMEOUT_S) as r:
                shutil.copyfileobj(r, out, 1 << 20)
        except OSError as error:  # URLError, HTTPError, timeouts and refused connections are all OSErrors
            raise OSError(f"get_file: downloading {origin} failed ({type(error).__name__}: {error}). "
                          f"Offline, put the file at {target} yourself.") from error
        if file_hash is not None and not validate_file(temporary, file_hash, hash_algorithm):
            raise ValueError(f"get_file: the file downloaded from {origin} is incomplete or corrupted: its hash "
                             f"is not {file_hash}; nothing was saved")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def extract_archive(file_path, path=".", archive_format="auto"):
    """Unpack a tar (.tar, .tar.gz, .tar.bz2) or zip archive into ``path``; True when it was one.

    Members that would land outside ``path`` (absolute names, ``..``, links pointing out) are skipped, and
    the folder is filled atomically: a failed extraction leaves no half-filled folder.

    Args:
        file_path: the archive.
        path: the folder to fill (created when missing).
        archive_format: "auto" (tar, then zip), "tar", "zip", a list of these, or None (extract nothing).

    Returns:
        True when ``file_path`` was an archive of an accepted format and was extracted, else False.

    Raises:
        ValueError: for an unknown ``archive_format``.

    Example:

    >>> import os, tempfile, zipfile
    >>> folder = tempfile.mkdtemp()
    >>> with zipfile.ZipFile(os.path.join(folder, "a.zip"), "w") as archive:
    ...     archive.writestr("notes.txt", "hello")
    >>> extract_archive(os.path.join(folder, "a.zip"), os.path.join(folder, "out"))
    True
    >>> open(os.path.join(folder, "out", "notes.txt")).read()
    'hello'
    """
    if archive_format is None:
        return False
    formats = list(ARCHIVE_FORMATS) if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    unknown = [f for f in formats if f not in ARCHIVE_FORMATS]
    if unknown:
        raise ValueError(f"get_file: archive_format must be 'auto', 'tar', 'zip', a list of these or None, "
                         f"got {archive_format!r}")
    file_path, path = os.fspath(file_path), Path(path)
    for kind in formats:
        is_archive = tarfile.is_tarfile if kind == "tar" else zipfile.is_zipfile
        if not is_archive(file_path):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.extract-"))
        try:
            if kind == "tar":
                with tarfile.open(file_path) as archive:
                    archive.extractall(staging, filter="data")  # refuses paths and links leaving the folder
            else:
                with zipfile.ZipFile(file_path) as archive:
                    root = staging.resolve()
                    safe = [m for m in archive.infolist() if (root / m.filename).resolve().is_relative_to(root)]
                    archive.extractall(staging, members=safe)
            if path.exists():
                # Keras extracts over what is there: merge, keeping files the archive does not have.
                shutil.copytree(staging, path, dirs_exist_ok=True)
            else:
                os.replace(staging, path)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return True
    return False
