/* dL/dx of a few-channel convolution by scattering (conv_scatter_body.pxi): the inner loop.
 *
 * Each dy pixel goes back over the input pixels it was computed from:
 *
 *     dx[i*sh + p, j*sw + q, c] += sum over filters f of  dy[i, j, f] * w[p, q, c, f]
 *
 * (dx zero-padded on every side, so every (p, q) lands in memory).  Undilated and in one group,
 * a kernel row's (q, c) entries are side by side in dx: KW*C numbers, ``vectors`` vectors with
 * the weights zero past them.  They are summed over the filters in registers, one accumulator
 * per vector (dy[f] broadcast once, used by every vector), then added to dx once per kernel row.
 * The same sums as col2im's dy @ W.T, without the (pixels x KH*KW*C) matrix in between (LeNet-5's
 * second layer: 960,000 numbers written and read back for a 75,000-number dx).
 *
 * The last vector of a row may reach past the kernel row: those lanes keep dx's bits as they
 * were (a select, not an addition of zero: inf * 0 would be NaN, and -0 + 0 is +0), so the
 * caller only needs room for them (a few columns of padding on the right).
 */
#ifndef TINYCONV_SCATTER_MICRO_H
#define TINYCONV_SCATTER_MICRO_H

#include "simd_vec.h"

#define TC_SCATTER_MAX_VECTORS 8    /* at most this many vectors per kernel row (registers) */

#ifndef TC_NOINLINE                  /* (as implicit_micro.h: one out-of-line copy of the switch) */
#if defined(__GNUC__) || defined(__clang__)
#define TC_NOINLINE __attribute__((noinline))
#else
#define TC_NOINLINE
#endif
#endif

#if TC_HAVE_VECTORS

typedef int tc_scatter_mask __attribute__((vector_size(TC_LANES * sizeof(int))));

/* all bits set in the lanes below count */
static inline tc_scatter_mask tc_first_lanes_mask(int count) {
    tc_scatter_mask m;
    for (int i = 0; i < TC_LANES; i++) m[i] = i < count ? -1 : 0;
    return m;
}

/* the lanes of ``m`` from ``sum``, the others from ``kept``, bit for bit */
static inline tc_vec tc_select(tc_vec sum, tc_vec kept, tc_scatter_mask m) {
    return (tc_vec)(((tc_scatter_mask)sum & m) | ((tc_scatter_mask)kept & ~m));
}

static inline __attribute__((always_inline)) void tc_scatter_pixel_n(
        const int vectors, int span, const float *d, Py_ssize_t filters, const float *w, int kh, float *dx,
        Py_ssize_t dx_row_step) {
    const Py_ssize_t f_step = vectors * TC_LANES;                 /* weights: (KH, F, vectors * TC_LANES) */
    const tc_scatter_mask last = tc_first_lanes_mask(span - (vectors - 1) * TC_LANES);  /* the last vector's real lanes */
    for (int p = 0; p < kh; p++) {
        tc_vec acc[TC_SCATTER_MAX_VECTORS];
        for (int v = 0; v < vectors; v++) acc[v] = tc_splat(0);
        const float *wp = w + p * filters * f_step;
        for (Py_ssize_t f = 0; f < filters; f++, wp += f_step) {
            const tc_vec b = tc_splat(d[f]);
            for (int v = 0; v < vectors; v++) acc[v] += b * tc_load(wp + v * TC_LANES);
        }
        float *row = dx + p * dx_row_step;
        for (int v = 0; v < vectors - 1; v++)
            tc_store(row + v * TC_LANES, tc_load(row + v * TC_LANES) + acc[v]);
        const tc_vec kept = tc_load(row + (vectors - 1) * TC_LANES);
        tc_store(row + (vectors - 1) * TC_LANES, tc_select(kept + acc[vectors - 1], kept, last));
    }
}

#else  /* no vector extensions: the same sums, one number at a time */

static inline void tc_scatter_pixel_n(const int vectors, int span, const float *d, Py_ssize_t filters,
                                      const float *w, int kh, float *dx, Py_ssize_t dx_row_step) {
    const Py_ssize_t padded = (Py_ssize_t)vectors * TC_LANES;
    for (int p = 0; p < kh; p++)
        for (int k = 0; k < span; k++) {
            float acc = 0;
            for (Py_ssize_t f = 0; f < filters; f++) acc += d[f] * w[(p * filters + f) * padded + k];
            dx[p * dx_row_step + k] += acc;
        }
}
#endif

/* Four dy pixels of one column, in consecutive rows (stride 1 down the rows), at once: pixel k's
 * kernel row p lands on dx row k + p, so the 4 + KH - 1 dx rows are summed in registers and each
 * is added into dx once, and every weight vector loaded serves up to four pixels (one pixel at a
 * time loaded 1.5 numbers per multiply-add and ran at 0.8 multiply-adds a cycle).  For KH = 3 or
 * 5 and rows of 1 vector, or 2 where there are 32 registers: ``tc_scatter_column_fits``. */
