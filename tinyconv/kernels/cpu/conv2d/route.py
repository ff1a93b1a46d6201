"""Which route computes each pass of a 2-D convolution, and why: the one routing table.

``conv2d_route(...)`` answers for forward, dL/dW and dL/dx from the shapes, the dtype, the
thread count and what forward kept for backward; ``entry.py`` asks it once per call and runs
the route it names (no route calls the router again), so the answer is the truth.

The routes (files in this folder; the timings are on the 2-core AVX-512 VM of
``benchmarks/README.md``, 2 threads, each against the route that would run otherwise):

  direct          direct_path.py, conv_direct*.pyx - float32 first layers on grey/RGB images:
                  every output summed in vector registers.  LeNet's first layer forward 0.35
                  vs 1.2 ms by im2col + GEMM; N=32 32x32x3 -> 32 3x3: 0.85 vs 1.2 ms.
  implicit_gemm   implicit_path.py, conv_implicit*.pyx - every other float32 layer larger than
                  1x1 with enough channels and filters: the GEMM reads its rows from the image in
                  place.  3x3 layers of 16-128 channels: forward 1.16-1.79x, dL/dW
                  1.05-1.79x, dL/dx 1.18-1.66x faster than im2col + GEMM.
  pointwise_gemm  pointwise_path.py - 1x1, stride 1, unpadded: the image is already the
                  columns matrix, one BLAS call per group.
  blocks          block_path.py, conv_blocks.pyx - >= 9 channels per group when SciPy's BLAS
                  is there (float64, strided float32 dL/dx, layers too narrow in filters for
                  the implicit GEMM): im2col, GEMM and col2im in thread-private blocks.  VGG
                  block and ResNet-20 training steps 1.35-1.5x faster than chunks; measured
                  again for this table: N=16 56x56x64 -> 128 3x3 stride 2 forward + backward
                  36.8 vs 58.7 ms, N=16 28x28x128 -> 4 3x3: 17.0 vs 27.8 ms (medians of 15,
                  interleaved).  dL/dx of fewer channels too (it needs no im2col): LeNet-5's
                  second layer, N=256, 2.7 vs 3.1 ms on one thread, 1.6 vs 3.2 on two.
  scatter         scatter_path.py, conv_scatter_body.pxi - dL/dx of float32 few-channel layers
                  (one group, undilated, a kernel row of at most 8 vectors): each dy pixel
                  scattered back onto dx, a kernel row summed in registers, four pixels of a
                  column at once.  LeNet-5's second layer (14x14x6 -> 16 5x5): N=64 0.34 vs
                  0.63 ms by blocks, N=256 1.42 vs 2.66 ms (one thread; two: 0.90 vs 1.62).
  kept_columns    chunked_path.pyx - few-channel layers that no compiled float32 route takes
                  (float64, strided float32 RGB with < 8 filters): forward keeps its whole-batch
                  columns matrix and dL/dW reads it instead of a second im2col.  Medians of 21,
                  interleaved, forward + dL/dW: N=32 32x32x3 -> 16 3x3 float64 3.8 vs 4.7-5.0 ms;
                  -> 6 3x3 stride 2 float32 0.59-0.61 vs 0.81-0.88 ms; N=32 32x32x6 -> 6 3x3
                  float32 with dL/dx 4.4-4.7 vs 5.0-5.1 ms.
  im2col_chunks   chunked_path.pyx - everything else (and every layer of a build without SciPy
                  or without the compiled float32 routes): im2col + BLAS, batch chunk by chunk.

dL/dx of a stride-1 layer is the stride-1 convolution of dy with the flipped kernel
(``geometry.correlation_pads``); where the route says so (``input_gradient_by_correlation``)
it is computed by that route's *forward* function, called directly.  Otherwise col2im
scatters dy @ W.T back onto the image (blocks, chunks) or one GEMM does (pointwise).

Pruned after measuring (medians of 21, interleaved, forward + dL/dW): the sliced dL/dW for
short patches (KH*KW*C <= 32, <= 8 filters, several threads), which summed cols.T @ dy in 16
compiled slices instead of one BLAS call: 0.97-1.06x of BLAS on four first layers (float32 and
float64) once OpenBLAS's idle threads sleep (benchmarks/run.py sets that up).

Examined and kept inside the chunked route: the offset-table im2col gather for kernel rows of
at most 8 numbers (chunked_path.GATHER_MAX_ROW), 0.88-0.89x the time of the row copies on N=64
28x28x1 -> 6 5x5 forward + dL/dW (float64, and float32 with stride 2), 0.96-0.97x on a 3x3
2-channel float64 layer (medians of 21, interleaved, two runs).

Thresholds inside a route (chunk and block sizes, dL/dW slice counts, the padded-copy and
offset-table im2col of few-channel layers) stay in that route's file: they change how a
route runs, never which route runs.
"""
import math
from collections import namedtuple

