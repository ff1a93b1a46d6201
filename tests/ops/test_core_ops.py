"""tinyconv.ops core ops: conversion, casting, stop_gradient, queries, control flow and custom_gradient,
against Keras 3 (values, dtypes, signatures) and through the tape."""
import numpy as np
import pytest

from tests.ops.test_elementwise_ops import (assert_gradient_table_complete, assert_gradients, assert_matches_keras,
                                            assert_signatures_match_keras, f64, keras_ops, run_doctests)
from tinyconv import ops
from tinyconv.ops import core
from tinyconv.ops.tape import Tape, TapedTensor

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

A = f64(3, 4)
GRADIENT_CASES = {
    "convert_to_tensor": [((A,), (0,))],
    "cast": [((A, "float64"), (0,))],
    "saturate_cast": [((A * 1e3, "float64"), (0,))],
    "copy": [((A,), (0,))],
}
NOT_DIFFERENTIABLE = {"convert_to_numpy", "view", "stop_gradient", "unravel_index"}
# Plain functions, not ops: queries read a description, control flow and custom_gradient call the user's code
# (whose ops are recorded one by one; tested below).
NOT_OPS = {"custom_gradient", "shape", "ndim", "size", "dtype", "is_tensor", "cond", "switch", "fori_loop",
           "while_loop", "scan", "associative_scan", "map", "vectorized_map", "vectorize"}


def test_every_op_has_a_gradient_test_or_is_declared_non_differentiable():
    class Ops:  # the table check, over the exported ops only
        __all__ = [name for name in core.__all__ if name not in NOT_OPS]
    for name in Ops.__all__:
        setattr(Ops, name, getattr(core, name))
    assert_gradient_table_complete(Ops, GRADIENT_CASES, NOT_DIFFERENTIABLE)
    assert set(core.__all__) == set(Ops.__all__) | NOT_OPS


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_backward_matches_central_differences(name):
    for args, wrt in GRADIENT_CASES[name]:
        assert_gradients(getattr(ops, name), list(args), wrt)


def test_signatures_match_keras():
    assert assert_signatures_match_keras(core) >= 20


def test_doctests_run():
    run_doctests(core)


# ================================================================ conversion and casting against Keras
@pytest.mark.parametrize("value", [[1, 2], 1.5, 3, True, [1, 2.5], np.arange(3), np.ones(2, np.float16)])
def test_convert_to_tensor_gives_kerass_dtypes(value):
    assert_matches_keras("convert_to_tensor", [value])
    assert_matches_keras("convert_to_tensor", [value], {"dtype": "float32"})


def test_cast_and_saturate_cast_match_keras():
    x = np.array([1.7, -1.7, 300.0, -5.0, 2.5e9], dtype=np.float32)
    for dtype in ("int32", "float16", "bool", "float64"):
        assert_matches_keras("cast", [x[:4]], {"dtype": dtype})
    for dtype in ("uint8", "int8", "int32", "float16"):
        assert_matches_keras("saturate_cast", [x if dtype != "int32" else x[:4]], {"dtype": dtype})
    # float32(2**31 - 1) rounds up to 2**31, so clipping there and casting wraps to -2**31 (Keras's torch
    # backend does); tinyconv clips to the float just below and stays at the top of the range.
    assert ops.saturate_cast(x, "int32")[4] == 2147483520
    assert_matches_keras("saturate_cast", [np.array([70000, -3], dtype=np.int32)], {"dtype": "int16"})
    assert_matches_keras("convert_to_numpy", [x])
    assert_matches_keras("copy", [x])


def test_cast_gradient_is_cast_back_and_none_through_integers():
    with Tape() as tape:
        x = tape.watch(np.array([1.5, 2.5], dtype=np.float32))
        y = ops.cast(x, "float64")
        n = ops.cast(x, "int32")
        dx, = tape.gradient(ops.sum(y * y), [x])
    assert y.dtype == np.float64 and dx.dtype == np.float32
    np.testing.assert_allclose(dx, [3.0, 5.0])
    assert isinstance(n, TapedTensor) and tape.gradient(ops.sum(ops.cast(n, "float32")), [x]) == [None]


