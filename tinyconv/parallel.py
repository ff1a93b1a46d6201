"""How many threads the OpenMP kernels use, and what ``import tinyconv`` does to the process.

The count starts at ``OMP_NUM_THREADS`` when it is set, else at ``tinyconv.thread_budget.default_thread_count()``: the
cores this process may really use (its CPU affinity, capped by a container's CPU quota), not
every core of the machine.  The compiled kernels read it once, when they load.  The count is
one for the whole process: ``set_num_threads`` on one thread reaches the kernels run by every
other thread, those started later included.  tinyconv's matrix products run on the same threads
(``tinyconv/kernels/cpu/gemm.pyx``), one pool for the whole step; a pass is split only when it is
several wake-ups of that pool long (``team_wake_up_us``).

``import tinyconv`` sets two environment variables for the whole process, unless they are
set already: ``OMP_WAIT_POLICY=PASSIVE`` and ``OPENBLAS_THREAD_TIMEOUT=4`` (see
``prefer_passive_openmp_waits``).  To keep your own values, set them before importing tinyconv.
When another library loaded GNU OpenMP first (``import torch`` before ``import tinyconv``), it is too
late for that, and tinyconv warns with the fix (``spinning_openmp_runtime_loaded``).

A process made by ``fork`` (``multiprocessing``'s default start method on Linux) after the
kernels were loaded runs them on one thread: GNU OpenMP's threads do not survive fork, and a
parallel loop of more than one thread in the child would wait for them forever, while a loop
of one thread never touches them.
"""
import os
import sys
import warnings

from .thread_budget import cgroup_cpu_limit, default_thread_count, starting_thread_count  # noqa: F401

_fallback_threads = 1


def prefer_passive_openmp_waits():
    """Make idle OpenMP and OpenBLAS threads sleep instead of spinning, unless the user chose otherwise.

    What: sets ``OMP_WAIT_POLICY=PASSIVE`` and ``OPENBLAS_THREAD_TIMEOUT=4`` in ``os.environ``,
    for the whole process (subprocesses inherit them), each only when it is not set already.
    ``import tinyconv`` calls this first thing.

    Why: with OpenMP's default, idle threads spin for a while after each parallel loop, and when
    another program (or NumPy's own OpenBLAS threads, in your code) needs the core, every loop
    waits for a thread that is not running: with a busy process on one of two cores, a LeNet-5
    step ran 17x slower.  Sleeping costs a wake-up per loop instead (measured, and counted in
    when a pass is split: ``team_wake_up_us``).  It must run before the OpenMP runtime starts
    (before the kernels load).

    Opting out: set either variable yourself (in the shell, or in ``os.environ`` before
    ``import tinyconv``); tinyconv then leaves it as it is.
    """
    if spinning_openmp_runtime_loaded():
        warnings.warn(SPINNING_RUNTIME_ADVICE, RuntimeWarning, stacklevel=3)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # OpenBLAS's own idle threads spin too; this makes them sleep soon (read when NumPy loads, so it
    # only takes effect when tinyconv is imported before NumPy).
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


SPINNING_RUNTIME_ADVICE = (
    "tinyconv: GNU OpenMP (libgomp) was already loaded by another library (PyTorch ships one) before "
    "tinyconv, without OMP_WAIT_POLICY set, so tinyconv's kernels share its threads, which spin between "
    "parallel loops: quick on an idle machine, but when other programs use the cores a small model can train "
    "several times slower. Set OMP_WAIT_POLICY=PASSIVE "
    "in the environment before Python starts (or import tinyconv before torch), or use "
    "tinyconv.set_num_threads(1) for small models.")


def spinning_openmp_runtime_loaded(maps_path="/proc/self/maps", environ=None):
    """True when GNU OpenMP is already loaded in this process with its default (spinning) waits.

    Another library's libgomp (PyTorch's wheel ships ``libgomp.so.1``) has the soname tinyconv's kernels
    link against, so they share it, and it read ``OMP_WAIT_POLICY`` when it loaded, before tinyconv could
    ask for passive waits.  Its idle threads then spin after every parallel loop: on an idle machine
    that is quicker (LeNet-5 b64 on the 2-core Xeon VM of benchmarks/README.md, 2 threads: 15,900
    img/s with torch imported first, 11,500 without), but with another process busy on one of the cores
    it is slower (7,800 against 10,400), and torch's own steps fall further.  Linux only (reads the
    process's memory map); False elsewhere.

    Args:
        maps_path: the memory map to read.
        environ: the environment to look in (``os.environ`` when None).

    Returns:
        True when libgomp is mapped and neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT`` is set.
    """
    environ = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return False
    try:
        with open(maps_path, encoding="utf-8", errors="replace") as maps:
            return any("libgomp" in line.rsplit("/", 1)[-1] for line in maps)
    except OSError:
        return False


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
    """Use ``n`` threads in the compiled kernels (and their matrix products) and in NumPy's BLAS.

    Like ``torch.set_num_threads``: one count for every thread pool tinyconv's computations use, so
    ``set_num_threads(1)`` runs a training step on one core.  tinyconv's matrix products (Dense, the
    convolutions' GEMMs) run on the kernels' own threads; NumPy's BLAS gets the same count for the
    products your own code computes.  The count holds for the whole process, whichever thread sets it.

    Args:
        n: a positive int.

    Raises:
        ValueError: for anything else.
    """
    global _fallback_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    threads = _threads_module()
    if threads is None:
        _fallback_threads = n
    else:
        threads.set_num_threads(n)
    set_blas_threads(n)


def set_blas_threads(n):
    """Set every loaded BLAS library (NumPy's OpenBLAS, MKL, BLIS) to ``n`` threads.

    threadpoolctl finds them among the process's loaded libraries.  SciPy's own copy of BLAS stays
    at one thread once tinyconv's kernels use it: they call it from each of their own threads
    (``tinyconv/kernels/cpu/blas_threads.py``).  Returns how many were set (0 when threadpoolctl is
    missing or finds none: then BLAS keeps its own count).
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return 0
    try:
        from .kernels.cpu.blas_threads import is_pinned
    except ImportError:
        def is_pinned(path):
            return False
    libraries = [library for library in ThreadpoolController().select(user_api="blas").lib_controllers
                 if not is_pinned(library.filepath)]
    for library in libraries:
        library.set_num_threads(n)
    return len(libraries)


def team_wake_up_us():
    """What waking the kernels' idle threads for a parallel pass costs here, in microseconds.

    Measured once per thread count (median of 5) when the count is set; 0 for one thread or
    without the compiled kernels.  A pass goes parallel only when its one-thread time is a few
    such wake-ups long (``tinyconv/kernels/cpu/threads.pyx``): on the 2-core virtual machine of
    ``benchmarks/README.md`` waking a halted core took 94-150 microseconds.
    """
    threads = _threads_module()
    return threads.wake_up_us() if threads is not None else 0.0


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
        # starts OpenMP afresh when it loads them, with the default count.
        return
    if threads.hold_one_thread_after_fork():
        warnings.warn("tinyconv: this process was started by fork, so the compiled kernels run on one "
                      "thread here (OpenMP's threads do not survive fork); the 'spawn' or 'forkserver' "
                      "start method keeps every core", RuntimeWarning, stacklevel=1)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_run_single_threaded_in_forked_child)
