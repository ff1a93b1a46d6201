"""LayerNormalization, GroupNormalization (and instance norm), LocalResponseNormalization:
kernels (fast == reference), float64 gradient checks, Keras 3 / PyTorch parity, training, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyconv
from tinyconv import layers
from tinyconv.kernels.cpu import lrn as cpu_lrn
from tinyconv.kernels.cpu import norms as cpu_norms
from tinyconv.kernels.reference import lrn as ref_lrn
from tinyconv.kernels.reference import norms as ref_norms

from ..gradcheck import check_layer_gradients
from .oracles import (keras_forward_backward, keras_module, tinyconv_forward_backward, torch_forward_backward,
                      torch_module, train_loss_decreases)

F64 = {"dtype": "float64"}
SETTINGS = settings(max_examples=15, deadline=None)
# Keras 3.15's torch backend computes these layers in float32 even when the layer is float64 (its
# output equals torch's float32 result), so Keras parity is checked at float32 precision; the
# PyTorch tests check the same layers in float64 to 1e-9.
KERAS_CLOSE = dict(rtol=1e-5, atol=2e-6)


def rand(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def tolerance(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ kernels: fast == reference
shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5))
dtypes = st.sampled_from([np.float32, np.float64])


@SETTINGS
@given(shape=shapes, features=st.integers(1, 40), dtype=dtypes, seed=st.integers(0, 99))
def test_layer_norm_kernels_agree(shape, features, dtype, seed):
    x = rand(shape + (features,), seed, dtype) * 3 + 1
    gamma, beta, dy = rand((features,), seed + 1, dtype), rand((features,), seed + 2, dtype), rand(x.shape, seed + 3, dtype)
    fast, ref = cpu_norms.layer_norm_forward(x, gamma, beta, 1e-3), ref_norms.layer_norm_forward(x, gamma, beta, 1e-3)
    for a, b in zip(fast, ref):
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **tolerance(dtype))
    _, mean, inv_std = ref
    for a, b in zip(cpu_norms.layer_norm_backward(dy, x, gamma, mean, inv_std),
                    ref_norms.layer_norm_backward(dy, x, gamma, mean, inv_std)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tolerance(dtype))


@SETTINGS
@given(shape=shapes, groups=st.integers(1, 6), width=st.integers(1, 5), dtype=dtypes, seed=st.integers(0, 99))
def test_group_norm_kernels_agree(shape, groups, width, dtype, seed):
    channels = groups * width
    x = rand(shape + (channels,), seed, dtype) * 2 - 1
    gamma, beta, dy = rand((channels,), seed + 1, dtype), rand((channels,), seed + 2, dtype), rand(x.shape, seed + 3, dtype)
    fast = cpu_norms.group_norm_forward(x, groups, gamma, beta, 1e-3)
    ref = ref_norms.group_norm_forward(x, groups, gamma, beta, 1e-3)
    for a, b in zip(fast, ref):
        assert a.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **tolerance(dtype))
    _, mean, inv_std = ref
    for a, b in zip(cpu_norms.group_norm_backward(dy, x, groups, gamma, mean, inv_std),
                    ref_norms.group_norm_backward(dy, x, groups, gamma, mean, inv_std)):
        np.testing.assert_allclose(a, b, **tolerance(dtype))


@SETTINGS
@given(shape=shapes, channels=st.integers(1, 20), radius=st.integers(0, 7), dtype=dtypes, seed=st.integers(0, 99),
       bias=st.floats(0.5, 2.0), alpha=st.floats(0.0, 1.0), beta=st.floats(0.25, 1.0))
def test_lrn_kernels_agree(shape, channels, radius, dtype, seed, bias, alpha, beta):
    x = rand(shape + (channels,), seed, dtype)
    dy = rand(x.shape, seed + 1, dtype)
    (y_fast, d_fast), (y_ref, d_ref) = (cpu_lrn.lrn_forward(x, radius, bias, alpha, beta),
                                        ref_lrn.lrn_forward(x, radius, bias, alpha, beta))
    np.testing.assert_allclose(y_fast, y_ref, **tolerance(dtype))
    np.testing.assert_allclose(d_fast, d_ref, **tolerance(dtype))
    np.testing.assert_allclose(cpu_lrn.lrn_backward(dy, x, d_ref, radius, bias, alpha, beta),
                               ref_lrn.lrn_backward(dy, x, d_ref, radius, bias, alpha, beta), **tolerance(dtype))


def test_large_inputs_take_the_parallel_path():
    """Above the threading threshold the compiled kernels still equal the references."""
    x, dy = rand((64, 8, 8, 32), 1), rand((64, 8, 8, 32), 2)
    gamma, beta = rand((32,), 3), rand((32,), 4)
    for fast, ref, args in ((cpu_norms.group_norm_forward, ref_norms.group_norm_forward, (x, 4, gamma, beta, 1e-5)),
                            (cpu_norms.layer_norm_forward, ref_norms.layer_norm_forward, (x, gamma, beta, 1e-5)),
                            (cpu_lrn.lrn_forward, ref_lrn.lrn_forward, (x, 2, 1.0, 0.5, 0.75))):
        for a, b in zip(fast(*args), ref(*args)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    _, mean, inv_std = ref_norms.layer_norm_forward(x, gamma, beta, 1e-5)
    for a, b in zip(cpu_norms.layer_norm_backward(dy, x, gamma, mean, inv_std),
                    ref_norms.layer_norm_backward(dy, x, gamma, mean, inv_std)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("module", [cpu_norms, ref_norms])
def test_norm_kernel_errors(module):
    x = rand((2, 3, 6))
    with pytest.raises(ValueError, match="groups must be a positive divisor of the 6 channels"):
        module.group_norm_forward(x, 4, np.ones(6), np.zeros(6), 1e-3)
    with pytest.raises(ValueError, match=r"expected gamma of shape \(6,\)"):
        module.layer_norm_forward(x, np.ones(5), np.zeros(6), 1e-3)
    with pytest.raises(TypeError, match="float32 or float64"):
        module.layer_norm_forward(x.astype(int), np.ones(6), np.zeros(6), 1e-3)
    with pytest.raises(ValueError, match="epsilon > 0"):
        module.layer_norm_forward(x, np.ones(6), np.zeros(6), 0.0)
    with pytest.raises(ValueError, match=r"expected mean of shape \(2, 3\)"):
        module.layer_norm_backward(x, x, np.ones(6), np.zeros(2), np.ones((2, 3)))


@pytest.mark.parametrize("module", [cpu_lrn, ref_lrn])
def test_lrn_kernel_errors(module):
    x = rand((2, 3, 6))
    with pytest.raises(ValueError, match="depth_radius must be an int >= 0"):
        module.lrn_forward(x, -1, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="bias > 0"):
        module.lrn_forward(x, 2, 0.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="expected denom of x's shape"):
        module.lrn_backward(x, x, x[:1], 2, 1.0, 1.0, 0.5)


# ------------------------------------------------------------------ float64 gradient checks, both kernel sets
def with_random_affine(layer, x, seed=5):
    layer(x)  # build
    for slot in layer._weights:
        slot.value[...] = rand(slot.value.shape, seed) + 1
    return layer


@pytest.mark.parametrize("kwargs, shape", [
    (dict(), (3, 7)),
    (dict(), (2, 3, 4, 5)),
    (dict(axis=[1, 2]), (2, 3, 4, 5)),
    (dict(axis=(-3, -1)), (2, 3, 2, 4)),
    (dict(axis=1, epsilon=1e-5), (2, 3, 4, 5)),
    (dict(center=False), (3, 6)),
    (dict(scale=False), (3, 6)),
])
def test_layer_normalization_gradients(kernel_set, kwargs, shape):
    x = rand(shape) * 2 + 0.5
    check_layer_gradients(with_random_affine(layers.LayerNormalization(**kwargs, **F64), x), x, tol=1e-5)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(groups=2), (2, 3, 4, 6)),
    (dict(groups=1), (2, 5, 4)),
    (dict(groups=-1), (2, 3, 3, 4)),                  # instance normalisation
    (dict(groups=3, axis=1), (2, 6, 3, 2)),           # channels first
    (dict(groups=2, center=False, scale=False), (3, 4)),
])
def test_group_normalization_gradients(kernel_set, kwargs, shape):
    x = rand(shape) * 2 - 0.5
    check_layer_gradients(with_random_affine(layers.GroupNormalization(**kwargs, **F64), x), x, tol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(), dict(depth_radius=0), dict(depth_radius=2, bias=2.0, alpha=0.3, beta=0.75),
                                    dict(depth_radius=9, alpha=1e-2)])
def test_local_response_normalization_gradients(kernel_set, kwargs):
    check_layer_gradients(layers.LocalResponseNormalization(**kwargs, **F64), rand((2, 3, 4, 7)))


# ------------------------------------------------------------------ parity with Keras 3 and PyTorch
# (Keras 3.15 on torch fails on a run of axes that does not end at the last one, e.g. axis=1 of a
# rank-3 input: it hands them to torch's layer_norm, which normalises trailing axes only.)
@pytest.mark.parametrize("kwargs, shape", [
    (dict(), (3, 4, 5)),
    (dict(axis=[2, 3], epsilon=1e-5), (2, 3, 4, 5)),
    (dict(axis=[1, 3]), (2, 3, 4, 5)),
])
def test_layer_normalization_matches_keras(kernel_set, kwargs, shape):
    keras = keras_module()
    x, upstream = rand(shape) * 3 + 1, rand(shape, 1)
    ours = layers.LayerNormalization(**kwargs, **F64)
    theirs = keras.layers.LayerNormalization(**kwargs, dtype="float64")
    with_random_affine(ours, x)
    y, dx, grads = tinyconv_forward_backward(ours, x, upstream)
    y_k, dx_k, grads_k = keras_forward_backward(theirs, x, upstream, weights=ours.get_weights())
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    np.testing.assert_allclose(y, y_k, **KERAS_CLOSE)
    np.testing.assert_allclose(dx, dx_k, **KERAS_CLOSE)
    for g, g_k in zip(grads, grads_k):
        np.testing.assert_allclose(g, g_k, **KERAS_CLOSE)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(groups=2), (2, 4, 3, 6)),
    (dict(groups=-1, epsilon=1e-5), (2, 3, 3, 4)),
    (dict(groups=3, axis=1), (2, 6, 5)),
])
def test_group_normalization_matches_keras(kernel_set, kwargs, shape):
    keras = keras_module()
    x, upstream = rand(shape) * 3 + 1, rand(shape, 1)
    ours = with_random_affine(layers.GroupNormalization(**kwargs, **F64), x)
    y, dx, grads = tinyconv_forward_backward(ours, x, upstream)
    y_k, dx_k, grads_k = keras_forward_backward(keras.layers.GroupNormalization(**kwargs, dtype="float64"), x,
                                                upstream, weights=ours.get_weights())
    np.testing.assert_allclose(y, y_k, **KERAS_CLOSE)
    np.testing.assert_allclose(dx, dx_k, **KERAS_CLOSE)
    for g, g_k in zip(grads, grads_k):
        np.testing.assert_allclose(g, g_k, **KERAS_CLOSE)


def test_layer_and_group_normalization_match_torch(kernel_set):
    torch = torch_module()
    F = torch.nn.functional
    x, upstream = rand((2, 5, 4, 6)) * 2 + 1, rand((2, 5, 4, 6), 1)

    ours = with_random_affine(layers.LayerNormalization(epsilon=1e-5, **F64), x)
    gamma, beta = ours.get_weights()
    y, dx, (dgamma, dbeta) = tinyconv_forward_backward(ours, x, upstream)
    y_t, grads_t = torch_forward_backward(lambda a, g, b: F.layer_norm(a, (6,), g, b, 1e-5), x, upstream, gamma, beta)
    for a, b in zip((y, dx, dgamma, dbeta), [y_t] + grads_t):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)

    ours = with_random_affine(layers.GroupNormalization(groups=3, epsilon=1e-5, **F64), x)
    gamma, beta = ours.get_weights()
    y, dx, (dgamma, dbeta) = tinyconv_forward_backward(ours, x, upstream)

    def torch_group_norm(a, g, b):  # torch wants channels first
        return F.group_norm(a.permute(0, 3, 1, 2), 3, g, b, 1e-5).permute(0, 2, 3, 1)

    y_t, grads_t = torch_forward_backward(torch_group_norm, x, upstream, gamma, beta)
    for a, b in zip((y, dx, dgamma, dbeta), [y_t] + grads_t):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_instance_normalization_is_group_norm_with_one_channel_per_group(kernel_set):
    """GroupNormalization(groups=-1) == torch's instance_norm (with an affine weight and bias)."""
    torch = torch_module()
    x, upstream = rand((3, 5, 4, 6)) * 2 + 1, rand((3, 5, 4, 6), 1)
    ours = with_random_affine(layers.GroupNormalization(groups=-1, epsilon=1e-5, **F64), x)
    assert ours.groups == 6
    gamma, beta = ours.get_weights()
    y, dx, (dgamma, dbeta) = tinyconv_forward_backward(ours, x, upstream)

    def torch_instance_norm(a, g, b):
        return torch.nn.functional.instance_norm(a.permute(0, 3, 1, 2), weight=g, bias=b,
                                                 eps=1e-5).permute(0, 2, 3, 1)

    y_t, grads_t = torch_forward_backward(torch_instance_norm, x, upstream, gamma, beta)
    for a, b in zip((y, dx, dgamma, dbeta), [y_t] + grads_t):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("depth_radius, bias, alpha, beta", [(5, 1.0, 1.0, 0.5), (2, 2.0, 1e-4, 0.75), (0, 1.0, 0.5, 1.0)])
