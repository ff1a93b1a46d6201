"""Pooling kernels: compiled == reference, numerical gradients, PyTorch parity, argmax, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv import geometry
from tinyconv.kernels.cpu import pooling as cpu_pool
from tinyconv.kernels.reference import pooling as ref_pool

from ..gradcheck import numerical_gradient_of

IMPLEMENTATIONS = [pytest.param(ref_pool, id="reference"), pytest.param(cpu_pool, id="cpu")]
NO_PADS = ((0, 0), (0, 0))
EXAMPLES = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def tie_free(shape, rng, dtype=np.float64):
    """Distinct values (a shuffled 0..size-1, scaled): every window has exactly one max."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) / size - 0.5).astype(dtype)


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@st.composite
def pooling_cases(draw):
    """Random geometry: overlapping windows, stride > pool, pool == input, non-square,
    'valid', Keras 'same' (asymmetric when odd) and explicit pads; batch 1..3, channels 1..16."""
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.integers(1, 16))
    pool = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    mode = draw(st.sampled_from(["valid", "same", "explicit", "whole input"]))
    if mode == "whole input":
        pool, pads = (h, w), NO_PADS
    elif mode == "valid":
        pool, pads = (min(pool[0], h), min(pool[1], w)), NO_PADS
    elif mode == "same":
        pads = geometry.resolve_padding("same", (h, w), pool, strides)
    else:
        pads = tuple((draw(st.integers(0, p - 1)), draw(st.integers(0, p - 1))) for p in pool)
        # keep the explicit pads only if the windows still fit
        if min(geometry.output_hw((h, w), pool, strides, pads)) < 1:
            pool, pads = (min(pool[0], h), min(pool[1], w)), NO_PADS
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, h, w, c), pool, strides, pads, dtype, seed


# --------------------------------------------------------------------------------------------
# Compiled == reference
# --------------------------------------------------------------------------------------------
@EXAMPLES
@given(pooling_cases())
def test_max_pool_cpu_matches_reference(case):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = tie_free(shape, rng, dtype)
    y_ref, arg_ref = ref_pool.max_pool2d_forward(x, pool, strides, pads)
    y_cpu, arg_cpu = cpu_pool.max_pool2d_forward(x, pool, strides, pads)
    assert y_cpu.dtype == x.dtype and arg_cpu.dtype == np.int64
    np.testing.assert_array_equal(y_cpu, y_ref)  # a max picks a value: exact
    np.testing.assert_array_equal(arg_cpu, arg_ref)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref = ref_pool.max_pool2d_backward(dy, arg_ref, shape)
    dx_cpu = cpu_pool.max_pool2d_backward(dy, arg_cpu, shape)
    assert dx_cpu.dtype == dtype
    np.testing.assert_allclose(dx_cpu, dx_ref, **tolerance(dtype))


@EXAMPLES
@given(pooling_cases())
def test_avg_pool_cpu_matches_reference(case):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y_ref = ref_pool.avg_pool2d_forward(x, pool, strides, pads)
    y_cpu = cpu_pool.avg_pool2d_forward(x, pool, strides, pads)
    out_h, out_w = geometry.output_hw(shape[1:3], pool, strides, pads)
    assert y_cpu.dtype == dtype and y_cpu.shape == (shape[0], out_h, out_w, shape[3])
    np.testing.assert_allclose(y_cpu, y_ref, **tolerance(dtype))
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref = ref_pool.avg_pool2d_backward(dy, shape, pool, strides, pads)
    dx_cpu = cpu_pool.avg_pool2d_backward(dy, shape, pool, strides, pads)
    np.testing.assert_allclose(dx_cpu, dx_ref, **tolerance(dtype))


def test_max_pool_ties_pick_the_first_cell_in_both():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(2, 7, 6, 5)).astype(np.float32)  # many ties
    pads = geometry.resolve_padding("same", (7, 6), (3, 2), (2, 2))
    y_ref, arg_ref = ref_pool.max_pool2d_forward(x, (3, 2), (2, 2), pads)
    y_cpu, arg_cpu = cpu_pool.max_pool2d_forward(x, (3, 2), (2, 2), pads)
    np.testing.assert_array_equal(y_cpu, y_ref)
    np.testing.assert_array_equal(arg_cpu, arg_ref)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_max_pool_constant_input_routes_to_each_windows_first_cell(impl):
    x = np.ones((1, 4, 4, 1))
    _, argmax = impl.max_pool2d_forward(x, (2, 2), (1, 1), NO_PADS)
    # window (oh, ow) starts at input cell (oh, ow): flat index oh*4 + ow
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[0, 1, 2], [4, 5, 6], [8, 9, 10]])


