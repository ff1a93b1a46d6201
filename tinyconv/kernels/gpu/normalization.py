"""Batch normalisation for the GPU backend: per-channel reductions over the (M, C) rows.

The formulas are those of ``kernels/reference/normalization.py`` (biased variance, epsilon inside
the square root); here every step is a whole-array expression in ``xp``, so under CuPy each line
is a reduction or an elementwise kernel.  Verified against the reference with ``xp = numpy`` in
tests/gpu; with ``xp = cupy`` only on a machine with an NVIDIA GPU.
"""
from ..checks.normalization import check_channel_vector, check_epsilon, check_input, check_same_shape
from ._common import check_arrays, shape_proxy, xp


def _check(where, x, epsilon=None, dy=None, **vectors):
    check_arrays(where, x=x, dy=dy, **vectors)
    check_input(shape_proxy(x))
    if dy is not None:
        check_same_shape(shape_proxy(dy), shape_proxy(x))
    for name, vector in vectors.items():
        check_channel_vector(shape_proxy(vector), name, shape_proxy(x))
    if epsilon is not None:
        check_epsilon(epsilon)


def batch_norm_forward_train(x, gamma, beta, epsilon):
    """(y, mean, var, inv_std) with the batch's own statistics, per channel."""
    _check("gpu batch_norm_forward_train", x, epsilon, gamma=gamma, beta=beta)
    rows = x.reshape(-1, x.shape[-1])
    mean = rows.mean(axis=0)
    centered = rows - mean
    var = (centered * centered).mean(axis=0)
    inv_std = (1.0 / xp().sqrt(var + epsilon)).astype(x.dtype, copy=False)
    y = gamma * (centered * inv_std) + beta
    return y.reshape(x.shape), mean, var, inv_std


def batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, epsilon):
    """gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta."""
    _check("gpu batch_norm_forward_infer", x, epsilon, gamma=gamma, beta=beta, moving_mean=moving_mean,
           moving_var=moving_var)
    inv_std = (1.0 / xp().sqrt(moving_var + epsilon)).astype(x.dtype, copy=False)
    return gamma * (x - moving_mean) * inv_std + beta


def batch_norm_backward(dy, x, gamma, mean, inv_std):
    """(dx, dgamma, dbeta), the closed form dx = gamma * inv_std / M * (M*dy - dbeta - xhat*dgamma)."""
    _check("gpu batch_norm_backward", x, dy=dy, gamma=gamma, mean=mean, inv_std=inv_std)
    rows, dy_rows = x.reshape(-1, x.shape[-1]), dy.reshape(-1, x.shape[-1])
    m = rows.shape[0]
    xhat = (rows - mean) * inv_std
    dbeta = dy_rows.sum(axis=0)
    dgamma = (dy_rows * xhat).sum(axis=0)
    dx = (gamma * inv_std / m) * (m * dy_rows - dbeta - xhat * dgamma)
    return dx.reshape(x.shape).astype(x.dtype, copy=False), dgamma, dbeta
