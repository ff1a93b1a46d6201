"""Batch normalisation in plain NumPy, the oracle for ``kernels/cpu/normalization.pyx``.

Statistics are per channel, over every axis but the last: an input of shape (..., C) is
seen as M = (product of the other dims) rows of C channels.

Training (the batch's own statistics):

    mean    = 1/M * sum_i x_i
    var     = 1/M * sum_i (x_i - mean)^2          (biased: divide by M, as Keras does)
    inv_std = 1 / sqrt(var + epsilon)
    xhat_i  = (x_i - mean) * inv_std
    y_i     = gamma * xhat_i + beta

Inference (the moving statistics the layer kept during training):

    y = gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta
"""
import numpy as np

from ..checks.normalization import check_batch_norm_backward, check_batch_norm_infer, check_batch_norm_train


def as_rows(x):
    """View (..., C) as (M, C): one row per position, one column per channel."""
    return x.reshape(-1, x.shape[-1])


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------
def batch_norm_forward_train(x, gamma, beta, epsilon):
    """Normalise with the batch's own statistics; returns (y, mean, var, inv_std).

    mean, var and inv_std have shape (C,) and x's dtype; var is the biased variance.
    """
    check_batch_norm_train(x, gamma, beta, epsilon)
    rows = as_rows(x)
    mean = rows.mean(axis=0)
    centered = rows - mean
    var = (centered * centered).mean(axis=0)          # biased: divide by M
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(x.dtype)
    xhat = centered * inv_std                          # zero mean, unit variance per channel
    y = gamma * xhat + beta                            # the layer's learnt scale and shift
    return y.reshape(x.shape), mean, var, inv_std


def batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, epsilon):
    """Normalise with the moving statistics (no batch dependence)."""
    check_batch_norm_infer(x, gamma, beta, moving_mean, moving_var, epsilon)
    inv_std = (1.0 / np.sqrt(moving_var + epsilon)).astype(x.dtype)
    return gamma * (x - moving_mean) * inv_std + beta


# --------------------------------------------------------------------------------------------
# Backward
# --------------------------------------------------------------------------------------------
def batch_norm_backward(dy, x, gamma, mean, inv_std):
    """Gradients of training-mode batch norm; returns (dx, dgamma, dbeta).

    Step by step (sums run over the M rows, everything is per channel):

        y_i = gamma * xhat_i + beta
            dbeta   = sum_i dy_i
            dgamma  = sum_i dy_i * xhat_i
            dxhat_i = gamma * dy_i

        xhat_i = (x_i - mean) * inv_std, and mean and inv_std depend on every x_j too:
            d mean / d x_j    = 1/M
            d inv_std / d x_j = -inv_std^3 * (x_j - mean) / M  =  -inv_std^2 * xhat_j / M

            dx_j = inv_std * dxhat_j                       (through x_j directly)
                 - inv_std / M * sum_i dxhat_i             (through the mean)
                 - inv_std / M * xhat_j * sum_i dxhat_i * xhat_i   (through inv_std)

        With dxhat = gamma * dy the sums are gamma*dbeta and gamma*dgamma, so

            dx_j = gamma * inv_std / M * (M * dy_j - dbeta - xhat_j * dgamma)
    """
    check_batch_norm_backward(dy, x, gamma, mean, inv_std)
    rows, dy_rows = as_rows(x), as_rows(dy)
    m = rows.shape[0]

    xhat = (rows - mean) * inv_std                     # recompute the normalised input
    dbeta = dy_rows.sum(axis=0)                        # y = ... + beta
    dgamma = (dy_rows * xhat).sum(axis=0)              # y = gamma * xhat + ...
    dxhat = gamma * dy_rows                            # back through the scale

    # Back through xhat = (x - mean) * inv_std: the direct path, then the mean's and
    # inv_std's shares (each x moved the batch statistics a little).
    through_x = dxhat * inv_std
    through_mean = -inv_std / m * dxhat.sum(axis=0)
    through_inv_std = -inv_std / m * xhat * (dxhat * xhat).sum(axis=0)
    dx = through_x + through_mean + through_inv_std
    # (Same as the closed form gamma * inv_std / M * (M*dy - dbeta - xhat*dgamma).)
    return dx.reshape(x.shape).astype(x.dtype, copy=False), dgamma, dbeta


def batch_norm_update_moving_statistics(moving_mean, moving_variance, mean, var, momentum):
    """moving = momentum * moving + (1 - momentum) * batch, for the mean and the variance, in place.

    What ``BatchNormalization`` keeps for inference: an exponential moving average of the batch
    statistics (Keras's rule; ``momentum`` 0.99 by default).  The GPU kernel set does the same in one
    launch.

    Args:
        moving_mean, moving_variance: the layer's (C,) moving statistics, updated in place.
        mean, var: this batch's (C,) statistics.
        momentum: the layer's momentum, a Python float.

    Returns:
        (moving_mean, moving_variance), the arrays given.
    """
    moving_mean *= momentum
    moving_mean += (1 - momentum) * mean
    moving_variance *= momentum
    moving_variance += (1 - momentum) * var
    return moving_mean, moving_variance
