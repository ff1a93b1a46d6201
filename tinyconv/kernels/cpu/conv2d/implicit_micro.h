/* The register-blocked inner loop of the implicit-GEMM convolution (conv_implicit_body.pxi).
 *
 * One call sums a *tile*: up to TC_TILE_PIXELS output pixels, times a block of
 * TC_FILTER_BLOCK = 2 vectors of filters:
 *
 *   out[r][f] = b[f] + sum over taps (p, q), channels c of  x_r[p*row_step + q*col_step + c] * w[p][q][c][f]
 *
 * where x_r = x + r * pixel_step is pixel r's first tap in a zero-padded NHWC image.  Per
 * channel of a tap: two weight vectors loaded, one pixel value broadcast per pixel, two
 * multiply-adds per pixel into independent vector accumulators (which keep both of a core's
 * multiply-add units busy; one accumulator would wait ~4 cycles on each).  It is the inner
 * kernel of a matrix product, with the rows of im2col's columns matrix read straight from the
 * image - a pixel's channels sit side by side there - instead of being copied out first.
 *
 * The tile is as large as the registers allow: each weight vector loaded then serves more
 * pixels, and more independent accumulators hide the latency of the multiply-adds.
 *
 *   AVX2 (16 registers of 8 floats): 6 pixels x 16 filters, 12 accumulators + 2 weight
 *   vectors + 1 broadcast, the 6x16 shape BLAS libraries use there.
 *
 *   AVX-512 (32 registers of 16 floats): 14 pixels x 32 filters, 28 accumulators + 2 weight
 *   vectors + 1 broadcast = 31 registers, the channel loop unrolled twice.  14 also divides the
 *   widths of the usual image pyramids (224, 112, 56, 28, 14: no short last tile).
 *
 * Measured on the 2-core AVX-512 VM of benchmarks/README.md (two 512-bit FMA units per core:
 * 214 GFLOP/s per core on a loop of multiply-adds alone, 107 with AVX2's 256-bit vectors), one
 * thread, batch 16, 3x3 'same', forward / dL/dW in GFLOP/s:
 *
 *                              AVX2 6x16    AVX-512 6x32    AVX-512 14x32
 *     56x56, 64 -> 64           99 / 83      112 / 112       149 / 126
 *     28x28, 128 -> 128         98 / 80      116 / 107       154 / 120
 *
 * The AVX2 tile built for AVX-512 (6x32) gained only 15-35%; 12 pixels ran 2-5% slower than
 * 14.  AVX2 reaches ~93% of its peak here, the 14x32 tile ~70% of AVX-512's (one of the
 * reasons: 14 pixel offsets are more than the general registers GCC has free, so a few are
 * reloaded from the stack on every channel).
 *
 * A block whose filters fit in one vector (a layer of 16 filters on AVX-512, or the last block
 * of 48) runs a one-vector copy of the tile: the second vector's multiply-adds would only sum
 * zeros.  Without it a 3x3 32x32 16 -> 16 layer ran slower on AVX-512 than on AVX2 (forward 67
 * against 78 GFLOP/s, dL/dW 56 against 75); with it 114 and 91 against 85 and 79.
 *
 * (The pixels are one step apart, not given by a table of pointers: GCC kept six such
 * pointers on the stack and reloaded them for every multiply-add, at half the speed.)
 *
 * Arguments (steps in floats): x, the tile's first pixel; pixel_step, from one pixel to the
 * next (stride * channels); row_step and col_step, from one tap row or column to the next
 * (dilation * padded width * channels, dilation * channels); channels, the group's; w, the
 * filter block's weights (p, q, c, TC_FILTER_BLOCK); b, its bias; out, the first pixel's
 * output, the next one out_step floats further; count, the valid filters of the block.
 */
#ifndef TINYCONV_IMPLICIT_MICRO_H
#define TINYCONV_IMPLICIT_MICRO_H

#include "simd_vec.h"

#if TC_LANES >= 16
#define TC_TILE_PIXELS 14       /* AVX-512: 14 x 2 accumulators of its 32 registers */
#define TC_CHANNEL_UNROLL 2     /* two channels per loop turn: 2-7% faster (less loop overhead) */
#else
#define TC_TILE_PIXELS 6        /* AVX2 (16 registers), SSE, NEON: 6 x 2 */
#define TC_CHANNEL_UNROLL 1
#endif
#define TC_FILTER_BLOCK (2 * TC_LANES)

/* The tile sizes a call may ask for, largest first: each gets its own unrolled copy below. */
#if TC_TILE_PIXELS == 14
#define TC_TILE_SIZES(CASE) CASE(14) CASE(13) CASE(12) CASE(11) CASE(10) CASE(9) CASE(8) \
                            CASE(7) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2)
