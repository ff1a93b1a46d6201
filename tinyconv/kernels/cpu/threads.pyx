# cython: language_level=3
"""Thread control for the OpenMP kernels: one thread count for the whole process.

OpenMP keeps its count (``omp_set_num_threads``) per calling thread, so a count set on the main
thread would not reach a ``threading.Thread`` started later.  The count lives here instead, in
one C variable that every compiled pass reads (``parallel.pxd``'s ``threads_for``) and hands to
its ``prange(num_threads=...)``.

In a child made by fork after the kernels were loaded, ``tinyconv.parallel`` calls
``hold_one_thread_after_fork``: the count stays at one there.
"""
import time
import warnings

import numpy as np

from cython.parallel cimport prange

from tinyconv.kernels.cpu.parallel cimport PARALLEL_MIN_ELEMENTS, threads_for

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


# --- when a pass is worth a team ---------------------------------------------------------------
#
# A parallel pass first wakes the team's other threads, which sleep between passes (import
# tinyconv asks OpenMP for passive waits).  What that costs depends on the machine: a few
# microseconds on a desktop, 94-150 on the 2-core virtual machine of benchmarks/README.md, whose idle
# cores are halted and slow to wake.  Two threads only pay when the pass's one-thread time is
# several wake-ups long (the half a helper computed also sits in its core's cache, and the next
# pass reads it from there), so the thresholds follow the wake-up measured here.  Measured on that
# machine (wake-up 94-150 us): with WORTH = 4 LeNet-5's step at batch 64 ran 0.87x as fast on 2
# threads as on 1 (its 0.3-0.6 ms passes split); with 6 they stay on one thread (but for one at the
# threshold: 0.94x), while batch 256's 1.2 ms poolings split (1.17 -> 0.69 ms) and its step runs
# 1.30x faster on 2 threads.
#
#     min elements = max(PARALLEL_MIN_ELEMENTS, WORTH * wake-up us * ELEMENTS_PER_US)
#     min MACs     = max(GEMM_MIN_MACS,         WORTH * wake-up us * MACS_PER_US)
#
# (the MACs threshold serves the matrix products and the convolutions' passes, route.py).

WORTH = 6                     # a pass goes parallel when it takes this many wake-ups on one thread
ELEMENTS_PER_US = 1000        # a memory-bound pass (activations, pooling, norms) on one core
MACS_PER_US = 50000           # a product or convolution on one core (50 GMAC/s: 100 GFLOP/s)
GEMM_MIN_MACS = 2**18         # the matrix product's floor (about 10 us of work)
MIN_ELEMENTS = PARALLEL_MIN_ELEMENTS    # parallel.pxd's floor, for Python to read

cdef Py_ssize_t _min_elements = PARALLEL_MIN_ELEMENTS
cdef Py_ssize_t _min_macs = GEMM_MIN_MACS
_wake_up_us = {}              # thread count -> measured microseconds (median of 5)


cdef Py_ssize_t process_min_elements() noexcept nogil:
    return _min_elements


def _time_one_wake_up(int threads):
    """Seconds of one empty parallel loop on ``threads`` threads whose team has gone idle."""
    cdef Py_ssize_t i
    cdef int[::1] seen = np.zeros(threads, dtype=np.intc)
    time.sleep(0.002)                                # long enough for the team to fall asleep
    start = time.perf_counter()
    for i in prange(threads, nogil=True, schedule="static", num_threads=threads):
        seen[i] = 1
    return time.perf_counter() - start


def calibrate(int threads):
    """Measure waking a team of ``threads`` (once per count) and set the thresholds from it.

    Returns the wake-up in microseconds (0 for one thread)."""
    global _min_elements, _min_macs
    if threads <= 1 or not TINYCONV_HAVE_OPENMP:
        wake_up = 0.0
    elif threads in _wake_up_us:
        wake_up = _wake_up_us[threads]
    else:
        _time_one_wake_up(threads)                   # the first loop starts the team's threads
        wake_up = _wake_up_us[threads] = float(np.median([_time_one_wake_up(threads) for _ in range(5)])) * 1e6
    _min_elements = max(PARALLEL_MIN_ELEMENTS, int(WORTH * wake_up * ELEMENTS_PER_US))
    _min_macs = max(GEMM_MIN_MACS, int(WORTH * wake_up * MACS_PER_US))
    return wake_up


def wake_up_us():
    """The measured cost of waking the current team, in microseconds (0 for one thread)."""
    return _wake_up_us.get(_threads, 0.0)


def min_parallel_elements():
    """The smallest pass (numbers touched) that runs on more than one thread."""
    return _min_elements


def min_parallel_macs():
    """The smallest matrix product (multiply-adds) that runs on more than one thread."""
    return _min_macs


def measured_min_macs():
    """WORTH wake-ups of multiply-adds, without the floor: the convolutions' second condition
    (their floor is PARALLEL_MIN_ELEMENTS numbers of work, route.py)."""
    return int(WORTH * wake_up_us() * MACS_PER_US)


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
    calibrate(n)


def hold_one_thread_after_fork():
    """In a child made by fork: one thread from now on.  True if the count was more."""
    global _threads, _forked
    _forked = True
    dropped = _threads > 1
    _threads = 1
    calibrate(1)
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


calibrate(_threads)
