"""1x1 convolutions with stride 1 and no padding: one plain GEMM per group, no im2col.

The image reshaped to (N*H*W, C) already *is* the columns matrix, so forward is
``x_rows @ W``, dL/dW is ``x_rows.T @ dy`` and dL/dx is ``dy @ W.T`` (BLAS on tinyconv's own
threads: ``../matrix_product.py``).  ``route.py`` sends every such layer here, in any dtype.
"""
import numpy as np

from ..matrix_product import matmul
from .chunked_path import add_bias
from .geometry import group_weight_matrices

__all__ = ["forward", "backward"]


def forward(x, kernel, bias, groups):
    """y = conv(x) + bias for a 1x1 stride-1 unpadded layer (x C-contiguous, checked)."""
    n, height, width, channels = x.shape
    filters = kernel.shape[3]
    cg, fg = channels // groups, filters // groups
    y = np.empty((n, height, width, filters), dtype=x.dtype)
    y_rows, x_rows = y.reshape(-1, filters), x.reshape(-1, channels)
    for g, weights in enumerate(group_weight_matrices(kernel, groups)):
        matmul(x_rows[:, g * cg:(g + 1) * cg], weights, out=y_rows[:, g * fg:(g + 1) * fg])
    if bias is not None:
        add_bias(y_rows, np.asarray(bias, dtype=y.dtype))
    return y


def backward(dy, x, kernel, groups, input_gradient, kernel_gradient):
    """(dx or None, dkernel or None) for a 1x1 stride-1 unpadded layer (x, dy C-contiguous)."""
    channels, filters = x.shape[3], kernel.shape[3]
    cg, fg = channels // groups, filters // groups
    x_rows, dy_rows = x.reshape(-1, channels), dy.reshape(-1, filters)
    dx = np.empty_like(x) if input_gradient else None
    dkernel = np.empty_like(kernel) if kernel_gradient else None
    for g, weights in enumerate(group_weight_matrices(kernel, groups)):
        dy_g = dy_rows[:, g * fg:(g + 1) * fg]
        if kernel_gradient:
            dkernel[0, 0, :, g * fg:(g + 1) * fg] = matmul(x_rows[:, g * cg:(g + 1) * cg].T, dy_g)
        if input_gradient:
            dx.reshape(-1, channels)[:, g * cg:(g + 1) * cg] = matmul(dy_g, weights.T)
    return dx, dkernel
