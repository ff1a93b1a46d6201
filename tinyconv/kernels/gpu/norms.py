"""Layer and group normalisation for the GPU backend: per-sample reductions.

Same signatures and formulas as ``kernels/reference/norms.py``: statistics over each row's D
features (layer norm) or over each (sample, group)'s positions and C/G channels (group norm),
biased variance, epsilon inside the square root, y = gamma * xhat + beta.  The reference
accumulates in float64; here the arithmetic stays in x's dtype (float64 is slow on most GPUs),
which agrees with it to float32 rounding.
"""
from ..checks.norms import (check_epsilon, check_feature_vector, check_float_array, check_group_norm_backward,
                            check_groups, check_layer_norm_backward)
from ..reference.norms import as_groups
from ._common import check_arrays, shape_proxy, xp


def _check_forward(kernel, x, gamma, beta, epsilon, min_ndim):
    check_arrays(f"gpu {kernel}", x=x, gamma=gamma, beta=beta)
    proxy = shape_proxy(x)
    check_float_array(proxy, "x", kernel, min_ndim)
    check_feature_vector(shape_proxy(gamma), "gamma", proxy, kernel)
    check_feature_vector(shape_proxy(beta), "beta", proxy, kernel)
    check_epsilon(epsilon, kernel)
    return proxy


def _normalize(values, axes, epsilon):
    """(xhat, mean, inv_std) with the statistics over ``axes`` (kept, for broadcasting)."""
    mean = values.mean(axis=axes, keepdims=True)
    centered = values - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    inv_std = (1.0 / xp().sqrt(var + epsilon)).astype(values.dtype, copy=False)
    return centered * inv_std, mean, inv_std


def _normalize_backward(dxhat, xhat, inv_std, axes):
    """dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), the means over ``axes``."""
    return inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                      - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


def layer_norm_forward(x, gamma, beta, epsilon):
    """(y, mean, inv_std): each row of x (..., D) normalised over its D features."""
    _check_forward("layer_norm_forward", x, gamma, beta, epsilon, 1)
    xhat, mean, inv_std = _normalize(x, -1, epsilon)
    return gamma * xhat + beta, mean[..., 0], inv_std[..., 0]


def layer_norm_backward(dy, x, gamma, mean, inv_std):
    """(dx, dgamma, dbeta) of layer norm."""
    check_arrays("gpu layer_norm_backward", dy=dy, x=x, gamma=gamma, mean=mean, inv_std=inv_std)
    check_layer_norm_backward(*(shape_proxy(a) for a in (dy, x, gamma, mean, inv_std)))
    rows = tuple(range(x.ndim - 1))
    xhat = (x - mean[..., None]) * inv_std[..., None]
    dbeta = dy.sum(axis=rows)
    dgamma = (dy * xhat).sum(axis=rows)
    dx = _normalize_backward(gamma * dy, xhat, inv_std[..., None], -1)
    return dx.astype(x.dtype, copy=False), dgamma, dbeta


def group_norm_forward(x, groups, gamma, beta, epsilon):
    """(y, mean, inv_std): each group of C/G channels of each sample normalised over (positions, channels)."""
    proxy = _check_forward("group_norm_forward", x, gamma, beta, epsilon, 2)
    check_groups(groups, proxy, "group_norm_forward")
    xhat, mean, inv_std = _normalize(as_groups(x, groups), (1, 3), epsilon)     # (N, S, G, C/G)
    y = gamma * xhat.reshape(x.shape) + beta
    return y, mean[:, 0, :, 0], inv_std[:, 0, :, 0]


def group_norm_backward(dy, x, groups, gamma, mean, inv_std):
    """(dx, dgamma, dbeta) of group norm."""
    check_arrays("gpu group_norm_backward", dy=dy, x=x, gamma=gamma, mean=mean, inv_std=inv_std)
    dy_p, x_p, gamma_p, mean_p, inv_std_p = (shape_proxy(a) for a in (dy, x, gamma, mean, inv_std))
    check_group_norm_backward(dy_p, x_p, groups, gamma_p, mean_p, inv_std_p)
    inv_std4 = inv_std[:, None, :, None]                                        # (N, 1, G, 1)
    xhat = (as_groups(x, groups) - mean[:, None, :, None]) * inv_std4
    not_channels = tuple(range(x.ndim - 1))
    dbeta = dy.sum(axis=not_channels)
    dgamma = (dy * xhat.reshape(x.shape)).sum(axis=not_channels)
    dx = _normalize_backward(as_groups(gamma * dy, groups), xhat, inv_std4, (1, 3))
    return dx.reshape(x.shape).astype(x.dtype, copy=False), dgamma, dbeta
