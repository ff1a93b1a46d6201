"""The routing table of the compiled 2-D convolution (``conv2d/route.py``) tells the truth.

For layers covering every route, spies on the routes' functions check that the route which
runs forward, dL/dW and dL/dx is the one ``conv2d_route`` names; the entry points ask the
router once per call (no route goes back through it); the answer is public and readable.
"""
import numpy as np
import pytest

import tinyconv
from tinyconv.dispatch import KernelCache
from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import conv2d
from tinyconv.kernels.cpu.conv2d import (block_path, chunked_path, direct_path, implicit_path, pointwise_path,
                                         route, scatter_path)
from tinyconv.kernels.reference import conv as ref

SAME3 = ((1, 1), (1, 1))
VALID = ((0, 0), (0, 0))
BLOCKS_BUILT = block_path.available()


@pytest.fixture(autouse=True)
def two_threads():
    """The routes depend on the thread count: the layers below are sized for two."""
    before = tinyconv.get_num_threads()
    tinyconv.set_num_threads(2)
    yield
    tinyconv.set_num_threads(before)


class Spy:
    """Records the route of every route function the entry points call."""

    def __init__(self, monkeypatch):
        self.calls = []
        self._wrap(monkeypatch, direct_path, "forward", route.DIRECT)
        self._wrap(monkeypatch, direct_path, "weight_gradient", route.DIRECT)
        self._wrap(monkeypatch, implicit_path, "forward", route.IMPLICIT_GEMM)
        self._wrap(monkeypatch, implicit_path, "weight_gradient", route.IMPLICIT_GEMM)
        self._wrap(monkeypatch, pointwise_path, "forward", route.POINTWISE_GEMM)
        self._wrap(monkeypatch, pointwise_path, "backward", route.POINTWISE_GEMM)
        self._wrap(monkeypatch, block_path, "forward", route.BLOCKS)
        self._wrap(monkeypatch, block_path, "backward", route.BLOCKS)
        self._wrap(monkeypatch, scatter_path, "input_gradient", route.SCATTER)
        self._wrap(monkeypatch, chunked_path, "forward", route.IM2COL_CHUNKS)
        real_backward = chunked_path.backward

        def chunked_backward(*args, **kwargs):
            columns = args[6] if len(args) > 6 else kwargs.get("columns")
            self.calls.append(route.IM2COL_CHUNKS if columns is None else route.KEPT_COLUMNS)
            return real_backward(*args, **kwargs)

        monkeypatch.setattr(chunked_path, "backward", chunked_backward)

    def _wrap(self, monkeypatch, module, name, label):
        real = getattr(module, name)

        def recording(*args, **kwargs):
            self.calls.append(label)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)

    def take(self):
        calls, self.calls = self.calls, []
        return calls


# dL/dx of a few-channel layer: scattered in float32 where the implicit kernels are built, else by
# blocks (it needs no im2col) where they are
FEW_CHANNEL_DX = route.BLOCKS if BLOCKS_BUILT else route.IM2COL_CHUNKS
FEW_CHANNEL_DX_F32 = route.SCATTER if implicit_path.implicit_kernels() is not None else FEW_CHANNEL_DX

# (x shape, kernel shape, strides, pads, dtype, training, the routes expected here: forward, dW, dx)
LAYERS = {
    "direct first layer, planes kept": ((2, 8, 8, 1), (3, 3, 1, 6), (1, 1), SAME3, np.float32, True,
                                        (route.DIRECT, route.DIRECT, FEW_CHANNEL_DX_F32)),
    "direct forward, implicit dW": ((2, 8, 8, 3), (3, 3, 3, 16), (1, 1), SAME3, np.float32, True,
                                    (route.DIRECT, route.IMPLICIT_GEMM, FEW_CHANNEL_DX_F32)),
    "implicit 3x3": ((2, 10, 10, 16), (3, 3, 16, 16), (1, 1), SAME3, np.float32, True,
                     (route.IMPLICIT_GEMM, route.IMPLICIT_GEMM, route.IMPLICIT_GEMM)),
    "pointwise": ((2, 6, 6, 16), (1, 1, 16, 8), (1, 1), VALID, np.float64, True,
                  (route.POINTWISE_GEMM,) * 3),
    "kept columns": ((2, 8, 8, 3), (3, 3, 3, 4), (1, 1), SAME3, np.float64, True,
                     (route.IM2COL_CHUNKS, route.KEPT_COLUMNS, FEW_CHANNEL_DX)),
    "chunks, inference": ((2, 8, 8, 3), (3, 3, 3, 4), (2, 2), SAME3, np.float64, False,
                          (route.IM2COL_CHUNKS, route.IM2COL_CHUNKS, FEW_CHANNEL_DX)),
    "blocks, strided": ((4, 10, 10, 12), (3, 3, 12, 12), (2, 2), SAME3, np.float64, True,
                        (route.BLOCKS,) * 3),
    "blocks, dx by correlation": ((4, 24, 24, 12), (3, 3, 12, 12), (1, 1), SAME3, np.float64, True,
                                  (route.BLOCKS,) * 3),
}


