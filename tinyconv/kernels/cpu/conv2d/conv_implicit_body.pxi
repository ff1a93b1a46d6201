# The implicit-GEMM convolution (float32, NHWC, any stride, dilation, padding and groups).
# Included by conv_implicit.pyx (built for any CPU), conv_implicit_avx2.pyx and
# conv_implicit_avx512.pyx (the same code built for AVX2 + FMA and for AVX-512, chosen at run
# time by what the CPU has: builds.py): see conv_implicit.pyx.  The tile's size comes from
# implicit_micro.h (6 pixels x 16 filters with AVX2, 14 x 32 with AVX-512); nothing here
# assumes one.
#
#     y[n, i, j, f] = b[f] + sum over (p, q, c) of  xp[n, i*sh + p*dh, j*sw + q*dw, c] * w[p, q, c, f]
#
# where xp is the input zero-padded on every side, so that every tap of every output pixel
# is a number in memory.  The work is cut into *bands*: a few consecutive output rows of one
# sample.  A band first copies the input rows it reads into a small buffer of its thread,
# zero-padded (``_stage``; a layer with no padding reads its input in place): the copy is
# a few kilobytes that the core's cache then serves to every tap, where padding the whole
# input first would cost a pass over memory per call.
#
# Forward: a band of at least BAND_PIXELS output pixels is one task.  For every block of
# TC_FILTER_BLOCK filters it walks each row in tiles of up to TC_TILE_PIXELS pixels, each
# summed in registers by ``tc_implicit_tile`` (implicit_micro.h); the block's weights, read
# once per tile, stay in the cache over the band.  A row is cut into tiles of even size
# (8 pixels: 4 + 4, not 6 + 2; 28: 14 + 14 with AVX-512's 14-pixel tiles): a short tile loads the
# same weights for fewer multiply-adds.
#
# Every output number is summed by one thread in one fixed order (taps, then channels): the
# result is the same on any number of threads.

from libc.string cimport memcpy, memset
from cython.parallel cimport parallel, prange, threadid

import numpy as np

cdef extern from "implicit_micro.h" nogil:
    enum: TC_TILE_PIXELS
    enum: TC_FILTER_BLOCK
    void tc_implicit_tile(int pixels, const float* x, Py_ssize_t pixel_step, Py_ssize_t row_step,
                          Py_ssize_t col_step, int kh, int kw, Py_ssize_t channels, const float* w, const float* b,
                          float* out, Py_ssize_t out_step, int count)
    void tc_implicit_weight_tile(int entries, const float* x, const Py_ssize_t* x_rows, const float* dy,
                                 const Py_ssize_t* dy_rows, int rows, Py_ssize_t cols, Py_ssize_t pixel_step,
                                 Py_ssize_t dy_step, float* sums, Py_ssize_t sums_step, int count)
    int tc_cpu_has_avx2_fma()
    int tc_cpu_has_avx512()

cdef enum:
    BAND_PIXELS = 64      # output pixels per band, at least ...
    MAX_BAND_ROWS = 64    # ... in at most this many rows

# Filters per block: the packed weights and bias are padded to whole blocks of this many.
FILTER_BLOCK = TC_FILTER_BLOCK


def cpu_has_avx2_fma():
    return bool(tc_cpu_has_avx2_fma())


def cpu_has_avx512():
    """True when this CPU can run the ``_avx512`` builds (AVX-512 F, VL, BW and DQ)."""
    return bool(tc_cpu_has_avx512())


cdef struct Shape:
    Py_ssize_t height, width, channels     # of the input
    Py_ssize_t padded_width                # the columns the taps read, padding included
    Py_ssize_t top, left
    bint staged                            # padded: bands copy their rows first
    Py_ssize_t row_floats                  # from one row of a band's input to the next
    Py_ssize_t out_h, out_w, band_rows
    Py_ssize_t kh, kw, sh, sw, dh, dw
    Py_ssize_t groups, group_channels


