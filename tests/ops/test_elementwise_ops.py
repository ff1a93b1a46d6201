"""tinyconv.ops elementwise ops: Keras 3's values, dtypes and signatures, and every backward checked.

Forward values and dtypes are compared with ``keras.ops`` (torch backend) where Keras is installed;
every backward is compared with central differences in float64 through the tape, and with PyTorch
autograd for the ops torch has.  A table lists every exported op with its gradient cases, or declares
it non-differentiable on purpose, so a new op cannot lack a backward unnoticed.

The helpers at the top are shared by the core, creation and reduction op tests.
"""
import doctest
import inspect
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ.setdefault("KERAS_BACKEND", "torch")

from tests.gradcheck import numerical_gradient, relative_error  # noqa: E402
from tinyconv import ops  # noqa: E402
from tinyconv.ops import elementwise  # noqa: E402
from tinyconv.ops.tape import Tape  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


# ================================================================ shared helpers
def keras_ops():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
    if keras.backend.backend() != "torch":  # pragma: no cover
        pytest.skip(f"expected KERAS_BACKEND=torch, got {keras.backend.backend()!r}")
    return keras.ops


def to_numpy(value, k):
    if isinstance(value, (list, tuple)):
        return [to_numpy(v, k) for v in value]
    return np.asarray(k.convert_to_numpy(value))


def to_keras(value, k):
    """NumPy arrays as Keras tensors (some of Keras's torch ops refuse NumPy arrays); the rest as is."""
    if isinstance(value, np.ndarray):
        return k.convert_to_tensor(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value)(to_keras(v, k) for v in value)
    return value


def assert_matches_keras(name, args, kwargs=None, rtol=1e-5, atol=1e-6, check_dtype=True):
    """ops.<name>(*args) equals keras.ops.<name>(*args) in values, shape and dtype."""
    k = keras_ops()
    kwargs = kwargs or {}
    ours = getattr(ops, name)(*args, **kwargs)
    theirs = getattr(k, name)(*[to_keras(a, k) for a in args], **kwargs)
    ours_list = list(ours) if isinstance(ours, (list, tuple)) else [ours]
    theirs_list = to_numpy(list(theirs) if isinstance(theirs, (list, tuple)) else [theirs], k)
    assert len(ours_list) == len(theirs_list), name
    for mine, keras_value in zip(ours_list, theirs_list):
        mine = np.asarray(mine)
        assert mine.shape == keras_value.shape, f"{name}: shape {mine.shape}, Keras {keras_value.shape}"
        if check_dtype:
            assert mine.dtype == keras_value.dtype, f"{name}{tuple(type(a).__name__ for a in args)}: dtype " \
                                                    f"{mine.dtype}, Keras {keras_value.dtype}"
        np.testing.assert_allclose(mine.astype(np.float64) if mine.dtype != bool else mine,
                                   keras_value.astype(np.float64) if keras_value.dtype != bool else keras_value,
                                   rtol=rtol, atol=atol, equal_nan=True, err_msg=name)


