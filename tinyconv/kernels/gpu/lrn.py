"""Local response normalisation for the GPU backend: the channel-window sum as a matrix product.

Same signature and formulas as ``kernels/reference/lrn.py`` (channels last):

    S_c = sum_{|j - c| <= r} x_j^2,    D_c = bias + alpha * S_c,    y_c = x_c * D_c^(-beta)

The window sum over channels adds 2r + 1 shifted copies of the channel axis (zero-padded at
both ends), one elementwise add per offset over all positions.  A product with a 0/1 band matrix
would be one GEMM, but its zeros times an inf give NaN in every channel; the shifted sums keep an
inf or NaN in the windows that hold it, as the reference does.  The window is symmetric, so the
backward's window sum (x_j is in c's window exactly when c is in j's) is the same sum.
"""
from ..checks.lrn import check_lrn_arguments, check_lrn_backward_arguments
from ._common import check_arrays, shape_proxy, xp


def _window_sum(values, depth_radius):
    """sum_{j = c-r .. c+r, 0 <= j < C} values_j along the last axis."""
    channels = values.shape[-1]
    reach = min(int(depth_radius), channels - 1)      # offsets beyond the channel axis add nothing
    padded = xp().pad(values, ((0, 0),) * (values.ndim - 1) + ((reach, reach),))
    sums = padded[..., 0:channels].copy()
    for offset in range(1, 2 * reach + 1):
        sums += padded[..., offset:offset + channels]
    return sums


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
