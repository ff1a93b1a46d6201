"""The scatter route for dL/dx of few-channel layers (``scatter_path.py``, ``conv_scatter_body.pxi``).

1. it matches the reference on random shapes (hypothesis): strides, padding, kernels of every
   size up to the registers' limit, four-row columns and the rows left over;
2. its result does not depend on the thread count, and an inf in dy reaches only the input
   pixels that dy pixel was computed from (the lanes a vector reaches past a kernel row keep dx);
3. routing: the few-channel float32 layers take it, the others do not.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinyconv
from tinyconv import geometry
from tinyconv.kernels.cpu import conv2d as fast
from tinyconv.kernels.cpu.conv2d import implicit_path, route, scatter_path
from tinyconv.kernels.cpu.conv2d.geometry import conv_geometry
from tinyconv.kernels.reference import conv as ref

from .test_conv_kernels import assert_matches

pytestmark = pytest.mark.skipif(implicit_path.implicit_kernels() is None, reason="conv_implicit not built")


def scatter_problem(rng, n, h, w, channels, kh, kw, filters, strides, padding):
    x = rng.standard_normal((n, h, w, channels)).astype(np.float32)
    kernel = rng.standard_normal((kh, kw, channels, filters)).astype(np.float32)
    pads = geometry.resolve_padding(padding, (h, w), (kh, kw), strides) if isinstance(padding, str) else padding
    out_hw = geometry.output_hw((h, w), (kh, kw), strides, pads)
    dy = rng.standard_normal((n, *out_hw, filters)).astype(np.float32)
    return x, kernel, dy, pads, conv_geometry(x.shape, kernel.shape, strides, pads, (1, 1), out_hw)


def reference_dx(dy, x, kernel, strides, pads):
    wide = [a.astype(np.float64) for a in (dy, x, kernel)]
    dx = ref.conv2d_backward(*wide, strides, pads, (1, 1), 1)[0]
    size = ref.conv2d_backward(*(abs(a) for a in wide), strides, pads, (1, 1), 1)[0]
    return dx.astype(np.float32), size


@st.composite
def scatter_cases(draw):
    """Few channels, kernels 1..5 (kernel rows of up to 40 numbers), strides 1..3, valid, same or
    explicit padding; heights past a multiple of four rows and short ones."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    channels = draw(st.integers(1, 8))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    h, w = draw(st.integers(kh, kh + 10)), draw(st.integers(kw, kw + 8))
    padding = draw(st.sampled_from(["valid", "same", "explicit"]))
    if padding == "explicit":
        padding = ((draw(st.integers(0, kh - 1)), draw(st.integers(0, kh - 1))),
                   (draw(st.integers(0, kw - 1)), draw(st.integers(0, kw - 1))))
    return (draw(st.integers(1, 3)), h, w, channels, kh, kw, draw(st.integers(1, 40)), strides, padding,
            draw(st.integers(0, 2**32 - 1)))


@settings(max_examples=40, deadline=None)
@given(scatter_cases())
def test_scatter_matches_the_reference(case):
    n, h, w, channels, kh, kw, filters, strides, padding, seed = case
    x, kernel, dy, pads, geo = scatter_problem(np.random.default_rng(seed), n, h, w, channels, kh, kw, filters,
                                               strides, padding)
    assume(scatter_path.fits(kernel.shape, 1, (1, 1)))     # (a kernel row of 40 numbers is 10 vectors of 4 lanes)
    want, size = reference_dx(dy, x, kernel, strides, pads)
    assert_matches(scatter_path.input_gradient(dy, kernel, x.shape, geo, 1), want, size, np.float32)


@pytest.mark.parametrize("kh, strides", [(5, (1, 1)), (3, (1, 2)), (4, (1, 1)), (3, (2, 1))])
def test_scatter_gives_the_same_bits_on_any_thread_count(kh, strides):
    """Four-row columns (3x3 and 5x5 kernels, stride 1 down the rows) and pixel by pixel (the others)."""
    x, kernel, dy, pads, geo = scatter_problem(np.random.default_rng(kh), 16, 15, 14, 6, kh, kh, 16, strides, "same")
    before = tinyconv.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            tinyconv.set_num_threads(threads)
            results.append(scatter_path.input_gradient(dy, kernel, x.shape, geo, threads))
    finally:
        tinyconv.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])
    want, size = reference_dx(dy, x, kernel, strides, pads)
    assert_matches(results[0], want, size, np.float32)


@pytest.mark.parametrize("kh, strides", [(5, (1, 1)), (3, (2, 1))])
def test_an_inf_in_dy_reaches_only_its_own_window(kh, strides):
    """The last vector of a kernel row reaches past it: those lanes must keep dx as it was (inf * 0
    would be NaN there), so non-finite numbers land exactly where the reference puts them."""
    x, kernel, dy, pads, geo = scatter_problem(np.random.default_rng(5), 2, 12, 13, 3, kh, kh, 7, strides, "valid")
    dy[1, 2, 3, 4] = np.inf
    got = scatter_path.input_gradient(dy, kernel, x.shape, geo, 1)
    want, _ = reference_dx(dy, x, kernel, strides, pads)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    assert not np.isfinite(got).all() and np.isfinite(got[0]).all()


def test_the_compiled_loop_refuses_a_workspace_too_small():
    x, kernel, dy, pads, geo = scatter_problem(np.random.default_rng(6), 2, 14, 14, 6, 5, 5, 16, (1, 1), "valid")
    kernels = implicit_path.implicit_kernels()
    weights = scatter_path.scatter_weights(kernel, kernels.LANES)
    rows, columns = kernels.scatter_buffer_shape(14, 14, 6, 10, 10, 5, 5, 1, 1, 0, 0)
    small = np.zeros((1, rows * columns * 6 - 1), np.float32)
    with pytest.raises(ValueError, match="do not fit"):
        kernels.input_gradient_scatter(dy, weights, np.empty_like(x), 5, 1, 1, 0, 0, small, rows, columns, 1)


def test_few_channel_float32_layers_take_the_scatter_and_others_do_not():
    lenet_second = route.conv2d_route((64, 14, 14, 6), (5, 5, 6, 16), training=True)
    assert lenet_second.input_gradient == route.SCATTER and not lenet_second.input_gradient_by_correlation
    assert route.conv2d_route((64, 14, 14, 6), (5, 5, 6, 16), dtype="float64").input_gradient != route.SCATTER
    assert route.conv2d_route((8, 16, 16, 32), (3, 3, 32, 32), pads=((1, 1), (1, 1))).input_gradient != route.SCATTER
    assert route.conv2d_route((8, 16, 16, 4), (3, 3, 2, 8), groups=2).input_gradient != route.SCATTER
    assert route.conv2d_route((8, 16, 16, 4), (3, 3, 4, 8), dilation=(2, 2)).input_gradient != route.SCATTER


def test_the_whole_backward_matches_through_the_entry_point():
    x, kernel, dy, pads, _ = scatter_problem(np.random.default_rng(7), 3, 14, 14, 6, 5, 5, 16, (1, 1), "valid")
    dx, _, _ = fast.conv2d_backward(dy, x, kernel, (1, 1), pads, (1, 1), 1, kernel_gradient=False)
    want, size = reference_dx(dy, x, kernel, (1, 1), pads)
    assert_matches(dx, want, size, np.float32)