def test_saturate_cast_passes_gradient_only_inside_the_range():
    with Tape() as tape:
        x = tape.watch(np.array([1.0, 1e6, -1e6]))
        dx, = tape.gradient(ops.sum(ops.saturate_cast(x, "float16")), [x])
    np.testing.assert_array_equal(dx, [1.0, 0.0, 0.0])


def test_stop_gradient_is_never_recorded():
    with Tape() as tape:
        x = tape.watch(np.array([2.0, 3.0]))
        y = ops.stop_gradient(x)
        assert isinstance(y, np.ndarray)
        dx, = tape.gradient(ops.sum(x * y), [x])
    np.testing.assert_array_equal(dx, [2.0, 3.0])  # d(x * c)/dx = c: the stopped copy is a constant


def test_queries_match_keras():
    k = keras_ops()
    x = np.zeros((2, 3), np.float32)
    assert ops.shape(x) == tuple(k.shape(x)) == (2, 3)
    assert ops.ndim(x) == k.ndim(x) == 2
    assert int(ops.size(x)) == int(k.size(x)) == 6 and ops.size(x).dtype == np.int32
    assert ops.dtype(x) == k.dtype(k.convert_to_tensor(x)) == "float32"
    assert ops.dtype([1, 2]) == "int32"
    assert ops.is_tensor(x) and not ops.is_tensor([1.0])
    with Tape() as tape:
        t = tape.watch(x)
        assert ops.shape(t) == (2, 3) and ops.is_tensor(t) and ops.dtype(t) == "float32"
    from tinyconv import layers
    symbolic = layers.Input(shape=(5,))
    assert ops.shape(symbolic) == (None, 5) and ops.ndim(symbolic) == 2
    with pytest.raises(ValueError, match="ops.size"):
        ops.size(symbolic)


def test_unravel_index_and_view_match_keras():
    assert_matches_keras("unravel_index", [np.array([5, 1, 7], dtype=np.int32), (3, 4)], check_dtype=False)
    assert ops.unravel_index(np.array([5]), (2, 3))[0].dtype == np.int32
    np.testing.assert_array_equal(ops.view(np.array([1.0], np.float32), "int32"), [1065353216])


def test_sparse_and_ragged_are_refused_clearly():
    with pytest.raises(ValueError, match="sparse=True is not supported"):
        ops.convert_to_tensor([1.0], sparse=True)
    with pytest.raises(ValueError, match="ragged=True is not supported"):
        ops.convert_to_tensor([1.0], ragged=True)


# ================================================================ control flow: eager, recorded op by op
def test_control_flow_matches_keras():
    k = keras_ops()
    assert ops.cond(True, lambda: 1, lambda: 2) == k.cond(True, lambda: 1, lambda: 2)
    assert ops.switch(-3, [lambda x: x + 1, lambda x: x * 10], 3) == 4
    assert ops.fori_loop(0, 5, lambda i, v: v + i, 0) == 10
    assert ops.while_loop(lambda i: i < 5, lambda i: i + 2, 0) == 6
    assert ops.while_loop(lambda i: i < 5, lambda i: i + 2, 0) == int(k.while_loop(lambda i: i < 5, lambda i: i + 2, 0))
    assert ops.while_loop(lambda i, x: i < 10, lambda i, x: (i + 1, x * 2), [0, 1], maximum_iterations=3) == [3, 8]
    xs = np.arange(1.0, 6.0)
    carry, ys = ops.scan(lambda c, x: (c + x, c * x), np.array(0.0), xs)
    k_carry, k_ys = k.scan(lambda c, x: (c + x, c * x), k.convert_to_tensor(np.array(0.0)), k.convert_to_tensor(xs))
    np.testing.assert_allclose(carry, k.convert_to_numpy(k_carry))
    np.testing.assert_allclose(ys, k.convert_to_numpy(k_ys))
    carry, ys = ops.scan(lambda c, x: (c + x, c), np.array(0.0), xs, reverse=True)
    k_carry, k_ys = k.scan(lambda c, x: (c + x, c), k.convert_to_tensor(np.array(0.0)), k.convert_to_tensor(xs),
                           reverse=True)
    np.testing.assert_allclose(ys, k.convert_to_numpy(k_ys))
    carry, ys = ops.scan(lambda c, _: (c * 2, None), np.array(1.0), None, length=4)
    assert float(carry) == 16.0 and ys is None
    m = f64(4, 3)
    np.testing.assert_allclose(ops.associative_scan(ops.add, m, axis=1), np.cumsum(m, axis=1))
    np.testing.assert_allclose(ops.associative_scan(ops.maximum, m, reverse=True),
                               k.convert_to_numpy(k.associative_scan(k.maximum, k.convert_to_tensor(m),
                                                                     reverse=True)))
    np.testing.assert_allclose(ops.map(lambda row: (row * 2, row.sum()), m)[1], m.sum(axis=1))
    np.testing.assert_allclose(ops.vectorized_map(lambda row: row[::-1], m), m[:, ::-1])
    np.testing.assert_allclose(ops.vectorize(lambda a, b: a * b)(m, 2.0), m * 2)


