/* The register-blocked inner loop of the implicit-GEMM convolution (conv_implicit_body.pxi).
 *
 * One call sums a *tile*: up to TC_TILE_PIXELS = 6 output pixels, times a block of
 * TC_FILTER_BLOCK = 2 vectors of filters (16 with AVX2):
 *
 *   out[r][f] = b[f] + sum over taps (p, q), channels c of  x_r[p*row_step + q*col_step + c] * w[p][q][c][f]
 *
 * where x_r = x + r * pixel_step is pixel r's first tap in a zero-padded NHWC image.  Per
 * channel of a tap: two weight vectors loaded, six pixel values broadcast, twelve
 * multiply-adds into twelve independent vector accumulators (which keep both of a core's
 * multiply-add units busy; one accumulator would wait ~4 cycles on each).  It is the inner
 * kernel of a matrix product (the 6x16 shape BLAS libraries use on AVX2), with the rows of
 * im2col's columns matrix read straight from the image - a pixel's channels sit side by side
 * there - instead of being copied out first.  Measured single-threaded on the AVX-512 VM of
 * benchmarks/README.md, 56x56x64 -> 64 3x3: 101 GFLOP/s, as fast as its BLAS's GEMM alone
 * (an AVX-512 build, 16-float vectors, measured 94-110: no gain).
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

#define TC_TILE_PIXELS 6
#define TC_FILTER_BLOCK (2 * TC_LANES)

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

/* ``pixels`` is a constant at every call site below, so each becomes its own unrolled loop. */
static inline __attribute__((always_inline)) void tc_implicit_tile_n(
        const int pixels, const float *x, Py_ssize_t pixel_step, Py_ssize_t row_step, Py_ssize_t col_step,
        int kh, int kw, Py_ssize_t channels, const float *w, const float *b, float *out, Py_ssize_t out_step,
        int count) {
    tc_vec acc[TC_TILE_PIXELS][2];
    const tc_vec b0 = tc_load(b), b1 = tc_load(b + TC_LANES);
    for (int r = 0; r < pixels; r++) { acc[r][0] = b0; acc[r][1] = b1; }
    /* With no dilation (and one group) a tap row's channels of consecutive columns are
     * consecutive numbers, in the image as in the weights: one loop runs over all of them. */
    const int merged = col_step == channels;
    const Py_ssize_t run = merged ? kw * channels : channels;
    const int runs = merged ? 1 : kw;
    for (int p = 0; p < kh; p++) {
        for (int q = 0; q < runs; q++) {
            const float *xs = x + p * row_step + q * col_step;
            for (Py_ssize_t c = 0; c < run; c++) {
                const tc_vec w0 = tc_load(w), w1 = tc_load(w + TC_LANES);
                w += TC_FILTER_BLOCK;
#pragma GCC unroll 6
                for (int r = 0; r < pixels; r++) {
                    const float s = xs[r * pixel_step + c];
                    acc[r][0] += s * w0;
                    acc[r][1] += s * w1;
                }
            }
        }
    }
    if (count == TC_FILTER_BLOCK) {
        for (int r = 0; r < pixels; r++) {
            tc_store(out + r * out_step, acc[r][0]);
            tc_store(out + r * out_step + TC_LANES, acc[r][1]);
        }
    } else {  /* the last block of a filter count that is not a whole number of blocks */
        float tile[2 * TC_LANES];
        for (int r = 0; r < pixels; r++) {
            tc_store(tile, acc[r][0]);
            tc_store(tile + TC_LANES, acc[r][1]);
            memcpy(out + r * out_step, tile, count * sizeof(float));
        }
    }
}


/* dL/dW, the same tile turned around: six patch entries (consecutive numbers of a pixel's
 * patch in the image) times one filter block, summed over the output pixels of a band of
 * rows.  Per pixel: two vectors of dy loaded, six image values broadcast, twelve
 * multiply-adds; the sums are added to sums[k * sums_step + f] at the end.
 *
 *     sums[k][f] += sum over rows r, columns j of  x[x_rows[r] + j*pixel_step + k] * dy[dy_rows[r] + j*dy_step + f]
 */
