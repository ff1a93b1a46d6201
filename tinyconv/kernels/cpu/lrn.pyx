# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Local response normalisation, compiled (Cython + OpenMP); twin of ``kernels/reference/lrn.py``.

The input is seen as (M, C) rows, one row per position, the channels last.  Rows are
independent (the window runs across channels only), so the loops run in parallel over rows;
each window sum is accumulated in float64, directly over its 2r + 1 channels.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport pow

# The argument checks are shared with the reference: one set of rules, one set of messages.
from tinyconv.kernels.checks.lrn import check_lrn_arguments, check_lrn_backward_arguments

from tinyconv.kernels.cpu.parallel cimport threads_for


cdef inline Py_ssize_t window_start(Py_ssize_t c, Py_ssize_t radius) noexcept nogil:
    return c - radius if c > radius else 0


cdef inline Py_ssize_t window_stop(Py_ssize_t c, Py_ssize_t radius, Py_ssize_t channels) noexcept nogil:
    return c + radius + 1 if c + radius + 1 < channels else channels


cdef void lrn_row(const floating[:, ::1] x, floating[:, ::1] y, floating[:, ::1] denom, Py_ssize_t radius,
                  double bias, double alpha, double beta, Py_ssize_t r) noexcept nogil:
    """D_c = bias + alpha * sum of x_j^2 over the window of c;  y_c = x_c * D_c^(-beta)."""
    cdef Py_ssize_t c, j, channels = x.shape[1]
    cdef double squares, d
    for c in range(channels):
        squares = 0
        for j in range(window_start(c, radius), window_stop(c, radius, channels)):
            squares = squares + <double>x[r, j] * x[r, j]
        d = bias + alpha * squares
        denom[r, c] = <floating>d
        y[r, c] = <floating>(x[r, c] * pow(d, -beta))


cdef void lrn_rows(const floating[:, ::1] x, floating[:, ::1] y, floating[:, ::1] denom, Py_ssize_t radius,
                   double bias, double alpha, double beta) noexcept:
    cdef Py_ssize_t r
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for r in prange(x.shape[0], nogil=True, schedule="static", num_threads=threads):
        lrn_row(x, y, denom, radius, bias, alpha, beta, r)


cdef void lrn_backward_row(const floating[:, ::1] dy, const floating[:, ::1] x, const floating[:, ::1] denom,
                           floating[:, ::1] dx, double[:, ::1] d_squares, Py_ssize_t radius, double alpha,
                           double beta, Py_ssize_t r) noexcept nogil:
    """dx_j = dy_j D_j^(-beta) + 2 x_j * sum over the window of j of dS_c,
    with dS_c = -alpha * beta * dy_c * x_c * D_c^(-beta-1)."""
    cdef Py_ssize_t c, j, channels = x.shape[1]
    cdef double total
    for c in range(channels):
        d_squares[r, c] = -alpha * beta * dy[r, c] * x[r, c] * pow(<double>denom[r, c], -beta - 1)
    for j in range(channels):
        total = 0
        for c in range(window_start(j, radius), window_stop(j, radius, channels)):
            total = total + d_squares[r, c]
        dx[r, j] = <floating>(dy[r, j] * pow(<double>denom[r, j], -beta) + 2 * x[r, j] * total)


cdef void lrn_backward_rows(const floating[:, ::1] dy, const floating[:, ::1] x, const floating[:, ::1] denom,
                            floating[:, ::1] dx, double[:, ::1] d_squares, Py_ssize_t radius, double alpha,
                            double beta) noexcept:
    cdef Py_ssize_t r
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for r in prange(x.shape[0], nogil=True, schedule="static", num_threads=threads):
        lrn_backward_row(dy, x, denom, dx, d_squares, radius, alpha, beta, r)


def rows_of(x):
    """A C-contiguous (M, C) view (or copy) of x."""
    return np.ascontiguousarray(x.reshape(-1, x.shape[x.ndim - 1]))


def lrn_forward(x, depth_radius, bias, alpha, beta):
    """y_c = x_c / (bias + alpha * sum_{|j-c| <= r} x_j^2)^beta; returns (y, denom)."""
    check_lrn_arguments(x, depth_radius, bias, alpha, beta)
    rows = rows_of(x)
    y = np.empty_like(rows)
    denom = np.empty_like(rows)
    if rows.dtype == np.float32:
        lrn_rows[float](rows, y, denom, depth_radius, bias, alpha, beta)
    else:
        lrn_rows[double](rows, y, denom, depth_radius, bias, alpha, beta)
    return y.reshape(x.shape), denom.reshape(x.shape)


def lrn_backward(dy, x, denom, depth_radius, bias, alpha, beta):
    """dL/dx of local response normalisation (see the reference for the steps)."""
    check_lrn_backward_arguments(dy, x, denom, depth_radius, bias, alpha, beta)
    rows, dy_rows, denom_rows = rows_of(x), rows_of(dy), rows_of(denom)
    dx = np.empty_like(rows)
    d_squares = np.empty(rows.shape)          # float64 workspace: dL/dS per cell
    if rows.dtype == np.float32:
        lrn_backward_rows[float](dy_rows, rows, denom_rows, dx, d_squares, depth_radius, alpha, beta)
    else:
        lrn_backward_rows[double](dy_rows, rows, denom_rows, dx, d_squares, depth_radius, alpha, beta)
    return dx.reshape(x.shape)
