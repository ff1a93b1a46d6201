"""tinyconv.ops reductions: Keras 3's values, dtypes and signatures; every backward checked by central
differences through the tape and, for max/min ties, quantiles and norms, against PyTorch autograd."""
import numpy as np
import pytest

from tests.ops.test_elementwise_ops import (assert_gradient_table_complete, assert_gradients, assert_matches_keras,
                                            assert_signatures_match_keras, f64, run_doctests)
from tinyconv import ops
from tinyconv.ops import reduction
from tinyconv.ops.tape import Tape

pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.filterwarnings("ignore::UserWarning:keras")]  # Keras's own count_nonzero uses a deprecated .T

A = f64(3, 4) + np.arange(12).reshape(3, 4) * 0.013  # tie-free
C = f64(2, 3, 4, seed=1) + np.arange(24).reshape(2, 3, 4) * 0.007
POS = f64(3, 4, seed=2, low=0.5, high=2.0)
WITH_ZERO = np.array([[1.5, 0.0, 2.0, -1.0], [0.5, 0.7, -1.2, 2.0]])
TWO_ZEROS = np.array([[1.5, 0.0, 2.0, 0.0]])
NANS = A.copy()
NANS[0, 1] = NANS[2, 3] = np.nan

GRADIENT_CASES = {
    "sum": [((C,), (0,), {}), ((C,), (0,), {"axis": (0, 2), "keepdims": True})],
    "mean": [((C,), (0,), {"axis": 1})],
    "average": [((A,), (0,), {}), ((A,), (0,), {"axis": 1, "weights": POS[0]}), ((A,), (0,), {"weights": POS})],
    "prod": [((POS,), (0,), {"axis": 1}), ((WITH_ZERO,), (0,), {"axis": 1}), ((TWO_ZEROS,), (0,), {})],
    "cumsum": [((C,), (0,), {"axis": 1}), ((A,), (0,), {})],
    "cumprod": [((POS,), (0,), {"axis": 0}), ((WITH_ZERO,), (0,), {"axis": 1})],
    "logsumexp": [((C,), (0,), {"axis": -1}), ((A,), (0,), {})],
    "var": [((C,), (0,), {"axis": (0, 1)})],
    "std": [((C,), (0,), {"axis": 2, "keepdims": True})],
    "ptp": [((A,), (0,), {"axis": 0})],
    "max": [((C,), (0,), {"axis": 1}), ((A,), (0,), {})],
    "min": [((C,), (0,), {"axis": (0, 2)})],
    "amax": [((A,), (0,), {"axis": -1})],
    "amin": [((A,), (0,), {"axis": 0, "keepdims": True})],
    "sort": [((C,), (0,), {"axis": 1}), ((A,), (0,), {"axis": None})],
    "top_k": [((C, 2), (0,), {})],
    "quantile": [((C, np.array([0.1, 0.5, 0.8])), (0,), {"axis": 1}),
                 ((A, 0.3), (0,), {"method": "midpoint"}), ((A, 0.3), (0,), {"method": "nearest", "axis": 0})],
    "percentile": [((A, 40.0), (0,), {"axis": 1, "keepdims": True})],
    "median": [((C,), (0,), {"axis": -1}), ((A,), (0,), {})],
    "norm": [((A,), (0,), {}), ((A,), (0,), {"ord": 1, "axis": 1}), ((A,), (0,), {"ord": np.inf, "axis": 1}),
             ((A,), (0,), {"ord": 3, "axis": 0}), ((A,), (0,), {"ord": "fro"}), ((A,), (0,), {"ord": "nuc"}),
             ((A,), (0,), {"ord": 2}), ((A,), (0,), {"ord": -2}), ((A,), (0,), {"ord": 1}),
             ((A,), (0,), {"ord": -np.inf}), ((C,), (0,), {"ord": 2, "axis": (2, 1)})],
    "nansum": [((NANS,), (0,), {"axis": 1})],
    "nanmean": [((NANS,), (0,), {"axis": 0})],
    "nanprod": [((NANS,), (0,), {"axis": 1})],
    "nancumsum": [((NANS,), (0,), {"axis": 1})],
    "nancumprod": [((NANS,), (0,), {"axis": 1})],
    "nanvar": [((NANS,), (0,), {"axis": 1})],
    "nanstd": [((NANS,), (0,), {})],
    "nanmax": [((NANS,), (0,), {"axis": 1})],
    "nanmin": [((NANS,), (0,), {"axis": 0})],
    "nanmedian": [((NANS,), (0,), {"axis": 1})],
    "nanquantile": [((NANS, 0.25), (0,), {"axis": 1})],
    "nanpercentile": [((NANS, 75.0), (0,), {})],
}
NOT_DIFFERENTIABLE = {"count_nonzero", "all", "any", "argmax", "argmin", "argsort", "argpartition", "in_top_k",
                      "nanargmax", "nanargmin"}


