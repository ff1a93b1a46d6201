# cython: language_level=3
"""Thread control for the OpenMP kernels."""

cdef extern from "omp_compat.h":
    int TINYCONV_HAVE_OPENMP
    int omp_get_max_threads() nogil
    int omp_get_num_procs() nogil
    void omp_set_num_threads(int n) nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP (multi-threaded)."""
    return bool(TINYCONV_HAVE_OPENMP)


def set_num_threads(int n):
    omp_set_num_threads(n)


def get_num_threads():
    return omp_get_max_threads()


def num_procs():
    return omp_get_num_procs()
