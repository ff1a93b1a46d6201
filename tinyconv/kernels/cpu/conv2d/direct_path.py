"""The direct route (``conv_direct.pyx``): the arrays it needs, and its two passes.

``route.py`` sends here float32 layers with stride 1, one group and at most
``route.DIRECT_MAX_CHANNELS`` input channels: first layers on grey or RGB images.
Measured on the 2-core AVX-512 VM of ``benchmarks/README.md`` (N=64 28x28x1 -> 6 5x5,
LeNet's first layer): forward 1.2 ms with im2col + GEMM, 0.35 ms here; N=32 32x32x3 -> 32
3x3: 1.2 -> 0.85 ms.  (LeNet's second
layer, 6 channels, goes by implicit GEMM: ``implicit_path.py``.)

A layer with fewer than 8 filters (LeNet's first) keeps its zero-padded planes of the input
(``PlanarInput``) for backward, which sums dL/dW from them without copying the input again;
with more, dL/dW goes by implicit GEMM (2.7-3.6x faster there) and nothing is kept.  dL/dx,
when asked for, comes from another route (a first layer needs none).
"""
import functools
from collections import namedtuple

import numpy as np

from . import builds

__all__ = ["direct_kernels", "forward", "weight_gradient", "usable", "PlanarInput"]

# Weight-gradient slices of the batch (fixed by the shapes, not the threads: see the .pxi).
MAX_SLICES = 16
MIN_SLICE_ROWS = 64

# The input as forward laid it out, kept for backward.  ``source`` is the input it was
# made from: backward checks it got the same array.
PlanarInput = namedtuple("PlanarInput", "planes source")


@functools.lru_cache(maxsize=None)
def direct_kernels():
    """The compiled module for this CPU (``builds.best_build``), or None when it was not built."""
    return builds.best_build("conv_direct")


def _planes_shape(x, geo):
    """(N, C, Hp, Wp): every row and column the output runs read, zero-padded."""
    _, plane_width = direct_kernels().padded_width(geo.out_w, geo.kw, geo.dw)
    return (x.shape[0], x.shape[3], geo.out_h + (geo.kh - 1) * geo.dh,
            max(plane_width, geo.left + geo.width))


def _line_aligned_zeros(shape):
    """float32 zeros starting on a 64-byte cache line.  dL/dW's planar dy rows are read in whole
    vectors; from an address NumPy gave 48 bytes past a line, every 64-byte AVX-512 load
    straddled two lines (LeNet's first layer, dL/dW: 23 GFLOP/s, 29 aligned)."""
    size = int(np.prod(shape))
    raw = np.zeros(size + 16, dtype=np.float32)
    skip = (-raw.ctypes.data % 64) // raw.itemsize
    return raw[skip:skip + size].reshape(shape)


def _padded_filters(filters):
    """The filter count rounded up to whole blocks of FILTER_BLOCK."""
    block = direct_kernels().FILTER_BLOCK
    return -(-filters // block) * block


def _packed(kernel, bias):
    """Weights as (filter blocks, taps (c, p, q), FILTER_BLOCK) and the bias, zero-padded to whole blocks."""
    kh, kw, channels, filters = kernel.shape
    block = direct_kernels().FILTER_BLOCK
    padded = _padded_filters(filters)
    taps = np.zeros((channels * kh * kw, padded), dtype=np.float32)
    taps[:, :filters] = kernel.transpose(2, 0, 1, 3).reshape(-1, filters)
    weights = np.ascontiguousarray(taps.reshape(-1, padded // block, block).transpose(1, 0, 2))
    packed_bias = np.zeros(padded, dtype=np.float32)
    if bias is not None:
        packed_bias[:filters] = bias
    return weights, packed_bias


def forward(x, kernel, bias, geo, threads, keep=False, spare=None, source=None):
    """(y, PlanarInput or None): y = conv(x) + bias.  ``keep``: return the planes for backward;
    ``spare``: the PlanarInput of an earlier call, whose planes are reused when their shape
    fits.  ``source``: the array the caller was given (``x`` may be its contiguous copy)."""
    kernels = direct_kernels()
    shape = _planes_shape(x, geo)
    earlier = spare if keep else None
    if isinstance(earlier, PlanarInput) and earlier.planes.shape == shape:
        planes = earlier.planes
    else:
        planes = np.empty(shape, dtype=np.float32)
    kernels.fill_planes(x, planes, geo.top, geo.left, threads)
    weights, packed_bias = _packed(kernel, bias)
    ld, _ = kernels.padded_width(geo.out_w, geo.kw, geo.dw)
    y = np.empty((x.shape[0], geo.out_h, geo.out_w, kernel.shape[3]), dtype=np.float32)
    workspace = np.empty((max(1, threads), weights.shape[0] * kernels.FILTER_BLOCK * ld), dtype=np.float32)
    offsets = np.empty(weights.shape[1], dtype=np.intp)
    kernels.forward(planes, weights, packed_bias, y, geo.kh, geo.kw, geo.dh, geo.dw, offsets, workspace, threads)
    return y, (PlanarInput(planes, x if source is None else source) if keep else None)


def weight_gradient(kept, dy, kernel_shape, geo, threads):
    """dL/dW in the Keras layout (KH, KW, C, F), from forward's planes and dy."""
    kernels = direct_kernels()
    kh, kw, channels, filters = kernel_shape
    padded = _padded_filters(filters)
    rows = dy.shape[0] * dy.shape[1]
    slices = max(1, min(MAX_SLICES, rows // MIN_SLICE_ROWS))
    ld, _ = kernels.padded_width(geo.out_w, geo.kw, geo.dw)
    partial = np.empty((slices, channels * kh * kw, padded), dtype=np.float32)
    workspace = _line_aligned_zeros((max(1, threads), kernels.WEIGHT_ROW_BLOCK * padded * ld))
    row_starts = np.empty((max(1, threads), kernels.WEIGHT_ROW_BLOCK), dtype=np.intp)
    offsets = np.empty(channels * kh * kw, dtype=np.intp)
    kernels.weight_gradient(kept.planes, dy, partial, kh, kw, geo.dh, geo.dw, offsets, workspace, row_starts,
                            threads)
    sums = partial.sum(axis=0)[:, :filters]                     # slices added in order
    return np.ascontiguousarray(sums.reshape(channels, kh, kw, filters).transpose(1, 2, 0, 3))


def usable(kept, source, x, dy, geo):
    """True when ``kept`` came from forward on this very input, with this geometry (so the
    unchecked loops stay inside its planes), and dy is float32 too."""
    return (isinstance(kept, PlanarInput) and kept.source is source and dy.dtype == np.float32
            and kept.planes.shape == _planes_shape(x, geo))
