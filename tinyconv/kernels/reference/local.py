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

from ...geometry import output_size
from .conv import _as_float_array, _positive_pair

__all__ = ["locally_connected2d_forward", "locally_connected2d_backward", "check_local_args",
           "locally_connected_output_hw"]


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
    x, kernel, _, kernel_size, strides, out_hw = check_local_args(x, kernel, None, kernel_size, strides, out_hw)
    dy = check_local_gradient(dy, x, kernel, out_hw)
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


def locally_connected_output_hw(input_hw, kernel_size, strides):
    """Valid padding: OH = floor((H - KH) / SH) + 1, and the same for OW."""
    return tuple(output_size(n, k, s, 0, 0) for n, k, s in zip(input_hw, kernel_size, strides))


# --- argument checks (shared with the compiled twin in tinyconv.kernels.cpu.local) ------------


def check_local_args(x, kernel, bias, kernel_size, strides, out_hw):
    """Check every argument; return them normalised.  The compiled loops trust these checks."""
    x = _as_float_array(x, "x")
    kernel = _as_float_array(kernel, "kernel")
    if x.ndim != 4 or min(x.shape) < 1:
        raise ValueError(f"locally_connected2d: expected non-empty x of rank 4 (N, H, W, C), got shape {x.shape}")
    kernel_size = _positive_pair(kernel_size, "kernel_size")
    strides = _positive_pair(strides, "strides")
    out_hw = _positive_pair(out_hw, "out_hw")
    expected_hw = locally_connected_output_hw(x.shape[1:3], kernel_size, strides)
    if out_hw != expected_hw:
        raise ValueError(f"locally_connected2d: input {x.shape[1:3]} with kernel {kernel_size} and strides "
                         f"{strides} gives output size {expected_hw}, got out_hw={out_hw}")
    patch = kernel_size[0] * kernel_size[1] * x.shape[3]
    if kernel.ndim != 3 or kernel.shape[:2] != (out_hw[0] * out_hw[1], patch) or kernel.shape[2] < 1:
        raise ValueError(f"locally_connected2d: expected kernel of shape ({out_hw[0] * out_hw[1]}, {patch}, filters) "
                         f"(OH*OW, KH*KW*C, F), got {kernel.shape}")
    if kernel.dtype != x.dtype:
        raise ValueError(f"locally_connected2d: kernel dtype must match x ({x.dtype}), got {kernel.dtype}")
    if bias is not None:
        bias = _as_float_array(bias, "bias")
        expected = (*out_hw, kernel.shape[2])
        if bias.shape != expected or bias.dtype != x.dtype:
            raise ValueError(f"locally_connected2d: expected bias of shape {expected} and dtype {x.dtype}, "
                             f"got {bias.shape} {bias.dtype}")
    return x, kernel, bias, kernel_size, strides, out_hw


def check_local_gradient(dy, x, kernel, out_hw):
    dy = _as_float_array(dy, "dy")
    expected = (x.shape[0], *out_hw, kernel.shape[2])
    if dy.shape != expected or dy.dtype != x.dtype:
        raise ValueError(f"locally_connected2d backward: expected dy of shape {expected} and dtype {x.dtype}, "
                         f"got {dy.shape} {dy.dtype}")
    return dy
