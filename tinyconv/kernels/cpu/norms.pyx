# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Layer and group normalisation, compiled (Cython + OpenMP); twin of ``kernels/reference/norms.py``.

The formulas are in the reference's docstrings.  Here:

* every sum is accumulated in float64 whatever the input dtype;
* layer norm runs in parallel over rows (one row = one sample's features);
* group norm runs in parallel over (sample, group) pairs: each pair owns its cells of y and dx
  and its slice of a per-sample buffer of dgamma/dbeta, so threads never write the same cell;
* the per-feature sums dgamma/dbeta are added in a fixed order (fixed chunks of rows, then
  samples in order), so results do not depend on the number of threads.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt

# The argument checks are shared with the reference: one set of rules, one set of messages.
from tinyconv.kernels.checks.norms import (
    check_group_norm_backward,
    check_group_norm_forward,
    check_layer_norm_backward,
    check_layer_norm_forward,
)

from tinyconv.kernels.cpu.parallel cimport threads_for

cdef enum:
    # How many pieces the rows are cut into for the dgamma/dbeta sums of layer norm.  Fixed,
    # so the order of the float additions never depends on the thread count.
    REDUCTION_CHUNKS = 64


# --------------------------------------------------------------------------------------------
# Layer norm: one row of D features at a time
# --------------------------------------------------------------------------------------------
cdef void layer_norm_row(const floating[:, ::1] x, floating[:, ::1] y, const floating[::1] gamma,
                         const floating[::1] beta, double epsilon, double[::1] mean, double[::1] inv_std,
                         Py_ssize_t r) noexcept nogil:
    """Statistics of row r (two passes: no cancellation), then y = gamma * xhat + beta."""
    cdef Py_ssize_t d, features = x.shape[1]
    cdef double total = 0, deviation, squares = 0, row_mean, row_inv_std
    for d in range(features):
        total = total + x[r, d]
    row_mean = total / features
    for d in range(features):
        deviation = x[r, d] - row_mean
        squares = squares + deviation * deviation
    row_inv_std = 1.0 / sqrt(squares / features + epsilon)
    for d in range(features):
        y[r, d] = <floating>(gamma[d] * (x[r, d] - row_mean) * row_inv_std + beta[d])
    mean[r] = row_mean
    inv_std[r] = row_inv_std


cdef void layer_norm_rows(const floating[:, ::1] x, floating[:, ::1] y, const floating[::1] gamma,
                          const floating[::1] beta, double epsilon, double[::1] mean, double[::1] inv_std) noexcept:
    cdef Py_ssize_t r
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for r in prange(x.shape[0], nogil=True, schedule="static", num_threads=threads):
        layer_norm_row(x, y, gamma, beta, epsilon, mean, inv_std, r)


cdef void layer_norm_backward_row(const floating[:, ::1] dy, const floating[:, ::1] x, floating[:, ::1] dx,
                                  const floating[::1] gamma, double row_mean, double row_inv_std,
                                  double[::1] dgamma, double[::1] dbeta, Py_ssize_t r) noexcept nogil:
    """dx of row r, adding its share of dgamma and dbeta into this chunk's buffers."""
    cdef Py_ssize_t d, features = x.shape[1]
    cdef double xhat, dxhat, mean_dxhat = 0, mean_dxhat_xhat = 0
    for d in range(features):
        xhat = (x[r, d] - row_mean) * row_inv_std
        dxhat = gamma[d] * dy[r, d]
        mean_dxhat = mean_dxhat + dxhat
        mean_dxhat_xhat = mean_dxhat_xhat + dxhat * xhat
        dbeta[d] += dy[r, d]
        dgamma[d] += dy[r, d] * xhat
    mean_dxhat = mean_dxhat / features
    mean_dxhat_xhat = mean_dxhat_xhat / features
    for d in range(features):
        xhat = (x[r, d] - row_mean) * row_inv_std
        dxhat = gamma[d] * dy[r, d]
        dx[r, d] = <floating>(row_inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat))


