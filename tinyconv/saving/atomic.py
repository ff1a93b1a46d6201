"""Atomic file writes: a save that fails halfway leaves the previous file untouched.

The new file is written next to the old one under a temporary name, flushed to disk
(``fsync``), and only then renamed over it with ``os.replace``, which is atomic on POSIX and
Windows when both names are in the same directory.

The temporary file is ``.NAME.XXXXXXXX.PID.tmp`` beside the target (``XXXXXXXX`` random, ``PID`` the
writing process).  A process killed mid-save (``kill -9``) cannot remove its own, so each save also
removes the leftovers of earlier saves *to the same target*: files matching exactly that pattern, older
than this save's own temporary file, whose writing process is gone.  Nothing else is touched.
"""
import contextlib
import os
import re
import tempfile

# mkstemp's random part: eight characters of this alphabet.
_RANDOM_PART = r"[a-z0-9_]{8}"


def _fsync_file(path):
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory):
    # Makes the rename itself durable; not possible on every platform (Windows), so best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary_name_pattern(basename):
    """``.NAME.XXXXXXXX.PID.tmp`` (and ``.NAME.XXXXXXXX.tmp``, written before the PID was added)."""
    return re.compile(rf"\.{re.escape(basename)}\.{_RANDOM_PART}(?:\.(?P<pid>[0-9]+))?\.tmp")


def _process_alive(pid):
    if os.name == "nt":  # os.kill there terminates the process instead of probing it: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: keep its file
    return True


def remove_stale_temporaries(path, own_temporary):
    """Remove leftovers of interrupted saves to ``path``; return the names removed.

    A leftover matches ``path``'s temporary-name pattern exactly, is older than ``own_temporary`` and
    was written by a process that no longer runs (one without a PID in its name: strictly older).
    """
    directory = os.path.dirname(os.path.abspath(path))
    pattern = _temporary_name_pattern(os.path.basename(path))
    own_name = os.path.basename(own_temporary)
    own_time = os.stat(own_temporary).st_mtime_ns
    removed = []
    for entry in os.scandir(directory):
        match = pattern.fullmatch(entry.name)
        if match is None or entry.name == own_name or not entry.is_file(follow_symlinks=False):
            continue
        try:
            modified = entry.stat(follow_symlinks=False).st_mtime_ns
        except OSError:
            continue
        pid = match.group("pid")
        if pid is None:
            stale = modified < own_time
        else:
            stale = modified <= own_time and int(pid) != os.getpid() and not _process_alive(int(pid))
        if stale:
            try:
                os.remove(entry.path)
            except OSError:
                continue  # removed meanwhile by another save, or not ours to remove
            removed.append(entry.name)
    return removed


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".{os.getpid()}.tmp",
                                     dir=directory)
    os.close(fd)
    remove_stale_temporaries(path, temporary)
    try:
        yield temporary
        _fsync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_directory(directory)