import numpy as np

from tinyconv.geometry import output_size
from tinyconv.kernels.cpu.threads import get_num_threads, measured_min_macs

from . import block_path, direct_path, implicit_path, scatter_path
from .geometry import conv_geometry, correlation_pads, is_pointwise

__all__ = ["conv2d_route", "Conv2DRoute", "DIRECT", "IMPLICIT_GEMM", "POINTWISE_GEMM", "BLOCKS", "SCATTER",
           "KEPT_COLUMNS", "IM2COL_CHUNKS"]

DIRECT = "direct"
IMPLICIT_GEMM = "implicit_gemm"
POINTWISE_GEMM = "pointwise_gemm"
BLOCKS = "blocks"
SCATTER = "scatter"
KEPT_COLUMNS = "kept_columns"
IM2COL_CHUNKS = "im2col_chunks"

# --- the thresholds ----------------------------------------------------------------------

# direct: at most this many input channels (float32, stride 1, one group).  With more, a
# kernel row is long enough for the implicit GEMM's channel loop (LeNet's second layer, 6
# channels: implicit forward 0.29 ms, benchmarks/README.md).
DIRECT_MAX_CHANNELS = 4

# implicit_gemm: at least this many consecutive numbers per inner loop (channels per group;
# for dL/dW of one undilated group, a kernel row's KW*C) - fewer do not pay for a tap's set-up
# (N=32 32x32x3 -> 32 3x3 dL/dW, KW*C = 9: 0.45 ms here, 1.21 in the direct route) ...
IMPLICIT_MIN_CHANNELS = 5
# ... and at least this many filters per group: fewer leave most of a 16-filter block (AVX2's;
# AVX-512's blocks are 32, of which a one-vector tile computes 16) computing zeros (LeNet's
# second layer's dL/dx, a convolution of dy with 6 filters: 1.28 ms here, 0.58 through col2im).
IMPLICIT_MIN_FILTERS = 8

# blocks: at least this many channels per group (few-channel layers keep their columns or
# gather from a padded copy in the chunked route instead: chunked_path.PAD_FIRST_MAX_CHANNELS).
BLOCK_MIN_GROUP_CHANNELS = 9

# kept_columns: at most this many input channels (one group), and a whole-batch columns
# matrix of at most this many bytes.  With more channels the GEMM dominates and the kept
# matrix (KH*KW times the input) is not worth its memory.
KEPT_COLUMNS_MAX_CHANNELS = 8
KEPT_COLUMNS_BYTES = 8 * 2**20

# A compiled convolution pass runs on one thread below this much work (input numbers times kernel
# taps, the count parallel.pxd's passes use), or below the multiply-adds that pay for waking the
# team where that was measured to cost more (threads.pyx: 42 million on the 2-core VM).
PARALLEL_MIN_ELEMENTS = 32768


# --- the answer --------------------------------------------------------------------------

Conv2DRoute = namedtuple("Conv2DRoute", "forward weight_gradient input_gradient input_gradient_by_correlation "
                                        "kept reasons")
Conv2DRoute.__doc__ = """Which route runs each pass of one convolution layer.

forward, weight_gradient, input_gradient: route names (DIRECT, IMPLICIT_GEMM, ...).
input_gradient_by_correlation: dL/dx is the *forward* of that route over dy with the flipped kernel.
kept: what a training forward keeps for backward: "planes" (direct), "columns" (kept_columns) or None.
reasons: {"forward": ..., "weight_gradient": ..., "input_gradient": ...}, one sentence each."""


