# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The chunked im2col route: im2col + one matrix product (BLAS) per group, chunk by chunk.

Same results as ``tinyconv.kernels.reference.conv`` (read that file for the formula).  The
classic trick (Caffe, cs231n): copy every receptive field into one row of a matrix, the
*columns* matrix, so the whole convolution becomes one GEMM

    cols  (N*OH*OW, KH*KW*Cg)    row (n, i, j) = the patch output cell (n, i, j) sees,
                                 ordered (p, q, c), zeros where the patch hangs over the padding
    W     (KH*KW*Cg, Fg)         the group's kernel, reshaped (Keras layout makes this free)
    y     = cols @ W + bias

NHWC makes the innermost copy contiguous: the Cg channels of one pixel sit side by side.

Backward, per group:
    dW    = cols.T @ dy
    dcols = dy @ W.T,  then col2im adds each patch gradient back onto the pixels it came from.

Parallelism (OpenMP; every task writes its own cells in a fixed order, so results never
depend on timing or on the number of threads):
    im2col  one task per (sample, output row); each writes its own rows of ``cols``.
    col2im  one task per sample; each *scatters* its own sample's patch gradients, so no
            two threads ever write the same cell (no atomics, no races).
    GEMM    BLAS on the same OpenMP threads (``../matrix_product.py``); the phases never overlap.

Memory: the columns matrix of a whole batch can be huge (KH*KW times the input), so the
batch is cut into chunks whose workspace fits in ``WORKSPACE_BYTES``; one workspace is
reused across chunks and groups, and across calls (``workspace.py``).

``route.py`` sends here what no faster route takes (float64 layers with few channels, builds
without SciPy or without the compiled float32 routes), and the *kept columns* variant: a
few-channel layer keeps its whole-batch columns matrix from forward for backward.

Arguments arrive checked (``entry.py``): the compiled loops run without bounds checks.
"""
import functools

import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from tinyconv.kernels.cpu.conv2d.im2col cimport Geometry, c_geometry, col2im_output_row, im2col_output_row
from tinyconv.kernels.cpu.parallel cimport threads_for
from tinyconv.kernels.cpu.threads cimport process_threads

from tinyconv.kernels.reference.conv import pad_image

from ..matrix_product import matmul
from .geometry import group_weight_matrices
from .workspace import scratch_buffer

__all__ = ["forward", "backward", "add_bias", "kept_columns_shape", "usable_columns"]

# Upper bound for one columns workspace; the batch is processed in chunks that fit.  Small
# on purpose: a chunk's columns are then still in the cache when the GEMM reads them back
# (measured on ResNet-20 and the VGG block training steps, 1 thread: 64 MiB -> 4 MiB made
# them 20% faster, and the workspaces, kept between calls, hold 16x less memory).
WORKSPACE_BYTES = 4 * 2**20
# ... but on several threads a chunk has at least this many rows: there each chunk costs
# every phase (im2col, two GEMMs, col2im) a wake-up of the sleeping OpenMP and OpenBLAS
# threads (100-150 us each on the 2-core VM of benchmarks/README.md).  A 32x32x32 3x3
# layer's backward, cut into 32 one-sample chunks by the budget alone, ran slower on two
# threads than on one.  (8192 rows scaled better still in some runs, but took ResNet-20's
# training peak to 95 MiB, near PyTorch's; 4096 keeps it at 83.)
MIN_CHUNK_ROWS = 4096


# --- kept columns ---------------------------------------------------------------------------
# Backward needs the same columns matrix as forward (dW = cols.T @ dy).  A layer with few
# input channels (a first layer: grey or RGB images) keeps it instead of paying for a second
# im2col, which there costs as much as the GEMM (a patch row of C <= 8 numbers is a short
# copy); route.py says when (KEPT_COLUMNS_MAX_CHANNELS, KEPT_COLUMNS_BYTES).


def kept_columns_shape(n, geo, channels):
    """(rows, patch) of a whole batch's columns matrix (one group)."""
    return (n * geo.out_h * geo.out_w, geo.kh * geo.kw * channels)


