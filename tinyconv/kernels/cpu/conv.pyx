# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""2-D convolution, fast: im2col + one matrix product (BLAS) per group.

Same functions and results as ``tinyconv.kernels.reference.conv`` (read that file for the
formula).  The classic trick (Caffe, cs231n): copy every receptive field into one row of a
matrix, the *columns* matrix, so the whole convolution becomes one GEMM

    cols  (N*OH*OW, KH*KW*Cg)    row (n, i, j) = the patch output cell (n, i, j) sees,
                                 ordered (p, q, c), zeros where the patch hangs over the padding
    W     (KH*KW*Cg, Fg)         the group's kernel, reshaped (Keras layout makes this free)
    y     = cols @ W + bias

NHWC makes the innermost copy contiguous: the Cg channels of one pixel sit side by side.

Backward, per group:
    dW    = cols.T @ dy
    dcols = dy @ W.T,  then col2im adds each patch gradient back onto the pixels it came from.

Parallelism (OpenMP, ``schedule="static"`` so results never depend on timing):
    im2col  one task per (sample, output row); each writes its own rows of ``cols``.
    col2im  one task per (sample, input row); each *gathers* from every patch that saw its
            pixels, so no two threads ever write the same cell (no atomics, no races).
    GEMM    NumPy's BLAS, which has its own threads; the phases never overlap.

Memory: the columns matrix of a whole batch can be huge (KH*KW times the input), so the
batch is cut into chunks whose workspace fits in ``WORKSPACE_BYTES``; one workspace is
reused across chunks and groups.

1x1 kernels with stride 1, no padding and no dilation skip im2col: the image reshaped to
(N*H*W, C) already *is* the columns matrix.