class _Layer:
    """A layer as the router sees it: shapes, dtype and thread count, nothing else (the
    derived numbers computed once: the router runs on every call, so it must stay cheap)."""

    __slots__ = ("shape", "kernel_shape", "strides", "pads", "dilation", "groups", "dtype", "threads", "geo",
                 "group_channels", "group_filters", "pointwise", "empty")

    def __init__(self, shape, kernel_shape, strides, pads, dilation, groups, dtype, threads):
        self.shape, self.kernel_shape, self.strides, self.pads = shape, kernel_shape, strides, pads
        self.dilation, self.groups, self.dtype, self.threads = dilation, groups, dtype, threads
        (top, bottom), (left, right) = pads
        kh, kw = kernel_shape[:2]
        out_h = output_size(shape[1], kh, strides[0], top, bottom, dilation[0])
        out_w = output_size(shape[2], kw, strides[1], left, right, dilation[1])
        self.geo = conv_geometry(shape, kernel_shape, strides, pads, dilation, (out_h, out_w))
        self.group_channels = shape[3] // groups
        self.group_filters = kernel_shape[3] // groups
        self.pointwise = is_pointwise(kernel_shape, strides, pads)
        self.empty = math.prod(shape) == 0

    def dy_convolution(self, dx_pads):
        """dL/dx as a layer: the stride-1 convolution of dy with the flipped kernel."""
        kh, kw = self.kernel_shape[:2]
        dy_shape = (self.shape[0], self.geo.out_h, self.geo.out_w, self.kernel_shape[3])
        return _Layer(dy_shape, (kh, kw, self.group_filters, self.shape[3]), (1, 1), dx_pads, self.dilation,
                      self.groups, self.dtype, self.threads)

    def threads_for(self, work, filters):
        return threads_for(work, filters, self.threads)


def threads_for(work, filters=1, threads=None):
    """Threads worth waking for a convolution pass: ``work`` input numbers x kernel taps, each
    multiplied by ``filters`` (per group)."""
    available = get_num_threads() if threads is None else threads
    return available if work >= PARALLEL_MIN_ELEMENTS and work * filters >= measured_min_macs() else 1


PASSES = ("forward", "weight_gradient", "input_gradient")


def conv2d_route(x_shape, kernel_shape, strides=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1,
                 dtype="float32", threads=None, training=False, kept=None, passes=PASSES):
    """The routes of forward, dL/dW and dL/dx for this layer, and why (a ``Conv2DRoute``).

    x_shape (N, H, W, C), kernel_shape (KH, KW, C/groups, F), pads ((top, bottom), (left, right)).
    threads: the OpenMP thread count (default: the current one).  training: forward keeps
    what backward can reuse, and backward gets it.  kept: what backward actually got
    ("planes", "columns" or None; overrides ``training`` for backward).  passes: the passes
    to decide (the entry points ask for theirs only; the others are None, and so is ``kept``
    without "forward").
    """
    pads = tuple(tuple(pair) for pair in pads)
    layer = _Layer(tuple(x_shape), tuple(kernel_shape), tuple(strides), pads, tuple(dilation), groups,
                   np.dtype(dtype), threads)
    reasons = {}
    forward = weight_gradient = input_gradient = by_correlation = will_keep = None
    if "forward" in passes:
        forward, reasons["forward"] = _forward_route(layer)
        will_keep = _kept_by_forward(layer, forward) if training else None
    if "weight_gradient" in passes:
        if kept is None and training:
            kept = will_keep if "forward" in passes else _kept_by_forward(layer, _forward_route(layer)[0])
        weight_gradient, reasons["weight_gradient"] = _weight_gradient_route(layer, kept)
    if "input_gradient" in passes:
        input_gradient, by_correlation, reasons["input_gradient"] = _input_gradient_route(layer)
    return Conv2DRoute(forward, weight_gradient, input_gradient, by_correlation, will_keep, reasons)


# --- forward -----------------------------------------------------------------------------


def _forward_route(layer):
    """(route, reason) for y = conv(x)."""
    geo = layer.geo
    if _direct_applies(layer):
        return DIRECT, (f"float32, stride 1, one group, {layer.shape[3]} <= {DIRECT_MAX_CHANNELS} channels: "
                        "summed directly in vector registers")
    if _implicit_applies(layer, consecutive=layer.group_channels):
        return IMPLICIT_GEMM, (f"float32, {geo.kh}x{geo.kw} kernel, {layer.group_channels} channels and "
                               f"{layer.group_filters} filters per group: implicit GEMM from the image in place")
    if layer.pointwise:
        return POINTWISE_GEMM, "1x1 kernel, stride 1, no padding: the image is the columns matrix (one GEMM)"
    if _blocks_apply(layer):
        return BLOCKS, (f"{layer.group_channels} >= {BLOCK_MIN_GROUP_CHANNELS} channels per group, "
                        f"{layer.dtype}: im2col + GEMM in thread-private blocks")
    return IM2COL_CHUNKS, f"{_why_not_compiled(layer)}: im2col + GEMM by batch chunks"


