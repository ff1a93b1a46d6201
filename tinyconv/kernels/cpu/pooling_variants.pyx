# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Min, Lp, log-sum-exp and Gaussian-weighted pooling, compiled (Cython + OpenMP).

Twin of ``kernels/reference/pooling_variants.py`` (its docstring gives the formulas).  The
Python wrappers validate with the shared checks (``kernels/checks``); the loops then run without bounds
checks and without the GIL.  Forward passes split over (sample, output row) pairs; backward
passes scatter into overlapping windows, so they split over (sample, block of channels) and
no two threads write the same cell.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, exp, fabs, log, pow
from libc.stdint cimport int32_t, int64_t

from tinyconv.kernels.checks.pooling import check_cells_numbered, check_pool_forward
from tinyconv.kernels.checks.pooling_variants import (
    check_parametric_pool_backward,
    check_parametric_pool_forward,
    check_weighted_pool_backward,
)
from tinyconv.kernels.reference.pooling_variants import gaussian_window

from tinyconv.kernels.cpu.parallel cimport threads_for
from tinyconv.kernels.cpu.pool_geometry cimport Geometry, make_geometry
from tinyconv.kernels.cpu.pool_order cimport WINDOW_BLOCK, take_smaller

cdef enum:
    CHANNEL_BLOCK = 16


cdef struct Window:
    Py_ssize_t top, left          # where the full window starts (may be in the padding)
    Py_ssize_t h0, h1, w0, w1     # its real cells: [h0, h1) x [w0, w1)


cdef inline Window window_of(Py_ssize_t oh, Py_ssize_t ow, Geometry g) noexcept nogil:
    cdef Window win
    win.top = oh * g.stride_h - g.pad_top
    win.left = ow * g.stride_w - g.pad_left
    win.h0 = win.top if win.top > 0 else 0
    win.w0 = win.left if win.left > 0 else 0
    win.h1 = win.top + g.pool_h if win.top + g.pool_h < g.height else g.height
    win.w1 = win.left + g.pool_w if win.left + g.pool_w < g.width else g.width
    return win


cdef inline Py_ssize_t block_stop(Py_ssize_t block, Py_ssize_t channels) noexcept nogil:
    cdef Py_ssize_t stop = (block + 1) * CHANNEL_BLOCK
    return stop if stop < channels else channels


