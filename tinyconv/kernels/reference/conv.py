"""2-D convolution in plain NumPy: the reference to read beside the lecture.

What Keras and PyTorch call "convolution" is a *cross-correlation*: the kernel slides over the
(zero-padded) image without being flipped.  For one output cell

    y[n, i, j, f] = b[f] + sum_{p, q, c}  x_pad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] * k[p, q, c, f]

    n  sample            i, j  output row / column       f  filter (output channel)
    p, q  kernel row / column offset                      c  input channel inside the group
    sh, sw  strides      dh, dw  dilations                Cg = C / groups
    g = f // (F / groups)  the group filter f belongs to

Shapes (NHWC, Keras layout):

    x       (N, H, W, C)               kernel  (KH, KW, C // groups, F)
    bias    (F,) or None               y       (N, OH, OW, F)
    OH = floor((H + top + bottom - dh*(KH-1) - 1) / sh) + 1      (and the same for OW)

Groups cut the channels into ``groups`` independent convolutions: filters
``[g*F/groups, (g+1)*F/groups)`` see only input channels ``[g*C/groups, (g+1)*C/groups)``.

How this file computes it: instead of visiting every output cell (seven nested loops, kept
below as :func:`conv2d_forward_direct`), it visits every *kernel offset* (p, q).  For a fixed
offset the inputs the kernel cell touches form a strided slice of ``x_pad`` with the same
height and width as ``y``, and the sum over channels is one matrix product.  So the whole
convolution is KH*KW matrix products added together.

The backward pass runs the same loop and hands each gradient back along the path it came:

    dbias[f]        = sum_{n,i,j} dy[n, i, j, f]
    dkernel[p,q,c,f] = sum_{n,i,j} x_pad[n, i*sh + p*dh, j*sw + q*dw, c] * dy[n, i, j, f]
    dx_pad[n, i*sh + p*dh, j*sw + q*dw, c] += sum_f k[p, q, c, f] * dy[n, i, j, f]

and ``dx`` is ``dx_pad`` with the padding cut off again (padding is a constant; its gradient
goes nowhere).
"""
import numpy as np

from ..checks.conv import validate_conv2d_args, validate_conv2d_backward_args

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_forward_direct"]


def conv2d_forward(x, kernel, bias, strides, pads, dilation, groups):
    """y = x (*) kernel + bias: cross-correlation of NHWC ``x`` with a Keras-layout kernel.

    y[n, i, j, f] = b[f] + sum_{p,q,c} x_pad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] * k[p, q, c, f]
    """
    x, kernel, bias, (oh, ow) = validate_conv2d_args(x, kernel, bias, strides, pads, dilation, groups)
    x_pad = pad_image(x, pads)
    n, filters = x.shape[0], kernel.shape[3]
    y = np.zeros((n, oh, ow, filters), dtype=x.dtype)

    for in_ch, out_ch in group_slices(x.shape[3], filters, groups):
        for p, q, window in kernel_offsets(x_pad, kernel.shape[:2], strides, dilation, (oh, ow)):
            # window[n, i, j, c] = x_pad[n, i*sh + p*dh, j*sw + q*dw, c]: the inputs kernel cell (p, q)
            # multiplies; summing over c is a matrix product with that cell's (Cg, Fg) weights.
            y[..., out_ch] += window[..., in_ch] @ kernel[p, q, :, out_ch]

    if bias is not None:
        y += bias  # broadcasts over (N, OH, OW)
    return y


