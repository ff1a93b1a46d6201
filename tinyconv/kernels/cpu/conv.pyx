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

Parallelism (OpenMP; every task writes its own cells in a fixed order, so results never
depend on timing or on the number of threads):
    im2col  one task per (sample, output row); each writes its own rows of ``cols``.
    col2im  one task per sample; each *scatters* its own sample's patch gradients, so no
            two threads ever write the same cell (no atomics, no races).
    GEMM    NumPy's BLAS, which has its own threads; the phases never overlap.

Memory: the columns matrix of a whole batch can be huge (KH*KW times the input), so the
batch is cut into chunks whose workspace fits in ``WORKSPACE_BYTES``; one workspace is
reused across chunks and groups, and across calls: it is kept (per thread, per role, per
dtype) and only grown, so a training step does not pay for fresh pages on every call.

Layers with at least BLOCK_MIN_GROUP_CHANNELS channels per group go another way when SciPy's
BLAS is there: ``conv_blocks.pyx`` runs im2col, GEMM and col2im in blocks private to each
thread (one parallel region per layer).  The chunked path here serves the rest.

1x1 kernels with stride 1, no padding and no dilation skip im2col: the image reshaped to
(N*H*W, C) already *is* the columns matrix.

Few input channels (a first layer on grey or RGB images): in float32 with stride 1 and one
group, up to ``direct_path.DIRECT_MAX_CHANNELS`` channels are convolved directly, each output
summed in vector registers (``conv_direct.pyx``; 2-3.5x faster than im2col + GEMM there:
the patch is too short for either to run well).  Otherwise they go through im2col here.
Plain scalar loops over the filters (an earlier version of this file) were 3-10x slower
than im2col: the direct kernels owe their speed to register blocking, not to skipping im2col.

Every other float32 layer with a kernel larger than 1x1 (or a stride) - the 3x3 layers of
VGG and ResNet, LeNet's second layer - goes through the implicit GEMM (``implicit_path.py``,
``conv_implicit.pyx``): the same product as im2col + GEMM, its rows read from the image in
place by a register-blocked kernel, for forward, for dL/dW, and for dL/dx of stride-1
layers (as a forward pass over dy, below).  So what follows here serves float64, 1x1
layers, dL/dx of strided layers, and builds without those modules.

