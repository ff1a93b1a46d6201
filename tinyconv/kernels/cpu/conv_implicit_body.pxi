# The implicit-GEMM convolution (float32, NHWC, any stride, dilation, padding and groups).
# Included by conv_implicit.pyx (built for any CPU) and conv_implicit_avx2.pyx (the same code
# built with -mavx2 -mfma, chosen at run time when the CPU has them): see conv_implicit.pyx.
#
#     y[n, i, j, f] = b[f] + sum over (p, q, c) of  xp[n, i*sh + p*dh, j*sw + q*dw, c] * w[p, q, c, f]
#
# where xp is the input zero-padded on every side (``fill_padded``; the input itself when
# the layer has no padding), so that every tap of every output pixel is a number in memory.
# A task is a band of output rows of one sample (at least TASK_PIXELS pixels, so that a
# block's weights, read once per tile, stay in the core's cache over many tiles).  For every
# block of TC_FILTER_BLOCK filters it walks each row in tiles of up to TC_TILE_PIXELS
# pixels, each summed in registers by ``tc_implicit_tile`` (implicit_micro.h).  A row is cut
# into tiles of even size (8 pixels: 4 + 4, not 6 + 2): a short tile loads the same weights
# for fewer multiply-adds.
#
# Every output number is summed by one thread in one fixed order (taps, then channels): the
# result is the same on any number of threads.

from libc.string cimport memcpy, memset
from cython.parallel cimport prange

cdef extern from "implicit_micro.h" nogil:
    enum: TC_TILE_PIXELS
    enum: TC_FILTER_BLOCK
    void tc_implicit_tile(int pixels, const float* x, Py_ssize_t pixel_step, Py_ssize_t row_step,
                          Py_ssize_t col_step, int kh, int kw, Py_ssize_t channels, const float* w, const float* b, float* out,
                          Py_ssize_t out_step, int count)
    void tc_implicit_weight_tile(int entries, const float* x, const Py_ssize_t* x_rows, const float* dy,
                                 const Py_ssize_t* dy_rows, int rows, Py_ssize_t cols, Py_ssize_t pixel_step,
                                 Py_ssize_t dy_step, float* sums, Py_ssize_t sums_step)
    int tc_cpu_has_avx2_fma()

cdef enum:
    TASK_PIXELS = 48      # forward: output pixels per task, at least
    BAND_PIXELS = 64      # dL/dW: output pixels summed per call, at least ...
    MAX_BAND_ROWS = 64    # ... in at most this many rows

# Filters per block: the packed weights and bias are padded to whole blocks of this many.
FILTER_BLOCK = TC_FILTER_BLOCK


def cpu_has_avx2_fma():
    return bool(tc_cpu_has_avx2_fma())