def test_every_op_has_a_gradient_test_or_is_declared_non_differentiable():
    assert_gradient_table_complete(reduction, GRADIENT_CASES, NOT_DIFFERENTIABLE)


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_backward_matches_central_differences(name):
    for args, wrt, kwargs in GRADIENT_CASES[name]:
        assert_gradients(getattr(ops, name), list(args), wrt, kwargs, tol=1e-5)
        if name.startswith("nan"):  # the NaN positions get exactly 0
            with Tape() as tape:
                x = tape.watch(args[0])
                out = getattr(ops, name)(x, *args[1:], **kwargs)
                dx, = tape.gradient(out, [x], output_gradient=np.ones(out.shape))
            assert np.all(dx[np.isnan(args[0])] == 0) and np.all(np.isfinite(dx))


def test_average_gradient_reaches_the_weights():
    assert_gradients(ops.average, [A, 1, POS[0]], (0, 2))
    assert_gradients(ops.average, [A, None, POS], (0, 2))


def test_signatures_match_keras():
    assert assert_signatures_match_keras(reduction) > 40


def test_doctests_run():
    run_doctests(reduction)


# ================================================================ forward values and dtypes against Keras
X = (f64(3, 4, 5, seed=4) * 3).astype(np.float32)
I = np.arange(60, dtype=np.int32).reshape(3, 4, 5) % 7 - 3
B = I > 0
AXIS_OPS = ["sum", "mean", "max", "min", "amax", "amin", "prod", "std", "var", "all", "any", "logsumexp", "median",
            "ptp", "nansum", "nanmean", "nanmax", "nanmin", "nanstd", "nanvar", "nanprod", "nanmedian"]


@pytest.mark.parametrize("name", AXIS_OPS)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_reductions_match_keras(name, axis, keepdims):
    assert_matches_keras(name, [X], {"axis": axis, "keepdims": keepdims}, rtol=2e-5, atol=2e-5)
    if name not in ("ptp",):
        assert_matches_keras(name, [I], {"axis": axis, "keepdims": keepdims}, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name", ["argmax", "argmin", "nanargmax", "nanargmin"])
def test_arg_reductions_match_keras(name):
    for axis in (None, 0, -1):
        assert_matches_keras(name, [X], {"axis": axis})
    assert_matches_keras(name, [X], {"axis": 1, "keepdims": True})


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "nancumsum", "nancumprod"])
def test_cumulative_ops_match_keras(name):
    assert_matches_keras(name, [X[0] / 3], {"axis": 1}, rtol=2e-5)
    assert_matches_keras(name, [X[0] / 3], {}, rtol=2e-5)
    assert_matches_keras(name, [B], {"axis": 0})
    assert_matches_keras(name, [I], {"axis": 2, "dtype": "float32"})


def test_sorting_and_counting_match_keras():
    assert_matches_keras("sort", [X], {"axis": 1})
    assert_matches_keras("argsort", [X], {"axis": 0})
    assert_matches_keras("count_nonzero", [I], {"axis": (0, 1)})
    assert_matches_keras("count_nonzero", [I])
    # Keras's torch backend gives int64 indices (torch's own); tinyconv keeps int32 as argmax/argsort do.
    assert_matches_keras("top_k", [X, 3], check_dtype=False)
    assert ops.top_k(X, 3)[1].dtype == np.int32
    assert_matches_keras("in_top_k", [np.array([0, 3, 1], dtype=np.int32), X[:, :, 0], 2])
    assert_matches_keras("average", [X[0]], {"axis": 1, "weights": np.abs(X[0]) + 1}, rtol=2e-5)
    # Weights of a 3-D x, or 1-D along an axis: Keras's torch backend fails to broadcast them; NumPy is the oracle.
    np.testing.assert_allclose(ops.average(X, axis=1, weights=np.abs(X) + 1), np.average(X, 1, np.abs(X) + 1),
                               rtol=1e-6)
    weights = np.arange(1.0, 6.0, dtype=np.float32)
    np.testing.assert_allclose(ops.average(X[0], axis=1, weights=weights), np.average(X[0], 1, weights), rtol=1e-6)
    assert_matches_keras("average", [I], {"axis": None})
    parts = ops.argpartition(X, 2, axis=-1)
    picked = np.take_along_axis(X, parts, axis=-1)
    np.testing.assert_array_equal(picked[..., 2], np.sort(X, axis=-1)[..., 2])
    assert parts.dtype == np.int32


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantiles_match_keras(method):
    q = np.array([0.0, 0.25, 0.5, 0.9, 1.0], dtype=np.float32)
    assert_matches_keras("quantile", [X, q], {"axis": 1, "method": method}, rtol=2e-5, atol=2e-5)
    assert_matches_keras("quantile", [X, 0.4], {"axis": (0, 2), "method": method, "keepdims": True}, rtol=2e-5)
    assert_matches_keras("percentile", [I, 30.0], {"method": method}, rtol=2e-5)
    nans = X.copy()
    nans[0, 1, :3] = np.nan
    assert_matches_keras("nanquantile", [nans, 0.3], {"axis": -1, "method": method}, rtol=2e-5, atol=2e-5)
    assert_matches_keras("nanpercentile", [nans, 60.0], {"axis": 2, "method": method}, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("ord, axis", [(None, None), (None, 1), (1, 0), (2, -1), (np.inf, 1), (-np.inf, 1), (0, 1),
                                       (3, 1), ("fro", (1, 2)), ("nuc", (1, 2)), (1, (0, 2)), (-1, (1, 2)),
                                       (2, (1, 2)), (-2, (2, 1)), (np.inf, (1, 2)), (-np.inf, (0, 1))])
def test_norm_matches_keras(ord, axis):
    assert_matches_keras("norm", [X], {"ord": ord, "axis": axis, "keepdims": False}, rtol=1e-4, atol=1e-5)
    assert_matches_keras("norm", [X], {"ord": ord, "axis": axis, "keepdims": True}, rtol=1e-4, atol=1e-5)


# ================================================================ ties, PyTorch autograd, errors
def test_max_ties_share_the_gradient_evenly_as_torch_amax_does():
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, 2.0, -1.0, 2.0]])
    for name, torch_op in (("max", torch.amax), ("amin", torch.amin), ("max", None)):
        axis = 1 if torch_op is not None else None
        with Tape() as tape:
            t = tape.watch(x)
            out = getattr(ops, name)(t, axis=axis)
            dx, = tape.gradient(out, [t], output_gradient=np.ones(out.shape))
        tx = torch.tensor(x, requires_grad=True)
        (torch_op(tx, dim=1) if torch_op is not None else tx.max()).sum().backward()
        np.testing.assert_allclose(dx, tx.grad.numpy())
    assert dx[0, 0] == pytest.approx(1 / 3)


