# cython: language_level=3
"""Thread control for the OpenMP kernels: one thread count for the whole process.

OpenMP keeps its count (``omp_set_num_threads``) per calling thread, so a count set on the main
thread would not reach a ``threading.Thread`` started later.  The count lives here instead, in
one C variable that every compiled pass reads (``parallel.pxd``'s ``threads_for``) and hands to
its ``prange(num_threads=...)``.

In a child made by fork after the kernels were loaded, ``tinyconv.parallel`` calls
``hold_one_thread_after_fork``: the count stays at one there.
"""
import warnings

import numpy as np

from cython.parallel cimport prange

from tinyconv.kernels.cpu.parallel cimport threads_for

cdef extern from "omp_compat.h":
    int TINYCONV_HAVE_OPENMP
    int omp_get_max_threads() nogil
    int omp_get_num_procs() nogil
    int omp_get_num_threads() nogil


def _starting_count():
    """OMP_NUM_THREADS's count when it is set (OpenMP's own default), else the cores this process
    may use: tinyconv.thread_budget.default_thread_count() (CPU affinity and container quota)."""
    if not TINYCONV_HAVE_OPENMP:
        return 1
    from tinyconv.thread_budget import starting_thread_count

    return starting_thread_count(omp_get_max_threads())


# Read once, when the kernels load (not at ``import tinyconv``, which leaves them unloaded so that
# a child forked before any kernel ran still gets every thread).
cdef int _threads = _starting_count()
# Set in a child made by fork: OpenMP's threads stayed behind in the parent, and a team of more
# than one thread would wait for them forever (a team of one never touches them).
cdef bint _forked = False


cdef int process_threads() noexcept nogil:
    return _threads


def openmp_enabled():
    """True when the kernels were compiled with OpenMP (multi-threaded)."""
    return bool(TINYCONV_HAVE_OPENMP)


def set_num_threads(int n):
    """Run every compiled pass, from any thread, on ``n`` threads (``n`` >= 1)."""
    global _threads
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n}")
    if not TINYCONV_HAVE_OPENMP:
        n = 1  # built without OpenMP: every loop runs on the calling thread
    elif _forked and n > 1:
        warnings.warn(f"set_num_threads({n}): this process was started by fork, where the compiled "
                      "kernels stay on one thread (OpenMP's threads do not survive fork); start it "
                      "with the 'spawn' or 'forkserver' method to use every core", RuntimeWarning,
                      stacklevel=2)
        n = 1
    _threads = n


def hold_one_thread_after_fork():
    """In a child made by fork: one thread from now on.  True if the count was more."""
    global _threads, _forked
    _forked = True
    dropped = _threads > 1
    _threads = 1
    return dropped


def get_num_threads():
    return _threads


def num_procs():
    return omp_get_num_procs()


def team_size_of_pass(Py_ssize_t elements):
    """How many threads a compiled pass over ``elements`` numbers really runs on.

    Runs an empty loop the way the kernels do (``threads_for`` then ``prange``) and reports
    OpenMP's team size seen inside it: the tests check the count reaches the loops.
    """
    cdef int threads = threads_for(elements)
    cdef int[::1] seen = np.zeros(threads, dtype=np.intc)
    cdef Py_ssize_t i
    for i in prange(threads, nogil=True, schedule="static", num_threads=threads):
        seen[i] = omp_get_num_threads()
    return int(np.max(seen))
