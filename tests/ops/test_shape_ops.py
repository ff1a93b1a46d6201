"""tinyconv.ops shape ops: Keras 3's values, dtypes and signatures, and every backward checked.

Forward values and dtypes are compared with ``keras.ops`` (torch backend) where Keras is installed;
every backward is compared with central differences in float64 through the tape, and a few with
PyTorch autograd.  A table lists every exported op with how its gradient is tested, so a new op
cannot lack a backward unnoticed.
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
from tinyconv.ops import shaping as shape  # noqa: E402
from tinyconv.ops.tape import Tape  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 4)).astype(np.float32)
COND = X > 0


def keras_ops():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
    if keras.backend.backend() != "torch":  # pragma: no cover
        pytest.skip(f"expected KERAS_BACKEND=torch, got {keras.backend.backend()!r}")
    return keras.ops


def as_numpy(value, k):
    if isinstance(value, (list, tuple)):
        return [as_numpy(v, k) for v in value]
    return np.asarray(k.convert_to_numpy(value))


def as_tensor(value, k):
    """NumPy arrays as Keras tensors (some of Keras's torch ops refuse NumPy arrays); the rest as is."""
    if isinstance(value, np.ndarray):
        return k.convert_to_tensor(value)
    if isinstance(value, list):
        return [as_tensor(v, k) for v in value]
    return value


# ---------------------------------------------------------------- gradient checking through the tape
def tape_gradients(op, args, wrt, kwargs=None, seed=1):
    """Analytic (tape) and numerical gradients of L = sum(op(*args) * r) for the float64 arrays of
    ``args`` named by ``wrt`` (an index, or (index, position) for an array inside a list argument)."""
    kwargs = kwargs or {}
    local = np.random.default_rng(seed)

    def pick(arguments, where):
        return arguments[where] if isinstance(where, int) else arguments[where[0]][where[1]]

    def put(arguments, where, value):
        if isinstance(where, int):
            arguments[where] = value
        else:
            arguments[where[0]] = list(arguments[where[0]])
            arguments[where[0]][where[1]] = value

    with Tape() as tape:
        arguments = list(args)
        watched = []
        for where in wrt:
            taped = tape.watch(pick(args, where))
            put(arguments, where, taped)
            watched.append(taped)
        out = op(*arguments, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        r = [local.standard_normal(o.shape) for o in outs]
        analytic = tape.gradient(list(outs), watched, output_gradient=r)

    def loss():
        value = op(*args, **kwargs)
        values = value if isinstance(value, (list, tuple)) else [value]
        return float(sum(np.sum(np.asarray(v) * ri) for v, ri in zip(values, r)))

    numeric = [numerical_gradient(loss, pick(args, where)) for where in wrt]
    return analytic, numeric


def assert_gradients(op, args, wrt=(0,), kwargs=None, tol=1e-6):
    analytic, numeric = tape_gradients(op, args, wrt, kwargs)
    for a, n, where in zip(analytic, numeric, wrt):
        assert a is not None, f"{op.name}: no gradient for argument {where}"
        assert a.shape == n.shape, f"{op.name}: gradient of shape {a.shape}, argument of shape {n.shape}"
        assert a.dtype == np.float64
        assert relative_error(a, n) < tol, f"{op.name} argument {where}: {relative_error(a, n)}"


def f64(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------- the table: every op and its gradient test
A = f64(2, 3, 4)
M = f64(3, 4, seed=2)
GRADIENT_CASES = {
    "get_item": [((A, (0, slice(1, 3))), (0,)), ((A, (Ellipsis, None, 1)), (0,)),
                 ((A, (np.array([1, 1, 0]), slice(None, None, -2))), (0,)), ((A, A[..., 0] > 0), (0,)),
                 ((A, [1, 1]), (0,))],
    "slice": [((A, (1, 0, 1), (1, 2, 3)), (0,))],
    "slice_update": [((A, (0, 1, 2), f64(2, 1, 2)), (0, 2))],
    "take": [((A, np.array([[0, 2], [2, -1]]), 1), (0,)), ((A, [3, 3, 0], None), (0,)), ((A, [1, 0, 1], 0), (0,))],
    "take_along_axis": [((A, np.argsort(A, axis=2)[..., :2], 2), (0,)), ((M[:, :1], np.array([[0, 0, 0]] * 3), 1), (0,)),
                        ((A.reshape(-1)[:5], np.array([4, 0, 4]), None), (0,))],
    "scatter": [((np.array([[0, 1], [2, 3], [0, 1]]), f64(3), (3, 4)), (1,)),
                ((np.array([[0], [2]]), f64(2, 4), (3, 4)), (1,))],
    "scatter_update": [((M, np.array([[0, 1], [2, 3]]), f64(2, seed=5)), (0, 2)),
                       ((M, np.array([[0], [0], [2]]), f64(3, 4, seed=5), "add"), (0, 2)),
                       ((M, np.array([[0, 1], [0, 1], [1, 2]]), f64(3, seed=6), "max"), (0, 2)),
                       ((M, np.array([[0, 1], [0, 1], [1, 2]]), f64(3, seed=6), "min"), (0, 2)),
                       ((M, np.array([[0, 1], [0, 1], [1, 2]]), np.array([2.0, 0.0, -1.5]), "mul"), (0, 2))],
    "reshape": [((A, (4, -1)), (0,))],
    "ravel": [((A,), (0,))],
    "expand_dims": [((A, (0, -1)), (0,))],
    "squeeze": [((f64(1, 3, 1), None), (0,)), ((f64(1, 3, 1), -1), (0,))],
    "transpose": [((A, None), (0,)), ((A, (1, 2, 0)), (0,)), ((A, (-1, 0, 1)), (0,))],
    "moveaxis": [((A, (0, 1), (2, 0)), (0,))],
    "swapaxes": [((A, 0, -1), (0,))],
    "broadcast_to": [((f64(3, 1), (2, 3, 4)), (0,))],
    "concatenate": [(([A, f64(2, 1, 4)], 1), ((0, 0), (0, 1))), (([M, f64(2)], None), ((0, 0), (0, 1)))],
    "append": [((M, f64(1, 4), 0), (0, 1)), ((M, f64(2), None), (0, 1))],
    "stack": [(([M, f64(3, 4, seed=3)], -1), ((0, 0), (0, 1)))],
    "hstack": [(([M, f64(3, 2)],), ((0, 0), (0, 1))), (([f64(2), f64(3)],), ((0, 0), (0, 1)))],
    "vstack": [(([f64(4), M],), ((0, 0), (0, 1)))],
    "dstack": [(([M, f64(3, 4, 2)],), ((0, 0), (0, 1)))],
    "split": [((A, 2, 2), (0,)), ((A, [1], 1), (0,))],
    "array_split": [((A, 3, 2), (0,))],
    "hsplit": [((A, [2]), (0,))],
    "vsplit": [((A, 2), (0,))],
    "dsplit": [((A, [1, 3]), (0,))],
    "unstack": [((A, None, 1), (0,))],
    "tile": [((M, (2, 1, 2)), (0,)), ((M, 2), (0,))],
    "repeat": [((M, 2, None), (0,)), ((M, [1, 0, 3], 0), (0,))],
    "flip": [((A, None), (0,)), ((A, (0, 2)), (0,))],
    "fliplr": [((M,), (0,))],
    "flipud": [((M,), (0,))],
    "roll": [((A, 2, None), (0,)), ((A, (1, -1), (0, 2)), (0,))],
    "rot90": [((A, 1, (0, 1)), (0,)), ((A, 3, (1, 2)), (0,))],
    "pad": [((M, ((1, 0), (2, 1)), "constant", 2.0), (0,)), ((M, 2, "reflect"), (0,)), ((M, (1, 3), "symmetric"), (0,)),
            ((M, 3, "edge"), (0,)), ((M, ((0, 5), (1, 1)), "wrap"), (0,))],
    "where": [((M > 0, M, f64(4, seed=4)), (1, 2)), ((M > 0, f64(3, 1, seed=4), M), (1, 2))],
    "select": [(([M > 0.5, M < -0.5], [M, f64(4, seed=3)], f64(3, 1, seed=4)), ((1, 0), (1, 1), 2))],
    "segment_sum": [((A, np.array([1, 0]), 3), (0,)), ((M, np.array([[0, 1, 1, 5]] * 3), 2), (0,))],
    # (no empty segments here: their -inf / inf would make the loss itself infinite)
    "segment_max": [((A, np.array([0, 0]), 1), (0,)), ((M, np.array([1, 0, 1]), None), (0,))],
    "segment_min": [((A, np.array([0, 0]), None), (0,)), ((M, np.array([1, 0, 1, 0]).reshape(1, 4).repeat(3, 0), 2), (0,))],
    "segment_prod": [((M, np.array([0, 1, 0]), None), (0,)),
                     ((np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 4.0]]), np.array([0, 0, 0]), None), (0,))],
}