cdef Shape _shape(x, Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t top, Py_ssize_t left, Py_ssize_t groups):
    cdef Shape s
    s.height, s.width, s.channels = x.shape[1], x.shape[2], x.shape[3]
    s.out_h, s.out_w = out_h, out_w
    s.kh, s.kw, s.sh, s.sw, s.dh, s.dw, s.top, s.left = kh, kw, sh, sw, dh, dw, top, left
    s.groups, s.group_channels = groups, s.channels // groups
    s.padded_width = (out_w - 1) * sw + (kw - 1) * dw + 1
    s.staged = (top > 0 or left > 0 or s.padded_width > s.width
                or (out_h - 1) * sh + (kh - 1) * dh + 1 > s.height)
    s.row_floats = (s.padded_width if s.staged else s.width) * s.channels
    s.band_rows = max(1, min(out_h, <Py_ssize_t>MAX_BAND_ROWS, (BAND_PIXELS + out_w - 1) // max(out_w, 1)))
    return s


cdef Py_ssize_t _band_input_rows(Py_ssize_t rows, Shape s) noexcept nogil:
    """The input rows that ``rows`` consecutive output rows read."""
    return (rows - 1) * s.sh + (s.kh - 1) * s.dh + 1


cdef _staging(Shape s, int threads):
    """One band's padded rows per thread (or a placeholder when nothing is staged)."""
    size = _band_input_rows(s.band_rows, s) * s.padded_width * s.channels if s.staged else 1
    return np.empty((max(1, threads), size), dtype=np.float32)


cdef const float* _stage(const float* x, float* staging, Py_ssize_t n, Py_ssize_t first_row, Py_ssize_t rows,
                         Shape s) noexcept nogil:
    """Where output rows [first_row, first_row + rows) of sample n find their input: the first
    input row they read (the next s.row_floats numbers further).  In place when the layer has
    no padding; else those rows copied into ``staging``, zero-padded."""
    cdef Py_ssize_t r, h, inside, count = _band_input_rows(rows, s), width_floats = s.width * s.channels
    cdef float* target
    if not s.staged:
        return x + (n * s.height + first_row * s.sh) * width_floats
    inside = max(0, min(s.width, s.padded_width - s.left))      # input columns that land inside
    for r in range(count):
        target = staging + r * s.row_floats
        h = first_row * s.sh - s.top + r
        if h < 0 or h >= s.height or inside == 0:
            memset(target, 0, s.row_floats * sizeof(float))
        else:
            memset(target, 0, s.left * s.channels * sizeof(float))
            memcpy(target + s.left * s.channels, x + (n * s.height + h) * width_floats,
                   inside * s.channels * sizeof(float))
            memset(target + (s.left + inside) * s.channels, 0,
                   (s.padded_width - s.left - inside) * s.channels * sizeof(float))
    return staging


# --- forward -------------------------------------------------------------------------------


cdef void _forward_band(const float* source, const float* weights, const float* bias, float* y,
                        Py_ssize_t filters, Py_ssize_t blocks_per_group, Py_ssize_t rows, Shape s) noexcept nogil:
    """``rows`` output rows into ``y`` (their first pixel), from their input at ``source``."""
    cdef Py_ssize_t tiles = (s.out_w + TC_TILE_PIXELS - 1) // TC_TILE_PIXELS
    cdef Py_ssize_t group_filters = filters // s.groups
    cdef Py_ssize_t block_floats = s.kh * s.kw * s.group_channels * TC_FILTER_BLOCK
    cdef Py_ssize_t pixel_step = s.sw * s.channels
    cdef Py_ssize_t g, fb, block, i, t, j, pixels
    cdef int count
    cdef const float* x_row
    cdef float* y_row
    for g in range(s.groups):
        for fb in range(blocks_per_group):
            block = g * blocks_per_group + fb
            count = <int>min(<Py_ssize_t>TC_FILTER_BLOCK, group_filters - fb * TC_FILTER_BLOCK)
            for i in range(rows):
                x_row = source + i * s.sh * s.row_floats + g * s.group_channels
                y_row = y + i * s.out_w * filters + g * group_filters + fb * TC_FILTER_BLOCK
                j = 0
                for t in range(tiles):      # tile t: pixels [j, j + pixels), the first (out_w % tiles) one longer
                    pixels = s.out_w // tiles + (1 if t < s.out_w % tiles else 0)
                    tc_implicit_tile(<int>pixels, x_row + j * pixel_step, pixel_step, s.dh * s.row_floats,
                                     s.dw * s.channels, <int>s.kh, <int>s.kw, s.group_channels,
                                     weights + block * block_floats, bias + block * TC_FILTER_BLOCK,
                                     y_row + j * filters, filters, count)
                    j = j + pixels


def forward(const float[:, :, :, ::1] x, const float[:, ::1] weights, const float[::1] bias, float[:, :, :, ::1] y,
            Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
            Py_ssize_t top, Py_ssize_t left, Py_ssize_t groups, int threads):
    """y = conv(x) + bias.  ``weights``: (groups * blocks per group, KH*KW*Cg*TC_FILTER_BLOCK),
    each block's rows ordered (p, q, c) with its filters innermost, zero past the group's
    filter count; ``bias``: (groups * blocks per group * TC_FILTER_BLOCK,), zero-padded alike."""
    cdef Shape s = _shape(x, y.shape[1], y.shape[2], kh, kw, sh, sw, dh, dw, top, left, groups)
    cdef Py_ssize_t task, bands, n, first_row, rows
    cdef Py_ssize_t filters = y.shape[3], blocks_per_group = weights.shape[0] // groups
    cdef float[:, ::1] staging = _staging(s, threads)
    cdef const float* source
    if y.size == 0:
        return
    bands = (s.out_h + s.band_rows - 1) // s.band_rows
    with nogil, parallel(num_threads=threads):
        for task in prange(y.shape[0] * bands, schedule="guided"):
            n = task // bands
            first_row = (task % bands) * s.band_rows
            rows = min(s.band_rows, s.out_h - first_row)
            source = _stage(&x[0, 0, 0, 0], &staging[threadid(), 0], n, first_row, rows, s)
            _forward_band(source, &weights[0, 0], &bias[0], &y[n, first_row, 0, 0], filters,
                          blocks_per_group, rows, s)


# --- dL/dW ---------------------------------------------------------------------------------
# The tile turned around: up to TC_TILE_PIXELS consecutive entries of the patch (p, q, c) times
# a block of filters, summed over the output pixels of a band:
#
#     dW[p, q, c, f] = sum over (n, i, j) of  xp[n, i*sh + p*dh, j*sw + q*dw, c] * dy[n, i, j, f]
#
# The entries of a tile must be consecutive numbers in the image: with no dilation and one
# group, a whole tap row (q, c) is; otherwise one tap's channels.  The batch's output rows
# are cut into fixed slices, each summed into its own partial[s] (the caller adds the slices
# in order): the same result on any number of threads.


cdef void _weight_band(const float* source, const float* dy, Py_ssize_t dy_cols, float* sums, Py_ssize_t sums_cols,
                       Py_ssize_t group_filters, Py_ssize_t rows, Shape s) noexcept nogil:
    """Add the ``rows`` output rows whose dy starts at ``dy`` (input at ``source``) into ``sums``."""
    cdef Py_ssize_t x_rows[MAX_BAND_ROWS]   # (local arrays: one per thread)
    cdef Py_ssize_t dy_rows[MAX_BAND_ROWS]
    cdef Py_ssize_t r, g, fb, p, q, run, runs, run_length, tiles, t, k, entries, x_offset, column
    cdef Py_ssize_t blocks_per_group = sums_cols // TC_FILTER_BLOCK // s.groups
    cdef int count
    cdef bint whole_rows = s.dw == 1 and s.groups == 1     # a tap row's (q, c) entries are consecutive
    for r in range(rows):
        x_rows[r] = r * s.sh * s.row_floats
        dy_rows[r] = r * s.out_w * dy_cols
    runs = s.kh if whole_rows else s.kh * s.kw
    run_length = s.kw * s.group_channels if whole_rows else s.group_channels
    tiles = (run_length + TC_TILE_PIXELS - 1) // TC_TILE_PIXELS
    for g in range(s.groups):
        for fb in range(blocks_per_group):
            column = (g * blocks_per_group + fb) * TC_FILTER_BLOCK
            count = <int>min(<Py_ssize_t>TC_FILTER_BLOCK, group_filters - fb * TC_FILTER_BLOCK)
            for run in range(runs):
                p = run if whole_rows else run // s.kw
                q = 0 if whole_rows else run % s.kw
                x_offset = p * s.dh * s.row_floats + q * s.dw * s.channels + g * s.group_channels
                k = 0
                for t in range(tiles):      # tiles of even size, the first (run_length % tiles) one longer
                    entries = run_length // tiles + (1 if t < run_length % tiles else 0)
                    tc_implicit_weight_tile(<int>entries, source + x_offset + k, x_rows, dy + column, dy_rows,
                                            <int>rows, s.out_w, s.sw * s.channels, dy_cols,
                                            sums + (run * run_length + k) * sums_cols + column, sums_cols, count)
                    k = k + entries


def weight_gradient(const float[:, :, :, ::1] x, const float[:, ::1] dy, float[:, :, ::1] partial,
                    Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t top, Py_ssize_t left, Py_ssize_t groups,
                    Py_ssize_t group_filters, int threads):
    """partial[s] = slice s's dL/dW, (KH*KW*Cg, groups * blocks * TC_FILTER_BLOCK), rows ordered
    (p, q, c) and each group's filters in its own whole blocks.  ``dy``: (output pixels, the
    same columns as ``partial``), zero in the padding columns, or, for one group whose filters
    fill whole vectors, (output pixels, filters) as it is (no tile reads past them);
    ``group_filters``: the filters of a group without that padding (a block that holds no more
    than one vector of them runs the tile's one-vector copy)."""
    cdef Shape s = _shape(x, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left, groups)
    cdef Py_ssize_t slices = partial.shape[0], total_rows = x.shape[0] * out_h, sl, first, stop, rows
    cdef Py_ssize_t dy_cols = dy.shape[1], sums_cols = partial.shape[2]
    cdef float[:, ::1] staging = _staging(s, threads)
    cdef const float* source
    cdef Py_ssize_t slice_floats = partial.shape[1] * sums_cols
    if out_w == 0 or total_rows == 0:
        partial[:, :, :] = 0
        return
    with nogil, parallel(num_threads=threads):
        for sl in prange(slices, schedule="dynamic"):
            # zeroed by the thread that sums it, just before (in its cache, and not one pass for all)
            memset(&partial[sl, 0, 0], 0, slice_floats * sizeof(float))
            first = sl * total_rows // slices
            stop = (sl + 1) * total_rows // slices
            while first < stop:            # bands end at a slice's end and at a sample's last row
                rows = min(s.band_rows, stop - first, out_h - first % out_h)
                source = _stage(&x[0, 0, 0, 0], &staging[threadid(), 0], first // out_h, first % out_h, rows, s)
                _weight_band(source, &dy[first * out_w, 0], dy_cols, &partial[sl, 0, 0], sums_cols,
                             group_filters, rows, s)
                first = first + rows
include "conv_scatter_body.pxi"
