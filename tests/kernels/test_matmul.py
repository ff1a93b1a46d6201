"""The compiled matrix product (kernels/cpu/matmul.py, gemm.pyx): NumPy's numbers, on tinyconv's threads."""
import numpy as np
import pytest

import tinyconv
from tinyconv.kernels.cpu import matrix_product as matmul_module
from tinyconv.kernels.cpu.matrix_product import matmul
from tinyconv.kernels.cpu.threads import min_parallel_macs

gemm = pytest.importorskip("tinyconv.kernels.cpu.gemm")


@pytest.fixture
def threads():
    """Set the kernels' thread count for one test, then put it back."""
    before = tinyconv.get_num_threads()
    yield tinyconv.set_num_threads
    tinyconv.set_num_threads(before)


@pytest.fixture
def calls(monkeypatch):
    """The thread count of every compiled product run."""
    seen = []
    real = gemm.gemm

    def spy(a, trans_a, b, trans_b, c, thread_count):
        seen.append(thread_count)
        return real(a, trans_a, b, trans_b, c, thread_count)

    monkeypatch.setattr(gemm, "gemm", spy)
    return seen


def operands(m, k, n, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


@pytest.mark.parametrize("m, k, n", [(1000, 64, 5), (5, 64, 1000), (97, 131, 89), (3, 3000, 3), (64, 400, 120),
                                     (3001, 40, 7), (7, 40, 3001)])   # (several parts per thread)
@pytest.mark.parametrize("count", [2, 3, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_and_column_parts_give_numpys_product(threads, calls, m, k, n, count, dtype):
    """Tall products are cut by rows, wide ones by columns, in more parts than rows or columns too."""
    threads(count)
    a, b = operands(m, k, n, dtype)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    for left, right in ((a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b)), (a.T.copy().T, b.T.copy().T)):
        np.testing.assert_allclose(matmul(left, right), a @ b, rtol=tolerance, atol=tolerance * k)
    long_side = max(m, n) // matmul_module.MIN_ROWS_PER_THREAD
    expected = max(1, min(count, long_side)) if m * n * k >= min_parallel_macs() else 1
    assert calls == [expected] * 4


def test_small_products_stay_on_the_calling_thread(threads, calls):
    threads(2)
    a, b = operands(8, 8, 8)
    matmul(a, b)
    assert calls == [1]


def test_a_long_sum_for_a_small_result_stays_on_one_thread(threads):
    """Cut along m or n, each thread would read all of k for a sliver of c (a dL/dW 75 x 6)."""
    threads(4)
    assert matmul_module.threads_for(75, 6, 800_000) == 1
    assert matmul_module.threads_for(300, 6, 800_000) == 4
    assert matmul_module.threads_for(130, 6, 800_000) == 2


def test_a_pass_of_several_products_passes_its_count(threads, calls):
    """A convolution by chunks chooses the count for the whole pass; each product above the floor takes it."""
    threads(2)
    a, b = operands(512, 40, 16)            # 327,680 multiply-adds: above the floor, below most measured thresholds
    matmul(a, b, threads=2)
    matmul(*operands(8, 8, 8), threads=2)   # below the floor: one thread whatever the pass said
    assert calls == [2, 1]


def test_leading_axes_and_out(threads):
    threads(2)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((4, 50, 60)).astype(np.float32), rng.standard_normal((60, 70)).astype(np.float32)
    np.testing.assert_allclose(matmul(x, w), x @ w, rtol=1e-4, atol=1e-4)
    out = np.empty((200, 70), np.float32)
    assert matmul(x.reshape(200, 60), w, out=out) is out
    np.testing.assert_allclose(out, x.reshape(200, 60) @ w, rtol=1e-4, atol=1e-4)
    holder = np.zeros((200, 140), np.float32)
    view = holder[:, ::2]                     # not contiguous: written through a copy
    assert matmul(x.reshape(200, 60), w, out=view) is view
    np.testing.assert_allclose(holder[:, ::2], x.reshape(200, 60) @ w, rtol=1e-4, atol=1e-4)
    assert not holder[:, 1::2].any()


@pytest.mark.parametrize("a, b", [
    (np.arange(12).reshape(3, 4), np.arange(8).reshape(4, 2)),                              # integers
    (np.ones((3, 4), np.float32), np.ones((4, 2), np.float64)),                               # mixed dtypes
    (np.ones((2, 3, 4), np.float32), np.ones((2, 4, 5), np.float32)),                         # a stack on the right
    (np.ones((3, 4), np.complex64), np.ones((4, 2), np.complex64)),
])
def test_what_blas_does_not_take_is_numpys_product(calls, a, b):
    got = matmul(a, b)
    assert calls == []
    assert got.dtype == (a @ b).dtype
    np.testing.assert_array_equal(got, a @ b)


def test_shapes_that_do_not_agree_get_numpys_error():
    with pytest.raises(ValueError, match="matmul"):
        matmul(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))


def test_empty_products(threads):
    threads(2)
    for m, k, n in ((0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)):
        a, b = operands(m, k, n)
        got = matmul(a, b)
        assert got.shape == (m, n)
        np.testing.assert_array_equal(got, np.zeros((m, n), np.float32))


def test_blas_runs_on_one_thread_inside_tinyconvs_threads(threads, monkeypatch):
    """Each part is one single-threaded BLAS call: SciPy's BLAS is at one thread while the parts run."""
    from tinyconv.kernels.cpu.blas_threads import scipy_blas_controller

    library = scipy_blas_controller()
    threads(2)
    seen = []
    real = gemm.gemm
    monkeypatch.setattr(gemm, "gemm", lambda *args: (seen.append(library.num_threads), real(*args))[1])
    matmul(*operands(300, 300, 300))
    assert seen == [1]


def test_without_scipys_blas_it_is_numpys_product(monkeypatch, calls):
    monkeypatch.setattr(matmul_module, "_COMPILED", False)
    a, b = operands(300, 300, 300)
    np.testing.assert_array_equal(matmul(a, b), a @ b)
    assert calls == []


def test_a_dense_layer_runs_on_the_compiled_product(threads, calls):
    """Dense's forward and both products of its backward come here (NumPy's BLAS threads stay idle)."""
    from tinyconv import layers

    threads(2)
    dense = layers.Dense(128)
    x = np.random.default_rng(2).standard_normal((64, 400)).astype(np.float32)
    dense.build(x.shape)
    y = dense.forward(x, training=True)
    dense.backward(np.ones_like(y))
    assert calls == [2, 2, 2]
