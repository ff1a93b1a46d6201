# dL/dx of a few-channel convolution by scattering each dy pixel back onto the input pixels it
# was computed from (float32, one group, undilated, any stride and padding).  Included by
# conv_implicit_body.pxi, so it is built wherever the implicit GEMM is, for the same CPUs.
#
#     dx[n, i*sh + p - top, j*sw + q - left, c] += sum over f of  dy[n, i, j, f] * w[p, q, c, f]
#
# It is col2im(dy @ W.T) with the product never written out: each kernel row's KW*C numbers are
# summed over the filters in registers (scatter_micro.h) and added into dx at once; with stride 1
# down the rows, four pixels of a column at a time (their kernel rows meet on the same dx rows).  A sample
# is one task: its dx is built in a zero-padded buffer of its thread (so every (p, q) lands in
# memory, with room on the right for a last vector that reaches past a kernel row), then its
# interior copied out.  Each sample's pixels go in one fixed order: the same bits on any number
# of threads.

cdef extern from "scatter_micro.h" nogil:
    enum: TC_SCATTER_MAX_VECTORS
    enum: TC_SCATTER_COLUMN
    void tc_scatter_pixel(int vectors, int span, const float* d, Py_ssize_t filters, const float* w, int kh,
                          float* dx, Py_ssize_t dx_row_step)
    int tc_scatter_column_fits(int kh, int vectors)
    void tc_scatter_column(int kh, int vectors, int span, const float* d, Py_ssize_t d_step, Py_ssize_t filters,
                           const float* w, float* dx, Py_ssize_t dx_row_step)

SCATTER_MAX_VECTORS = TC_SCATTER_MAX_VECTORS
LANES = TC_FILTER_BLOCK // 2       # floats per vector in this build


def scatter_buffer_shape(Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels, Py_ssize_t out_h,
                         Py_ssize_t out_w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                         Py_ssize_t top, Py_ssize_t left):
    """(rows, columns) of one sample's padded dx: every kernel row's vectors inside it."""
    cdef Py_ssize_t vectors = (kw * channels + LANES - 1) // LANES
    cdef Py_ssize_t rows = max(top + height, (out_h - 1) * sh + kh)
    cdef Py_ssize_t columns = max(left + width, (out_w - 1) * sw + (vectors * LANES + channels - 1) // channels)
    return rows, columns


def input_gradient_scatter(const float[:, :, :, ::1] dy, const float[:, :, ::1] weights,
                           float[:, :, :, ::1] dx, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t top,
                           Py_ssize_t left, float[:, ::1] workspace, Py_ssize_t rows, Py_ssize_t columns,
                           int threads):
    """dx = the scatter of dy.  ``weights``: (KH, F, vectors * LANES), row p's (q, c) entries of
    filter f zero-padded to whole vectors; ``workspace``: a zero-padded sample of ``rows`` x
    ``columns`` pixels per thread (``scatter_buffer_shape``)."""
    cdef Py_ssize_t n = dy.shape[0], out_h = dy.shape[1], out_w = dy.shape[2], filters = dy.shape[3]
    cdef Py_ssize_t height = dx.shape[1], width = dx.shape[2], channels = dx.shape[3]
    cdef Py_ssize_t kh = weights.shape[0], vectors = weights.shape[2] // LANES, span = kw * channels
    cdef Py_ssize_t row_floats = columns * channels, s, t, i, j, h
    cdef float* padded = NULL              # set per thread (firstprivate, as in forward)
    # stride 1 down the rows: whole columns of TC_SCATTER_COLUMN pixels at once where the kernel has a copy
    cdef bint by_columns = sh == 1 and tc_scatter_column_fits(<int>kh, <int>vectors)
    cdef Py_ssize_t column_rows = (out_h // TC_SCATTER_COLUMN) * TC_SCATTER_COLUMN if by_columns else 0
    if n == 0 or height == 0 or width == 0 or channels == 0:
        return
    if (vectors > TC_SCATTER_MAX_VECTORS or span > vectors * LANES or weights.shape[1] != filters
            or workspace.shape[0] < max(1, threads) or workspace.shape[1] < rows * row_floats
            or rows < (out_h - 1) * sh + kh or row_floats < (out_w - 1) * sw * channels + vectors * LANES
            or rows < top + height or columns < left + width):
        raise ValueError("input_gradient_scatter: weights or workspace do not fit the shapes")
    with nogil, parallel(num_threads=threads):
        padded = &workspace[threadid(), 0]
        for s in prange(n, schedule="dynamic"):
            memset(padded, 0, rows * row_floats * sizeof(float))
            for j in range(out_w):
                for t in range(column_rows // TC_SCATTER_COLUMN):
                    i = t * TC_SCATTER_COLUMN
                    tc_scatter_column(<int>kh, <int>vectors, <int>span, &dy[s, i, j, 0], out_w * filters, filters,
                                      &weights[0, 0, 0], padded + (i * columns + j * sw) * channels, row_floats)
            for i in range(column_rows, out_h):   # the rows left over (all of them unless by columns)
                for j in range(out_w):
                    tc_scatter_pixel(<int>vectors, <int>span, &dy[s, i, j, 0], filters, &weights[0, 0, 0],
                                     <int>kh, padded + (i * sh * columns + j * sw) * channels, row_floats)
            for h in range(height):
                memcpy(&dx[s, h, 0, 0], padded + ((h + top) * columns + left) * channels,
                       width * channels * sizeof(float))
