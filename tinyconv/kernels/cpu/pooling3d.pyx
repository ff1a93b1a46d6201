# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""3-D max and average pooling, compiled (Cython + OpenMP); twin of ``kernels/reference/pooling3d.py``.

Same functions, same results (the reference's docstrings give the formulas).  The Python
wrappers validate everything with the shared checks (``kernels/checks``), then hand contiguous arrays to
loops that run without bounds checks and without the GIL.

Parallelism, as in 2-D pooling:
* forward passes write each output cell once: ``prange`` over (sample, output depth) pairs;
* backward passes scatter into dx where overlapping boxes meet, so the work is split by
  (sample, block of channels): no two threads ever write the same cell, and the order of the
  additions is fixed, so results don't depend on the number of threads.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

from tinyconv.kernels.checks.pooling import (check_avg_pool3d_backward, check_cells_numbered, check_max_pool3d_backward,
                                             check_pool3d_forward)

from tinyconv.kernels.cpu.parallel cimport threads_for
from tinyconv.kernels.cpu.pool_geometry cimport Geometry3D, make_geometry3d
from tinyconv.kernels.cpu.pool_order cimport WINDOW_BLOCK, take_larger

cdef enum:
    CHANNEL_BLOCK = 16


cdef struct Box:
    Py_ssize_t d0, d1, h0, h1, w0, w1   # [start, stop) per axis, clipped to the real input


cdef inline Py_ssize_t clip_start(Py_ssize_t start) noexcept nogil:
    return start if start > 0 else 0


cdef inline Py_ssize_t clip_stop(Py_ssize_t stop, Py_ssize_t size) noexcept nogil:
    return stop if stop < size else size


cdef inline Box box_of(Py_ssize_t od, Py_ssize_t oh, Py_ssize_t ow, Geometry3D g) noexcept nogil:
    cdef Box b
    b.d0 = clip_start(od * g.stride_d - g.pad_front)
    b.d1 = clip_stop(od * g.stride_d - g.pad_front + g.pool_d, g.depth)
    b.h0 = clip_start(oh * g.stride_h - g.pad_top)
    b.h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
    b.w0 = clip_start(ow * g.stride_w - g.pad_left)
    b.w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
    return b


cdef inline Py_ssize_t channel_blocks(Py_ssize_t channels) noexcept nogil:
    return (channels + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------
cdef void max_pool_plane(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                         int64_t[:, :, :, :, ::1] argmax, Py_ssize_t n, Py_ssize_t od, Geometry3D g) noexcept nogil:
    """One output depth slice of one sample: every box's max and where it was."""
    cdef Py_ssize_t oh, ow, d, h, w, c, c0, width
    cdef Box b
    cdef floating best[WINDOW_BLOCK]
    cdef int32_t winner[WINDOW_BLOCK]
    for oh in range(g.out_h):
        for ow in range(g.out_w):
            b = box_of(od, oh, ow, g)
            c0 = 0
            while c0 < g.channels:             # a block of channels in local arrays (pool_order.pxd)
                width = min(<Py_ssize_t>WINDOW_BLOCK, g.channels - c0)
                # Start from the box's first real cell; later cells win only when strictly larger
                # (or the first NaN, see pool_order.pxd), so ties keep the first cell in (d, h, w)
                # order, as np.argmax does.
                for c in range(width):
                    best[c] = x[n, b.d0, b.h0, b.w0, c0 + c]
                    winner[c] = <int32_t>((b.d0 * g.height + b.h0) * g.width + b.w0)
                for d in range(b.d0, b.d1):
                    for h in range(b.h0, b.h1):
                        for w in range(b.w0, b.w1):
                            take_larger(best, winner, &x[n, d, h, w, c0],
                                        <int32_t>((d * g.height + h) * g.width + w), width)
                for c in range(width):
                    y[n, od, oh, ow, c0 + c] = best[c]
                    argmax[n, od, oh, ow, c0 + c] = winner[c]
                c0 += WINDOW_BLOCK


cdef void _max_pool_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                            int64_t[:, :, :, :, ::1] argmax, Geometry3D g) noexcept:
    cdef Py_ssize_t item, items = x.shape[0] * g.out_d
    cdef int threads = threads_for(x.size)
    for item in prange(items, nogil=True, schedule="static", num_threads=threads):
        max_pool_plane(x, y, argmax, item // g.out_d, item % g.out_d, g)


cdef void route_block_to_winners(const floating[:, :, :, :, ::1] dy, const int64_t[:, :, :, :, ::1] argmax,
                                 floating[:, :, ::1] dx, Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1,
                                 Geometry3D g) noexcept nogil:
    """Channels [c0, c1) of sample n: each dy goes to the cell that won its box's max."""
    cdef Py_ssize_t od, oh, ow, c
    for od in range(g.out_d):
        for oh in range(g.out_h):
            for ow in range(g.out_w):
                for c in range(c0, c1):
                    dx[n, argmax[n, od, oh, ow, c], c] += dy[n, od, oh, ow, c]


cdef void _max_pool_backward(const floating[:, :, :, :, ::1] dy, const int64_t[:, :, :, :, ::1] argmax,
                             floating[:, :, ::1] dx, Geometry3D g) noexcept:
    cdef Py_ssize_t item, block, n, blocks = channel_blocks(g.channels)
    cdef int threads = threads_for(dx.size)
    for item in prange(dy.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        n = item // blocks
        block = item % blocks
        route_block_to_winners(dy, argmax, dx, n, block * CHANNEL_BLOCK,
                               clip_stop((block + 1) * CHANNEL_BLOCK, g.channels), g)


def max_pool3d_forward(x, pool_size, strides, pads):
    """3-D max pooling; returns (y, argmax) exactly as the reference does."""
    pool, strides, pads, out_dhw = check_pool3d_forward(x, pool_size, strides, pads)
    check_cells_numbered("max_pool3d_forward", x, 3)
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], *out_dhw, x.shape[4]), dtype=x.dtype)
    argmax = np.empty(y.shape, dtype=np.int64)
    cdef Geometry3D g = make_geometry3d(x.shape, pool, strides, pads, out_dhw)
    if x.dtype == np.float32:
        _max_pool_forward[float](x, y, argmax, g)
    else:
        _max_pool_forward[double](x, y, argmax, g)
    return y, argmax


