"""compare_kernels: both kernel sets run, their results are compared, both times are reported (speed never asserted)."""
import doctest
import importlib

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import dispatch, layers
from tinyconv.teaching import kernel_timing
from tinyconv.teaching.kernel_timing import compare_kernels

pytestmark = pytest.mark.skipif(not dispatch.compiled_kernels_available(), reason="the compiled kernels are not built")


def counting(monkeypatch, kernel_set, name):
    """Count the calls of one kernel of one kernel set (the dispatch looks it up at each call)."""
    module = importlib.import_module(dispatch.KERNEL_SETS[kernel_set])
    original, calls = getattr(module, name), []

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_both_kernel_sets_run_and_agree(monkeypatch):
    layer, x = layers.Conv2D(4, 3, padding="same"), np.random.default_rng(0).random((3, 9, 7, 2))
    layer(x)  # built before the counting starts
    reference_calls = counting(monkeypatch, "reference", "conv2d_forward")
    cpu_calls = counting(monkeypatch, "cpu", "conv2d_forward")
    reference_backward = counting(monkeypatch, "reference", "conv2d_backward")
    cpu_backward = counting(monkeypatch, "cpu", "conv2d_backward")
    before = dispatch.active_kernels()
    lines = []
    comparison = compare_kernels(layer, x, repeats=3, print_fn=lines.append)
    assert dispatch.active_kernels() == before  # the kernel set in use is restored
    # one checked pass + 3 timed passes with each set (+ the first forward that fixes dL/dy's shape)
    assert len(reference_calls) == 1 + 1 + 3 and len(cpu_calls) == 1 + 3
    assert len(reference_backward) == len(cpu_backward) == 1 + 3
    assert comparison.ran == {"reference": "reference", "cpu": "cpu"}
    assert sorted(comparison.times) == ["backward", "forward"]
    for per_set in comparison.times.values():
        assert sorted(per_set) == ["cpu", "reference"]
        assert all(len(seconds) == 3 and all(s > 0 for s in seconds) for seconds in per_set.values())
    assert comparison.agree and set(comparison.differences) == {"output", "input gradient", "weight gradients"}
    assert comparison.ratio("forward") == pytest.approx(comparison.best("forward", "reference")
                                                         / comparison.best("forward", "cpu"))
    assert comparison.median("backward", "cpu") >= comparison.best("backward", "cpu")
    assert len(lines) == 1 and lines[0] == str(comparison)
    assert "reference / cpu" in lines[0] and "forward" in lines[0] and "the same numbers" in lines[0]


def test_a_model_forward_only():
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, activation="relu"),
                              layers.BatchNormalization(), layers.MaxPooling2D(2), layers.Dropout(0.5),
                              layers.Flatten(), layers.Dense(5, activation="softmax")])
    before = model.get_weights()
    comparison = compare_kernels(model, np.random.default_rng(1).random((4, 8, 8, 3)), repeats=2, backward=False,
                                 print_fn=None)
    assert list(comparison.times) == ["forward"] and list(comparison.differences) == ["output"]
    assert comparison.agree  # inference mode: dropout off, the batch statistics untouched
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert comparison.as_dict()["input_shape"] == (4, 8, 8, 3)


def test_different_results_are_reported(monkeypatch):
    module = importlib.import_module(dispatch.KERNEL_SETS["reference"])
    original = module.max_pool2d_forward

    def off_by_one_percent(*args, **kwargs):
        y, argmax = original(*args, **kwargs)
        return y * 1.01, argmax

    monkeypatch.setattr(module, "max_pool2d_forward", off_by_one_percent)
    comparison = compare_kernels(layers.MaxPooling2D(2), np.random.default_rng(2).random((2, 6, 6, 3)) + 1.0,
                                 repeats=1, print_fn=None)
    assert not comparison.agree
    assert comparison.differences["output"] > 0.005
    assert "DIFFERENT numbers" in str(comparison)


@pytest.mark.parametrize("kwargs, message", [
    ({"repeats": 0}, "repeats must be a positive int, got 0"),
    ({"kernel_sets": ("reference",)}, "kernel_sets must be two different names"),
    ({"kernel_sets": ("cpu", "cpu")}, "kernel_sets must be two different names"),
    ({"kernel_sets": ("reference", "fortran")}, "kernel_sets must be two different names"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=f"compare_kernels: {message}"):
        compare_kernels(layers.Dense(2), np.ones((2, 3)), print_fn=None, **kwargs)


def test_docstring_examples_run():
    result = doctest.testmod(kernel_timing, extraglobs={"np": np, "tinyconv": keras, "layers": layers},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0
