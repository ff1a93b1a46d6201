# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Nearest and bilinear up-sampling, compiled (Cython + OpenMP); twin of ``kernels/reference/upsampling.py``.

Same functions and results (the reference's docstring gives the formulas).  The bilinear
source coordinates are computed once per call by the reference's ``source_coordinates`` and
handed to the loops as small tables.  Forward passes write each output cell once and split
over (sample, output row); backward passes gather (nearest: the block of each input pixel)
or scatter into shared neighbours (bilinear: split over (sample, block of channels), so no
two threads write the same cell and the order of additions is fixed).
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t

from tinyconv.kernels.checks.upsampling import check_backward_arguments, check_forward_arguments
from tinyconv.kernels.reference.upsampling import source_coordinates

from tinyconv.kernels.cpu.parallel cimport threads_for

cdef enum:
    CHANNEL_BLOCK = 16


# --------------------------------------------------------------------------------------------
# Nearest neighbours
# --------------------------------------------------------------------------------------------
cdef void _nearest_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, Py_ssize_t sh,
                           Py_ssize_t sw) noexcept:
    cdef Py_ssize_t row, n, i, j, c, out_h = y.shape[1]
    cdef int threads = threads_for(y.size)
    for row in prange(y.shape[0] * out_h, nogil=True, schedule="static", num_threads=threads):
        n = row // out_h
        i = row % out_h
        for j in range(y.shape[2]):
            for c in range(y.shape[3]):
                y[n, i, j, c] = x[n, i // sh, j // sw, c]


cdef void _nearest_backward(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx, Py_ssize_t sh,
                            Py_ssize_t sw) noexcept:
    """Each input pixel gathers its own block: no two threads write the same cell."""
    cdef Py_ssize_t row, n, h, w, i, j, c, height = dx.shape[1]
    cdef int threads = threads_for(dy.size)
    for row in prange(dx.shape[0] * height, nogil=True, schedule="static", num_threads=threads):
        n = row // height
        h = row % height
        for w in range(dx.shape[2]):
            for i in range(h * sh, h * sh + sh):
                for j in range(w * sw, w * sw + sw):
                    for c in range(dx.shape[3]):
                        dx[n, h, w, c] += dy[n, i, j, c]


def upsample2d_nearest_forward(x, size):
    """y[n, i, j, c] = x[n, i // sh, j // sw, c]."""
    sh, sw = check_forward_arguments(x, size)
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], x.shape[1] * sh, x.shape[2] * sw, x.shape[3]), dtype=x.dtype)
    if x.dtype == np.float32:
        _nearest_forward[float](x, y, sh, sw)
    else:
        _nearest_forward[double](x, y, sh, sw)
    return y


def upsample2d_nearest_backward(dy, input_shape):
    """dL/dx: each input pixel sums the gradients of its block."""
    input_shape, (sh, sw) = check_backward_arguments(dy, input_shape)
    dy = np.ascontiguousarray(dy)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    if dy.dtype == np.float32:
        _nearest_backward[float](dy, dx, sh, sw)
    else:
        _nearest_backward[double](dy, dx, sh, sw)
    return dx


# --------------------------------------------------------------------------------------------
# Bilinear
# --------------------------------------------------------------------------------------------
cdef struct Axis:
    # tables for one axis, indexed by output position: the two neighbours and the high one's weight
    int64_t *low
    int64_t *high
    double *weight


cdef Axis axis_tables(tuple tables):
    """Pointers into (low, high, weight); the caller keeps the tuple (and so the arrays) alive."""
    cdef int64_t[::1] low = tables[0]
    cdef int64_t[::1] high = tables[1]
    cdef double[::1] weight = tables[2]
    cdef Axis axis
    axis.low = &low[0]
    axis.high = &high[0]
    axis.weight = &weight[0]
    return axis


