"""Layer and group normalisation in plain NumPy, the oracle for ``kernels/cpu/norms.pyx``.

Batch norm (``normalization.py``) takes statistics per channel over the batch.  These two take
them per *sample*, so they behave the same in training and inference and need no moving averages:

* **layer norm** normalises each row of an (..., D) array over its D features;
* **group norm** cuts the C channels of each sample into G groups of C/G channels and normalises
  each group over all its positions and channels.  G = 1 is layer norm over (positions, channels);
  G = C is *instance norm* (each channel of each sample on its own).

Both then apply a learnt per-feature scale and shift:  y = gamma * xhat + beta.
"""
import numpy as np

from ..checks.norms import (check_group_norm_backward, check_group_norm_forward, check_layer_norm_backward,
                            check_layer_norm_forward)


# --------------------------------------------------------------------------------------------
# The one idea both layers share: normalise a set of numbers, and its chain rule
# --------------------------------------------------------------------------------------------
def normalize_backward(dxhat, xhat, inv_std, axes):
    """dL/dx of  xhat = (x - mean) * inv_std,  the statistics taken over ``axes`` (K numbers).

    mean and inv_std depend on every x in the set, so a change in one x_j moves all the xhat:

        d mean / d x_j    = 1/K
        d inv_std / d x_j = -inv_std^3 (x_j - mean) / K  =  -inv_std^2 xhat_j / K

        dx_j = inv_std * dxhat_j                                   (through x_j itself)
             - inv_std * mean_k(dxhat_k)                           (through the mean)
             - inv_std * xhat_j * mean_k(dxhat_k * xhat_k)         (through inv_std)
    """
    through_x = dxhat
    through_mean = -dxhat.mean(axis=axes, keepdims=True)
    through_inv_std = -xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)
    return inv_std * (through_x + through_mean + through_inv_std)


# --------------------------------------------------------------------------------------------
# Layer normalisation: statistics per row, over the last axis
# --------------------------------------------------------------------------------------------
def layer_norm_forward(x, gamma, beta, epsilon):
    """Normalise each row of x (shape (..., D)) over its D features; returns (y, mean, inv_std).

        mean_i    = 1/D * sum_d x_id
        var_i     = 1/D * sum_d (x_id - mean_i)^2
        inv_std_i = 1 / sqrt(var_i + epsilon)
        xhat_id   = (x_id - mean_i) * inv_std_i
        y_id      = gamma_d * xhat_id + beta_d

    mean and inv_std have shape x.shape[:-1] and x's dtype.
    """
    check_layer_norm_forward(x, gamma, beta, epsilon)
    x64 = x.astype(np.float64)                               # accumulate in float64, as the twin does
    mean = x64.mean(axis=-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=-1, keepdims=True)   # biased: divide by D
    inv_std = 1.0 / np.sqrt(var + epsilon)
    xhat = (x64 - mean) * inv_std
    y = gamma * xhat + beta
    return y.astype(x.dtype), mean[..., 0].astype(x.dtype), inv_std[..., 0].astype(x.dtype)


def layer_norm_backward(dy, x, gamma, mean, inv_std):
    """Gradients of layer norm; returns (dx, dgamma, dbeta).  Step by step:

        y = gamma * xhat + beta        dbeta  = sum over rows of dy
                                       dgamma = sum over rows of dy * xhat
                                       dxhat  = gamma * dy
        xhat = (x - mean) * inv_std    dx = normalize_backward(dxhat) over each row's D features
    """
    check_layer_norm_backward(dy, x, gamma, mean, inv_std)
    rows = tuple(range(x.ndim - 1))                          # every axis but the features
    dy64 = dy.astype(np.float64)
    mean64 = mean.astype(np.float64)[..., None]
    inv_std64 = inv_std.astype(np.float64)[..., None]
    xhat = (x.astype(np.float64) - mean64) * inv_std64       # recompute the normalised input
    dbeta = dy64.sum(axis=rows)
    dgamma = (dy64 * xhat).sum(axis=rows)
    dxhat = gamma * dy64
    dx = normalize_backward(dxhat, xhat, inv_std64, axes=-1)
    return dx.astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


# --------------------------------------------------------------------------------------------
# Group normalisation: statistics per (sample, group of channels)
# --------------------------------------------------------------------------------------------
def as_groups(x, groups):
    """View (N, ..., C) as (N, S, G, C/G): S positions, G groups of C/G channels each."""
    n, channels = x.shape[0], x.shape[-1]
    return x.reshape(n, -1, groups, channels // groups)


def group_norm_forward(x, groups, gamma, beta, epsilon):
    """Normalise each group of channels of each sample; returns (y, mean, inv_std).

    x has shape (N, ..., C), the channels last.  With K = S * C/G numbers per group
    (S = positions, the product of the middle axes):

        mean_ng    = 1/K * sum over positions s and channels c of group g of x_nsc
        var_ng     = 1/K * sum (x_nsc - mean_ng)^2
        inv_std_ng = 1 / sqrt(var_ng + epsilon)
        y_nsc      = gamma_c * (x_nsc - mean_ng) * inv_std_ng + beta_c

    mean and inv_std have shape (N, G) and x's dtype.
    """
    check_group_norm_forward(x, groups, gamma, beta, epsilon)
    grouped = as_groups(x.astype(np.float64), groups)       # (N, S, G, C/G)
    per_group = (1, 3)                                       # positions and channels of the group
    mean = grouped.mean(axis=per_group, keepdims=True)
    var = ((grouped - mean) ** 2).mean(axis=per_group, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    xhat = ((grouped - mean) * inv_std).reshape(x.shape)
    y = gamma * xhat + beta
    return y.astype(x.dtype), mean[:, 0, :, 0].astype(x.dtype), inv_std[:, 0, :, 0].astype(x.dtype)


def group_norm_backward(dy, x, groups, gamma, mean, inv_std):
    """Gradients of group norm; returns (dx, dgamma, dbeta).  Step by step:

        y = gamma * xhat + beta        dbeta_c  = sum over samples and positions of dy
                                       dgamma_c = sum over samples and positions of dy * xhat
                                       dxhat    = gamma * dy
        xhat = (x - mean) * inv_std    dx = normalize_backward(dxhat) over each group's K numbers
    """
    check_group_norm_backward(dy, x, groups, gamma, mean, inv_std)
    mean64 = mean.astype(np.float64)[:, None, :, None]       # (N, 1, G, 1): broadcast over the group
    inv_std64 = inv_std.astype(np.float64)[:, None, :, None]
    xhat = (as_groups(x.astype(np.float64), groups) - mean64) * inv_std64
    dy64 = dy.astype(np.float64)
    not_channels = tuple(range(x.ndim - 1))
    dbeta = dy64.sum(axis=not_channels)
    dgamma = (dy64 * xhat.reshape(x.shape)).sum(axis=not_channels)
    dxhat = as_groups(gamma * dy64, groups)
    dx = normalize_backward(dxhat, xhat, inv_std64, axes=(1, 3))
    return dx.reshape(x.shape).astype(x.dtype), dgamma.astype(x.dtype), dbeta.astype(x.dtype)
