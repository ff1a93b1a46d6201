/* exp and the logistic sigmoid for float32, written so the compiler can vectorise them.
 *
 * The C library's expf is a scalar call (about 15-40 cycles each here).  This uses the
 * textbook method instead:
 *
 *   e^x = 2^k * e^r,  k = round(x / ln 2),  r = x - k ln 2  (|r| <= ln2 / 2 = 0.3466)
 *
 * with e^r from its Taylor series to r^7 (the next term, r^8 / 8!, is below 6e-9 < half a
 * float32 ulp of 1), and 2^k built directly in the exponent bits.  ln 2 is split in two
 * parts (the first exact in a few bits) so that k * ln2 does not lose r's low bits.
 *
 * No branches and no calls, only arithmetic, selects and bit moves: -O3 turns the loops that
 * use them into SIMD code.  Accuracy: a few float32 ulps (the tests compare them with NumPy).
 */
#ifndef TINYCONV_FAST_MATH_H
#define TINYCONV_FAST_MATH_H

#include <stdint.h>
#include <string.h>

#define TC_LOG2E 1.44269504088896341f
#define TC_LN2_HIGH 0.693359375f          /* ln 2 rounded to a few bits: k * TC_LN2_HIGH is exact */
#define TC_LN2_LOW (-2.12194440e-4f)      /* ln 2 - TC_LN2_HIGH */

/* e^r - 1 for |r| <= 0.35: Taylor series r + r^2/2! + ... + r^7/7!, in Horner form. */
static inline float tc_expm1_small(float r) {
    return r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120
           + r * (1.0f / 720 + r * (1.0f / 5040)))))));
}

/* e^x for float32; saturates to 0 below -87 and to a huge finite value above 88; NaN stays NaN.
 * (NaN fails every comparison, so the clamp sends it to -87: the int conversion below never sees
 * a NaN, which C leaves undefined, and the last line returns x itself.) */
static inline float tc_expf(float x) {
    float clamped = !(x >= -87.0f) ? -87.0f : (x > 88.0f ? 88.0f : x);
    float scaled = clamped * TC_LOG2E;
    int32_t k = (int32_t)(scaled + (scaled >= 0 ? 0.5f : -0.5f));   /* round to nearest */
    float kf = (float)k;
    float r = (clamped - kf * TC_LN2_HIGH) - kf * TC_LN2_LOW;
    int32_t bits = (k + 127) << 23;                                   /* 2^k as a float */
    float two_to_k;
    memcpy(&two_to_k, &bits, sizeof two_to_k);
    float result = (1.0f + tc_expm1_small(r)) * two_to_k;
    return x != x ? x : (x < -87.0f ? 0.0f : result);
}

/* 1 / (1 + e^-x) without overflow: with e = e^-|x| (at most 1), it is 1/(1+e) or e/(1+e). */
static inline float tc_sigmoidf(float x) {
    float e = tc_expf(x < 0 ? x : -x);
    float positive = 1.0f / (1.0f + e);
    return x < 0 ? e * positive : positive;
}

/* The loop, here rather than in Cython so that it is a plain C loop GCC vectorises.
 * ``out`` may be ``x`` itself (an in-place activation). */
static inline void tc_sigmoidf_array(const float* x, float* out, long n) {
    for (long i = 0; i < n; i++) out[i] = tc_sigmoidf(x[i]);
}

#endif
