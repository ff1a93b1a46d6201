# cython: language_level=3
"""Tiled convolution, compiled (Cython + OpenMP); twin of ``kernels/reference/tiled.py``.

Same functions, same results (the reference's docstring gives the formulas).  The wrappers
validate with the shared checks (``kernels/checks``) and zero-pad the image in NumPy, so the loops below only
ever see a 'valid' convolution of the padded image.

Parallelism, each split chosen so that no two threads ever write the same number:
* forward: ``prange`` over (sample, output row), each output cell written once;
* dkernel: many positions share one tile, so the split is by kernel cell: ``prange`` over
  (tile row, tile column, kernel row, kernel column), each summing over its tile's positions
  and the batch in a fixed order;
* dx: a *gather*, ``prange`` over (sample, padded input row); each row collects every window
  that covers it.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from tinyconv.kernels.reference.conv import crop_padding, pad_image
from tinyconv.kernels.checks.tiled import check_tiled_args, check_tiled_gradient

from tinyconv.kernels.cpu.parallel cimport threads_for


cdef struct Geometry:
    Py_ssize_t height, width, channels, filters      # of the padded image
    Py_ssize_t out_h, out_w, tile_h, tile_w, kernel_h, kernel_w, stride_h, stride_w


cdef Geometry make_geometry(tuple padded_shape, tuple kernel_shape, tuple strides, tuple out_hw):
    cdef Geometry g
    g.height, g.width, g.channels = padded_shape[1], padded_shape[2], padded_shape[3]
    g.tile_h, g.tile_w, g.kernel_h, g.kernel_w = kernel_shape[0], kernel_shape[1], kernel_shape[2], kernel_shape[3]
    g.filters = kernel_shape[5]
    g.out_h, g.out_w = out_hw
    g.stride_h, g.stride_w = strides
    return g


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------
cdef void forward_row(const floating[:, :, :, ::1] x, const floating[:, :, :, :, :, ::1] kernel,
                      const floating[::1] bias, bint has_bias, floating[:, :, :, ::1] y, Py_ssize_t n, Py_ssize_t i,
                      Geometry g) noexcept nogil:
    """Output row i of sample n, each cell with its tile's kernel K[i % th, j % tw]."""
    cdef Py_ssize_t j, p, q, c, f, a = i % g.tile_h, b
    cdef floating value
    for j in range(g.out_w):
        b = j % g.tile_w
        for f in range(g.filters):
            y[n, i, j, f] = bias[f] if has_bias else 0
        for p in range(g.kernel_h):
            for q in range(g.kernel_w):
                for c in range(g.channels):
                    value = x[n, i * g.stride_h + p, j * g.stride_w + q, c]
                    for f in range(g.filters):
                        y[n, i, j, f] += value * kernel[a, b, p, q, c, f]


