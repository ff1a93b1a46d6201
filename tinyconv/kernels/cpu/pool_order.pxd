# Which cell wins a window's max or min, shared by the compiled poolings (pooling.pyx,
# pooling3d.pyx, pooling_variants.pyx), so all of them order NaN as the reference does.
#
# NaN compares false with everything, so a plain `value > best` would skip it and a window
# holding a NaN would report the largest number instead.  The reference uses np.argmax and
# np.argmin, which treat NaN as the winner and stop at the first one: a window with a NaN
# pools to NaN (as np.max, np.min and PyTorch do) and its gradient goes to that first NaN.
# A scan over the window in row-major order, starting from its first cell, gets that by
# letting a later cell take over when it is strictly better or is the first NaN met.
# Bitwise & and | (not `and`/`or`) keep the tests branch-free, so the loops still vectorise.

from cython cimport floating


cdef inline bint takes_max(floating value, floating best) noexcept nogil:
    """True when value takes over the max from best: larger, or a NaN while best is a number."""
    return (value > best) | ((value != value) & (best == best))


cdef inline bint takes_min(floating value, floating best) noexcept nogil:
    """True when value takes over the min from best: smaller, or a NaN while best is a number."""
    return (value < best) | ((value != value) & (best == best))
