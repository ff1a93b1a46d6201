"""The machine's own limits, measured: single-precision GEMM rate and memory bandwidth.

A convolution at 60% of the GEMM rate is about as good as a CPU convolution gets; a pooling
layer moving its bytes at the copy bandwidth cannot go faster.  Both are measured with the
same thread count as the cases, through NumPy (so the GEMM is tinyconv's own BLAS).
"""
import time

import numpy as np


def best_seconds(fn, repeats):
    fn()  # warm-up: page faults, BLAS thread start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_gflops(size=2048, repeats=5):
    """float32 (size x size) @ (size x size), best of ``repeats``: 2 size^3 FLOPs."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    seconds = best_seconds(lambda: np.matmul(a, b, out=out), repeats)
    return 2 * size**3 / seconds / 1e9


def copy_gbytes_per_s(megabytes=256, repeats=5):
    """np.copyto between two large float32 arrays: bytes read + bytes written per second."""
    count = megabytes * 2**20 // 4
    source = np.ones(count, dtype=np.float32)
    target = np.zeros_like(source)
    seconds = best_seconds(lambda: np.copyto(target, source), repeats)
    return 2 * source.nbytes / seconds / 1e9


def measure(quick=False):
    """Both ceilings; small sizes when ``quick`` (a smoke test, not a measurement)."""
    if quick:
        return {"gemm_gflops": gemm_gflops(256, 2), "copy_gbytes_per_s": copy_gbytes_per_s(8, 2),
                "note": "quick: small sizes, not a measurement"}
    return {"gemm_gflops": gemm_gflops(), "copy_gbytes_per_s": copy_gbytes_per_s(),
            "gemm": "float32 2048x2048 @ 2048x2048 via np.matmul, best of 5",
            "copy": "np.copyto of 256 MiB float32, (read + write) bytes, best of 5"}