def test_every_exported_op_has_a_checked_backward():
    # Every shape op moves elements of its inputs, so every one is differentiable.
    assert set(GRADIENT_CASES) == set(shape.__all__)
    for name in shape.__all__:
        op = getattr(ops, name)
        assert op.differentiable and op.backward is not None, f"ops.{name} lacks a backward"


@pytest.mark.parametrize("name,index", [(n, i) for n, cases in GRADIENT_CASES.items() for i in range(len(cases))])
def test_backward_matches_central_differences(name, index):
    args, wrt = GRADIENT_CASES[name][index]
    assert_gradients(getattr(ops, name), [a.copy() if isinstance(a, np.ndarray) else a for a in args], wrt)


@settings(max_examples=30, deadline=None)
@given(shape_=st.lists(st.integers(1, 3), min_size=1, max_size=3), data=st.data())
def test_basic_indexing_backward_on_random_keys(shape_, data):
    # Random keys of ints, slices (any step), None and Ellipsis: the gradient puts g where x[key] read.
    x = f64(*shape_)
    key = []
    for size in shape_:
        if data.draw(st.booleans()):
            key.append(data.draw(st.integers(-size, size - 1)))
        else:
            key.append(slice(data.draw(st.none() | st.integers(-size, size)), data.draw(st.none() | st.integers(-size, size)),
                             data.draw(st.sampled_from([None, 1, 2, -1, -2]))))
    key.insert(data.draw(st.integers(0, len(key))), data.draw(st.sampled_from([None, Ellipsis])))
    key = tuple(key)
    np.testing.assert_array_equal(ops.get_item(x, key), x[key])
    if x[key].size:
        assert_gradients(ops.get_item, [x, key], (0,))


