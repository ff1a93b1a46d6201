# The thread count every compiled pass reads (threads.pyx keeps it), shared across the kernel
# modules by cimport: one number for the whole process, whichever thread calls a kernel.

cdef int process_threads() noexcept nogil

# The smallest pass worth more than one thread, in numbers touched (parallel.pxd's threads_for):
# set from the measured cost of waking the team (threads.pyx, ``calibrate``).
cdef Py_ssize_t process_min_elements() noexcept nogil
