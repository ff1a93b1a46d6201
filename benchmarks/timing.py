"""Timing two callables side by side: warm-up, then interleaved samples, then medians.

Each sample times ``inner`` back-to-back calls and divides, so that a call of a few
microseconds is not swamped by the timer.  The two frameworks take turns sample by sample,
so a burst of load from elsewhere on a shared machine hits both rather than one.
"""
import math
import statistics
import time


def time_calls(fn, count):
    """Seconds per call of ``fn`` over ``count`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count


def calls_per_sample(fn, min_sample_s):
    """How many calls of ``fn`` make one sample last at least ``min_sample_s``."""
    one_call = time_calls(fn, 1)
    if one_call <= 0 or min_sample_s <= 0:
        return 1
    return max(1, math.ceil(min_sample_s / one_call))


def compare(fn_a, fn_b, repeats, warmup=2, min_sample_s=0.05):
    """Time ``fn_a`` and ``fn_b`` alternately; returns two lists of seconds per call."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    inner_a = calls_per_sample(fn_a, min_sample_s)
    inner_b = calls_per_sample(fn_b, min_sample_s)
    samples_a, samples_b = [], []
    for _ in range(repeats):
        samples_a.append(time_calls(fn_a, inner_a))
        samples_b.append(time_calls(fn_b, inner_b))
    return samples_a, samples_b


def median(samples):
    return statistics.median(samples)
