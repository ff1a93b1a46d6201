/* OpenMP when the compiler has it, single-threaded stand-ins when it does not.
 * Cython's prange already compiles to a plain loop without _OPENMP; these cover the
 * runtime calls (thread counts) so the same .pyx builds either way. */
#ifndef TINYCONV_OMP_COMPAT_H
#define TINYCONV_OMP_COMPAT_H
#ifdef _OPENMP
#include <omp.h>
#define TINYCONV_HAVE_OPENMP 1
#else
#define TINYCONV_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_procs(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
#endif
#endif
