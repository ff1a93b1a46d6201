# The one BLAS call of the compiled kernels (gemm.pyx, conv2d/conv_blocks.pyx): a row-major
# matrix product through SciPy's column-major BLAS, callable without the GIL.

from cython cimport floating

from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void row_major_gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb,
                                floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """Row-major c (m x n) = op(a) @ op(b) + beta * c, where op(a) is m x k, op(b) is k x n.

    BLAS is column-major, and a row-major matrix read column-major is its transpose, so this
    asks BLAS for c.T = op(b).T @ op(a).T: the same call with a and b swapped.
    """
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    cdef int mm = <int>n, nn = <int>m, kk = <int>k, la = <int>ldb, lb = <int>lda, lc = <int>ldc
    cdef floating one = 1
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&ta, &tb, &mm, &nn, &kk, &one, <float*>b, &la, <float*>a, &lb, &beta, c, &lc)
    else:
        dgemm(&ta, &tb, &mm, &nn, &kk, &one, <double*>b, &la, <double*>a, &lb, &beta, c, &lc)