@pytest.mark.parametrize("name, kwargs, torch_call", [
    ("median", {"axis": 1}, lambda t: t.quantile(0.5, dim=1)),
    ("quantile", {"q": 0.3, "axis": 0}, lambda t: t.quantile(0.3, dim=0)),
    ("norm", {"ord": "nuc"}, lambda t: __import__("torch").linalg.matrix_norm(t, ord="nuc")),
    ("norm", {"ord": 2}, lambda t: __import__("torch").linalg.matrix_norm(t, ord=2)),
    ("norm", {"ord": 3, "axis": 1}, lambda t: __import__("torch").linalg.vector_norm(t, ord=3, dim=1)),
    ("prod", {"axis": 1}, lambda t: t.prod(dim=1)),
    ("cumprod", {"axis": 1}, lambda t: t.cumprod(dim=1)),
    ("logsumexp", {"axis": 0}, lambda t: t.logsumexp(dim=0)),
    ("std", {"axis": 1}, lambda t: t.std(dim=1, unbiased=False)),
])
def test_gradients_match_torch_autograd(name, kwargs, torch_call):
    torch = pytest.importorskip("torch")
    x = WITH_ZERO if name in ("prod", "cumprod") else A
    kwargs = dict(kwargs)
    q = kwargs.pop("q", None)
    with Tape() as tape:
        t = tape.watch(x)
        out = getattr(ops, name)(t, q, **kwargs) if q is not None else getattr(ops, name)(t, **kwargs)
        g = f64(*out.shape, seed=3)
        dx, = tape.gradient(out, [t], output_gradient=g)
    tx = torch.tensor(x, requires_grad=True)
    torch_call(tx).backward(torch.tensor(g))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-7, atol=1e-10)


def test_results_are_arrays_and_dtypes_follow_keras():
    assert isinstance(ops.sum(np.ones(3)), np.ndarray) and ops.sum(np.ones(3)).shape == ()
    assert ops.sum(np.ones(3, np.int8)).dtype == np.int32
    assert ops.sum(np.ones(3, bool)).dtype == np.int32
    assert ops.mean(np.ones(3, np.int32)).dtype == np.float32
    assert ops.var(np.ones(3, np.float16)).dtype == np.float16
    assert ops.argmax(np.ones(3)).dtype == np.int32


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="ops.sum: axis 3 is out of range"):
        ops.sum(np.ones((2, 2)), axis=3)
    with pytest.raises(ValueError, match="ops.quantile: method"):
        ops.quantile(np.ones(3), 0.5, method="cubic")
    with pytest.raises(ValueError, match=r"ops.quantile: quantiles must lie in \[0, 1\]"):
        ops.quantile(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="ops.top_k: k must be"):
        ops.top_k(np.ones(3), 4)
    with pytest.raises(ValueError, match="ops.average: 1-D weights"):
        ops.average(np.ones((2, 3)), axis=1, weights=np.ones(2))
    with pytest.raises(ValueError, match="ops.norm"):
        ops.norm(np.ones((2, 2, 2)), ord=1)
    with pytest.raises(ValueError, match="ops.in_top_k"):
        ops.in_top_k(np.array([0]), np.ones(3), 1)
