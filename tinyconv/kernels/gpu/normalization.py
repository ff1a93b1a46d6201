"""Batch normalisation for the GPU backend: per-channel reductions over the (M, C) rows.

The formulas are those of ``kernels/reference/normalization.py`` (biased variance, epsilon inside
the square root).  A training step is four launches:

* forward: the statistics - mean, var, inv_std, and the layer's moving averages updated in place -
  in one raw CUDA kernel (``raw/batch_norm.py``: the rows split into chunks over many thread blocks,
  each chunk's mean and sum of squared deviations combined by Chan's formula in the block that
  finishes last), then y in one fused elementwise kernel;
* backward: dbeta and dgamma (the column sums of dy and dy * xhat) in one raw kernel of the same
  kind, then dx in one fused elementwise kernel.

The elementwise steps run through ``fused.run`` (a ``cupy.ElementwiseKernel`` on a GPU, its NumPy
twin below elsewhere), the reductions through ``fused.run`` with the chunked NumPy twins of
``raw/batch_norm.py``.  Arrays too large for 32-bit indices (or with over 32768 channels) take the
array-module route instead:
every per-channel sum or mean one matrix-vector product against a cached vector (``_common.
column_sums`` / ``column_means``: cuBLAS spreads a reduction over many rows and few columns across
the GPU), 4 launches for the statistics and 2 for the sums.  Verified against the reference with
``xp = numpy`` and on the CuPy stand-in in tests/gpu; with ``xp = cupy`` only on a machine with an
NVIDIA GPU.
"""
import numpy as np

from ..checks.normalization import check_channel_vector, check_epsilon, check_input, check_same_shape
from . import fused
from ._common import check_arrays, column_means, column_sums, device_table, shape_proxy, xp
from .raw import batch_norm as raw_batch_norm


def _sides():
    return np.arange(2, dtype=np.int64).reshape(1, 2, 1)


def _check(where, x, epsilon=None, dy=None, **vectors):
    check_arrays(where, x=x, dy=dy, **vectors)
    check_input(shape_proxy(x))
    if dy is not None:
        check_same_shape(shape_proxy(dy), shape_proxy(x))
    for name, vector in vectors.items():
        check_channel_vector(shape_proxy(vector), name, shape_proxy(x))
    if epsilon is not None:
        check_epsilon(epsilon)


# ----------------------------------------------------------------------------------------------
# the fused elementwise steps: each a NumPy twin and its CUDA expression (same operations, same order)
# ----------------------------------------------------------------------------------------------
def squared_deviation(rows, mean):
    """(x - mean)^2, elementwise."""
    centered = rows - mean
    return centered * centered


def inverse_std(var, epsilon):
    """1 / sqrt(var + epsilon), in var's dtype."""
    return (1.0 / np.sqrt(var + epsilon)).astype(var.dtype, copy=False)


def normalize(rows, mean, inv_std, gamma, beta):
    """gamma * ((x - mean) * inv_std) + beta."""
    return gamma * ((rows - mean) * inv_std) + beta


def gradient_and_gradient_times_xhat(dy, rows, mean, inv_std, side):
    """(M, 2, C): dy beside dy * xhat, xhat = (x - mean) * inv_std; their column sums are dbeta and dgamma.

    ``side`` is the (1, 2, 1) table [0, 1] that tells the fused kernel which half an element belongs to."""
    del side
    return np.stack([dy, dy * ((rows - mean) * inv_std)], axis=1)


def input_gradient(dy, rows, mean, inv_std, gamma, dbeta, dgamma, m):
    """dx = gamma * inv_std / M * (M*dy - dbeta - xhat*dgamma)."""
    xhat = (rows - mean) * inv_std
    return (gamma * inv_std / m) * (m * dy - dbeta - xhat * dgamma)


_KERNELS = {
    "squared_deviation": ("T x, T mean", "T y", "T d = x - mean; y = d * d"),
    "inverse_std": ("T var, T epsilon", "T y", "y = (T)1 / sqrt(var + epsilon)"),
    "normalize": ("T x, T mean, T inv_std, T gamma, T beta", "T y", "y = gamma * ((x - mean) * inv_std) + beta"),
    "gradient_and_gradient_times_xhat": ("T dy, T x, T mean, T inv_std, int64 side", "T y",
                                         "y = side == 0 ? dy : dy * ((x - mean) * inv_std)"),
    "input_gradient": ("T dy, T x, T mean, T inv_std, T gamma, T dbeta, T dgamma, T m", "T dx",
                       "T xhat = (x - mean) * inv_std; dx = (gamma * inv_std / m) * (m * dy - dbeta - xhat * dgamma)"),
}


