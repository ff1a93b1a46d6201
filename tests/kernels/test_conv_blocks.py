"""The thread-private block route of the compiled 2-D convolution (``conv_blocks.pyx``, ``block_path.py``).

1. it matches the reference on random shapes (hypothesis), forward and backward, with
   blocks cut small so that a slice of samples spans several blocks and a block several
   samples, and checks numerically in float64;
2. its results do not depend on the thread count (fixed blocks and sample slices);
3. routing: which layers take it, and the chunked path when it is not available;
4. SciPy's BLAS is held at one thread only while it runs.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinyconv
from tinyconv.kernels.cpu import conv2d as fast
from tinyconv.kernels.cpu.conv2d import block_path, route
from tinyconv.kernels.cpu.conv2d.geometry import conv_geometry, correlation_pads, flipped_kernel, is_pointwise
from tinyconv.kernels.reference import conv as ref

from ..gradcheck import numerical_gradient
from .test_conv_kernels import assert_fast_matches_reference, conv_problems, random_problem

blocks = block_path.block_kernels()
pytestmark = pytest.mark.skipif(blocks is None or block_path.blas_context() is None,
                                reason="conv_blocks not built (SciPy missing) or SciPy's BLAS not controllable")


@pytest.fixture(autouse=True)
def no_implicit_gemm(monkeypatch):
    """float32 forward passes go through the implicit GEMM (test_conv_implicit.py) by default;
    here they take the blocks, as float64 and builds without conv_implicit do."""
    monkeypatch.setattr(route, "_implicit_applies", lambda *args, **kwargs: False)
    monkeypatch.setattr(route, "_scatter_applies", lambda *args, **kwargs: False)   # (built with the implicit)


class RouteSpy:
    """Counts the calls that reach conv_blocks."""

    def __init__(self):
        self.forward = self.backward = 0
        self.backward_passes = []        # (dx asked, dW asked) of each backward call

    def block_output_rows(self, *args):
        return blocks.block_output_rows(*args)

    def forward_blocks(self, *args):
        self.forward += 1
        return blocks.forward_blocks(*args)

    def backward_blocks(self, *args):
        self.backward += 1
        dx, partial = args[5], args[6]
        self.backward_passes.append((dx is not None, partial is not None))
        return blocks.backward_blocks(*args)


@pytest.fixture
def spy(monkeypatch):
    spy = RouteSpy()
    monkeypatch.setattr(block_path, "block_kernels", lambda: spy)
    return spy


@pytest.fixture
def every_layer_on_blocks(monkeypatch, spy):
    """Route even few-channel layers through the blocks, cut to a few output rows each."""
    monkeypatch.setattr(route, "_direct_applies", lambda *args: False)
    monkeypatch.setattr(route, "BLOCK_MIN_GROUP_CHANNELS", 1)
    monkeypatch.setattr(block_path, "WEIGHT_SLICE_MIN_ROWS", 1)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 64)
    return spy


def with_threads(n, function):
    before = tinyconv.get_num_threads()
    try:
        tinyconv.set_num_threads(n)
        return function()
    finally:
        tinyconv.set_num_threads(before)


# --- 1. matches the reference --------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=conv_problems(), dtype=st.sampled_from([np.float32, np.float64]))
def test_blocks_match_reference(every_layer_on_blocks, problem, dtype):
    rng = np.random.default_rng(problem["seed"])
    x, kernel, bias = random_problem(rng, problem["n"], *problem["hw"], problem["channels"], *problem["kernel_hw"],
                                     problem["filters"], problem["groups"], dtype, problem["bias"])
    before = (every_layer_on_blocks.forward, every_layer_on_blocks.backward)
    with_threads(1, lambda: assert_fast_matches_reference(x, kernel, bias, problem["strides"], problem["pads"],
                                                          problem["dilation"], problem["groups"], rng))
    if not is_pointwise(kernel.shape, problem["strides"], problem["pads"]):   # (1x1: a GEMM of x itself)
        assert every_layer_on_blocks.backward == before[1] + 1
        # forward, and again for dL/dx when that is a convolution of dy (stride 1)
        correlated = correlation_pads(conv_geometry(x.shape, kernel.shape, problem["strides"], problem["pads"],
                                                    problem["dilation"], (1, 1)), problem["pads"])
        assert every_layer_on_blocks.forward == before[0] + 1 + (correlated is not None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_wide_layers_take_the_blocks_by_default(spy, groups, dtype):
    """Layers with >= BLOCK_MIN_GROUP_CHANNELS channels per group, at their real block size,
    on every thread; more samples than slices, so a slice holds several."""
    rng = np.random.default_rng(0)
    channels = route.BLOCK_MIN_GROUP_CHANNELS * groups
    x, kernel, bias = random_problem(rng, block_path.MAX_WEIGHT_SLICES + 3, 13, 11, channels, 3, 3, channels, groups, dtype)
    assert_fast_matches_reference(x, kernel, bias, (1, 1), ((1, 1), (1, 1)), (1, 1), groups, rng)
    assert (spy.forward, spy.backward) == (2, 1)      # dL/dx: a forward pass over dy


def test_gradients_match_central_differences(every_layer_on_blocks):
    rng = np.random.default_rng(7)
    x, kernel, _ = random_problem(rng, 3, 5, 6, 4, 3, 2, 4, 2)
    args = ((2, 1), ((1, 1), (0, 1)), (1, 2), 2)
    dy = rng.standard_normal(ref.conv2d_forward(x, kernel, None, *args).shape)
    dx, dkernel, _ = fast.conv2d_backward(dy, x, kernel, *args)
    loss = lambda: float(np.sum(fast.conv2d_forward(x, kernel, None, *args) * dy))   # noqa: E731
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dkernel, numerical_gradient(loss, kernel), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("input_gradient, kernel_gradient", [(True, False), (False, True)])
def test_one_gradient_only(every_layer_on_blocks, input_gradient, kernel_gradient):
    rng = np.random.default_rng(8)
    x, kernel, _ = random_problem(rng, 4, 6, 7, 3, 3, 3, 5, 1, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = rng.standard_normal((4, 6, 7, 5)).astype(np.float32)
    full = fast.conv2d_backward(dy, x, kernel, *args)
    dx, dkernel, dbias = fast.conv2d_backward(dy, x, kernel, *args, input_gradient=input_gradient,
                                              kernel_gradient=kernel_gradient)
    assert (dx is None) != input_gradient and (dkernel is None) != kernel_gradient
    for got, want in ((dx, full[0]), (dkernel, full[1]), (dbias, full[2])):
        if got is not None:
            np.testing.assert_array_equal(got, want)


def test_fewer_samples_than_weight_slices(every_layer_on_blocks):
    """Slices with no sample must add nothing to dL/dW (their sums are zeroed, not left as garbage)."""
    rng = np.random.default_rng(9)
    x, kernel, bias = random_problem(rng, 2, 5, 5, 3, 3, 3, 4, 1, np.float32)
    assert block_path.weight_gradient_slices(2, 25, 27, 4, 4) == 2
    assert_fast_matches_reference(x, kernel, bias, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, rng)


# --- 2. independent of the thread count -------------------------------------------------------


def test_results_do_not_depend_on_the_thread_count(every_layer_on_blocks):
    rng = np.random.default_rng(10)
    x, kernel, bias = random_problem(rng, 6, 9, 8, 5, 3, 3, 7, 1, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = rng.standard_normal((6, 9, 8, 7)).astype(np.float32)

    def run():
        return (fast.conv2d_forward(x, kernel, bias, *args),) + fast.conv2d_backward(dy, x, kernel, *args)

    one, two = with_threads(1, run), with_threads(2, run)
    assert every_layer_on_blocks.backward == 2
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


# --- 3. routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_channel_layers_keep_the_chunked_path_but_for_dx(spy, dtype):
    """Forward and dL/dW of few channels stay on the chunks (their im2col copies are short), while
    dL/dx, which needs no im2col, goes by blocks on its own."""
    rng = np.random.default_rng(11)
    x, kernel, bias = random_problem(rng, 2, 6, 6, route.BLOCK_MIN_GROUP_CHANNELS - 1, 3, 3, 4, 1, dtype)
    assert_fast_matches_reference(x, kernel, bias, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, rng)
    assert spy.forward == 0
    assert spy.backward_passes and set(spy.backward_passes) == {(True, False)}
    chosen = route.conv2d_route(x.shape, kernel.shape, pads=((1, 1), (1, 1)), dtype=dtype, training=True)
    assert chosen.input_gradient == route.BLOCKS and not chosen.input_gradient_by_correlation
    assert chosen.weight_gradient != route.BLOCKS


def test_chunked_path_when_blas_threads_cannot_be_held(spy, monkeypatch):
    monkeypatch.setattr(block_path, "blas_controllable", lambda: False)
    rng = np.random.default_rng(12)
    x, kernel, bias = random_problem(rng, 3, 7, 6, 12, 3, 3, 5, 1, np.float32)
    assert_fast_matches_reference(x, kernel, bias, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, rng)
    assert (spy.forward, spy.backward) == (0, 0)


def test_backward_keeps_chunks_when_slices_cannot_feed_every_thread(spy, monkeypatch):
    """dL/dW is summed per sample slice: with fewer slices than threads, BLAS's own threads do better."""
    monkeypatch.setattr(block_path, "WEIGHT_SLICES_BYTES", 1)      # room for one slice only
    rng = np.random.default_rng(13)
    x, kernel, bias = random_problem(rng, 4, 20, 20, 12, 3, 3, 12, 1, np.float32)

    def run():
        assert_fast_matches_reference(x, kernel, bias, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, rng)

    with_threads(2, run)
    assert (spy.forward, spy.backward) == (1, 0)
    with_threads(1, run)
    assert (spy.forward, spy.backward) == (3, 1)


