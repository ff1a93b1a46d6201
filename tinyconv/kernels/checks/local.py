"""Checks of the locally connected 2-D kernels (kernel (OH*OW, KH*KW*C, F), no padding)."""
from ...geometry import locally_connected_output_hw
from .conv import as_float_array, positive_pair


def check_local_args(x, kernel, bias, kernel_size, strides, out_hw):
    """Check every argument; return them normalised.  The compiled loops trust these checks."""
    x = as_float_array(x, "x")
    kernel = as_float_array(kernel, "kernel")
    if x.ndim != 4 or min(x.shape) < 1:
        raise ValueError(f"locally_connected2d: expected non-empty x of rank 4 (N, H, W, C), got shape {x.shape}")
    kernel_size = positive_pair(kernel_size, "kernel_size")
    strides = positive_pair(strides, "strides")
    out_hw = positive_pair(out_hw, "out_hw")
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
        bias = as_float_array(bias, "bias")
        expected = (*out_hw, kernel.shape[2])
        if bias.shape != expected or bias.dtype != x.dtype:
            raise ValueError(f"locally_connected2d: expected bias of shape {expected} and dtype {x.dtype}, "
                             f"got {bias.shape} {bias.dtype}")
    return x, kernel, bias, kernel_size, strides, out_hw


def check_local_gradient(dy, x, kernel, out_hw):
    dy = as_float_array(dy, "dy")
    expected = (x.shape[0], *out_hw, kernel.shape[2])
    if dy.shape != expected or dy.dtype != x.dtype:
        raise ValueError(f"locally_connected2d backward: expected dy of shape {expected} and dtype {x.dtype}, "
                         f"got {dy.shape} {dy.dtype}")
    return dy


def check_local_backward_args(dy, x, kernel, kernel_size, strides, out_hw):
    """The backward's arguments; return ``(dy, x, kernel, kernel_size, strides, out_hw)``."""
    x, kernel, _, kernel_size, strides, out_hw = check_local_args(x, kernel, None, kernel_size, strides, out_hw)
    return check_local_gradient(dy, x, kernel, out_hw), x, kernel, kernel_size, strides, out_hw