# ---------------------------------------------------------------- Keras's names, signatures and values
def test_signatures_match_keras():
    k = keras_ops()
    for name in shape.__all__:
        ours = inspect.signature(getattr(ops, name))
        theirs = inspect.signature(getattr(k, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == \
            [(p.name, p.default) for p in theirs.parameters.values()], name


XI = rng.integers(-3, 4, (2, 3, 4)).astype(np.int32)
FORWARD_CASES = [
    ("get_item", (X, (0, slice(1, 3)))), ("get_item", (X, (Ellipsis, None, 1))), ("get_item", (X, (1, 2, 3))),
    ("get_item", (X, np.array([1, 0, 1]))), ("get_item", (X, COND)), ("get_item", (XI, (slice(None), -1))),
    ("slice", (X, (1, 0, 1), (1, 2, 3))), ("slice_update", (X, (0, 1, 2), np.ones((2, 1, 2), np.float32))),
    ("take", (X, [0, 2, 2], 1)), ("take", (X, np.array([[1, 23]]), None)), ("take", (XI, [3, 0], 2)),
    ("take_along_axis", (X, np.argsort(X, axis=2)[..., :2], 2)),
    ("scatter", (np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0], np.float32), (3, 4))),
    ("scatter_update", (np.zeros((3, 4), np.float32), np.array([[0], [2]]), np.ones((2, 4), np.float32))),
    ("scatter_update", (np.zeros(4, np.float32), np.array([[0], [0], [1]]), np.ones(3, np.float32), "add")),
    ("scatter_update", (np.ones(4, np.float32), np.array([[0], [0], [1]]), np.array([3, -2, 5], np.float32), "max")),
    ("scatter_update", (np.ones(4, np.float32), np.array([[0], [0], [1]]), np.array([3, -2, 5], np.float32), "min")),
    ("scatter_update", (np.ones(4, np.float32), np.array([[0], [0], [1]]), np.array([3, -2, 5], np.float32), "mul")),
    ("reshape", (X, (4, -1))), ("reshape", ([1, 2, 3, 4], (2, 2))), ("ravel", (X,)), ("expand_dims", (X, 1)),
    ("expand_dims", (X, (0, -1))), ("squeeze", (X[:1, :, :1],)), ("squeeze", (X[:1, :, :1], 0)),
    ("transpose", (X,)), ("transpose", (X, (1, 2, 0))), ("transpose", ([[1.5, 2.0]],)), ("moveaxis", (X, 0, -1)),
    ("moveaxis", (X, (0, 1), (2, 0))), ("swapaxes", (X, 0, 2)), ("broadcast_to", (X[:, :1], (5, 2, 3, 4))),
    ("concatenate", ([X, X], 1)), ("concatenate", ([XI, X],)), ("append", (X, X, 2)), ("append", (X, XI)),
    ("stack", ([X, X], -1)), ("stack", ([XI[0], XI[1].astype(np.int8)],)), ("hstack", ([X, X],)),
    ("hstack", ([X[0, 0], X[1, 1]],)), ("vstack", ([X[0, 0], X[0]],)), ("dstack", ([X[0], X[1]],)),
    ("split", (X, 2, 2)), ("split", (X, [1], 1)), ("array_split", (X, 3, 2)), ("hsplit", (X, 3)),
    ("vsplit", (X, 2)), ("dsplit", (X, [1, 3])), ("unstack", (X, None, 1)), ("unstack", (X, 4, -1)),
    ("tile", (X, (2, 1, 1))), ("tile", (X, 2)), ("tile", (XI, (2, 1, 1, 1))), ("repeat", (X, 2)),
    ("repeat", (X, 2, 1)), ("repeat", (X, np.array([1, 0, 2]), 1)), ("flip", (X,)), ("flip", (X, 1)), ("flip", (X, (0, 2))),
    ("fliplr", (X,)), ("flipud", (X,)), ("roll", (X, 2)), ("roll", (X, -1, 1)), ("roll", (X, (1, 2), (0, 2))),
    ("rot90", (X,)), ("rot90", (X, 3, (1, 2))), ("rot90", (X, -1)),
    ("pad", (X, ((0, 1), (2, 0), (1, 1)))), ("pad", (X, ((0, 1), (2, 0), (1, 1)), "constant", 1.5)),
    ("pad", (XI, ((1, 1), (1, 1), (1, 1)))), ("pad", (X, ((0, 0), (2, 2), (3, 3)), "reflect")),
    ("where", (COND, X, 0.0)), ("where", (COND, XI, 0.5)), ("where", (COND, X, X[0, 0])), ("where", (COND, 1, 2)),
    ("select", ([X > 0.5, X < -0.5], [X, 2 * X], 0.0)),
    ("segment_sum", (X, np.array([1, 0]), 3)), ("segment_sum", (X.reshape(6, 4), np.array([0, 0, 2, 2, 1, 0]))),
    ("segment_max", (X.reshape(6, 4), np.array([0, 0, 2, 2, 1, 0]), 4)),
]


