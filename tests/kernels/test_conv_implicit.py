"""The implicit-GEMM route (``conv2d/conv_implicit*.pyx``, ``conv2d/implicit_path.py``).

1. every build this CPU runs (portable, AVX2 + FMA, AVX-512: builds.built_variants) matches
   the reference on random shapes (hypothesis): strides, dilation, asymmetric padding, groups,
   filter counts that are not whole blocks (and blocks of one vector), widths that are not
   whole tiles; dL/dx of stride-1 layers, which is itself a forward pass through these
   kernels, and dL/dW summed per batch slice;
2. results do not depend on the thread count;
3. routing: which layers take this path.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinyconv
from tinyconv import geometry
from tinyconv.dispatch import KernelCache
from tinyconv.kernels.cpu import conv2d as fast
from tinyconv.kernels.cpu.conv2d import builds, implicit_path, route
from tinyconv.kernels.reference import conv as ref

from .test_conv_kernels import assert_matches, random_problem

VARIANTS = builds.built_variants("conv_implicit")
pytestmark = pytest.mark.skipif(not VARIANTS, reason="conv_implicit not built")


@pytest.fixture(autouse=True)
def one_thread():
    """dL/dW takes this route only with a batch slice per thread (route.py), so the routing
    checks here run on one thread, whatever the machine's cores; the tests of the thread
    count set their own."""
    before = tinyconv.get_num_threads()
    tinyconv.set_num_threads(1)
    yield
    tinyconv.set_num_threads(before)


@pytest.fixture(params=VARIANTS, ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def variant(request, monkeypatch):
    monkeypatch.setattr(implicit_path, "implicit_kernels", lambda: request.param)
    return request.param


@st.composite
def implicit_problems(draw, stride_one=False):
    """Convolutions the implicit path takes: >= IMPLICIT_MIN_CHANNELS channels and
    >= IMPLICIT_MIN_FILTERS filters per group, any stride (or 1), dilation and padding."""
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    group_channels = draw(st.one_of(st.integers(route.IMPLICIT_MIN_CHANNELS, 12), st.integers(30, 40)))
    group_filters = draw(st.integers(route.IMPLICIT_MIN_FILTERS, 35))   # 1-3 blocks, most partial
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = (1, 1) if stride_one else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["valid", "same", "explicit"]))
    pads = ((0, 0), (0, 0)) if mode != "explicit" else tuple(
        (draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    hw = []
    for k, d, (before, after), most in zip((kh, kw), dilation, pads, (6, 20)):
        smallest = max(1, geometry.effective_kernel_size(k, d) - before - after)
        hw.append(draw(st.integers(smallest, smallest + most)))
    if mode == "same":
        pads = geometry.resolve_padding("same", hw, (kh, kw), strides, dilation)
    if (kh, kw) == (1, 1) and strides == (1, 1) and pads == ((0, 0), (0, 0)) and not stride_one:
        strides = (2, 1)                        # (a 1x1 stride-1 layer stays a plain GEMM)
    return dict(n=draw(st.integers(1, 3)), hw=tuple(hw), channels=groups * group_channels,
                filters=groups * group_filters, kernel_hw=(kh, kw), strides=strides, pads=pads,
                dilation=dilation, groups=groups, bias=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)))


def problem_arrays(problem):
    rng = np.random.default_rng(problem["seed"])
    x, kernel, bias = random_problem(rng, problem["n"], *problem["hw"], problem["channels"], *problem["kernel_hw"],
                                     problem["filters"], problem["groups"], np.float32, problem["bias"])
    args = (problem["strides"], problem["pads"], problem["dilation"], problem["groups"])
    return rng, x, kernel, bias, args


class ForwardSpy:
    """Counts the forward passes that reach the implicit kernels."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = implicit_path.forward

        def counting(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(implicit_path, "forward", counting)


@pytest.fixture
def weight_gradient_calls(monkeypatch):
    """A list that gets one entry per call of implicit_path.weight_gradient."""
    calls = []
    real = implicit_path.weight_gradient
    monkeypatch.setattr(implicit_path, "weight_gradient", lambda *args: calls.append(1) or real(*args))
    return calls


# --- 1. against the reference ------------------------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=implicit_problems())
def test_implicit_matches_reference(variant, monkeypatch, problem):
    spy = ForwardSpy(monkeypatch)
    rng, x, kernel, bias, args = problem_arrays(problem)
    y = fast.conv2d_forward(x, kernel, bias, *args)
    assert spy.calls == 1
    assert_matches(y, ref.conv2d_forward(x, kernel, bias, *args),
                   ref.conv2d_forward(abs(x), abs(kernel), None if bias is None else abs(bias), *args), np.float32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=implicit_problems())
def test_weight_gradient_matches_reference(variant, monkeypatch, problem, weight_gradient_calls):
    """dL/dW summed from the image (its padding staged per band) and dy, in slices of the batch
    (cut small here, so that a slice ends mid-sample); dL/dx alongside, through whichever
    path takes it."""
    monkeypatch.setattr(implicit_path, "MIN_SLICE_PIXELS", 3)
    weight_gradient_calls.clear()            # (one fixture serves every hypothesis example)
    rng, x, kernel, bias, args = problem_arrays(problem)
    dy = rng.standard_normal(ref.conv2d_forward(x, kernel, None, *args).shape).astype(np.float32)
    dx, dkernel, dbias = fast.conv2d_backward(dy, x, kernel, *args)
    assert weight_gradient_calls == [1]
    for got, want, size in zip((dx, dkernel, dbias), ref.conv2d_backward(dy, x, kernel, *args),
                               ref.conv2d_backward(abs(dy), abs(x), abs(kernel), *args)):
        assert_matches(got, want, size, np.float32)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=implicit_problems(stride_one=True))
