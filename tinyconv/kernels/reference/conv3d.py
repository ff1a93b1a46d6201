"""3-D convolution in plain NumPy: the 2-D convolution with one more spatial axis.

A volume (a video clip, a CT scan) has depth as well as height and width; the kernel is a
small box that slides along all three.  As in 2-D it is a cross-correlation (no flip):

    y[n, d, i, j, f] = b[f] + sum_{o, p, q, c} x_pad[n, d*sd + o*dd, i*sh + p*dh, j*sw + q*dw, g*Cg + c]
                                              * k[o, p, q, c, f]

    n  sample          d, i, j  output depth / row / column       f  filter
    o, p, q  kernel offsets along depth / height / width           c  channel inside the group
    (sd, sh, sw) strides    (dd, dh, dw) dilations    Cg = C / groups    g = f // (F / groups)

Shapes (NDHWC, Keras layout):

    x       (N, D, H, W, C)            kernel  (KD, KH, KW, C // groups, F)
    bias    (F,) or None               y       (N, OD, OH, OW, F)
    OD = floor((D + front + back - dd*(KD-1) - 1) / sd) + 1     (the course's formula, per axis)

``pads = ((front, back), (top, bottom), (left, right))``.

As in ``conv.py``, the loop runs over the KD*KH*KW *kernel offsets*: for a fixed offset the
inputs that kernel cell multiplies form a strided slice of ``x_pad`` shaped like ``y``, and the
sum over channels is one matrix product.  Backward follows the same paths in reverse:

    dbias[f]            = sum_{n,d,i,j} dy[n, d, i, j, f]
    dkernel[o,p,q,c,f]  = sum_{n,d,i,j} x_pad[n, d*sd + o*dd, i*sh + p*dh, j*sw + q*dw, c] * dy[n, d, i, j, f]
    dx_pad[n, d*sd + o*dd, i*sh + p*dh, j*sw + q*dw, c] += sum_f k[o, p, q, c, f] * dy[n, d, i, j, f]
"""
import numpy as np

from ..checks.conv3d import validate_conv3d_args, validate_conv3d_backward_args
from .conv import group_slices

__all__ = ["conv3d_forward", "conv3d_backward"]


def conv3d_forward(x, kernel, bias, strides, pads, dilation, groups):
    """y = x (*) kernel + bias over three spatial axes (NDHWC, kernel (KD, KH, KW, C/groups, F))."""
    x, kernel, bias, out_dhw = validate_conv3d_args(x, kernel, bias, strides, pads, dilation, groups)
    x_pad = pad_volume(x, pads)
    filters = kernel.shape[4]
    y = np.zeros((x.shape[0],) + out_dhw + (filters,), dtype=x.dtype)

    for in_ch, out_ch in group_slices(x.shape[4], filters, groups):
        for offset, window in kernel_offsets_3d(x_pad, kernel.shape[:3], strides, dilation, out_dhw):
            # window[n, d, i, j, c]: the inputs kernel cell (o, p, q) multiplies for every output cell.
            y[..., out_ch] += window[..., in_ch] @ kernel[offset][:, out_ch]

    if bias is not None:
        y += bias
    return y


def conv3d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True):
    """Return ``(dx, dkernel, dbias)`` given dL/dy (dbias is computed even without a bias).

    As in ``conv2d_backward``, a gradient not asked for is None."""
    dy, x, kernel, out_dhw = validate_conv3d_backward_args(dy, x, kernel, strides, pads, dilation, groups)
    x_pad = pad_volume(x, pads)
    dx_pad = np.zeros_like(x_pad)
    dkernel = np.zeros_like(kernel)
    dbias = dy.sum(axis=(0, 1, 2, 3))

    for in_ch, out_ch in group_slices(x.shape[4], kernel.shape[4], groups):
        dy_group = dy[..., out_ch]
        windows = kernel_offsets_3d(x_pad, kernel.shape[:3], strides, dilation, out_dhw)
        dx_windows = kernel_offsets_3d(dx_pad, kernel.shape[:3], strides, dilation, out_dhw)
        for (offset, window), (_, dx_window) in zip(windows, dx_windows):
            cell = offset + (slice(None), out_ch)
            if kernel_gradient:
                dkernel[cell] = np.tensordot(window[..., in_ch], dy_group, axes=([0, 1, 2, 3], [0, 1, 2, 3]))
            # dx_window is a view into dx_pad: += routes the gradient to every input it came from,
            # adding where windows overlap.
            if input_gradient:
                dx_window[..., in_ch] += dy_group @ kernel[cell].T

    return (crop_volume(dx_pad, pads) if input_gradient else None), (dkernel if kernel_gradient else None), dbias


# --- building blocks ---------------------------------------------------------------------


def pad_volume(x, pads):
    """Zeros around each volume: ``pads = ((front, back), (top, bottom), (left, right))``."""
    return np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),))


def crop_volume(x_pad, pads):
    """Undo :func:`pad_volume`."""
    index = [slice(None)]
    for axis, (before, after) in enumerate(pads, start=1):
        index.append(slice(before, x_pad.shape[axis] - after))
    return x_pad[tuple(index)]


def kernel_offsets_3d(x_pad, kernel_dhw, strides, dilation, out_dhw):
    """Yield ((o, p, q), window) for every kernel cell; ``window`` is a strided view of ``x_pad``.

    window[n, d, i, j, c] = x_pad[n, d*sd + o*dd, i*sh + p*dh, j*sw + q*dw, c]
    """
    for offset in np.ndindex(*kernel_dhw):
        index = [slice(None)]
        for cell, stride, dil, out in zip(offset, strides, dilation, out_dhw):
            start = cell * dil
            index.append(slice(start, start + (out - 1) * stride + 1, stride))
        yield offset, x_pad[tuple(index)]
