"""How many threads the OpenMP kernels use.

The default comes from ``OMP_NUM_THREADS`` when it is set, else every core (OpenMP's own
rule).  The count is one for the whole process: ``set_num_threads`` on one thread reaches the
kernels run by every other thread, those started later included.  The kernels and BLAS run
one after the other, never at the same time, so the two thread pools do not oversubscribe
the cores.

A process made by ``fork`` (``multiprocessing``'s default start method on Linux) after the
kernels were loaded runs them on one thread: GNU OpenMP's threads do not survive fork, and a
parallel loop of more than one thread in the child would wait for them forever, while a loop
of one thread never touches them.
"""
import os
import sys
import warnings

_fallback_threads = 1


def prefer_passive_openmp_waits():
    """Make idle OpenMP threads sleep instead of spinning, unless the user chose otherwise.

    A kernel's parallel loop and NumPy's BLAS (OpenBLAS has threads of its own) run one
    after the other.  With OpenMP's default, the kernel's threads spin for a while after
    each loop and take the cores the GEMM's threads need: on two cores the demo ran ten
    times slower.  Must run before the OpenMP runtime starts (before the kernels load).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # OpenBLAS's own idle threads spin too; this makes them sleep soon (read when NumPy loads, so it
    # only takes effect when tinyconv is imported before NumPy).
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def _threads_module():
    try:
        from .kernels.cpu import threads
    except ImportError:
        return None
    return threads


def openmp_enabled():
    """True when the compiled kernels were built with OpenMP."""
    threads = _threads_module()
    return bool(threads and threads.openmp_enabled())


def set_num_threads(n):
    """Use ``n`` threads in the compiled kernels, whichever thread runs them."""
    global _fallback_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    threads = _threads_module()
    if threads is None:
        _fallback_threads = n
    else:
        threads.set_num_threads(n)


def get_num_threads():
    threads = _threads_module()
    return threads.get_num_threads() if threads is not None else _fallback_threads


def cpu_count():
    return os.cpu_count() or 1


def _run_single_threaded_in_forked_child():
    """After fork, in the child: hold the kernels at one thread, and say so once."""
    threads = sys.modules.get("tinyconv.kernels.cpu.threads")
    if threads is None:
        # The parent never loaded the kernels, so it never started their threads: the child
        # starts OpenMP afresh when it loads them, on every core.
        return
    if threads.hold_one_thread_after_fork():
        warnings.warn("tinyconv: this process was started by fork, so the compiled kernels run on one "
                      "thread here (OpenMP's threads do not survive fork); the 'spawn' or 'forkserver' "
                      "start method keeps every core", RuntimeWarning, stacklevel=1)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_run_single_threaded_in_forked_child)