def test_input_gradient_of_stride_one_layers(variant, monkeypatch, problem):
    """dL/dx of a stride-1 layer is a convolution of dy (entry.py): through these kernels when
    that convolution qualifies (its filters are the layer's channels: 8+ per group)."""
    spy = ForwardSpy(monkeypatch)
    rng, x, kernel, bias, args = problem_arrays(problem)
    dy = rng.standard_normal(ref.conv2d_forward(x, kernel, None, *args).shape).astype(np.float32)
    dx, _, _ = fast.conv2d_backward(dy, x, kernel, *args, kernel_gradient=False)
    chosen = route.conv2d_route(x.shape, kernel.shape, *args, dtype=x.dtype)
    qualifies = chosen.input_gradient == route.IMPLICIT_GEMM and chosen.input_gradient_by_correlation
    assert spy.calls == int(qualifies)
    assert_matches(dx, ref.conv2d_backward(dy, x, kernel, *args)[0],
                   ref.conv2d_backward(abs(dy), abs(x), abs(kernel), *args)[0], np.float32)


def test_vgg_layer_matches_reference_in_float64(variant):
    """A VGG-sized layer (several filter blocks, rows of several tiles) against float64 sums."""
    rng = np.random.default_rng(3)
    x, kernel, bias = random_problem(rng, 2, 17, 23, 32, 3, 3, 40, 1, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    wide = [a.astype(np.float64) for a in (x, kernel, bias)]
    np.testing.assert_allclose(fast.conv2d_forward(x, kernel, bias, *args), ref.conv2d_forward(*wide, *args),
                               rtol=1e-5, atol=1e-4)


# --- 2. thread count ---------------------------------------------------------------------


def test_results_do_not_depend_on_threads(variant):
    rng = np.random.default_rng(7)
    x, kernel, bias = random_problem(rng, 5, 13, 29, 12, 3, 3, 20, 2, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 2)
    dy = rng.standard_normal((5, 13, 29, 20)).astype(np.float32)
    before = tinyconv.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            tinyconv.set_num_threads(threads)
            results.append((fast.conv2d_forward(x, kernel, bias, *args),) + fast.conv2d_backward(dy, x, kernel, *args))
    finally:
        tinyconv.set_num_threads(before)
    for arrays in results[1:]:
        for got, first in zip(arrays, results[0]):
            np.testing.assert_array_equal(got, first)


# --- 3. routing --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, channels, filters, groups, kernel_hw, strides, expected", [
    (np.float32, 16, 16, 1, (3, 3), (1, 1), True),
    (np.float32, 6, 16, 1, (5, 5), (1, 1), True),        # LeNet's second layer
    (np.float32, 64, 64, 1, (1, 1), (2, 2), True),       # strided 1x1: needs a gather, so this path
    (np.float32, 64, 64, 1, (1, 1), (1, 1), False),      # pointwise: the image already is the matrix
    (np.float32, 4, 16, 1, (3, 3), (1, 1), False),       # few channels: the direct path
    (np.float32, 16, 3, 1, (3, 3), (1, 1), False),       # few filters: a block would be mostly zeros
    (np.float32, 16, 8, 4, (3, 3), (1, 1), False),       # 4 channels per group
    (np.float32, 40, 40, 4, (3, 3), (1, 1), True),       # 10 channels and filters per group
    (np.float64, 16, 16, 1, (3, 3), (1, 1), False),      # the micro-kernel is float32
])
def test_which_layers_take_the_implicit_path(dtype, channels, filters, groups, kernel_hw, strides, expected):
    x = np.zeros((2, 8, 8, channels), dtype=dtype)
    kernel = np.zeros(kernel_hw + (channels // groups, filters), dtype=dtype)
    chosen = route.conv2d_route(x.shape, kernel.shape, strides, ((0, 0), (0, 0)), (1, 1), groups, dtype)
    assert (chosen.forward == route.IMPLICIT_GEMM) is expected


def test_layer_forward_and_input_gradient_take_it(monkeypatch, weight_gradient_calls):
    """A float32 3x3 Conv2D in a training step: forward, dL/dx as a forward pass over dy, dL/dW."""
    spy = ForwardSpy(monkeypatch)
    rng = np.random.default_rng(4)
    layer = tinyconv.layers.Conv2D(16, 3, padding="same")
    x = rng.standard_normal((2, 10, 10, 8)).astype(np.float32)
    y = layer(x, training=True)
    layer.backward(np.ones_like(y))
    assert (spy.calls, weight_gradient_calls) == (2, [1])


@pytest.mark.parametrize("filters, implicit_weight_gradient", [(16, True), (6, False)])
def test_first_layers_sum_weight_gradients_by_implicit_gemm(filters, implicit_weight_gradient,
                                                             weight_gradient_calls):
    """An RGB first layer: forward in the direct path; dL/dW by implicit GEMM (then forward
    keeps no planes) unless it has too few filters for a block (LeNet's 6: the direct path)."""
    rng = np.random.default_rng(6)
    x, kernel, bias = random_problem(rng, 3, 9, 10, 3, 3, 3, filters, 1, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    cache = KernelCache()
    y = fast.conv2d_forward(x, kernel, bias, *args, cache=cache)
    assert (cache.kept is None) is implicit_weight_gradient
    dy = rng.standard_normal(y.shape).astype(np.float32)
    _, dkernel, _ = fast.conv2d_backward(dy, x, kernel, *args, input_gradient=False, cache=cache)
    assert len(weight_gradient_calls) == int(implicit_weight_gradient)
    assert_matches(dkernel, ref.conv2d_backward(dy, x, kernel, *args)[1],
                   ref.conv2d_backward(abs(dy), abs(x), abs(kernel), *args)[1], np.float32)


def test_weight_gradient_needs_a_slice_per_thread(monkeypatch, weight_gradient_calls):
    """Sums too big for more than one slice (a 3x3 x 512 -> 512 layer's): on two threads
    dL/dW takes the BLAS paths, whose threads all work; on one thread, the implicit GEMM."""
    monkeypatch.setattr(implicit_path, "WEIGHT_SLICES_BYTES", 1)
    rng = np.random.default_rng(8)
    x, kernel, _ = random_problem(rng, 4, 12, 12, 16, 3, 3, 16, 1, np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = rng.standard_normal((4, 12, 12, 16)).astype(np.float32)
    want = ref.conv2d_backward(dy, x, kernel, *args)[1]
    size = ref.conv2d_backward(abs(dy), abs(x), abs(kernel), *args)[1]
    before = tinyconv.get_num_threads()
    try:
        for threads, expected_calls in ((2, 0), (1, 1)):
            tinyconv.set_num_threads(threads)
            weight_gradient_calls.clear()
            dkernel = fast.conv2d_backward(dy, x, kernel, *args, input_gradient=False)[1]
            assert len(weight_gradient_calls) == expected_calls
            assert_matches(dkernel, want, size, np.float32)
    finally:
        tinyconv.set_num_threads(before)


def test_variant_choice_follows_the_cpu(monkeypatch):
    assert implicit_path.implicit_kernels() is builds.best_build("conv_implicit")    # under TINYCONV_ISA if set
    monkeypatch.delenv("TINYCONV_ISA", raising=False)
    assert builds.best_build("conv_implicit") is VARIANTS[-1]    # the newest this CPU runs
