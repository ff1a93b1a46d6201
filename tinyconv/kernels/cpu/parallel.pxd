# Shared by the compiled kernels: how many OpenMP threads a pass is worth.

from tinyconv.kernels.cpu.threads cimport process_threads

cdef enum:
    # Below this many elements a pass runs on one thread: waking and joining a team costs
    # more than the loop, and on a busy machine each join can wait a whole time slice.
    PARALLEL_MIN_ELEMENTS = 32768


cdef inline int threads_for(Py_ssize_t elements) noexcept nogil:
    """Threads worth waking for a pass over this many elements (tinyconv.set_num_threads's count)."""
    return process_threads() if elements >= PARALLEL_MIN_ELEMENTS else 1