#elif TC_TILE_PIXELS == 6
#define TC_TILE_SIZES(CASE) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2)
#else
#error "TC_TILE_PIXELS: list its tile sizes in TC_TILE_SIZES"
#endif

#define TC_PRAGMA(x) _Pragma(#x)
#define TC_UNROLL(n) TC_PRAGMA(GCC unroll n)

/* The two entry points below are never inlined into their callers: inlined into the loops of
 * conv_implicit_body.pxi, GCC ran short of registers and kept an accumulator and the pixel
 * offsets on the stack (measured 2x slower on 56x56x64 -> 64).  A call per tile costs nothing
 * beside its hundreds of multiply-adds. */
#if defined(__GNUC__) || defined(__clang__)
#define TC_NOINLINE __attribute__((noinline))
#else
#define TC_NOINLINE
#endif

#if TC_HAVE_VECTORS

/* ``pixels`` and ``vectors`` (1 or 2) are constants at every call site below, so each
 * becomes its own unrolled loop with its accumulators in registers. */
static inline __attribute__((always_inline)) void tc_implicit_tile_n(
        const int pixels, const int vectors, const float *x, Py_ssize_t pixel_step, Py_ssize_t row_step,
        Py_ssize_t col_step, int kh, int kw, Py_ssize_t channels, const float *w, const float *b, float *out,
        Py_ssize_t out_step, int count) {
    tc_vec acc[TC_TILE_PIXELS][2];
    for (int r = 0; r < pixels; r++)
        for (int v = 0; v < vectors; v++) acc[r][v] = tc_load(b + v * TC_LANES);
    /* With no dilation (and one group) a tap row's channels of consecutive columns are
     * consecutive numbers, in the image as in the weights: one loop runs over all of them. */
    const int merged = col_step == channels;
    const Py_ssize_t run = merged ? kw * channels : channels;
    const int runs = merged ? 1 : kw;
    for (int p = 0; p < kh; p++) {
        for (int q = 0; q < runs; q++) {
            const float *xs = x + p * row_step + q * col_step;
            TC_UNROLL(TC_CHANNEL_UNROLL)
            for (Py_ssize_t c = 0; c < run; c++) {
                tc_vec wv[2];
                for (int v = 0; v < vectors; v++) wv[v] = tc_load(w + v * TC_LANES);
                w += TC_FILTER_BLOCK;
                TC_UNROLL(16)
                for (int r = 0; r < pixels; r++) {
                    const float s = xs[r * pixel_step + c];
                    for (int v = 0; v < vectors; v++) acc[r][v] += s * wv[v];
                }
            }
        }
    }
    if (count == vectors * TC_LANES) {
        for (int r = 0; r < pixels; r++)
            for (int v = 0; v < vectors; v++) tc_store(out + r * out_step + v * TC_LANES, acc[r][v]);
    } else {  /* the last block of a filter count that is not a whole number of vectors */
        float tile[2 * TC_LANES];
        for (int r = 0; r < pixels; r++) {
            for (int v = 0; v < vectors; v++) tc_store(tile + v * TC_LANES, acc[r][v]);
            memcpy(out + r * out_step, tile, count * sizeof(float));
        }
    }
}


/* dL/dW, the same tile turned around: up to TC_TILE_PIXELS patch entries (consecutive numbers
 * of a pixel's patch in the image) times one filter block, summed over the output pixels of a
 * band of rows.  Per pixel: two vectors of dy loaded, one image value broadcast per entry, two
 * multiply-adds per entry; the sums are added to sums[k * sums_step + f] at the end.
 *
 *     sums[k][f] += sum over rows r, columns j of  x[x_rows[r] + j*pixel_step + k] * dy[dy_rows[r] + j*dy_step + f]
 */
static inline __attribute__((always_inline)) void tc_implicit_weight_tile_n(
        const int entries, const int vectors, const float *x, const Py_ssize_t *x_rows, const float *dy,
        const Py_ssize_t *dy_rows, int rows, Py_ssize_t cols, Py_ssize_t pixel_step, Py_ssize_t dy_step,
        float *sums, Py_ssize_t sums_step) {
    tc_vec acc[TC_TILE_PIXELS][2];
    for (int k = 0; k < entries; k++)
        for (int v = 0; v < vectors; v++) acc[k][v] = tc_splat(0);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + x_rows[r], *dr = dy + dy_rows[r];
        for (Py_ssize_t j = 0; j < cols; j++) {
            tc_vec d[2];
            for (int v = 0; v < vectors; v++) d[v] = tc_load(dr + j * dy_step + v * TC_LANES);
            const float *xs = xr + j * pixel_step;
            TC_UNROLL(16)
            for (int k = 0; k < entries; k++)
                for (int v = 0; v < vectors; v++) acc[k][v] += xs[k] * d[v];
        }
    }
    for (int k = 0; k < entries; k++)
        for (int v = 0; v < vectors; v++) {
            float *row = sums + k * sums_step + v * TC_LANES;
            tc_store(row, tc_load(row) + acc[k][v]);
        }
}

