"""Checks of the tiled convolution kernels (kernel (TH, TW, KH, KW, C, F))."""
from ...geometry import output_hw
from .conv import as_float_array, padding_pairs, positive_pair


def check_tiled_args(x, kernel, bias, strides, pads):
    """Check every argument; return ``(x, kernel, bias, strides, pads, (OH, OW))``."""
    x = as_float_array(x, "x")
    kernel = as_float_array(kernel, "kernel")
    if x.ndim != 4 or min(x.shape) < 1:
        raise ValueError(f"tiled_conv2d: expected non-empty x of rank 4 (N, H, W, C), got shape {x.shape}")
    if kernel.ndim != 6 or min(kernel.shape) < 1 or kernel.shape[4] != x.shape[3]:
        raise ValueError(f"tiled_conv2d: expected kernel of shape (TH, TW, KH, KW, {x.shape[3]}, F), "
                         f"got {kernel.shape}")
    if kernel.dtype != x.dtype:
        raise ValueError(f"tiled_conv2d: kernel dtype must match x ({x.dtype}), got {kernel.dtype}")
    if bias is not None:
        bias = as_float_array(bias, "bias")
        if bias.shape != (kernel.shape[5],) or bias.dtype != x.dtype:
            raise ValueError(f"tiled_conv2d: expected bias of shape ({kernel.shape[5]},) and dtype {x.dtype}, "
                             f"got {bias.shape} {bias.dtype}")
    strides = positive_pair(strides, "strides")
    pads = padding_pairs(pads)
    out_hw = output_hw(x.shape[1:3], kernel.shape[2:4], strides, pads)
    if min(out_hw) < 1:
        raise ValueError(f"tiled_conv2d: output size would be {out_hw} (< 1): input {x.shape[1:3]} with padding "
                         f"{pads} is smaller than the kernel {kernel.shape[2:4]}")
    return x, kernel, bias, strides, pads, out_hw


def check_tiled_gradient(dy, x, kernel, out_hw):
    dy = as_float_array(dy, "dy")
    expected = (x.shape[0], *out_hw, kernel.shape[5])
    if dy.shape != expected or dy.dtype != x.dtype:
        raise ValueError(f"tiled_conv2d backward: expected dy of shape {expected} and dtype {x.dtype}, "
                         f"got {dy.shape} {dy.dtype}")
    return dy


def check_tiled_backward_args(dy, x, kernel, strides, pads):
    """The backward's arguments; return ``(dy, x, kernel, strides, pads, (OH, OW))``."""
    x, kernel, _, strides, pads, out_hw = check_tiled_args(x, kernel, None, strides, pads)
    return check_tiled_gradient(dy, x, kernel, out_hw), x, kernel, strides, pads, out_hw
