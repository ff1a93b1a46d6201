"""tinyconv.ops creation ops: Keras 3's values, dtypes and signatures; the differentiable ones (triangles,
diagonals, vander, meshgrid, array) checked by central differences through the tape and PyTorch autograd."""
import numpy as np
import pytest

from tests.ops.test_elementwise_ops import (assert_gradient_table_complete, assert_gradients, assert_matches_keras,
                                            assert_signatures_match_keras, f64, run_doctests)
from tinyconv import ops
from tinyconv.ops import creation
from tinyconv.ops.tape import Tape

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

A = f64(3, 4)
C = f64(2, 3, 4, seed=1)
GRADIENT_CASES = {
    "array": [((A,), (0,))],
    "tril": [((A,), (0,)), ((C, -1), (0,))],
    "triu": [((A, 1), (0,)), ((C,), (0,))],
    "diag": [((A[0],), (0,)), ((A[0], -2), (0,)), ((A,), (0,)), ((A, 1), (0,))],
    "diagflat": [((A[:2, :2], 1), (0,))],
    "diagonal": [((A,), (0,)), ((C, 1, 2, 1), (0,)), ((C, -1, 0, 2), (0,))],
    "vander": [((f64(4, seed=2),), (0,)), ((f64(3, seed=3), 5, True), (0,))],
    "meshgrid": [((A[0], A[1, :3]), ((0, 0), (0, 1))), ((A[0], A[1, :3], A[2, :2]), ((0, 0), (0, 1), (0, 2)))],
}
NOT_DIFFERENTIABLE = {"zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "arange",
                      "linspace", "logspace", "geomspace", "eye", "identity", "tri", "bartlett", "blackman", "hamming",
                      "hanning", "kaiser"}


def test_every_op_has_a_gradient_test_or_is_declared_non_differentiable():
    assert_gradient_table_complete(creation, GRADIENT_CASES, NOT_DIFFERENTIABLE)


def _meshgrid_xy(xs):
    return ops.meshgrid(*xs)


def _meshgrid_ij(xs):
    return ops.meshgrid(*xs, indexing="ij")


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_backward_matches_central_differences(name):
    for args, wrt in GRADIENT_CASES[name]:
        if name == "meshgrid":
            for variant in (_meshgrid_xy, _meshgrid_ij):
                variant.name = name
                assert_gradients(variant, [list(args)], wrt)
        else:
            assert_gradients(getattr(ops, name), list(args), wrt)


def test_signatures_match_keras():
    assert assert_signatures_match_keras(creation) >= 25


def test_doctests_run():
    run_doctests(creation)


@pytest.mark.parametrize("name, args, kwargs", [
    ("zeros", [(2, 3)], {}), ("ones", [4], {"dtype": "int32"}), ("full", [(2, 2), 3], {}),
    ("full", [(2,), 2.5], {"dtype": "float16"}), ("full", [(2, 3), np.array([1.0, 2.0, 3.0])], {}),
    ("zeros_like", [np.ones((2, 2), np.int32)], {}), ("ones_like", [np.ones(3, bool)], {}),
    ("ones_like", [np.ones(3, np.float64)], {"dtype": "float32"}), ("full_like", [np.ones(2, np.int32), 3.5], {}),
    ("full_like", [np.ones(2), 3], {}), ("array", [[1, 2]], {}), ("array", [[1.0, 2.0]], {}),
    ("array", [np.arange(3)], {"dtype": "float32"}),
    ("arange", [5], {}), ("arange", [5.0], {}), ("arange", [0, 5, 0.5], {}), ("arange", [2, 11, 3], {}),
    ("arange", [10, 0, -3], {}), ("arange", [5], {"dtype": "float32"}),
    ("linspace", [0, 1, 5], {}), ("linspace", [0, 10, 5], {"dtype": "int32"}),
    ("linspace", [0, 1, 4], {"endpoint": False}),
    ("logspace", [0, 2, 3], {}), ("logspace", [0, 3, 4], {"base": 2, "endpoint": False}),
    ("geomspace", [1, 1000, 4], {}), ("geomspace", [2.0, 32.0, 5], {"endpoint": False}),
    ("eye", [3], {}), ("eye", [2, 4], {"k": 1}), ("eye", [3], {"k": -1, "dtype": "int32"}), ("identity", [3], {}),
    ("tri", [3], {}), ("tri", [3, 4], {"k": 1}), ("tril", [np.arange(12, dtype=np.int32).reshape(3, 4)], {}),
    ("triu", [C.astype(np.float32)], {"k": -1}), ("diag", [np.arange(3, dtype=np.int32)], {"k": 1}),
    ("diag", [A.astype(np.float32)], {"k": -1}), ("diagflat", [np.ones((2, 2), np.float32)], {}),
    ("diagonal", [C.astype(np.float32)], {"offset": 1, "axis1": 1, "axis2": 2}),
    ("meshgrid", [np.arange(3, dtype=np.int32), np.arange(2, dtype=np.int32)], {}),
    ("meshgrid", [np.arange(3.0), np.arange(2.0), np.arange(4.0)], {"indexing": "ij"}),
    ("vander", [np.array([1.0, 2.0, 3.0], np.float32)], {}), ("vander", [np.array([1, 2, 3], np.int32), 4], {}),
    ("bartlett", [6], {}), ("blackman", [5], {}), ("hamming", [7], {}), ("hanning", [4], {}),
    ("kaiser", [6, 3.0], {}),
])
def test_values_and_dtypes_match_keras(name, args, kwargs):
    assert_matches_keras(name, args, kwargs, rtol=1e-5, atol=1e-6)


