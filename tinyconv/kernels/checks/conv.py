"""Checks of the 2-D convolution kernels, and the small argument readers the other
convolution-like kernels (``conv3d``, ``local``, ``tiled``) share with them."""
import operator

import numpy as np

from ...geometry import output_hw


def validate_conv2d_args(x, kernel, bias, strides, pads, dilation, groups):
    """Check every argument of a conv2d kernel; return ``(x, kernel, bias, (OH, OW))``.

    Raises ValueError naming what was expected and what was received.  The compiled kernels
    run without bounds checks, so nothing may reach them unchecked.
    """
    x = as_float_array(x, "x")
    kernel = as_float_array(kernel, "kernel")
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected x of rank 4 (N, H, W, C), got shape {x.shape}")
    if kernel.ndim != 4:
        raise ValueError(f"conv2d: expected kernel of rank 4 (KH, KW, C // groups, F), got shape {kernel.shape}")
    if kernel.dtype != x.dtype:
        raise ValueError(f"conv2d: kernel dtype must match x ({x.dtype}), got {kernel.dtype}")

    groups = positive_int(groups, "groups")
    channels = x.shape[3]
    kh, kw, kernel_channels, filters = kernel.shape
    if min(x.shape[1:]) < 1 or min(kernel.shape) < 1:
        raise ValueError(f"conv2d: empty x {x.shape} or kernel {kernel.shape} (H, W, C, KH, KW, F must be >= 1)")
    if channels % groups != 0:
        raise ValueError(f"conv2d: input channels ({channels}) must be divisible by groups ({groups})")
    if filters % groups != 0:
        raise ValueError(f"conv2d: filters ({filters}) must be divisible by groups ({groups})")
    if kernel_channels * groups != channels:
        raise ValueError(
            f"conv2d: expected kernel with {channels // groups} input channels (C={channels} / groups={groups}) "
            f"in axis 2, got kernel shape {kernel.shape}"
        )

    if bias is not None:
        bias = as_float_array(bias, "bias")
        if bias.shape != (filters,):
            raise ValueError(f"conv2d: expected bias of shape ({filters},), got {bias.shape}")
        if bias.dtype != x.dtype:
            raise ValueError(f"conv2d: bias dtype must match x ({x.dtype}), got {bias.dtype}")

    strides = positive_pair(strides, "strides")
    dilation = positive_pair(dilation, "dilation")
    pads = padding_pairs(pads)
    out_hw = output_hw(x.shape[1:3], (kh, kw), strides, pads, dilation)
    if min(out_hw) < 1:
        raise ValueError(
            f"conv2d: output size would be {out_hw} (< 1): input {x.shape[1:3]} with padding {pads} is smaller "
            f"than the dilated kernel {(kh, kw)} x dilation {dilation}"
        )
    return x, kernel, bias, out_hw


def validate_upstream_gradient(dy, x, kernel, out_hw):
    """dy must be shaped like the forward output and share x's dtype."""
    dy = as_float_array(dy, "dy")
    expected = (x.shape[0], out_hw[0], out_hw[1], kernel.shape[3])
    if dy.shape != expected:
        raise ValueError(f"conv2d backward: expected dy of shape {expected}, got {dy.shape}")
    if dy.dtype != x.dtype:
        raise ValueError(f"conv2d backward: dy dtype must match x ({x.dtype}), got {dy.dtype}")
    return dy


def validate_conv2d_backward_args(dy, x, kernel, strides, pads, dilation, groups):
    """The backward's arguments: the forward's, then dy against them; return ``(dy, x, kernel, (OH, OW))``."""
    x, kernel, _, out_hw = validate_conv2d_args(x, kernel, None, strides, pads, dilation, groups)
    return validate_upstream_gradient(dy, x, kernel, out_hw), x, kernel, out_hw


# --- argument readers (their messages name conv2d, whichever convolution-like kernel asks) ---


def as_float_array(a, name):
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"conv2d: expected {name} of dtype float32 or float64, got {a.dtype}")
    return a


def integer(value, name):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"conv2d: expected an integer for {name}, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"conv2d: expected an integer for {name}, got {value!r}") from None


def positive_int(value, name):
    value = integer(value, name)
    if value < 1:
        raise ValueError(f"conv2d: expected {name} >= 1, got {value}")
    return value


def positive_pair(value, name):
    try:
        first, second = value
    except (TypeError, ValueError):
        raise ValueError(f"conv2d: expected {name} as a pair (height, width), got {value!r}") from None
    return positive_int(first, name), positive_int(second, name)


def padding_pairs(pads):
    try:
        (top, bottom), (left, right) = pads
    except (TypeError, ValueError):
        raise ValueError(f"conv2d: expected pads as ((top, bottom), (left, right)), got {pads!r}") from None
    resolved = tuple(integer(p, "pads") for p in (top, bottom, left, right))
    if min(resolved) < 0:
        raise ValueError(f"conv2d: expected non-negative pads, got {pads!r}")
    top, bottom, left, right = resolved
    return (top, bottom), (left, right)
