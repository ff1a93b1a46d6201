"""Batch normalisation over the global batch: the statistics and their gradients summed over all ranks.

With N ranks each holding m rows (samples x positions) of a channel, one process on the whole
batch of M = N m rows would compute

    mean = sum_all(x) / M,   var = sum_all((x - mean)^2) / M

and in backward the two sums over the rows, sum_all(dy) and sum_all(dy * x_hat). Each rank computes
its own part of every sum and one allreduce adds the parts: two in forward (the mean must be known
before the squared deviations are), one in backward (both sums in one buffer). The rest is the
formula of ``kernels/reference/normalization.py`` with M the global count:

    dx_j = gamma * inv_std / M * (M * dy_j - sum_all(dy) - x_hat_j * sum_all(dy * x_hat))

Each rank's dy is the gradient of its *own* mean loss, N times the gradient of the global mean
loss; everything here is linear in dy, so dx carries the same factor N as every other layer's
gradients, and the optimizer's average over the ranks removes it. The layer's own dgamma and dbeta
are this rank's parts of the sums, for the same reason.

Sums run in float64 (the parts come from different ranks and are added in a different order than
one process would add them); the results are cast back to the input's dtype.
"""
from .. import devices, dispatch


def _rows(x):
    return x.reshape(-1, x.shape[-1])


def forward(x, gamma, beta, epsilon, communicator):
    """Training-mode batch norm of ``x`` (channels last) with the statistics of all ranks' rows.

    Returns:
        ``(y, mean, var, inv_std)`` as ``dispatch.batch_norm_forward_train`` returns them.
    """
    xp = devices.array_module_of(x)
    rows = _rows(x)
    channels = rows.shape[1]
    sums = xp.empty(channels + 1, dtype=xp.float64)
    sums[:channels] = rows.sum(axis=0, dtype=xp.float64)
    sums[channels] = rows.shape[0]
    communicator.allreduce_sum(sums)
    count = float(sums[channels])
    mean = sums[:channels] / count
    squares = ((rows - mean.astype(x.dtype)).astype(xp.float64) ** 2).sum(axis=0)
    communicator.allreduce_sum(squares)
    var = (squares / count).astype(x.dtype)
    mean = mean.astype(x.dtype)
    inv_std = (1.0 / xp.sqrt(var + epsilon)).astype(x.dtype)
    # Normalising with given statistics is what the inference kernel does.
    y = dispatch.batch_norm_forward_infer(x, gamma, beta, mean, var, epsilon)
    return y, mean, var, inv_std


def backward(dy, x, gamma, mean, inv_std, communicator):
    """``(dx, dgamma, dbeta)`` of ``forward``: dx through the global sums, dgamma/dbeta this rank's parts."""
    xp = devices.array_module_of(x)
    rows, dy_rows = _rows(x), _rows(dy)
    channels = rows.shape[1]
    x_hat = (rows - mean) * inv_std
    sums = xp.empty(2 * channels + 1, dtype=xp.float64)
    sums[:channels] = dy_rows.sum(axis=0, dtype=xp.float64)
    sums[channels:2 * channels] = (dy_rows * x_hat).sum(axis=0, dtype=xp.float64)
    sums[2 * channels] = rows.shape[0]
    dbeta, dgamma = sums[:channels].astype(x.dtype), sums[channels:2 * channels].astype(x.dtype)
    communicator.allreduce_sum(sums)
    count = float(sums[2 * channels])
    dbeta_all = sums[:channels].astype(x.dtype)
    dgamma_all = sums[channels:2 * channels].astype(x.dtype)
    m = x.dtype.type(count)
    dx = gamma * inv_std / m * (m * dy_rows - dbeta_all - x_hat * dgamma_all)
    return dx.reshape(x.shape).astype(x.dtype, copy=False), dgamma, dbeta
