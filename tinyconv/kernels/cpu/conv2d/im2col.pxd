# The im2col and col2im loops of one output row, shared by the 2-D convolution kernels
# (``chunked_path.pyx``: whole-batch chunks; ``conv_blocks.pyx``: blocks private to a thread).
#
# A row of the columns matrix holds the patch one output cell (n, i, j) sees, ordered
# (p, q, c): kernel row p, kernel column q, channel c of this group.  One *output row* (i)
# of a sample covers OW consecutive rows of the columns matrix.

from cython cimport floating

cdef struct Geometry:
    Py_ssize_t height, width      # input image
    Py_ssize_t out_h, out_w       # output image
    Py_ssize_t kh, kw             # kernel
    Py_ssize_t sh, sw, dh, dw     # strides, dilations
    Py_ssize_t top, left          # padding before each axis (padding after needs no code)
    Py_ssize_t c0, cg             # this group's first input channel and channel count


cdef inline Geometry c_geometry(geo, Py_ssize_t c0, Py_ssize_t cg):
    """The C struct of a ``ConvGeometry`` namedtuple, for group channels [c0, c0 + cg)."""
    cdef Geometry g
    g.height, g.width, g.out_h, g.out_w = geo.height, geo.width, geo.out_h, geo.out_w
    g.kh, g.kw, g.sh, g.sw, g.dh, g.dw = geo.kh, geo.kw, geo.sh, geo.sw, geo.dh, geo.dw
    g.top, g.left, g.c0, g.cg = geo.top, geo.left, c0, cg
    return g


cdef inline void im2col_output_row(const floating[:, :, :, ::1] x, floating* cols, Py_ssize_t n,
                                   Py_ssize_t i, Geometry g) noexcept nogil:
    """Write the patches of output row i of sample n into the OW rows of length KH*KW*cg
    starting at ``cols``.

    When a kernel row's KW pixels (all their channels) sit side by side in memory (no
    dilation along the width, all channels in one group) and the window is inside the
    image, the whole kernel row is one contiguous copy of KW*C numbers.
    """
    cdef Py_ssize_t j, p, q, c, h, w, w_start, col, k
    cdef Py_ssize_t span = g.kw * g.cg                # one kernel row's share of a patch
    cdef Py_ssize_t patch = g.kh * span
    cdef bint rows_contiguous = g.dw == 1 and g.cg == x.shape[3]
    cdef const floating* source
    cdef floating* target
    for j in range(g.out_w):
        w_start = j * g.sw - g.left                  # input column kernel column 0 lands on
        for p in range(g.kh):
            h = i * g.sh - g.top + p * g.dh          # input row kernel row p lands on
            target = cols + j * patch + p * span
            if h < 0 or h >= g.height:               # the whole kernel row is over the zero padding
                for k in range(span):
                    target[k] = 0
            elif rows_contiguous and w_start >= 0 and w_start + g.kw <= g.width:
                source = &x[n, h, w_start, 0]
                for k in range(span):
                    target[k] = source[k]
            else:
                for q in range(g.kw):
                    w = w_start + q * g.dw
                    col = q * g.cg
                    if 0 <= w < g.width:
                        for c in range(g.cg):
                            target[col + c] = x[n, h, w, g.c0 + c]
                    else:                            # over the zero padding
                        for c in range(g.cg):
                            target[col + c] = 0


cdef inline void col2im_output_row(const floating* dcols, floating[:, :, :, ::1] dx, Py_ssize_t n,
                                   Py_ssize_t i, Geometry g) noexcept nogil:
    """Add the patch gradients of output row i of sample n (the OW rows starting at
    ``dcols``) back onto the pixels they came from: ``im2col_output_row`` in reverse, with +=.

    Patches overlap, so the caller must own sample n's pixels (no other thread may add
    into them meanwhile); a whole kernel row is one contiguous add when it can be.
    """
    cdef Py_ssize_t j, p, q, c, h, w, w_start, col, k
    cdef Py_ssize_t span = g.kw * g.cg
    cdef Py_ssize_t patch = g.kh * span
    cdef bint rows_contiguous = g.dw == 1 and g.cg == dx.shape[3]
    cdef const floating* source
    cdef floating* target
    for j in range(g.out_w):
        w_start = j * g.sw - g.left
        for p in range(g.kh):
            h = i * g.sh - g.top + p * g.dh
            if h < 0 or h >= g.height:
                continue                             # gradient of the zero padding: dropped
            source = dcols + j * patch + p * span
            if rows_contiguous and w_start >= 0 and w_start + g.kw <= g.width:
                target = &dx[n, h, w_start, 0]
                for k in range(span):
                    target[k] += source[k]
            else:
                for q in range(g.kw):
                    w = w_start + q * g.dw
                    if 0 <= w < g.width:
                        col = q * g.cg
                        for c in range(g.cg):
                            dx[n, h, w, g.c0 + c] += source[col + c]
