"""Checks of the batch normalisation kernels (channels last, statistics per channel)."""
import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


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


def check_batch_norm_train(x, gamma, beta, epsilon):
    check_input(x)
    check_channel_vector(gamma, "gamma", x)
    check_channel_vector(beta, "beta", x)
    check_epsilon(epsilon)


def check_batch_norm_infer(x, gamma, beta, moving_mean, moving_var, epsilon):
    check_input(x)
    for vector, what in ((gamma, "gamma"), (beta, "beta"), (moving_mean, "moving_mean"), (moving_var, "moving_var")):
        check_channel_vector(vector, what, x)
    check_epsilon(epsilon)


def check_batch_norm_backward(dy, x, gamma, mean, inv_std):
    check_input(x)
    check_same_shape(dy, x)
    for vector, what in ((gamma, "gamma"), (mean, "mean"), (inv_std, "inv_std")):
        check_channel_vector(vector, what, x)
