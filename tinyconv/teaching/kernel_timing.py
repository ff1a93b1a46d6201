"""The readable NumPy kernels against the compiled ones, timed on the same layer: cs231n's naive-vs-fast cells.

``compare_kernels(layer_or_model, x)`` runs the forward pass (and the backward pass, from a fixed dL/dy) once
with each kernel set, ``"reference"`` (NumPy, written to be read beside the formula) and ``"cpu"`` (Cython +
OpenMP), switching with ``tinyconv.dispatch.use_kernels``.  It checks that both sets computed the same
outputs and gradients, then times each pass ``repeats`` times and prints a table: one row per pass
(forward, backward), the best time of each kernel set, and the first set's time over the second's (above 1:
the compiled loop is that many times faster), then the largest difference between what the two sets computed.

Times depend on the machine, the thread count and what else runs: the ratio is a picture of what compiling
and parallelising a loop buys, not a benchmark (``benchmarks/`` is the place for those).
"""
import time

import numpy as np

from .. import dispatch
from .table import format_table

DEFAULT_SETS = ("reference", "cpu")


def _flat(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _describe(target):
    return target.describe() if hasattr(target, "describe") else type(target).__name__


class KernelComparison:
    """What ``compare_kernels`` measured.

    Args:
        what: the layer or model, as text.
        input_shape: the batch's shape.
        kernel_sets: the kernel sets compared, in order.
        times: {pass: {kernel set: [seconds of each repeat]}}, pass "forward" or "backward".
        ran: {kernel set: the kernel set the dispatch reported while that set's passes ran}.
        differences: {"output" | "input gradient" | "weight gradients": largest |difference| between the sets}.
        agree: True when every difference is within float rounding of the values' size.

    Example:

    >>> comparison = tinyconv.teaching.KernelComparison(
    ...     "dense", (2, 3), ["reference", "cpu"],
    ...     {"forward": {"reference": [0.004, 0.003], "cpu": [0.001, 0.002]}},
    ...     {"reference": "reference", "cpu": "cpu"}, {"output": 0.0}, True)
    >>> comparison.best("forward", "cpu"), comparison.agree
    (0.001, True)
    """

    def __init__(self, what, input_shape, kernel_sets, times, ran, differences, agree):
        self.what, self.input_shape, self.kernel_sets = what, input_shape, kernel_sets
        self.times, self.ran, self.differences, self.agree = times, ran, differences, agree

    def best(self, pass_name, kernel_set):
        """The fastest of the repeats, in seconds.

        Args:
            pass_name: "forward" or "backward".
            kernel_set: one of ``kernel_sets``.
        """
        return min(self.times[pass_name][kernel_set])

    def median(self, pass_name, kernel_set):
        """The median of the repeats, in seconds.

        Args:
            pass_name: "forward" or "backward".
            kernel_set: one of ``kernel_sets``.
        """
        return float(np.median(self.times[pass_name][kernel_set]))

    def ratio(self, pass_name):
        """The first kernel set's best time over the second's (how many times faster the second is).

        Args:
            pass_name: "forward" or "backward".
        """
        first, second = self.kernel_sets
        return self.best(pass_name, first) / max(self.best(pass_name, second), 1e-12)

    def as_dict(self):
        """What was measured, as plain Python values (for JSON), with the ratio of each pass."""
        return {"what": self.what, "input_shape": self.input_shape, "kernel_sets": list(self.kernel_sets),
                "times": {p: {k: list(v) for k, v in sets.items()} for p, sets in self.times.items()},
                "ran": dict(self.ran), "differences": dict(self.differences), "agree": self.agree,
                "ratios": {p: self.ratio(p) for p in self.times}}

    def __str__(self):
        first, second = self.kernel_sets
        repeats = len(next(iter(self.times.values()))[first])
        rows = [[pass_name, _seconds(self.best(pass_name, first)), _seconds(self.best(pass_name, second)),
                 f"{self.ratio(pass_name):.3g}x"] for pass_name in self.times]
        table = format_table(["pass", first, second, f"{first} / {second}"], rows)
        checks = ", ".join(f"{name} {value:.2g}" for name, value in self.differences.items())
        verdict = "the same numbers" if self.agree else "DIFFERENT numbers"
        return (f"{self.what} on {tuple(self.input_shape)}, best of {repeats}\n{table}\n"
                f"{first} and {second} computed {verdict} (largest |difference|: {checks})")

    __repr__ = __str__


def _seconds(value):
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} us"


def _run_once(target, x, dy, backward):
    """One forward (and backward) pass: (outputs, input gradients, weight gradients, seconds per pass)."""
    started = time.perf_counter()
    outputs = target.forward(x, training=False)
    forward_time = time.perf_counter() - started
    if not backward:
        return _flat(outputs), None, None, {"forward": forward_time}
    started = time.perf_counter()
    input_grads = target.backward(dy if isinstance(outputs, list) else dy[0])
    backward_time = time.perf_counter() - started
    weight_grads = [np.array(g, copy=True) for g in target.trainable_gradients()]
    return _flat(outputs), _flat(input_grads), weight_grads, {"forward": forward_time, "backward": backward_time}