def _kept_buffer(spare, shape, dtype):
    """``spare`` (the previous step's kept matrix) when it fits, else a new matrix."""
    if isinstance(spare, np.ndarray) and spare.shape == shape and spare.dtype == dtype:
        return spare
    return np.empty(shape, dtype=dtype)


def usable_columns(columns, x, geo, groups):
    """True when ``columns`` can be forward's kept columns matrix for this x and geometry."""
    return (isinstance(columns, np.ndarray) and groups == 1 and columns.dtype == x.dtype
            and columns.shape == kept_columns_shape(x.shape[0], geo, x.shape[3]))


# --- the two passes ------------------------------------------------------------------------


def forward(x, kernel, bias, geo, pads, groups, keep=False, spare=None, threads=None):
    """(y, kept columns or None): y = conv(x) + bias (x C-contiguous, checked).  ``keep``:
    fill one whole-batch columns matrix (``spare`` when it fits) and return it for backward.
    ``threads``: the count for the chunks' products, chosen for the whole pass (None: each
    product's own size decides, as ``matmul`` does)."""
    n, channels, filters = x.shape[0], x.shape[3], kernel.shape[3]
    cg, fg = channels // groups, filters // groups
    y = np.empty((n, geo.out_h, geo.out_w, filters), dtype=x.dtype)
    y_rows = y.reshape(-1, filters)            # one row per output cell (n, i, j)
    weights = group_weight_matrices(kernel, groups)
    cells_per_sample = geo.out_h * geo.out_w
    patch = geo.kh * geo.kw * cg
    x_source, source_geo = _im2col_source(x, geo, pads, groups)
    kept = None
    if keep:                                   # one chunk: the whole batch, into the kept matrix
        kept = _kept_buffer(spare, kept_columns_shape(n, geo, channels), x.dtype)
        chunks, workspace = [(0, n)], kept
    else:
        chunks = _batch_chunks(n, cells_per_sample, patch, x.itemsize)
        workspace = _workspace(x.dtype, chunks, cells_per_sample, patch)
    for start, stop in chunks:
        rows = slice(start * cells_per_sample, stop * cells_per_sample)
        cols = workspace[:(stop - start) * cells_per_sample]   # the last chunk may be shorter
        for g in range(groups):
            _fill_columns(x_source[start:stop], cols, source_geo, g * cg, cg)
            matmul(cols, weights[g], out=y_rows[rows, g * fg:(g + 1) * fg], threads=threads)
    if bias is not None:
        add_bias(y_rows, np.asarray(bias, dtype=y.dtype))
    return y, kept


def backward(dy, x, kernel, geo, pads, groups, columns=None, input_gradient=True, kernel_gradient=True,
             threads=None):
    """(dx by col2im or None, dkernel or None) (x, dy C-contiguous, checked).  ``columns``:
    forward's kept columns for this x (``usable_columns``), or None: im2col again, by chunks.
    ``threads``: as forward's."""
    n, channels, filters = x.shape[0], x.shape[3], kernel.shape[3]
    cg, fg = channels // groups, filters // groups
    dy_rows = dy.reshape(-1, filters)
    dx = np.zeros_like(x) if input_gradient else None
    weights = group_weight_matrices(kernel, groups)
    dweights = [np.zeros_like(w) for w in weights]
    cells_per_sample = geo.out_h * geo.out_w
    patch = geo.kh * geo.kw * cg
    have_columns = columns is not None
    need_columns = kernel_gradient and not have_columns   # (dx needs only dy and the kernel)
    x_source, source_geo = _im2col_source(x, geo, pads, groups) if need_columns else (x, geo)
    if have_columns:                           # forward kept them: one chunk, no im2col
        chunks = [(0, n)]
        cols_workspace = columns
    elif not kernel_gradient:                  # no columns at all: dcols gets the whole budget
        chunks = _batch_chunks(n, cells_per_sample, patch, x.itemsize)
        cols_workspace = None
    else:
        # Two workspaces (cols and dcols), so give each half the budget.
        chunks = _batch_chunks(n, cells_per_sample, patch, x.itemsize, workspaces=2)
        cols_workspace = _workspace(x.dtype, chunks, cells_per_sample, patch)
    # (a first layer needs no dx, so no dcols either)
    dcols_workspace = _workspace(x.dtype, chunks, cells_per_sample, patch, role="dcols") if input_gradient else None
    for start, stop in chunks:
        rows = slice(start * cells_per_sample, stop * cells_per_sample)
        cols = cols_workspace[:(stop - start) * cells_per_sample] if kernel_gradient else None
        dcols = dcols_workspace[:(stop - start) * cells_per_sample] if input_gradient else None
        for g in range(groups):
            dy_g = np.ascontiguousarray(dy_rows[rows, g * fg:(g + 1) * fg])
            if need_columns:
                _fill_columns(x_source[start:stop], cols, source_geo, g * cg, cg)
            if kernel_gradient:
                dweights[g] += matmul(cols.T, dy_g, threads=threads)
            if input_gradient:
                matmul(dy_g, weights[g].T, out=dcols, threads=threads)
                _col2im_add(dcols, dx[start:stop], geo, g * cg, cg)
    if not kernel_gradient:
        return dx, None
    dkernel = np.empty_like(kernel)
    for g in range(groups):
        dkernel[..., g * fg:(g + 1) * fg] = dweights[g].reshape(geo.kh, geo.kw, cg, fg)
    return dx, dkernel