Every argument is checked in Python (``validate_conv2d_args``) before the compiled loops,
which run without bounds checks, touch it.
"""
import functools
import threading
from collections import namedtuple

import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from tinyconv.kernels.cpu.im2col cimport Geometry, c_geometry, col2im_output_row, im2col_output_row
from tinyconv.kernels.cpu.parallel cimport omp_get_max_threads, threads_for

from tinyconv.kernels.cpu import direct_path, implicit_path
from tinyconv.kernels.cpu.activation import bias_gradient as _bias_gradient
from tinyconv.kernels.reference.conv import pad_image, validate_conv2d_args, validate_upstream_gradient

__all__ = ["conv2d_forward", "conv2d_backward"]

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

# Everything the loops need to map an output cell to input pixels (Python side).
ConvGeometry = namedtuple("ConvGeometry", "height width out_h out_w kh kw sh sw dh dw top left")


# --- public functions --------------------------------------------------------------------


# The dispatch hands this set a KernelCache (tinyconv.dispatch) from a training layer's forward
# to its backward: forward keeps in ``cache.kept`` the im2col columns of a few-channel layer, or
# the zero-padded input planes of the direct path; ``cache.spare`` is the kept buffer of the
# layer's previous step, reused when its shape fits.
CONV2D_USES_CACHE = True


def conv2d_forward(x, kernel, bias, strides, pads, dilation, groups, cache=None):
    """y = x (*) kernel + bias (cross-correlation), NHWC input, Keras-layout kernel."""
    if cache is None:
        return _forward(x, kernel, bias, strides, pads, dilation, groups, keep=None)[0]
    y, cache.kept = _forward(x, kernel, bias, strides, pads, dilation, groups, keep=(cache.spare,))
    cache.spare = None   # now part of cache.kept (or not reusable)
    return y


def conv2d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True,
                    cache=None):
    """Return (dx, dkernel, dbias) given dL/dy.  A gradient not asked for
    (``input_gradient``/``kernel_gradient`` False) is None, and its GEMMs (and col2im or
    im2col) are skipped.  ``cache``: what forward kept for this same ``x`` (or None: recompute)."""
    kept = cache.kept if cache is not None else None
    return _backward(dy, x, kernel, strides, pads, dilation, groups, columns=kept,
                     input_gradient=input_gradient, kernel_gradient=kernel_gradient)


# Backward needs the same columns matrix as forward (dW = cols.T @ dy).  A layer with few
# input channels (a first layer: grey or RGB images) keeps it instead of paying for a second
# im2col, which there costs as much as the GEMM (a patch row of C <= 8 numbers is a short
# copy) and which the whole-batch matrix makes one GEMM instead of several chunks.  With more
# channels the GEMM dominates and the kept matrix (KH*KW times the input) is not worth its
# memory: it is recomputed chunk by chunk in the small workspace.
KEPT_COLUMNS_BYTES = 8 * 2**20
KEPT_COLUMNS_MAX_CHANNELS = 8


def _kept_columns(keep, groups, channels, rows, patch, dtype):
    """The whole batch's columns matrix to keep, or None when not asked for, not worth it or too big."""
    if (keep is None or groups != 1 or channels > KEPT_COLUMNS_MAX_CHANNELS
            or rows * patch * np.dtype(dtype).itemsize > KEPT_COLUMNS_BYTES):
        return None
    buffer = keep[0]
    if isinstance(buffer, np.ndarray) and buffer.shape == (rows, patch) and buffer.dtype == dtype:
        return buffer
    return np.empty((rows, patch), dtype=dtype)


def _usable_columns(columns, x, rows, patch, groups):
    return (isinstance(columns, np.ndarray) and groups == 1 and columns.shape == (rows, patch)
            and columns.dtype == x.dtype)


# --- the two passes ------------------------------------------------------------------------


def _forward(x, kernel, bias, strides, pads, dilation, groups, keep):
    """(y, kept columns or None); ``keep`` is None, or a 1-tuple holding a reusable buffer.
    (Layers taking the direct path keep a ``direct_path.PlanarInput`` instead of columns.)"""
    source = x
    x, kernel, bias, out_hw = validate_conv2d_args(x, kernel, bias, strides, pads, dilation, groups)
    x = np.ascontiguousarray(x)
    geo = _geometry(x, kernel, strides, pads, dilation, out_hw)
    n, channels, filters = x.shape[0], x.shape[3], kernel.shape[3]
    if direct_path.applies(x, kernel, strides, groups):
        if _implicit_weight_gradient(x, kernel, geo, strides, pads, groups):
            keep = None        # backward will not read the planes
        return direct_path.forward(x, kernel, bias, geo, threads_for(x.size * geo.kh * geo.kw), keep,
                                   source=source)
    if implicit_path.applies(x, kernel, groups, _is_pointwise(kernel, strides, pads)):
        y = implicit_path.forward(x, kernel, bias, geo, groups, threads_for(x.size * geo.kh * geo.kw))
        return y, None
    cg, fg = channels // groups, filters // groups

    y = np.empty((n, geo.out_h, geo.out_w, filters), dtype=x.dtype)
    y_rows = y.reshape(-1, filters)            # one row per output cell (n, i, j)
    weights = _group_weight_matrices(kernel, groups)

    kept = None
    if _is_pointwise(kernel, strides, pads):
        x_rows = x.reshape(-1, channels)       # already the columns matrix
        for g in range(groups):
            y_rows[:, g * fg:(g + 1) * fg] = x_rows[:, g * cg:(g + 1) * cg] @ weights[g]
    else:
        cells_per_sample = geo.out_h * geo.out_w
        patch = geo.kh * geo.kw * cg
        blocks, blas_context, threads = _block_path(x, cg, n * cells_per_sample * patch)
        if blocks is not None:
            with blas_context:
                blocks.forward_blocks(x, _kernel_matrix(kernel), bias, y_rows, geo, groups, threads,
                                      _block_workspace(blocks, threads, geo, patch, x.dtype))
            return y, None
        x_source, source_geo = _im2col_source(x, geo, pads, groups)
        kept = _kept_columns(keep, groups, channels, n * cells_per_sample, patch, x.dtype)
        if kept is not None:                   # one chunk: the whole batch, into the kept matrix
            chunks, workspace = [(0, n)], kept
        else:
            chunks = _batch_chunks(n, cells_per_sample, patch, x.itemsize)
            workspace = _workspace(x.dtype, chunks, cells_per_sample, patch)
        for start, stop in chunks:
            rows = slice(start * cells_per_sample, stop * cells_per_sample)
            cols = workspace[:(stop - start) * cells_per_sample]   # the last chunk may be shorter
            for g in range(groups):
                _fill_columns(x_source[start:stop], cols, source_geo, g * cg, cg)
                np.matmul(cols, weights[g], out=y_rows[rows, g * fg:(g + 1) * fg])

    if bias is not None:
        _add_bias(y_rows, np.asarray(bias, dtype=y.dtype))
    return y, kept