def tape_gradients(op, args, wrt, kwargs=None, seed=1):
    """Tape and central-difference gradients of L = sum(op(*args) * r) for the float64 arguments
    at positions ``wrt`` (an int, or (index, position) for an array inside a list argument)."""
    kwargs = kwargs or {}
    local = np.random.default_rng(seed)
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]

    def pick(arguments, where):
        return arguments[where] if isinstance(where, int) else arguments[where[0]][where[1]]

    with Tape() as tape:
        arguments = list(args)
        watched = []
        for where in wrt:
            taped = tape.watch(pick(args, where))
            if isinstance(where, int):
                arguments[where] = taped
            else:
                arguments[where[0]] = list(arguments[where[0]])
                arguments[where[0]][where[1]] = taped
            watched.append(taped)
        out = op(*arguments, **kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        r = [local.standard_normal(o.shape) for o in outs]
        differentiable = [o for o in outs if o.dtype.kind == "f"]
        seeds = [ri for o, ri in zip(outs, r) if o.dtype.kind == "f"]
        analytic = tape.gradient(differentiable, watched, output_gradient=seeds)

    def loss():
        value = op(*args, **kwargs)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        return float(sum(np.sum(np.asarray(v, dtype=np.float64) * ri) for v, ri in zip(values, r)
                         if np.asarray(v).dtype.kind == "f"))

    numeric = [numerical_gradient(loss, pick(args, where)) for where in wrt]
    return analytic, numeric


def assert_gradients(op, args, wrt=(0,), kwargs=None, tol=1e-6):
    analytic, numeric = tape_gradients(op, args, wrt, kwargs)
    for a, n, where in zip(analytic, numeric, wrt):
        assert a is not None, f"{op.name}: no gradient for argument {where}"
        assert a.shape == n.shape, f"{op.name}: gradient of shape {a.shape}, argument of shape {n.shape}"
        assert a.dtype == np.float64, f"{op.name}: gradient dtype {a.dtype}"
        assert relative_error(a, n) < tol, f"{op.name} argument {where}: relative error {relative_error(a, n)}"


def assert_signatures_match_keras(module):
    """Every exported op that Keras has takes the same parameter names, kinds and defaults."""
    k = keras_ops()
    checked = 0
    for name in module.__all__:
        theirs = getattr(k, name, None)
        if theirs is None or not callable(theirs):
            continue
        try:
            expected = inspect.signature(theirs)
        except (TypeError, ValueError):  # pragma: no cover
            continue
        actual = inspect.signature(getattr(module, name))
        assert [(p.name, p.kind, p.default) for p in actual.parameters.values()] == \
               [(p.name, p.kind, p.default) for p in expected.parameters.values()], \
               f"ops.{name}{actual} differs from keras.ops.{name}{expected}"
        checked += 1
    return checked


def assert_gradient_table_complete(module, gradient_cases, not_differentiable):
    """Every exported op has gradient cases or is declared non-differentiable (and then is: it has no
    differentiable argument, so it is never recorded)."""
    exported = set(module.__all__)
    missing = exported - set(gradient_cases) - set(not_differentiable)
    assert not missing, f"ops without a gradient test or a non-differentiable declaration: {sorted(missing)}"
    for name in gradient_cases:
        op = getattr(module, name)
        assert op.differentiable and op.backward is not None, f"ops.{name} is listed with gradients but has none"
    for name in not_differentiable:
        op = getattr(module, name)
        assert not getattr(op, "differentiable", ()), f"ops.{name} is declared non-differentiable but records"


def run_doctests(module):
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest lines failed in {module.__name__}"


def f64(*shape, seed=0, low=None, high=None):
    local = np.random.default_rng(seed)
    if low is not None:
        return local.uniform(low, high, shape)
    return local.standard_normal(shape)


# ================================================================ the table: every op and its gradient cases
A = f64(3, 4)
B = f64(4, seed=1)
POS = f64(3, 4, seed=2, low=0.5, high=2.0)
UNIT = f64(3, 4, seed=3, low=-0.9, high=0.9)
BIG = f64(3, 4, seed=4, low=1.2, high=3.0)
TIE_FREE = f64(3, 4, seed=5) + np.arange(12).reshape(3, 4) * 0.01  # no two elements equal

GRADIENT_CASES = {
    "add": [((A, B), (0, 1)), ((A, 2.5), (0,))],
    "subtract": [((A, B), (0, 1)), ((1.5, A), (1,))],
    "multiply": [((A, B), (0, 1)), ((A, A[:1]), (0, 1))],
    "divide": [((A, POS[0]), (0, 1))],
    "true_divide": [((A, POS), (0, 1))],
    "divide_no_nan": [((A, POS), (0, 1)), ((A, np.where(np.arange(4) % 2 == 0, 0.0, POS[0])), (0,))],
    "mod": [((BIG * 3, POS), (0, 1))],
    "fmod": [((A * 3, POS), (0, 1))],
    "power": [((POS, A), (0, 1)), ((A, 3.0), (0,))],
    "negative": [((A,), (0,))],
    "positive": [((A,), (0,))],
    "absolute": [((A,), (0,))],
    "abs": [((A,), (0,))],
    "fabs": [((A,), (0,))],
    "square": [((A,), (0,))],
    "sqrt": [((POS,), (0,))],
    "rsqrt": [((POS,), (0,))],
    "cbrt": [((A,), (0,))],
    "reciprocal": [((POS,), (0,))],
    "ldexp": [((A, np.array([1, -2, 0, 3])), (0,))],
    "exp": [((A,), (0,))],
    "exp2": [((A,), (0,))],
    "expm1": [((A,), (0,))],
    "log": [((POS,), (0,))],
    "log2": [((POS,), (0,))],
    "log10": [((POS,), (0,))],
    "log1p": [((POS,), (0,))],
    "logaddexp": [((A, B), (0, 1))],
    "logaddexp2": [((A, B), (0, 1))],
    "sin": [((A,), (0,))], "cos": [((A,), (0,))], "tan": [((UNIT,), (0,))],
    "arcsin": [((UNIT,), (0,))], "arccos": [((UNIT,), (0,))], "arctan": [((A,), (0,))],
    "arctan2": [((A, POS), (0, 1))],
    "sinh": [((A,), (0,))], "cosh": [((A,), (0,))], "tanh": [((A,), (0,))],
    "arcsinh": [((A,), (0,))], "arccosh": [((BIG,), (0,))], "arctanh": [((UNIT,), (0,))],
    "deg2rad": [((A,), (0,))], "rad2deg": [((A,), (0,))],
    "sinc": [((A,), (0,))],
    "hypot": [((A, B), (0, 1))],
    "erf": [((A,), (0,))], "erfc": [((A,), (0,))], "erfinv": [((UNIT,), (0,))], "i0": [((A,), (0,))],
    "maximum": [((TIE_FREE, B), (0, 1))],
    "minimum": [((TIE_FREE, B), (0, 1))],
    "fmax": [((TIE_FREE, B), (0, 1))],
    "fmin": [((TIE_FREE, B), (0, 1))],
    "clip": [((A, -0.5, 0.5), (0,)), ((A, B * 0 - 0.3, POS[0]), (0, 1, 2))],
    "nan_to_num": [((A,), (0,))],
    "real": [((A,), (0,))],
    "conj": [((A,), (0,))],
    "conjugate": [((A,), (0,))],
}
NOT_DIFFERENTIABLE = {
    # steps and rounding: gradient 0 almost everywhere
    "floor_divide", "sign", "signbit", "heaviside", "round", "floor", "ceil", "trunc", "angle", "imag",
    # booleans
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "isclose", "allclose", "isnan",
    "isinf", "isfinite", "isneginf", "isposinf", "isreal", "logical_and", "logical_or", "logical_xor",
    "logical_not", "nextafter",
    # integers
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert", "bitwise_left_shift",
    "bitwise_right_shift", "left_shift", "right_shift", "gcd", "lcm",
}


def test_every_op_has_a_gradient_test_or_is_declared_non_differentiable():
    assert_gradient_table_complete(elementwise, GRADIENT_CASES, NOT_DIFFERENTIABLE)


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_backward_matches_central_differences(name):
    for args, wrt in GRADIENT_CASES[name]:
        assert_gradients(getattr(ops, name), args, wrt)


def test_the_operator_table_ops_exist():
    for name in ["add", "subtract", "multiply", "divide", "floor_divide", "mod", "power", "less", "less_equal",
                 "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "negative", "positive",
                 "absolute", "logical_not"]:
        assert ops.REGISTRY[name] is getattr(elementwise, name)


def test_aliases_are_the_same_op():
    assert ops.abs is ops.absolute and ops.true_divide is ops.divide and ops.conjugate is ops.conj
    assert ops.bitwise_not is ops.bitwise_invert and ops.left_shift is ops.bitwise_left_shift


def test_signatures_match_keras():
    assert assert_signatures_match_keras(elementwise) > 80


def test_doctests_run():
    run_doctests(elementwise)


# ================================================================ forward values and dtypes against Keras
X32 = f64(3, 4, seed=7).astype(np.float32)
I32 = np.array([[1, -2, 3, 4], [0, 5, -6, 7], [8, 9, -1, 2]], dtype=np.int32)
UNARY_DOMAINS = {
    "log": np.abs, "log2": np.abs, "log10": np.abs, "log1p": np.abs, "sqrt": np.abs, "rsqrt": np.abs,
    "reciprocal": lambda v: np.abs(v) + 1, "arcsin": lambda v: np.tanh(v), "arccos": lambda v: np.tanh(v),
    "arctanh": lambda v: np.tanh(v) * 0.9, "erfinv": lambda v: np.tanh(v) * 0.9, "arccosh": lambda v: np.abs(v) + 1,
}
UNARY_FLOAT = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "cbrt", "reciprocal",
               "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
               "arctanh", "deg2rad", "rad2deg", "sinc", "erf", "erfc", "erfinv", "i0", "fabs", "floor", "ceil"]
