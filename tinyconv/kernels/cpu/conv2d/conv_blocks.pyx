# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""2-D convolution in thread-private blocks: im2col, GEMM and col2im without leaving the thread.

The same im2col + GEMM as ``chunked_path.pyx`` (read its docstring first), organised differently.
There, each phase (im2col, GEMM, col2im) runs over a whole chunk of the batch on every
thread and the threads meet between phases; the GEMM is NumPy's, with BLAS's own threads.
Here the output rows are cut into *blocks* of a few hundred rows, and one thread takes a
block through every phase by itself, calling a single-threaded BLAS (SciPy's
``cython_blas``, reachable without the GIL):

    forward    for each block:   cols = im2col(block);  y[block] = cols @ W + bias
    backward   for each slice of samples, block by block:
                                 dW_slice += cols.T @ dy[block]       (cols = im2col(block))
                                 dcols = dy[block] @ W.T;  col2im(dcols) into dx

A block's columns (about ``BLOCK_BYTES``) are still in the core's cache when the GEMM reads
them, and a whole layer is one parallel region instead of a handful.  (For a stride-1 layer
``route.py`` asks this backward for dW only, and gets dx as a forward pass over dy with the
flipped kernel: see ``geometry.correlation_pads``.)  On the 2-core VM of
``benchmarks/README.md`` that made a 32x32x32 3x3 layer 1.3-2x faster than the chunked path.

Results never depend on the thread count: a block is computed the same way whichever thread
takes it; a slice of samples always holds the same samples (so its dW partial sum is the
same), and the slices' partial sums are added in slice order at the end.  Samples belong to
one slice each, so col2im never has two threads adding into the same pixel.

The caller (``block_path.py``) gets every argument checked and holds SciPy's BLAS at one thread while
these run (see ``blas_threads.py``): BLAS's own threads would fight ours.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid

from tinyconv.kernels.cpu.row_major_blas cimport row_major_gemm as _gemm

from tinyconv.kernels.cpu.conv2d.im2col cimport Geometry, c_geometry, col2im_output_row, im2col_output_row

__all__ = ["forward_blocks", "backward_blocks", "block_output_rows"]

# One block's columns matrix: small enough to stay in a core's cache between im2col and the
# GEMM, large enough for the GEMM to run near its full rate (measured 0.5-4 MiB; see tests).
BLOCK_BYTES = 2**20

# dL/dx alone is cut into this many slices of samples, whatever the thread count (so the blocks,
# and the bits, are the same on any count): enough that a thread woken late takes fewer
# (LeNet-5's second layer at N=256 on the 2-core VM: 1.63 ms with 16 slices, 1.73 with 2).
INPUT_GRADIENT_SLICES = 16


def _check_workspace(workspace, threads, per_block, ow, patch):
    """The loops below run unchecked: make sure every thread's block fits its row."""
    if workspace.shape[0] < max(1, threads) or workspace.shape[1] < per_block * ow * patch:
        raise ValueError(f"conv_blocks: workspace of shape {tuple(workspace.shape)[:2]} is too small for "
                         f"{threads} threads x {per_block * ow * patch} numbers")