cdef void _bilinear_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, Axis rows, Axis cols) noexcept:
    cdef Py_ssize_t row, n, i, j, c, out_h = y.shape[1]
    cdef int64_t h0, h1, w0, w1
    cdef double a, b
    cdef int threads = threads_for(y.size)
    for row in prange(y.shape[0] * out_h, nogil=True, schedule="static", num_threads=threads):
        n = row // out_h
        i = row % out_h
        h0 = rows.low[i]
        h1 = rows.high[i]
        a = rows.weight[i]
        for j in range(y.shape[2]):
            w0 = cols.low[j]
            w1 = cols.high[j]
            b = cols.weight[j]
            for c in range(y.shape[3]):
                y[n, i, j, c] = <floating>((1 - a) * ((1 - b) * x[n, h0, w0, c] + b * x[n, h0, w1, c])
                                           + a * ((1 - b) * x[n, h1, w0, c] + b * x[n, h1, w1, c]))


cdef void bilinear_block_backward(const floating[:, :, :, ::1] dy, double[:, :, :, ::1] dx, Axis rows, Axis cols,
                                  Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    """Channels [c0, c1) of sample n: each dy goes to its 4 neighbours with the blend's weights."""
    cdef Py_ssize_t i, j, c
    cdef int64_t h0, h1, w0, w1
    cdef double a, b, g
    for i in range(dy.shape[1]):
        h0 = rows.low[i]
        h1 = rows.high[i]
        a = rows.weight[i]
        for j in range(dy.shape[2]):
            w0 = cols.low[j]
            w1 = cols.high[j]
            b = cols.weight[j]
            for c in range(c0, c1):
                g = dy[n, i, j, c]
                dx[n, h0, w0, c] += (1 - a) * (1 - b) * g
                dx[n, h0, w1, c] += (1 - a) * b * g
                dx[n, h1, w0, c] += a * (1 - b) * g
                dx[n, h1, w1, c] += a * b * g


cdef void _bilinear_backward(const floating[:, :, :, ::1] dy, double[:, :, :, ::1] dx, Axis rows, Axis cols) noexcept:
    cdef Py_ssize_t item, c1, channels = dx.shape[3]
    cdef Py_ssize_t blocks = (channels + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK
    cdef int threads = threads_for(dy.size)
    for item in prange(dx.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        c1 = (item % blocks + 1) * CHANNEL_BLOCK
        bilinear_block_backward(dy, dx, rows, cols, item // blocks, (item % blocks) * CHANNEL_BLOCK,
                                c1 if c1 < channels else channels)


def _tables(out_size, in_size):
    low, high, weight = source_coordinates(out_size, in_size)
    return np.ascontiguousarray(low), np.ascontiguousarray(high), np.ascontiguousarray(weight, dtype=np.float64)


def upsample2d_bilinear_forward(x, size):
    """y = the bilinear blend of the 4 nearest input pixels (half-pixel centres)."""
    sh, sw = check_forward_arguments(x, size)
    x = np.ascontiguousarray(x)
    height, width = x.shape[1], x.shape[2]
    y = np.empty((x.shape[0], height * sh, width * sw, x.shape[3]), dtype=x.dtype)
    row_tables = _tables(height * sh, height)   # kept alive while the loops use their pointers
    col_tables = _tables(width * sw, width)
    cdef Axis rows = axis_tables(row_tables)
    cdef Axis cols = axis_tables(col_tables)
    if x.dtype == np.float32:
        _bilinear_forward[float](x, y, rows, cols)
    else:
        _bilinear_forward[double](x, y, rows, cols)
    return y


def upsample2d_bilinear_backward(dy, input_shape):
    """dL/dx: the transpose of the blend (accumulated in float64, as the reference does)."""
    input_shape, _ = check_backward_arguments(dy, input_shape)
    dy = np.ascontiguousarray(dy)
    dx = np.zeros(input_shape, dtype=np.float64)
    row_tables = _tables(dy.shape[1], input_shape[1])
    col_tables = _tables(dy.shape[2], input_shape[2])
    cdef Axis rows = axis_tables(row_tables)
    cdef Axis cols = axis_tables(col_tables)
    if dy.dtype == np.float32:
        _bilinear_backward[float](dy, dx, rows, cols)
    else:
        _bilinear_backward[double](dy, dx, rows, cols)
    return dx.astype(dy.dtype)
