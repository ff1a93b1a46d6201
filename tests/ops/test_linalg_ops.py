"""tinyconv.ops linear algebra: Keras 3's values, dtypes and signatures, and every backward checked.

Products and matrix functions are compared with ``keras.ops`` (torch backend); backwards with
central differences in float64 through the tape, and with PyTorch autograd for the matrix functions.
Functions of symmetric matrices (``cholesky``, ``eigh``) are checked along symmetric directions,
since only those keep the input symmetric.
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
from tinyconv.ops import linalg  # noqa: E402
from tinyconv.ops.tape import Tape  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


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
    return k.convert_to_tensor(value) if isinstance(value, np.ndarray) else value


def f64(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def spd(n, batch=(), seed=0):
    """A well-conditioned symmetric positive definite matrix (or a stack of them)."""
    m = f64(*batch, n, n, seed=seed)
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


# ---------------------------------------------------------------- gradient checking through the tape
def run_taped(op, args, wrt, kwargs, r_seed=1):
    with Tape() as tape:
        arguments = list(args)
        watched = []
        for i in wrt:
            arguments[i] = tape.watch(args[i])
            watched.append(arguments[i])
        out = op(*arguments, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        r = [np.random.default_rng(r_seed).standard_normal(o.shape) for o in outs]
        return tape.gradient(list(outs), watched, output_gradient=r), r


def loss_of(op, args, kwargs, r):
    value = op(*args, **kwargs)
    values = value if isinstance(value, (list, tuple)) else [value]
    return float(sum(np.sum(np.asarray(v) * ri) for v, ri in zip(values, r)))


def assert_gradients(op, args, wrt=(0,), kwargs=None, tol=1e-6):
    kwargs = kwargs or {}
    analytic, r = run_taped(op, args, wrt, kwargs)
    for i, a in zip(wrt, analytic):
        numeric = numerical_gradient(lambda: loss_of(op, args, kwargs, r), args[i])
        assert a is not None and a.shape == numeric.shape and a.dtype == np.float64, op.name
        assert relative_error(a, numeric) < tol, f"{op.name} argument {i}: {relative_error(a, numeric)}"


def assert_symmetric_gradients(op, x, kwargs=None, directions=6, tol=1e-6):
    """For a function of a symmetric matrix: <dL/dX, E> against (L(X + eps E) - L(X - eps E)) / 2 eps
    for random symmetric directions E."""
    kwargs = kwargs or {}
    (analytic,), r = run_taped(op, [x], (0,), kwargs)
    assert np.allclose(analytic, np.swapaxes(analytic, -1, -2)), f"{op.name}: the gradient is not symmetric"
    for seed in range(directions):
        e = f64(*x.shape, seed=100 + seed)
        e = e + np.swapaxes(e, -1, -2)
        eps = 1e-6
        numeric = (loss_of(op, [x + eps * e], kwargs, r) - loss_of(op, [x - eps * e], kwargs, r)) / (2 * eps)
        assert abs(np.sum(analytic * e) - numeric) < tol * max(1.0, abs(numeric)), op.name


# ---------------------------------------------------------------- the table: every op and its gradient test
TRIANGULAR = np.tril(f64(3, 3, seed=7)) + 3 * np.eye(3)
GRADIENT_CASES = {
    "matmul": [((f64(2, 3, 4), f64(4, 5)), (0, 1)), ((f64(4), f64(2, 4, 3)), (0, 1)), ((f64(3), f64(3)), (0, 1)),
               ((f64(2, 1, 3, 4), f64(5, 4, 2)), (0, 1)), ((f64(2, 3, 4), f64(4)), (0, 1))],
    "dot": [((f64(2, 3), f64(3, 4)), (0, 1)), ((f64(2, 3, 4), f64(5, 4, 2)), (0, 1)), ((f64(2, 3), f64(3)), (0, 1)),
            ((np.array(1.5), f64(2, 3)), (0, 1)), ((f64(4), f64(4)), (0, 1))],
    "tensordot": [((f64(2, 3, 4), f64(4, 3), ([1, 2], [1, 0])), (0, 1)), ((f64(2, 3), f64(3, 4), 1), (0, 1)),
                  ((f64(2, 3), f64(4, 5), 0), (0, 1)), ((f64(3, 2, 4), f64(2, 5, 3), ([0, 1], [2, 0])), (0, 1))],
    "einsum": [(("ij,jk->ik", f64(2, 3), f64(3, 4)), (1, 2)), (("bij,bjk", f64(2, 2, 3), f64(2, 3, 2)), (1, 2)),
               (("ii->", f64(3, 3)), (1,)), (("ii->i", f64(3, 3)), (1,)), (("ij->", f64(2, 3)), (1,)),
               (("ij,j->", f64(2, 3), f64(3)), (1, 2)), (("...ij,...jk->...ik", f64(1, 2, 3), f64(4, 3, 2)), (1, 2)),
               (("iij,jk->ik", f64(2, 2, 3), f64(3, 2)), (1, 2)), (("i,j,k->ijk", f64(2), f64(3), f64(2)), (1, 2, 3))],
    "inner": [((f64(2, 3), f64(4, 3)), (0, 1)), ((f64(3), f64(3)), (0, 1)), ((np.array(2.0), f64(3)), (0, 1))],
    "outer": [((f64(2, 2), f64(3)), (0, 1))],
    "vdot": [((f64(2, 3), f64(6)), (0, 1))],
    "kron": [((f64(2, 3), f64(3, 2)), (0, 1)), ((f64(2), f64(2, 3)), (0, 1))],
    "cross": [((f64(4, 3), f64(3)), (0, 1)), ((f64(3, 2), f64(2, 3), 0, -1, 0), (0, 1))],
    "trace": [((f64(3, 4),), (0,)), ((f64(2, 3, 4), 1, 1, 2), (0,)), ((f64(4, 2, 3), -1, -1, 0), (0,))],
    "det": [((f64(3, 3),), (0,)), ((f64(2, 3, 3),), (0,))],
    "inv": [((f64(2, 3, 3) + 3 * np.eye(3),), (0,))],
    "logdet": [((spd(3, (2,)),), (0,))],
    "slogdet": [((f64(3, 3, seed=4),), (0,))],
    "solve": [((f64(3, 3) + 3 * np.eye(3), f64(3)), (0, 1)), ((f64(2, 3, 3) + 3 * np.eye(3), f64(2, 3)), (0, 1)),
              ((f64(2, 3, 3) + 3 * np.eye(3), f64(1, 3, 2)), (0, 1))],
    "solve_triangular": [((TRIANGULAR, f64(3, 2), True), (0, 1)), ((TRIANGULAR.T.copy(), f64(3), False), (0, 1))],
    "lstsq": [((f64(5, 3), f64(5)), (0, 1)), ((f64(4, 2), f64(4, 3)), (0, 1))],
    "pinv": [((f64(4, 3),), (0,)), ((f64(2, 2, 4),), (0,))],
    "cholesky_inverse": [((TRIANGULAR,), (0,)), ((TRIANGULAR.T.copy(), True), (0,))],
}
SYMMETRIC_GRADIENT_CASES = {
    "cholesky": [(spd(3), {}), (spd(3, (2,)), {"upper": True})],
    "eigh": [(spd(3, seed=3), {}), (spd(4, (2,), seed=5), {})],
}


def test_every_exported_op_has_a_checked_backward_or_is_declared_forward_only():
    checked = set(GRADIENT_CASES) | set(SYMMETRIC_GRADIENT_CASES)
    assert checked | set(linalg.NOT_DIFFERENTIABLE) == set(linalg.__all__)
    assert not checked & set(linalg.NOT_DIFFERENTIABLE)
    for name in linalg.__all__:
        op = getattr(ops, name)
        if name in linalg.NOT_DIFFERENTIABLE:
            assert op.differentiable == () and op.backward is None, name
        else:
            assert op.differentiable and op.backward is not None, f"ops.{name} lacks a backward"


@pytest.mark.parametrize("name,index", [(n, i) for n, cases in GRADIENT_CASES.items() for i in range(len(cases))])
def test_backward_matches_central_differences(name, index):
    args, wrt = GRADIENT_CASES[name][index]
    assert_gradients(getattr(ops, name), [a.copy() if isinstance(a, np.ndarray) else a for a in args], wrt)


@pytest.mark.parametrize("name,index", [(n, i) for n, cases in SYMMETRIC_GRADIENT_CASES.items()
                                        for i in range(len(cases))])
def test_backward_of_symmetric_matrix_functions(name, index):
    x, kwargs = SYMMETRIC_GRADIENT_CASES[name][index]
    assert_symmetric_gradients(getattr(ops, name), x.copy(), kwargs)


@settings(max_examples=25, deadline=None)
@given(batch_a=st.lists(st.integers(1, 2), max_size=2), batch_b=st.lists(st.integers(1, 2), max_size=2),
       m=st.integers(1, 3), k=st.integers(1, 3), n=st.integers(1, 3),
       vector_a=st.booleans(), vector_b=st.booleans())
def test_matmul_backward_on_any_numpy_shapes(batch_a, batch_b, m, k, n, vector_a, vector_b):
    # NumPy's rules: batch axes broadcast from the right; a 1-D operand is a row (left) or column (right).
    batch_b = [1 if i < len(batch_a) and batch_a[-1 - i] != size else size
               for i, size in enumerate(reversed(batch_b))][::-1]
    a = f64(k) if vector_a else f64(*batch_a, m, k, seed=1)
    b = f64(k, seed=2) if vector_b else f64(*batch_b, k, n, seed=3)
    np.testing.assert_allclose(ops.matmul(a, b), np.matmul(a, b), rtol=1e-12)
    assert_gradients(ops.matmul, [a, b], (0, 1))


def test_triangular_solve_sends_no_gradient_to_the_ignored_triangle():
    a = TRIANGULAR + np.triu(f64(3, 3, seed=8), 1)  # garbage above the diagonal, ignored with lower=True
    (da, _), _ = run_taped(ops.solve_triangular, [a, f64(3)], (0, 1), {"lower": True})
    assert np.all(np.triu(da, 1) == 0)
    np.testing.assert_allclose(ops.solve_triangular(a, f64(3), lower=True), np.linalg.solve(TRIANGULAR, f64(3)))


# ---------------------------------------------------------------- against PyTorch autograd
def torch_gradients(function, arrays, r):
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = function(*tensors)
    outs = out if isinstance(out, (list, tuple)) else [out]
    sum((o * torch.tensor(ri)).sum() for o, ri in zip(outs, r)).backward()
    return [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("name,arrays,wrt,torch_function", [
    ("matmul", [f64(2, 1, 3, 4), f64(5, 4, 2)], (0, 1), lambda t: t.matmul),
    ("einsum", ["bij,bjk->bik", f64(2, 2, 3), f64(2, 3, 2)], (1, 2), lambda t: lambda a, b: t.einsum("bij,bjk->bik", a, b)),
    ("det", [f64(2, 3, 3)], (0,), lambda t: t.linalg.det),
    ("inv", [f64(3, 3) + 3 * np.eye(3)], (0,), lambda t: t.linalg.inv),
    ("solve", [f64(2, 3, 3) + 3 * np.eye(3), f64(2, 3, 2)], (0, 1), lambda t: t.linalg.solve),
    ("slogdet", [f64(3, 3, seed=4)], (0,), lambda t: lambda a: list(t.linalg.slogdet(a))),
    ("cholesky", [spd(3, (2,))], (0,), lambda t: t.linalg.cholesky),
    ("eigh", [spd(3, seed=3)], (0,), lambda t: lambda a: list(t.linalg.eigh(a))),
    ("pinv", [f64(4, 3)], (0,), lambda t: t.linalg.pinv),
    ("kron", [f64(2, 3), f64(3, 2)], (0, 1), lambda t: t.kron),
    ("cross", [f64(4, 3), f64(4, 3, seed=2)], (0, 1), lambda t: lambda a, b: t.linalg.cross(a, b)),
])
def test_gradients_match_torch_autograd(name, arrays, wrt, torch_function):
    torch = pytest.importorskip("torch")
    ours, r = run_taped(getattr(ops, name), list(arrays), wrt, {})
    theirs = torch_gradients(torch_function(torch), [arrays[i] for i in wrt], r)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- Keras's names, signatures and values
def test_signatures_match_keras_and_the_linalg_namespace_is_keras_s():
    k = keras_ops()
    for name in linalg.__all__:
        ours = inspect.signature(getattr(ops, name))
        theirs = inspect.signature(getattr(k, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == \
            [(p.name, p.default) for p in theirs.parameters.values()], name
    # Every keras.ops.linalg name that is a linear-algebra op here is reachable as ops.linalg.<name>
    # and is the same op as ops.<name> (norm and jvp are owned by the reduction and core modules).
    for name in dir(k.linalg):
        if name.startswith("_") or name in ("norm", "jvp"):
            continue
        assert getattr(ops.linalg, name) is getattr(ops, name), name
    # and every op here that Keras has at the top of keras.ops is at the top of tinyconv.ops.
    assert all(hasattr(k, name) for name in linalg.__all__)


def test_norm_and_jvp_resolve_where_their_modules_define_them():
    from tinyconv.ops import core, reduction
    for name, module in (("norm", reduction), ("jvp", core)):
        if name in getattr(module, "__all__", ()):
            assert getattr(ops.linalg, name) is getattr(module, name)
        else:
            with pytest.raises(AttributeError, match=name):
                getattr(ops.linalg, name)


F32 = np.float32
rng = np.random.default_rng(3)
P = rng.standard_normal((2, 3, 4)).astype(F32)
Q = rng.standard_normal((4, 5)).astype(F32)
SQ = (rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)).astype(F32)
SPD = spd(3, (2,)).astype(F32)
FORWARD_CASES = [
    ("matmul", (P, Q)), ("matmul", (Q[:, 0], Q)), ("matmul", (P, Q[:, 0])), ("matmul", (SQ[:, None], P[None])),
    ("matmul", ([[1, 2]], [[1], [2]])), ("dot", (P, Q)), ("dot", (P[0], P[0, 0])), ("dot", (P[0, 0], P[0, 0])),
    ("tensordot", (P, Q, 1)), ("tensordot", (P, Q[:, :3].T, ([1, 2], [0, 1]))), ("einsum", ("bij,jk->bik", P, Q)),
    ("einsum", ("ii", SQ[0])), ("einsum", ("...ij->...ji", P)), ("inner", (P, Q.T)), ("outer", (P[0], Q[0])),
    ("vdot", (P[0, 0], P[1, 0])), ("kron", (P[0], Q)), ("cross", (P[..., :3], P[..., 1:], -1, -1, -1, -1)),
    ("cross", (P[:, :3], 2 * P[:, :3], -1, -1, -1, 1)), ("trace", (P,)), ("trace", (P, 1, 1, 2)), ("trace", (P, -1, 2, 1)),
    ("det", (SQ,)), ("inv", (SQ,)), ("solve", (SQ, P[:, :, 0])), ("solve", (SQ, P)),
    ("solve_triangular", (SQ, P, True)), ("solve_triangular", (SQ, P[..., 0], False)), ("lstsq", (Q.T, Q[0])),
    ("pinv", (P,)), ("cholesky", (SPD,)), ("cholesky", (SPD, True)), ("cholesky_inverse", (np.linalg.cholesky(SPD),)),
    ("logdet", (SPD,)), ("slogdet", (SQ,)), ("lu_factor", (SQ,)), ("matrix_rank", (P,)), ("svd", (P, False, False)),
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
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("int32", "int32"), ("int8", "int8"),
                                    ("float16", "float16"), ("int32", "float32"), ("int8", "float32"),
                                    ("uint8", "int8"), ("int32", "float16"), ("bool", "bool")])
def test_product_dtypes_match_keras(dtypes):
    # (Keras's torch backend narrows float64 and int64 products to 32 bits; tinyconv keeps 64-bit
    # inputs at 64 bits, since its gradient checks run in float64.)
    k = keras_ops()
    a, b = np.ones((2, 2), dtypes[0]), np.ones((2, 2), dtypes[1])
    for name, args in [("matmul", (a, b)), ("dot", (a, b)), ("outer", (a, b)), ("inner", (a, b)), ("kron", (a, b)),
                       ("tensordot", (a, b, 1)), ("vdot", (a[0], b[0]))]:
        expected = k.convert_to_numpy(getattr(k, name)(*[k.convert_to_tensor(x) for x in args])).dtype
        assert getattr(ops, name)(*args).dtype == expected, (name, dtypes)
    if dtypes[0] == dtypes[1] and dtypes[0] != "bool":
        expected = k.convert_to_numpy(k.einsum("ij,jk->ik", k.convert_to_tensor(a), k.convert_to_tensor(b))).dtype
        assert ops.einsum("ij,jk->ik", a, b).dtype == expected


def test_decompositions_reconstruct_their_input():
    k = keras_ops()
    x = P.astype(np.float64)
    u, s, vh = ops.svd(x, full_matrices=False)
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, x, atol=1e-12)
    np.testing.assert_allclose(s, as_numpy(k.svd(k.convert_to_tensor(x), compute_uv=False), k), rtol=1e-10)
    for mode, q_columns in (("reduced", 3), ("complete", 3)):
        q, r = ops.qr(x.swapaxes(-1, -2), mode=mode)  # (2, 4, 3)
        assert q.shape == (2, 4, 4 if mode == "complete" else q_columns)
        np.testing.assert_allclose(q @ r, x.swapaxes(-1, -2), atol=1e-12)
        assert np.allclose(np.tril(r, -1), 0)
    w, v = ops.eig(np.array([[2.0, 1.0], [0.0, 3.0]]))
    assert w.dtype == np.complex128
    np.testing.assert_allclose(np.array([[2.0, 1.0], [0.0, 3.0]]) @ v, v * w, atol=1e-12)
    lu, pivots = ops.lu_factor(SQ.astype(np.float64))
    for m, lu_m, piv in zip(SQ.astype(np.float64), lu, pivots):
        permuted = m.copy()
        for i, p in enumerate(piv):
            permuted[[i, p]] = permuted[[p, i]]
        np.testing.assert_allclose((np.tril(lu_m, -1) + np.eye(3)) @ np.triu(lu_m), permuted, atol=1e-12)


def test_forward_only_ops_are_constants_on_a_tape():
    with Tape() as tape:
        x = tape.watch(f64(3, 3))
        u, s, vh = ops.svd(x)
    assert isinstance(s, np.ndarray)  # not recorded: no gradient flows through it, on purpose


def test_cross_uses_the_last_axis_by_default():
    # As NumPy (and Keras's documentation); Keras's torch backend without ``axis`` lets torch pick the
    # first axis of size 3 instead.
    a, b = P[..., :3], P[..., 1:]
    np.testing.assert_allclose(ops.cross(a, b), np.cross(a, b), rtol=1e-6)


def test_logdet_of_a_negative_determinant_is_nan():
    assert np.isnan(ops.logdet(np.array([[0.0, 1.0], [1.0, 0.0]])))
    assert ops.logdet(np.zeros((2, 2))) == -np.inf


@pytest.mark.parametrize("call,message", [
    (lambda: ops.matmul(np.zeros((2, 3)), np.zeros((2, 3))), "inner dimensions"),
    (lambda: ops.matmul(np.zeros(3), 2.0), "at least 1-D"),
    (lambda: ops.dot(np.zeros((2, 3)), np.zeros((2, 3))), "not aligned"),
    (lambda: ops.tensordot(np.zeros((2, 3)), np.zeros((2, 3)), axes=1), "differ in size"),
    (lambda: ops.tensordot(np.zeros(3), np.zeros(3), axes=2), "at least 2 dimensions"),
    (lambda: ops.einsum("ij,jk->ik", np.zeros((2, 3))), "2 operands"),
    (lambda: ops.einsum("ijk->i", np.zeros((2, 3))), "does not match"),
    (lambda: ops.cross(np.zeros(2), np.zeros(2)), "size 3"),
    (lambda: ops.vdot(np.zeros(2), np.zeros(3)), "same number"),
    (lambda: ops.det(np.zeros((2, 3))), "square"),
    (lambda: ops.inv(np.zeros(3)), "stack of matrices"),
    (lambda: ops.solve(np.eye(3), np.zeros(2)), "3 rows"),
    (lambda: ops.cholesky(-np.eye(2)), "positive definite"),
    (lambda: ops.qr(np.eye(2), mode="r"), "mode"),
    (lambda: ops.lstsq(np.zeros((2, 3, 3)), np.zeros(3)), "single matrix"),
    (lambda: ops.trace(np.zeros(3)), "at least 2"),
])
def test_bad_arguments_get_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_docstring_examples_run():
    for name in linalg.__all__:
        op = getattr(ops, name)
        assert "Example" in op.__doc__ and ">>>" in op.__doc__, f"ops.{name} has no example"
        test = doctest.DocTestParser().get_doctest(op.__doc__, dict(vars(linalg), np=np), name, None, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"the example of ops.{name} failed"