static inline __attribute__((always_inline)) void tc_implicit_weight_tile_n(
        const int entries, const float *x, const Py_ssize_t *x_rows, const float *dy, const Py_ssize_t *dy_rows,
        int rows, Py_ssize_t cols, Py_ssize_t pixel_step, Py_ssize_t dy_step, float *sums, Py_ssize_t sums_step) {
    tc_vec acc[TC_TILE_PIXELS][2];
    for (int k = 0; k < entries; k++) { acc[k][0] = tc_splat(0); acc[k][1] = tc_splat(0); }
    for (int r = 0; r < rows; r++) {
        const float *xr = x + x_rows[r], *dr = dy + dy_rows[r];
        for (Py_ssize_t j = 0; j < cols; j++) {
            const tc_vec d0 = tc_load(dr + j * dy_step), d1 = tc_load(dr + j * dy_step + TC_LANES);
            const float *xs = xr + j * pixel_step;
#pragma GCC unroll 6
            for (int k = 0; k < entries; k++) {
                acc[k][0] += xs[k] * d0;
                acc[k][1] += xs[k] * d1;
            }
        }
    }
    for (int k = 0; k < entries; k++) {
        float *row = sums + k * sums_step;
        tc_store(row, tc_load(row) + acc[k][0]);
        tc_store(row + TC_LANES, tc_load(row + TC_LANES) + acc[k][1]);
    }
}

#else  /* no vector extensions: the same sums, one number at a time */

static inline void tc_implicit_tile_n(
        const int pixels, const float *x, Py_ssize_t pixel_step, Py_ssize_t row_step, Py_ssize_t col_step,
        int kh, int kw, Py_ssize_t channels, const float *w, const float *b, float *out, Py_ssize_t out_step,
        int count) {
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
        const int entries, const float *x, const Py_ssize_t *x_rows, const float *dy, const Py_ssize_t *dy_rows,
        int rows, Py_ssize_t cols, Py_ssize_t pixel_step, Py_ssize_t dy_step, float *sums, Py_ssize_t sums_step) {
    for (int k = 0; k < entries; k++)
        for (int f = 0; f < TC_FILTER_BLOCK; f++) {
            float acc = 0;
            for (int r = 0; r < rows; r++)
                for (Py_ssize_t j = 0; j < cols; j++)
                    acc += x[x_rows[r] + j * pixel_step + k] * dy[dy_rows[r] + j * dy_step + f];
            sums[k * sums_step + f] += acc;
        }
}
#endif

static TC_NOINLINE void tc_implicit_tile(int pixels, const float *x, Py_ssize_t pixel_step, Py_ssize_t row_step,
                                         Py_ssize_t col_step, int kh, int kw, Py_ssize_t channels, const float *w,
                                         const float *b, float *out, Py_ssize_t out_step, int count) {
#define TC_TILE(n) tc_implicit_tile_n(n, x, pixel_step, row_step, col_step, kh, kw, channels, w, b, out, \
                                      out_step, count)
    switch (pixels) {
        case 6: TC_TILE(6); break;
        case 5: TC_TILE(5); break;
        case 4: TC_TILE(4); break;
        case 3: TC_TILE(3); break;
        case 2: TC_TILE(2); break;
        default: TC_TILE(1); break;
    }
#undef TC_TILE
}

static TC_NOINLINE void tc_implicit_weight_tile(int entries, const float *x, const Py_ssize_t *x_rows,
                                                const float *dy, const Py_ssize_t *dy_rows, int rows, Py_ssize_t cols,
                                                Py_ssize_t pixel_step, Py_ssize_t dy_step, float *sums,
                                                Py_ssize_t sums_step) {
#define TC_TILE(n) tc_implicit_weight_tile_n(n, x, x_rows, dy, dy_rows, rows, cols, pixel_step, dy_step, sums, \
                                             sums_step)
    switch (entries) {
        case 6: TC_TILE(6); break;
        case 5: TC_TILE(5); break;
        case 4: TC_TILE(4); break;
        case 3: TC_TILE(3); break;
        case 2: TC_TILE(2); break;
        default: TC_TILE(1); break;
    }
#undef TC_TILE
}

#endif
