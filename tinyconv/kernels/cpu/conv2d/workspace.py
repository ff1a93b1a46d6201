"""Scratch buffers kept between calls, per thread, per role and per dtype.

A fresh np.empty of tens of megabytes costs a page fault per 4 KiB on first touch, so the
columns workspaces (``chunked_path.pyx``), the blocks' columns (``block_path.py``) and the
implicit dL/dW's slice sums (``implicit_path.py``) are views of buffers kept here and only
grown.  Uninitialised: every user writes what it reads.  Nothing returned to a caller of the
convolution ever points into one.
"""
import threading

import numpy as np

__all__ = ["scratch_buffer"]

_scratch = threading.local()  # per thread: {(role, dtype): flat buffer}


def scratch_buffer(role, dtype, size):
    """``size`` uninitialised numbers of this thread's buffer for ``role``, kept between calls."""
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    key = (role, np.dtype(dtype).str)
    buffer = buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = buffers[key] = np.empty(size, dtype=dtype)
    return buffer[:size]