def test_linspace_with_a_step_or_tensors_of_ends():
    # Keras's torch backend refuses ``axis`` and returns the step in float64: NumPy is the oracle here.
    values, step = ops.linspace(2.0, 3.0, 5, retstep=True)
    np.testing.assert_allclose(values, np.linspace(2.0, 3.0, 5))
    np.testing.assert_allclose(step, 0.25)
    ends = np.array([0.0, 1.0]), np.array([1.0, 3.0])
    np.testing.assert_allclose(ops.linspace(*ends, 4, axis=1), np.linspace(*ends, 4, axis=1), rtol=1e-6)
    assert ops.linspace(*ends, 4, axis=1).dtype == np.float32


def test_empty_has_the_shape_and_dtype():
    assert ops.empty((2, 3)).shape == (2, 3) and ops.empty((2,)).dtype == np.float32
    assert ops.empty_like(np.ones((4,), np.int32)).dtype == np.int32


def test_diagonal_ops_match_torch_autograd():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(lambda t: ops.diagonal(t, 1, 2, 0), lambda t: torch.diagonal(t, 1, 2, 0)),
                         (lambda t: ops.tril(t, -1), lambda t: torch.tril(t, -1)),
                         (lambda t: ops.triu(t, 1), lambda t: torch.triu(t, 1))]:
        with Tape() as tape:
            x = tape.watch(C)
            out = ours(x)
            g = f64(*out.shape, seed=5)
            dx, = tape.gradient(out, [x], output_gradient=g)
        t = torch.tensor(C, requires_grad=True)
        theirs(t).backward(torch.tensor(g))
        np.testing.assert_allclose(dx, t.grad.numpy())


def test_creation_ops_are_constants_on_a_tape():
    with Tape() as tape:
        x = tape.watch(np.array([1.0, 2.0]))
        assert isinstance(ops.zeros_like(x), np.ndarray) and isinstance(ops.full_like(x, 2.0), np.ndarray)
    assert tape.records == []


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="ops.zeros: shape must not have negative sizes"):
        ops.zeros((2, -1))
    with pytest.raises(TypeError, match="ops.ones: shape must be an int or a tuple of ints"):
        ops.ones("abc")
    with pytest.raises(ValueError, match="ops.arange: step must not be 0"):
        ops.arange(0, 3, 0)
    with pytest.raises(ValueError, match="ops.geomspace: start and stop must be nonzero"):
        ops.geomspace(0, 10)
    with pytest.raises(ValueError, match="ops.diag: x must be 1-D or 2-D"):
        ops.diag(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="ops.meshgrid: indexing"):
        ops.meshgrid(np.ones(2), indexing="yx")
    with pytest.raises(ValueError, match="ops.vander: x must be 1-D"):
        ops.vander(np.ones((2, 2)))
