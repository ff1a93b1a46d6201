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
from libc.stdint cimport int32_t


cdef inline bint takes_max(floating value, floating best) noexcept nogil:
    """True when value takes over the max from best: larger, or a NaN while best is a number."""
    return (value > best) | ((value != value) & (best == best))


cdef inline bint takes_min(floating value, floating best) noexcept nogil:
    """True when value takes over the min from best: smaller, or a NaN while best is a number."""
    return (value < best) | ((value != value) & (best == best))


# Channels of one window kept in local arrays (best, winner) while its cells are scanned: in
# registers, the compiler vectorises the update below; through pointers into the output it
# reloaded them after every cell and turned the select into a mispredicted branch (max pooling
# of 64x32x32x32: 14.3 ms that way, 1.3 ms this way).  Wider layers go block by block.
cdef enum:
    WINDOW_BLOCK = 64


cdef inline void take_larger(floating* best, int32_t* winner, const floating* pixel, int32_t cell,
                             Py_ssize_t width) noexcept nogil:
    """One cell's channels against a window's running max: where the cell takes over (takes_max),
    its value and number replace best and winner.  int32 numbers, like the float lanes, so one
    vector holds both; the select is a bit mask, not an if."""
    cdef Py_ssize_t c
    cdef floating value, current
    cdef int32_t wins
    for c in range(width):
        value = pixel[c]
        current = best[c]
        wins = -<int32_t>takes_max(value, current)       # all ones if this cell wins, else 0
        best[c] = value if wins else current
        winner[c] = winner[c] ^ ((winner[c] ^ cell) & wins)


cdef inline void take_smaller(floating* best, int32_t* winner, const floating* pixel, int32_t cell,
                              Py_ssize_t width) noexcept nogil:
    """As take_larger, for a running min (takes_min)."""
    cdef Py_ssize_t c
    cdef floating value, current
    cdef int32_t wins
    for c in range(width):
        value = pixel[c]
        current = best[c]
        wins = -<int32_t>takes_min(value, current)
        best[c] = value if wins else current
        winner[c] = winner[c] ^ ((winner[c] ^ cell) & wins)
