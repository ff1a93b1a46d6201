# cython: language_level=3
"""Locally connected 2-D layer, compiled (Cython + OpenMP); twin of ``kernels/reference/local.py``.

Same functions, same results (the reference's docstring gives the formulas).  The Python
wrappers validate everything with the shared checks (``kernels/checks``), then hand contiguous arrays to
loops that run without bounds checks and without the GIL.

Parallelism, each split chosen so that no two threads ever write the same number:
* forward: every output cell is written once, so ``prange`` over (sample, output row);
* dkernel: each output position owns its own kernel slice, so ``prange`` over positions,
  each summing over the batch;
* dx: overlapping windows *scatter* into the same input cell, so dx is computed as a
  *gather* instead: ``prange`` over (sample, input row), and each input row collects the
  contributions of every window that covers it, in a fixed order (results don't depend on the
  number of threads).
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from tinyconv.kernels.checks.local import check_local_args, check_local_gradient

from tinyconv.kernels.cpu.parallel cimport threads_for


cdef struct Geometry:
    Py_ssize_t height, width, channels, filters
    Py_ssize_t out_h, out_w, kernel_h, kernel_w, stride_h, stride_w


cdef Geometry make_geometry(tuple x_shape, Py_ssize_t filters, tuple kernel_size, tuple strides, tuple out_hw):
    cdef Geometry g
    g.height, g.width, g.channels = x_shape[1], x_shape[2], x_shape[3]
    g.filters = filters
    g.out_h, g.out_w = out_hw
    g.kernel_h, g.kernel_w = kernel_size
    g.stride_h, g.stride_w = strides
    return g


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------
cdef void forward_row(const floating[:, :, :, ::1] x, const floating[:, :, ::1] kernel, const floating[:, :, ::1] bias,
                      bint has_bias, floating[:, :, :, ::1] y, Py_ssize_t n, Py_ssize_t i,
                      Geometry g) noexcept nogil:
    """Output row i of sample n: y[n, i, j, :] = b[i, j] + patch(n, i, j) @ K[i*OW + j]."""
    cdef Py_ssize_t j, p, q, c, f, position, k
    cdef floating value
    for j in range(g.out_w):
        position = i * g.out_w + j
        for f in range(g.filters):
            y[n, i, j, f] = bias[i, j, f] if has_bias else 0
        for p in range(g.kernel_h):
            for q in range(g.kernel_w):
                for c in range(g.channels):
                    value = x[n, i * g.stride_h + p, j * g.stride_w + q, c]
                    k = (p * g.kernel_w + q) * g.channels + c  # the patch is flattened in (p, q, c) order
                    for f in range(g.filters):  # innermost: contiguous in the kernel and in y
                        y[n, i, j, f] += value * kernel[position, k, f]


cdef void _forward(const floating[:, :, :, ::1] x, const floating[:, :, ::1] kernel, const floating[:, :, ::1] bias,
                   bint has_bias, floating[:, :, :, ::1] y, Geometry g) noexcept:
    cdef Py_ssize_t row, rows = x.shape[0] * g.out_h
    cdef int threads = threads_for(y.shape[0] * y.shape[1] * y.shape[2] * kernel.shape[1])
    for row in prange(rows, nogil=True, schedule="static", num_threads=threads):
        forward_row(x, kernel, bias, has_bias, y, row // g.out_h, row % g.out_h, g)


def locally_connected2d_forward(x, kernel, bias, kernel_size, strides, out_hw):
    """Locally connected forward pass; same arguments and result as the reference."""
    x, kernel, bias, kernel_size, strides, out_hw = check_local_args(x, kernel, bias, kernel_size, strides, out_hw)
    x = np.ascontiguousarray(x)
    kernel = np.ascontiguousarray(kernel)
    has_bias = bias is not None
    # A (1, 1, 1) placeholder keeps the memoryview typed when there is no bias; it is never read.
    bias = np.ascontiguousarray(bias) if has_bias else np.zeros((1, 1, 1), dtype=x.dtype)
    y = np.empty((x.shape[0], *out_hw, kernel.shape[2]), dtype=x.dtype)
    cdef Geometry g = make_geometry(x.shape, kernel.shape[2], kernel_size, strides, out_hw)
    if x.dtype == np.float32:
        _forward[float](x, kernel, bias, has_bias, y, g)
    else:
        _forward[double](x, kernel, bias, has_bias, y, g)
    return y


# --------------------------------------------------------------------------------------------
# Backward
# --------------------------------------------------------------------------------------------
cdef void kernel_gradient_at(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                             floating[:, :, ::1] dkernel, Py_ssize_t position, Geometry g) noexcept nogil:
    """dK[position, k, f] = sum_n patch(n, i, j)[k] * dy[n, i, j, f]; this slice is ours alone."""
    cdef Py_ssize_t i = position // g.out_w, j = position % g.out_w
    cdef Py_ssize_t n, p, q, c, f, k
    cdef floating value
    for k in range(dkernel.shape[1]):
        for f in range(g.filters):
            dkernel[position, k, f] = 0
    for n in range(x.shape[0]):
        for p in range(g.kernel_h):
            for q in range(g.kernel_w):
                for c in range(g.channels):
                    value = x[n, i * g.stride_h + p, j * g.stride_w + q, c]
                    k = (p * g.kernel_w + q) * g.channels + c
                    for f in range(g.filters):
                        dkernel[position, k, f] += value * dy[n, i, j, f]


cdef void gather_input_row(const floating[:, :, :, ::1] dy, const floating[:, :, ::1] kernel, floating[:, :, :, ::1] dx,
                           Py_ssize_t n, Py_ssize_t h, Geometry g) noexcept nogil:
    """Input row h of sample n collects K[pos, k, :] . dy[n, i, j, :] from every window covering it."""
    cdef Py_ssize_t i, j, p, q, c, f, k, position, first_i, last_i
    cdef floating total
    # Windows of output row i cover input rows i*sh .. i*sh + kh - 1.
    first_i = (h - g.kernel_h + g.stride_h) // g.stride_h if h >= g.kernel_h else 0
    last_i = h // g.stride_h
    if last_i > g.out_h - 1:
        last_i = g.out_h - 1
    for i in range(first_i, last_i + 1):
        p = h - i * g.stride_h
        for j in range(g.out_w):
            position = i * g.out_w + j
            for q in range(g.kernel_w):
                for c in range(g.channels):
                    k = (p * g.kernel_w + q) * g.channels + c
                    total = 0
                    for f in range(g.filters):
                        total = total + kernel[position, k, f] * dy[n, i, j, f]
                    dx[n, h, j * g.stride_w + q, c] += total


cdef void _backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x, const floating[:, :, ::1] kernel,
                    floating[:, :, :, ::1] dx, floating[:, :, ::1] dkernel, Geometry g) noexcept:
    cdef Py_ssize_t position, row
    cdef Py_ssize_t positions = g.out_h * g.out_w, rows = x.shape[0] * g.height
    cdef int threads = threads_for(x.shape[0] * positions * kernel.shape[1])
    for position in prange(positions, nogil=True, schedule="static", num_threads=threads):
        kernel_gradient_at(x, dy, dkernel, position, g)
    for row in prange(rows, nogil=True, schedule="static", num_threads=threads):
        gather_input_row(dy, kernel, dx, row // g.height, row % g.height, g)


def locally_connected2d_backward(dy, x, kernel, kernel_size, strides, out_hw):
    """Returns ``(dx, dkernel, dbias)`` exactly as the reference does."""
    x, kernel, _, kernel_size, strides, out_hw = check_local_args(x, kernel, None, kernel_size, strides, out_hw)
    dy = np.ascontiguousarray(check_local_gradient(dy, x, kernel, out_hw))
    x = np.ascontiguousarray(x)
    kernel = np.ascontiguousarray(kernel)
    dx = np.zeros_like(x)
    dkernel = np.empty_like(kernel)
    cdef Geometry g = make_geometry(x.shape, kernel.shape[2], kernel_size, strides, out_hw)
    if x.dtype == np.float32:
        _backward[float](dy, x, kernel, dx, dkernel, g)
    else:
        _backward[double](dy, x, kernel, dx, dkernel, g)
    return dx, dkernel, dy.sum(axis=0)