def max_pool3d_backward(dy, argmax, input_shape):
    """dL/dx: route each upstream gradient to the cell that won the max."""
    input_shape = check_max_pool3d_backward(dy, argmax, input_shape)
    n, depth, height, width, channels = input_shape
    dx = np.zeros((n, depth * height * width, channels), dtype=dy.dtype)  # flat volumes
    cdef Geometry3D g = make_geometry3d(input_shape, (1, 1, 1), (1, 1, 1), ((0, 0),) * 3, dy.shape[1:4])
    dy = np.ascontiguousarray(dy)
    argmax = np.ascontiguousarray(argmax)
    if dy.dtype == np.float32:
        _max_pool_backward[float](dy, argmax, dx, g)
    else:
        _max_pool_backward[double](dy, argmax, dx, g)
    return dx.reshape(input_shape)


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------
cdef void avg_pool_plane(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y,
                         Py_ssize_t n, Py_ssize_t od, Geometry3D g) noexcept nogil:
    """One output depth slice of one sample: each box's sum over real cells / their count."""
    cdef Py_ssize_t oh, ow, d, h, w, c
    cdef Box b
    cdef floating count
    for oh in range(g.out_h):
        for ow in range(g.out_w):
            b = box_of(od, oh, ow, g)
            count = (b.d1 - b.d0) * (b.h1 - b.h0) * (b.w1 - b.w0)  # padded cells are not counted
            for c in range(g.channels):
                y[n, od, oh, ow, c] = 0
            for d in range(b.d0, b.d1):
                for h in range(b.h0, b.h1):
                    for w in range(b.w0, b.w1):
                        for c in range(g.channels):
                            y[n, od, oh, ow, c] += x[n, d, h, w, c]
            for c in range(g.channels):
                y[n, od, oh, ow, c] /= count


cdef void _avg_pool_forward(const floating[:, :, :, :, ::1] x, floating[:, :, :, :, ::1] y, Geometry3D g) noexcept:
    cdef Py_ssize_t item, items = x.shape[0] * g.out_d
    cdef int threads = threads_for(x.size)
    for item in prange(items, nogil=True, schedule="static", num_threads=threads):
        avg_pool_plane(x, y, item // g.out_d, item % g.out_d, g)


cdef void spread_block_over_boxes(const floating[:, :, :, :, ::1] dy, floating[:, :, :, :, ::1] dx,
                                  Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1, Geometry3D g) noexcept nogil:
    """Channels [c0, c1) of sample n: each box's real cells get dy/count; overlaps add up."""
    cdef Py_ssize_t od, oh, ow, d, h, w, c
    cdef Box b
    cdef floating count
    for od in range(g.out_d):
        for oh in range(g.out_h):
            for ow in range(g.out_w):
                b = box_of(od, oh, ow, g)
                count = (b.d1 - b.d0) * (b.h1 - b.h0) * (b.w1 - b.w0)
                for d in range(b.d0, b.d1):
                    for h in range(b.h0, b.h1):
                        for w in range(b.w0, b.w1):
                            for c in range(c0, c1):
                                dx[n, d, h, w, c] += dy[n, od, oh, ow, c] / count


cdef void _avg_pool_backward(const floating[:, :, :, :, ::1] dy, floating[:, :, :, :, ::1] dx, Geometry3D g) noexcept:
    cdef Py_ssize_t item, block, n, blocks = channel_blocks(g.channels)
    cdef int threads = threads_for(dx.size)
    for item in prange(dy.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        n = item // blocks
        block = item % blocks
        spread_block_over_boxes(dy, dx, n, block * CHANNEL_BLOCK,
                                clip_stop((block + 1) * CHANNEL_BLOCK, g.channels), g)


def avg_pool3d_forward(x, pool_size, strides, pads):
    """3-D average pooling over the real (unpadded) cells of each box."""
    pool, strides, pads, out_dhw = check_pool3d_forward(x, pool_size, strides, pads)
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], *out_dhw, x.shape[4]), dtype=x.dtype)
    cdef Geometry3D g = make_geometry3d(x.shape, pool, strides, pads, out_dhw)
    if x.dtype == np.float32:
        _avg_pool_forward[float](x, y, g)
    else:
        _avg_pool_forward[double](x, y, g)
    return y


def avg_pool3d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx for 3-D average pooling."""
    input_shape, pool, strides, pads, out_dhw = check_avg_pool3d_backward(dy, input_shape, pool_size, strides, pads)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    cdef Geometry3D g = make_geometry3d(input_shape, pool, strides, pads, out_dhw)
    dy = np.ascontiguousarray(dy)
    if dy.dtype == np.float32:
        _avg_pool_backward[float](dy, dx, g)
    else:
        _avg_pool_backward[double](dy, dx, g)
    return dx