def _backward(dy, x, kernel, strides, pads, dilation, groups, columns, input_gradient=True, kernel_gradient=True,
              bias_gradient=True):
    """(dx, dkernel, dbias); ``columns``: forward's columns matrix for this x, or None;
    without ``input_gradient``, dx is None and neither its GEMM nor the col2im runs;
    without ``kernel_gradient``, dkernel is None and neither its GEMM nor the im2col runs."""
    source = x
    x, kernel, _, out_hw = validate_conv2d_args(x, kernel, None, strides, pads, dilation, groups)
    dy = np.ascontiguousarray(validate_upstream_gradient(dy, x, kernel, out_hw))
    x = np.ascontiguousarray(x)
    geo = _geometry(x, kernel, strides, pads, dilation, out_hw)
    n, channels, filters = x.shape[0], x.shape[3], kernel.shape[3]
    cg, fg = channels // groups, filters // groups

    dy_rows = dy.reshape(-1, filters)
    dbias = _bias_gradient(dy_rows) if bias_gradient else None
    if kernel_gradient and direct_path.usable(columns, source, x, dy, geo):
        dkernel = direct_path.weight_gradient(columns, dy, kernel.shape, geo, threads_for(x.size * geo.kh * geo.kw))
        # (the direct kernels sum dL/dW only)
        dx = _input_gradient(dy, x, kernel, strides, pads, dilation, groups) if input_gradient else None
        return dx, dkernel, dbias
    flipped = _implicit_input_gradient_kernel(dy, kernel, geo, strides, pads, groups) if input_gradient else None
    if flipped is not None:   # dL/dx as the implicit-GEMM convolution of dy; dL/dW as below
        dx = _forward(dy, flipped, None, (1, 1), _correlation_pads(geo, pads), dilation, groups, keep=None)[0]
        dkernel = None
        if kernel_gradient:
            dkernel = _backward(dy, source, kernel, strides, pads, dilation, groups, columns, input_gradient=False,
                                bias_gradient=False)[1]
        return dx, dkernel, dbias
    if kernel_gradient and _implicit_weight_gradient(x, kernel, geo, strides, pads, groups):
        dkernel = implicit_path.weight_gradient(x, dy, kernel.shape, geo, groups,
                                                _weight_gradient_threads(x, kernel, geo),
                                                functools.partial(_scratch_buffer, "weight slices", np.float32))
        # (a strided layer's dL/dx: stride 1 took the branch above)
        dx = _input_gradient(dy, x, kernel, strides, pads, dilation, groups) if input_gradient else None
        return dx, dkernel, dbias
    if not _is_pointwise(kernel, strides, pads):
        blocks, blas_context, threads = _block_path(x, cg, geo.out_h * geo.out_w * geo.kh * geo.kw * cg * n,
                                                    samples=n)
        slices = _weight_gradient_slices(n, geo.out_h * geo.out_w, geo.kh * geo.kw * cg, filters, x.itemsize)
        if blocks is not None and slices >= threads:
            dx, dkernel = _backward_by_blocks(blocks, blas_context, threads, slices, dy, x, kernel, geo, pads,
                                              dilation, groups, input_gradient, kernel_gradient)
            return dx, dkernel, dbias
    dx = np.zeros_like(x) if input_gradient else None
    weights = _group_weight_matrices(kernel, groups)
    dweights = [np.zeros_like(w) for w in weights]

    if _is_pointwise(kernel, strides, pads):
        x_rows = x.reshape(-1, channels)
        dx_rows = dx.reshape(-1, channels) if input_gradient else None
        for g in range(groups):
            dy_g = dy_rows[:, g * fg:(g + 1) * fg]
            if kernel_gradient:
                dweights[g] += x_rows[:, g * cg:(g + 1) * cg].T @ dy_g
            if input_gradient:
                dx_rows[:, g * cg:(g + 1) * cg] = dy_g @ weights[g].T
    else:
        cells_per_sample = geo.out_h * geo.out_w
        patch = geo.kh * geo.kw * cg
        have_columns = _usable_columns(columns, x, n * cells_per_sample, patch, groups)
        need_columns = kernel_gradient and not have_columns   # (dx needs only dy and the kernel)
        x_source, source_geo = _im2col_source(x, geo, pads, groups) if need_columns else (x, geo)
        if have_columns:                       # forward kept them: one chunk, no im2col
            chunks = [(0, n)]
            cols_workspace = columns
        elif not kernel_gradient:              # no columns at all: dcols gets the whole budget
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
                    dweights[g] += _weight_gradient(cols, dy_g)
                if input_gradient:
                    np.matmul(dy_g, weights[g].T, out=dcols)
                    _col2im_add(dcols, dx[start:stop], geo, g * cg, cg)

    if not kernel_gradient:
        return dx, None, dbias
    dkernel = np.empty_like(kernel)
    for g in range(groups):
        dkernel[..., g * fg:(g + 1) * fg] = dweights[g].reshape(geo.kh, geo.kw, cg, fg)
    return dx, dkernel, dbias


