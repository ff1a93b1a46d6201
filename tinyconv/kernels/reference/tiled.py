"""Tiled convolution in plain NumPy (Goodfellow et al., ch. 9).

Between a convolution (one kernel shared by every position) and a locally connected layer
(a kernel of its own for every position) sits *tiled convolution*: a cycle of t_h x t_w
kernels.  Output positions t apart share weights, neighbours do not:

    y[n, i, j, f] = b[f] + sum_{p, q, c} x_pad[n, i*sh + p, j*sw + q, c] * K[i % th, j % tw, p, q, c, f]

(the course's  Z[i,j,k] = sum_{l,m,n} V[l, j+m-1, k+n-1] K[i, j % t, k % t, l, m, n]).

Shapes (NHWC):

    x       (N, H, W, C)                     kernel  (TH, TW, KH, KW, C, F)
    bias    (F,) or None (shared, as a convolution's)       y  (N, OH, OW, F)

* tile (1, 1): one kernel everywhere, i.e. Conv2D with kernel K[0, 0];
* tile (OH, OW): every position has its own kernel, i.e. a locally connected layer.

Backward, each gradient along its path:

    dbias[f]                = sum_{n,i,j} dy[n, i, j, f]
    dK[a, b, p, q, c, f]    = sum over n and positions (i, j) with i % th == a, j % tw == b of
                              x_pad[n, i*sh + p, j*sw + q, c] * dy[n, i, j, f]
    dx_pad[n, i*sh + p, j*sw + q, c] += sum_f K[i % th, j % tw, p, q, c, f] * dy[n, i, j, f]
"""
import numpy as np

from ..checks.tiled import check_tiled_args, check_tiled_backward_args
from .conv import crop_padding, pad_image

__all__ = ["tiled_conv2d_forward", "tiled_conv2d_backward"]


def tiled_conv2d_forward(x, kernel, bias, strides, pads):
    """y[n, i, j, :] = patch(n, i, j) @ K[i % th, j % tw] + b, one position at a time."""
    x, kernel, bias, strides, pads, out_hw = check_tiled_args(x, kernel, bias, strides, pads)
    x_pad = pad_image(x, pads)
    n, filters = x.shape[0], kernel.shape[5]
    y = np.empty((n, *out_hw, filters), dtype=x.dtype)
    for i, j, window in windows(x_pad, kernel.shape[2:4], strides, out_hw):
        weights = tile_kernel(kernel, i, j).reshape(-1, filters)  # (KH*KW*C, F), rows in (p, q, c) order
        y[:, i, j, :] = window.reshape(n, -1) @ weights
    if bias is not None:
        y += bias
    return y


def tiled_conv2d_backward(dy, x, kernel, strides, pads):
    """Returns ``(dx, dkernel, dbias)``: the kernel gradient of a tile sums over all its positions."""
    dy, x, kernel, strides, pads, out_hw = check_tiled_backward_args(dy, x, kernel, strides, pads)
    x_pad = pad_image(x, pads)
    dx_pad = np.zeros_like(x_pad)
    dkernel = np.zeros_like(kernel)
    n, filters = x.shape[0], kernel.shape[5]
    for (i, j, window), (_, _, dx_window) in zip(windows(x_pad, kernel.shape[2:4], strides, out_hw),
                                                 windows(dx_pad, kernel.shape[2:4], strides, out_hw)):
        weights = tile_kernel(kernel, i, j).reshape(-1, filters)
        # Positions that share a tile share its gradient: add, don't overwrite.
        tile_kernel(dkernel, i, j)[...] += (window.reshape(n, -1).T @ dy[:, i, j, :]).reshape(kernel.shape[2:])
        dx_window += (dy[:, i, j, :] @ weights.T).reshape(window.shape)
    return crop_padding(dx_pad, pads), dkernel, dy.sum(axis=(0, 1, 2))


def tile_kernel(kernel, i, j):
    """The kernel output position (i, j) uses: K[i % th, j % tw], a (KH, KW, C, F) view."""
    return kernel[i % kernel.shape[0], j % kernel.shape[1]]


def windows(x_pad, kernel_hw, strides, out_hw):
    """Yield (i, j, window) with window = x_pad[:, i*sh : i*sh + kh, j*sw : j*sw + kw, :] (a view)."""
    (kh, kw), (sh, sw) = kernel_hw, strides
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            yield i, j, x_pad[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
