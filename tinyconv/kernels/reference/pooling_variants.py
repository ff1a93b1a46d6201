"""Pooling functions beyond max and mean (NHWC, plain NumPy); oracle for ``cpu/pooling_variants.pyx``.

Goodfellow et al. (ch. 9) list the summary statistics a pool may compute over a window; the
course adds min pooling.  With the window geometry of ``pooling.py`` (padded cells dropped):

    min pooling:         y = min_i x_i                       (argmin kept for the backward)
    Lp pooling:          y = (sum_i x_i^p)^(1/p)             (PyTorch's LPPool2d; p=2 is the L2 norm)
    log-sum-exp pooling: y = (1/beta) log sum_i exp(beta x_i)   (a soft max: beta -> inf gives max)
    weighted pooling:    y = sum_i g_i x_i / sum_i g_i,  g_i = exp(-r_i^2 / (2 sigma^2)),
                         r_i = distance of cell i from the centre of its window

Their backwards:

    min:       route dy to the cell that won the min (the same routing as max pooling, so
               the layer reuses ``max_pool2d_backward`` with the argmin);
    Lp:        dy/dx_i = x_i^(p-1) * s^(1/p - 1),  s = sum_i x_i^p   (0 where s = 0);
    LSE:       dy/dx_i = exp(beta (x_i - y)), the softmax of beta*x over the window;
    weighted:  dy/dx_i = g_i / sum_j g_j, the weights themselves (the pool is linear).

For Lp pooling with an odd or fractional p and negative inputs, s can be negative; as PyTorch
does, y = sign(s) |s|^(1/p).  Padding: a padded cell contributes 0 to an Lp sum, exp(-inf) = 0
to a log-sum-exp and is excluded from a weighted mean, so "excluded" is the one rule for all.
"""
import numpy as np

from ..checks.pooling import check_pool_forward
from ..checks.pooling_variants import (check_parametric_pool_backward, check_parametric_pool_forward,
                                       check_weighted_pool_backward)
from .pooling import windows


def _cells(window):
    """(N, wh, ww, C) -> (N, wh*ww, C): the window's cells in row-major order."""
    n, win_h, win_w, channels = window.shape
    return window.reshape(n, win_h * win_w, channels)