def _builder(name):
    in_params, out_params, operation = _KERNELS[name]

    def build(cupy):
        kernel = cupy.ElementwiseKernel(in_params, out_params, operation, f"tinyconv_batch_norm_{name}")

        def call(*arrays):
            dtype = arrays[0].dtype
            return kernel(*(dtype.type(a) if not hasattr(a, "shape") else a for a in arrays))
        return call
    return build


_TWINS = {"squared_deviation": squared_deviation, "inverse_std": inverse_std, "normalize": normalize,
          "gradient_and_gradient_times_xhat": gradient_and_gradient_times_xhat, "input_gradient": input_gradient}


def _run(name, *arrays):
    return fused.run(f"batch_norm_{name}", _TWINS[name], _builder(name), *arrays)


# ----------------------------------------------------------------------------------------------
# the per-channel reductions: one raw kernel each, or the array-module route for huge arrays
# ----------------------------------------------------------------------------------------------
def _plain_vectors(dtype, *vectors):
    """True when every (C,) vector is C-contiguous in ``dtype``: what a raw kernel reads and writes through
    a plain pointer (the matrices it is handed are made contiguous by its launcher)."""
    return all(v.dtype == dtype and v.flags.c_contiguous for v in vectors)


def _statistics(rows, epsilon, moving=None, momentum=0.0):
    """(mean, var, inv_std) of the columns of ``rows``; with ``moving`` = (moving_mean, moving_variance)
    those are updated in place too, in the same launch where the raw kernel applies."""
    m, c = rows.shape
    if raw_batch_norm.fits(m, c):
        joined = moving is not None and _plain_vectors(rows.dtype, *moving)   # else a separate update after
        moving_mean, moving_variance = moving if joined else (None, None)
        weight = float(momentum) if joined else 0.0
        statistics = fused.run("batch_norm_statistics", raw_batch_norm.chunked_statistics,
                               raw_batch_norm.build_statistics, rows, moving_mean, moving_variance, float(epsilon),
                               weight, 1.0 - weight, raw_batch_norm.layout(m, c)[1])
        if moving is not None and not joined:
            batch_norm_update_moving_statistics(*moving, *statistics[:2], momentum)
        return statistics
    mean = column_means(rows)
    var = column_means(_run("squared_deviation", rows, mean))
    inv_std = _run("inverse_std", var, epsilon)
    if moving is not None:
        batch_norm_update_moving_statistics(*moving, mean, var, momentum)
    return mean, var, inv_std


def _gradient_sums(dy_rows, rows, mean, inv_std):
    """(dbeta, dgamma): the column sums of dy and of dy * xhat."""
    m, c = rows.shape
    if raw_batch_norm.fits(m, c) and _plain_vectors(rows.dtype, mean, inv_std) and dy_rows.dtype == rows.dtype:
        return fused.run("batch_norm_gradient_sums", raw_batch_norm.chunked_gradient_sums,
                         raw_batch_norm.build_gradient_sums, dy_rows, rows, mean, inv_std,
                         raw_batch_norm.layout(m, c)[1])
    side = device_table(_sides)
    both = _run("gradient_and_gradient_times_xhat", dy_rows[:, None, :], rows[:, None, :], mean, inv_std, side)
    sums = column_sums(both.reshape(m, 2 * c))                 # [dbeta, dgamma] in one matrix-vector product
    return sums[:c], sums[c:]


# ----------------------------------------------------------------------------------------------
# the kernels
# ----------------------------------------------------------------------------------------------
def batch_norm_forward_train(x, gamma, beta, epsilon):
    """(y, mean, var, inv_std) with the batch's own statistics, per channel: two launches."""
    _check("gpu batch_norm_forward_train", x, epsilon, gamma=gamma, beta=beta)
    rows = x.reshape(-1, x.shape[-1])
    mean, var, inv_std = _statistics(rows, epsilon)
    y = _run("normalize", rows, mean, inv_std, gamma, beta)
    return y.reshape(x.shape), mean, var, inv_std


