/* The two register-blocked inner loops of the direct convolution (conv_direct_body.pxi).
 *
 * Both work on a *run* of TC_RUN = 2 vectors of consecutive output columns and a block of
 * TC_FB filters at once: 2 x TC_FB vector accumulators, each an independent chain of
 * multiply-adds.  That is the point of this file: a loop that updates one accumulator waits
 * for each multiply-add to finish (about 4 cycles) before the next can start; eight or more
 * independent ones keep both of a core's multiply-add units busy, and every input vector
 * loaded is used TC_FB times.
 *
 * The vectors are ``tc_vec`` (simd_vec.h).  With AVX2 (16 registers) TC_FB = 4: 8
 * accumulators, 16 columns.  With AVX-512 (32 registers of 16 floats) TC_FB = 8: 16
 * accumulators, 32 columns, and each input vector serves twice as many filters.  Measured on
 * LeNet's first layer (N=64 28x28x1 -> 6 5x5, 1 thread, the AVX-512 VM of benchmarks/README.md),
 * AVX2 against AVX-512: forward 35 -> 50 GFLOP/s, dL/dW 21 -> 28; with TC_FB = 4 the AVX-512
 * build reached only 44 and 23.  Such layers spend much of their time outside these loops,
 * transposing between NHWC and planar rows, and compute padding: 24 columns in a run of 32.
 *
 *   forward   out[f][u] = b[f] + sum_t w[t][f] * x[off[t] + u]          (u < TC_RUN)
 *   dL/dW     sums[f]  += sum_r sum_u x[row[r] + tap + u] * dy[r][f][u]   (u < width <= TC_RUN)
 *
 * The last run of a row may reach past the output width.  Forward computes those columns and
 * the caller drops them; dL/dW must leave them out of its sums (``width``): dy is zero there,
 * but the input it would meet may be inf or NaN, and inf * 0 is NaN.
 */
#ifndef TINYCONV_DIRECT_MICRO_H
#define TINYCONV_DIRECT_MICRO_H

#include "simd_vec.h"

#define TC_RUN (2 * TC_LANES)  /* output columns per call: two vectors */
#if TC_LANES >= 16
#define TC_FB 8                /* filters per call: 2 x 8 = 16 of AVX-512's 32 registers */
#else
#define TC_FB 4                /* filters per call: 2 x 4 = 8 of AVX2's 16 registers */
#endif

#if TC_HAVE_VECTORS

static void tc_direct_forward_run(const float *x, const Py_ssize_t *off, Py_ssize_t taps, const float *w,
                                  const float *b, float *out, Py_ssize_t ld) {
    tc_vec a[TC_FB], c[TC_FB];      /* columns [0, TC_LANES) and [TC_LANES, TC_RUN) of each filter */
    for (int f = 0; f < TC_FB; f++) a[f] = c[f] = tc_splat(b[f]);
    for (Py_ssize_t t = 0; t < taps; t++) {
        const float *s = x + off[t];
        const tc_vec x0 = tc_load(s), x1 = tc_load(s + TC_LANES);
        const float *wt = w + TC_FB * t;
        for (int f = 0; f < TC_FB; f++) {
            a[f] += wt[f] * x0;
            c[f] += wt[f] * x1;
        }
    }
    for (int f = 0; f < TC_FB; f++) {
        tc_store(out + f * ld, a[f]);
        tc_store(out + f * ld + TC_LANES, c[f]);
    }
}

typedef int tc_lane_mask __attribute__((vector_size(TC_LANES * sizeof(int))));

/* All bits set in the lanes below ``count``, none above: AND-ed with a vector it zeroes the
 * lanes past the output width (bits, not a multiplication: inf and NaN become 0 too). */
static inline tc_lane_mask tc_first_lanes(Py_ssize_t count) {
    tc_lane_mask m;
    for (int i = 0; i < TC_LANES; i++) m[i] = i < count ? -1 : 0;
    return m;
}

static inline tc_vec tc_masked(tc_vec v, tc_lane_mask m) { return (tc_vec)((tc_lane_mask)v & m); }

static void tc_direct_weight_run(const float *x, const Py_ssize_t *row, Py_ssize_t rows, Py_ssize_t tap,
                                 const float *dy, Py_ssize_t dy_row, Py_ssize_t ld, Py_ssize_t width,
                                 float *sums) {
    tc_vec a[TC_FB], c[TC_FB];
    for (int f = 0; f < TC_FB; f++) a[f] = c[f] = tc_splat(0);
    const int whole = width >= TC_RUN;      /* a full run: no lane to drop (the common case) */
    const tc_lane_mask m0 = tc_first_lanes(width), m1 = tc_first_lanes(width - TC_LANES);
    for (Py_ssize_t r = 0; r < rows; r++) {
        const float *s = x + row[r] + tap;
        const float *d = dy + r * dy_row;
        tc_vec x0 = tc_load(s), x1 = tc_load(s + TC_LANES);
        if (!whole) {
            x0 = tc_masked(x0, m0);
            x1 = tc_masked(x1, m1);
        }
        /* one pointer stepped by ld: indexed as d + f * ld, GCC kept the 8 offsets of AVX-512's
         * filters in registers it lacked, moving some through vector registers every row */
        for (int f = 0; f < TC_FB; f++, d += ld) {
            a[f] += x0 * tc_load(d);
            c[f] += x1 * tc_load(d + TC_LANES);
        }
    }
    for (int f = 0; f < TC_FB; f++) sums[f] += tc_sum(a[f] + c[f]);
}

#else  /* no vector extensions: the same sums, one number at a time */

static void tc_direct_forward_run(const float *x, const Py_ssize_t *off, Py_ssize_t taps, const float *w,
                                  const float *b, float *out, Py_ssize_t ld) {
    for (int f = 0; f < TC_FB; f++)
        for (int u = 0; u < TC_RUN; u++) {
            float acc = b[f];
            for (Py_ssize_t t = 0; t < taps; t++) acc += w[TC_FB * t + f] * x[off[t] + u];
            out[f * ld + u] = acc;
        }
}

static void tc_direct_weight_run(const float *x, const Py_ssize_t *row, Py_ssize_t rows, Py_ssize_t tap,
                                 const float *dy, Py_ssize_t dy_row, Py_ssize_t ld, Py_ssize_t width,
                                 float *sums) {
    if (width > TC_RUN) width = TC_RUN;
    for (int f = 0; f < TC_FB; f++) {
        float acc = 0;
        for (Py_ssize_t r = 0; r < rows; r++)
            for (Py_ssize_t u = 0; u < width; u++) acc += x[row[r] + tap + u] * dy[r * dy_row + f * ld + u];
        sums[f] += acc;
    }
}
#endif

#endif
