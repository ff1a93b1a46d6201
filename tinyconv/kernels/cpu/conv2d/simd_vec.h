/* Vector registers for the hand-blocked kernels (direct_micro.h, implicit_micro.h).
 *
 * ``tc_vec`` is TC_LANES floats in one SIMD register, through GCC/Clang vector extensions:
 * as wide as the compiler's target allows (4 for SSE2 or NEON, 8 with AVX or AVX2, 16 with
 * AVX-512); ``a * b + c`` on two of them is one instruction per vector (a fused multiply-add
 * with -mfma or -mavx512f).
 * Written as plain loops instead, GCC kept the accumulators in memory (measured 5 GMAC/s
 * against 22).  TC_HAVE_VECTORS is 0 on other compilers, whose kernels then use plain loops
 * (building with -DTC_HAVE_VECTORS=0 selects those loops anywhere, to test them).
 */
#ifndef TINYCONV_SIMD_VEC_H
#define TINYCONV_SIMD_VEC_H

#include <string.h>

#if defined(__AVX512F__)
#define TC_LANES 16         /* 16 floats per vector (AVX-512: 32 registers of them) */
#elif defined(__AVX__)
#define TC_LANES 8          /* 8 floats per vector (AVX, AVX2: 16 registers) */
#else
#define TC_LANES 4          /* SSE2, NEON */
#endif

#if !defined(TC_HAVE_VECTORS) && (defined(__GNUC__) || defined(__clang__))
#define TC_HAVE_VECTORS 1
typedef float tc_vec __attribute__((vector_size(TC_LANES * sizeof(float))));
/* memcpy: an unaligned load/store that the compiler turns into one vector move */
static inline tc_vec tc_load(const float *p) { tc_vec v; memcpy(&v, p, sizeof v); return v; }
static inline void tc_store(float *p, tc_vec v) { memcpy(p, &v, sizeof v); }
/* s in every lane (a scalar operand is widened to the vector; - 0 keeps -0.0 as it is).  A loop
 * over the lanes instead became 16 masked inserts for AVX-512 in GCC 12. */
static inline tc_vec tc_splat(float s) { return s - (tc_vec){0}; }
/* The lanes added in halves (16 -> 8 -> 4 -> 2 -> 1): 4 dependent additions for 16 lanes,
 * where one running sum was 16 (direct_micro.h's dL/dW sums 8 such vectors per call). */
static inline float tc_sum(tc_vec v) {
    float lane[TC_LANES];
    memcpy(lane, &v, sizeof v);
    for (int half = TC_LANES / 2; half > 0; half /= 2)
        for (int i = 0; i < half; i++) lane[i] += lane[i + half];
    return lane[0];
}
#elif !defined(TC_HAVE_VECTORS)
#define TC_HAVE_VECTORS 0
#endif

/* 1 when this CPU (and its OS) can run AVX2 and FMA instructions: picks a module's build. */
static inline int tc_cpu_has_avx2_fma(void) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* 1 when this CPU (and its OS: GCC's and Clang's checks include the OS saving the 512-bit
 * registers) can run the AVX-512 builds: setup.py compiles them with F, VL, BW and DQ. */
static inline int tc_cpu_has_avx512(void) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return tc_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
           && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

#endif