def batch_norm_forward_train_and_update(x, gamma, beta, epsilon, moving_mean, moving_variance, momentum):
    """``batch_norm_forward_train`` and the layer's moving averages, in the launches of the first alone.

    The moving statistics become momentum * moving + (1 - momentum) * batch statistic, in place, the
    same operations as ``batch_norm_update_moving_statistics``; the statistics kernel does it as it
    writes mean and var (one launch fewer than the two calls).

    Args:
        x: (..., C) float32 or float64 input, on the device.
        gamma, beta: (C,) scale and shift.
        epsilon: added to the variance inside the square root.
        moving_mean, moving_variance: the layer's (C,) moving statistics, updated in place.
        momentum: the layer's momentum, a Python float.

    Returns:
        (y, mean, var, inv_std), as ``batch_norm_forward_train``.

    Raises:
        TypeError: for arrays not on the kernels' device or not float32 / float64, or gamma / beta not in
            x's dtype (moving statistics in another dtype are updated by a launch of their own).
        ValueError: for a vector whose length is not C, or an epsilon that is not > 0.

    Example:

    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> moving_mean, moving_variance = np.zeros(2), np.ones(2)
    >>> y, mean, var, _ = batch_norm_forward_train_and_update(x, np.ones(2), np.zeros(2), 1e-3, moving_mean,
    ...                                                      moving_variance, momentum=0.5)
    >>> mean, var, moving_mean, moving_variance
    (array([2., 4.]), array([1., 4.]), array([1., 2.]), array([1. , 2.5]))
    """
    where = "gpu batch_norm_forward_train_and_update"
    _check(where, x, epsilon, gamma=gamma, beta=beta)
    check_arrays(where, moving_mean=moving_mean, moving_variance=moving_variance)
    for name, vector in (("moving_mean", moving_mean), ("moving_variance", moving_variance)):
        if tuple(vector.shape) != (x.shape[-1],):
            raise ValueError(f"{where}: expected {name} of shape ({x.shape[-1]},) (one per channel of x), "
                             f"got {tuple(vector.shape)}")
    rows = x.reshape(-1, x.shape[-1])
    mean, var, inv_std = _statistics(rows, epsilon, (moving_mean, moving_variance), momentum)
    y = _run("normalize", rows, mean, inv_std, gamma, beta)
    return y.reshape(x.shape), mean, var, inv_std


def batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, epsilon):
    """gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta."""
    _check("gpu batch_norm_forward_infer", x, epsilon, gamma=gamma, beta=beta, moving_mean=moving_mean,
           moving_var=moving_var)
    inv_std = (1.0 / xp().sqrt(moving_var + epsilon)).astype(x.dtype, copy=False)
    return gamma * (x - moving_mean) * inv_std + beta


def batch_norm_backward(dy, x, gamma, mean, inv_std):
    """(dx, dgamma, dbeta), the closed form dx = gamma * inv_std / M * (M*dy - dbeta - xhat*dgamma): two launches."""
    _check("gpu batch_norm_backward", x, dy=dy, gamma=gamma, mean=mean, inv_std=inv_std)
    c = x.shape[-1]
    rows, dy_rows = x.reshape(-1, c), dy.reshape(-1, c)
    dbeta, dgamma = _gradient_sums(dy_rows, rows, mean, inv_std)
    dx = _run("input_gradient", dy_rows, rows, mean, inv_std, gamma, dbeta, dgamma, rows.shape[0])
    return dx.reshape(x.shape).astype(x.dtype, copy=False), dgamma, dbeta


def moving_statistics_twin(moving_mean, moving_variance, mean, var, momentum, rest):
    """The layer's update, in place: moving *= momentum, then moving += (1 - momentum) * batch statistic."""
    moving_mean *= momentum
    moving_mean += rest * mean
    moving_variance *= momentum
    moving_variance += rest * var
    return moving_mean, moving_variance


def _build_moving_statistics(cupy):
    kernel = cupy.ElementwiseKernel(
        "S mean, S var, T momentum, T rest", "T moving_mean, T moving_variance",
        "moving_mean = moving_mean * momentum + rest * (T)mean; "
        "moving_variance = moving_variance * momentum + rest * (T)var",
        "tinyconv_batch_norm_moving_statistics")

    def update(moving_mean, moving_variance, mean, var, momentum, rest):
        dtype = moving_mean.dtype.type
        kernel(mean, var, dtype(momentum), dtype(rest), moving_mean, moving_variance)
        return moving_mean, moving_variance
    return update


def batch_norm_update_moving_statistics(moving_mean, moving_variance, mean, var, momentum):
    """moving = momentum * moving + (1 - momentum) * batch, for the mean and the variance, in place: one launch.

    The same operations as BatchNormalization's four in-place lines (``1 - momentum`` taken in float64 on
    the host, as there), which are six launches on a GPU.

    Args:
        moving_mean, moving_variance: the layer's (C,) moving statistics, updated in place.
        mean, var: this batch's (C,) statistics (``batch_norm_forward_train``'s).
        momentum: the layer's momentum, a Python float.

    Returns:
        (moving_mean, moving_variance), the arrays given.
    """
    check_arrays("gpu batch_norm_update_moving_statistics", moving_mean=moving_mean, moving_variance=moving_variance,
                 mean=mean, var=var)
    fused.run("batch_norm_moving_statistics", moving_statistics_twin, _build_moving_statistics,
              moving_mean, moving_variance, mean, var, float(momentum), 1.0 - float(momentum))
    return moving_mean, moving_variance
