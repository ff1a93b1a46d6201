"""Checks of the local response normalisation kernels (channels last)."""
import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def check_float_array(x, what, kernel):
    if not isinstance(x, np.ndarray) or x.dtype not in FLOAT_DTYPES:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{kernel}: expected {what} as a float32 or float64 NumPy array, got {got}")
    if x.ndim < 1 or x.size == 0:
        raise ValueError(f"{kernel}: expected {what} of shape (..., C) with no empty axis, got shape {x.shape}")


def check_lrn_arguments(x, depth_radius, bias, alpha, beta, kernel="lrn_forward"):
    check_float_array(x, "x", kernel)
    if not isinstance(depth_radius, (int, np.integer)) or depth_radius < 0:
        raise ValueError(f"{kernel}: depth_radius must be an int >= 0, got {depth_radius!r}")
    if not (bias > 0 and alpha >= 0):
        raise ValueError(f"{kernel}: expected bias > 0 and alpha >= 0 (so the denominator stays positive), "
                         f"got bias={bias!r}, alpha={alpha!r}")


def check_lrn_backward_arguments(dy, x, denom, depth_radius, bias, alpha, beta):
    kernel = "lrn_backward"
    check_lrn_arguments(x, depth_radius, bias, alpha, beta, kernel)
    for array, what in ((dy, "dy"), (denom, "denom")):
        if not isinstance(array, np.ndarray) or array.shape != x.shape:
            got = array.shape if isinstance(array, np.ndarray) else type(array).__name__
            raise ValueError(f"{kernel}: expected {what} of x's shape {x.shape}, got {got}")
        if array.dtype != x.dtype:
            raise TypeError(f"{kernel}: expected {what} with x's dtype {x.dtype}, got {array.dtype}")