def _kept_by_forward(layer, forward):
    """What a training forward keeps for backward: only what backward's dL/dW will read."""
    if forward == DIRECT and _implicit_weight_gradient_route(layer) is None:
        return "planes"             # (with >= 8 filters the implicit dL/dW is 2.7-3.6x faster)
    if forward == IM2COL_CHUNKS and _kept_columns_fit(layer) \
            and _weight_gradient_route(layer, "columns")[0] == KEPT_COLUMNS:
        return "columns"
    return None


def _kept_columns_fit(layer):
    geo = layer.geo
    rows, patch = layer.shape[0] * geo.out_h * geo.out_w, geo.kh * geo.kw * layer.shape[3]
    return (layer.groups == 1 and layer.shape[3] <= KEPT_COLUMNS_MAX_CHANNELS
            and rows * patch * layer.dtype.itemsize <= KEPT_COLUMNS_BYTES)


# --- dL/dW -------------------------------------------------------------------------------


def _weight_gradient_route(layer, kept):
    """(route, reason) for dL/dW, given what forward kept ("planes", "columns" or None)."""
    if kept == "planes":
        return DIRECT, "forward kept the zero-padded input planes: summed directly from them"
    implicit = _implicit_weight_gradient_route(layer)
    if implicit is not None:
        return IMPLICIT_GEMM, implicit
    if layer.pointwise:
        return POINTWISE_GEMM, "1x1 kernel, stride 1, no padding: x.T @ dy, one GEMM per group"
    blocks = _backward_blocks_reason(layer)
    if blocks is not None:
        return BLOCKS, blocks
    if kept == "columns":
        return KEPT_COLUMNS, "forward kept the whole batch's columns matrix: one GEMM, no second im2col"
    return IM2COL_CHUNKS, f"{_why_not_compiled(layer)}: im2col + cols.T @ dy by batch chunks"


def _implicit_weight_gradient_route(layer):
    """The reason when dL/dW goes by implicit GEMM with a batch slice for every thread, else None.

    A layer whose slice sums are too big for more slices than threads (3x3 x 512 -> 512: one
    slice of 9 MiB) takes the other routes, which keep every thread busy another way."""
    geo = layer.geo
    kw, group_channels = layer.kernel_shape[1], layer.group_channels
    consecutive = kw * group_channels if layer.groups == 1 and geo.dw == 1 else group_channels
    if not _implicit_applies(layer, consecutive):
        return None
    dy_shape = (layer.shape[0], geo.out_h, geo.out_w, layer.kernel_shape[3])
    slices = implicit_path.weight_slices(dy_shape, layer.kernel_shape, layer.groups)
    threads = layer.threads_for(math.prod(dy_shape) * geo.kh * geo.kw, layer.group_channels)
    if slices < threads:
        return None
    return (f"float32, {consecutive} consecutive numbers per tap row, {layer.group_filters} filters per group, "
            f"{slices} batch slices for {threads} threads: implicit GEMM from the image in place")


def _backward_blocks_reason(layer):
    """The reason when backward goes by blocks (a slice of samples for every thread), else None."""
    if layer.pointwise or not _blocks_apply(layer):
        return None
    geo = layer.geo
    patch = geo.kh * geo.kw * layer.group_channels
    threads = layer.threads_for(layer.shape[0] * geo.out_h * geo.out_w * patch, layer.group_filters)
    slices = block_path.weight_gradient_slices(layer.shape[0], geo.out_h * geo.out_w, patch, layer.kernel_shape[3],
                                               layer.dtype.itemsize)
    if layer.shape[0] < threads or slices < threads:
        return None
    return (f"{layer.group_channels} >= {BLOCK_MIN_GROUP_CHANNELS} channels per group, {slices} sample slices "
            f"for {threads} threads: im2col + GEMM in thread-private blocks")


# --- dL/dx -------------------------------------------------------------------------------


