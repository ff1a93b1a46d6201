"""The GPU kernels beyond conv2d / 2-D pooling / batch norm equal the reference kernels forward and
backward (randomised shapes, float32 and float64), and a model built from the layers that use them
trains through the GPU kernel set exactly as through the CPU kernels.  Everything runs twice: with
xp = numpy, and on the GPU device (the strict CuPy stand-in, or real CuPy under ``make gpu-check``)
with the inputs uploaded and the outputs brought back with ``.get()``."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinyconv as keras
from tinyconv import backend, dispatch
from tinyconv.kernels import gpu, reference

from .conftest import device_array_module, to_host

SETTINGS = settings(max_examples=15, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2 ** 16)


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


def on_host(result):
    if isinstance(result, tuple):
        return tuple(None if r is None else to_host(r) for r in result)
    return to_host(result)


def close(got, want, dtype, tol32=2e-4):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    tol = 1e-10 if dtype == np.float64 else tol32
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def all_close(got, want, dtype, tol32=2e-4):
    if not isinstance(want, tuple):
        got, want = (got,), (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        close(g, w, dtype, tol32)


def distinct(rng, shape, dtype):
    """Tie-free values (a shuffled grid), so max/min winners are unambiguous."""
    values = rng.permutation(int(np.prod(shape))).astype(np.float64) / 7.0 - 3.0
    return values.reshape(shape).astype(dtype)


def both(name, *args):
    """(gpu result, reference result) of kernel ``name``; the GPU kernel gets its host arrays uploaded to
    its array module, and hands its results back to the host."""
    module = gpu.array_module()
    uploaded = [module.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    return on_host(getattr(gpu, name)(*uploaded)), getattr(reference, name)(*args)


# --- 3-D convolution ---------------------------------------------------------------------------
@st.composite
def conv3d_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(3))
    strides = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    pads = tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in range(3))
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - sum(p)), 6))
                    for k, d, p in zip(kernel, dilation, pads))
    c, f = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    return (draw(st.integers(1, 2)), *spatial, c), kernel, f, strides, pads, dilation, groups


@SETTINGS
@given(conv3d_cases(), st.booleans(), DTYPES, SEEDS)
def test_conv3d_matches_reference(case, with_bias, dtype, seed):
    shape, kernel_dhw, f, strides, pads, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((*kernel_dhw, shape[-1] // groups, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype) if with_bias else None
    y, y_ref = both("conv3d_forward", x, kernel, bias, strides, pads, dilation, groups)
    close(y, y_ref, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    all_close(*both("conv3d_backward", dy, x, kernel, strides, pads, dilation, groups), dtype)


# --- locally connected and tiled convolution ---------------------------------------------------
@st.composite
def window_cases(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(kernel[0], 7)), draw(st.integers(kernel[1], 7)),
             draw(st.integers(1, 3)))
    return shape, kernel, strides, draw(st.integers(1, 3))


@SETTINGS
@given(window_cases(), st.booleans(), DTYPES, SEEDS)
def test_locally_connected2d_matches_reference(case, with_bias, dtype, seed):
    shape, kernel_hw, strides, f = case
    out_hw = tuple((n - k) // s + 1 for n, k, s in zip(shape[1:3], kernel_hw, strides))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((out_hw[0] * out_hw[1], kernel_hw[0] * kernel_hw[1] * shape[3], f)).astype(dtype)
    bias = rng.standard_normal((*out_hw, f)).astype(dtype) if with_bias else None
    y, y_ref = both("locally_connected2d_forward", x, kernel, bias, kernel_hw, strides, out_hw)
    close(y, y_ref, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    all_close(*both("locally_connected2d_backward", dy, x, kernel, kernel_hw, strides, out_hw), dtype)


@SETTINGS
@given(window_cases(), st.tuples(st.integers(1, 4), st.integers(1, 4)), st.booleans(), DTYPES, SEEDS,
       st.integers(0, 1))
def test_tiled_conv2d_matches_reference(case, tile, with_bias, dtype, seed, pad):
    shape, kernel_hw, strides, f = case
    pads = ((pad, 0), (0, pad))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((*tile, *kernel_hw, shape[3], f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype) if with_bias else None
    y, y_ref = both("tiled_conv2d_forward", x, kernel, bias, strides, pads)
    close(y, y_ref, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    all_close(*both("tiled_conv2d_backward", dy, x, kernel, strides, pads), dtype)


# --- pooling -----------------------------------------------------------------------------------
@st.composite
def pool_cases(draw, rank=2):
    pool = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    pads = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in pool)
    spatial = tuple(draw(st.integers(max(1, k - sum(p)), 6)) for k, p in zip(pool, pads))
    shape = (draw(st.integers(1, 2)), *spatial, draw(st.integers(1, 3)))
    return shape, pool, strides, pads


@SETTINGS
@given(pool_cases(rank=3), DTYPES, SEEDS)
def test_pool3d_matches_reference(case, dtype, seed):
    shape, pool, strides, pads = case
    rng = np.random.default_rng(seed)
    x = distinct(rng, shape, dtype)
    (y, argmax), (y_ref, argmax_ref) = both("max_pool3d_forward", x, pool, strides, pads)
    close(y, y_ref, dtype)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert argmax.dtype == np.int64
    dy = rng.standard_normal(y.shape).astype(dtype)
    close(*both("max_pool3d_backward", dy, argmax_ref, shape), dtype)
    close(*both("avg_pool3d_forward", x, pool, strides, pads), dtype)
    close(*both("avg_pool3d_backward", dy, shape, pool, strides, pads), dtype)


@SETTINGS
@given(pool_cases(), DTYPES, SEEDS)
def test_min_pool2d_matches_reference(case, dtype, seed):
    shape, pool, strides, pads = case
    rng = np.random.default_rng(seed)
    x = distinct(rng, shape, dtype)
    (y, argmin), (y_ref, argmin_ref) = both("min_pool2d_forward", x, pool, strides, pads)
    close(y, y_ref, dtype)
    np.testing.assert_array_equal(argmin, argmin_ref)
    dy = rng.standard_normal(y.shape).astype(dtype)
    close(*both("max_pool2d_backward", dy, argmin, shape), dtype)   # min pooling's backward


@SETTINGS
@given(pool_cases(), st.sampled_from([1.0, 2.0, 3.0, 2.5]), DTYPES, SEEDS)
def test_lp_pool2d_matches_reference(case, p, dtype, seed):
    shape, pool, strides, pads = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if p != int(p):
        x = np.abs(x) + 0.1          # a fractional power of a negative number is NaN in both
    x = x.astype(dtype)
    y, y_ref = both("lp_pool2d_forward", x, p, pool, strides, pads)
    close(y, y_ref, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    close(*both("lp_pool2d_backward", dy, x, y_ref, p, pool, strides, pads), dtype, tol32=1e-3)


@SETTINGS
@given(pool_cases(), st.sampled_from([0.5, 1.0, 4.0]), DTYPES, SEEDS)
def test_logsumexp_pool2d_matches_reference(case, beta, dtype, seed):
    shape, pool, strides, pads = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y, y_ref = both("logsumexp_pool2d_forward", x, beta, pool, strides, pads)
    close(y, y_ref, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    close(*both("logsumexp_pool2d_backward", dy, x, y_ref, beta, pool, strides, pads), dtype)


@SETTINGS
@given(pool_cases(), st.sampled_from([0.5, 1.0, 2.0]), DTYPES, SEEDS)
def test_weighted_pool2d_matches_reference(case, sigma, dtype, seed):
    shape, pool, strides, pads = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y, y_ref = both("weighted_pool2d_forward", x, sigma, pool, strides, pads)
    close(y, y_ref, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    close(*both("weighted_pool2d_backward", dy, shape, sigma, pool, strides, pads), dtype)


# --- up-sampling -------------------------------------------------------------------------------
@SETTINGS
@given(st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3)),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), DTYPES, SEEDS)
def test_upsampling_matches_reference(shape, size, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    for mode in ("nearest", "bilinear"):
        y, y_ref = both(f"upsample2d_{mode}_forward", x, size)
        close(y, y_ref, dtype)
        dy = rng.standard_normal(y.shape).astype(dtype)
        close(*both(f"upsample2d_{mode}_backward", dy, shape), dtype)


# --- layer, group and local response normalisation ---------------------------------------------
@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), DTYPES, SEEDS)
def test_layer_norm_matches_reference(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (2 * rng.standard_normal(shape) + 1).astype(dtype)
    gamma, beta = (rng.standard_normal(shape[-1]).astype(dtype) for _ in range(2))
    got, want = both("layer_norm_forward", x, gamma, beta, 1e-3)
    all_close(got, want, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    all_close(*both("layer_norm_backward", dy, x, gamma, want[1], want[2]), dtype, tol32=1e-3)


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 3), st.integers(1, 3), DTYPES, SEEDS)
def test_group_norm_matches_reference(middle, groups, per_group, dtype, seed):
    shape = (middle[0], *middle[1:], groups * per_group)
    rng = np.random.default_rng(seed)
    x = (2 * rng.standard_normal(shape) - 1).astype(dtype)
    gamma, beta = (rng.standard_normal(shape[-1]).astype(dtype) for _ in range(2))
    got, want = both("group_norm_forward", x, groups, gamma, beta, 1e-3)
    all_close(got, want, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    all_close(*both("group_norm_backward", dy, x, groups, gamma, want[1], want[2]), dtype, tol32=1e-3)


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 7), st.integers(0, 3),
       st.sampled_from([(1.0, 1e-2, 0.75), (2.0, 0.5, 0.5)]), DTYPES, SEEDS)
def test_lrn_matches_reference(middle, channels, radius, constants, dtype, seed):
    bias, alpha, beta = constants
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*middle, channels)).astype(dtype)
    got, want = both("lrn_forward", x, radius, bias, alpha, beta)
    all_close(got, want, dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    close(*both("lrn_backward", dy, x, want[1], radius, bias, alpha, beta), dtype)


# --- no stand-ins left, and argument errors keep the reference's messages -----------------------
def test_every_kernel_has_a_gpu_version():
    assert set(gpu.PORTED) == set(dispatch.KERNEL_NAMES)
    for name in dispatch.KERNEL_NAMES:
        assert getattr(gpu, name).__module__.startswith("tinyconv.kernels.gpu."), name
        assert not getattr(gpu, name).__module__.endswith("unported"), name


def test_bad_arguments_are_refused_with_the_reference_messages(array_module):
    up = array_module.asarray
    x5 = up(np.zeros((1, 3, 3, 3, 2), np.float32))
    with pytest.raises(ValueError, match="input channels"):
        gpu.conv3d_forward(x5, up(np.zeros((1, 1, 1, 3, 4), np.float32)), None, (1, 1, 1), ((0, 0),) * 3, (1, 1, 1),
                           1)
    with pytest.raises(ValueError, match="pooling3d"):
        gpu.max_pool3d_forward(x5, (4, 4, 4), (1, 1, 1), ((0, 0),) * 3)
    if array_module is np:   # on the device only argmax's dtype is checked (its values would cost a sync)
        with pytest.raises(ValueError, match="argmax values"):
            gpu.max_pool3d_backward(np.zeros((1, 1, 1, 1, 2), np.float32), np.full((1, 1, 1, 1, 2), 99, np.int64),
                                    (1, 3, 3, 3, 2))
    with pytest.raises(ValueError, match="int64 argmax"):
        gpu.max_pool3d_backward(up(np.zeros((1, 1, 1, 1, 2), np.float32)), up(np.zeros((1, 1, 1, 1, 2), np.int32)),
                                (1, 3, 3, 3, 2))
    with pytest.raises(ValueError, match="groups must be a positive divisor"):
        gpu.group_norm_forward(up(np.zeros((2, 4, 6), np.float32)), 4, up(np.ones(6, np.float32)),
                               up(np.zeros(6, np.float32)), 1e-3)
    with pytest.raises(TypeError, match="float32 or float64"):
        gpu.lrn_forward(up(np.zeros((2, 3), np.int32)), 1, 1.0, 1.0, 0.5)


# --- a model through the GPU kernel set trains exactly as through the CPU kernels ----------------
def volume_and_image_model(seed):
    """Two branches would need the functional API; a Sequential chain visits every new kernel family."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(4, 8, 8, 2)),
        keras.layers.Conv3D(4, 2, padding="same", activation="relu"),
        keras.layers.MaxPooling3D((1, 2, 2)),
        keras.layers.AveragePooling3D((2, 1, 1)),
        keras.layers.Reshape((4, 4, 8)),
        keras.layers.UpSampling2D(2, interpolation="bilinear"),
        keras.layers.LocalResponseNormalization(depth_radius=2, alpha=1e-2, beta=0.75),
        keras.layers.TiledConv2D(6, 3, tile_size=(2, 2), activation="relu"),
        keras.layers.GroupNormalization(groups=3),
        keras.layers.MinPooling2D(2, padding="same"),
        keras.layers.LpPooling2D(1, strides=1, p=2),
        keras.layers.UpSampling2D(2),
        keras.layers.LogSumExpPooling2D(2, beta=2.0),
        keras.layers.WeightedPooling2D(2, strides=1, padding="same", sigma=1.0),
        keras.layers.LocallyConnected2D(4, 2, activation="tanh"),
        keras.layers.Flatten(),
        keras.layers.LayerNormalization(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def select(kernels, array_module):
    """The CPU kernels, or the GPU kernel set: with NumPy arrays (xp = numpy), or on the GPU device."""
    if array_module is np:
        dispatch.set_kernels(kernels)
    elif kernels == "gpu":
        backend.set_device("gpu", array_module=array_module)
    else:
        backend.set_device("cpu")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_trains_identically_through_the_gpu_kernel_set(dtype, array_module, fresh_names):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4, 8, 8, 2))
    y = rng.integers(0, 3, 8)
    results = {}
    previous = dispatch.active_kernels()
    backend.set_floatx(dtype)
    try:
        for kernels in ("cpu", "gpu"):
            select(kernels, array_module)
            model = volume_and_image_model(seed=5)
            history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False)
            results[kernels] = (history.history["loss"], model.get_weights(), model.predict(x, verbose=0))
    finally:
        backend.set_floatx("float32")
        if array_module is np:
            dispatch.set_kernels(previous)
    tol = 2e-4 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(results["gpu"][0], results["cpu"][0], rtol=tol)
    for got, want in zip(results["gpu"][1], results["cpu"][1]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(results["gpu"][2], results["cpu"][2], rtol=tol, atol=tol)
    assert results["cpu"][0][-1] < results["cpu"][0][0]
