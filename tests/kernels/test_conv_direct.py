"""The direct route for few-channel layers (``conv2d/conv_direct*.pyx``, ``conv2d/direct_path.py``).

1. every build this CPU runs (portable, AVX2 + FMA, AVX-512: builds.built_variants) matches
   the reference on random shapes (hypothesis): forward, dL/dW from the kept planes, dL/dx
   through im2col;
2. results do not depend on the thread count;
3. routing: which layers take it, planes kept and reused, stale planes never used;
4. a Conv2D shared by two calls in a functional model gets the gradients of both calls
   (a kept buffer must not be overwritten by the second call before the first's backward).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinyconv
from tinyconv import layers, dispatch
from tinyconv import geometry
from tinyconv.dispatch import KernelCache
from tinyconv.kernels.cpu import conv2d as fast
from tinyconv.kernels.cpu.conv2d import builds, direct_path, route
from tinyconv.kernels.reference import conv as ref

from .test_conv_kernels import assert_matches, random_problem


VARIANTS = builds.built_variants("conv_direct")
pytestmark = pytest.mark.skipif(not VARIANTS, reason="conv_direct not built")


@pytest.fixture(autouse=True)
def direct_weight_gradient(monkeypatch):
    """Layers with 8+ filters sum dL/dW by implicit GEMM by default (test_conv_implicit.py);
    here the direct route's own dL/dW is under test."""
    monkeypatch.setattr(route, "_implicit_weight_gradient_route", lambda *args: None)


@pytest.fixture(params=VARIANTS, ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def variant(request, monkeypatch):
    monkeypatch.setattr(direct_path, "direct_kernels", lambda: request.param)
    return request.param


@st.composite
def few_channel_problems(draw):
    """Stride-1, one-group convolutions with 1-4 channels: widths around the run length."""
    channels, filters = draw(st.integers(1, 4)), draw(st.integers(1, 10))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["valid", "same", "explicit"]))
    pads = ((0, 0), (0, 0)) if mode != "explicit" else tuple(
        (draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    hw = []
    for k, d, (before, after), most in zip((kh, kw), dilation, pads, (9, 40)):
        smallest = max(1, geometry.effective_kernel_size(k, d) - before - after)
        hw.append(draw(st.integers(smallest, smallest + most)))
    if mode == "same":
        pads = geometry.resolve_padding("same", hw, (kh, kw), (1, 1), dilation)
    return dict(n=draw(st.integers(1, 3)), hw=tuple(hw), channels=channels, filters=filters, kernel_hw=(kh, kw),
                pads=pads, dilation=dilation, bias=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)))


def problem_arrays(problem):
    rng = np.random.default_rng(problem["seed"])
    x, kernel, bias = random_problem(rng, problem["n"], *problem["hw"], problem["channels"], *problem["kernel_hw"],
                                     problem["filters"], 1, np.float32, problem["bias"])
    args = ((1, 1), problem["pads"], problem["dilation"], 1)
    return rng, x, kernel, bias, args


def forward_keeping(x, kernel, bias, *args, spare=None):
    """(y, what forward kept in its KernelCache); ``spare``: a buffer of an earlier step."""
    cache = KernelCache()
    cache.spare = spare
    y = fast.conv2d_forward(x, kernel, bias, *args, cache=cache)
    return y, cache.kept


def backward_from(dy, x, kernel, *args, kept, input_gradient=True):
    """(dx, dkernel, dbias) with ``kept`` handed to backward as forward's KernelCache."""
    cache = KernelCache()
    cache.kept = kept
    return fast.conv2d_backward(dy, x, kernel, *args, input_gradient=input_gradient, cache=cache)


def direct_pass(x, kernel, bias, args, dy, input_gradient=True):
    y, kept = forward_keeping(x, kernel, bias, *args)
    assert isinstance(kept, direct_path.PlanarInput), "this layer should take the direct route"
    return y, backward_from(dy, x, kernel, *args, kept=kept, input_gradient=input_gradient)