#define TC_SCATTER_COLUMN 4

static inline int tc_scatter_column_fits(int kh, int vectors) {
    return (kh == 3 || kh == 5) && (vectors == 1 || (vectors == 2 && TC_LANES >= 16));
}

#if TC_HAVE_VECTORS
static inline __attribute__((always_inline)) void tc_scatter_column_n(
        const int kh, const int vectors, int span, const float *d, Py_ssize_t d_step, Py_ssize_t filters,
        const float *w, float *dx, Py_ssize_t dx_row_step) {
    enum { R = TC_SCATTER_COLUMN };
    const int rows = R + kh - 1;
    const Py_ssize_t f_step = vectors * TC_LANES, p_step = filters * f_step;
    const tc_scatter_mask last = tc_first_lanes_mask(span - (vectors - 1) * TC_LANES);
    tc_vec acc[TC_SCATTER_COLUMN + 5 - 1][2];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) acc[r][v] = tc_splat(0);
    for (Py_ssize_t f = 0; f < filters; f++) {
        tc_vec b[R];
        for (int k = 0; k < R; k++) b[k] = tc_splat(d[k * d_step + f]);
        for (int p = 0; p < kh; p++)
            for (int v = 0; v < vectors; v++) {
                const tc_vec wv = tc_load(w + p * p_step + f * f_step + v * TC_LANES);
                for (int k = 0; k < R; k++) acc[k + p][v] += b[k] * wv;
            }
    }
    for (int r = 0; r < rows; r++) {
        float *row = dx + r * dx_row_step;
        for (int v = 0; v < vectors - 1; v++)
            tc_store(row + v * TC_LANES, tc_load(row + v * TC_LANES) + acc[r][v]);
        const tc_vec kept = tc_load(row + (vectors - 1) * TC_LANES);
        tc_store(row + (vectors - 1) * TC_LANES, tc_select(kept + acc[r][vectors - 1], kept, last));
    }
}

static TC_NOINLINE void tc_scatter_column(int kh, int vectors, int span, const float *d, Py_ssize_t d_step,
                                          Py_ssize_t filters, const float *w, float *dx, Py_ssize_t dx_row_step) {
    if (kh == 3 && vectors == 1) tc_scatter_column_n(3, 1, span, d, d_step, filters, w, dx, dx_row_step);
    else if (kh == 5 && vectors == 1) tc_scatter_column_n(5, 1, span, d, d_step, filters, w, dx, dx_row_step);
#if TC_LANES >= 16
    else if (kh == 3 && vectors == 2) tc_scatter_column_n(3, 2, span, d, d_step, filters, w, dx, dx_row_step);
    else if (kh == 5 && vectors == 2) tc_scatter_column_n(5, 2, span, d, d_step, filters, w, dx, dx_row_step);
#endif
}
#else
static void tc_scatter_column(int kh, int vectors, int span, const float *d, Py_ssize_t d_step,
                              Py_ssize_t filters, const float *w, float *dx, Py_ssize_t dx_row_step);
#endif

/* One dy pixel: ``d`` its F numbers, ``dx`` where its kernel's first row starts, the next one
 * ``dx_row_step`` floats further; ``span`` = KW*C real numbers in ``vectors`` vectors. */
static TC_NOINLINE void tc_scatter_pixel(int vectors, int span, const float *d, Py_ssize_t filters, const float *w,
                                         int kh, float *dx, Py_ssize_t dx_row_step) {
    switch (vectors) {   /* a copy per count, its accumulators in registers */
#define TC_CASE(n) case n: tc_scatter_pixel_n(n, span, d, filters, w, kh, dx, dx_row_step); break;
        TC_CASE(1) TC_CASE(2) TC_CASE(3) TC_CASE(4) TC_CASE(5) TC_CASE(6) TC_CASE(7)
        default: tc_scatter_pixel_n(TC_SCATTER_MAX_VECTORS, span, d, filters, w, kh, dx, dx_row_step);
#undef TC_CASE
    }
}

#if !TC_HAVE_VECTORS
/* the plain-C loops: the column is its four pixels, one after another */
static void tc_scatter_column(int kh, int vectors, int span, const float *d, Py_ssize_t d_step,
                              Py_ssize_t filters, const float *w, float *dx, Py_ssize_t dx_row_step) {
    for (int k = 0; k < TC_SCATTER_COLUMN; k++)
        tc_scatter_pixel(vectors, span, d + k * d_step, filters, w, kh, dx + k * dx_row_step, dx_row_step);
}
#endif

#endif