cdef void layer_norm_backward_chunk(const floating[:, ::1] dy, const floating[:, ::1] x, floating[:, ::1] dx,
                                    const floating[::1] gamma, const double[::1] mean, const double[::1] inv_std,
                                    double[::1] dgamma, double[::1] dbeta, Py_ssize_t r0,
                                    Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t r, d
    for d in range(x.shape[1]):
        dgamma[d] = 0
        dbeta[d] = 0
    for r in range(r0, r1):
        layer_norm_backward_row(dy, x, dx, gamma, mean[r], inv_std[r], dgamma, dbeta, r)


cdef void layer_norm_backward_rows(const floating[:, ::1] dy, const floating[:, ::1] x, floating[:, ::1] dx,
                                   const floating[::1] gamma, const double[::1] mean, const double[::1] inv_std,
                                   double[:, ::1] partial_dgamma, double[:, ::1] partial_dbeta) noexcept:
    cdef Py_ssize_t k, rows = x.shape[0], chunks = partial_dgamma.shape[0]
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for k in prange(chunks, nogil=True, schedule="static", num_threads=threads):
        layer_norm_backward_chunk(dy, x, dx, gamma, mean, inv_std, partial_dgamma[k], partial_dbeta[k],
                                  k * rows // chunks, (k + 1) * rows // chunks)


def rows_of(x):
    """A C-contiguous (M, D) view (or copy) of x: one row per sample, the features last."""
    return np.ascontiguousarray(x.reshape(-1, x.shape[x.ndim - 1]))


def sum_in_order(partial):
    """Add the rows of a (pieces, D) float64 buffer one after another (a fixed order)."""
    total = np.zeros(partial.shape[1])
    for piece in partial:
        total += piece
    return total


def layer_norm_forward(x, gamma, beta, epsilon):
    """Normalise each row of x over its last axis; returns (y, mean, inv_std)."""
    check_layer_norm_forward(x, gamma, beta, epsilon)
    rows = rows_of(x)
    y = np.empty_like(rows)
    mean = np.empty(rows.shape[0])
    inv_std = np.empty(rows.shape[0])
    gamma, beta = np.ascontiguousarray(gamma), np.ascontiguousarray(beta)
    if rows.dtype == np.float32:
        layer_norm_rows[float](rows, y, gamma, beta, float(epsilon), mean, inv_std)
    else:
        layer_norm_rows[double](rows, y, gamma, beta, float(epsilon), mean, inv_std)
    stats_shape = x.shape[:x.ndim - 1]
    return (y.reshape(x.shape), mean.reshape(stats_shape).astype(x.dtype),
            inv_std.reshape(stats_shape).astype(x.dtype))


def layer_norm_backward(dy, x, gamma, mean, inv_std):
    """Gradients of layer norm; returns (dx, dgamma, dbeta)."""
    check_layer_norm_backward(dy, x, gamma, mean, inv_std)
    rows, dy_rows = rows_of(x), rows_of(dy)
    dx = np.empty_like(rows)
    chunks = min(REDUCTION_CHUNKS, rows.shape[0])
    partial_dgamma = np.empty((chunks, rows.shape[1]))
    partial_dbeta = np.empty((chunks, rows.shape[1]))
    mean64 = np.ascontiguousarray(mean.reshape(-1), dtype=np.float64)
    inv_std64 = np.ascontiguousarray(inv_std.reshape(-1), dtype=np.float64)
    gamma = np.ascontiguousarray(gamma)
    if rows.dtype == np.float32:
        layer_norm_backward_rows[float](dy_rows, rows, dx, gamma, mean64, inv_std64, partial_dgamma, partial_dbeta)
    else:
        layer_norm_backward_rows[double](dy_rows, rows, dx, gamma, mean64, inv_std64, partial_dgamma, partial_dbeta)
    dtype = x.dtype
    return dx.reshape(x.shape), sum_in_order(partial_dgamma).astype(dtype), sum_in_order(partial_dbeta).astype(dtype)


# --------------------------------------------------------------------------------------------
# Group norm: x seen as (N, S, C); one (sample, group) pair at a time
# --------------------------------------------------------------------------------------------
cdef void group_norm_pair(const floating[:, :, ::1] x, floating[:, :, ::1] y, const floating[::1] gamma,
                          const floating[::1] beta, Py_ssize_t groups, double epsilon, double[:, ::1] mean,
                          double[:, ::1] inv_std, Py_ssize_t pair) noexcept nogil:
    cdef Py_ssize_t n = pair // groups, g = pair % groups
    cdef Py_ssize_t width = x.shape[2] // groups, c0 = g * width, c1 = c0 + width, s, c
    cdef double count = x.shape[1] * width, total = 0, squares = 0, deviation, group_mean, group_inv_std
    for s in range(x.shape[1]):
        for c in range(c0, c1):
            total = total + x[n, s, c]
    group_mean = total / count
    for s in range(x.shape[1]):
        for c in range(c0, c1):
            deviation = x[n, s, c] - group_mean
            squares = squares + deviation * deviation
    group_inv_std = 1.0 / sqrt(squares / count + epsilon)
    for s in range(x.shape[1]):
        for c in range(c0, c1):
            y[n, s, c] = <floating>(gamma[c] * (x[n, s, c] - group_mean) * group_inv_std + beta[c])
    mean[n, g] = group_mean
    inv_std[n, g] = group_inv_std


cdef void group_norm_pairs(const floating[:, :, ::1] x, floating[:, :, ::1] y, const floating[::1] gamma,
                           const floating[::1] beta, Py_ssize_t groups, double epsilon, double[:, ::1] mean,
                           double[:, ::1] inv_std) noexcept:
    cdef Py_ssize_t pair
    cdef int threads = threads_for(x.shape[0] * x.shape[1] * x.shape[2])
    for pair in prange(x.shape[0] * groups, nogil=True, schedule="static", num_threads=threads):
        group_norm_pair(x, y, gamma, beta, groups, epsilon, mean, inv_std, pair)


cdef void group_norm_backward_pair(const floating[:, :, ::1] dy, const floating[:, :, ::1] x, floating[:, :, ::1] dx,
                                   const floating[::1] gamma, Py_ssize_t groups, const double[:, ::1] mean,
                                   const double[:, ::1] inv_std, double[:, ::1] sample_dgamma,
                                   double[:, ::1] sample_dbeta, Py_ssize_t pair) noexcept nogil:
    """dx of one (sample, group), and that sample's dgamma/dbeta for the group's channels."""
    cdef Py_ssize_t n = pair // groups, g = pair % groups
    cdef Py_ssize_t width = x.shape[2] // groups, c0 = g * width, c1 = c0 + width, s, c
    cdef double count = x.shape[1] * width, m = mean[n, g], k = inv_std[n, g]
    cdef double xhat, dxhat, mean_dxhat = 0, mean_dxhat_xhat = 0
    for c in range(c0, c1):
        sample_dgamma[n, c] = 0
        sample_dbeta[n, c] = 0
    for s in range(x.shape[1]):
        for c in range(c0, c1):
            xhat = (x[n, s, c] - m) * k
            dxhat = gamma[c] * dy[n, s, c]
            mean_dxhat = mean_dxhat + dxhat
            mean_dxhat_xhat = mean_dxhat_xhat + dxhat * xhat
            sample_dbeta[n, c] += dy[n, s, c]
            sample_dgamma[n, c] += dy[n, s, c] * xhat
    mean_dxhat = mean_dxhat / count
    mean_dxhat_xhat = mean_dxhat_xhat / count
    for s in range(x.shape[1]):
        for c in range(c0, c1):
            xhat = (x[n, s, c] - m) * k
            dxhat = gamma[c] * dy[n, s, c]
            dx[n, s, c] = <floating>(k * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat))


cdef void group_norm_backward_pairs(const floating[:, :, ::1] dy, const floating[:, :, ::1] x, floating[:, :, ::1] dx,
                                    const floating[::1] gamma, Py_ssize_t groups, const double[:, ::1] mean,
                                    const double[:, ::1] inv_std, double[:, ::1] sample_dgamma,
                                    double[:, ::1] sample_dbeta) noexcept:
    cdef Py_ssize_t pair
    cdef int threads = threads_for(x.shape[0] * x.shape[1] * x.shape[2])
    for pair in prange(x.shape[0] * groups, nogil=True, schedule="static", num_threads=threads):
        group_norm_backward_pair(dy, x, dx, gamma, groups, mean, inv_std, sample_dgamma, sample_dbeta, pair)


def samples_of(x):
    """A C-contiguous (N, S, C) view (or copy) of x: samples, positions, channels."""
    return np.ascontiguousarray(x.reshape(x.shape[0], -1, x.shape[x.ndim - 1]))


def group_norm_forward(x, groups, gamma, beta, epsilon):
    """Normalise each group of channels of each sample; returns (y, mean, inv_std) ((N, G) stats)."""
    check_group_norm_forward(x, groups, gamma, beta, epsilon)
    samples = samples_of(x)
    y = np.empty_like(samples)
    mean = np.empty((x.shape[0], groups))
    inv_std = np.empty((x.shape[0], groups))
    gamma, beta = np.ascontiguousarray(gamma), np.ascontiguousarray(beta)
    if samples.dtype == np.float32:
        group_norm_pairs[float](samples, y, gamma, beta, groups, float(epsilon), mean, inv_std)
    else:
        group_norm_pairs[double](samples, y, gamma, beta, groups, float(epsilon), mean, inv_std)
    return y.reshape(x.shape), mean.astype(x.dtype), inv_std.astype(x.dtype)


def group_norm_backward(dy, x, groups, gamma, mean, inv_std):
    """Gradients of group norm; returns (dx, dgamma, dbeta)."""
    check_group_norm_backward(dy, x, groups, gamma, mean, inv_std)
    samples, dy_samples = samples_of(x), samples_of(dy)
    dx = np.empty_like(samples)
    sample_dgamma = np.empty((x.shape[0], samples.shape[2]))
    sample_dbeta = np.empty((x.shape[0], samples.shape[2]))
    mean64 = np.ascontiguousarray(mean, dtype=np.float64)
    inv_std64 = np.ascontiguousarray(inv_std, dtype=np.float64)
    gamma = np.ascontiguousarray(gamma)
    if samples.dtype == np.float32:
        group_norm_backward_pairs[float](dy_samples, samples, dx, gamma, groups, mean64, inv_std64,
                                         sample_dgamma, sample_dbeta)
    else:
        group_norm_backward_pairs[double](dy_samples, samples, dx, gamma, groups, mean64, inv_std64,
                                          sample_dgamma, sample_dbeta)
    dtype = x.dtype
    return dx.reshape(x.shape), sum_in_order(sample_dgamma).astype(dtype), sum_in_order(sample_dbeta).astype(dtype)