def test_weight_slices_depend_on_shapes_only():
    assert block_path.weight_gradient_slices(64, 1024, 288, 32, 4) == block_path.MAX_WEIGHT_SLICES
    assert block_path.weight_gradient_slices(3, 1024, 288, 32, 4) == 3
    per_slice = 4608 * 512 * 4                                 # a 3x3 512 -> 512 layer's dL/dW
    assert block_path.weight_gradient_slices(64, 1024, 4608, 512, 4) == block_path.WEIGHT_SLICES_BYTES // per_slice
    assert block_path.weight_gradient_slices(32, 64, 576, 64, 4) == 32 * 64 // block_path.WEIGHT_SLICE_MIN_ROWS


@pytest.mark.parametrize("strides, pads, dilation, expected", [
    ((1, 1), ((1, 1), (0, 1)), (1, 1), ((1, 1), (1, 0))),       # 'same' 3x2: dy padded like x, mirrored
    ((1, 1), ((0, 0), (0, 0)), (1, 1), ((2, 2), (1, 1))),       # 'valid' 3x2: the "full" convolution
    ((1, 1), ((1, 0), (2, 2)), (2, 1), ((3, 4), (-1, -1))),     # padding beyond the kernel's reach
    ((2, 1), ((1, 1), (1, 1)), (1, 1), None),                   # strided
])
def test_correlation_pads(strides, pads, dilation, expected):
    x, kernel = np.zeros((1, 9, 9, 2)), np.zeros((3, 2, 2, 2))
    out_hw = [(size + sum(pad) - (k - 1) * d - 1) // s + 1
              for size, pad, k, d, s in zip((9, 9), pads, (3, 2), dilation, strides)]
    geo = conv_geometry(x.shape, kernel.shape, strides, pads, dilation, out_hw)
    expected = None if expected is None or min(expected[0] + expected[1]) < 0 else expected
    assert correlation_pads(geo, pads) == expected


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_flipped_kernel_is_the_gradient_kernel(groups):
    """dL/dx of a stride-1 layer equals the correlation of dy with the flipped kernel."""
    rng = np.random.default_rng(14)
    x, kernel, _ = random_problem(rng, 2, 7, 6, 2 * groups, 3, 2, 3 * groups, groups)
    pads, dilation = ((2, 0), (1, 1)), (1, 2)
    dy = rng.standard_normal(ref.conv2d_forward(x, kernel, None, (1, 1), pads, dilation, groups).shape)
    geo = conv_geometry(x.shape, kernel.shape, (1, 1), pads, dilation, dy.shape[1:3])
    dx = ref.conv2d_forward(dy, flipped_kernel(kernel, groups), None, (1, 1),
                            correlation_pads(geo, pads), dilation, groups)
    np.testing.assert_allclose(dx, ref.conv2d_backward(dy, x, kernel, (1, 1), pads, dilation, groups)[0],
                               rtol=1e-12, atol=1e-12)


