"""Min, Lp, log-sum-exp and weighted (Gaussian) pooling for the GPU backend.

Same signatures and formulas as ``kernels/reference/pooling_variants.py``; padded cells never take
part.  Every forward gathers the windows (``_windows``), padded with the value that leaves the
statistic unchanged - 0 for an Lp sum, -inf for a log-sum-exp, weight 0 for a weighted mean -
and reduces over the window axes.  Every backward forms the gradient of each window entry,

    Lp:        dy * |y|^(1-p)          times x_i^(p-1)  (the x factor is per cell, applied last)
    LSE:       dy * exp(beta (x_i - y))                 (the window's softmax)
    weighted:  dy * g_i / sum_j g_j                     (the normalised weights)

and sends it back with ``col2im``: each input cell gathers the entries that read it, no atomics.
Min pooling's backward is max pooling's (the layer passes the argmin to ``max_pool2d_backward``).
"""
import numpy as np

from ..checks.pooling import check_gradient_shape, check_input_shape, check_pool_arguments
from ..checks.pooling_variants import check_backward_from_forward, check_positive_number
from ..reference.pooling_variants import gaussian_window
from ._common import check_arrays, device_table, shape_proxy, xp
from ._windows import col2im, extreme_pool, im2col, pad_spatial, spread

WINDOW_AXES = (3, 4)          # (N, OH, OW, PH, PW, C): the axes of one window


def _windows(x, pool, strides, pads, out_hw, fill):
    """(N, OH, OW, PH, PW, C): every window of x padded with ``fill``."""
    return im2col(pad_spatial(x, pads, fill), pool, strides, (1, 1), out_hw)


def _check_backward(where, dy, x, y, pool_size, strides, pads):
    check_arrays(where, dy=dy, x=x, y=y)
    return check_backward_from_forward(shape_proxy(dy), shape_proxy(x), shape_proxy(y), pool_size, strides, pads)


def _send_back(dpatches, x_shape, pool, strides, pads):
    return col2im(dpatches, x_shape[1:3], pool, strides, pads, (1, 1))


# --- min ---------------------------------------------------------------------------------------
def min_pool2d_forward(x, pool_size, strides, pads):
    """y = min over each window and argmin = flat h*W + w of the winner (first on ties)."""
    check_arrays("gpu min_pool2d_forward", x=x)
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    y, argmin = extreme_pool(x, pool, strides, pads, out_hw, "argmin")
    return y, argmin.astype(np.int64, copy=False)


# --- Lp ----------------------------------------------------------------------------------------
def lp_pool2d_forward(x, p, pool_size, strides, pads):
    """y = sign(s) |s|^(1/p),  s = sum over the window of x^p."""
    check_arrays("gpu lp_pool2d_forward", x=x)
    p = check_positive_number(p, "p")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    power_sum = (_windows(x, pool, strides, pads, out_hw, 0.0) ** p).sum(axis=WINDOW_AXES)
    module = xp()
    return (module.sign(power_sum) * module.abs(power_sum) ** (1.0 / p)).astype(x.dtype, copy=False)


def lp_pool2d_backward(dy, x, y, p, pool_size, strides, pads):
    """dL/dx_i = x_i^(p-1) * sum over the windows w covering i of dy_w |y_w|^(1-p)  (0 where y_w = 0).

    A cell that no window with y_w != 0 covers gets 0, not 0 * x_i^(p-1) (NaN for an infinite or
    NaN x_i^(p-1)), as in the reference; a NaN y_w is not 0, so it passes NaN on."""
    p = check_positive_number(p, "p")
    pool, strides, pads, _ = _check_backward("gpu lp_pool2d_backward", dy, x, y, pool_size, strides, pads)
    module = xp()
    passes = y != 0
    scale = module.where(passes, dy * module.abs(module.where(passes, y, 1)) ** (1.0 - p), 0).astype(dy.dtype)
    reached = spread(passes.astype(dy.dtype), x.shape[1:3], pool, strides, pads) > 0
    dx = module.where(reached, x ** (p - 1) * spread(scale, x.shape[1:3], pool, strides, pads), 0)
    return dx.astype(x.dtype, copy=False)