# --------------------------------------------------------------------------------------------
# Argmax and the course's worked example
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_argmax_points_at_the_maxima(impl):
    rng = np.random.default_rng(2)
    n, h, w, c = 2, 7, 5, 3
    x = tie_free((n, h, w, c), rng)
    pads = geometry.resolve_padding("same", (h, w), (3, 3), (2, 2))
    y, argmax = impl.max_pool2d_forward(x, (3, 3), (2, 2), pads)
    planes = x.reshape(n, h * w, c)
    picked = np.take_along_axis(planes, argmax.reshape(n, -1, c), axis=1).reshape(y.shape)
    np.testing.assert_array_equal(picked, y)
    # and each winner lies inside its (unpadded) window
    rows, cols = argmax // w, argmax % w
    oh = np.arange(y.shape[1])[None, :, None, None]
    ow = np.arange(y.shape[2])[None, None, :, None]
    assert np.all((rows >= oh * 2 - pads[0][0]) & (rows < oh * 2 - pads[0][0] + 3))
    assert np.all((cols >= ow * 2 - pads[1][0]) & (cols < ow * 2 - pads[1][0] + 3))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_course_worked_example_2x2_stride_2(impl):
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float32)[None, :, :, None]
    y, argmax = impl.max_pool2d_forward(x, (2, 2), (2, 2), NO_PADS)
    np.testing.assert_array_equal(y[0, :, :, 0], [[6, 8], [3, 4]])
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[5, 7], [8, 15]])  # 6 at (1,1), 8 at (1,3), ...
    dx = impl.max_pool2d_backward(np.ones_like(y), argmax, x.shape)
    expected = np.zeros((4, 4), np.float32)
    expected[1, 1] = expected[1, 3] = expected[2, 0] = expected[3, 3] = 1
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)
    avg = impl.avg_pool2d_forward(x, (2, 2), (2, 2), NO_PADS)
    np.testing.assert_allclose(avg[0, :, :, 0], [[13 / 4, 21 / 4], [8 / 4, 8 / 4]])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_overlapping_max_windows_add_their_gradients(impl):
    x = np.zeros((1, 1, 5, 1))
    x[0, 0, 2, 0] = 1.0  # the centre wins both windows of a 1x3 pool with stride 2
    y, argmax = impl.max_pool2d_forward(x, (1, 3), (1, 2), NO_PADS)
    dx = impl.max_pool2d_backward(np.array([[[[2.0], [3.0]]]]), argmax, x.shape)
    np.testing.assert_array_equal(dx[0, 0, :, 0], [0, 0, 5, 0, 0])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_avg_pool_same_divides_by_real_cells_only(impl):
    x = np.ones((1, 3, 3, 1))
    pads = geometry.resolve_padding("same", (3, 3), (3, 3), (1, 1))
    y = impl.avg_pool2d_forward(x, (3, 3), (1, 1), pads)
    np.testing.assert_allclose(y, 1.0)  # padding counted would give 4/9 in the corners


# --------------------------------------------------------------------------------------------
# Numerical gradients (float64)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_max_pool_gradient_is_numerically_right(impl):
    rng = np.random.default_rng(3)
    x = tie_free((2, 5, 6, 2), rng)
    pads = geometry.resolve_padding("same", (5, 6), (3, 2), (2, 1))
    y, argmax = impl.max_pool2d_forward(x, (3, 2), (2, 1), pads)
    weights = rng.standard_normal(y.shape)

    def loss(v):
        return np.sum(impl.max_pool2d_forward(v, (3, 2), (2, 1), pads)[0] * weights)

    analytic = impl.max_pool2d_backward(weights, argmax, x.shape)
    np.testing.assert_allclose(analytic, numerical_gradient_of(loss, x.copy()), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_avg_pool_gradient_is_numerically_right(impl):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 6, 2))
    pool, strides = (3, 3), (2, 2)  # overlapping windows, odd size: asymmetric 'same' pads
    pads = geometry.resolve_padding("same", (7, 6), pool, strides)
    weights = rng.standard_normal(impl.avg_pool2d_forward(x, pool, strides, pads).shape)

    def loss(v):
        return np.sum(impl.avg_pool2d_forward(v, pool, strides, pads) * weights)

    analytic = impl.avg_pool2d_backward(weights, x.shape, pool, strides, pads)
    np.testing.assert_allclose(analytic, numerical_gradient_of(loss, x.copy()), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------------------------
# PyTorch parity (NCHW there, NHWC here)
# --------------------------------------------------------------------------------------------
def to_torch(x):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    return torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)