# --------------------------------------------------------------------------------------------
# Min pooling
# --------------------------------------------------------------------------------------------
def min_pool2d_forward(x, pool_size, strides, pads):
    """y = min over each window and ``argmin`` = flat h*W + w of the winner (first on ties).

    The backward is max pooling's: ``max_pool2d_backward(dy, argmin, input_shape)``.
    """
    pool, strides, pads, out_hw = check_pool_forward(x, pool_size, strides, pads)
    n, height, width, channels = x.shape
    y = np.empty((n, *out_hw, channels), dtype=x.dtype)
    argmin = np.empty((n, *out_hw, channels), dtype=np.int64)
    for oh, ow, rows, cols in windows((height, width), out_hw, pool, strides, pads):
        cells = _cells(x[:, rows, cols, :])
        best = cells.argmin(axis=1)                        # (N, C)
        y[:, oh, ow, :] = np.take_along_axis(cells, best[:, None, :], axis=1)[:, 0, :]
        win_w = cols.stop - cols.start
        argmin[:, oh, ow, :] = (rows.start + best // win_w) * width + cols.start + best % win_w
    return y, argmin


# --------------------------------------------------------------------------------------------
# Lp pooling
# --------------------------------------------------------------------------------------------
def signed_root(s, p):
    """sign(s) |s|^(1/p): the p-th root, defined for a negative sum as PyTorch does."""
    return np.sign(s) * np.abs(s) ** (1.0 / p)


def lp_pool2d_forward(x, p, pool_size, strides, pads):
    """y = (sum over the window of x^p)^(1/p)."""
    p, pool, strides, pads, out_hw = check_parametric_pool_forward(x, p, "p", pool_size, strides, pads)
    y = np.empty((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    for oh, ow, rows, cols in windows(x.shape[1:3], out_hw, pool, strides, pads):
        power_sum = np.sum(x[:, rows, cols, :] ** p, axis=(1, 2))
        y[:, oh, ow, :] = signed_root(power_sum, p)
    return y


def lp_pool2d_backward(dy, x, y, p, pool_size, strides, pads):
    """dL/dx_i = dy * x_i^(p-1) * s^(1/p - 1) with s = sum x^p = y^p; 0 where s = 0."""
    p, pool, strides, pads, out_hw = check_parametric_pool_backward(dy, x, y, p, "p", pool_size, strides, pads)
    # d/ds of sign(s)|s|^(1/p) is (1/p)|s|^(1/p-1) = (1/p)|y|^(1-p); times d s/d x_i = p x_i^(p-1).
    # A window with y = 0 passes nothing back (not even 0 * x_i^(p-1), which is NaN for
    # x_i = 0 and p < 1); a NaN y is not 0, so it passes NaN on.
    passes = y != 0
    scale = (dy * np.abs(np.where(passes, y, 1)) ** (1.0 - p)).astype(dy.dtype)
    dx = np.zeros_like(x)
    for oh, ow, rows, cols in windows(x.shape[1:3], out_hw, pool, strides, pads):
        share = x[:, rows, cols, :] ** (p - 1) * scale[:, oh, ow, None, None, :]
        dx[:, rows, cols, :] += np.where(passes[:, oh, ow, None, None, :], share, 0)
    return dx


# --------------------------------------------------------------------------------------------
# Log-sum-exp pooling
# --------------------------------------------------------------------------------------------
def logsumexp_pool2d_forward(x, beta, pool_size, strides, pads):
    """y = (1/beta) log sum exp(beta x), computed as m + (1/beta) log sum exp(beta (x - m)),
    m = the window's max, so exp never overflows.

    An infinite m is replaced by 0 (inf - inf would be NaN): a window holding +inf then gives
    log(inf) = inf, and one of -inf only log(0) = -inf, the exact answers."""
    beta, pool, strides, pads, out_hw = check_parametric_pool_forward(x, beta, "beta", pool_size, strides, pads)
    y = np.empty((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    for oh, ow, rows, cols in windows(x.shape[1:3], out_hw, pool, strides, pads):
        window = x[:, rows, cols, :]
        peak = window.max(axis=(1, 2))
        peak = np.where(np.isinf(peak), 0, peak).astype(x.dtype)
        total = np.exp(beta * (window - peak[:, None, None, :])).sum(axis=(1, 2))
        y[:, oh, ow, :] = peak + np.log(total) / beta
    return y


def logsumexp_pool2d_backward(dy, x, y, beta, pool_size, strides, pads):
    """dL/dx_i = dy * exp(beta (x_i - y)): the window's softmax weights route the gradient."""
    beta, pool, strides, pads, out_hw = check_parametric_pool_backward(dy, x, y, beta, "beta", pool_size, strides,
                                                                       pads)
    dx = np.zeros_like(x)
    for oh, ow, rows, cols in windows(x.shape[1:3], out_hw, pool, strides, pads):
        softmax = np.exp(beta * (x[:, rows, cols, :] - y[:, oh, ow, None, None, :]))
        dx[:, rows, cols, :] += softmax * dy[:, oh, ow, None, None, :]
    return dx


# --------------------------------------------------------------------------------------------
# Weighted (Gaussian) pooling
# --------------------------------------------------------------------------------------------
def gaussian_window(pool, sigma):
    """g[i, j] = exp(-((i - ci)^2 + (j - cj)^2) / (2 sigma^2)), (ci, cj) the window's centre."""
    rows = np.arange(pool[0]) - (pool[0] - 1) / 2
    cols = np.arange(pool[1]) - (pool[1] - 1) / 2
    squared_distance = rows[:, None] ** 2 + cols[None, :] ** 2
    return np.exp(-squared_distance / (2.0 * sigma ** 2))


def real_part_of_window(rows, cols, oh, ow, strides, pads):
    """Which cells of the full (unclipped) window the clipped slices cover."""
    top = oh * strides[0] - pads[0][0]
    left = ow * strides[1] - pads[1][0]
    return slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left)


def normalised_weights(gauss, rows, cols, oh, ow, strides, pads):
    """The Gaussian restricted to the window's real cells, divided by its sum there."""
    in_rows, in_cols = real_part_of_window(rows, cols, oh, ow, strides, pads)
    weights = gauss[in_rows, in_cols]
    return weights / weights.sum()


def weighted_pool2d_forward(x, sigma, pool_size, strides, pads):
    """y = sum_i g_i x_i / sum_i g_i over each window's real cells."""
    sigma, pool, strides, pads, out_hw = check_parametric_pool_forward(x, sigma, "sigma", pool_size, strides, pads)
    gauss = gaussian_window(pool, sigma)
    y = np.empty((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    for oh, ow, rows, cols in windows(x.shape[1:3], out_hw, pool, strides, pads):
        weights = normalised_weights(gauss, rows, cols, oh, ow, strides, pads)
        y[:, oh, ow, :] = np.einsum("nhwc,hw->nc", x[:, rows, cols, :], weights)
    return y


def weighted_pool2d_backward(dy, input_shape, sigma, pool_size, strides, pads):
    """dL/dx_i = dy * g_i / sum_j g_j: each cell gets its share of the window's gradient."""
    sigma, input_shape, pool, strides, pads, out_hw = check_weighted_pool_backward(dy, input_shape, sigma,
                                                                                   pool_size, strides, pads)
    gauss = gaussian_window(pool, sigma)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    for oh, ow, rows, cols in windows(input_shape[1:3], out_hw, pool, strides, pads):
        weights = normalised_weights(gauss, rows, cols, oh, ow, strides, pads)
        dx[:, rows, cols, :] += weights[None, :, :, None] * dy[:, oh, ow, None, None, :]
    return dx
