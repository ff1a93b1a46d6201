# The thread count every compiled pass reads (threads.pyx keeps it), shared across the kernel
# modules by cimport: one number for the whole process, whichever thread calls a kernel.

cdef int process_threads() noexcept nogil
