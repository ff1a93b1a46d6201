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

from ..checks.lrn import check_lrn_arguments, check_lrn_backward_arguments


def window_sum(values, depth_radius):
    """sum_{j = c-r .. c+r} values_j along the last axis, the window clipped at both ends.

    Summed window by window, straight from the formula: a running (cumulative) sum would be
    quicker, but it carries one inf or NaN into every later channel (inf - inf is NaN), where
    the formula keeps it in the windows that hold it.
    """
    channels = values.shape[-1]
    sums = np.empty(values.shape, dtype=values.dtype)
    for c in range(channels):
        lower, upper = max(c - depth_radius, 0), min(c + depth_radius, channels - 1)
        sums[..., c] = values[..., lower:upper + 1].sum(axis=-1)
    return sums


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
