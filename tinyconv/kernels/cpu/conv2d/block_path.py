"""The thread-private block route: the Python side of ``conv_blocks.pyx``.

im2col, GEMM and col2im run block by block, each block on one thread calling SciPy's BLAS
held at one thread (``blas_threads.py``).  ``route.py`` says when (every group with at
least BLOCK_MIN_GROUP_CHANNELS channels, SciPy's BLAS built and controllable, and for
backward a slice of samples per thread); a build without SciPy never comes here.
"""
import functools

import numpy as np

from .geometry import kernel_matrix
from .workspace import scratch_buffer

__all__ = ["block_kernels", "blas_context", "blas_controllable", "available", "forward", "backward",
           "weight_gradient_slices"]

# dL/dW is summed per slice of samples (a fixed split, whatever the thread count), then the
# slices are added: at most this many slices, at most this much memory for their sums, and
# at least this many output cells per slice (8x8 images in 16 slices made GEMMs too short).
MAX_WEIGHT_SLICES = 16
WEIGHT_SLICES_BYTES = 16 * 2**20
WEIGHT_SLICE_MIN_ROWS = 1024


@functools.lru_cache(maxsize=None)
def block_kernels():
    """The conv_blocks module, or None when it was not built (SciPy absent at build time)."""
    try:
        from tinyconv.kernels.cpu.conv2d import conv_blocks
    except ImportError:
        return None
    return conv_blocks


def blas_context():
    """A context holding SciPy's BLAS at one thread, or None when that cannot be done."""
    from ..blas_threads import single_threaded_blas

    return single_threaded_blas()


def blas_controllable():
    """True when SciPy's BLAS can be held at one thread (``blas_threads.py``)."""
    from ..blas_threads import scipy_blas_controller

    return scipy_blas_controller() is not None


def available():
    """True when the blocks were built and SciPy's BLAS can be held at one thread."""
    return block_kernels() is not None and blas_controllable()


def weight_gradient_slices(n, cells_per_sample, patch, filters, itemsize):
    """How many sample slices dL/dW is summed over (depends on the shapes only): a slice's
    GEMMs run on blocks of at most its own rows, so each gets WEIGHT_SLICE_MIN_ROWS or more."""
    fitting = WEIGHT_SLICES_BYTES // max(1, patch * filters * itemsize)
    by_rows = n * cells_per_sample // WEIGHT_SLICE_MIN_ROWS
    return max(1, min(MAX_WEIGHT_SLICES, n, fitting, by_rows))


def _workspace(blocks, threads, geo, patch, dtype):
    """One block's columns per thread, kept between calls (``workspace.py``)."""
    size = blocks.block_output_rows(geo, patch, np.dtype(dtype).itemsize) * geo.out_w * patch
    return scratch_buffer("blocks", dtype, max(1, threads) * size).reshape(max(1, threads), size)


def forward(x, kernel, bias, geo, groups, threads):
    """y = conv(x) + bias, block by block (x C-contiguous, checked)."""
    blocks = block_kernels()
    filters = kernel.shape[3]
    patch = geo.kh * geo.kw * (x.shape[3] // groups)
    y = np.empty((x.shape[0], geo.out_h, geo.out_w, filters), dtype=x.dtype)
    with blas_context():
        blocks.forward_blocks(x, kernel_matrix(kernel), bias, y.reshape(-1, filters), geo, groups, threads,
                              _workspace(blocks, threads, geo, patch, x.dtype))
    return y


def backward(dy, x, kernel, geo, groups, threads, input_gradient, kernel_gradient):
    """(dx by col2im or None, dkernel or None), block by block (x, dy C-contiguous)."""
    blocks = block_kernels()
    patch, filters = geo.kh * geo.kw * (x.shape[3] // groups), kernel.shape[3]
    slices = weight_gradient_slices(x.shape[0], geo.out_h * geo.out_w, patch, filters, x.itemsize)
    partial = np.empty((slices, patch, filters), dtype=x.dtype) if kernel_gradient else None
    dx = np.zeros_like(x) if input_gradient else None      # col2im adds into it
    with blas_context():
        blocks.backward_blocks(dy.reshape(-1, filters), x, kernel_matrix(kernel), geo, groups, dx, partial,
                               threads, _workspace(blocks, threads, geo, patch, x.dtype))
    return dx, None if partial is None else partial.sum(axis=0).reshape(kernel.shape)
