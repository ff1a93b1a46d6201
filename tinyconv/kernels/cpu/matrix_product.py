"""``matmul(a, b)``: NumPy's ``a @ b``, on tinyconv's own OpenMP threads (``gemm.pyx`` says why).

Dense layers call it through ``tinyconv.dispatch.matmul``, the 1x1, im2col and 3-D convolutions
directly.  A product too small to share (below ``threads.min_parallel_macs()`` multiply-adds:
2^18, or more where waking the team was measured to cost more) is one BLAS call on the calling
thread.  What the compiled product does not take (integers, complex numbers, stacks of matrices
on the right, a build without SciPy's BLAS) is NumPy's ``a @ b``.
"""
import numpy as np

from .threads import GEMM_MIN_MACS, get_num_threads, min_parallel_macs

__all__ = ["matmul"]

_FLOATS = (np.float32, np.float64)
_COMPILED = None        # (gemm, single_threaded_blas) once looked up; False when not built


def _compiled():
    """(gemm module, single_threaded_blas) when both are there, else None."""
    global _COMPILED
    if _COMPILED is None:
        try:
            from . import gemm
            from .blas_threads import scipy_blas_controller, single_threaded_blas
        except ImportError:
            _COMPILED = False
        else:
            _COMPILED = (gemm, single_threaded_blas) if scipy_blas_controller() is not None else False
    return _COMPILED or None


def _stored(matrix):
    """(C-contiguous array, transposed?) holding ``matrix``: a transposed view costs no copy."""
    if matrix.flags.c_contiguous:
        return matrix, False
    if matrix.flags.f_contiguous:
        return matrix.T, True
    return np.ascontiguousarray(matrix), False


# The product is cut along m or n (gemm.pyx): each thread needs this many rows or columns of its
# own, or it reads all of a long k for a sliver of the result (a convolution's dL/dW, 75 x 6
# summed over 800,000 pixels, ran 1.4x slower on two threads than on one).
MIN_ROWS_PER_THREAD = 64


def threads_for(m, n, k, threads=None):
    """Threads worth waking for an (m x k) @ (k x n) product (``threads``: the caller's choice for a
    whole pass, else the kernels' count when the product is big enough)."""
    count = get_num_threads() if threads is None else threads
    if m * n * k < (min_parallel_macs() if threads is None else GEMM_MIN_MACS):
        return 1
    return max(1, min(count, max(m, n) // MIN_ROWS_PER_THREAD))


def matmul(a, b, out=None, threads=None):
    """``a @ b`` for NumPy arrays; a may have leading batch axes when b is a matrix (as Dense's x @ W).

    ``out``: a matrix to write the product into (as ``np.matmul``'s), for 2-D a; returned.
    ``threads``: the count the caller chose for a whole pass of several products (a convolution
    by chunks), used for any product above the floor; None: this product's own size decides."""
    compiled = _compiled()
    if (compiled is None or b.ndim != 2 or a.ndim < 2 or a.dtype != b.dtype or a.dtype.type not in _FLOATS
            or a.shape[-1] != b.shape[0]):
        # NumPy's own product, and its error for shapes that do not agree
        return a @ b if out is None else np.matmul(a, b, out=out)
    gemm, single_threaded_blas = compiled
    lead = a.shape[:-1]
    if a.ndim > 2:
        a = a.reshape(-1, a.shape[-1])      # a view when a is contiguous
    stored_a, trans_a = _stored(a)
    stored_b, trans_b = _stored(b)
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    direct = out is not None and out.shape == (m, n) and out.dtype == a.dtype and out.flags.c_contiguous \
        and out.flags.writeable
    c = out if direct else np.empty((m, n), dtype=a.dtype)
    with single_threaded_blas():
        gemm.gemm(stored_a, trans_a, stored_b, trans_b, c, threads_for(m, n, k, threads))
    if out is None:
        return c.reshape(*lead, n)
    if not direct:
        out[...] = c.reshape(out.shape)     # NumPy's error when the shape does not fit
    return out