cdef inline Py_ssize_t channel_blocks(Py_ssize_t channels) noexcept nogil:
    return (channels + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK


def _new_output(x, out_hw):
    return np.empty((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)


# --------------------------------------------------------------------------------------------
# Min pooling
# --------------------------------------------------------------------------------------------
cdef void min_pool_row(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmin,
                       Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    cdef Py_ssize_t ow, h, w, c, c0, width
    cdef Window win
    cdef floating best[WINDOW_BLOCK]
    cdef int32_t winner[WINDOW_BLOCK]
    for ow in range(g.out_w):
        win = window_of(oh, ow, g)
        c0 = 0
        while c0 < g.channels:                 # a block of channels in local arrays (pool_order.pxd)
            width = min(<Py_ssize_t>WINDOW_BLOCK, g.channels - c0)
            for c in range(width):
                best[c] = x[n, win.h0, win.w0, c0 + c]
                winner[c] = <int32_t>(win.h0 * g.width + win.w0)
            # strictly smaller (or the first NaN, see pool_order.pxd) takes over: ties keep the
            # first cell, as np.argmin does
            for h in range(win.h0, win.h1):
                for w in range(win.w0, win.w1):
                    take_smaller(best, winner, &x[n, h, w, c0], <int32_t>(h * g.width + w), width)
            for c in range(width):
                y[n, oh, ow, c0 + c] = best[c]
                argmin[n, oh, ow, c0 + c] = winner[c]
            c0 += WINDOW_BLOCK


cdef void _min_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmin,
                            Geometry g) noexcept:
    cdef Py_ssize_t row
    cdef int threads = threads_for(x.size)
    for row in prange(x.shape[0] * g.out_h, nogil=True, schedule="static", num_threads=threads):
        min_pool_row(x, y, argmin, row // g.out_h, row % g.out_h, g)


def min_pool2d_forward(x, pool_size, strides, pads):
    """Min pooling; returns (y, argmin) exactly as the reference does."""
    pool, strides, pads, out_hw = check_pool_forward(x, pool_size, strides, pads)
    check_cells_numbered("min_pool2d_forward", x, 2)
    x = np.ascontiguousarray(x)
    y = _new_output(x, out_hw)
    argmin = np.empty(y.shape, dtype=np.int64)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _min_pool_forward[float](x, y, argmin, g)
    else:
        _min_pool_forward[double](x, y, argmin, g)
    return y, argmin


# --------------------------------------------------------------------------------------------
# Lp pooling
# --------------------------------------------------------------------------------------------
cdef inline double signed_root(double s, double p) noexcept nogil:
    """sign(s) |s|^(1/p); NaN stays NaN (it is neither > 0 nor < 0, and not 0 either)."""
    if s > 0:
        return pow(s, 1.0 / p)
    if s < 0:
        return -pow(-s, 1.0 / p)
    return s    # 0, or NaN


cdef void lp_pool_row(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, double p,
                      Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    cdef Py_ssize_t ow, h, w, c
    cdef Window win
    for ow in range(g.out_w):
        win = window_of(oh, ow, g)
        for c in range(g.channels):
            y[n, oh, ow, c] = 0
        for h in range(win.h0, win.h1):
            for w in range(win.w0, win.w1):
                for c in range(g.channels):
                    y[n, oh, ow, c] += <floating>pow(x[n, h, w, c], p)
        for c in range(g.channels):
            y[n, oh, ow, c] = <floating>signed_root(y[n, oh, ow, c], p)


cdef void _lp_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, double p, Geometry g) noexcept:
    cdef Py_ssize_t row
    cdef int threads = threads_for(x.size)
    for row in prange(x.shape[0] * g.out_h, nogil=True, schedule="static", num_threads=threads):
        lp_pool_row(x, y, p, row // g.out_h, row % g.out_h, g)


cdef void lp_block_backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] y,
                            floating[:, :, :, ::1] dx, double p, Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1,
                            Geometry g) noexcept nogil:
    """dx_i += dy * x_i^(p-1) * |y|^(1-p) over each window (nothing where y = 0; a NaN y is
    not 0, so its window passes NaN on, as in the reference)."""
    cdef Py_ssize_t oh, ow, h, w, c
    cdef Window win
    cdef double scale
    for oh in range(g.out_h):
        for ow in range(g.out_w):
            win = window_of(oh, ow, g)
            for c in range(c0, c1):
                if y[n, oh, ow, c] == 0:
                    continue
                scale = dy[n, oh, ow, c] * pow(fabs(y[n, oh, ow, c]), 1.0 - p)
                for h in range(win.h0, win.h1):
                    for w in range(win.w0, win.w1):
                        dx[n, h, w, c] += <floating>(pow(x[n, h, w, c], p - 1.0) * scale)


cdef void _lp_pool_backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] y,
                            floating[:, :, :, ::1] dx, double p, Geometry g) noexcept:
    cdef Py_ssize_t item, blocks = channel_blocks(g.channels)
    cdef int threads = threads_for(x.size)
    for item in prange(x.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        lp_block_backward(dy, x, y, dx, p, item // blocks, (item % blocks) * CHANNEL_BLOCK,
                          block_stop(item % blocks, g.channels), g)


def lp_pool2d_forward(x, p, pool_size, strides, pads):
    """y = (sum over the window of x^p)^(1/p)."""
    p, pool, strides, pads, out_hw = check_parametric_pool_forward(x, p, "p", pool_size, strides, pads)
    x = np.ascontiguousarray(x)
    y = _new_output(x, out_hw)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _lp_pool_forward[float](x, y, p, g)
    else:
        _lp_pool_forward[double](x, y, p, g)
    return y


def lp_pool2d_backward(dy, x, y, p, pool_size, strides, pads):
    """dL/dx for Lp pooling."""
    p, pool, strides, pads, out_hw = check_parametric_pool_backward(dy, x, y, p, "p", pool_size, strides, pads)
    dy, x, y = np.ascontiguousarray(dy), np.ascontiguousarray(x), np.ascontiguousarray(y)
    dx = np.zeros_like(x)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _lp_pool_backward[float](dy, x, y, dx, p, g)
    else:
        _lp_pool_backward[double](dy, x, y, dx, p, g)
    return dx


# --------------------------------------------------------------------------------------------
# Log-sum-exp pooling
# --------------------------------------------------------------------------------------------
cdef void lse_pool_row(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, double beta,
                       Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    """y = peak + log(sum exp(beta (x - peak))) / beta, peak = the window's max (no overflow).

    An infinite peak shifts by 0 instead (inf - inf would be NaN): a +inf cell then gives
    log(inf) = inf and a window of -inf cells log(0) = -inf, the exact answers.
    """
    cdef Py_ssize_t ow, h, w, c
    cdef Window win
    cdef double peak, total
    for ow in range(g.out_w):
        win = window_of(oh, ow, g)
        for c in range(g.channels):
            peak = x[n, win.h0, win.w0, c]
            for h in range(win.h0, win.h1):
                for w in range(win.w0, win.w1):
                    if x[n, h, w, c] > peak:
                        peak = x[n, h, w, c]
            if peak == INFINITY or peak == -INFINITY:
                peak = 0
            total = 0
            for h in range(win.h0, win.h1):
                for w in range(win.w0, win.w1):
                    total = total + exp(beta * (x[n, h, w, c] - peak))
            y[n, oh, ow, c] = <floating>(peak + log(total) / beta)


cdef void _lse_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, double beta,
                            Geometry g) noexcept:
    cdef Py_ssize_t row
    cdef int threads = threads_for(x.size)
    for row in prange(x.shape[0] * g.out_h, nogil=True, schedule="static", num_threads=threads):
        lse_pool_row(x, y, beta, row // g.out_h, row % g.out_h, g)


cdef void lse_block_backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] y,
                             floating[:, :, :, ::1] dx, double beta, Py_ssize_t n, Py_ssize_t c0,
                             Py_ssize_t c1, Geometry g) noexcept nogil:
    """dx_i += dy * exp(beta (x_i - y)): the window's softmax routes the gradient."""
    cdef Py_ssize_t oh, ow, h, w, c
    cdef Window win
    for oh in range(g.out_h):
        for ow in range(g.out_w):
            win = window_of(oh, ow, g)
            for h in range(win.h0, win.h1):
                for w in range(win.w0, win.w1):
                    for c in range(c0, c1):
                        dx[n, h, w, c] += <floating>(exp(beta * (x[n, h, w, c] - y[n, oh, ow, c]))
                                                     * dy[n, oh, ow, c])


