"""The scatter route for dL/dx (``conv_scatter_body.pxi``, built into the implicit-GEMM modules).

``route.py`` sends here dL/dx of float32 layers with few channels (LeNet-5's second layer: 6),
one group and no dilation, when a kernel row's KW*C numbers fit in the registers
(``SCATTER_MAX_VECTORS`` vectors).  There the other routes pay for the shape: the implicit GEMM
over dy would fill its filter blocks with 6 of 16 or 32 filters, and col2im first writes the
(pixels x KH*KW*C) product dy @ W.T to memory, then reads it back; this sums each kernel row
of it in registers and adds it into dx at once.

Measured on the 2-core AVX-512 VM of ``benchmarks/README.md``, LeNet-5's second layer
(14x14x6 -> 16 5x5), against the blocks: one thread N=64 0.63 -> 0.34 ms, N=256 2.66 -> 1.42 ms;
two threads N=256 1.62 -> 0.90 ms.
"""
import numpy as np

from . import implicit_path
from .workspace import scratch_buffer

__all__ = ["fits", "input_gradient"]


def fits(kernel_shape, groups, dilation):
    """True when the scatter kernels were built and take this kernel: one group, undilated, a kernel
    row of at most SCATTER_MAX_VECTORS vectors."""
    kernels = implicit_path.implicit_kernels()
    if kernels is None or groups != 1 or tuple(dilation) != (1, 1):
        return False
    kh, kw, channels, _ = kernel_shape
    return kh > 0 and kw * channels > 0 and -(-kw * channels // kernels.LANES) <= kernels.SCATTER_MAX_VECTORS


def scatter_weights(kernel, lanes):
    """(KH, F, vectors * lanes): kernel row p's (q, c) entries for filter f, zero-padded to whole vectors."""
    kh, kw, channels, filters = kernel.shape
    span = kw * channels
    weights = np.zeros((kh, filters, -(-span // lanes) * lanes), dtype=np.float32)
    weights[:, :, :span] = kernel.transpose(0, 3, 1, 2).reshape(kh, filters, span)
    return weights


def input_gradient(dy, kernel, x_shape, geo, threads):
    """dL/dx (N, H, W, C) of a layer ``fits`` takes (dy C-contiguous float32, checked)."""
    kernels = implicit_path.implicit_kernels()
    kh, kw, channels, _ = kernel.shape
    rows, columns = kernels.scatter_buffer_shape(geo.height, geo.width, channels, geo.out_h, geo.out_w, kh, kw,
                                                 geo.sh, geo.sw, geo.top, geo.left)
    per_sample = rows * columns * channels
    workspace = scratch_buffer("scatter", np.float32, max(1, threads) * per_sample).reshape(max(1, threads),
                                                                                          per_sample)
    dx = np.empty(x_shape, dtype=np.float32)
    kernels.input_gradient_scatter(dy, scatter_weights(kernel, kernels.LANES), dx, kw, geo.sh, geo.sw, geo.top,
                                   geo.left, workspace, rows, columns, threads)
    return dx
