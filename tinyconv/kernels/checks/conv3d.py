"""Checks of the 3-D convolution kernels (NDHWC, kernel (KD, KH, KW, C // groups, F))."""
from ...geometry import output_size
from .conv import as_float_array, integer, positive_int


def validate_conv3d_args(x, kernel, bias, strides, pads, dilation, groups):
    """Check every argument of a conv3d kernel; return ``(x, kernel, bias, (OD, OH, OW))``."""
    x = as_float_array(x, "x")
    kernel = as_float_array(kernel, "kernel")
    if x.ndim != 5:
        raise ValueError(f"conv3d: expected x of rank 5 (N, D, H, W, C), got shape {x.shape}")
    if kernel.ndim != 5:
        raise ValueError(f"conv3d: expected kernel of rank 5 (KD, KH, KW, C // groups, F), got shape {kernel.shape}")
    if kernel.dtype != x.dtype:
        raise ValueError(f"conv3d: kernel dtype must match x ({x.dtype}), got {kernel.dtype}")
    groups = positive_int(groups, "groups")
    channels, kernel_channels, filters = x.shape[4], kernel.shape[3], kernel.shape[4]
    if min(x.shape[1:]) < 1 or min(kernel.shape) < 1:
        raise ValueError(f"conv3d: empty x {x.shape} or kernel {kernel.shape}")
    if channels % groups or filters % groups:
        raise ValueError(f"conv3d: channels ({channels}) and filters ({filters}) must be divisible by "
                         f"groups ({groups})")
    if kernel_channels * groups != channels:
        raise ValueError(f"conv3d: expected kernel with {channels // groups} input channels "
                         f"(C={channels} / groups={groups}) in axis 3, got kernel shape {kernel.shape}")
    if bias is not None:
        bias = as_float_array(bias, "bias")
        if bias.shape != (filters,) or bias.dtype != x.dtype:
            raise ValueError(f"conv3d: expected bias of shape ({filters},) and dtype {x.dtype}, "
                             f"got {bias.shape} {bias.dtype}")
    strides = positive_triple(strides, "strides")
    dilation = positive_triple(dilation, "dilation")
    pads = padding_triples(pads)
    out_dhw = tuple(output_size(n, k, s, p[0], p[1], d)
                    for n, k, s, p, d in zip(x.shape[1:4], kernel.shape[:3], strides, pads, dilation))
    if min(out_dhw) < 1:
        raise ValueError(f"conv3d: output size would be {out_dhw} (< 1): input {x.shape[1:4]} with padding "
                         f"{pads} is smaller than the kernel {kernel.shape[:3]} dilated by {dilation}")
    return x, kernel, bias, out_dhw


def validate_conv3d_upstream_gradient(dy, x, kernel, out_dhw):
    """dy must be shaped like the forward output and share x's dtype."""
    dy = as_float_array(dy, "dy")
    expected = (x.shape[0],) + tuple(out_dhw) + (kernel.shape[4],)
    if dy.shape != expected:
        raise ValueError(f"conv3d backward: expected dy of shape {expected}, got {dy.shape}")
    if dy.dtype != x.dtype:
        raise ValueError(f"conv3d backward: dy dtype must match x ({x.dtype}), got {dy.dtype}")
    return dy


def validate_conv3d_backward_args(dy, x, kernel, strides, pads, dilation, groups):
    """The backward's arguments: the forward's, then dy against them; return ``(dy, x, kernel, (OD, OH, OW))``."""
    x, kernel, _, out_dhw = validate_conv3d_args(x, kernel, None, strides, pads, dilation, groups)
    return validate_conv3d_upstream_gradient(dy, x, kernel, out_dhw), x, kernel, out_dhw


def positive_triple(value, name):
    try:
        values = tuple(value)
    except TypeError:
        values = ()
    if len(values) != 3:
        raise ValueError(f"conv3d: expected {name} as a triple (depth, height, width), got {value!r}")
    return tuple(positive_int(v, name) for v in values)


def padding_triples(pads):
    try:
        resolved = tuple((integer(before, "pads"), integer(after, "pads")) for before, after in pads)
    except (TypeError, ValueError):
        resolved = ()
    if len(resolved) != 3:
        raise ValueError(f"conv3d: expected pads as ((front, back), (top, bottom), (left, right)), got {pads!r}")
    if min(min(p) for p in resolved) < 0:
        raise ValueError(f"conv3d: expected non-negative pads, got {pads!r}")
    return resolved
