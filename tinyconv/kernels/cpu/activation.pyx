# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Elementwise activations and the bias gradient, compiled; twin of ``kernels/reference/activation.py``.

Why compile something NumPy does in one line?  A NumPy ufunc runs on one core, and a
backward like ``dy * (1 - a * a)`` makes three passes and two temporaries.  Here each
function is one pass over memory, split across the OpenMP threads, writing straight into
its result (or, for the forward, into the layer's own pre-activation buffer).

The arrays are walked as flat blocks of ``BLOCK`` elements (``schedule="guided"``); the
bias gradient sums fixed row segments in float64 and adds the segments in order, so its
result does not depend on the number of threads.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, tanh

cdef extern from "fast_math.h" nogil:
    # float32 sigmoid over n elements without library calls: a vectorised loop
    void tc_sigmoidf_array(const float* x, float* out, long n)

from tinyconv.kernels.cpu.parallel cimport threads_for
from tinyconv.kernels.cpu.threads cimport process_min_elements, process_threads
from tinyconv.kernels.checks.activation import check_activation_backward, check_activation_forward, check_channel_axis

cdef enum:
    BLOCK = 4096                 # elements per parallel task
    BIAS_SEGMENTS = 64           # fixed row split of the bias gradient

cdef enum Kind:
    LINEAR, RELU, TANH, SIGMOID

_KINDS = {"linear": LINEAR, "relu": RELU, "tanh": TANH, "sigmoid": SIGMOID}
_COMPILED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _compiled(*arrays):
    """True when the loops below can take these arrays as they are (one float dtype)."""
    dtype = arrays[0].dtype
    return dtype in _COMPILED_DTYPES and all(a.dtype == dtype for a in arrays)


# --- forward -------------------------------------------------------------------------------


def activation_forward(z, activation, out=None):
    """a = activation(z); written into ``out`` (which may be ``z`` itself) when given."""
    check_activation_forward(z, activation, out)
    if out is not None and out.shape != z.shape:
        raise ValueError(f"activation_forward: out has shape {out.shape}, expected {z.shape}")
    if not _compiled(z) or (out is not None and not (_compiled(z, out) and out.flags.c_contiguous)):
        from tinyconv.kernels.reference.activation import activation_forward as reference
        return reference(z, activation, out)
    if activation == "linear":
        if out is None:
            return z
        if out is not z:
            np.copyto(out, z)
        return out
    if activation == "tanh" and z.dtype == np.float32:
        # NumPy's own float32 tanh is hand-vectorised (AVX2/AVX-512, chosen at run time) and
        # measured twice as fast per core as any portable loop here, so it stays in charge,
        # on every thread (a ufunc releases the GIL while it runs).
        return _numpy_tanh_on_threads(z, out)
    source = np.ascontiguousarray(z)
    result = np.empty_like(source) if out is None else out
    _forward(source.reshape(-1), result.reshape(-1), _KINDS[activation])
    return result


cdef inline double _sigmoid(double v) noexcept nogil:
    """1 / (1 + e^-v) in float64, without overflow: e^-|v| is at most 1."""
    cdef double e = exp(-v if v >= 0 else v)
    return 1 / (1 + e) if v >= 0 else e / (1 + e)


# Below this many elements (or the measured threshold of parallel.pxd, if higher) one np.tanh
# call is quicker than handing pieces to other threads.
TANH_SPLIT_MIN_ELEMENTS = 131072
_helpers = {}  # thread count -> a pool of (count - 1) helper threads, made on first use


def _numpy_tanh_on_threads(z, out):
    """np.tanh(z, out=out), the flat array cut into one contiguous piece per thread."""
    cdef int threads = process_threads()
    result = np.empty_like(z) if out is None else out
    if (threads == 1 or z.size < max(TANH_SPLIT_MIN_ELEMENTS, process_min_elements()) or not z.flags.c_contiguous
            or not result.flags.c_contiguous):
        return np.tanh(z, out=result)
    source, target = z.reshape(-1), result.reshape(-1)
    bounds = [z.size * part // threads for part in range(threads + 1)]
    pool = _helpers.get(threads)
    if pool is None:
        pool = _helpers[threads] = ThreadPoolExecutor(max_workers=threads - 1)
    pieces = [pool.submit(np.tanh, source[bounds[i]:bounds[i + 1]], out=target[bounds[i]:bounds[i + 1]])
              for i in range(1, threads)]
    np.tanh(source[:bounds[1]], out=target[:bounds[1]])
    for piece in pieces:
        piece.result()
    return result


def _forward(const floating[::1] z, floating[::1] a, int kind):
    cdef Py_ssize_t size = z.shape[0], block, i, start, stop
    cdef Py_ssize_t blocks = (size + BLOCK - 1) // BLOCK
    cdef int threads = threads_for(size)
    cdef floating v
    with nogil:
        for block in prange(blocks, schedule="guided", num_threads=threads):
            start = block * BLOCK
            stop = min(start + BLOCK, size)
            if kind == RELU:
                for i in range(start, stop):
                    v = z[i]
                    a[i] = 0 if v < 0 else v        # NaN stays NaN, as with np.maximum
            elif kind == TANH:                      # float64 only (see activation_forward)
                for i in range(start, stop):
                    a[i] = tanh(z[i])
            elif floating is float:
                tc_sigmoidf_array(&z[start], &a[start], stop - start)
            else:
                for i in range(start, stop):
                    a[i] = _sigmoid(z[i])


# --- backward ------------------------------------------------------------------------------


def activation_backward(dy, a, activation):
    """dL/dz from dL/da = ``dy`` and the activation's output ``a``."""
    check_activation_backward(dy, a, activation)
    if not _compiled(dy, a):
        from tinyconv.kernels.reference.activation import activation_backward as reference
        return reference(dy, a, activation)
    if activation == "linear":
        return dy
    upstream = np.ascontiguousarray(dy)
    dz = np.empty_like(upstream)
    _backward(upstream.reshape(-1), np.ascontiguousarray(a).reshape(-1), dz.reshape(-1), _KINDS[activation])
    return dz


def _backward(const floating[::1] dy, const floating[::1] a, floating[::1] dz, int kind):
    cdef Py_ssize_t size = dy.shape[0], block, i, start, stop
    cdef Py_ssize_t blocks = (size + BLOCK - 1) // BLOCK
    cdef int threads = threads_for(size)
    cdef floating g
    # A 1 of the array's type: Cython writes a literal 1 as the double 1.0, and float32 arrays
    # were then converted to double and back for every number (tanh's backward ran 1.5x slower).
    cdef floating one = 1
    with nogil:
        for block in prange(blocks, schedule="guided", num_threads=threads):
            start = block * BLOCK
            stop = min(start + BLOCK, size)
            if kind == RELU:
                for i in range(start, stop):
                    g = dy[i]                       # read first: the line below is then a select,
                    dz[i] = g if a[i] > 0 else 0    # not a branch (a random sign defeats prediction)
            elif kind == TANH:
                for i in range(start, stop):
                    dz[i] = dy[i] * (one - a[i] * a[i])
            else:
                for i in range(start, stop):
                    dz[i] = dy[i] * a[i] * (one - a[i])


# --- bias gradient -------------------------------------------------------------------------


def bias_gradient(dz):
    """db: dz summed over every axis but the last (the channels/units axis)."""
    check_channel_axis(dz)
    channels = dz.shape[dz.ndim - 1]  # (no negative indices: this file is compiled with wraparound off)
    if not _compiled(dz):
        return dz.reshape(-1, channels).sum(axis=0)
    rows = np.ascontiguousarray(dz).reshape(-1, channels)
    segments = np.zeros((min(BIAS_SEGMENTS, rows.shape[0]), rows.shape[1]), dtype=np.float64)
    if rows.shape[0]:
        _segment_sums(rows, segments)
    return segments.sum(axis=0).astype(dz.dtype)


cdef enum:
    # Few channels make the loop over a row's channels too short to vectorise well (LeNet-5's
    # first layer, 6): up to this many, a segment is summed as one flat run of numbers into
    # PERIOD_MAX accumulators, a whole number of rows wide, folded into channels at the end
    # (N=64 28x28x6 on the 2-core VM: 123 -> 61 us; at 16 channels the plain loop was quicker).
    FLAT_MAX_CHANNELS = 15
    PERIOD_MAX = 64


cdef void _flat_segment_sum(const floating* numbers, Py_ssize_t count, Py_ssize_t channels,
                            double* sums) noexcept nogil:
    """sums[c] += every ``channels``-th number from c on: ``count`` numbers, whole rows."""
    cdef double acc[PERIOD_MAX]
    cdef Py_ssize_t period = channels * (PERIOD_MAX // channels)   # whole rows, at most PERIOD_MAX
    cdef Py_ssize_t i = 0, k
    for k in range(period):
        acc[k] = 0
    while i + period <= count:
        for k in range(period):                # contiguous: vectorised
            acc[k] += numbers[i + k]
        i = i + period
    for k in range(count - i):                 # the last rows, fewer than a period
        acc[k] += numbers[i + k]
    for i in range(period // channels):        # fold the accumulators' rows into the channels
        for k in range(channels):
            sums[k] += acc[i * channels + k]


def _segment_sums(const floating[:, ::1] rows, double[:, ::1] segments):
    """segments[s] = the sum of the rows of segment s (a fixed split of the rows)."""
    cdef Py_ssize_t count = segments.shape[0], total = rows.shape[0], channels = rows.shape[1]
    cdef Py_ssize_t s, r, c, first, stop
    cdef int threads = threads_for(total * channels)
    cdef bint flat = channels <= FLAT_MAX_CHANNELS
    cdef double* sums
    cdef const floating* row
    with nogil:
        for s in prange(count, schedule="guided", num_threads=threads):
            sums = &segments[s, 0]
            first = s * total // count
            stop = (s + 1) * total // count
            if flat:
                if stop > first:
                    _flat_segment_sum(&rows[first, 0], (stop - first) * channels, channels, sums)
            else:
                for r in range(first, stop):
                    row = &rows[r, 0]
                    for c in range(channels):      # contiguous: vectorised
                        sums[c] += row[c]
