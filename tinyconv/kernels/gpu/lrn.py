"""Local response normalisation for the GPU backend: the channel-window sum as a matrix product.

Same signature and formulas as ``kernels/reference/lrn.py`` (channels last):

    S_c = sum_{|j - c| <= r} x_j^2,    D_c = bias + alpha * S_c,    y_c = x_c * D_c^(-beta)

The window sum over channels is a product with the C x C band matrix ``band[j, c] = 1 if
|j - c| <= r``: S = (x * x) @ band, one GEMM over all positions.  The band is symmetric, so the
backward's window sum (x_j is in c's window exactly when c is in j's) is the same product.
"""
import numpy as np

from ..checks.lrn import check_lrn_arguments, check_lrn_backward_arguments
from ._common import check_arrays, device_table, shape_proxy


def channel_band(channels, depth_radius):
    """band[j, c] = 1 where |j - c| <= depth_radius: (values @ band)[c] sums c's channel window."""
    c = np.arange(channels)
    return (np.abs(c[:, None] - c[None, :]) <= depth_radius).astype(np.float64)


def _window_sum(values, depth_radius):
    band = device_table(channel_band, values.shape[-1], int(depth_radius)).astype(values.dtype, copy=False)
    return values @ band


def lrn_forward(x, depth_radius, bias, alpha, beta):
    """(y, denom): y_c = x_c / (bias + alpha * sum_{|j-c| <= r} x_j^2)^beta, denom = that bracket."""
    check_arrays("gpu lrn_forward", x=x)
    check_lrn_arguments(shape_proxy(x), depth_radius, bias, alpha, beta)
    denom = bias + alpha * _window_sum(x * x, depth_radius)
    return (x * denom ** -beta).astype(x.dtype, copy=False), denom.astype(x.dtype, copy=False)


def lrn_backward(dy, x, denom, depth_radius, bias, alpha, beta):
    """dL/dx = dy D^(-beta) + 2 x * window_sum(alpha * dy * x * (-beta) * D^(-beta-1))."""
    check_arrays("gpu lrn_backward", dy=dy, x=x, denom=denom)
    check_lrn_backward_arguments(shape_proxy(dy), shape_proxy(x), shape_proxy(denom), depth_radius, bias, alpha,
                                 beta)
    direct = dy * denom ** -beta
    d_squares = alpha * dy * x * (-beta) * denom ** (-beta - 1)
    return (direct + 2 * x * _window_sum(d_squares, depth_radius)).astype(x.dtype, copy=False)