def run_and_spy(spy, x, kernel, strides, pads, training):
    """(forward's routes, dW's routes, dx's routes) as the spy saw them, results checked."""
    args = (strides, pads, (1, 1), 1)
    cache = KernelCache() if training else None
    y = conv2d.conv2d_forward(x, kernel, None, *args, cache=cache)
    forward = spy.take()
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
    _, dkernel, _ = conv2d.conv2d_backward(dy, x, kernel, *args, input_gradient=False, cache=cache)
    weight_gradient = spy.take()
    dx, _, _ = conv2d.conv2d_backward(dy, x, kernel, *args, kernel_gradient=False, cache=cache)
    input_gradient = spy.take()
    wide = [a.astype(np.float64) for a in (dy, x, kernel)]
    want_dx, want_dkernel, _ = ref.conv2d_backward(*wide, *args)
    tolerance = 1e-4 if x.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(dkernel, want_dkernel, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dx, want_dx, rtol=tolerance, atol=tolerance)
    return forward, weight_gradient, input_gradient


@pytest.mark.parametrize("name", list(LAYERS))
def test_the_route_that_runs_is_the_one_conv2d_route_names(name, monkeypatch):
    x_shape, kernel_shape, strides, pads, dtype, training, expected = LAYERS[name]
    if route.BLOCKS in expected and not BLOCKS_BUILT:
        pytest.skip("conv_blocks not built (SciPy missing) or SciPy's BLAS not controllable")
    rng = np.random.default_rng(0)
    x, kernel = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(kernel_shape).astype(dtype)
    chosen = conv2d.conv2d_route(x_shape, kernel_shape, strides, pads, (1, 1), 1, dtype, training=training)
    spy = Spy(monkeypatch)
    forward, weight_gradient, input_gradient = run_and_spy(spy, x, kernel, strides, pads, training)
    assert forward == [chosen.forward]
    assert weight_gradient == [chosen.weight_gradient]
    assert input_gradient == [chosen.input_gradient]
    # and the layers above cover the routes they are named for
    assert (chosen.forward, chosen.weight_gradient, chosen.input_gradient) == expected


def test_every_route_is_covered():
    covered = {name for layer in LAYERS.values() for name in layer[-1]}
    assert covered == {route.DIRECT, route.IMPLICIT_GEMM, route.POINTWISE_GEMM, route.BLOCKS, route.SCATTER,
                       route.KEPT_COLUMNS, route.IM2COL_CHUNKS}


def test_dx_by_correlation_runs_the_forward_of_its_route(monkeypatch):
    """dL/dx of a stride-1 blocks layer: the blocks' forward over dy, not their backward."""
    if not BLOCKS_BUILT:
        pytest.skip("conv_blocks not built")
    shape = (4, 24, 24, 12)
    chosen = conv2d.conv2d_route(shape, (3, 3, 12, 12), (1, 1), SAME3, (1, 1), 1, np.float64)
    assert chosen.input_gradient_by_correlation
    stride2 = conv2d.conv2d_route(shape, (3, 3, 12, 12), (2, 2), SAME3, (1, 1), 1, np.float64)
    assert not stride2.input_gradient_by_correlation
    seen = []
    real = block_path.forward
    monkeypatch.setattr(block_path, "forward", lambda *args: seen.append(args[0].shape) or real(*args))
    rng = np.random.default_rng(2)
    x, kernel = rng.standard_normal(shape), rng.standard_normal((3, 3, 12, 12))
    dy = rng.standard_normal(shape)
    conv2d.conv2d_backward(dy, x, kernel, (1, 1), SAME3, (1, 1), 1, kernel_gradient=False)
    assert seen == [dy.shape]