UNARY_KEEP = ["negative", "absolute", "abs", "square", "sign", "round", "trunc", "nan_to_num", "real", "conj",
              "isnan", "isinf", "isfinite", "isneginf", "isposinf", "signbit", "logical_not", "angle"]


@pytest.mark.parametrize("name", UNARY_FLOAT + UNARY_KEEP)
def test_unary_ops_match_keras_for_float32_and_int32(name):
    domain = UNARY_DOMAINS.get(name, lambda v: v)
    assert_matches_keras(name, [domain(X32)], rtol=2e-5, atol=2e-6)
    ints = domain(I32).astype(np.int32) if name not in ("arcsin", "arccos", "arctanh", "erfinv") else I32 * 0
    assert_matches_keras(name, [ints], rtol=2e-5, atol=2e-6)


BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "divide_no_nan", "floor_divide", "mod", "fmod",
          "power", "maximum", "minimum", "fmax", "fmin", "arctan2", "logaddexp", "logaddexp2", "hypot", "heaviside",
          "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
          "logical_xor", "isclose", "allclose", "nextafter"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_match_keras_with_broadcasting_and_mixed_dtypes(name):
    left = np.abs(X32) + 0.5 if name in ("power", "mod", "fmod") else X32
    right = (np.abs(X32[0]) + 0.5) if name in ("divide", "true_divide", "floor_divide", "mod", "fmod", "power") \
        else X32[0]
    assert_matches_keras(name, [left, right[None, :]], rtol=2e-5, atol=1e-5)       # (3, 4) with (1, 4)
    ints = np.abs(I32) + 1
    assert_matches_keras(name, [ints, np.array([1, 2, 3, 2], dtype=np.int32)], rtol=2e-5, atol=1e-5)
    assert_matches_keras(name, [ints, 1.5] if name not in ("floor_divide",) else [left, 1.5], rtol=2e-5, atol=1e-5)