# --- log-sum-exp -------------------------------------------------------------------------------
def logsumexp_pool2d_forward(x, beta, pool_size, strides, pads):
    """y = m + (1/beta) log sum exp(beta (x - m)), m the window's max (padding: -inf, exp(-inf) = 0);
    an infinite m is replaced by 0, so +inf gives inf and a window of -inf gives -inf."""
    check_arrays("gpu logsumexp_pool2d_forward", x=x)
    beta = check_positive_number(beta, "beta")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    module = xp()
    windows = _windows(x, pool, strides, pads, out_hw, -np.inf)
    peak = windows.max(axis=WINDOW_AXES)
    peak = module.where(module.isinf(peak), 0, peak).astype(x.dtype, copy=False)   # inf - inf is NaN
    total = module.exp(beta * (windows - peak[:, :, :, None, None, :])).sum(axis=WINDOW_AXES)
    return (peak + module.log(total) / beta).astype(x.dtype, copy=False)


def logsumexp_pool2d_backward(dy, x, y, beta, pool_size, strides, pads):
    """dL/dx_i = sum over the windows w covering i of dy_w exp(beta (x_i - y_w))."""
    beta = check_positive_number(beta, "beta")
    pool, strides, pads, out_hw = _check_backward("gpu logsumexp_pool2d_backward", dy, x, y, pool_size, strides,
                                                  pads)
    windows = _windows(x, pool, strides, pads, out_hw, -np.inf)
    softmax = xp().exp(beta * (windows - y[:, :, :, None, None, :]))          # padded entries: 0
    dx = _send_back(softmax * dy[:, :, :, None, None, :], x.shape, pool, strides, pads)
    return dx.astype(x.dtype, copy=False)


# --- weighted (Gaussian) ----------------------------------------------------------------------
def window_weights(out_hw, pool, strides, pads, input_hw, sigma):
    """weights[oh, ow, p, q] = g[p, q] / (sum of g over the real cells), 0 on padding cells."""
    real = []
    for out, size, stride, (before, _), length in zip(out_hw, pool, strides, pads, input_hw):
        position = np.arange(out)[:, None] * stride + np.arange(size)[None, :] - before
        real.append((position >= 0) & (position < length))                     # (O, K) per axis
    weights = gaussian_window(pool, sigma)[None, None] * real[0][:, None, :, None] * real[1][None, :, None, :]
    return weights / weights.sum(axis=(2, 3), keepdims=True)


def _weights(out_hw, pool, strides, pads, input_hw, sigma, dtype):
    table = device_table(window_weights, tuple(out_hw), pool, strides, pads, tuple(input_hw), sigma)
    return table[None, :, :, :, :, None].astype(dtype, copy=False)              # (1, OH, OW, PH, PW, 1)


def weighted_pool2d_forward(x, sigma, pool_size, strides, pads):
    """y = sum_i g_i x_i / sum_i g_i over each window's real cells."""
    check_arrays("gpu weighted_pool2d_forward", x=x)
    sigma = check_positive_number(sigma, "sigma")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    weights = _weights(out_hw, pool, strides, pads, x.shape[1:3], sigma, x.dtype)
    return (_windows(x, pool, strides, pads, out_hw, 0.0) * weights).sum(axis=WINDOW_AXES)


def weighted_pool2d_backward(dy, input_shape, sigma, pool_size, strides, pads):
    """dL/dx_i = sum over the windows w covering i of dy_w g_i / sum_j g_j."""
    check_arrays("gpu weighted_pool2d_backward", dy=dy)
    sigma = check_positive_number(sigma, "sigma")
    input_shape = check_input_shape(input_shape)
    pool, strides, pads, out_hw = check_pool_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape(dy, input_shape, out_hw)
    weights = _weights(out_hw, pool, strides, pads, input_shape[1:3], sigma, dy.dtype)
    dx = _send_back(weights * dy[:, :, :, None, None, :], input_shape, pool, strides, pads)
    return dx.astype(dy.dtype, copy=False)