def conv2d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True):
    """Gradients of the loss with respect to x, kernel and bias, given dL/dy.

    Returns ``(dx, dkernel, dbias)``; ``dbias`` is always computed (it is only ``dy`` summed over
    N, OH and OW), whether or not the layer uses a bias.  A caller that needs only one of dx and
    dkernel says so (``input_gradient=False`` or ``kernel_gradient=False``) and gets None for
    the other: a transposed convolution uses this function's dx as its forward pass.
    """
    dy, x, kernel, (oh, ow) = validate_conv2d_backward_args(dy, x, kernel, strides, pads, dilation, groups)
    x_pad = pad_image(x, pads)
    dx_pad = np.zeros_like(x_pad)
    dkernel = np.zeros_like(kernel)
    dbias = dy.sum(axis=(0, 1, 2))

    for in_ch, out_ch in group_slices(x.shape[3], kernel.shape[3], groups):
        dy_group = dy[..., out_ch]
        offsets = kernel_offsets(x_pad, kernel.shape[:2], strides, dilation, (oh, ow))
        dx_offsets = kernel_offsets(dx_pad, kernel.shape[:2], strides, dilation, (oh, ow))
        for (p, q, window), (_, _, dx_window) in zip(offsets, dx_offsets):
            # dkernel[p,q,c,f] = sum over n,i,j of window[n,i,j,c] * dy[n,i,j,f]
            if kernel_gradient:
                dkernel[p, q, :, out_ch] = np.tensordot(window[..., in_ch], dy_group, axes=([0, 1, 2], [0, 1, 2]))
            # Each input cell the window touched receives k[p,q,c,:] . dy[n,i,j,:].  dx_window is
            # a view into dx_pad, so += adds into it; overlapping windows (stride < kernel) add up.
            if input_gradient:
                dx_window[..., in_ch] += dy_group @ kernel[p, q, :, out_ch].T

    return (crop_padding(dx_pad, pads) if input_gradient else None), (dkernel if kernel_gradient else None), dbias


def conv2d_forward_direct(x, kernel, bias, strides, pads, dilation, groups):
    """The formula as seven nested loops: one output number at a time.

    Far too slow for real work (pure Python), but it is the definition, word for word; the
    tests use it on tiny inputs to confirm the vectorised version above.
    """
    x, kernel, bias, (oh, ow) = validate_conv2d_args(x, kernel, bias, strides, pads, dilation, groups)
    x_pad = pad_image(x, pads)
    (sh, sw), (dh, dw) = strides, dilation
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    y = np.zeros((x.shape[0], oh, ow, filters), dtype=x.dtype)
    for n in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                for f in range(filters):
                    g = f // fg  # the group this filter belongs to
                    total = 0.0 if bias is None else bias[f]
                    for p in range(kh):
                        for q in range(kw):
                            for c in range(cg):
                                total += x_pad[n, i * sh + p * dh, j * sw + q * dw, g * cg + c] * kernel[p, q, c, f]
                    y[n, i, j, f] = total
    return y


# --- building blocks ---------------------------------------------------------------------


def pad_image(x, pads):
    """Surround each image with zeros: ``pads = ((top, bottom), (left, right))``."""
    (top, bottom), (left, right) = pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def crop_padding(x_pad, pads):
    """Undo :func:`pad_image`: keep the cells that came from the real image."""
    (top, bottom), (left, right) = pads
    height, width = x_pad.shape[1], x_pad.shape[2]
    return x_pad[:, top:height - bottom, left:width - right, :]


def group_slices(channels, filters, groups):
    """For each group, (its input-channel slice, its filter slice)."""
    cg, fg = channels // groups, filters // groups
    return [(slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)) for g in range(groups)]


def kernel_offsets(x_pad, kernel_hw, strides, dilation, out_hw):
    """Yield (p, q, window) for every kernel cell (p, q).

    ``window[n, i, j, c] = x_pad[n, i*sh + p*dh, j*sw + q*dw, c]``, i.e. the input each output cell
    (i, j) multiplies by kernel cell (p, q).  It is a strided *view* (no copy), so writing into a
    window of a gradient buffer writes into the buffer.
    """
    (sh, sw), (dh, dw), (oh, ow) = strides, dilation, out_hw
    for p in range(kernel_hw[0]):
        for q in range(kernel_hw[1]):
            top, left = p * dh, q * dw
            rows = slice(top, top + (oh - 1) * sh + 1, sh)
            cols = slice(left, left + (ow - 1) * sw + 1, sw)
            yield p, q, x_pad[:, rows, cols, :]