cdef void _forward(const floating[:, :, :, ::1] x, const floating[:, :, :, :, :, ::1] kernel, const floating[::1] bias,
                   bint has_bias, floating[:, :, :, ::1] y, Geometry g) noexcept:
    cdef Py_ssize_t row, rows = x.shape[0] * g.out_h
    cdef int threads = threads_for(y.shape[0] * y.shape[1] * y.shape[2] * g.kernel_h * g.kernel_w * g.channels)
    for row in prange(rows, nogil=True, schedule="static", num_threads=threads):
        forward_row(x, kernel, bias, has_bias, y, row // g.out_h, row % g.out_h, g)


def tiled_conv2d_forward(x, kernel, bias, strides, pads):
    """Tiled convolution forward pass; same arguments and result as the reference."""
    x, kernel, bias, strides, pads, out_hw = check_tiled_args(x, kernel, bias, strides, pads)
    x_pad = np.ascontiguousarray(pad_image(x, pads))
    kernel = np.ascontiguousarray(kernel)
    has_bias = bias is not None
    bias = np.ascontiguousarray(bias) if has_bias else np.zeros(1, dtype=x.dtype)  # placeholder, never read
    y = np.empty((x.shape[0], *out_hw, kernel.shape[5]), dtype=x.dtype)
    cdef Geometry g = make_geometry(x_pad.shape, kernel.shape, strides, out_hw)
    if x.dtype == np.float32:
        _forward[float](x_pad, kernel, bias, has_bias, y, g)
    else:
        _forward[double](x_pad, kernel, bias, has_bias, y, g)
    return y


# --------------------------------------------------------------------------------------------
# Backward
# --------------------------------------------------------------------------------------------
cdef void kernel_cell_gradient(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                               floating[:, :, :, :, :, ::1] dkernel, Py_ssize_t item, Geometry g) noexcept nogil:
    """dK[a, b, p, q, :, :]: sum over the batch and over the positions i = a, a+th, ..., j = b, b+tw, ..."""
    cdef Py_ssize_t q = item % g.kernel_w
    cdef Py_ssize_t p = (item // g.kernel_w) % g.kernel_h
    cdef Py_ssize_t b = (item // (g.kernel_w * g.kernel_h)) % g.tile_w
    cdef Py_ssize_t a = item // (g.kernel_w * g.kernel_h * g.tile_w)
    cdef Py_ssize_t n, i, j, c, f
    cdef floating value
    for c in range(g.channels):
        for f in range(g.filters):
            dkernel[a, b, p, q, c, f] = 0
    for n in range(x.shape[0]):
        i = a
        while i < g.out_h:  # i = a, a + th, a + 2*th, ...: the rows that use tile row a
            j = b
            while j < g.out_w:
                for c in range(g.channels):
                    value = x[n, i * g.stride_h + p, j * g.stride_w + q, c]
                    for f in range(g.filters):
                        dkernel[a, b, p, q, c, f] += value * dy[n, i, j, f]
                j = j + g.tile_w
            i = i + g.tile_h


cdef void gather_input_row(const floating[:, :, :, ::1] dy, const floating[:, :, :, :, :, ::1] kernel,
                           floating[:, :, :, ::1] dx, Py_ssize_t n, Py_ssize_t h, Geometry g) noexcept nogil:
    """Padded input row h of sample n collects K[i%th, j%tw, p, q, c, :] . dy[n, i, j, :] from each window."""
    cdef Py_ssize_t i, j, p, q, c, f, first_i, last_i, a, b
    cdef floating total
    first_i = (h - g.kernel_h + g.stride_h) // g.stride_h if h >= g.kernel_h else 0
    last_i = h // g.stride_h
    if last_i > g.out_h - 1:
        last_i = g.out_h - 1
    for i in range(first_i, last_i + 1):
        p = h - i * g.stride_h
        a = i % g.tile_h
        for j in range(g.out_w):
            b = j % g.tile_w
            for q in range(g.kernel_w):
                for c in range(g.channels):
                    total = 0
                    for f in range(g.filters):
                        total = total + kernel[a, b, p, q, c, f] * dy[n, i, j, f]
                    dx[n, h, j * g.stride_w + q, c] += total


cdef void _backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x,
                    const floating[:, :, :, :, :, ::1] kernel, floating[:, :, :, ::1] dx,
                    floating[:, :, :, :, :, ::1] dkernel, Geometry g) noexcept:
    cdef Py_ssize_t item, row
    cdef Py_ssize_t cells = g.tile_h * g.tile_w * g.kernel_h * g.kernel_w, rows = x.shape[0] * g.height
    cdef int threads = threads_for(dy.shape[0] * dy.shape[1] * dy.shape[2] * g.kernel_h * g.kernel_w * g.channels)
    for item in prange(cells, nogil=True, schedule="static", num_threads=threads):
        kernel_cell_gradient(x, dy, dkernel, item, g)
    for row in prange(rows, nogil=True, schedule="static", num_threads=threads):
        gather_input_row(dy, kernel, dx, row // g.height, row % g.height, g)


def tiled_conv2d_backward(dy, x, kernel, strides, pads):
    """Returns ``(dx, dkernel, dbias)`` exactly as the reference does."""
    x, kernel, _, strides, pads, out_hw = check_tiled_args(x, kernel, None, strides, pads)
    dy = np.ascontiguousarray(check_tiled_gradient(dy, x, kernel, out_hw))
    x_pad = np.ascontiguousarray(pad_image(x, pads))
    kernel = np.ascontiguousarray(kernel)
    dx_pad = np.zeros_like(x_pad)
    dkernel = np.empty_like(kernel)
    cdef Geometry g = make_geometry(x_pad.shape, kernel.shape, strides, out_hw)
    if x.dtype == np.float32:
        _backward[float](dy, x_pad, kernel, dx_pad, dkernel, g)
    else:
        _backward[double](dy, x_pad, kernel, dx_pad, dkernel, g)
    return np.ascontiguousarray(crop_padding(dx_pad, pads)), dkernel, dy.sum(axis=(0, 1, 2))
