# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""3-D convolution, fast: vol2col + one matrix product (BLAS) per group.

Same functions and results as ``tinyconv.kernels.reference.conv3d`` (read that for the
formula).  It is the 2-D convolution's im2col route (``conv2d/chunked_path.pyx``) with a depth
axis: every receptive *box* is copied into one row of the columns matrix, so the convolution
becomes one GEMM

    cols  (N*OD*OH*OW, KD*KH*KW*Cg)   row (n, d, i, j) = the box output cell (n, d, i, j) sees,
                                      ordered (o, p, q, c), zeros over the padding
    W     (KD*KH*KW*Cg, Fg)           the group's kernel, reshaped (free in Keras's layout)
    y     = cols @ W + bias

Backward, per group:  dW = cols.T @ dy;  dcols = dy @ W.T, then col2vol adds each box's
gradient back onto the voxels it came from.

Parallelism (OpenMP, ``schedule="static"``):
    vol2col  one task per (sample, output depth, output row): each writes its own rows of cols.
    col2vol  one task per (sample, input depth, input row): each *gathers* from every box that
             saw its voxels, so no two threads write the same cell (no atomics).
    GEMM     BLAS on the same OpenMP threads (``matrix_product.py``).

The batch is cut into chunks whose workspace fits in ``WORKSPACE_BYTES`` (a 3x3x3 kernel makes
the columns matrix 27 times the input).  Arguments are validated in Python
(``validate_conv3d_args``) before the unchecked loops run.
"""
from collections import namedtuple

import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from tinyconv.kernels.cpu.parallel cimport threads_for

from tinyconv.kernels.cpu.matrix_product import matmul
from tinyconv.kernels.checks.conv3d import validate_conv3d_args, validate_conv3d_upstream_gradient

__all__ = ["conv3d_forward", "conv3d_backward"]

WORKSPACE_BYTES = 64 * 2**20

VolumeGeometry = namedtuple("VolumeGeometry",
                            "depth height width out_d out_h out_w kd kh kw sd sh sw dd dh dw front top left")


# --- public functions --------------------------------------------------------------------


def conv3d_forward(x, kernel, bias, strides, pads, dilation, groups):
    """y = x (*) kernel + bias over (D, H, W); NDHWC input, Keras-layout kernel."""
    x, kernel, bias, out_dhw = validate_conv3d_args(x, kernel, bias, strides, pads, dilation, groups)
    x = np.ascontiguousarray(x)
    geo = _geometry(x, kernel, strides, pads, dilation, out_dhw)
    n, channels, filters = x.shape[0], x.shape[4], kernel.shape[4]
    cg, fg = channels // groups, filters // groups

    y = np.empty((n,) + tuple(out_dhw) + (filters,), dtype=x.dtype)
    y_rows = y.reshape(-1, filters)
    weights = _group_weight_matrices(kernel, groups)
    cells_per_sample = geo.out_d * geo.out_h * geo.out_w
    patch = geo.kd * geo.kh * geo.kw * cg
    chunks = _batch_chunks(n, cells_per_sample * patch, x.itemsize)
    workspace = _workspace(x.dtype, chunks, cells_per_sample, patch)
    for start, stop in chunks:
        rows = slice(start * cells_per_sample, stop * cells_per_sample)
        cols = workspace[:(stop - start) * cells_per_sample]
        for g in range(groups):
            _vol2col(x[start:stop], cols, geo, g * cg, cg)
            matmul(cols, weights[g], out=y_rows[rows, g * fg:(g + 1) * fg])

    if bias is not None:
        y_rows += bias
    return y


def conv3d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True):
    """Return (dx, dkernel, dbias) given dL/dy; pure (recomputes vol2col, keeps no state).
    A gradient not asked for is None, and its GEMM (and col2vol or vol2col) is skipped."""
    x, kernel, _, out_dhw = validate_conv3d_args(x, kernel, None, strides, pads, dilation, groups)
    dy = np.ascontiguousarray(validate_conv3d_upstream_gradient(dy, x, kernel, out_dhw))
    x = np.ascontiguousarray(x)
    geo = _geometry(x, kernel, strides, pads, dilation, out_dhw)
    n, channels, filters = x.shape[0], x.shape[4], kernel.shape[4]
    cg, fg = channels // groups, filters // groups

    dy_rows = dy.reshape(-1, filters)
    dbias = dy_rows.sum(axis=0)
    dx = np.zeros_like(x) if input_gradient else None
    weights = _group_weight_matrices(kernel, groups)
    dweights = [np.zeros_like(w) for w in weights]

    cells_per_sample = geo.out_d * geo.out_h * geo.out_w
    patch = geo.kd * geo.kh * geo.kw * cg
    workspaces = int(input_gradient) + int(kernel_gradient)                 # cols and/or dcols
    chunks = _batch_chunks(n, max(1, workspaces) * cells_per_sample * patch, x.itemsize)
    cols_workspace = _workspace(x.dtype, chunks, cells_per_sample, patch) if kernel_gradient else None
    dcols_workspace = _workspace(x.dtype, chunks, cells_per_sample, patch) if input_gradient else None
    for start, stop in chunks:
        rows = slice(start * cells_per_sample, stop * cells_per_sample)
        for g in range(groups):
            dy_g = np.ascontiguousarray(dy_rows[rows, g * fg:(g + 1) * fg])
            if kernel_gradient:
                cols = cols_workspace[:(stop - start) * cells_per_sample]
                _vol2col(x[start:stop], cols, geo, g * cg, cg)
                dweights[g] += matmul(cols.T, dy_g)
            if input_gradient:
                dcols = dcols_workspace[:(stop - start) * cells_per_sample]
                matmul(dy_g, weights[g].T, out=dcols)
                _col2vol_add(dcols, dx[start:stop], geo, g * cg, cg)

    if not kernel_gradient:
        return dx, None, dbias
    dkernel = np.empty_like(kernel)
    for g in range(groups):
        dkernel[..., g * fg:(g + 1) * fg] = dweights[g].reshape(geo.kd, geo.kh, geo.kw, cg, fg)
    return dx, dkernel, dbias


# --- Python-side helpers -----------------------------------------------------------------


def _geometry(x, kernel, strides, pads, dilation, out_dhw):
    (front, _), (top, _), (left, _) = pads
    return VolumeGeometry(
        depth=x.shape[1], height=x.shape[2], width=x.shape[3],
        out_d=out_dhw[0], out_h=out_dhw[1], out_w=out_dhw[2],
        kd=kernel.shape[0], kh=kernel.shape[1], kw=kernel.shape[2],
        sd=strides[0], sh=strides[1], sw=strides[2],
        dd=dilation[0], dh=dilation[1], dw=dilation[2],
        front=front, top=top, left=left,
    )


def _group_weight_matrices(kernel, groups):
    """Kernel (KD, KH, KW, Cg, F) -> one (KD*KH*KW*Cg, F/groups) matrix per group, rows (o, p, q, c)."""
    fg = kernel.shape[4] // groups
    rows = kernel.shape[0] * kernel.shape[1] * kernel.shape[2] * kernel.shape[3]
    return [np.ascontiguousarray(kernel[..., g * fg:(g + 1) * fg]).reshape(rows, fg) for g in range(groups)]


def _batch_chunks(n, elements_per_sample, itemsize):
    per_chunk = max(1, WORKSPACE_BYTES // max(1, elements_per_sample * itemsize))
    return [(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]


def _workspace(dtype, chunks, cells_per_sample, patch):
    """One matrix for the largest chunk, reused; vol2col writes every entry, matmul(out=) overwrites."""
    largest = max((stop - start for start, stop in chunks), default=0)
    return np.empty((largest * cells_per_sample, patch), dtype=dtype)


# --- compiled loops ----------------------------------------------------------------------


cdef struct Geometry:
    Py_ssize_t depth, height, width
    Py_ssize_t out_d, out_h, out_w
    Py_ssize_t kd, kh, kw
    Py_ssize_t sd, sh, sw, dd, dh, dw
    Py_ssize_t front, top, left       # padding before each axis
    Py_ssize_t c0, cg                 # this group's first input channel and channel count


cdef Geometry _c_geometry(geo, Py_ssize_t c0, Py_ssize_t cg):
    cdef Geometry g
    g.depth, g.height, g.width = geo.depth, geo.height, geo.width
    g.out_d, g.out_h, g.out_w = geo.out_d, geo.out_h, geo.out_w
    g.kd, g.kh, g.kw = geo.kd, geo.kh, geo.kw
    g.sd, g.sh, g.sw, g.dd, g.dh, g.dw = geo.sd, geo.sh, geo.sw, geo.dd, geo.dh, geo.dw
    g.front, g.top, g.left, g.c0, g.cg = geo.front, geo.top, geo.left, c0, cg
    return g


def _vol2col(const floating[:, :, :, :, ::1] x, floating[:, ::1] cols, geo, Py_ssize_t c0, Py_ssize_t cg):
    """Fill ``cols`` (N*OD*OH*OW, KD*KH*KW*cg) with the boxes of channels [c0, c0+cg) of ``x``."""
    cdef Geometry g = _c_geometry(geo, c0, cg)
    cdef Py_ssize_t task, n, d, rows_per_sample = g.out_d * g.out_h
    cdef int threads = threads_for(cols.shape[0] * cols.shape[1])
    with nogil:
        for task in prange(x.shape[0] * rows_per_sample, schedule="static", num_threads=threads):
            n = task // rows_per_sample
            d = (task % rows_per_sample) // g.out_h
            _vol2col_output_row(x, cols, n, d, task % g.out_h, g)


def _col2vol_add(const floating[:, ::1] dcols, floating[:, :, :, :, ::1] dx, geo, Py_ssize_t c0, Py_ssize_t cg):
    """dx[..., c0:c0+cg] += the box gradients in ``dcols``, summed where boxes overlap."""
    cdef Geometry g = _c_geometry(geo, c0, cg)
    cdef Py_ssize_t task, n, z, rows_per_sample = g.depth * g.height
    cdef int threads = threads_for(dcols.shape[0] * dcols.shape[1])
    with nogil:
        for task in prange(dx.shape[0] * rows_per_sample, schedule="static", num_threads=threads):
            n = task // rows_per_sample
            z = (task % rows_per_sample) // g.height
            _col2vol_input_row(dcols, dx, n, z, task % g.height, g)


cdef void _vol2col_output_row(const floating[:, :, :, :, ::1] x, floating[:, ::1] cols,
                              Py_ssize_t n, Py_ssize_t d, Py_ssize_t i, Geometry g) noexcept nogil:
    """The boxes of output row (d, i) of sample n: OW rows of ``cols``."""
    cdef Py_ssize_t j, o, p, q, c, z, h, w, row, col
    cdef bint inside
    for j in range(g.out_w):
        row = ((n * g.out_d + d) * g.out_h + i) * g.out_w + j
        for o in range(g.kd):
            z = d * g.sd - g.front + o * g.dd              # input depth kernel slice o lands on
            for p in range(g.kh):
                h = i * g.sh - g.top + p * g.dh
                for q in range(g.kw):
                    w = j * g.sw - g.left + q * g.dw
                    col = ((o * g.kh + p) * g.kw + q) * g.cg
                    inside = 0 <= z < g.depth and 0 <= h < g.height and 0 <= w < g.width
                    if inside:
                        for c in range(g.cg):
                            cols[row, col + c] = x[n, z, h, w, g.c0 + c]
                    else:                                  # over the zero padding
                        for c in range(g.cg):
                            cols[row, col + c] = 0


cdef inline Py_ssize_t _output_index(Py_ssize_t position, Py_ssize_t before, Py_ssize_t cell,
                                     Py_ssize_t dilation, Py_ssize_t stride, Py_ssize_t out) noexcept nogil:
    """The output index whose kernel cell ``cell`` lands on input ``position``, or -1 if none.

    Solves  index*stride - before + cell*dilation == position  for a whole index in [0, out).
    """
    cdef Py_ssize_t steps = position + before - cell * dilation
    if steps < 0 or steps % stride != 0 or steps // stride >= out:
        return -1
    return steps // stride


cdef void _col2vol_input_row(const floating[:, ::1] dcols, floating[:, :, :, :, ::1] dx,
                             Py_ssize_t n, Py_ssize_t z, Py_ssize_t h, Geometry g) noexcept nogil:
    """Gather into input row (z, h) of sample n every box-gradient entry that came from it."""
    cdef Py_ssize_t o, p, q, c, w, d, i, j, row, col
    for o in range(g.kd):
        d = _output_index(z, g.front, o, g.dd, g.sd, g.out_d)
        if d < 0:
            continue
        for p in range(g.kh):
            i = _output_index(h, g.top, p, g.dh, g.sh, g.out_h)
            if i < 0:
                continue
            for w in range(g.width):
                for q in range(g.kw):
                    j = _output_index(w, g.left, q, g.dw, g.sw, g.out_w)
                    if j < 0:
                        continue
                    row = ((n * g.out_d + d) * g.out_h + i) * g.out_w + j
                    col = ((o * g.kh + p) * g.kw + q) * g.cg
                    for c in range(g.cg):
                        dx[n, z, h, w, g.c0 + c] += dcols[row, col + c]