def _largest_difference(first, second):
    return max((float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0
                for a, b in zip(first, second)), default=0.0)


def _within_rounding(first, second, dtype):
    tolerance = 1e-4 if np.dtype(dtype) == np.float32 else 1e-9
    def size_of(a):
        return max(1.0, float(np.max(np.abs(a)))) if np.size(a) else 1.0

    return all(np.allclose(a, b, rtol=tolerance, atol=tolerance * size_of(a)) for a, b in zip(first, second))


def compare_kernels(layer_or_model, x, repeats=5, backward=True, kernel_sets=DEFAULT_SETS, print_fn=print):
    """Time a layer (or model) on the reference kernels and on the compiled ones, and check they agree.

    Each kernel set first runs one forward and backward pass whose results are compared between the sets
    (the output, dL/dx and every weight gradient, from the same fixed dL/dy), then ``repeats`` timed passes.
    The forward runs in inference mode (``training=False``), so dropout and batch statistics do not change
    the numbers between runs; weights are never updated.

    Args:
        layer_or_model: a layer or a model (built on ``x`` if it is not built yet).
        x: an input batch (a list of arrays for a model with several inputs).
        repeats: how many timed passes per kernel set (the best and the median are kept).
        backward: also time the backward pass.
        kernel_sets: the two kernel sets to compare, ("reference", "cpu") by default.
        print_fn: where the table goes (``print`` by default; None prints nothing).

    Returns:
        A ``KernelComparison``: ``print`` it, or read ``times``, ``ratio("forward")``, ``agree``.

    Raises:
        ValueError: if ``repeats`` is not a positive int or ``kernel_sets`` is not two known kernel sets.
        RuntimeError: if a kernel set cannot be loaded (the compiled kernels were never built).

    Example:

    >>> layer = layers.Conv2D(4, 3)
    >>> comparison = compare_kernels(layer, np.ones((2, 8, 8, 3), "float32"), repeats=2, print_fn=None)
    >>> comparison.agree, sorted(comparison.times), comparison.ran
    (True, ['backward', 'forward'], {'reference': 'reference', 'cpu': 'cpu'})
    """
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"compare_kernels: repeats must be a positive int, got {repeats!r}")
    kernel_sets = tuple(kernel_sets)
    if len(kernel_sets) != 2 or len(set(kernel_sets)) != 2 or not set(kernel_sets) <= set(dispatch.KERNEL_SETS):
        raise ValueError(f"compare_kernels: kernel_sets must be two different names among "
                         f"{sorted(dispatch.KERNEL_SETS)}, got {kernel_sets!r}")
    for name in kernel_sets:
        try:
            with dispatch.use_kernels(name):
                pass
        except ImportError as error:
            raise RuntimeError(f"compare_kernels: the {name!r} kernels cannot be loaded ({error}). "
                               f"{dispatch.missing_kernels_advice()}") from error
    dtype = getattr(layer_or_model, "dtype", None) or "float32"
    x = [np.asarray(a, dtype=dtype) for a in x] if isinstance(x, list) else np.asarray(x, dtype=dtype)
    if not layer_or_model.built:
        layer_or_model(x)
    with dispatch.use_kernels(kernel_sets[0]):
        reference_outputs = _flat(layer_or_model.forward(x, training=False))
    dy = [np.asarray(np.random.default_rng(0).standard_normal(np.shape(out)), dtype=out.dtype)
          for out in reference_outputs]

    results, times, ran = {}, {}, {}
    for name in kernel_sets:
        with dispatch.use_kernels(name):
            ran[name] = dispatch.active_kernels()
            results[name] = _run_once(layer_or_model, x, dy, backward)[:3]
            for _ in range(repeats):
                for pass_name, seconds in _run_once(layer_or_model, x, dy, backward)[3].items():
                    times.setdefault(pass_name, {}).setdefault(name, []).append(seconds)
    first, second = (results[name] for name in kernel_sets)
    differences = {"output": _largest_difference(first[0], second[0])}
    agree = _within_rounding(first[0], second[0], dtype)
    if backward:
        differences["input gradient"] = _largest_difference(first[1], second[1])
        differences["weight gradients"] = _largest_difference(first[2], second[2])
        agree = agree and _within_rounding(first[1], second[1], dtype) and _within_rounding(first[2], second[2], dtype)
    shape = [tuple(a.shape) for a in x] if isinstance(x, list) else tuple(x.shape)
    comparison = KernelComparison(_describe(layer_or_model), shape, kernel_sets, times, ran, differences, agree)
    if print_fn is not None:
        print_fn(str(comparison))
    return comparison


__all__ = ["KernelComparison", "compare_kernels"]
