/* Vector registers for the hand-blocked kernels (direct_micro.h, implicit_micro.h).
 *
 * ``tc_vec`` is TC_LANES floats in one SIMD register, through GCC/Clang vector extensions:
 * as wide as the compiler's target allows (4 for SSE2 or NEON, 8 with AVX or AVX2); ``a * b
 * + c`` on two of them is one instruction per vector (a fused multiply-add with -mfma).
 * Written as plain loops instead, GCC kept the accumulators in memory (measured 5 GMAC/s
 * against 22).  TC_HAVE_VECTORS is 0 on other compilers, whose kernels then use plain loops
 * (building with -DTC_HAVE_VECTORS=0 selects those loops anywhere, to test them).
 */
#ifndef TINYCONV_SIMD_VEC_H
#define TINYCONV_SIMD_VEC_H

#include <string.h>

#if defined(__AVX512F__) || defined(__AVX__)
#define TC_LANES 8          /* 8 floats per vector (AVX); 16 (AVX-512) measured no faster */
#else
#define TC_LANES 4          /* SSE2, NEON */
#endif

#if !defined(TC_HAVE_VECTORS) && (defined(__GNUC__) || defined(__clang__))
#define TC_HAVE_VECTORS 1
typedef float tc_vec __attribute__((vector_size(TC_LANES * sizeof(float))));
/* memcpy: an unaligned load/store that the compiler turns into one vector move */
static inline tc_vec tc_load(const float *p) { tc_vec v; memcpy(&v, p, sizeof v); return v; }
static inline void tc_store(float *p, tc_vec v) { memcpy(p, &v, sizeof v); }
static inline tc_vec tc_splat(float s) { tc_vec v; for (int i = 0; i < TC_LANES; i++) v[i] = s; return v; }
static inline float tc_sum(tc_vec v) { float s = 0; for (int i = 0; i < TC_LANES; i++) s += v[i]; return s; }
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

#endif
