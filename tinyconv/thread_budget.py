"""How many threads this process may use: its CPU affinity, capped by its container's CPU quota.

A leaf of the package (it imports nothing of tinyconv): ``tinyconv.parallel`` and the compiled
kernels (``kernels/cpu/threads.pyx``, which reads the starting count once, when the kernels load)
both ask it.
"""
import math
import os

CGROUP_ROOT = "/sys/fs/cgroup"


def _usable_cores():
    """The cores the scheduler lets this process run on (its affinity mask), else every core."""
    if hasattr(os, "sched_getaffinity"):  # Linux; not macOS or Windows
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _read_words(path):
    try:
        with open(path) as f:
            return f.read().split()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_in_cores(quota, period):
    """``quota`` microseconds of CPU time per ``period``, rounded up to whole cores; None for no limit."""
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None  # "max" (cgroup v2's no limit) or a file we do not understand
    if quota <= 0 or period <= 0:  # cgroup v1 writes -1 for no limit
        return None
    return max(1, math.ceil(quota / period))  # 1.5 cores of time keep 2 threads busy part-time


def cgroup_cpu_limit(cgroup_root=None):
    """The container's CPU quota in whole cores (rounded up), or None when there is none.

    cgroup v2 keeps "quota period" (or "max period") in ``cpu.max``; cgroup v1 keeps the two in
    ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` of the cpu controller's folder.
    """
    cgroup_root = CGROUP_ROOT if cgroup_root is None else cgroup_root
    words = _read_words(os.path.join(cgroup_root, "cpu.max"))
    if words is not None and len(words) == 2:
        return _quota_in_cores(*words)
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota = _read_words(os.path.join(cgroup_root, folder, "cpu.cfs_quota_us"))
        period = _read_words(os.path.join(cgroup_root, folder, "cpu.cfs_period_us"))
        if quota and period:
            return _quota_in_cores(quota[0], period[0])
    return None


def default_thread_count(cgroup_root=None):
    """The kernels' thread count when ``OMP_NUM_THREADS`` is not set.

    The cores this process may run on (``os.sched_getaffinity(0)``: ``taskset``, ``docker
    --cpuset-cpus``), capped by the container's CPU quota (``docker --cpus``, Kubernetes CPU
    limits: cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``).  More
    threads than that only take turns on the same cores, and a parallel loop waits for its
    slowest thread.
    """
    cores = _usable_cores()
    limit = cgroup_cpu_limit(cgroup_root)
    return max(1, cores if limit is None else min(cores, limit))


def starting_thread_count(openmp_default):
    """The count the compiled kernels start with: ``OMP_NUM_THREADS``'s (OpenMP's own default,
    ``openmp_default``) when the user set it, else ``default_thread_count()``."""
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return openmp_default
    return default_thread_count()