Every argument is checked in Python (``validate_conv2d_args``) before the compiled loops,
which run without bounds checks, touch it.
"""
from collections import namedtuple

import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from tinyconv.kernels.cpu.parallel cimport threads_for

from tinyconv.kernels.reference.conv import validate_conv2d_args, validate_upstream_gradient

__all__ = ["conv2d_forward", "conv2d_backward"]

# Upper bound for one columns workspace; the batch is processed in chunks that fit.
WORKSPACE_BYTES = 64 * 2**20

# Everything the loops need to map an output cell to input pixels (Python side).
ConvGeometry = namedtuple("ConvGeometry", "height width out_h out_w kh kw sh sw dh dw top left")


# --- public functions --------------------------------------------------------------------


def conv2d_forward(x, kernel, bias, strides, pads, dilation, groups):
    """y = x (*) kernel + bias (cross-correlation), NHWC input, Keras-layout kernel."""
    x, kernel, bias, out_hw = validate_conv2d_args(x, kernel, bias, strides, pads, dilation, groups)
    x = np.ascontiguousarray(x)
    geo = _geometry(x, kernel, strides, pads, dilation, out_hw)
    n, channels, filters = x.shape[0], x.shape[3], kernel.shape[3]
    cg, fg = channels // groups, filters // groups

    y = np.empty((n, geo.out_h, geo.out_w, filters), dtype=x.dtype)
    y_rows = y.reshape(-1, filters)            # one row per output cell (n, i, j)
    weights = _group_weight_matrices(kernel, groups)

    if _is_pointwise(kernel, strides, pads):
        x_rows = x.reshape(-1, channels)       # already the columns matrix
        for g in range(groups):
            y_rows[:, g * fg:(g + 1) * fg] = x_rows[:, g * cg:(g + 1) * cg] @ weights[g]
    elif _uses_direct_loops(channels, groups):
        y_rows[...] = 0 if bias is None else bias
        _direct_forward(x, np.ascontiguousarray(kernel), y, geo)
        return y
    else:
        cells_per_sample = geo.out_h * geo.out_w
        patch = geo.kh * geo.kw * cg
        chunks = _batch_chunks(n, cells_per_sample * patch, x.itemsize)
        workspace = _workspace(x.dtype, chunks, cells_per_sample, patch)
        for start, stop in chunks:
            rows = slice(start * cells_per_sample, stop * cells_per_sample)
            cols = workspace[:(stop - start) * cells_per_sample]   # the last chunk may be shorter
            for g in range(groups):
                _im2col(x[start:stop], cols, geo, g * cg, cg)
                np.matmul(cols, weights[g], out=y_rows[rows, g * fg:(g + 1) * fg])

    if bias is not None:
        y_rows += bias
    return y


def conv2d_backward(dy, x, kernel, strides, pads, dilation, groups):
    """Return (dx, dkernel, dbias) given dL/dy; pure (recomputes im2col, keeps no state)."""
    x, kernel, _, out_hw = validate_conv2d_args(x, kernel, None, strides, pads, dilation, groups)
    dy = np.ascontiguousarray(validate_upstream_gradient(dy, x, kernel, out_hw))
    x = np.ascontiguousarray(x)
    geo = _geometry(x, kernel, strides, pads, dilation, out_hw)
    n, channels, filters = x.shape[0], x.shape[3], kernel.shape[3]
    cg, fg = channels // groups, filters // groups

    dy_rows = dy.reshape(-1, filters)
    dbias = dy_rows.sum(axis=0)
    dx = np.zeros_like(x)
    weights = _group_weight_matrices(kernel, groups)
    dweights = [np.zeros_like(w) for w in weights]

    if _uses_direct_loops(channels, groups) and not _is_pointwise(kernel, strides, pads):
        kernel = np.ascontiguousarray(kernel)
        _direct_input_gradient(dy, kernel, dx, geo)
        partial = np.zeros((min(n, DIRECT_WEIGHT_SLICES),) + kernel.shape, dtype=x.dtype)
        _direct_weight_gradient(x, dy, partial, geo)
        return dx, partial.sum(axis=0), dbias
    if _is_pointwise(kernel, strides, pads):
        x_rows, dx_rows = x.reshape(-1, channels), dx.reshape(-1, channels)
        for g in range(groups):
            dy_g = dy_rows[:, g * fg:(g + 1) * fg]
            dweights[g] += x_rows[:, g * cg:(g + 1) * cg].T @ dy_g
            dx_rows[:, g * cg:(g + 1) * cg] = dy_g @ weights[g].T
    else:
        cells_per_sample = geo.out_h * geo.out_w
        patch = geo.kh * geo.kw * cg
        # Two workspaces (cols and dcols), so give each half the budget.
        chunks = _batch_chunks(n, 2 * cells_per_sample * patch, x.itemsize)
        cols_workspace = _workspace(x.dtype, chunks, cells_per_sample, patch)
        dcols_workspace = _workspace(x.dtype, chunks, cells_per_sample, patch)
        for start, stop in chunks:
            rows = slice(start * cells_per_sample, stop * cells_per_sample)
            cols = cols_workspace[:(stop - start) * cells_per_sample]
            dcols = dcols_workspace[:(stop - start) * cells_per_sample]
            for g in range(groups):
                dy_g = np.ascontiguousarray(dy_rows[rows, g * fg:(g + 1) * fg])
                _im2col(x[start:stop], cols, geo, g * cg, cg)
                dweights[g] += cols.T @ dy_g
                np.matmul(dy_g, weights[g].T, out=dcols)
                _col2im_add(dcols, dx[start:stop], geo, g * cg, cg)

    dkernel = np.empty_like(kernel)
    for g in range(groups):
        dkernel[..., g * fg:(g + 1) * fg] = dweights[g].reshape(geo.kh, geo.kw, cg, fg)
    return dx, dkernel, dbias


# --- Python-side helpers -----------------------------------------------------------------


def _geometry(x, kernel, strides, pads, dilation, out_hw):
    (top, _), (left, _) = pads
    return ConvGeometry(
        height=x.shape[1], width=x.shape[2], out_h=out_hw[0], out_w=out_hw[1],
        kh=kernel.shape[0], kw=kernel.shape[1], sh=strides[0], sw=strides[1],
        dh=dilation[0], dw=dilation[1], top=top, left=left,
    )


def _is_pointwise(kernel, strides, pads):
    """1x1 kernel, stride 1, no padding: output cell (i, j) sees exactly pixel (i, j).

    (Dilation spaces out kernel cells; a 1x1 kernel has only one, so it does not matter.)
    """
    return kernel.shape[:2] == (1, 1) and tuple(strides) == (1, 1) and tuple(pads) == ((0, 0), (0, 0))


def _group_weight_matrices(kernel, groups):
    """Kernel (KH, KW, Cg, F) -> one (KH*KW*Cg, F/groups) matrix per group, rows ordered (p, q, c)."""
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    return [np.ascontiguousarray(kernel[..., g * fg:(g + 1) * fg]).reshape(kh * kw * cg, fg) for g in range(groups)]


def _batch_chunks(n, elements_per_sample, itemsize):
    """Split range(n) into (start, stop) chunks whose workspace fits in WORKSPACE_BYTES."""
    per_chunk = max(1, WORKSPACE_BYTES // max(1, elements_per_sample * itemsize))
    return [(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]


def _workspace(dtype, chunks, cells_per_sample, patch):
    """One (rows, patch) matrix big enough for the largest chunk, reused by every chunk and group.

    np.empty is enough: im2col writes every entry (zeros included) and matmul(out=) overwrites.
    """
    largest = max((stop - start for start, stop in chunks), default=0)  # an empty batch has no chunks
    return np.empty((largest * cells_per_sample, patch), dtype=dtype)


# --- compiled loops ----------------------------------------------------------------------


cdef struct Geometry:
    Py_ssize_t height, width      # input image
    Py_ssize_t out_h, out_w       # output image
    Py_ssize_t kh, kw             # kernel
    Py_ssize_t sh, sw, dh, dw     # strides, dilations
    Py_ssize_t top, left          # padding before each axis (padding after needs no code)
    Py_ssize_t c0, cg             # this group's first input channel and channel count


cdef Geometry _c_geometry(geo, Py_ssize_t c0, Py_ssize_t cg):
    cdef Geometry g
    g.height, g.width, g.out_h, g.out_w = geo.height, geo.width, geo.out_h, geo.out_w
    g.kh, g.kw, g.sh, g.sw, g.dh, g.dw = geo.kh, geo.kw, geo.sh, geo.sw, geo.dh, geo.dw
    g.top, g.left, g.c0, g.cg = geo.top, geo.left, c0, cg
    return g


def _im2col(const floating[:, :, :, ::1] x, floating[:, ::1] cols, geo, Py_ssize_t c0, Py_ssize_t cg):
    """Fill ``cols`` (N*OH*OW, KH*KW*cg) with the patches of channels [c0, c0+cg) of ``x``."""
    cdef Geometry g = _c_geometry(geo, c0, cg)
    cdef Py_ssize_t task
    cdef int threads = threads_for(cols.shape[0] * cols.shape[1])
    with nogil:
        for task in prange(x.shape[0] * g.out_h, schedule="static", num_threads=threads):
            _im2col_output_row(x, cols, task // g.out_h, task % g.out_h, g)


def _col2im_add(const floating[:, ::1] dcols, floating[:, :, :, ::1] dx, geo, Py_ssize_t c0, Py_ssize_t cg):
    """dx[..., c0:c0+cg] += the patch gradients in ``dcols``, summed where patches overlap."""
    cdef Geometry g = _c_geometry(geo, c0, cg)
    cdef Py_ssize_t task
    cdef int threads = threads_for(dcols.shape[0] * dcols.shape[1])
    with nogil:
        for task in prange(dx.shape[0] * g.height, schedule="static", num_threads=threads):
            _col2im_input_row(dcols, dx, task // g.height, task % g.height, g)


cdef void _im2col_output_row(const floating[:, :, :, ::1] x, floating[:, ::1] cols,
                             Py_ssize_t n, Py_ssize_t i, Geometry g) noexcept nogil:
    """The patches of output row i of sample n: OW rows of ``cols``."""
    cdef Py_ssize_t j, p, q, c, h, w, row, col
    for j in range(g.out_w):
        row = (n * g.out_h + i) * g.out_w + j
        for p in range(g.kh):
            h = i * g.sh - g.top + p * g.dh          # input row kernel row p lands on
            for q in range(g.kw):
                w = j * g.sw - g.left + q * g.dw     # input column kernel column q lands on
                col = (p * g.kw + q) * g.cg
                if 0 <= h < g.height and 0 <= w < g.width:
                    for c in range(g.cg):
                        cols[row, col + c] = x[n, h, w, g.c0 + c]
                else:                                # over the zero padding
                    for c in range(g.cg):
                        cols[row, col + c] = 0


cdef void _col2im_input_row(const floating[:, ::1] dcols, floating[:, :, :, ::1] dx,
                            Py_ssize_t n, Py_ssize_t h, Geometry g) noexcept nogil:
    """Gather into input row h of sample n every patch-gradient entry that came from it.

    Pixel (h, w) was seen by kernel cell (p, q) of output cell (i, j) exactly when
    i*sh - top + p*dh == h and j*sw - left + q*dw == w; solve each for i and j.
    """
    cdef Py_ssize_t p, q, c, w, i, j, i_steps, j_steps, row, col
    for p in range(g.kh):
        i_steps = h + g.top - p * g.dh               # = i * sh when such an i exists
        if i_steps < 0 or i_steps % g.sh != 0:
            continue
        i = i_steps // g.sh
        if i >= g.out_h:
            continue
        for w in range(g.width):
            for q in range(g.kw):
                j_steps = w + g.left - q * g.dw
                if j_steps < 0 or j_steps % g.sw != 0:
                    continue
                j = j_steps // g.sw
                if j >= g.out_w:
                    continue
                row = (n * g.out_h + i) * g.out_w + j
                col = (p * g.kw + q) * g.cg
                for c in range(g.cg):
                    dx[n, h, w, g.c0 + c] += dcols[row, col + c]


# --- direct loops for few input channels ---------------------------------------------------
# With 1-4 input channels per group (a network's first layer: grey or RGB images) the
# im2col matrix is a long, skinny strip and the GEMM's vector units idle; looping over the
# filters directly, innermost and contiguous in NHWC, is several times faster.

DIRECT_MAX_CHANNELS = 4
# The direct weight gradient sums over the batch in this many fixed slices (one partial sum
# each), so the result does not depend on the thread count.
DIRECT_WEIGHT_SLICES = 16


def _uses_direct_loops(channels, groups):
    return groups == 1 and channels <= DIRECT_MAX_CHANNELS


def _direct_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] kernel,
                    floating[:, :, :, ::1] y, geo):
    """y += x (*) kernel, one output row per task; ``y`` arrives holding the bias (or zeros)."""
    cdef Geometry g = _c_geometry(geo, 0, x.shape[3])
    cdef Py_ssize_t task
    cdef int threads = threads_for(y.shape[0] * y.shape[1] * y.shape[2] * y.shape[3] * g.kh * g.kw)
    with nogil:
        for task in prange(y.shape[0] * g.out_h, schedule="static", num_threads=threads):
            _direct_forward_row(x, kernel, y, task // g.out_h, task % g.out_h, g)


cdef void _direct_forward_row(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] kernel,
                              floating[:, :, :, ::1] y, Py_ssize_t n, Py_ssize_t i, Geometry g) noexcept nogil:
    cdef Py_ssize_t j, p, q, c, f, h, w, filters = y.shape[3]
    cdef floating v
    cdef floating* out
    cdef const floating* weights
    for j in range(g.out_w):
        out = &y[n, i, j, 0]                          # the F outputs of cell (i, j), contiguous
        for p in range(g.kh):
            h = i * g.sh - g.top + p * g.dh
            if h < 0 or h >= g.height:
                continue                              # zero padding adds nothing
            for q in range(g.kw):
                w = j * g.sw - g.left + q * g.dw
                if w < 0 or w >= g.width:
                    continue
                for c in range(g.cg):
                    v = x[n, h, w, c]
                    weights = &kernel[p, q, c, 0]
                    for f in range(filters):          # contiguous: the compiler vectorises it
                        out[f] += v * weights[f]


def _direct_input_gradient(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] kernel,
                           floating[:, :, :, ::1] dx, geo):
    """dx[n, h, w, c] = sum over the (p, q, f) that saw pixel (h, w) of dy * kernel."""
    cdef Geometry g = _c_geometry(geo, 0, dx.shape[3])
    cdef Py_ssize_t task
    cdef int threads = threads_for(dy.shape[0] * dy.shape[1] * dy.shape[2] * dy.shape[3] * g.kh * g.kw)
    with nogil:
        for task in prange(dx.shape[0] * g.height, schedule="static", num_threads=threads):
            _direct_input_gradient_row(dy, kernel, dx, task // g.height, task % g.height, g)


cdef void _direct_input_gradient_row(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] kernel,
                                     floating[:, :, :, ::1] dx, Py_ssize_t n, Py_ssize_t h,
                                     Geometry g) noexcept nogil:
    cdef Py_ssize_t p, q, c, f, w, i, j, i_steps, j_steps, filters = dy.shape[3]
    cdef floating total
    cdef const floating* grads
    cdef const floating* weights
    for w in range(g.width):
        for c in range(g.cg):
            total = 0
            for p in range(g.kh):
                i_steps = h + g.top - p * g.dh        # = i * sh when such an i exists
                if i_steps < 0 or i_steps % g.sh != 0 or i_steps // g.sh >= g.out_h:
                    continue
                i = i_steps // g.sh
                for q in range(g.kw):
                    j_steps = w + g.left - q * g.dw
                    if j_steps < 0 or j_steps % g.sw != 0 or j_steps // g.sw >= g.out_w:
                        continue
                    j = j_steps // g.sw
                    grads = &dy[n, i, j, 0]
                    weights = &kernel[p, q, c, 0]
                    for f in range(filters):
                        total = total + grads[f] * weights[f]
            dx[n, h, w, c] = total


def _direct_weight_gradient(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                            floating[:, :, :, :, ::1] partial, geo):
    """partial[s] = the weight gradient from batch slice s: sum of x-patch * dy over its samples."""
    cdef Geometry g = _c_geometry(geo, 0, x.shape[3])
    cdef Py_ssize_t s, slices = partial.shape[0], n_total = x.shape[0]
    cdef int threads = threads_for(dy.shape[0] * dy.shape[1] * dy.shape[2] * dy.shape[3] * g.kh * g.kw)
    with nogil:
        for s in prange(slices, schedule="static", num_threads=threads):
            _direct_weight_gradient_slice(x, dy, partial, s, s * n_total // slices,
                                          (s + 1) * n_total // slices, g)


cdef void _direct_weight_gradient_slice(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy,
                                        floating[:, :, :, :, ::1] partial, Py_ssize_t s, Py_ssize_t n0,
                                        Py_ssize_t n1, Geometry g) noexcept nogil:
    cdef Py_ssize_t n, i, j, p, q, c, f, h, w, filters = dy.shape[3]
    cdef floating v
    cdef const floating* grads
    cdef floating* sums
    for n in range(n0, n1):
        for i in range(g.out_h):
            for j in range(g.out_w):
                for p in range(g.kh):
                    h = i * g.sh - g.top + p * g.dh
                    if h < 0 or h >= g.height:
                        continue
                    for q in range(g.kw):
                        w = j * g.sw - g.left + q * g.dw
                        if w < 0 or w >= g.width:
                            continue
                        grads = &dy[n, i, j, 0]
                        for c in range(g.cg):
                            v = x[n, h, w, c]
                            sums = &partial[s, p, q, c, 0]
                            for f in range(filters):
                                sums[f] += v * grads[f]