def test_bitwise_and_integer_ops_match_keras():
    a = np.array([12, 7, -3, 0], dtype=np.int32)
    b = np.array([10, 3, 2, 5], dtype=np.int32)
    for name in ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift",
                 "left_shift", "right_shift", "gcd", "lcm"]:
        assert_matches_keras(name, [a, np.abs(b) % 4 if "shift" in name else b])
    for name in ["bitwise_not", "bitwise_invert"]:
        assert_matches_keras(name, [a])


def test_clip_ldexp_and_nan_to_num_match_keras():
    assert_matches_keras("clip", [X32, -0.5, 0.5])
    assert_matches_keras("clip", [I32, 0, 4])
    assert_matches_keras("ldexp", [X32, np.array([1, -2, 0, 3], dtype=np.int32)])
    special = np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32)
    assert_matches_keras("nan_to_num", [special], {"nan": 1.0, "posinf": 5.0, "neginf": -5.0})
    assert_matches_keras("round", [np.array([1.234, 5.678, -2.5], dtype=np.float32)], {"decimals": 1})


@pytest.mark.parametrize("left, right, expected", [
    (np.int32, np.float32, np.float32), (np.int8, np.uint8, np.int16), (np.int64, np.float16, np.float16),
    (np.float16, np.float32, np.float32), (np.int32, np.uint32, np.int64), (bool, np.int8, np.int8),
])
def test_result_dtypes_follow_keras_not_numpy(left, right, expected):
    a, b = np.ones(2, dtype=left), np.ones(2, dtype=right)
    assert ops.add(a, b).dtype == expected


def test_python_numbers_never_widen_an_array():
    assert ops.add(np.ones(2, np.float16), 1.5).dtype == np.float16
    assert ops.multiply(np.ones(2, np.int8), 3).dtype == np.int8
    assert ops.add(np.ones(2, np.int32), 1.5).dtype == np.float32
    assert ops.add(np.array([True]), 1).dtype == np.int32
    assert ops.add([1.5, 2.5], 1).dtype == np.float32      # a list of floats is float32, as in Keras
    assert ops.divide(np.ones(2, np.int32), 2).dtype == np.float32


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=3), st.lists(st.booleans(), min_size=3, max_size=3),
       st.sampled_from(["add", "subtract", "multiply", "divide", "maximum", "arctan2", "hypot"]))
