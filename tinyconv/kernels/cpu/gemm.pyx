# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Matrix products on tinyconv's own OpenMP threads: c = op(a) @ op(b), one BLAS call per part.

Why not NumPy's ``a @ b``?  NumPy's BLAS (OpenBLAS) keeps a thread pool of its own.  A training
step alternates between the compiled kernels (OpenMP's threads) and the matrix products
(OpenBLAS's threads); two pools on the same cores either sleep between calls (each wake-up
costs tens of microseconds, paid a hundred times a step) or spin and take the cores the other
pool needs (measured on a 2-core Xeon: LeNet-5 fell from 9,600 to 1,400 img/s).  PyTorch avoids
this by running its BLAS on its OpenMP pool.  So does this module:

    c (m x n) is cut into parts, rows or columns, whichever is longer (one per thread, or
    PARTS_PER_THREAD per thread for long products, taken as the threads come free):
        part t:   c[part t] = op(a)[rows of t] @ op(b)          (row parts)
                  c[part t] = op(a) @ op(b)[columns of t]       (column parts)
    each part is one call of a single-threaded BLAS (SciPy's ``cython_blas``, kept at one
    thread: ``blas_threads.py``) on one of tinyconv's OpenMP threads.

Every number of c is summed by one BLAS call over the whole of k, so the cut changes no sum's
order.  ``matrix_product.py`` checks the arguments and chooses the thread count; these loops run
unchecked.
"""
from cython cimport floating
from cython.parallel cimport prange

from tinyconv.kernels.cpu.row_major_blas cimport row_major_gemm

__all__ = ["gemm"]

# A column part is a whole number of this many columns (a vector register's worth at AVX-512,
# so no two threads share a cache line of c's rows).
COLUMN_ALIGN = 16
# A product long enough for PARTS_PER_THREAD parts of at least MIN_PART rows (or columns) per
# thread is cut that finely, and the threads take parts as they finish: a thread whose core
# another process holds then does fewer parts instead of holding up the rest.  Each part packs
# the whole of the other operand again, so short products keep one part per thread.
PARTS_PER_THREAD = 4
MIN_PART = 128


cdef Py_ssize_t _part_size(Py_ssize_t length, Py_ssize_t parts, Py_ssize_t align) noexcept nogil:
    """The length of each of ``parts`` parts (the last may be shorter), a multiple of ``align``."""
    cdef Py_ssize_t size = (length + parts - 1) // parts
    return ((size + align - 1) // align) * align


def gemm(const floating[:, ::1] a, bint trans_a, const floating[:, ::1] b, bint trans_b,
         floating[:, ::1] c, int threads):
    """c = op(a) @ op(b), on ``threads`` OpenMP threads.

    a and b are C-contiguous; op(a) is a.T when ``trans_a`` (a is then k x m), else a (m x k);
    likewise b.  The caller checked that the shapes agree.
    """
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t lda = a.shape[1], ldb = b.shape[1], part, parts, size, first, count, length
    cdef floating beta = 0
    cdef bint by_rows = m >= n
    cdef const floating* a0
    cdef const floating* b0
    if m == 0 or n == 0:
        return
    if k == 0:                                   # an empty sum: BLAS would not touch c
        c[:, :] = 0
        return
    a0 = &a[0, 0]
    b0 = &b[0, 0]
    if threads <= 1:
        row_major_gemm(trans_a, trans_b, m, n, k, a0, lda, b0, ldb, beta, &c[0, 0], n)
        return
    length = m if by_rows else n
    parts = threads * PARTS_PER_THREAD if length >= threads * PARTS_PER_THREAD * MIN_PART else threads
    size = _part_size(length, parts, 1 if by_rows else COLUMN_ALIGN)
    for part in prange(parts, nogil=True, schedule="dynamic", num_threads=threads):
        first = part * size
        if by_rows:
            count = min(size, m - first)
            if count > 0:   # rows [first, first + count) of op(a): a row of a, or a column of a.T
                row_major_gemm(trans_a, trans_b, count, n, k, a0 + (first if trans_a else first * lda), lda,
                               b0, ldb, beta, &c[first, 0], n)
        else:
            count = min(size, n - first)
            if count > 0:   # columns [first, first + count) of op(b)
                row_major_gemm(trans_a, trans_b, m, count, k, a0, lda,
                               b0 + (first * ldb if trans_b else first), ldb, beta, &c[0, first], n)