@pytest.mark.parametrize("name,args", FORWARD_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FORWARD_CASES)])
def test_forward_values_and_dtypes_match_keras(name, args):
    k = keras_ops()
    ours = getattr(ops, name)(*args)
    theirs = as_numpy(getattr(k, name)(*[as_tensor(a, k) for a in args]), k)
    if isinstance(theirs, list):
        assert len(ours) == len(theirs)
    else:
        ours, theirs = [ours], [theirs]
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape, name
        assert a.dtype == b.dtype, f"{name}: {a.dtype} != Keras's {b.dtype}"
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_int_pad_widths_negative_take_indices_and_symmetric_padding_follow_numpy():
    # Keras's torch backend pads only the last axis for an int pad_width, and wraps negative
    # indices of take(axis=None) by the size of axis 0; NumPy's meanings (and those of Keras's other
    # backends) are what tinyconv does.
    np.testing.assert_array_equal(ops.pad(XI, 1), np.pad(XI, 1))
    np.testing.assert_array_equal(ops.take(X, np.array([[1, -1]])), X.reshape(-1)[[[1, -1]]])
    # Keras's torch backend pads "symmetric" by repeating the border element; NumPy's meaning (and
    # that of Keras's other backends) mirrors including the border, which is what tinyconv does.
    x = np.arange(4.0)
    np.testing.assert_array_equal(ops.pad(x, 2, mode="symmetric"), [1, 0, 0, 1, 2, 3, 3, 2])
    np.testing.assert_array_equal(ops.pad(x, (1, 2), mode="wrap"), np.pad(x, (1, 2), mode="wrap"))
    np.testing.assert_array_equal(ops.pad(x, 3, mode="edge"), np.pad(x, 3, mode="edge"))


def test_where_without_values_gives_the_indices_of_true_elements():
    k = keras_ops()
    ours = ops.where(COND)
    theirs = as_numpy(k.where(COND), k)
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_segment_max_of_an_empty_segment_is_minus_infinity():
    out = ops.segment_max(np.array([1.0, 2.0]), np.array([0, 2]), num_segments=4)
    np.testing.assert_array_equal(out, [1.0, -np.inf, 2.0, -np.inf])


