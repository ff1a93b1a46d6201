"""Checks of the layer and group normalisation kernels (statistics per sample).

Every check takes ``kernel``, the name the messages give (``"layer_norm_forward"``, ...).
"""
import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def check_float_array(x, what, kernel, min_ndim):
    if not isinstance(x, np.ndarray) or x.dtype not in FLOAT_DTYPES:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{kernel}: expected {what} as a float32 or float64 NumPy array, got {got}")
    if x.ndim < min_ndim or x.size == 0:
        raise ValueError(f"{kernel}: expected {what} of rank >= {min_ndim} with no empty axis, got shape {x.shape}")


def check_feature_vector(vector, what, x, kernel):
    """gamma and beta: one value per feature (last axis of x), in x's dtype."""
    features = x.shape[-1]
    if not isinstance(vector, np.ndarray) or vector.shape != (features,):
        got = vector.shape if isinstance(vector, np.ndarray) else type(vector).__name__
        raise ValueError(f"{kernel}: expected {what} of shape ({features},) (one per feature of x), got {got}")
    if vector.dtype != x.dtype:
        raise TypeError(f"{kernel}: expected {what} with x's dtype {x.dtype}, got {vector.dtype}")


def check_statistics(stat, what, shape, x, kernel):
    """mean and inv_std saved by the forward pass."""
    if not isinstance(stat, np.ndarray) or stat.shape != tuple(shape):
        got = stat.shape if isinstance(stat, np.ndarray) else type(stat).__name__
        raise ValueError(f"{kernel}: expected {what} of shape {tuple(shape)} (from the forward pass), got {got}")
    if stat.dtype != x.dtype:
        raise TypeError(f"{kernel}: expected {what} with x's dtype {x.dtype}, got {stat.dtype}")


def check_epsilon(epsilon, kernel):
    if not epsilon > 0:
        raise ValueError(f"{kernel}: expected epsilon > 0 (it keeps 1/sqrt(var + epsilon) finite), got {epsilon!r}")


def check_same_shape(dy, x, kernel):
    if not isinstance(dy, np.ndarray) or dy.shape != x.shape:
        got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
        raise ValueError(f"{kernel}: expected dy of x's shape {x.shape}, got {got}")
    if dy.dtype != x.dtype:
        raise TypeError(f"{kernel}: expected dy with x's dtype {x.dtype}, got {dy.dtype}")


def check_groups(groups, x, kernel):
    channels = x.shape[-1]
    if not isinstance(groups, (int, np.integer)) or groups <= 0 or channels % groups != 0:
        raise ValueError(f"{kernel}: groups must be a positive divisor of the {channels} channels of x, "
                         f"got {groups!r}")


def check_layer_norm_forward(x, gamma, beta, epsilon):
    kernel = "layer_norm_forward"
    check_float_array(x, "x", kernel, 1)
    check_feature_vector(gamma, "gamma", x, kernel)
    check_feature_vector(beta, "beta", x, kernel)
    check_epsilon(epsilon, kernel)


def check_layer_norm_backward(dy, x, gamma, mean, inv_std):
    kernel = "layer_norm_backward"
    check_float_array(x, "x", kernel, 1)
    check_same_shape(dy, x, kernel)
    check_feature_vector(gamma, "gamma", x, kernel)
    check_statistics(mean, "mean", x.shape[:-1], x, kernel)
    check_statistics(inv_std, "inv_std", x.shape[:-1], x, kernel)


def check_group_norm_forward(x, groups, gamma, beta, epsilon):
    kernel = "group_norm_forward"
    check_float_array(x, "x", kernel, 2)
    check_groups(groups, x, kernel)
    check_feature_vector(gamma, "gamma", x, kernel)
    check_feature_vector(beta, "beta", x, kernel)
    check_epsilon(epsilon, kernel)


def check_group_norm_backward(dy, x, groups, gamma, mean, inv_std):
    kernel = "group_norm_backward"
    check_float_array(x, "x", kernel, 2)
    check_same_shape(dy, x, kernel)
    check_groups(groups, x, kernel)
    check_feature_vector(gamma, "gamma", x, kernel)
    check_statistics(mean, "mean", (x.shape[0], groups), x, kernel)
    check_statistics(inv_std, "inv_std", (x.shape[0], groups), x, kernel)