def from_torch(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("pool, strides", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (3, 1))])
def test_max_pool_valid_matches_torch(impl, pool, strides):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(5)
    x = tie_free((2, 7, 8, 3), rng)
    xt = to_torch(x)
    yt, indices = torch.nn.functional.max_pool2d(xt, pool, strides, return_indices=True)
    weights = rng.standard_normal(yt.shape)
    (yt * torch.tensor(weights)).sum().backward()
    y, argmax = impl.max_pool2d_forward(x, pool, strides, NO_PADS)
    np.testing.assert_array_equal(y, from_torch(yt))
    np.testing.assert_array_equal(argmax, from_torch(indices))  # same h*W + w convention
    dx = impl.max_pool2d_backward(weights.transpose(0, 2, 3, 1).copy(), argmax, x.shape)
    np.testing.assert_allclose(dx, from_torch(xt.grad), rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_max_pool_same_matches_torch_with_minus_inf_padding(impl):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(6)
    x = tie_free((2, 7, 6, 3), rng)
    pool, strides = (3, 2), (2, 2)
    (top, bottom), (left, right) = pads = geometry.resolve_padding("same", (7, 6), pool, strides)
    xt = to_torch(x)
    padded = torch.nn.functional.pad(xt, (left, right, top, bottom), value=float("-inf"))
    yt = torch.nn.functional.max_pool2d(padded, pool, strides)
    weights = rng.standard_normal(yt.shape)
    (yt * torch.tensor(weights)).sum().backward()
    y, argmax = impl.max_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(y, from_torch(yt))
    dx = impl.max_pool2d_backward(weights.transpose(0, 2, 3, 1).copy(), argmax, x.shape)
    np.testing.assert_allclose(dx, from_torch(xt.grad), rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "pool, strides, padding",
    [((2, 2), (2, 2), "valid"), ((3, 2), (2, 1), "valid"),
     ((3, 3), (1, 1), "same"), ((3, 5), (1, 1), "same")],  # 'same' here splits symmetrically
)
def test_avg_pool_matches_torch(impl, pool, strides, padding):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 7, 3))
    pads = geometry.resolve_padding(padding, (6, 7), pool, strides)
    assert all(before == after for before, after in pads)  # torch pads symmetrically only
    xt = to_torch(x)
    yt = torch.nn.functional.avg_pool2d(xt, pool, strides, padding=(pads[0][0], pads[1][0]),
                                        count_include_pad=False)
    weights = rng.standard_normal(yt.shape)
    (yt * torch.tensor(weights)).sum().backward()
    y = impl.avg_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_allclose(y, from_torch(yt), rtol=1e-12, atol=1e-14)
    dx = impl.avg_pool2d_backward(weights.transpose(0, 2, 3, 1).copy(), x.shape, pool, strides, pads)
    np.testing.assert_allclose(dx, from_torch(xt.grad), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "shape, pool, strides, pads, message",
    [
        ((1, 4, 4), (2, 2), (2, 2), NO_PADS, "4-D"),                      # rank
        ((1, 4, 4, 1), (2, 2), (2, 2), ((2, 0), (0, 0)), "smaller than the pool"),
        ((1, 4, 4, 1), (3, 3), (1, 1), ((0, 0), (0, 3)), "smaller than the pool"),
        ((1, 2, 4, 1), (3, 3), (1, 1), NO_PADS, "to fit the input"),        # output size 0
        ((1, 4, 4, 1), (0, 2), (1, 1), NO_PADS, "pool_size"),
        ((1, 4, 4, 1), (2, 2), (1, 0), NO_PADS, "strides"),
    ],
)
def test_bad_geometry_raises_value_error(impl, shape, pool, strides, pads, message):
    x = np.zeros(shape, np.float32)
    for forward in (impl.max_pool2d_forward, impl.avg_pool2d_forward):
        with pytest.raises(ValueError, match="expected") as error:
            forward(x, pool, strides, pads)
        assert message in str(error.value) and "got" in str(error.value)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_dtype_raises_type_error(impl):
    with pytest.raises(TypeError, match="float32 or float64.*got int64"):
        impl.max_pool2d_forward(np.zeros((1, 4, 4, 1), np.int64), (2, 2), (2, 2), NO_PADS)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_backward_arguments_raise_value_error(impl):
    x = np.zeros((1, 4, 4, 2))
    y, argmax = impl.max_pool2d_forward(x, (2, 2), (2, 2), NO_PADS)
    with pytest.raises(ValueError, match=r"expected dy of shape \(1, 2, 2, 2\).*got \(1, 3, 3, 2\)"):
        impl.avg_pool2d_backward(np.zeros((1, 3, 3, 2)), x.shape, (2, 2), (2, 2), NO_PADS)
    with pytest.raises(ValueError, match="expected argmax int64"):
        impl.max_pool2d_backward(y, argmax.astype(np.int32), x.shape)
    with pytest.raises(ValueError, match=r"expected argmax values in \[0, 16\)"):
        impl.max_pool2d_backward(y, argmax + 16, x.shape)
    with pytest.raises(ValueError, match="C=2"):
        impl.max_pool2d_backward(y[..., :1], argmax[..., :1], x.shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_input_takes_the_threaded_path_and_still_matches(dtype):
    # big enough for the compiled kernels to split the work across threads
    rng = np.random.default_rng(8)
    shape, pool, strides = (3, 33, 31, 20), (3, 3), (2, 2)
    pads = geometry.resolve_padding("same", shape[1:3], pool, strides)
    x = tie_free(shape, rng, dtype)
    y_ref, arg_ref = ref_pool.max_pool2d_forward(x, pool, strides, pads)
    y_cpu, arg_cpu = cpu_pool.max_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(arg_cpu, arg_ref)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    np.testing.assert_allclose(cpu_pool.max_pool2d_backward(dy, arg_cpu, shape),
                               ref_pool.max_pool2d_backward(dy, arg_ref, shape), **tolerance(dtype))
    np.testing.assert_allclose(cpu_pool.avg_pool2d_forward(x, pool, strides, pads),
                               ref_pool.avg_pool2d_forward(x, pool, strides, pads), **tolerance(dtype))
    np.testing.assert_allclose(cpu_pool.avg_pool2d_backward(dy, shape, pool, strides, pads),
                               ref_pool.avg_pool2d_backward(dy, shape, pool, strides, pads), **tolerance(dtype))


@pytest.mark.parametrize("kernel, shape, pool", [("max_pool2d_forward", (1, 65536, 32769, 1), (2, 2)),
                                                 ("min_pool2d_forward", (1, 65536, 32769, 1), (2, 2)),
                                                 ("max_pool3d_forward", (1, 2, 32768, 32769, 1), (2, 2, 2))])
def test_compiled_max_and_min_pooling_refuse_images_of_more_cells_than_int32_numbers(kernel, shape, pool):
    """They number a window's winning cell with an int32 while they scan: refused, never wrapped around."""
    from tinyconv.kernels import cpu

    huge = np.broadcast_to(np.zeros(1, np.float32), shape)       # (no memory behind it)
    pads = ((0, 0),) * len(pool)
    with pytest.raises(ValueError, match=rf"{kernel}: expected at most 2147483647 cells per image"):
        getattr(cpu, kernel)(huge, pool, pool, pads)


@pytest.mark.parametrize("channels", [6, 31, 32, 40])       # column sums up to 31 channels, per cell from 32
@pytest.mark.parametrize("pool, strides, padding", [((2, 2), (2, 2), "valid"), ((3, 2), (2, 3), "same"),
                                                    ((2, 2), (3, 3), "valid"), ((3, 3), (1, 1), "same")])
def test_avg_pool_both_forward_loops_and_the_banded_backward_match_on_any_thread_count(channels, pool, strides,
                                                                                       padding):
    """Few channels sum window rows first, many sum cell by cell; disjoint windows' backward copies each
    window row's first dx row to the others and zeroes the rows between window rows (stride > pool)."""
    import tinyconv

    rng = np.random.default_rng(channels)
    shape = (8, 33, 31, channels)          # above the parallel passes' floor (32,768 numbers)
    pads = geometry.resolve_padding(padding, shape[1:3], pool, strides)
    x = rng.standard_normal(shape).astype(np.float32)
    y_ref = ref_pool.avg_pool2d_forward(x.astype(np.float64), pool, strides, pads)
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    dx_ref = ref_pool.avg_pool2d_backward(dy.astype(np.float64), shape, pool, strides, pads)
    before = tinyconv.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            tinyconv.set_num_threads(threads)
            y = cpu_pool.avg_pool2d_forward(x, pool, strides, pads)
            dx = cpu_pool.avg_pool2d_backward(dy, shape, pool, strides, pads)
            np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-6)
            results.append((y, dx))
    finally:
        tinyconv.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