# --- 4. SciPy's BLAS threads ------------------------------------------------------------------------


def test_a_blas_shared_with_numpy_is_held_at_one_thread_only_inside_the_context(monkeypatch):
    from tinyconv.kernels.cpu import blas_threads

    library = blas_threads.scipy_blas_controller()
    monkeypatch.setattr(blas_threads, "_scipy_blas", lambda: (library, False))   # as on conda: one BLAS
    before = library.num_threads
    library.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError):
            with blas_threads.single_threaded_blas():
                assert library.num_threads == 1
                raise RuntimeError("a failing kernel still gives the threads back")
        assert library.num_threads == 2
    finally:
        library.set_num_threads(before)


def test_scipys_own_blas_is_pinned_at_one_thread():
    from tinyconv.kernels.cpu import blas_threads

    library, separate = blas_threads._scipy_blas()
    if not separate:
        pytest.skip("NumPy and SciPy share one BLAS here")
    with blas_threads.single_threaded_blas():
        assert library.num_threads == 1
    assert library.num_threads == 1
    assert blas_threads.is_pinned(library.filepath)


def test_numpy_blas_keeps_its_threads_during_the_blocks():
    """Only SciPy's library is held; NumPy's (a separate one in the wheels) is left alone."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from tinyconv.kernels.cpu import blas_threads

    held = blas_threads.scipy_blas_controller()
    numpy_blas = [lib for lib in threadpoolctl.ThreadpoolController().lib_controllers
                  if lib.user_api == "blas" and lib.filepath != held.filepath]
    if not numpy_blas:
        pytest.skip("NumPy and SciPy share one BLAS here")
    before = numpy_blas[0].num_threads
    with blas_threads.single_threaded_blas():
        assert numpy_blas[0].num_threads == before