def test_local_response_normalization_matches_torch(kernel_set, depth_radius, bias, alpha, beta):
    """TF's (depth_radius, alpha) is torch's (size = 2 r + 1, alpha * size)."""
    torch = torch_module()
    x, upstream = rand((2, 3, 4, 13)) * 2, rand((2, 3, 4, 13), 1)
    layer = layers.LocalResponseNormalization(depth_radius, bias, alpha, beta, **F64)
    y, dx, _ = tinyconv_forward_backward(layer, x, upstream)
    size = 2 * depth_radius + 1

    def torch_lrn(a):
        return torch.nn.functional.local_response_norm(a.permute(0, 3, 1, 2), size, alpha=alpha * size, beta=beta,
                                                       k=bias).permute(0, 2, 3, 1)

    y_t, (dx_t,) = torch_forward_backward(torch_lrn, x, upstream)
    np.testing.assert_allclose(y, y_t, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-9, atol=1e-10)


def test_float32_layers_match_float64(kernel_set):
    x = rand((4, 5, 5, 8))
    for make in (lambda **kw: layers.LayerNormalization(**kw), lambda **kw: layers.GroupNormalization(4, **kw),
                 lambda **kw: layers.LocalResponseNormalization(2, **kw)):
        y32, y64 = make()(x.astype(np.float32)), make(**F64)(x)
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ in a model, and errors
def test_normalization_layers_train_in_a_sequential_model(fresh_names):
    tinyconv.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6, 6, 4)).astype(np.float32), rng.standard_normal((16, 3)).astype(np.float32)
    model = tinyconv.Sequential([
        tinyconv.Input(shape=(6, 6, 4)),
        layers.Conv2D(8, 3, padding="same"),
        layers.GroupNormalization(groups=4),
        layers.LocalResponseNormalization(depth_radius=2, alpha=1e-3, beta=0.75),
        layers.Flatten(),
        layers.Dense(6),
        layers.LayerNormalization(),
        layers.Dense(3),
    ])
    decreased, losses = train_loss_decreases(model, x, y)
    assert decreased, losses
    assert model.layers[1].get_weights()[0].shape == (8,)
    assert [w.shape for w in model.layers[5].get_weights()] == [(6,), (6,)]
    assert model.count_params() == (3 * 3 * 4 * 8 + 8) + 16 + (288 * 6 + 6) + 12 + (6 * 3 + 3)


def test_normalization_errors_name_the_layer(fresh_names):
    with pytest.raises(ValueError, match=r"GroupNormalization 'group_normalization': groups \(4\) must divide .* \(6\)"):
        layers.GroupNormalization(groups=4)(rand((2, 6)))
    with pytest.raises(ValueError, match="groups must be a positive int"):
        layers.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="includes the batch axis"):
        layers.LayerNormalization(axis=[0, 1])(rand((2, 3)))
    norm = layers.LayerNormalization()
    norm(rand((2, 5)))
    with pytest.raises(ValueError, match=r"LayerNormalization 'layer_normalization(_\d+)?': expected sizes \(5,\)"):
        norm(rand((2, 4)))
    with pytest.raises(ValueError, match="depth_radius must be an int >= 0"):
        layers.LocalResponseNormalization(depth_radius=-2)
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        layers.LayerNormalization(epsilon=0)
