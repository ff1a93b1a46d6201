"""Keep freed memory for the next training step: glibc's ``malloc`` told not to give it back.

Each training step allocates the same arrays again (activations, gradients, the kernels'
workspaces), a few of them megabytes each, and frees them by the end of the step.  glibc's
``malloc`` returns such memory to the operating system (blocks above its *mmap threshold* are
unmapped at once; the top of the heap is trimmed beyond the *trim threshold*), and the next
step's arrays touch fresh pages, each one a page fault.  Measured on the 2-core VM of
``benchmarks/README.md``: LeNet-5's step at batch 64 spent a sixth of its time in page faults
(6.5 ms a step, 5.3 ms with the memory kept).

``keep_freed_memory()`` (run by ``import tinyconv``) raises both thresholds with ``mallopt``:
blocks up to MMAP_THRESHOLD come from the heap, and up to TRIM_THRESHOLD of freed memory at its
top stays with the process.  The peak memory of a run does not change; the process keeps up to
TRIM_THRESHOLD more after it.  Linux with glibc only (elsewhere nothing is done).  It leaves
glibc's own settings alone when ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` is in
the environment, and does nothing when ``TINYCONV_KEEP_FREED_MEMORY=0``.

A leaf of the package: it imports nothing of tinyconv.
"""
import ctypes
import os
import sys

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

MMAP_THRESHOLD = 32 * 2**20     # glibc's own upper limit for its sliding threshold
TRIM_THRESHOLD = 128 * 2**20

# mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _glibc():
    """The C library when it is glibc (it has ``mallopt``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (musl and others have no such function)
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory(environ=None):
    """Ask glibc's malloc to keep freed blocks for reuse (see the module's docstring).

    Args:
        environ: the environment to read (``os.environ`` when None).

    Returns:
        True when the thresholds were set; False when left alone (not glibc, opted out, or set
        by the user through glibc's own variables).
    """
    environ = os.environ if environ is None else environ
    if environ.get("TINYCONV_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in environ or "MALLOC_TRIM_THRESHOLD_" in environ:
        return False
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
