# Shared by the compiled kernels: how many OpenMP threads a pass is worth.
#
# Scheduling: a pass whose tasks each write their own outputs splits them with
# schedule="guided" (big chunks first, then smaller ones), not "static" (one equal share per
# thread).  When another process holds one of the cores, the thread that shares it runs at
# half speed or less; with equal shares the whole pass waits for it, with guided chunks the
# other threads take over its remaining work.  No result depends on which thread ran a task.

from tinyconv.kernels.cpu.threads cimport process_min_elements, process_threads

cdef enum:
    # Below this many elements a pass always runs on one thread: waking and joining a team costs
    # more than the loop.  Where waking the team costs more (a virtual machine's idle cores wake
    # slowly), the threshold is higher: threads.pyx measures it (``calibrate``).
    PARALLEL_MIN_ELEMENTS = 32768


cdef inline int threads_for(Py_ssize_t elements) noexcept nogil:
    """Threads worth waking for a pass over this many elements (tinyconv.set_num_threads's count)."""
    return process_threads() if elements >= process_min_elements() else 1
