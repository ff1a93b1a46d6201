# cython: language_level=3
"""Max and average pooling, compiled (Cython + OpenMP); twin of ``kernels/reference/pooling.py``.

Same functions, same results (the reference's docstrings give the formulas).  The Python
wrappers validate everything with the reference's checks, then hand contiguous arrays to
loops that run without bounds checks and without the GIL.

Parallelism:
* forward passes write each output cell once, so any split is safe: ``prange`` over the
  (sample, output row) pairs keeps both threads busy even with a batch of one;
* backward passes *scatter* into dx, and overlapping windows write the same dx cell, so
  the work is split by (sample, block of channels): a thread writes only its own sample's
  channels and two threads never touch the same cell.  Within a block the order of the
  additions is fixed, so the result doesn't depend on the number of threads.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t

# The argument checks are the reference's: one set of rules, one set of messages.
from tinyconv.kernels.reference.pooling import (
    check_float_array,
    check_gradient_shape,
    check_input_shape,
    check_max_pool_backward_arguments,
    check_pool_arguments,
)

from tinyconv.kernels.cpu.parallel cimport threads_for

cdef enum:
    # Channels per backward work item: small enough to give threads work when N is small.
    CHANNEL_BLOCK = 16



cdef struct Geometry:
    Py_ssize_t height, width, channels
    Py_ssize_t out_h, out_w
    Py_ssize_t pool_h, pool_w, stride_h, stride_w, pad_top, pad_left


cdef Geometry make_geometry(tuple input_shape, tuple pool, tuple strides, tuple pads, tuple out_hw):
    cdef Geometry g
    g.height, g.width, g.channels = input_shape[1], input_shape[2], input_shape[3]
    g.out_h, g.out_w = out_hw
    g.pool_h, g.pool_w = pool
    g.stride_h, g.stride_w = strides
    g.pad_top, g.pad_left = pads[0][0], pads[1][0]
    return g


cdef inline Py_ssize_t clip_start(Py_ssize_t start) noexcept nogil:
    return start if start > 0 else 0


cdef inline Py_ssize_t clip_stop(Py_ssize_t stop, Py_ssize_t size) noexcept nogil:
    return stop if stop < size else size


cdef inline Py_ssize_t channel_blocks(Py_ssize_t channels) noexcept nogil:
    return (channels + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------
cdef void max_pool_row(floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmax,
                       Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    """One output row of one sample: every window's max and where it was.

    Pointers to the C contiguous channels of a cell, and a branch-free update (select, not
    if), let the compiler vectorise the innermost loop.
    """
    cdef Py_ssize_t ow, h, w, c, h0, h1, w0, w1
    cdef int64_t cell
    cdef floating value, best
    cdef bint larger
    cdef floating* maxima
    cdef int64_t* winners
    cdef const floating* pixel
    h0 = clip_start(oh * g.stride_h - g.pad_top)
    h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
    for ow in range(g.out_w):
        w0 = clip_start(ow * g.stride_w - g.pad_left)
        w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
        maxima = &y[n, oh, ow, 0]
        winners = &argmax[n, oh, ow, 0]
        # Start from the window's first real cell (pads < pool, so there always is one) ...
        pixel = &x[n, h0, w0, 0]
        cell = h0 * g.width + w0
        for c in range(g.channels):
            maxima[c] = pixel[c]
            winners[c] = cell
        # ... and let a later cell take over only when strictly larger: ties keep the first
        # cell in row-major order, as np.argmax does in the reference.
        for h in range(h0, h1):
            for w in range(w0, w1):
                pixel = &x[n, h, w, 0]
                cell = h * g.width + w
                for c in range(g.channels):  # innermost: contiguous in NHWC
                    value = pixel[c]
                    best = maxima[c]
                    larger = value > best
                    maxima[c] = value if larger else best
                    winners[c] = cell if larger else winners[c]


cdef void _max_pool_forward(floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmax,
                            Geometry g) noexcept:
    cdef Py_ssize_t row, rows = x.shape[0] * g.out_h
    cdef int threads = threads_for(x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3])
    for row in prange(rows, nogil=True, schedule="static", num_threads=threads):
        max_pool_row(x, y, argmax, row // g.out_h, row % g.out_h, g)


cdef void route_block_to_winners(floating[:, :, :, ::1] dy, int64_t[:, :, :, ::1] argmax,
                                 floating[:, :, :, ::1] dx, Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1,
                                 Geometry g) noexcept nogil:
    """Channels [c0, c1) of sample n: each dy goes to the cell that won its window's max.

    The winner is stored as h * width + w, so its channel c sits at winner * C + c from the
    sample's first number: no division needed to find it.
    """
    cdef Py_ssize_t oh, ow, c
    cdef floating* sample = &dx[n, 0, 0, 0]
    cdef const floating* grads
    cdef const int64_t* winners
    for oh in range(g.out_h):
        for ow in range(g.out_w):
            grads = &dy[n, oh, ow, 0]
            winners = &argmax[n, oh, ow, 0]
            for c in range(c0, c1):
                sample[winners[c] * g.channels + c] += grads[c]


cdef void _max_pool_backward(floating[:, :, :, ::1] dy, int64_t[:, :, :, ::1] argmax, floating[:, :, :, ::1] dx,
                             Geometry g) noexcept:
    cdef Py_ssize_t item, block, n, blocks = channel_blocks(g.channels)
    cdef int threads = threads_for(dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3])
    for item in prange(dy.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        n = item // blocks
        block = item % blocks
        route_block_to_winners(dy, argmax, dx, n, block * CHANNEL_BLOCK,
                               clip_stop((block + 1) * CHANNEL_BLOCK, g.channels), g)


def max_pool2d_forward(x, pool_size, strides, pads):
    """Max pooling; returns (y, argmax) exactly as the reference does."""
    check_float_array(x, "x")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    x = np.ascontiguousarray(x)
    n, channels = x.shape[0], x.shape[3]
    y = np.empty((n, *out_hw, channels), dtype=x.dtype)
    argmax = np.empty((n, *out_hw, channels), dtype=np.int64)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _max_pool_forward[float](x, y, argmax, g)
    else:
        _max_pool_forward[double](x, y, argmax, g)
    return y, argmax


def max_pool2d_backward(dy, argmax, input_shape):
    """dL/dx: route each upstream gradient to the input cell that won the max."""
    input_shape = check_max_pool_backward_arguments(dy, argmax, input_shape)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    # Only height/width/channels and the output size matter for the scatter.
    cdef Geometry g = make_geometry(input_shape, (1, 1), (1, 1), ((0, 0), (0, 0)), dy.shape[1:3])
    dy = np.ascontiguousarray(dy)
    argmax = np.ascontiguousarray(argmax)
    if dy.dtype == np.float32:
        _max_pool_backward[float](dy, argmax, dx, g)
    else:
        _max_pool_backward[double](dy, argmax, dx, g)
    return dx


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------
cdef void avg_pool_row(floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                       Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    """One output row of one sample: each window's sum over its real cells / their count."""
    cdef Py_ssize_t ow, h, w, c, h0, h1, w0, w1
    cdef floating count
    h0 = clip_start(oh * g.stride_h - g.pad_top)
    h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
    for ow in range(g.out_w):
        w0 = clip_start(ow * g.stride_w - g.pad_left)
        w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
        count = (h1 - h0) * (w1 - w0)  # padded cells are not counted
        for c in range(g.channels):
            y[n, oh, ow, c] = 0
        for h in range(h0, h1):
            for w in range(w0, w1):
                for c in range(g.channels):
                    y[n, oh, ow, c] += x[n, h, w, c]
        for c in range(g.channels):
            y[n, oh, ow, c] /= count