#else  /* no vector extensions: the same sums, one number at a time */

static inline void tc_implicit_tile_n(
        const int pixels, const int vectors, const float *x, Py_ssize_t pixel_step, Py_ssize_t row_step,
        Py_ssize_t col_step, int kh, int kw, Py_ssize_t channels, const float *w, const float *b, float *out,
        Py_ssize_t out_step, int count) {
    (void)vectors;
    for (int r = 0; r < pixels; r++)
        for (int f = 0; f < count; f++) {
            float acc = b[f];
            const float *wp = w;
            for (int p = 0; p < kh; p++)
                for (int q = 0; q < kw; q++)
                    for (Py_ssize_t c = 0; c < channels; c++, wp += TC_FILTER_BLOCK)
                        acc += x[r * pixel_step + p * row_step + q * col_step + c] * wp[f];
            out[r * out_step + f] = acc;
        }
}

static inline void tc_implicit_weight_tile_n(
        const int entries, const int vectors, const float *x, const Py_ssize_t *x_rows, const float *dy,
        const Py_ssize_t *dy_rows, int rows, Py_ssize_t cols, Py_ssize_t pixel_step, Py_ssize_t dy_step,
        float *sums, Py_ssize_t sums_step) {
    for (int k = 0; k < entries; k++)
        for (int f = 0; f < vectors * TC_LANES; f++) {
            float acc = 0;
            for (int r = 0; r < rows; r++)
                for (Py_ssize_t j = 0; j < cols; j++)
                    acc += x[x_rows[r] + j * pixel_step + k] * dy[dy_rows[r] + j * dy_step + f];
            sums[k * sums_step + f] += acc;
        }
}
#endif

/* The filter vectors a block of ``count`` valid filters needs: 1 when they fit in one. */
#define TC_VECTORS(count) ((count) <= TC_LANES ? 1 : 2)

static TC_NOINLINE void tc_implicit_tile(int pixels, const float *x, Py_ssize_t pixel_step, Py_ssize_t row_step,
                                         Py_ssize_t col_step, int kh, int kw, Py_ssize_t channels, const float *w,
                                         const float *b, float *out, Py_ssize_t out_step, int count) {
#define TC_TILE(n, v) tc_implicit_tile_n(n, v, x, pixel_step, row_step, col_step, kh, kw, channels, w, b, out, \
                                         out_step, count)
    if (TC_VECTORS(count) == 1) {
#define TC_CASE(n) case n: TC_TILE(n, 1); break;
        switch (pixels) { TC_TILE_SIZES(TC_CASE) default: TC_TILE(1, 1); }
#undef TC_CASE
    } else {
#define TC_CASE(n) case n: TC_TILE(n, 2); break;
        switch (pixels) { TC_TILE_SIZES(TC_CASE) default: TC_TILE(1, 2); }
#undef TC_CASE
    }
#undef TC_TILE
}

/* ``count``: the block's valid filters (dy is zero past them). */
static TC_NOINLINE void tc_implicit_weight_tile(int entries, const float *x, const Py_ssize_t *x_rows,
                                                const float *dy, const Py_ssize_t *dy_rows, int rows, Py_ssize_t cols,
                                                Py_ssize_t pixel_step, Py_ssize_t dy_step, float *sums,
                                                Py_ssize_t sums_step, int count) {
#define TC_TILE(n, v) tc_implicit_weight_tile_n(n, v, x, x_rows, dy, dy_rows, rows, cols, pixel_step, dy_step, \
                                                sums, sums_step)
    if (TC_VECTORS(count) == 1) {
#define TC_CASE(n) case n: TC_TILE(n, 1); break;
        switch (entries) { TC_TILE_SIZES(TC_CASE) default: TC_TILE(1, 1); }
#undef TC_CASE
    } else {
#define TC_CASE(n) case n: TC_TILE(n, 2); break;
        switch (entries) { TC_TILE_SIZES(TC_CASE) default: TC_TILE(1, 2); }
#undef TC_CASE
    }
#undef TC_TILE
}

#endif
