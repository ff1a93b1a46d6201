/* The two register-blocked inner loops of the direct convolution (conv_direct_body.pxi).
 *
 * Both work on a *run* of TC_RUN consecutive output columns and a block of TC_FB = 4
 * filters at once: 2 x 4 = 8 vector accumulators, each an independent chain of
 * multiply-adds.  That is the point of this file: a loop that updates one accumulator waits
 * for each multiply-add to finish (about 4 cycles) before the next can start; eight
 * independent ones keep both of a core's multiply-add units busy, and every input vector
 * loaded is used four times.
 *
 * The vectors are ``tc_vec`` (simd_vec.h).
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
#define TC_FB 4                /* filters per call */

#if TC_HAVE_VECTORS

static void tc_direct_forward_run(const float *x, const Py_ssize_t *off, Py_ssize_t taps, const float *w,
                                  const float *b, float *out, Py_ssize_t ld) {
    tc_vec a0 = tc_splat(b[0]), a1 = tc_splat(b[1]), a2 = tc_splat(b[2]), a3 = tc_splat(b[3]);
    tc_vec c0 = a0, c1 = a1, c2 = a2, c3 = a3;
    for (Py_ssize_t t = 0; t < taps; t++) {
        const float *s = x + off[t];
        const tc_vec x0 = tc_load(s), x1 = tc_load(s + TC_LANES);
        const float *wt = w + TC_FB * t;
        a0 += wt[0] * x0; a1 += wt[1] * x0; a2 += wt[2] * x0; a3 += wt[3] * x0;
        c0 += wt[0] * x1; c1 += wt[1] * x1; c2 += wt[2] * x1; c3 += wt[3] * x1;
    }
    tc_store(out, a0);          tc_store(out + TC_LANES, c0);
    tc_store(out + ld, a1);     tc_store(out + ld + TC_LANES, c1);
    tc_store(out + 2 * ld, a2); tc_store(out + 2 * ld + TC_LANES, c2);
    tc_store(out + 3 * ld, a3); tc_store(out + 3 * ld + TC_LANES, c3);
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
    tc_vec a0 = tc_splat(0), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
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
        a0 += x0 * tc_load(d);          c0 += x1 * tc_load(d + TC_LANES);
        a1 += x0 * tc_load(d + ld);     c1 += x1 * tc_load(d + ld + TC_LANES);
        a2 += x0 * tc_load(d + 2 * ld); c2 += x1 * tc_load(d + 2 * ld + TC_LANES);
        a3 += x0 * tc_load(d + 3 * ld); c3 += x1 * tc_load(d + 3 * ld + TC_LANES);
    }
    sums[0] += tc_sum(a0 + c0); sums[1] += tc_sum(a1 + c1);
    sums[2] += tc_sum(a2 + c2); sums[3] += tc_sum(a3 + c3);
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