# ---------------------------------------------------------------- against PyTorch autograd
def test_gather_and_pad_gradients_match_torch():
    torch = pytest.importorskip("torch")
    x = f64(4, 5)
    idx = np.array([[0, 3, 3], [1, 1, 0], [2, 4, 4], [0, 0, 0]])
    r = f64(4, 3, seed=9)
    with Tape() as tape:
        t = tape.watch(x)
        y = ops.take_along_axis(t, idx, axis=1)
        ours = tape.gradient(y, [t], output_gradient=r)[0]
    xt = torch.tensor(x, requires_grad=True)
    (torch.take_along_dim(xt, torch.tensor(idx), dim=1) * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours, xt.grad.numpy(), rtol=1e-12)

    r = f64(1, 4 + 3, 5 + 4, seed=3)
    with Tape() as tape:
        t = tape.watch(x)
        ours = tape.gradient(ops.pad(t, ((1, 2), (2, 2)), mode="reflect"), [t], output_gradient=r[0])[0]
    xt = torch.tensor(x[None], requires_grad=True)
    (torch.nn.functional.pad(xt, (2, 2, 1, 2), mode="reflect") * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours, xt.grad.numpy()[0], rtol=1e-12)


# ---------------------------------------------------------------- operators, dtypes of gradients, errors
def test_indexing_and_transpose_operators_are_recorded():
    x = f64(3, 4)
    with Tape() as tape:
        t = tape.watch(x)
        y = t[1:, [0, 0, 2]].T
        grad = tape.gradient(y, [t], output_gradient=np.ones((3, 2)))[0]
    expected = np.zeros((3, 4))
    expected[1:, 0] = 2.0
    expected[1:, 2] = 1.0
    np.testing.assert_array_equal(grad, expected)


def test_gradients_come_back_in_each_operands_dtype():
    a, b = np.ones((2, 2), np.float32), np.ones((1, 2))
    with Tape() as tape:
        ta, tb = tape.watch(a), tape.watch(b)
        y = ops.concatenate([ta, tb])
        assert y.dtype == np.float64
        ga, gb = tape.gradient(y, [ta, tb], output_gradient=np.ones((3, 2)))
    assert ga.dtype == np.float32 and gb.dtype == np.float64


@pytest.mark.parametrize("call,message", [
    (lambda: ops.reshape(np.zeros(6), (4, -1)), "cannot reshape"),
    (lambda: ops.squeeze(np.zeros((1, 3)), 1), "size 1"),
    (lambda: ops.transpose(np.zeros((2, 3)), (0, 0)), "permutation"),
    (lambda: ops.concatenate([np.zeros((2, 3)), np.zeros((2, 4))]), "except on axis 0"),
    (lambda: ops.stack([np.zeros(2), np.zeros(3)]), "one shape"),
    (lambda: ops.split(np.zeros(5), 2), "equal"),
    (lambda: ops.unstack(np.zeros((2, 3)), num=3), "num=3"),
    (lambda: ops.pad(np.zeros(3), 1, mode="mean"), "mode must be one of"),
    (lambda: ops.pad(np.zeros(3), 1, mode="reflect", constant_values=1), "constant_values"),
    (lambda: ops.where(np.array([True]), np.zeros(1)), "both x1 and x2"),
    (lambda: ops.take_along_axis(np.zeros((2, 3)), np.array([[3]]), axis=1), "indices must be in"),
    (lambda: ops.take(np.zeros(3), np.array([True])), "integers"),
    (lambda: ops.slice(np.zeros((2, 3)), (0,), (1, 1)), "start_indices"),
    (lambda: ops.scatter_update(np.zeros(3), [[0]], np.ones(1), reduction="sum"), "reduction"),
    (lambda: ops.segment_sum(np.zeros((3, 2)), np.array([0, 1])), "segment_ids"),
    (lambda: ops.vsplit(np.zeros(4), 2), "at least 2 dimensions"),
    (lambda: ops.swapaxes(np.zeros((2, 3)), 0, 2), "out of range"),
])
def test_bad_arguments_get_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_docstring_examples_run():
    for name in shape.__all__:
        op = getattr(ops, name)
        assert "Example" in op.__doc__ and ">>>" in op.__doc__, f"ops.{name} has no example"
        test = doctest.DocTestParser().get_doctest(op.__doc__, dict(vars(shape), np=np), name, None, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"the example of ops.{name} failed"