def _input_gradient_route(layer):
    """(route, by correlation, reason) for dL/dx."""
    geo = layer.geo
    dx_pads = correlation_pads(geo, layer.pads)
    dy_layer = None
    if dx_pads is not None and not layer.pointwise:
        dy_layer = layer.dy_convolution(dx_pads)
        if _implicit_applies(dy_layer, consecutive=dy_layer.group_channels):
            return IMPLICIT_GEMM, True, ("stride 1: the implicit-GEMM convolution of dy with the flipped kernel "
                                         f"({layer.group_filters} channels, {layer.group_channels} filters per group)")
    if layer.pointwise:
        return POINTWISE_GEMM, False, "1x1 kernel, stride 1, no padding: dy @ W.T, one GEMM per group"
    blocks = _backward_blocks_reason(layer)
    if blocks is not None:
        if dy_layer is not None:
            # The forward over dy runs by whichever forward route that convolution takes.
            route, why = _forward_route(dy_layer)
            return route, True, f"stride 1, blocks layer: the convolution of dy with the flipped kernel ({why})"
        return BLOCKS, False, f"{blocks}; dy @ W.T and col2im in the same blocks"
    if _scatter_applies(layer):
        return SCATTER, False, (f"float32, {layer.group_channels} channels, a kernel row of "
                                f"{layer.kernel_shape[1] * layer.group_channels} numbers: each dy pixel scattered "
                                "back onto dx, summed in registers")
    if _input_gradient_blocks_apply(layer):
        return BLOCKS, False, (f"{layer.group_channels} channels per group: dy @ W.T and col2im in thread-private "
                               "blocks (dL/dx reads no columns matrix, so few channels cost no im2col)")
    return IM2COL_CHUNKS, False, f"{_why_not_compiled(layer)}: dy @ W.T and col2im by batch chunks"


# --- the conditions ------------------------------------------------------------------------


def _direct_applies(layer):
    return (layer.dtype == np.float32 and layer.groups == 1 and layer.strides == (1, 1)
            and layer.shape[3] <= DIRECT_MAX_CHANNELS and direct_path.direct_kernels() is not None)


def _implicit_applies(layer, consecutive):
    """float32, not a plain GEMM, at least IMPLICIT_MIN_CHANNELS ``consecutive`` numbers per
    inner loop and IMPLICIT_MIN_FILTERS filters per group; the kernels built."""
    return (layer.dtype == np.float32 and not layer.pointwise and not layer.empty
            and consecutive >= IMPLICIT_MIN_CHANNELS and layer.group_filters >= IMPLICIT_MIN_FILTERS
            and implicit_path.implicit_kernels() is not None)


def _blocks_apply(layer):
    return (layer.group_channels >= BLOCK_MIN_GROUP_CHANNELS and layer.dtype in (np.float32, np.float64)
            and block_path.available())


def _scatter_applies(layer):
    """dL/dx of a float32 few-channel layer by scattering (scatter_path.py): where col2im's dcols
    matrix is many times dx's size and the implicit GEMM over dy would have too few filters."""
    return (layer.dtype == np.float32 and layer.group_channels < BLOCK_MIN_GROUP_CHANNELS and not layer.pointwise
            and not layer.empty and scatter_path.fits(layer.kernel_shape, layer.groups, layer.dilation))


def _input_gradient_blocks_apply(layer):
    """dL/dx alone by blocks, for the few-channel layers ``_blocks_apply`` leaves out: their limit is
    im2col's short copies, and dL/dx has none (dcols = dy @ W.T, then col2im, block by block in a
    core's cache instead of a whole chunk's dcols in memory: LeNet-5's second layer, 6 channels,
    N=256 on the 2-core VM, 2.7 vs 3.1 ms on one thread and 1.6 vs 3.2 ms on two)."""
    return (layer.group_channels < BLOCK_MIN_GROUP_CHANNELS and not layer.pointwise and not layer.empty
            and layer.dtype in (np.float32, np.float64) and block_path.available())


def _why_not_compiled(layer):
    """Why no faster route took this layer, in a few words."""
    if layer.dtype != np.float32 and layer.group_channels < BLOCK_MIN_GROUP_CHANNELS:
        return f"{layer.dtype}, {layer.group_channels} channels per group"
    if layer.group_channels >= BLOCK_MIN_GROUP_CHANNELS and not block_path.available():
        return "SciPy's BLAS not available for the blocks"
    return f"{layer.group_channels} channels, {layer.group_filters} filters per group"
