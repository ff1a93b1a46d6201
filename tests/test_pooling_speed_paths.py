"""The compiled pooling kernels' fast paths give the reference's numbers, bit for bit.

* max-pooling backward tries tiles (one pass, no scatter) and falls back to the scatter
  when a winner lies outside its window's tile (overlapping windows, padding, a changed
  argmax);
* average-pooling backward writes each dx cell once when windows don't overlap
  (stride >= pool), padding or not.
Random geometries cover those cases and the general ones next to them.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyconv
from tinyconv import geometry
from tinyconv.kernels.cpu import pooling as cpu_pool
from tinyconv.kernels.reference import pooling as ref_pool

NO_PADS = ((0, 0), (0, 0))
EXAMPLES = settings(max_examples=40, deadline=None)


def same_bits(actual, expected):
    """Equal values *and* equal signs of zero (0 + (-0.0) is +0.0 in the reference)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected))


@st.composite
def geometries(draw, disjoint_only=False):
    """(shape, pool, strides, pads): mostly tiled (pool == strides, 'valid', sizes that may
    leave rows and columns over), else stride > pool, Keras 'same', or overlapping windows."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 20))
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    h, w = draw(st.integers(pool[0], 11)), draw(st.integers(pool[1], 11))
    kinds = ["tiled", "tiled", "gaps", "same"] + ([] if disjoint_only else ["overlap"])
    kind = draw(st.sampled_from(kinds))
    strides, pads = pool, NO_PADS
    if kind == "gaps":
        strides = (pool[0] + draw(st.integers(0, 2)), pool[1] + draw(st.integers(0, 2)))
    elif kind == "same":
        pads = geometry.resolve_padding("same", (h, w), pool, strides)
    elif kind == "overlap":
        strides = (draw(st.integers(1, pool[0])), draw(st.integers(1, pool[1])))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, h, w, c), pool, strides, pads, dtype, draw(st.integers(0, 2**32 - 1))


def signed_zeros_and_values(rng, shape, dtype):
    """Random values with some +0.0 and -0.0 among them."""
    values = rng.standard_normal(shape).astype(dtype)
    values[rng.random(shape) < 0.1] = -0.0
    values[rng.random(shape) < 0.05] = 0.0
    return values


@EXAMPLES
@given(geometries(), st.booleans())
def test_max_pool_backward_matches_reference_bit_for_bit(case, ties):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    # Small integers give many ties: the first cell in row-major order must win in both.
    x = rng.integers(0, 3, size=shape).astype(dtype) if ties else rng.standard_normal(shape).astype(dtype)
    y_ref, argmax_ref = ref_pool.max_pool2d_forward(x, pool, strides, pads)
    y_cpu, argmax_cpu = cpu_pool.max_pool2d_forward(x, pool, strides, pads)
    same_bits(y_cpu, y_ref)
    np.testing.assert_array_equal(argmax_cpu, argmax_ref)
    dy = signed_zeros_and_values(rng, y_ref.shape, dtype)
    same_bits(cpu_pool.max_pool2d_backward(dy, argmax_cpu, shape), ref_pool.max_pool2d_backward(dy, argmax_ref, shape))


@EXAMPLES
@given(geometries(disjoint_only=True))
def test_avg_pool_backward_with_disjoint_windows_matches_reference_bit_for_bit(case):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    out_hw = geometry.output_hw(shape[1:3], pool, strides, pads)
    dy = signed_zeros_and_values(rng, (shape[0], *out_hw, shape[3]), dtype)
    same_bits(cpu_pool.avg_pool2d_backward(dy, shape, pool, strides, pads),
              ref_pool.avg_pool2d_backward(dy, shape, pool, strides, pads))


@EXAMPLES
@given(geometries())
def test_avg_pool_forward_and_backward_match_reference(case):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    tolerance = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    y = cpu_pool.avg_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_allclose(y, ref_pool.avg_pool2d_forward(x, pool, strides, pads), **tolerance)
    dy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(cpu_pool.avg_pool2d_backward(dy, shape, pool, strides, pads),
                               ref_pool.avg_pool2d_backward(dy, shape, pool, strides, pads), **tolerance)


def tiled_case(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 6, 7, 5))  # 7 columns: one left over by the 2x2 tiles
    y, argmax = cpu_pool.max_pool2d_forward(x, (2, 2), (2, 2), NO_PADS)
    return x.shape, rng.standard_normal(y.shape), argmax


@pytest.mark.parametrize("where", ["first row", "last row"])
def test_a_winner_outside_its_tile_falls_back_to_the_scatter(where):
    """A changed argmax (still in range) is routed as given, exactly as the reference does."""
    shape, dy, argmax = tiled_case()
    argmax = argmax.copy()
    n, oh = (0, 0) if where == "first row" else (1, argmax.shape[1] - 1)
    argmax[n, oh, 0, 2] = 6 * 7 - 1  # the bottom right cell: in no tile of row oh but the last
    argmax[n, oh, 1, 2] = 0
    expected = ref_pool.max_pool2d_backward(dy, argmax, shape)
    same_bits(cpu_pool.max_pool2d_backward(dy, argmax, shape), expected)


def test_an_argmax_out_of_range_is_refused_with_the_reference_message():
    shape, dy, argmax = tiled_case()
    argmax = argmax.copy()
    argmax[1, 2, 1, 3] = 6 * 7  # one past the last cell
    with pytest.raises(ValueError, match=r"argmax values in \[0, 42\)"):
        cpu_pool.max_pool2d_backward(dy, argmax, shape)
    argmax[1, 2, 1, 3] = -1
    with pytest.raises(ValueError, match=r"argmax values in \[0, 42\)"):
        cpu_pool.max_pool2d_backward(dy, argmax, shape)


def test_bad_shapes_get_the_reference_messages():
    shape, dy, argmax = tiled_case()
    with pytest.raises(ValueError, match="expected argmax int64"):
        cpu_pool.max_pool2d_backward(dy, argmax.astype(np.int32), shape)
    with pytest.raises(ValueError, match="expected argmax int64"):
        cpu_pool.max_pool2d_backward(dy, argmax[:, :, :1], shape)
    with pytest.raises(ValueError, match="with N=2, C=5"):
        cpu_pool.max_pool2d_backward(dy[:, :, :, :4], argmax[:, :, :, :4], shape)


def test_results_do_not_depend_on_the_thread_count():
    """Big enough to run in parallel; tiled max, disjoint average and overlapping windows."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 30, 30, 16)).astype(np.float32)
    before = tinyconv.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            tinyconv.set_num_threads(threads)
            outputs = []
            for pool, strides in (((2, 2), (2, 2)), ((3, 3), (2, 2))):
                y, argmax = cpu_pool.max_pool2d_forward(x, pool, strides, NO_PADS)
                outputs += [y, argmax, cpu_pool.max_pool2d_backward(y, argmax, x.shape)]
                mean = cpu_pool.avg_pool2d_forward(x, pool, strides, NO_PADS)
                outputs += [mean, cpu_pool.avg_pool2d_backward(mean, x.shape, pool, strides, NO_PADS)]
            results.append(outputs)
    finally:
        tinyconv.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
