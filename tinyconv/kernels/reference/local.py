"""Locally connected 2-D layer ("unshared convolution") in plain NumPy.

A convolution slides ONE kernel over the image.  A locally connected layer keeps the sliding
window (each output cell still sees only a kh x kw patch) but gives every output position
its OWN kernel: the connectivity of a convolution without its weight sharing.  The course
(Goodfellow, ch. 9) writes it with a 6-D kernel K[i, j, k, l, m, n]; Keras 2 stores the same
numbers as a 3-D array, one (patch, filters) matrix per output position:

    y[n, i, j, f] = b[i, j, f] + sum_k  patch(n, i, j)[k] * K[i*OW + j, k, f]

    patch(n, i, j) = x[n, i*sh : i*sh + kh, j*sw : j*sw + kw, :] flattened in (p, q, c) order,
                     so k = (p*kw + q)*C + c

Shapes (NHWC, Keras 2 layout; no padding, as Keras 2's implementation=1):

    x       (N, H, W, C)                  kernel  (OH*OW, KH*KW*C, F)
    bias    (OH, OW, F) or None           y       (N, OH, OW, F)

The backward pass sends each gradient back along its own position's path:

    dbias[i, j, f]      = sum_n dy[n, i, j, f]
    dK[i*OW + j, k, f]  = sum_n patch(n, i, j)[k] * dy[n, i, j, f]
    dpatch(n, i, j)[k]  = sum_f K[i*OW + j, k, f] * dy[n, i, j, f]   (added into dx; windows overlap)
"""
import numpy as np

from ...geometry import locally_connected_output_hw
from ..checks.local import check_local_args, check_local_backward_args

__all__ = ["locally_connected2d_forward", "locally_connected2d_backward", "locally_connected_output_hw"]


def locally_connected2d_forward(x, kernel, bias, kernel_size, strides, out_hw):
    """y[n, i, j, :] = patch(n, i, j) @ K[i*OW + j] + b[i, j]: one small matrix product per position."""
    x, kernel, bias, kernel_size, strides, out_hw = check_local_args(x, kernel, bias, kernel_size, strides, out_hw)
    oh, ow = out_hw
    y = np.empty((x.shape[0], oh, ow, kernel.shape[2]), dtype=x.dtype)
    for i, j, position, window in positions(x, kernel_size, strides, out_hw):
        patch = window.reshape(x.shape[0], -1)  # (N, KH*KW*C), flattened in (p, q, c) order
        y[:, i, j, :] = patch @ kernel[position]
    if bias is not None:
        y += bias  # (OH, OW, F) broadcasts over the batch
    return y


def locally_connected2d_backward(dy, x, kernel, kernel_size, strides, out_hw):
    """Returns ``(dx, dkernel, dbias)`` given dL/dy; ``dbias`` has shape (OH, OW, F)."""
    dy, x, kernel, kernel_size, strides, out_hw = check_local_backward_args(dy, x, kernel, kernel_size, strides, out_hw)
    n = x.shape[0]
    dx = np.zeros_like(x)
    dkernel = np.empty_like(kernel)
    dbias = dy.sum(axis=0)
    dx_windows = positions(dx, kernel_size, strides, out_hw)
    for (i, j, position, window), (_, _, _, dx_window) in zip(positions(x, kernel_size, strides, out_hw),
                                                               dx_windows):
        patch = window.reshape(n, -1)
        dkernel[position] = patch.T @ dy[:, i, j, :]
        # dx_window is a view into dx: += adds there, and overlapping windows add up.
        dx_window += (dy[:, i, j, :] @ kernel[position].T).reshape(window.shape)
    return dx, dkernel, dbias


def positions(x, kernel_size, strides, out_hw):
    """Yield (i, j, i*OW + j, window) for each output cell; window = x[:, rows, cols, :] is a view."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, strides, out_hw
    for i in range(oh):
        for j in range(ow):
            yield i, j, i * ow + j, x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