def fill_padded(const float[:, :, :, ::1] x, float[:, :, :, ::1] padded, Py_ssize_t top, Py_ssize_t left,
                int threads):
    """padded[n, top + h, left + w] = x[n, h, w] where that lands inside ``padded``; zeros elsewhere."""
    cdef Py_ssize_t rows = padded.shape[0] * padded.shape[1], hp = padded.shape[1], wp = padded.shape[2]
    cdef Py_ssize_t channels = padded.shape[3], height = x.shape[1], width = x.shape[2]
    cdef Py_ssize_t r, h, inside
    cdef float* target
    if rows == 0 or wp == 0 or channels == 0:
        return
    # The input columns that land inside: [0, inside), placed from column ``left`` on.
    inside = max(0, min(width, wp - left))
    for r in prange(rows, nogil=True, schedule="static", num_threads=threads):
        target = &padded[r // hp, r % hp, 0, 0]
        h = r % hp - top
        if h < 0 or h >= height or inside == 0:
            memset(target, 0, wp * channels * sizeof(float))
        else:
            memset(target, 0, left * channels * sizeof(float))
            memcpy(target + left * channels, &x[r // hp, h, 0, 0], inside * channels * sizeof(float))
            memset(target + (left + inside) * channels, 0, (wp - left - inside) * channels * sizeof(float))


cdef struct Shape:
    Py_ssize_t height, width, channels     # of the padded image
    Py_ssize_t out_h, out_w, filters, band_rows
    Py_ssize_t kh, kw, sh, sw, dh, dw
    Py_ssize_t groups, group_channels, group_filters, blocks_per_group


cdef void _band(const float* image, const float* weights, const float* bias, float* y, Py_ssize_t n,
                Py_ssize_t first_row, Shape s) noexcept nogil:
    """Output rows [first_row, first_row + band_rows) of sample n (fewer at the bottom), every filter block."""
    cdef Py_ssize_t stop_row = min(first_row + s.band_rows, s.out_h)
    cdef Py_ssize_t tiles = (s.out_w + TC_TILE_PIXELS - 1) // TC_TILE_PIXELS
    cdef Py_ssize_t block_floats = s.kh * s.kw * s.group_channels * TC_FILTER_BLOCK
    cdef Py_ssize_t pixel_step = s.sw * s.channels, row_step = s.dh * s.width * s.channels
    cdef Py_ssize_t col_step = s.dw * s.channels
    cdef Py_ssize_t g, fb, block, i, t, j, pixels
    cdef int filters
    cdef const float* x_row
    cdef float* y_row
    for g in range(s.groups):
        for fb in range(s.blocks_per_group):
            block = g * s.blocks_per_group + fb
            filters = <int>min(<Py_ssize_t>TC_FILTER_BLOCK, s.group_filters - fb * TC_FILTER_BLOCK)
            for i in range(first_row, stop_row):
                x_row = image + (n * s.height + i * s.sh) * s.width * s.channels + g * s.group_channels
                y_row = y + (n * s.out_h + i) * s.out_w * s.filters + g * s.group_filters + fb * TC_FILTER_BLOCK
                j = 0
                for t in range(tiles):      # tile t: pixels [j, j + pixels), the first (out_w % tiles) one longer
                    pixels = s.out_w // tiles + (1 if t < s.out_w % tiles else 0)
                    tc_implicit_tile(<int>pixels, x_row + j * pixel_step, pixel_step, row_step, col_step, <int>s.kh,
                                     <int>s.kw, s.group_channels, weights + block * block_floats,
                                     bias + block * TC_FILTER_BLOCK, y_row + j * s.filters, s.filters, filters)
                    j = j + pixels


def forward(const float[:, :, :, ::1] image, const float[:, ::1] weights, const float[::1] bias,
            float[:, :, :, ::1] y, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
            Py_ssize_t dw, Py_ssize_t groups, int threads):
    """y = conv(image) + bias, ``image`` already padded (every tap of every pixel inside it).
    ``weights``: (groups * blocks per group, KH*KW*Cg*TC_FILTER_BLOCK), each block's rows
    ordered (p, q, c) with its filters innermost, zero past the group's filter count;
    ``bias``: (groups * blocks per group * TC_FILTER_BLOCK,), zero-padded alike."""
    cdef Shape s
    cdef Py_ssize_t task, bands
    s.height, s.width, s.channels = image.shape[1], image.shape[2], image.shape[3]
    s.out_h, s.out_w, s.filters = y.shape[1], y.shape[2], y.shape[3]
    s.kh, s.kw, s.sh, s.sw, s.dh, s.dw = kh, kw, sh, sw, dh, dw
    s.groups = groups
    s.group_channels, s.group_filters = s.channels // groups, s.filters // groups
    s.blocks_per_group = weights.shape[0] // groups
    if y.size == 0:
        return
    s.band_rows = min(s.out_h, (TASK_PIXELS + s.out_w - 1) // s.out_w)
    bands = (s.out_h + s.band_rows - 1) // s.band_rows
    with nogil:
        for task in prange(y.shape[0] * bands, schedule="static", num_threads=threads):
            _band(&image[0, 0, 0, 0], &weights[0, 0], &bias[0], &y[0, 0, 0, 0], task // bands,
                  (task % bands) * s.band_rows, s)


# dL/dW turns the tile around: six consecutive entries of the patch (p, q, c) times a block
# of filters, summed over the output pixels of a band of rows:
#
#     dW[p, q, c, f] = sum over (n, i, j) of  xp[n, i*sh + p*dh, j*sw + q*dw, c] * dy[n, i, j, f]
#
# The entries of a tile must be consecutive numbers in the padded image: with no dilation
# and one group, a whole tap row (q, c) is; otherwise one tap's channels.  The batch's output
# rows are cut into fixed slices, each summed into its own partial[s] (the caller adds the
# slices in order): the same result on any number of threads.

cdef struct WeightShape:
    Py_ssize_t height, width, channels     # of the padded image
    Py_ssize_t out_h, out_w, dy_cols, sums_cols
    Py_ssize_t kh, kw, sh, sw, dh, dw
    Py_ssize_t groups, group_channels, blocks_per_group, band_rows


cdef void _weight_band(const float* image, const float* dy, float* sums, Py_ssize_t first, Py_ssize_t rows,
                       WeightShape s) noexcept nogil:
    """Add output rows [first, first + rows) (flat (n, i) indices) into ``sums`` (patch, sums_cols)."""
    cdef Py_ssize_t x_rows[MAX_BAND_ROWS]   # (local arrays: one per thread)
    cdef Py_ssize_t dy_rows[MAX_BAND_ROWS]
    cdef Py_ssize_t r, g, fb, p, q, run, runs, run_length, tiles, t, k, entries, entry, x_offset, column
    cdef Py_ssize_t pixel_step = s.sw * s.channels
    cdef bint whole_rows = s.dw == 1 and s.groups == 1     # a tap row's (q, c) entries are consecutive
    for r in range(rows):
        x_rows[r] = ((first + r) // s.out_h * s.height + (first + r) % s.out_h * s.sh) * s.width * s.channels
        dy_rows[r] = (first + r) * s.out_w * s.dy_cols
    runs = s.kh if whole_rows else s.kh * s.kw
    run_length = s.kw * s.group_channels if whole_rows else s.group_channels
    tiles = (run_length + TC_TILE_PIXELS - 1) // TC_TILE_PIXELS
    for g in range(s.groups):
        for fb in range(s.blocks_per_group):
            column = (g * s.blocks_per_group + fb) * TC_FILTER_BLOCK
            for run in range(runs):
                p = run if whole_rows else run // s.kw
                q = 0 if whole_rows else run % s.kw
                x_offset = p * s.dh * s.width * s.channels + q * s.dw * s.channels + g * s.group_channels
                k = 0
                for t in range(tiles):      # tiles of even size, the first (run_length % tiles) one longer
                    entries = run_length // tiles + (1 if t < run_length % tiles else 0)
                    entry = run * run_length + k
                    tc_implicit_weight_tile(<int>entries, image + x_offset + k, x_rows, dy + column, dy_rows,
                                            <int>rows, s.out_w, pixel_step, s.dy_cols,
                                            sums + entry * s.sums_cols + column, s.sums_cols)
                    k = k + entries


def weight_gradient(const float[:, :, :, ::1] image, const float[:, ::1] dy, float[:, :, ::1] partial,
                    Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t groups, int threads):
    """partial[s] = slice s's dL/dW, (KH*KW*Cg, groups * blocks * TC_FILTER_BLOCK), rows ordered
    (p, q, c) and each group's filters in its own whole blocks.  ``image``: the padded input;
    ``dy``: (output pixels, the same columns as ``partial``), zero in the padding columns."""
    cdef WeightShape s
    cdef Py_ssize_t slices = partial.shape[0], total_rows, sl, first, stop, rows
    cdef float* sums
    s.height, s.width, s.channels = image.shape[1], image.shape[2], image.shape[3]
    s.out_h, s.out_w, s.dy_cols, s.sums_cols = out_h, out_w, dy.shape[1], partial.shape[2]
    s.kh, s.kw, s.sh, s.sw, s.dh, s.dw = kh, kw, sh, sw, dh, dw
    s.groups, s.group_channels = groups, s.channels // groups
    s.blocks_per_group = s.sums_cols // TC_FILTER_BLOCK // groups
    s.band_rows = max(1, min(<Py_ssize_t>MAX_BAND_ROWS, (BAND_PIXELS + out_w - 1) // max(out_w, 1)))
    total_rows = image.shape[0] * out_h
    partial[:, :, :] = 0
    if out_w == 0 or total_rows == 0:
        return
    with nogil:
        for sl in prange(slices, schedule="dynamic", num_threads=threads):
            sums = &partial[sl, 0, 0]
            first = sl * total_rows // slices
            stop = (sl + 1) * total_rows // slices
            while first < stop:
                rows = min(s.band_rows, stop - first)
                _weight_band(&image[0, 0, 0, 0], &dy[0, 0], sums, first, rows, s)
                first = first + rows