def test_gradients_flow_through_the_path_taken():
    w = f64(3)
    xs = f64(4, 3, seed=1)

    def step(carry, x):
        h = ops.tanh(carry * w + x)
        return h, ops.sum(h)

    def loss(weights_array):
        nonlocal w
        saved, w = w, weights_array
        try:
            _, ys = ops.scan(step, np.zeros(3), xs)
            return ops.sum(ys * ys)
        finally:
            w = saved

    with Tape() as tape:
        tw = tape.watch(w)
        dw, = tape.gradient(loss(tw), [tw])
    from tests.gradcheck import numerical_gradient, relative_error
    numeric = numerical_gradient(lambda: float(loss(w)), w)
    assert relative_error(dw, numeric) < 1e-6
    with Tape() as tape:
        x = tape.watch(np.array([2.0]))
        y = ops.cond(ops.greater(x, 1.0), lambda: x * x, lambda: x)
        assert tape.gradient(y, [x])[0][0] == 4.0
        z = ops.fori_loop(0, 3, lambda i, v: v * x, np.array([1.0]))
        assert tape.gradient(z, [x])[0][0] == pytest.approx(12.0)


def test_control_flow_refuses_symbolic_tensors():
    from tinyconv import layers
    with pytest.raises(TypeError, match="ops.cond .*symbolic"):
        ops.cond(layers.Input(shape=(2,)), lambda: 1, lambda: 2)


# ================================================================ custom_gradient
def test_custom_gradient_replaces_the_backward_and_matches_keras_example():
    @ops.custom_gradient
    def log1pexp(x):
        e = ops.exp(x)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1, e))
        return ops.log(1 + e), grad

    x0 = np.array([0.5, 100.0, -3.0])
    with Tape() as tape:
        x = tape.watch(x0)
        y = log1pexp(x)
        dx, = tape.gradient(ops.sum(y), [x])
    assert len(tape.records) == 2  # one record for the whole function, one for the sum
    np.testing.assert_allclose(dx, 1 / (1 + np.exp(-x0)))
    np.testing.assert_allclose(log1pexp(x0), np.log1p(np.exp(x0)))  # off the tape: a plain function


def test_custom_gradient_with_two_arguments_and_bad_returns():
    @ops.custom_gradient
    def scaled(a, b):
        return a * b, lambda g: (g * 10, None)

    with Tape() as tape:
        a, b = tape.watch(np.array([1.0])), tape.watch(np.array([2.0]))
        da, db = tape.gradient(ops.sum(scaled(a, b)), [a, b])
    assert da[0] == 10.0 and db is None

    @ops.custom_gradient
    def wrong(a):
        return a

    with pytest.raises(TypeError, match="must return \\(y, grad_fn\\)"):
        wrong(np.ones(1))
