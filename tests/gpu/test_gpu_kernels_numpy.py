"""The GPU kernel set equals the reference kernels (forward and backward), run twice: with xp = numpy,
and on the GPU device - the strict CuPy stand-in (``standin_cupy.py``), or real CuPy under
``make gpu-check`` - with the inputs uploaded and the outputs brought back with ``.get()``.

This is how the GPU code is checked on machines without a GPU: tinyconv.kernels.gpu is written
against an array module, and here that module is NumPy, then a stand-in that refuses every quiet
copy between host and device.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyconv import backend
from tinyconv.kernels import gpu, reference

from .conftest import device_array_module, to_host

SETTINGS = settings(max_examples=20, deadline=None)


@pytest.fixture(autouse=True, params=["numpy", "device"])
def array_module(request):
    """The kernels' array module: NumPy, or the GPU device (the stand-in, or CuPy under gpu-check)."""
    if request.param == "numpy":
        gpu.use_array_module(np)
        yield np
        return
    backend.set_device("gpu", array_module=device_array_module())
    try:
        yield gpu.array_module()
    finally:
        backend.set_device("cpu")
        gpu.use_array_module(np)


def run(name, *args):
    """GPU kernel ``name`` on ``args``: host arrays are uploaded to the kernels' array module and every
    array result is brought back to the host (tuples element by element)."""
    module = gpu.array_module()
    uploaded = [module.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    result = getattr(gpu, name)(*uploaded)
    if isinstance(result, tuple):
        return tuple(None if r is None else to_host(r) for r in result)
    return to_host(result)


def close(a, b, dtype):
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    n = draw(st.integers(1, 3))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 9))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 9))
    c = groups * draw(st.integers(1, 3))
    f = groups * draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2 ** 16))
    return n, h, w, c, f, (kh, kw), (sh, sw), pads, (dh, dw), groups, dtype, seed


@SETTINGS
@given(conv_cases(), st.booleans())
def test_conv2d_matches_reference(case, with_bias):
    n, h, w, c, f, (kh, kw), strides, pads, dilation, groups, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c // groups, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype) if with_bias else None
    y = run("conv2d_forward", x, kernel, bias, strides, pads, dilation, groups)
    expected = reference.conv2d_forward(x, kernel, bias, strides, pads, dilation, groups)
    assert y.shape == expected.shape and y.dtype == expected.dtype
    close(y, expected, dtype)

    dy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(run("conv2d_backward", dy, x, kernel, strides, pads, dilation, groups),
                         reference.conv2d_backward(dy, x, kernel, strides, pads, dilation, groups)):
        assert got.shape == want.shape and got.dtype == want.dtype
        close(got, want, dtype)


@st.composite
def pool_cases(draw):
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = ((draw(st.integers(0, ph - 1)), draw(st.integers(0, ph - 1))),
            (draw(st.integers(0, pw - 1)), draw(st.integers(0, pw - 1))))
    h = draw(st.integers(max(1, ph - sum(pads[0])), 9))
    w = draw(st.integers(max(1, pw - sum(pads[1])), 9))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, h, w, c), (ph, pw), (sh, sw), pads, dtype, draw(st.integers(0, 2 ** 16))


@SETTINGS
@given(pool_cases(), st.booleans())
def test_max_pool2d_matches_reference(case, with_ties):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if with_ties:
        x = np.round(x)  # many equal values: the first maximum must win, as in the reference
    y, argmax = run("max_pool2d_forward", x, pool, strides, pads)
    y_ref, argmax_ref = reference.max_pool2d_forward(x, pool, strides, pads)
    close(y, y_ref, dtype)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert argmax.dtype == np.int64
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = run("max_pool2d_backward", dy, argmax, shape)
    assert dx.dtype == dtype
    close(dx, reference.max_pool2d_backward(dy, argmax_ref, shape), dtype)


@SETTINGS
@given(pool_cases())
def test_avg_pool2d_matches_reference(case):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y = run("avg_pool2d_forward", x, pool, strides, pads)
    y_ref = reference.avg_pool2d_forward(x, pool, strides, pads)
    assert y.dtype == dtype
    close(y, y_ref, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = run("avg_pool2d_backward", dy, shape, pool, strides, pads)
    assert dx.dtype == dtype
    close(dx, reference.avg_pool2d_backward(dy, shape, pool, strides, pads), dtype)


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2 ** 16))
def test_batch_norm_matches_reference(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    c = shape[-1]
    gamma, beta = (rng.standard_normal(c).astype(dtype) for _ in range(2))
    moving_mean, moving_var = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    for got, want in zip(run("batch_norm_forward_train", x, gamma, beta, 1e-3),
                         reference.batch_norm_forward_train(x, gamma, beta, 1e-3)):
        close(got, want, dtype)
    close(run("batch_norm_forward_infer", x, gamma, beta, moving_mean, moving_var, 1e-3),
          reference.batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, 1e-3), dtype)
    _, mean, _, inv_std = reference.batch_norm_forward_train(x, gamma, beta, 1e-3)
    dy = rng.standard_normal(shape).astype(dtype)
    for got, want in zip(run("batch_norm_backward", dy, x, gamma, mean, inv_std),
                         reference.batch_norm_backward(dy, x, gamma, mean, inv_std)):
        assert got.dtype == want.dtype
        close(got, want, dtype)


def test_every_kernel_name_exists_in_the_gpu_set():
    from tinyconv.dispatch import KERNEL_NAMES

    missing = [name for name in KERNEL_NAMES if not callable(getattr(gpu, name, None))]
    assert missing == []


def test_unported_kernels_run_the_reference_with_numpy():
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(run("upsample2d_nearest_forward", x, (2, 2)),
                                  reference.upsample2d_nearest_forward(x, (2, 2)))


def test_bad_arguments_get_the_reference_messages():
    x = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="input channels"):
        run("conv2d_forward", x, np.zeros((3, 3, 2, 4), np.float32), None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        run("conv2d_forward", x.astype(np.int32), np.zeros((3, 3, 3, 4), np.int32), None, (1, 1),
                           ((0, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(ValueError, match="pool"):
        run("max_pool2d_forward", x, (5, 5), (1, 1), ((0, 0), (0, 0)))