def block_output_rows(geo, patch, itemsize):
    """Output rows (i) per block: whole rows that keep a block's columns near BLOCK_BYTES."""
    row_bytes = max(1, geo.out_w * patch * itemsize)
    return max(1, BLOCK_BYTES // row_bytes)


def forward_blocks(const floating[:, :, :, ::1] x, const floating[:, ::1] kernel_matrix, bias,
                   floating[:, ::1] y_rows, geo, Py_ssize_t groups, int threads, floating[:, ::1] workspace):
    """y_rows = conv(x) (+ bias), block by block.  ``kernel_matrix``: the Keras kernel reshaped
    to (KH*KW*Cg, F); group g uses its columns [g*Fg, (g+1)*Fg).  ``workspace``: one row of
    ``block_output_rows(...) * OW * KH*KW*Cg`` numbers per thread."""
    cdef Py_ssize_t cg = x.shape[3] // groups, filters = kernel_matrix.shape[1], fg = filters // groups
    cdef Py_ssize_t patch = kernel_matrix.shape[0]
    cdef Py_ssize_t out_rows = x.shape[0] * geo.out_h                # (n, i) pairs
    cdef Py_ssize_t per_block = block_output_rows(geo, patch, x.itemsize)
    cdef Py_ssize_t blocks = (out_rows + per_block - 1) // per_block
    cdef Py_ssize_t ow = geo.out_w, block, first, last, u, r, f, grp, rows
    cdef Geometry g = c_geometry(geo, 0, cg)
    cdef bint has_bias = bias is not None
    dtype = np.float32 if floating is float else np.float64
    cdef const floating[::1] b = bias if has_bias else np.zeros(filters, dtype=dtype)
    cdef Geometry gt                                  # each thread's copy (it sets the group)
    cdef floating* cols = NULL                       # set per thread; Cython copies it in first (firstprivate)
    cdef floating* out
    if blocks == 0 or filters == 0:
        return
    _check_workspace(workspace, threads, per_block, ow, patch)
    with nogil, parallel(num_threads=threads):
        cols = &workspace[threadid(), 0]
        gt = g
        for block in prange(blocks, schedule="dynamic"):
            first = block * per_block
            last = min(first + per_block, out_rows)
            rows = (last - first) * ow
            out = &y_rows[first * ow, 0]
            for grp in range(groups):
                gt.c0 = grp * cg
                for u in range(first, last):
                    im2col_output_row(x, cols + (u - first) * ow * patch, u // gt.out_h, u % gt.out_h, gt)
                _gemm(False, False, rows, fg, patch, cols, patch, &kernel_matrix[0, grp * fg], filters,
                      0, out + grp * fg, filters)
            if has_bias:
                for r in range(rows):
                    for f in range(filters):
                        out[r * filters + f] += b[f]


def backward_blocks(const floating[:, ::1] dy_rows, const floating[:, :, :, ::1] x,
                    const floating[:, ::1] kernel_matrix, geo, Py_ssize_t groups, dx, partial, int threads,
                    floating[:, ::1] workspace):
    """dx += dL/dx (when ``dx`` is not None) and partial[s] = slice s's share of dL/dW (when
    ``partial``, shape (slices, KH*KW*Cg, F), is not None), slice by slice of the batch
    (``workspace`` as for ``forward_blocks``)."""
    cdef Py_ssize_t n = x.shape[0], cg = x.shape[3] // groups
    cdef Py_ssize_t filters = kernel_matrix.shape[1], fg = filters // groups, patch = kernel_matrix.shape[0]
    cdef Py_ssize_t per_block = block_output_rows(geo, patch, x.itemsize)
    cdef Py_ssize_t ow = geo.out_w, oh = geo.out_h
    cdef bint want_dx = dx is not None, want_dw = partial is not None
    cdef floating[:, :, :, ::1] dx_view = dx if want_dx else None
    cdef floating[:, :, ::1] dw_view = partial if want_dw else None
    cdef Py_ssize_t slices = partial.shape[0] if want_dw else min(n, INPUT_GRADIENT_SLICES)
    cdef Py_ssize_t s, first, last, stop, u, grp, rows
    cdef Geometry g = c_geometry(geo, 0, cg)
    cdef Geometry gt                                  # each thread's copy (it sets the group)
    cdef floating* cols = NULL                       # (set per thread, as in forward_blocks)
    cdef floating* sums
    cdef floating beta
    if slices == 0 or filters == 0 or (not want_dx and not want_dw):
        return
    _check_workspace(workspace, threads, per_block, ow, patch)
    with nogil, parallel(num_threads=threads):
        cols = &workspace[threadid(), 0]           # the columns of a block, then its dcols
        gt = g
        for s in prange(slices, schedule="dynamic"):
            first = (s * n // slices) * oh           # this slice's samples, as (n, i) pairs
            stop = ((s + 1) * n // slices) * oh
            beta = 0                                 # the slice's first block starts its sum
            while first < stop:
                last = min(first + per_block, stop)
                rows = (last - first) * ow
                for grp in range(groups):
                    gt.c0 = grp * cg
                    if want_dw:
                        for u in range(first, last):
                            im2col_output_row(x, cols + (u - first) * ow * patch, u // oh, u % oh, gt)
                        _gemm(True, False, patch, fg, rows, cols, patch, &dy_rows[first * ow, grp * fg], filters,
                              beta, &dw_view[s, 0, grp * fg], filters)
                    if want_dx:
                        _gemm(False, True, rows, patch, fg, &dy_rows[first * ow, grp * fg], filters,
                              &kernel_matrix[0, grp * fg], filters, 0, cols, patch)
                        for u in range(first, last):
                            col2im_output_row(cols + (u - first) * ow * patch, dx_view, u // oh, u % oh, gt)
                beta = 1
                first = last
            if want_dw and beta == 0:                # an empty slice (fewer samples than slices)
                sums = &dw_view[s, 0, 0]
                for u in range(patch * filters):
                    sums[u] = 0