def test_broadcasting_gradients_sum_over_the_stretched_axes(shape, ones, name):
    """Any pair of broadcastable shapes: one operand with some axes of size 1 (or missing)."""
    big = np.asarray(np.random.default_rng(len(shape)).standard_normal(shape) + 3.0)
    small_shape = tuple(1 if flag else n for n, flag in zip(shape, ones))[len(shape) // 2:]
    small = np.asarray(np.random.default_rng(9).standard_normal(small_shape) + 5.0)
    assert_gradients(getattr(ops, name), (big, small), (0, 1))


# ================================================================ ties and edges
def test_maximum_and_minimum_split_a_tie_evenly_as_torch_does():
    torch = pytest.importorskip("torch")
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 0.0, 3.0])
    for name in ("maximum", "minimum"):
        with Tape() as tape:
            ta, tb = tape.watch(a), tape.watch(b)
            da, db = tape.gradient(ops.sum(getattr(ops, name)(ta, tb)), [ta, tb])
        x, y = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        getattr(torch, name)(x, y).sum().backward()
        np.testing.assert_allclose(da, x.grad.numpy())
        np.testing.assert_allclose(db, y.grad.numpy())
        assert da[0] == db[0] == 0.5


def test_abs_gradient_at_zero_is_zero_and_clip_sends_a_bound_hit_to_x():
    with Tape() as tape:
        x = tape.watch(np.array([0.0, -2.0, 1.0, 0.5]))
        dx, = tape.gradient(ops.sum(ops.abs(x)), [x])
    np.testing.assert_array_equal(dx, [0.0, -1.0, 1.0, 1.0])
    with Tape() as tape:
        x = tape.watch(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]))
        dx, = tape.gradient(ops.sum(ops.clip(x, 0.0, 1.0)), [x])
    np.testing.assert_array_equal(dx, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_integer_arguments_get_no_gradient_and_a_float_result_keeps_its_dtype():
    with Tape() as tape:
        x = tape.watch(np.array([1.0, 2.0], dtype=np.float32))
        n = tape.watch(np.array([3, 4], dtype=np.int32))
        y = ops.multiply(x, n)
        dx, dn = tape.gradient(ops.sum(y), [x, n])
    assert y.dtype == np.float32 and dx.dtype == np.float32 and dn is None
    np.testing.assert_array_equal(dx, [3.0, 4.0])


def test_non_differentiable_ops_return_bare_arrays_on_a_tape():
    with Tape() as tape:
        x = tape.watch(np.array([1.5, -2.5]))
        for value in (ops.floor(x), ops.sign(x), ops.greater(x, 0.0), x // 2.0, x == x):
            assert isinstance(value, (np.ndarray, bool)), type(value)
    assert tape.records == []


def test_power_gradient_follows_torch_at_zero_base_and_zero_exponent():
    torch = pytest.importorskip("torch")
    base = np.array([0.0, 2.0, 0.0, 3.0])
    exponent = np.array([2.0, 0.0, 0.0, 1.5])
    with Tape() as tape:
        tb, te = tape.watch(base), tape.watch(exponent)
        db, de = tape.gradient(ops.sum(ops.power(tb, te)), [tb, te])
    x, y = torch.tensor(base, requires_grad=True), torch.tensor(exponent, requires_grad=True)
    torch.pow(x, y).sum().backward()
    np.testing.assert_allclose(db, x.grad.numpy())
    np.testing.assert_allclose(de, y.grad.numpy())


TORCH_UNARY = {"exp": POS, "log": POS, "sqrt": POS, "rsqrt": POS, "sin": A, "tanh": A, "arcsin": UNIT,
               "arccosh": BIG, "erf": A, "erfinv": UNIT, "sinc": A, "expm1": A, "log1p": POS, "cbrt": POS,
               "i0": A, "reciprocal": POS, "square": A, "deg2rad": A, "arctanh": UNIT}
TORCH_NAMES = {"arcsin": "asin", "arccosh": "acosh", "arctanh": "atanh", "cbrt": None}


@pytest.mark.parametrize("name", sorted(TORCH_UNARY))
def test_unary_gradients_match_torch_autograd(name):
    torch = pytest.importorskip("torch")
    x = TORCH_UNARY[name]
    g = f64(*x.shape, seed=11)
    with Tape() as tape:
        tx = tape.watch(x)
        dx, = tape.gradient(getattr(ops, name)(tx), [tx], output_gradient=g)
    t = torch.tensor(x, requires_grad=True)
    torch_name = TORCH_NAMES.get(name, name)
    y = torch.pow(t, 1 / 3) if torch_name is None else getattr(torch, torch_name)(t)
    y.backward(torch.tensor(g))
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-7, atol=1e-10)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="ldexp.*integer"):
        ops.ldexp(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="bitwise_and.*integer"):
        ops.bitwise_and(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="ops.add"):
        ops.add(np.ones(2))
