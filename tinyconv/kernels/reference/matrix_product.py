"""The matrix product of a Dense layer, as the lecture writes it.

    c[i, j] = sum over k of a[i, k] * b[k, j]

NumPy's ``a @ b`` runs exactly this sum (through its BLAS, which orders the loops for the
cache); the compiled twin (``tinyconv/kernels/cpu/matrix_product.py``) runs the same BLAS on tinyconv's
own threads.
"""

__all__ = ["matmul"]


def matmul(a, b):
    """``a @ b``; a may have leading batch axes (as a Dense layer's input), b is a matrix."""
    return a @ b
