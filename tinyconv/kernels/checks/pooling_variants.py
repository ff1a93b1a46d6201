"""Checks of the min, Lp, log-sum-exp and weighted pooling kernels (the 2-D pooling geometry)."""
import numpy as np

from .pooling import check_float_array, check_gradient_shape, check_input_shape, check_pool_arguments


def check_positive_number(value, what):
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"pooling: expected {what} to be a positive number, got {value!r}")
    return value


def check_same_shape(array, like, what):
    check_float_array(array, what)
    if array.shape != like.shape or array.dtype != like.dtype:
        raise ValueError(f"pooling backward: expected {what} of shape {like.shape} and dtype {like.dtype}, "
                         f"got {array.shape} {array.dtype}")


def check_backward_from_forward(dy, x, y, pool_size, strides, pads):
    """For backwards that need the forward's input and output: shapes must agree."""
    check_float_array(x, "x")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    check_float_array(dy, "dy")
    check_gradient_shape(dy, x.shape, out_hw)
    check_same_shape(y, dy, "y")
    if x.dtype != dy.dtype:
        raise ValueError(f"pooling backward: expected x and dy of one dtype, got {x.dtype} and {dy.dtype}")
    return pool, strides, pads, out_hw


def check_parametric_pool_forward(x, value, what, pool_size, strides, pads):
    """Forward of a pool with a parameter (p, beta, sigma); return (value, pool, strides, pads, (OH, OW))."""
    check_float_array(x, "x")
    value = check_positive_number(value, what)
    return (value, *check_pool_arguments(x.shape, pool_size, strides, pads))


def check_parametric_pool_backward(dy, x, y, value, what, pool_size, strides, pads):
    """Backward from the forward's x and y; return (value, pool, strides, pads, (OH, OW))."""
    value = check_positive_number(value, what)
    return (value, *check_backward_from_forward(dy, x, y, pool_size, strides, pads))


def check_weighted_pool_backward(dy, input_shape, sigma, pool_size, strides, pads):
    """Backward of weighted pooling; return (sigma, input_shape, pool, strides, pads, (OH, OW))."""
    check_float_array(dy, "dy")
    sigma = check_positive_number(sigma, "sigma")
    input_shape = check_input_shape(input_shape)
    pool, strides, pads, out_hw = check_pool_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape(dy, input_shape, out_hw)
    return sigma, input_shape, pool, strides, pads, out_hw
