"""The implicit-GEMM route (``conv_implicit.pyx``): its packed weights and its two passes.

``route.py`` sends here float32 layers with more channels than the direct route's (which
serves first layers on grey and RGB images) and a kernel larger than 1x1 or a stride: every
3x3 layer of the VGG and ResNet models, LeNet's second layer; forward, dL/dW, and dL/dx of
stride-1 layers (``entry.py`` calls ``forward`` on dy with the flipped kernel).  A 1x1
stride-1 layer needs no im2col at all and stays a plain GEMM.

Measured on the 2-core AVX-512 VM of ``benchmarks/README.md``, 2 threads, against the
im2col + GEMM paths in the same process (N=32 3x3 'same' layers of 16 to 64 channels,
N=8 56x56x64, N=16 28x28x128): forward 1.16-1.79x faster, dL/dW 1.05-1.79x, dL/dx
1.18-1.66x; the small ResNet-20 layers gain most (im2col's copy was as costly as their GEMM).
"""
import functools

import numpy as np

from . import builds

__all__ = ["implicit_kernels", "forward", "weight_gradient", "weight_slices"]

# dL/dW is summed per slice of the batch's output rows, then the slices are added (a fixed
# split: the result does not depend on the thread count).  At most this many slices, of at
# least this many output pixels each, and their sums in at most this many bytes.
MAX_WEIGHT_SLICES = 16
MIN_SLICE_PIXELS = 256
WEIGHT_SLICES_BYTES = 16 * 2**20


@functools.lru_cache(maxsize=None)
def implicit_kernels():
    """The compiled module for this CPU (``builds.best_build``), or None when it was not built."""
    return builds.best_build("conv_implicit")


def packed_weights(kernel, bias, groups):
    """(weights, bias) as the kernels read them: one row per block of FILTER_BLOCK filters of a
    group, (p, q, c) major and the block's filters innermost, zero past the group's filters."""
    kh, kw, group_channels, filters = kernel.shape
    block = implicit_kernels().FILTER_BLOCK
    group_filters = filters // groups
    padded_filters = _padded_group_filters(group_filters)
    padded = np.zeros((kh, kw, group_channels, groups, padded_filters), dtype=np.float32)
    padded[..., :group_filters] = kernel.reshape(kh, kw, group_channels, groups, group_filters)
    blocks = groups * padded_filters // block
    weights = padded.reshape(kh * kw * group_channels, blocks, block).transpose(1, 0, 2)
    packed_bias = np.zeros((groups, padded_filters), dtype=np.float32)
    if bias is not None:
        packed_bias[:, :group_filters] = np.asarray(bias, dtype=np.float32).reshape(groups, group_filters)
    return np.ascontiguousarray(weights).reshape(blocks, -1), packed_bias.reshape(-1)


def forward(x, kernel, bias, geo, groups, threads):
    """y = conv(x) + bias, NHWC, for a layer route.py sent here (x C-contiguous)."""
    weights, packed_bias = packed_weights(kernel, bias, groups)
    y = np.empty((x.shape[0], geo.out_h, geo.out_w, kernel.shape[3]), dtype=np.float32)
    implicit_kernels().forward(x, weights, packed_bias, y, geo.kh, geo.kw, geo.sh, geo.sw, geo.dh, geo.dw,
                               geo.top, geo.left, groups, threads)
    return y


def weight_slices(dy_shape, kernel_shape, groups):
    """How many slices of the batch dL/dW is summed over: fixed by the shapes, not the threads."""
    n, out_h, out_w, filters = dy_shape
    kh, kw, group_channels, _ = kernel_shape
    sums_size = kh * kw * group_channels * groups * _padded_group_filters(filters // groups)
    fitting = WEIGHT_SLICES_BYTES // max(1, 4 * sums_size)
    return max(1, min(MAX_WEIGHT_SLICES, n * out_h, n * out_h * out_w // MIN_SLICE_PIXELS, fitting))


def _reads_stay_inside(group_filters, groups):
    """True when the kernels can read dy as it is, without a copy widened to whole filter blocks.

    A block's tile reads one vector of dy per pixel when its filters fit in one, else two
    (``TC_VECTORS``): one group whose filters fill whole vectors never reads past them.  (On
    AVX-512, LeNet-5's second layer, 16 filters in 32-filter blocks, N=256: the widened copy
    took 0.32 ms of dL/dW's 1.45 on the 2-core VM.)"""
    lanes = implicit_kernels().FILTER_BLOCK // 2
    return groups == 1 and group_filters % lanes == 0


def _padded_group_filters(group_filters):
    """A group's filters rounded up to whole blocks."""
    block = implicit_kernels().FILTER_BLOCK
    return -(-group_filters // block) * block


def weight_gradient(x, dy, kernel_shape, geo, groups, threads, scratch):
    """dL/dW in the Keras layout (KH, KW, Cg, F) of a layer route.py sent here (x, dy C-contiguous).
    ``scratch(size)``: ``size`` float32 numbers for the slices' sums, kept between calls."""
    kernels = implicit_kernels()
    kh, kw, group_channels, filters = kernel_shape
    group_filters = filters // groups
    padded_filters = _padded_group_filters(group_filters)      # each group's filters in whole blocks
    pixels = dy.shape[0] * dy.shape[1] * dy.shape[2]
    dy_rows = dy.reshape(pixels, filters)
    if padded_filters != group_filters and not _reads_stay_inside(group_filters, groups):
        widened = np.zeros((pixels, groups, padded_filters), dtype=np.float32)
        widened[..., :group_filters] = dy_rows.reshape(pixels, groups, group_filters)
        dy_rows = widened.reshape(pixels, groups * padded_filters)
    patch = kh * kw * group_channels
    slices = weight_slices(dy.shape, kernel_shape, groups)
    sums_cols = groups * padded_filters
    partial = scratch(slices * patch * sums_cols).reshape(slices, patch, sums_cols)
    kernels.weight_gradient(x, dy_rows, partial, geo.out_h, geo.out_w, kh, kw, geo.sh, geo.sw, geo.dh, geo.dw,
                            geo.top, geo.left, groups, group_filters, threads)
    sums = partial.sum(axis=0).reshape(kh, kw, group_channels, groups, padded_filters)[..., :group_filters]
    return np.ascontiguousarray(sums).reshape(kernel_shape)