cdef void _avg_pool_forward(floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, Geometry g) noexcept:
    cdef Py_ssize_t row, rows = x.shape[0] * g.out_h
    cdef int threads = threads_for(x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3])
    for row in prange(rows, nogil=True, schedule="static", num_threads=threads):
        avg_pool_row(x, y, row // g.out_h, row % g.out_h, g)


cdef void spread_block_over_windows(floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                                    Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1, Geometry g) noexcept nogil:
    """Channels [c0, c1) of sample n: each window's cells get dy/count; overlaps add up."""
    cdef Py_ssize_t oh, ow, h, w, c, h0, h1, w0, w1
    cdef floating count
    for oh in range(g.out_h):
        h0 = clip_start(oh * g.stride_h - g.pad_top)
        h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
        for ow in range(g.out_w):
            w0 = clip_start(ow * g.stride_w - g.pad_left)
            w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
            count = (h1 - h0) * (w1 - w0)
            for h in range(h0, h1):
                for w in range(w0, w1):
                    for c in range(c0, c1):
                        dx[n, h, w, c] += dy[n, oh, ow, c] / count


cdef void _avg_pool_backward(floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx, Geometry g) noexcept:
    cdef Py_ssize_t item, block, n, blocks = channel_blocks(g.channels)
    cdef int threads = threads_for(dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3])
    for item in prange(dy.shape[0] * blocks, nogil=True, schedule="static", num_threads=threads):
        n = item // blocks
        block = item % blocks
        spread_block_over_windows(dy, dx, n, block * CHANNEL_BLOCK,
                                  clip_stop((block + 1) * CHANNEL_BLOCK, g.channels), g)


def avg_pool2d_forward(x, pool_size, strides, pads):
    """Average pooling over the real (unpadded) cells of each window."""
    check_float_array(x, "x")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _avg_pool_forward[float](x, y, g)
    else:
        _avg_pool_forward[double](x, y, g)
    return y


def avg_pool2d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx for average pooling."""
    check_float_array(dy, "dy")
    input_shape = check_input_shape(input_shape)
    pool, strides, pads, out_hw = check_pool_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape(dy, input_shape, out_hw)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    cdef Geometry g = make_geometry(input_shape, pool, strides, pads, out_hw)
    dy = np.ascontiguousarray(dy)
    if dy.dtype == np.float32:
        _avg_pool_backward[float](dy, dx, g)
    else:
        _avg_pool_backward[double](dy, dx, g)
    return dx