# --- im2col sources and workspaces ------------------------------------------------------------

# Few channels make a kernel row a short copy (5 numbers for LeNet's first layer), and then
# the loop bookkeeping and the bounds checks at the image's border cost more than the
# copying.  There, im2col reads a zero-padded copy of the input (about 1/(KH*KW) the size of
# the columns matrix): no border cases.  When a kernel row is very short (KW*C <= 8), each
# patch is gathered through a table of offsets, one tight loop per row of the columns
# matrix (2x faster on LeNet's first layer when it ran here; remeasured on N=64 28x28x1 -> 6
# 5x5 in float64 and strided float32: forward + dL/dW 0.88x the time of the row copies; with
# longer kernel rows the row copies win).
PAD_FIRST_MAX_CHANNELS = 8
GATHER_MAX_ROW = 8


def _fill_columns(x, cols, geo, c0, cg):
    """im2col: the offset-table gather for a padded few-channel image, else the general loops."""
    if (geo.top == 0 and geo.left == 0 and cg == x.shape[3] and geo.kw * cg <= GATHER_MAX_ROW
            and x.flags.c_contiguous):
        _im2col_by_offsets(x.reshape(-1), cols, geo, _patch_offsets(geo, cg))
    else:
        _im2col(x, cols, geo, c0, cg)


@functools.lru_cache(maxsize=64)
def _patch_offsets(geo, cg):
    """Where each patch entry (p, q, c) sits relative to the patch's corner, in a flat image
    (computed once per geometry, not per chunk)."""
    offsets = np.array([(p * geo.dh * geo.width + q * geo.dw) * cg + c
                        for p in range(geo.kh) for q in range(geo.kw) for c in range(cg)], dtype=np.intp)
    offsets.flags.writeable = False
    return offsets