# --- the thread-private block path (conv_blocks.pyx) ----------------------------------------
# Used when SciPy's BLAS can be held at one thread (blas_threads.py) and every group has at
# least BLOCK_MIN_GROUP_CHANNELS channels (few-channel first layers keep their columns and
# gather from a padded copy instead); backward also needs a sample slice per thread.
# Otherwise: the chunked path below.  Measured on the 2-core VM (benchmarks/README.md):
# training steps of the VGG block and ResNet-20 1.35-1.5x faster than with chunks alone.
BLOCK_MIN_GROUP_CHANNELS = 9   # one more than PAD_FIRST_MAX_CHANNELS

# dL/dW is summed per slice of samples (a fixed split, whatever the thread count), then the
# slices are added: at most this many slices, at most this much memory for their sums, and
# at least this many output cells per slice (8x8 images in 16 slices made GEMMs too short).
MAX_WEIGHT_SLICES = 16
WEIGHT_SLICES_BYTES = 16 * 2**20
WEIGHT_SLICE_MIN_ROWS = 1024


def _block_path(x, cg, column_entries, samples=None):
    """(conv_blocks module, BLAS context, threads), or (None, None, threads) for the chunked path."""
    threads = threads_for(column_entries)
    if cg < BLOCK_MIN_GROUP_CHANNELS or x.dtype not in (np.float32, np.float64):
        return None, None, threads
    blocks = _conv_blocks()
    context = blocks_blas_context() if blocks is not None else None
    if context is None or (samples is not None and samples < threads):
        return None, None, threads
    return blocks, context, threads


