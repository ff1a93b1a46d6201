# cython: language_level=3
"""Batch normalisation, compiled (Cython + OpenMP); twin of ``kernels/reference/normalization.py``.

The formulas are in the reference's docstrings.  Two things are particular to this version:

* Per-channel sums are accumulated in float64 whatever the input dtype (a float32 running
  sum over a large batch loses digits).
* Reductions are deterministic.  The M rows are cut into a FIXED number of chunks (not one
  per thread); each chunk sums into its own row of a (chunks, C) buffer, in parallel, and
  the chunk sums are then added in chunk order.  The additions happen in the same order
  whatever the number of threads, so the results are bit-identical on 1 or 64 threads.

Elementwise passes (y, dx) run in parallel over rows.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange

# The argument checks are shared with the reference: one set of rules, one set of messages.
from tinyconv.kernels.checks.normalization import (
    check_batch_norm_backward,
    check_batch_norm_infer,
    check_batch_norm_train,
)

from tinyconv.kernels.cpu.parallel cimport threads_for

cdef enum:
    # How many pieces a reduction over rows is cut into.  Fixed, so the order of the float
    # additions (and so the rounding) never depends on the thread count.
    REDUCTION_CHUNKS = 64



cdef inline Py_ssize_t chunk_start(Py_ssize_t chunk, Py_ssize_t rows, Py_ssize_t chunks) noexcept nogil:
    return chunk * rows // chunks


# --------------------------------------------------------------------------------------------
# Per-chunk sums (each fills its own row of `partial`, so chunks can run in parallel)
# --------------------------------------------------------------------------------------------
cdef void sum_rows(const floating[:, ::1] x, double[::1] out, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """out[c] = sum of x[r, c] for r in [r0, r1)."""
    cdef Py_ssize_t r, c
    for c in range(x.shape[1]):
        out[c] = 0
    for r in range(r0, r1):
        for c in range(x.shape[1]):
            out[c] += x[r, c]


cdef void sum_squared_deviations(const floating[:, ::1] x, const double[::1] mean, double[::1] out,
                                 Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """out[c] = sum of (x[r, c] - mean[c])^2 for r in [r0, r1) (two passes: no cancellation)."""
    cdef Py_ssize_t r, c
    cdef double d
    for c in range(x.shape[1]):
        out[c] = 0
    for r in range(r0, r1):
        for c in range(x.shape[1]):
            d = x[r, c] - mean[c]
            out[c] += d * d


cdef void sum_gradients(const floating[:, ::1] dy, const floating[:, ::1] x, const double[::1] mean,
                        const double[::1] inv_std, double[::1] dbeta, double[::1] dgamma, Py_ssize_t r0,
                        Py_ssize_t r1) noexcept nogil:
    """dbeta[c] = sum dy, dgamma[c] = sum dy * xhat over rows [r0, r1)."""
    cdef Py_ssize_t r, c
    for c in range(x.shape[1]):
        dbeta[c] = 0
        dgamma[c] = 0
    for r in range(r0, r1):
        for c in range(x.shape[1]):
            dbeta[c] += dy[r, c]
            dgamma[c] += dy[r, c] * (x[r, c] - mean[c]) * inv_std[c]


cdef void add_chunks(double[:, ::1] partial, double[::1] total) noexcept nogil:
    """total[c] = sum over chunks of partial[chunk, c], always in chunk order."""
    cdef Py_ssize_t k, c
    for c in range(partial.shape[1]):
        total[c] = 0
    for k in range(partial.shape[0]):
        for c in range(partial.shape[1]):
            total[c] += partial[k, c]


cdef Py_ssize_t chunk_count(Py_ssize_t rows) noexcept nogil:
    return REDUCTION_CHUNKS if rows > REDUCTION_CHUNKS else rows


cdef void channel_sums(const floating[:, ::1] x, double[::1] total) noexcept:
    cdef Py_ssize_t k, rows = x.shape[0], chunks = chunk_count(x.shape[0])
    cdef double[:, ::1] partial = np.empty((chunks, x.shape[1]))
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for k in prange(chunks, nogil=True, schedule="guided", num_threads=threads):
        sum_rows(x, partial[k], chunk_start(k, rows, chunks), chunk_start(k + 1, rows, chunks))
    add_chunks(partial, total)


cdef void channel_squared_deviations(const floating[:, ::1] x, const double[::1] mean, double[::1] total) noexcept:
    cdef Py_ssize_t k, rows = x.shape[0], chunks = chunk_count(x.shape[0])
    cdef double[:, ::1] partial = np.empty((chunks, x.shape[1]))
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for k in prange(chunks, nogil=True, schedule="guided", num_threads=threads):
        sum_squared_deviations(x, mean, partial[k], chunk_start(k, rows, chunks), chunk_start(k + 1, rows, chunks))
    add_chunks(partial, total)


cdef void channel_gradient_sums(const floating[:, ::1] dy, const floating[:, ::1] x, const double[::1] mean,
                                const double[::1] inv_std, double[::1] dbeta, double[::1] dgamma) noexcept:
    cdef Py_ssize_t k, rows = x.shape[0], chunks = chunk_count(x.shape[0])
    cdef double[:, ::1] partial_dbeta = np.empty((chunks, x.shape[1]))
    cdef double[:, ::1] partial_dgamma = np.empty((chunks, x.shape[1]))
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for k in prange(chunks, nogil=True, schedule="guided", num_threads=threads):
        sum_gradients(dy, x, mean, inv_std, partial_dbeta[k], partial_dgamma[k],
                      chunk_start(k, rows, chunks), chunk_start(k + 1, rows, chunks))
    add_chunks(partial_dbeta, dbeta)
    add_chunks(partial_dgamma, dgamma)


# --------------------------------------------------------------------------------------------
# Elementwise passes (rows are independent)
# --------------------------------------------------------------------------------------------
cdef void scale_and_shift_row(const floating[:, ::1] x, floating[:, ::1] y, const double[::1] mean,
                              const double[::1] scale, const double[::1] shift, Py_ssize_t r) noexcept nogil:
    """y = (x - mean) * scale + shift for one row (scale = gamma * inv_std, shift = beta)."""
    cdef Py_ssize_t c
    for c in range(x.shape[1]):
        y[r, c] = <floating>((x[r, c] - mean[c]) * scale[c] + shift[c])


cdef void normalize(const floating[:, ::1] x, floating[:, ::1] y, const double[::1] mean, const double[::1] scale,
                    const double[::1] shift) noexcept:
    cdef Py_ssize_t r
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for r in prange(x.shape[0], nogil=True, schedule="guided", num_threads=threads):
        scale_and_shift_row(x, y, mean, scale, shift, r)


cdef void input_gradient_row(const floating[:, ::1] dy, const floating[:, ::1] x, floating[:, ::1] dx,
                             const double[::1] mean, const double[::1] inv_std, const double[::1] factor,
                             double[::1] dbeta, double[::1] dgamma, double m, Py_ssize_t r) noexcept nogil:
    """dx = gamma * inv_std / M * (M * dy - dbeta - xhat * dgamma) for one row."""
    cdef Py_ssize_t c
    cdef double xhat
    for c in range(x.shape[1]):
        xhat = (x[r, c] - mean[c]) * inv_std[c]
        dx[r, c] = <floating>(factor[c] * (m * dy[r, c] - dbeta[c] - xhat * dgamma[c]))


cdef void input_gradient(const floating[:, ::1] dy, const floating[:, ::1] x, floating[:, ::1] dx,
                         const double[::1] mean, const double[::1] inv_std, const double[::1] factor,
                         double[::1] dbeta, double[::1] dgamma) noexcept:
    cdef Py_ssize_t r
    cdef double m = x.shape[0]
    cdef int threads = threads_for(x.shape[0] * x.shape[1])
    for r in prange(x.shape[0], nogil=True, schedule="guided", num_threads=threads):
        input_gradient_row(dy, x, dx, mean, inv_std, factor, dbeta, dgamma, m, r)


# --------------------------------------------------------------------------------------------
# The public functions: validate, view as (M, C) rows, run the loops
# --------------------------------------------------------------------------------------------
def rows_of(x):
    """A C-contiguous (M, C) view (or copy) of x."""
    channels = x.shape[x.ndim - 1]  # (wraparound is off in this module: no [-1])
    return np.ascontiguousarray(x.reshape(-1, channels))


def batch_norm_forward_train(x, gamma, beta, epsilon):
    """Normalise with the batch's own statistics; returns (y, mean, var, inv_std)."""
    check_batch_norm_train(x, gamma, beta, epsilon)
    rows = rows_of(x)
    y = np.empty_like(rows)
    mean = np.empty(rows.shape[1])
    var = np.empty(rows.shape[1])
    if rows.dtype == np.float32:
        channel_sums[float](rows, mean)
    else:
        channel_sums[double](rows, mean)
    mean /= rows.shape[0]
    if rows.dtype == np.float32:
        channel_squared_deviations[float](rows, mean, var)
    else:
        channel_squared_deviations[double](rows, mean, var)
    var /= rows.shape[0]                      # biased variance, as Keras uses
    inv_std = 1.0 / np.sqrt(var + epsilon)
    scale = gamma.astype(np.float64) * inv_std
    shift = beta.astype(np.float64)
    if rows.dtype == np.float32:
        normalize[float](rows, y, mean, scale, shift)
    else:
        normalize[double](rows, y, mean, scale, shift)
    dtype = x.dtype
    return y.reshape(x.shape), mean.astype(dtype), var.astype(dtype), inv_std.astype(dtype)


def batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, epsilon):
    """Normalise with the moving statistics."""
    check_batch_norm_infer(x, gamma, beta, moving_mean, moving_var, epsilon)
    rows = rows_of(x)
    y = np.empty_like(rows)
    mean = moving_mean.astype(np.float64)
    scale = gamma.astype(np.float64) / np.sqrt(moving_var.astype(np.float64) + epsilon)
    shift = beta.astype(np.float64)
    if rows.dtype == np.float32:
        normalize[float](rows, y, mean, scale, shift)
    else:
        normalize[double](rows, y, mean, scale, shift)
    return y.reshape(x.shape)


def batch_norm_backward(dy, x, gamma, mean, inv_std):
    """Gradients of training-mode batch norm; returns (dx, dgamma, dbeta)."""
    check_batch_norm_backward(dy, x, gamma, mean, inv_std)
    rows, dy_rows = rows_of(x), rows_of(dy)
    dx = np.empty_like(rows)
    mean64 = mean.astype(np.float64)
    inv_std64 = inv_std.astype(np.float64)
    dbeta = np.empty(rows.shape[1])
    dgamma = np.empty(rows.shape[1])
    if rows.dtype == np.float32:
        channel_gradient_sums[float](dy_rows, rows, mean64, inv_std64, dbeta, dgamma)
    else:
        channel_gradient_sums[double](dy_rows, rows, mean64, inv_std64, dbeta, dgamma)
    factor = gamma.astype(np.float64) * inv_std64 / rows.shape[0]
    if rows.dtype == np.float32:
        input_gradient[float](dy_rows, rows, dx, mean64, inv_std64, factor, dbeta, dgamma)
    else:
        input_gradient[double](dy_rows, rows, dx, mean64, inv_std64, factor, dbeta, dgamma)
    dtype = x.dtype
    return dx.reshape(x.shape), dgamma.astype(dtype), dbeta.astype(dtype)
