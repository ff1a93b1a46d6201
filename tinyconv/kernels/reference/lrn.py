"""Local response normalisation (AlexNet, 2012) in plain NumPy, the oracle for ``kernels/cpu/lrn.pyx``.

Each activation is divided by the energy of its neighbours *across channels* at the same
position ("lateral inhibition": a strongly firing channel damps the channels next to it).
With r = depth_radius and the channels on the last axis (TensorFlow's
``tf.nn.local_response_normalization``):

    S_c = sum_{j = c-r .. c+r, 0 <= j < C} x_j^2
    D_c = bias + alpha * S_c
    y_c = x_c * D_c^(-beta)

PyTorch's ``LocalResponseNorm(size, alpha, beta, k)`` averages instead of summing: it is the
same function with size = 2r + 1, alpha_torch = alpha * size and k = bias.
"""
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


def window_sum(values, depth_radius):
    """sum_{j = c-r .. c+r} values_j along the last axis, the window clipped at both ends.

    A running (cumulative) sum: window(c) = cumsum(c + r) - cumsum(c - r - 1).
    """
    channels = values.shape[-1]
    cumsum = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, axis=-1)], axis=-1)
    c = np.arange(channels)
    upper = np.minimum(c + depth_radius, channels - 1) + 1
    lower = np.maximum(c - depth_radius, 0)
    return cumsum[..., upper] - cumsum[..., lower]


def lrn_forward(x, depth_radius, bias, alpha, beta):
    """y_c = x_c / (bias + alpha * sum_{|j-c| <= r} x_j^2)^beta; returns (y, denom) with denom = D."""
    check_lrn_arguments(x, depth_radius, bias, alpha, beta)
    x64 = x.astype(np.float64)
    squares_nearby = window_sum(x64 * x64, depth_radius)    # S_c
    denom = bias + alpha * squares_nearby                   # D_c
    y = x64 * denom ** -beta
    return y.astype(x.dtype), denom.astype(x.dtype)


def lrn_backward(dy, x, denom, depth_radius, bias, alpha, beta):
    """dL/dx of local response normalisation.  Step by step:

        y_c = x_c * D_c^(-beta)              direct path:  dy_c * D_c^(-beta)
        D_c = bias + alpha * S_c             dD_c = dy_c * x_c * (-beta) * D_c^(-beta-1)
        S_c = sum_{|j-c| <= r} x_j^2         dS_c = alpha * dD_c
                                             dx_j += 2 x_j * sum_{|c-j| <= r} dS_c

    (x_j is in the window of c exactly when c is in the window of j, so the last sum is the same
    window sum as the forward's.)
    """
    check_lrn_backward_arguments(dy, x, denom, depth_radius, bias, alpha, beta)
    x64, dy64, denom64 = x.astype(np.float64), dy.astype(np.float64), denom.astype(np.float64)
    direct = dy64 * denom64 ** -beta
    d_denom = dy64 * x64 * (-beta) * denom64 ** (-beta - 1)
    d_squares = alpha * d_denom
    through_neighbours = 2 * x64 * window_sum(d_squares, depth_radius)
    return (direct + through_neighbours).astype(x.dtype)