# --- 1. against the reference ------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=few_channel_problems())
def test_direct_matches_reference(variant, problem):
    rng, x, kernel, bias, args = problem_arrays(problem)
    y_ref = ref.conv2d_forward(x, kernel, bias, *args)
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    y, (dx, dkernel, dbias) = direct_pass(x, kernel, bias, args, dy)

    assert_matches(y, y_ref, ref.conv2d_forward(abs(x), abs(kernel), None if bias is None else abs(bias), *args),
                   np.float32)
    for got, want, size in zip((dx, dkernel, dbias), ref.conv2d_backward(dy, x, kernel, *args),
                               ref.conv2d_backward(abs(dy), abs(x), abs(kernel), *args)):
        assert_matches(got, want, size, np.float32)


def test_lenet_first_layer_matches_reference(variant):
    """The benchmark's shape: 28 columns (not a whole number of runs), 6 filters (not of blocks)."""
    rng = np.random.default_rng(5)
    x, kernel, bias = random_problem(rng, 8, 28, 28, 1, 5, 5, 6, 1, np.float32)
    args = ((1, 1), ((2, 2), (2, 2)), (1, 1), 1)
    dy = rng.standard_normal((8, 28, 28, 6)).astype(np.float32)
    y, (dx, dkernel, dbias) = direct_pass(x, kernel, bias, args, dy, input_gradient=False)
    assert dx is None
    wide = [a.astype(np.float64) for a in (x, kernel, bias, dy)]
    np.testing.assert_allclose(y, ref.conv2d_forward(*wide[:3], *args), rtol=1e-5, atol=1e-4)
    _, dkernel_ref, dbias_ref = ref.conv2d_backward(wide[3], wide[0], wide[1], *args)
    np.testing.assert_allclose(dkernel, dkernel_ref, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(dbias, dbias_ref, rtol=1e-5, atol=1e-3)


# --- 2. thread count ---------------------------------------------------------------------


def test_results_do_not_depend_on_threads(variant):
    rng = np.random.default_rng(7)
    x, kernel, bias = random_problem(rng, 9, 21, 37, 3, 3, 3, 7, 1, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = rng.standard_normal((9, 21, 37, 7)).astype(np.float32)
    before = tinyconv.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            tinyconv.set_num_threads(threads)
            y, grads = direct_pass(x, kernel, bias, args, dy, input_gradient=False)
            results.append((y, grads[1]))
    finally:
        tinyconv.set_num_threads(before)
    for y, dkernel in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(dkernel, results[0][1])


# --- 3. routing --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, channels, strides, groups, expected", [
    (np.float32, 1, (1, 1), 1, True),
    (np.float32, 4, (1, 1), 1, True),
    (np.float32, 5, (1, 1), 1, False),      # more channels: im2col + GEMM
    (np.float64, 3, (1, 1), 1, False),      # the micro-kernels are float32
    (np.float32, 3, (2, 2), 1, False),      # strided runs are not consecutive numbers
    (np.float32, 4, (1, 1), 2, False),
])
def test_which_layers_take_the_direct_path(dtype, channels, strides, groups, expected):
    x = np.zeros((1, 8, 8, channels), dtype)
    kernel = np.zeros((3, 3, channels // groups, 4), dtype)
    chosen = route.conv2d_route(x.shape, kernel.shape, strides, ((1, 1), (1, 1)), (1, 1), groups, dtype)
    assert (chosen.forward == route.DIRECT) is expected
    _, kept = forward_keeping(x, kernel, None, strides, ((1, 1), (1, 1)), (1, 1), groups)
    assert isinstance(kept, direct_path.PlanarInput) is expected


def test_planes_are_reused_and_stale_planes_ignored(variant):
    rng = np.random.default_rng(3)
    x, kernel, bias = random_problem(rng, 2, 10, 10, 2, 3, 3, 5, 1, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    _, first = forward_keeping(x, kernel, bias, *args)
    other = rng.standard_normal(x.shape).astype(np.float32)
    _, second = forward_keeping(other, kernel, bias, *args, spare=first)
    assert second.planes is first.planes                      # same shape: the buffer is reused
    assert forward_keeping(x, kernel, None, *args, spare=None)[1] is not None
    # The kept planes now hold `other`: backward for `x` must not use them.
    dy = rng.standard_normal((2, 10, 10, 5)).astype(np.float32)
    _, dkernel, _ = backward_from(dy, x, kernel, *args, kept=second)
    wide = [a.astype(np.float64) for a in (dy, x, kernel)]
    np.testing.assert_allclose(dkernel, ref.conv2d_backward(*wide, *args)[1], rtol=1e-4, atol=1e-4)


def test_inference_keeps_nothing():
    x = np.ones((1, 6, 6, 1), np.float32)
    layer = layers.Conv2D(2, 3)
    layer.build_for((None, 6, 6, 1))
    layer.forward(x, training=False)
    assert getattr(layer, "_kernel_cache", None) is None      # no KernelCache: nothing kept


def test_variant_choice_follows_the_cpu(monkeypatch):
    assert direct_path.direct_kernels() is builds.best_build("conv_direct")    # under TINYCONV_ISA if set
    monkeypatch.delenv("TINYCONV_ISA", raising=False)
    assert builds.best_build("conv_direct") is VARIANTS[-1]    # the newest this CPU runs


# --- 4. shared layers --------------------------------------------------------------------


def shared_conv_weights(kernels, channels):
    """Weights after one SGD step of a model that calls one Conv2D twice."""
    rng = np.random.default_rng(0)
    before = dispatch.active_kernels()
    dispatch.set_kernels(kernels)
    try:
        inputs = tinyconv.Input((10, 10, channels))
        conv = layers.Conv2D(channels, 3, padding="same", activation="tanh")
        outputs = layers.Dense(3)(layers.Flatten()(conv(conv(inputs))))
        model = tinyconv.Model(inputs, outputs)
        model.compile(optimizer=tinyconv.optimizers.SGD(0.01), loss="mse")
        model.set_weights([(0.3 * rng.standard_normal(w.shape)).astype(np.float32) for w in model.get_weights()])
        x = rng.standard_normal((4, 10, 10, channels)).astype(np.float32)
        y = rng.standard_normal((4, 3)).astype(np.float32)
        for _ in range(2):   # the second step reuses the buffers the first one kept
            model.train_on_batch(x, y)
        return model.get_weights()
    finally:
        dispatch.set_kernels(before)


@pytest.mark.parametrize("channels", [2, 6, 12])   # direct, kept columns, implicit GEMM
def test_shared_conv_layer_gets_both_calls_gradients(channels):
    for got, want in zip(shared_conv_weights("cpu", channels), shared_conv_weights("reference", channels)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_planes_of_another_geometry_are_not_used(variant):
    """Planes kept for a 3x3 'same' kernel (padded by 1), handed to backward for a 5x5 'same'
    one (padded by 2) on the same input: backward recomputes instead of reading them."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 9, 9, 1)).astype(np.float32)
    small, large = (rng.standard_normal((k, k, 1, 3)).astype(np.float32) for k in (3, 5))
    _, kept = forward_keeping(x, small, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = rng.standard_normal((2, 9, 9, 3)).astype(np.float32)
    args = ((1, 1), ((2, 2), (2, 2)), (1, 1), 1)
    _, dkernel, _ = backward_from(dy, x, large, *args, kept=kept)
    wide = [a.astype(np.float64) for a in (dy, x, large)]
    np.testing.assert_allclose(dkernel, ref.conv2d_backward(*wide, *args)[1], rtol=1e-4, atol=1e-4)