def test_entry_points_ask_the_router_once_per_call(monkeypatch):
    calls = []
    real = route.conv2d_route
    monkeypatch.setattr(route, "conv2d_route", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    rng = np.random.default_rng(3)
    for x_shape, kernel_shape, strides, pads, dtype, training, _ in LAYERS.values():
        x, kernel = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(kernel_shape).astype(dtype)
        cache = KernelCache() if training else None
        y = conv2d.conv2d_forward(x, kernel, None, strides, pads, (1, 1), 1, cache=cache)
        assert len(calls) == 1
        conv2d.conv2d_backward(np.ones_like(y), x, kernel, strides, pads, (1, 1), 1, cache=cache)
        assert len(calls) == 2
        calls.clear()


def test_builds_without_scipy_or_the_float32_routes_fall_back_to_chunks(monkeypatch):
    monkeypatch.setattr(block_path, "block_kernels", lambda: None)
    monkeypatch.setattr(implicit_path, "implicit_kernels", lambda: None)
    monkeypatch.setattr(direct_path, "direct_kernels", lambda: None)
    for dtype in (np.float32, np.float64):
        chosen = conv2d.conv2d_route((4, 10, 10, 12), (3, 3, 12, 12), (2, 2), SAME3, (1, 1), 1, dtype)
        assert (chosen.forward, chosen.weight_gradient, chosen.input_gradient) == (route.IM2COL_CHUNKS,) * 3
        first = conv2d.conv2d_route((4, 10, 10, 1), (3, 3, 1, 6), (1, 1), SAME3, (1, 1), 1, dtype, training=True)
        assert (first.forward, first.weight_gradient, first.kept) == (route.IM2COL_CHUNKS, route.KEPT_COLUMNS,
                                                                      "columns")


def test_thread_count_decides_the_implicit_weight_gradient(monkeypatch):
    """A layer whose dL/dW sums fit one slice only: implicit GEMM on one thread, not on two."""
    monkeypatch.setattr(implicit_path, "WEIGHT_SLICES_BYTES", 1)
    layer = ((4, 12, 12, 16), (3, 3, 16, 16), (1, 1), SAME3, (1, 1), 1, np.float32)
    assert conv2d.conv2d_route(*layer, threads=1).weight_gradient == route.IMPLICIT_GEMM
    assert conv2d.conv2d_route(*layer, threads=2).weight_gradient != route.IMPLICIT_GEMM


def test_route_is_public_and_gives_a_reason_per_pass():
    assert cpu.conv2d_route is conv2d.conv2d_route is route.conv2d_route
    chosen = cpu.conv2d_route((8, 32, 32, 3), (3, 3, 3, 32), (1, 1), SAME3, (1, 1), 1)
    assert isinstance(chosen, conv2d.Conv2DRoute)
    assert set(chosen.reasons) == {"forward", "weight_gradient", "input_gradient"}
    assert all(isinstance(reason, str) and reason for reason in chosen.reasons.values())
    assert "channels" in chosen.reasons["forward"]


def test_the_router_counts_threads_as_the_compiled_passes_do():
    from tinyconv.kernels.cpu import threads

    least = route.PARALLEL_MIN_ELEMENTS
    assert route.threads_for(least - 1, threads=4) == 1
    assert route.threads_for(least, threads=4) == 4
    elements = threads.min_parallel_elements()           # the other compiled passes, at their floor here
    if threads.openmp_enabled() and threads.get_num_threads() > 1:
        assert threads.team_size_of_pass(elements - 1) == 1
        assert threads.team_size_of_pass(elements) == threads.get_num_threads()


def test_passes_not_asked_for_are_left_undecided():
    layer = ((2, 8, 8, 1), (3, 3, 1, 6), (1, 1), SAME3, (1, 1), 1, np.float32)
    whole = conv2d.conv2d_route(*layer, training=True)
    forward = conv2d.conv2d_route(*layer, training=True, passes=("forward",))
    assert (forward.forward, forward.kept, forward.weight_gradient, forward.input_gradient) == \
        (whole.forward, whole.kept, None, None)
    backward = conv2d.conv2d_route(*layer, kept=whole.kept, passes=("weight_gradient", "input_gradient"))
    assert (backward.forward, backward.weight_gradient, backward.input_gradient) == \
        (None, whole.weight_gradient, whole.input_gradient)
    assert set(backward.reasons) == {"weight_gradient", "input_gradient"}
