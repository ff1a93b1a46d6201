"""Checks of the nearest and bilinear up-sampling kernels (NHWC, integer factors)."""
import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def check_float_array(array, what, ndim=4):
    if not isinstance(array, np.ndarray) or array.dtype not in FLOAT_DTYPES:
        got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise TypeError(f"upsampling: expected {what} as a float32 or float64 NumPy array, got {got}")
    if array.ndim != ndim:
        raise ValueError(f"upsampling: expected a 4-D {what} (N, H, W, C), got shape {array.shape}")


def check_size(size):
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"upsampling: expected size as two positive ints (rows, columns), got {size!r}")
    return size


def check_forward_arguments(x, size):
    """x must be a float NHWC array; return the factors (sh, sw)."""
    check_float_array(x, "x")
    return check_size(size)


def check_backward_arguments(dy, input_shape):
    """dy must be the up-sampled shape of input_shape; return (input_shape, size)."""
    check_float_array(dy, "dy")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"upsampling backward: expected input_shape (N, H, W, C) of positive ints, "
                         f"got {input_shape!r}")
    n, height, width, channels = shape
    out_n, out_h, out_w, out_c = dy.shape
    if (out_n, out_c) != (n, channels) or out_h % height or out_w % width or min(out_h, out_w) < 1:
        raise ValueError(f"upsampling backward: expected dy of shape (N={n}, a multiple of {height}, "
                         f"a multiple of {width}, C={channels}), got {dy.shape}")
    return shape, (out_h // height, out_w // width)