def _im2col_by_offsets(const floating[::1] x, floating[:, ::1] cols, geo, const Py_ssize_t[::1] offsets):
    """cols[row of (n, i, j), k] = x[corner of (n, i, j) + offsets[k]] (an image with no padding left)."""
    cdef Geometry g = c_geometry(geo, 0, 0)
    cdef Py_ssize_t task, n, i, j, k, corner, row
    cdef Py_ssize_t patch = offsets.shape[0], channels = cols.shape[1] // (g.kh * g.kw)
    cdef int threads = threads_for(cols.shape[0] * cols.shape[1])
    cdef floating* target
    with nogil:
        for task in prange(cols.shape[0] // g.out_w, schedule="guided", num_threads=threads):
            n = task // g.out_h
            i = task % g.out_h
            for j in range(g.out_w):
                row = task * g.out_w + j
                corner = ((n * g.height + i * g.sh) * g.width + j * g.sw) * channels
                target = &cols[row, 0]
                for k in range(patch):
                    target[k] = x[corner + offsets[k]]


def _im2col_source(x, geo, pads, groups):
    """(image, geometry) for im2col: ``x`` itself, or a zero-padded copy with no padding left."""
    if groups != 1 or x.shape[3] > PAD_FIRST_MAX_CHANNELS or not any(p for pair in pads for p in pair):
        return x, geo
    padded = pad_image(x, pads)
    return padded, geo._replace(height=padded.shape[1], width=padded.shape[2], top=0, left=0)


def _batch_chunks(n, cells_per_sample, patch, itemsize, workspaces=1):
    """Split range(n) into (start, stop) chunks whose ``workspaces`` columns matrices fit in
    WORKSPACE_BYTES, but (on several threads) of at least MIN_CHUNK_ROWS rows (output cells)."""
    bytes_per_sample = max(1, workspaces * cells_per_sample * patch * itemsize)
    per_chunk = max(1, WORKSPACE_BYTES // bytes_per_sample)
    if process_threads() > 1:
        per_chunk = max(per_chunk, -(-MIN_CHUNK_ROWS // max(1, cells_per_sample)))
    return [(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]


def _workspace(dtype, chunks, cells_per_sample, patch, role="cols"):
    """One (rows, patch) matrix big enough for the largest chunk, reused by every chunk and group.

    A view of a buffer kept between calls (``workspace.py``); uninitialised is enough: im2col
    writes every entry (zeros included) and matmul(out=) overwrites.
    """
    largest = max((stop - start for start, stop in chunks), default=0)  # an empty batch has no chunks
    return scratch_buffer(role, dtype, largest * cells_per_sample * patch).reshape(largest * cells_per_sample, patch)


# --- compiled loops ----------------------------------------------------------------------


def _im2col(const floating[:, :, :, ::1] x, floating[:, ::1] cols, geo, Py_ssize_t c0, Py_ssize_t cg):
    """Fill ``cols`` (N*OH*OW, KH*KW*cg) with the patches of channels [c0, c0+cg) of ``x``."""
    cdef Geometry g = c_geometry(geo, c0, cg)
    cdef Py_ssize_t task
    cdef int threads = threads_for(cols.shape[0] * cols.shape[1])
    with nogil:
        for task in prange(x.shape[0] * g.out_h, schedule="guided", num_threads=threads):
            im2col_output_row(x, &cols[task * g.out_w, 0], task // g.out_h, task % g.out_h, g)


def add_bias(floating[:, ::1] rows, const floating[::1] bias):
    """rows[r, :] += bias for every row: NumPy's broadcast add, on every thread."""
    cdef Py_ssize_t r, f, count = rows.shape[0], filters = rows.shape[1]
    cdef int threads = threads_for(count * filters)
    with nogil:
        for r in prange(count, schedule="guided", num_threads=threads):
            for f in range(filters):
                rows[r, f] += bias[f]


def _col2im_add(const floating[:, ::1] dcols, floating[:, :, :, ::1] dx, geo, Py_ssize_t c0, Py_ssize_t cg):
    """dx[..., c0:c0+cg] += the patch gradients in ``dcols``, summed where patches overlap.

    One task per sample: overlapping patches of one sample add into the same pixels, so a
    sample belongs to one thread (no races), and its additions always come in the same
    order (the result does not depend on the thread count).
    """
    cdef Geometry g = c_geometry(geo, c0, cg)
    cdef Py_ssize_t n
    cdef int threads = threads_for(dcols.shape[0] * dcols.shape[1])
    with nogil:
        # dynamic: a thread that wakes late takes fewer samples (measured 1.08x -> 1.47x on two
        # threads); each sample is still summed by one thread in a fixed order.
        for n in prange(dx.shape[0], schedule="dynamic", num_threads=threads):
            _col2im_sample(dcols, dx, n, g)


cdef void _col2im_sample(const floating[:, ::1] dcols, floating[:, :, :, ::1] dx,
                         Py_ssize_t n, Geometry g) noexcept nogil:
    """Scatter every patch gradient of sample n back onto the pixels it came from."""
    cdef Py_ssize_t i
    for i in range(g.out_h):
        col2im_output_row(&dcols[(n * g.out_h + i) * g.out_w, 0], dx, n, i, g)