cdef void _lse_pool_backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] y,
                             floating[:, :, :, ::1] dx, double beta, Geometry g) noexcept:
    cdef Py_ssize_t item, blocks = channel_blocks(g.channels)
    cdef int threads = threads_for(x.size)
    for item in prange(x.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        lse_block_backward(dy, x, y, dx, beta, item // blocks, (item % blocks) * CHANNEL_BLOCK,
                           block_stop(item % blocks, g.channels), g)


def logsumexp_pool2d_forward(x, beta, pool_size, strides, pads):
    """y = (1/beta) log sum exp(beta x) over each window."""
    beta, pool, strides, pads, out_hw = check_parametric_pool_forward(x, beta, "beta", pool_size, strides, pads)
    x = np.ascontiguousarray(x)
    y = _new_output(x, out_hw)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _lse_pool_forward[float](x, y, beta, g)
    else:
        _lse_pool_forward[double](x, y, beta, g)
    return y


def logsumexp_pool2d_backward(dy, x, y, beta, pool_size, strides, pads):
    """dL/dx for log-sum-exp pooling."""
    beta, pool, strides, pads, out_hw = check_parametric_pool_backward(dy, x, y, beta, "beta", pool_size, strides,
                                                                       pads)
    dy, x, y = np.ascontiguousarray(dy), np.ascontiguousarray(x), np.ascontiguousarray(y)
    dx = np.zeros_like(x)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _lse_pool_backward[float](dy, x, y, dx, beta, g)
    else:
        _lse_pool_backward[double](dy, x, y, dx, beta, g)
    return dx


# --------------------------------------------------------------------------------------------
# Weighted (Gaussian) pooling
# --------------------------------------------------------------------------------------------
cdef inline double real_weight_sum(const double[:, ::1] gauss, Window win) noexcept nogil:
    """Sum of the Gaussian over the window's real cells (the normaliser)."""
    cdef Py_ssize_t h, w
    cdef double total = 0
    for h in range(win.h0, win.h1):
        for w in range(win.w0, win.w1):
            total = total + gauss[h - win.top, w - win.left]
    return total


cdef void weighted_pool_row(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, const double[:, ::1] gauss,
                            Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    cdef Py_ssize_t ow, h, w, c
    cdef Window win
    cdef double weight, total
    for ow in range(g.out_w):
        win = window_of(oh, ow, g)
        total = real_weight_sum(gauss, win)
        for c in range(g.channels):
            y[n, oh, ow, c] = 0
        for h in range(win.h0, win.h1):
            for w in range(win.w0, win.w1):
                weight = gauss[h - win.top, w - win.left] / total
                for c in range(g.channels):
                    y[n, oh, ow, c] += <floating>(weight * x[n, h, w, c])


cdef void _weighted_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, const double[:, ::1] gauss,
                                 Geometry g) noexcept:
    cdef Py_ssize_t row
    cdef int threads = threads_for(x.size)
    for row in prange(x.shape[0] * g.out_h, nogil=True, schedule="static", num_threads=threads):
        weighted_pool_row(x, y, gauss, row // g.out_h, row % g.out_h, g)


cdef void weighted_block_backward(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx, const double[:, ::1] gauss,
                                  Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1, Geometry g) noexcept nogil:
    """dx_i += dy * g_i / sum g over each window's real cells."""
    cdef Py_ssize_t oh, ow, h, w, c
    cdef Window win
    cdef double weight, total
    for oh in range(g.out_h):
        for ow in range(g.out_w):
            win = window_of(oh, ow, g)
            total = real_weight_sum(gauss, win)
            for h in range(win.h0, win.h1):
                for w in range(win.w0, win.w1):
                    weight = gauss[h - win.top, w - win.left] / total
                    for c in range(c0, c1):
                        dx[n, h, w, c] += <floating>(weight * dy[n, oh, ow, c])


cdef void _weighted_pool_backward(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx, const double[:, ::1] gauss,
                                  Geometry g) noexcept:
    cdef Py_ssize_t item, blocks = channel_blocks(g.channels)
    cdef int threads = threads_for(dx.size)
    for item in prange(dx.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        weighted_block_backward(dy, dx, gauss, item // blocks, (item % blocks) * CHANNEL_BLOCK,
                                block_stop(item % blocks, g.channels), g)


def weighted_pool2d_forward(x, sigma, pool_size, strides, pads):
    """y = sum g x / sum g over each window's real cells, g a Gaussian of the distance to its centre."""
    sigma, pool, strides, pads, out_hw = check_parametric_pool_forward(x, sigma, "sigma", pool_size, strides, pads)
    x = np.ascontiguousarray(x)
    y = _new_output(x, out_hw)
    gauss = np.ascontiguousarray(gaussian_window(pool, sigma), dtype=np.float64)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _weighted_pool_forward[float](x, y, gauss, g)
    else:
        _weighted_pool_forward[double](x, y, gauss, g)
    return y


def weighted_pool2d_backward(dy, input_shape, sigma, pool_size, strides, pads):
    """dL/dx for weighted pooling."""
    sigma, input_shape, pool, strides, pads, out_hw = check_weighted_pool_backward(dy, input_shape, sigma,
                                                                                   pool_size, strides, pads)
    dy = np.ascontiguousarray(dy)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    gauss = np.ascontiguousarray(gaussian_window(pool, sigma), dtype=np.float64)
    cdef Geometry g = make_geometry(input_shape, pool, strides, pads, out_hw)
    if dy.dtype == np.float32:
        _weighted_pool_backward[float](dy, dx, gauss, g)
    else:
        _weighted_pool_backward[double](dy, dx, gauss, g)
    return dx
