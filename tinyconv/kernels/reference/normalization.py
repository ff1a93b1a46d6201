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

FLOAT_DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------------------------
# Argument checks, shared with the compiled twin (tinyconv.kernels.cpu.normalization)
# --------------------------------------------------------------------------------------------
def check_input(x, what="x"):
    if not isinstance(x, np.ndarray) or x.dtype not in FLOAT_DTYPES:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"batch_norm: expected {what} as a float32 or float64 NumPy array, got {got}")
    if x.ndim < 2 or x.size == 0:
        raise ValueError(f"batch_norm: expected {what} of shape (..., C) with rank >= 2 and no empty axis, "
                         f"got shape {x.shape}")


def check_channel_vector(vector, what, x):
    """gamma, beta and the moving statistics: one value per channel, in x's dtype."""
    channels = x.shape[-1]
    if not isinstance(vector, np.ndarray) or vector.shape != (channels,):
        got = vector.shape if isinstance(vector, np.ndarray) else type(vector).__name__
        raise ValueError(f"batch_norm: expected {what} of shape ({channels},) (one per channel of x), got {got}")
    if vector.dtype != x.dtype:
        raise TypeError(f"batch_norm: expected {what} with x's dtype {x.dtype}, got {vector.dtype}")


def check_epsilon(epsilon):
    if not epsilon > 0:
        raise ValueError(f"batch_norm: expected epsilon > 0 (it keeps 1/sqrt(var + epsilon) finite), got {epsilon!r}")


def check_same_shape(dy, x):
    if not isinstance(dy, np.ndarray) or dy.shape != x.shape:
        got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
        raise ValueError(f"batch_norm_backward: expected dy of x's shape {x.shape}, got {got}")
    if dy.dtype != x.dtype:
        raise TypeError(f"batch_norm_backward: expected dy with x's dtype {x.dtype}, got {dy.dtype}")


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
    check_input(x)
    check_channel_vector(gamma, "gamma", x)
    check_channel_vector(beta, "beta", x)
    check_epsilon(epsilon)
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
    check_input(x)
    for vector, what in ((gamma, "gamma"), (beta, "beta"), (moving_mean, "moving_mean"), (moving_var, "moving_var")):
        check_channel_vector(vector, what, x)
    check_epsilon(epsilon)
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
    check_input(x)
    check_same_shape(dy, x)
    for vector, what in ((gamma, "gamma"), (mean, "mean"), (inv_std, "inv_std")):
        check_channel_vector(vector, what, x)
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