def _backward_by_blocks(blocks, blas_context, threads, slices, dy, x, kernel, geo, pads, dilation, groups,
                        input_gradient, kernel_gradient):
    """(dx, dkernel) through conv_blocks; dx of a stride-1 layer as a forward pass over dy."""
    patch, filters = geo.kh * geo.kw * (x.shape[3] // groups), kernel.shape[3]
    partial = np.empty((slices, patch, filters), dtype=x.dtype) if kernel_gradient else None
    dx_pads = _correlation_pads(geo, pads) if input_gradient else None
    dx = np.zeros_like(x) if input_gradient and dx_pads is None else None   # col2im adds into it
    with blas_context:
        blocks.backward_blocks(dy.reshape(-1, filters), x, _kernel_matrix(kernel), geo, groups, dx, partial,
                               threads, _block_workspace(blocks, threads, geo, patch, x.dtype))
    if dx_pads is not None:
        dx = _forward(dy, _flipped_kernel(kernel, groups), None, (1, 1), dx_pads, dilation, groups, keep=None)[0]
    return dx, None if partial is None else partial.sum(axis=0).reshape(kernel.shape)


def _block_workspace(blocks, threads, geo, patch, dtype):
    """One block's columns per thread, kept between calls like the chunked path's workspaces."""
    size = blocks.block_output_rows(geo, patch, np.dtype(dtype).itemsize) * geo.out_w * patch
    return _scratch_buffer("blocks", dtype, max(1, threads) * size).reshape(max(1, threads), size)


def _weight_gradient_slices(n, cells_per_sample, patch, filters, itemsize):
    """How many sample slices dL/dW is summed over (depends on the shapes only): a slice's
    GEMMs run on blocks of at most its own rows, so each gets WEIGHT_SLICE_MIN_ROWS or more."""
    fitting = WEIGHT_SLICES_BYTES // max(1, patch * filters * itemsize)
    by_rows = n * cells_per_sample // WEIGHT_SLICE_MIN_ROWS
    return max(1, min(MAX_WEIGHT_SLICES, n, fitting, by_rows))


# dL/dx of a stride-1 convolution is itself a convolution: dy, padded, correlated with the
# kernel turned 180 degrees and with its channel and filter axes swapped (the "full"
# convolution of the lectures).  That trades col2im's scattered additions and a GEMM with a
# short inner dimension (the filters) for im2col and a GEMM shaped like forward's: measured
# 15-35% faster on the 3x3 layers of ResNet-20 and the VGG block.

def _correlation_pads(geo, pads):
    """Pads under which the stride-1 convolution of dy with the flipped kernel is dL/dx,
    or None (a strided layer, or padding wider than the kernel reaches)."""
    if geo.sh != 1 or geo.sw != 1:
        return None
    reach_h, reach_w = (geo.kh - 1) * geo.dh, (geo.kw - 1) * geo.dw   # dilated kernel size - 1
    (top, bottom), (left, right) = pads
    result = ((reach_h - top, reach_h - bottom), (reach_w - left, reach_w - right))
    return result if min(result[0] + result[1]) >= 0 else None


def _implicit_weight_gradient(x, kernel, geo, strides, pads, groups):
    """True when dL/dW goes through the implicit-GEMM kernels (implicit_path.weight_gradient_applies)
    with a batch slice for every thread.  A layer whose slice sums are too big for more slices
    than threads (3x3 x 512 -> 512: one slice of 9 MiB) takes the paths below, which keep every
    thread busy another way (BLAS's own threads), as it did before."""
    if not implicit_path.weight_gradient_applies(x, kernel, groups, _is_pointwise(kernel, strides, pads), geo.dw):
        return False
    dy_shape = (x.shape[0], geo.out_h, geo.out_w, kernel.shape[3])
    return implicit_path.weight_slices(dy_shape, kernel.shape, groups) >= _weight_gradient_threads(x, kernel, geo)


def _weight_gradient_threads(x, kernel, geo):
    """Threads for the implicit dL/dW: by its multiply-adds per patch entry (dy's size x KH x KW)."""
    return threads_for(x.shape[0] * geo.out_h * geo.out_w * kernel.shape[3] * geo.kh * geo.kw)


def _input_gradient(dy, x, kernel, strides, pads, dilation, groups):
    """dL/dx alone, by whichever path takes it (for a caller that summed dL/dW its own way)."""
    return _backward(dy, x, kernel, strides, pads, dilation, groups, None, kernel_gradient=False,
                     bias_gradient=False)[0]


def _implicit_input_gradient_kernel(dy, kernel, geo, strides, pads, groups):
    """The flipped kernel when dL/dx goes as the implicit-GEMM convolution of dy (a stride-1
    layer, not 1x1, whose convolution of dy - its filters as channels - that path takes), else None."""
    if _correlation_pads(geo, pads) is None or _is_pointwise(kernel, strides, pads):
        return None
    flipped = _flipped_kernel(kernel, groups)
    return flipped if implicit_path.applies(dy, flipped, groups, pointwise=False) else None


def _flipped_kernel(kernel, groups):
    """flipped[p, q, f, g*Cg + c] = kernel[KH-1-p, KW-1-q, c, g*Fg + f]: the kernel of dL/dx."""
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    per_group = kernel[::-1, ::-1].reshape(kh, kw, cg, groups, fg)
    return np.ascontiguousarray(per_group.transpose(0, 1, 4, 3, 2)).reshape(kh, kw, fg, groups * cg)


def _kernel_matrix(kernel):
    """Kernel (KH, KW, Cg, F) -> (KH*KW*Cg, F), rows ordered (p, q, c); group g owns columns g*F/groups..."""
    kh, kw, cg, filters = kernel.shape
    return np.ascontiguousarray(kernel).reshape(kh * kw * cg, filters)


@functools.lru_cache(maxsize=None)
def _conv_blocks():
    """The conv_blocks module, or None when it was not built (SciPy absent at build time)."""
    try:
        from tinyconv.kernels.cpu import conv_blocks
    except ImportError:
        return None
    return conv_blocks


def blocks_blas_context():
    from tinyconv.kernels.cpu.blas_threads import single_threaded_blas

    return single_threaded_blas()


# --- Python-side helpers -----------------------------------------------------------------


def _geometry(x, kernel, strides, pads, dilation, out_hw):
    (top, _), (left, _) = pads
    return ConvGeometry(
        height=x.shape[1], width=x.shape[2], out_h=out_hw[0], out_w=out_hw[1],
        kh=kernel.shape[0], kw=kernel.shape[1], sh=strides[0], sw=strides[1],
        dh=dilation[0], dw=dilation[1], top=top, left=left,
    )


# Few channels make a kernel row a short copy (5 numbers for LeNet's first layer), and then
# the loop bookkeeping and the bounds checks at the image's border cost more than the
# copying.  There, im2col reads a zero-padded copy of the input (about 1/(KH*KW) the size of
# the columns matrix): no border cases.  When a kernel row is very short (KW*C <= 8), each
# patch is gathered through a table of offsets, one tight loop per row of the columns
# matrix (2x faster on LeNet's first layer; with longer kernel rows the row copies win).
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
        for task in prange(cols.shape[0] // g.out_w, schedule="static", num_threads=threads):
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


def _is_pointwise(kernel, strides, pads):
    """1x1 kernel, stride 1, no padding: output cell (i, j) sees exactly pixel (i, j).

    (Dilation spaces out kernel cells; a 1x1 kernel has only one, so it does not matter.)
    """
    return kernel.shape[:2] == (1, 1) and tuple(strides) == (1, 1) and tuple(pads) == ((0, 0), (0, 0))


def _group_weight_matrices(kernel, groups):
    """Kernel (KH, KW, Cg, F) -> one (KH*KW*Cg, F/groups) matrix per group, rows ordered (p, q, c)."""
    matrix, fg = _kernel_matrix(kernel), kernel.shape[3] // groups
    return [np.ascontiguousarray(matrix[:, g * fg:(g + 1) * fg]) for g in range(groups)]


def _batch_chunks(n, cells_per_sample, patch, itemsize, workspaces=1):
    """Split range(n) into (start, stop) chunks whose ``workspaces`` columns matrices fit in
    WORKSPACE_BYTES, but (on several threads) of at least MIN_CHUNK_ROWS rows (output cells)."""
    bytes_per_sample = max(1, workspaces * cells_per_sample * patch * itemsize)
    per_chunk = max(1, WORKSPACE_BYTES // bytes_per_sample)
    if omp_get_max_threads() > 1:
        per_chunk = max(per_chunk, -(-MIN_CHUNK_ROWS // max(1, cells_per_sample)))
    return [(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]


_scratch = threading.local()  # per thread: {(role, dtype): flat buffer}, kept between calls


def _workspace(dtype, chunks, cells_per_sample, patch, role="cols"):
    """One (rows, patch) matrix big enough for the largest chunk, reused by every chunk and group.

    It is a view of a buffer kept between calls (grown when a bigger one is needed): a
    fresh np.empty of tens of megabytes costs a page fault per 4 KiB on first touch.
    Uninitialised is enough: im2col writes every entry (zeros included) and matmul(out=)
    overwrites.  Nothing returned to the caller ever points into it.
    """
    largest = max((stop - start for start, stop in chunks), default=0)  # an empty batch has no chunks
    return _scratch_buffer(role, dtype, largest * cells_per_sample * patch).reshape(largest * cells_per_sample, patch)


def _scratch_buffer(role, dtype, size):
    """``size`` uninitialised numbers of this thread's buffer for ``role``, kept between calls."""
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    key = (role, np.dtype(dtype).str)
    buffer = buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = buffers[key] = np.empty(size, dtype=dtype)
    return buffer[:size]


# --- compiled loops ----------------------------------------------------------------------


def _im2col(const floating[:, :, :, ::1] x, floating[:, ::1] cols, geo, Py_ssize_t c0, Py_ssize_t cg):
    """Fill ``cols`` (N*OH*OW, KH*KW*cg) with the patches of channels [c0, c0+cg) of ``x``."""
    cdef Geometry g = c_geometry(geo, c0, cg)
    cdef Py_ssize_t task
    cdef int threads = threads_for(cols.shape[0] * cols.shape[1])
    with nogil:
        for task in prange(x.shape[0] * g.out_h, schedule="static", num_threads=threads):
            im2col_output_row(x, &cols[task * g.out_w, 0], task // g.out_h, task % g.out_h, g)


def _add_bias(floating[:, ::1] rows, const floating[::1] bias):
    """rows[r, :] += bias for every row: NumPy's broadcast add, on every thread."""
    cdef Py_ssize_t r, f, count = rows.shape[0], filters = rows.shape[1]
    cdef int threads = threads_for(count * filters)
    with nogil:
        for r in prange(count, schedule="static", num_threads=threads):
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


# --- the weight gradient of a first layer -------------------------------------------------
# dW = cols.T @ dy has a tiny output when the patch is short (KH*KW*Cg = 27 for 3x3 on RGB)
# and a huge inner dimension (every output cell of the batch).  OpenBLAS's threads split the
# 27 output rows and wait for each other at every block of the inner dimension: measured in
# the VGG training step on this 2-core machine with other work running, that one product
# took 500-800 ms on two threads instead of ~2 ms on one - when OpenBLAS's idle threads
# spin (OPENBLAS_THREAD_TIMEOUT not in effect, see README).  With several threads, such a
# short patch and very few filters, the batch rows are cut into a fixed number of slices
# instead, each summed by compiled loops (a fixed split: the result does not depend on the
# thread count), and the slices are added at the end.  With more filters BLAS wins on two
# threads even beside a busy core once its threads sleep (32 filters: 1.3 vs 3.6 ms), and on
# one thread BLAS is faster and stays in use.

SHORT_PATCH = 32                      # KH*KW*Cg up to this counts as a first layer's
SLICED_MAX_FILTERS = 8                # and at most this many filters per group
WEIGHT_GRADIENT_SLICES = 16


def _weight_gradient(cols, dy):
    """cols.T @ dy: BLAS, except for short patches on several threads (sliced compiled loops)."""
    if (cols.shape[1] > SHORT_PATCH or dy.shape[1] > SLICED_MAX_FILTERS
            or cols.shape[0] < WEIGHT_GRADIENT_SLICES or threads_for(cols.shape[0] * cols.shape[1]) == 1):
        return cols.T @ dy
    # The innermost loop runs along the longer of the two axes (it is the one SIMD covers).
    filters_inner = dy.shape[1] >= cols.shape[1]
    sums_shape = (cols.shape[1], dy.shape[1]) if filters_inner else (dy.shape[1], cols.shape[1])
    partial = np.empty((WEIGHT_GRADIENT_SLICES,) + sums_shape, dtype=cols.dtype)
    _sliced_weight_gradient(cols, dy, partial, filters_inner)
    total = partial.sum(axis=0)
    return total if filters_inner else total.T


def _sliced_weight_gradient(const floating[:, ::1] cols, const floating[:, ::1] dy, floating[:, :, ::1] partial,
                            bint filters_inner):
    """partial[s] = cols[rows of slice s].T @ dy[rows of slice s] (or its transpose, see below)."""
    cdef Py_ssize_t s, slices = partial.shape[0], rows = cols.shape[0]
    cdef int threads = threads_for(rows * cols.shape[1])
    with nogil:
        for s in prange(slices, schedule="static", num_threads=threads):
            _weight_gradient_slice(cols, dy, partial, s, s * rows // slices, (s + 1) * rows // slices,
                                   filters_inner)


cdef void _weight_gradient_slice(const floating[:, ::1] cols, const floating[:, ::1] dy,
                                 floating[:, :, ::1] partial, Py_ssize_t s, Py_ssize_t r0,
                                 Py_ssize_t r1, bint filters_inner) noexcept nogil:
    """The sum over rows r0..r1 of the outer products cols[r] x dy[r], two rows per pass.

    filters_inner: sums[k, f] += cols[r, k] * dy[r, f], the loop along a dy row innermost;
    otherwise sums[f, k] += dy[r, f] * cols[r, k], along a columns row.  Either way the
    innermost loop is contiguous (SIMD), and two rows per pass halve the traffic on the sums.
    """
    cdef Py_ssize_t r, k, f, patch = cols.shape[1], filters = dy.shape[1]
    cdef Py_ssize_t outer = patch if filters_inner else filters
    cdef Py_ssize_t inner = filters if filters_inner else patch
    cdef floating v0, v1
    cdef floating* sums = &partial[s, 0, 0]
    cdef floating* sums_row
    cdef const floating* a0     # row r (and r + 1) of the matrix the inner loop walks
    cdef const floating* a1
    cdef const floating* b0     # row r (and r + 1) of the other one: one value per outer step
    cdef const floating* b1
    for k in range(patch * filters):
        sums[k] = 0
    r = r0
    while r < r1:
        a0 = &dy[r, 0] if filters_inner else &cols[r, 0]
        b0 = &cols[r, 0] if filters_inner else &dy[r, 0]
        a1, b1 = a0, b0
        if r + 1 < r1:
            a1 = &dy[r + 1, 0] if filters_inner else &cols[r + 1, 0]
            b1 = &cols[r + 1, 0] if filters_inner else &dy[r + 1, 0]
        for k in range(outer):
            v0 = b0[k]
            v1 = b1[k] if r + 1 < r1 else 0
            sums_row = &sums[k * inner]
            for f in range(inner):
                sums_row[f] += v0 * a0[f] + v1 * a1[f]
        r += 2
