"""DepthwiseConv2D, SeparableConv2D, LocallyConnected1D/2D, TiledConv2D and grouped Conv2D.

For each layer: it trains in a Sequential model, its gradients pass a float64 check on both
kernel sets, the compiled and reference kernels agree, and it matches Keras 3 / PyTorch (or, for
the layers they lack, an einsum oracle and the layers it generalises).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyconv as keras
from tinyconv import layers, dispatch
from tinyconv.geometry import locally_connected_output_hw
from tests.gradcheck import check_layer_gradients

F64 = {"dtype": "float64"}


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --- gradients, both kernel sets ----------------------------------------------------------------


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.DepthwiseConv2D((3, 2), strides=(2, 1), padding="same", depth_multiplier=2,
                                    activation="tanh", **F64), (2, 7, 6, 3)),
    (lambda: layers.DepthwiseConv2D(3, dilation_rate=2, use_bias=False, **F64), (1, 7, 7, 2)),
    (lambda: layers.DepthwiseConv2D(2, data_format="channels_first", **F64), (2, 3, 4, 5)),
    (lambda: layers.SeparableConv2D(4, (2, 3), strides=2, padding="same", depth_multiplier=2,
                                    activation="sigmoid", **F64), (2, 7, 6, 3)),
    (lambda: layers.SeparableConv2D(3, 3, dilation_rate=(1, 2), use_bias=False, **F64), (2, 5, 7, 2)),
    (lambda: layers.LocallyConnected2D(3, (3, 2), strides=(2, 1), activation="tanh", **F64), (2, 7, 5, 2)),
    (lambda: layers.LocallyConnected2D(2, 2, data_format="channels_first", **F64), (2, 3, 4, 5)),
    (lambda: layers.LocallyConnected1D(3, 3, strides=2, **F64), (2, 8, 2)),
    (lambda: layers.LocallyConnected1D(2, 2, data_format="channels_first", use_bias=False, **F64), (2, 3, 5)),
    (lambda: layers.TiledConv2D(3, (2, 3), tile_size=(2, 3), strides=(1, 2), activation="tanh", **F64),
     (2, 6, 8, 2)),
    (lambda: layers.TiledConv2D(2, 3, tile_size=2, padding="same", data_format="channels_first", **F64),
     (2, 2, 5, 4)),
], ids=["depthwise", "depthwise-dilated", "depthwise-nchw", "separable", "separable-dilated", "local2d",
        "local2d-nchw", "local1d", "local1d-ncw", "tiled", "tiled-same-nchw"])
def test_gradients(kernel_set, make, shape):
    check_layer_gradients(make(), rand(shape) + 0.05)


# --- compiled == reference through the layers ------------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["depthwise", "separable", "local", "tiled"]), h=st.integers(3, 8),
       w=st.integers(3, 8), c=st.integers(1, 4), k=st.integers(1, 3), s=st.integers(1, 2),
       m=st.integers(1, 3), seed=st.integers(0, 1000))
def test_compiled_kernels_match_reference_in_every_layer(kind, h, w, c, k, s, m, seed):
    make = {
        "depthwise": lambda: layers.DepthwiseConv2D(k, strides=s, padding="same", depth_multiplier=m),
        "separable": lambda: layers.SeparableConv2D(3, k, strides=s, depth_multiplier=m),
        "local": lambda: layers.LocallyConnected2D(m, k, strides=s),
        "tiled": lambda: layers.TiledConv2D(2, k, tile_size=m, strides=s, padding="same"),
    }[kind]
    x = rand((2, h, w, c), seed).astype("float32")
    layer = make()
    y_fast = layer(x)
    dy = rand(y_fast.shape, seed + 1).astype("float32")
    dx_fast = layer.backward(dy)
    grads_fast = dict(layer.grads)
    with dispatch.use_kernels("reference"):
        y_ref = layer(x)
        dx_ref = layer.backward(dy)
    np.testing.assert_allclose(y_fast, y_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx_fast, dx_ref, rtol=1e-4, atol=1e-5)
    for name, grad in layer.grads.items():
        np.testing.assert_allclose(grads_fast[name], grad, rtol=1e-4, atol=1e-4)


# --- training in a Sequential model --------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
    lambda: layers.SeparableConv2D(4, 3, padding="same", activation="relu"),
    lambda: layers.LocallyConnected2D(3, 3, activation="relu"),
    lambda: layers.TiledConv2D(4, 3, tile_size=2, activation="relu"),
], ids=["depthwise", "separable", "local2d", "tiled"])
def test_trains_in_a_sequential_model(fresh_names, make):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = rng.random((64, 6, 6, 2)).astype("float32") * 0.2
    x[y == 1, :, :3, 0] += 1.0  # class 1: bright left half of channel 0
    model = keras.Sequential([keras.Input(shape=(6, 6, 2)), make(), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=6, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def test_local1d_trains(fresh_names):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((48, 8, 2)).astype("float32")
    y = (x[:, 2:5, 0].sum(axis=1) > 0).astype("int64")
    model = keras.Sequential([keras.Input(shape=(8, 2)), layers.LocallyConnected1D(3, 3, activation="tanh"),
                              layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


# --- Keras 3 parity: DepthwiseConv2D and SeparableConv2D ----------------------------------------------


def keras_forward_backward(keras_layer, x, dy):
    """Run a Keras layer on its torch backend; return (y, dx, {weight name: gradient})."""
    torch = pytest.importorskip("torch", reason="Keras runs on its torch backend here")
    xt = torch.tensor(x, requires_grad=True)
    yt = keras_layer(xt)
    (yt * torch.tensor(dy)).sum().backward()
    grads = {w.path.split("/")[-1]: w.value.grad.numpy() for w in keras_layer.weights}
    return yt.detach().numpy(), xt.grad.numpy(), grads


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=(3, 2), strides=(2, 1), padding="same", depth_multiplier=3, activation="relu"),
    dict(kernel_size=3, dilation_rate=2, depth_multiplier=2, use_bias=False),
    dict(kernel_size=2, data_format="channels_first"),
])
def test_depthwise_matches_keras(fresh_names, kwargs):
    keras3 = pytest.importorskip("keras", reason="Keras 3 is the oracle for DepthwiseConv2D")
    shape = (2, 3, 7, 6) if kwargs.get("data_format") == "channels_first" else (2, 7, 6, 3)
    x = rand(shape)
    ours = layers.DepthwiseConv2D(**kwargs, **F64)
    theirs = keras3.layers.DepthwiseConv2D(**kwargs, dtype="float64")
    y = ours(x)
    theirs.build(shape)
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]
    assert ours.name == "depthwise_conv2d" and ours.count_params() == theirs.count_params()
    ours.set_weights([rand(w.shape, seed=i + 1) for i, w in enumerate(ours.weights)])
    theirs.set_weights(ours.get_weights())
    dy = rand(y.shape, seed=9)
    y_keras, dx_keras, grads_keras = keras_forward_backward(theirs, x, dy)
    np.testing.assert_allclose(ours(x), y_keras, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.backward(dy), dx_keras, rtol=1e-10, atol=1e-10)
    for name, grad in grads_keras.items():
        np.testing.assert_allclose(ours.grads[name], grad, rtol=1e-10, atol=1e-10)
    assert tuple(theirs.compute_output_shape((None,) + shape[1:])) == ours.compute_output_shape((None,) + shape[1:])


@pytest.mark.parametrize("kwargs", [
    dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same", depth_multiplier=2, activation="tanh"),
    dict(filters=2, kernel_size=3, dilation_rate=(2, 1), use_bias=False),
])
def test_separable_matches_keras(fresh_names, kwargs):
    keras3 = pytest.importorskip("keras", reason="Keras 3 is the oracle for SeparableConv2D")
    x = rand((2, 7, 6, 3))
    ours = layers.SeparableConv2D(**kwargs, **F64)
    theirs = keras3.layers.SeparableConv2D(**kwargs, dtype="float64")
    y = ours(x)
    theirs.build(x.shape)
    assert [w.path.split("/")[-1] for w in theirs.weights] == [w.name for w in ours._weights]
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]
    assert ours.name == "separable_conv2d" and ours.count_params() == theirs.count_params()
    ours.set_weights([rand(w.shape, seed=i + 1) for i, w in enumerate(ours.weights)])
    theirs.set_weights(ours.get_weights())
    dy = rand(y.shape, seed=9)
    y_keras, dx_keras, grads_keras = keras_forward_backward(theirs, x, dy)
    np.testing.assert_allclose(ours(x), y_keras, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.backward(dy), dx_keras, rtol=1e-10, atol=1e-10)
    for name, grad in grads_keras.items():
        np.testing.assert_allclose(ours.grads[name], grad, rtol=1e-10, atol=1e-10)
    assert layers.SeparableConvolution2D is layers.SeparableConv2D


def test_depthwise_matches_torch_groups():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for grouped convolution")
    x = rand((2, 6, 7, 3))
    layer = layers.DepthwiseConv2D((3, 2), strides=(1, 2), depth_multiplier=2, **F64)
    layer(x)
    layer.set_weights([rand((3, 2, 3, 2), 1), rand(6, 2)])
    kernel, bias = layer.get_weights()
    # torch weight (out = C*M, in/groups = 1, kh, kw); out channel c*M + m is kernel[:, :, c, m].
    weight = torch.tensor(kernel.transpose(2, 3, 0, 1).reshape(6, 1, 3, 2), requires_grad=True)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, weight, torch.tensor(bias), stride=(1, 2), groups=3)
    y = layer(x)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
    dy = rand(y.shape, 3)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(layer.backward(dy), xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["kernel"],
                               weight.grad.numpy().reshape(3, 2, 3, 2).transpose(2, 3, 0, 1), rtol=1e-10, atol=1e-10)


def test_separable_is_depthwise_then_pointwise_conv2d():
    x = rand((2, 6, 6, 3))
    separable = layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, **F64)
    separable(x)
    depthwise_kernel, pointwise_kernel, bias = (rand(w.shape, i) for i, w in enumerate(separable.weights))
    separable.set_weights([depthwise_kernel, pointwise_kernel, bias])
    depthwise = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, **F64)
    pointwise = layers.Conv2D(4, 1, **F64)
    depthwise(x)
    depthwise.set_weights([depthwise_kernel])
    pointwise(depthwise(x))
    pointwise.set_weights([pointwise_kernel, bias])
    np.testing.assert_allclose(separable(x), pointwise(depthwise(x)), rtol=1e-12)


# --- locally connected: the formula, the layouts, the limits ---------------------------------------------


def test_local2d_matches_an_einsum_oracle():
    x = rand((2, 7, 6, 3))
    layer = layers.LocallyConnected2D(4, (3, 2), strides=(2, 2), **F64)
    y = layer(x)
    kernel, bias = layer.get_weights()
    oh, ow = locally_connected_output_hw((7, 6), (3, 2), (2, 2))
    expected = np.zeros((2, oh, ow, 4))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 2, :].reshape(2, -1)
            expected[:, i, j] = np.einsum("nk,kf->nf", patch, kernel[i * ow + j]) + bias[i, j]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert layer.name.startswith("locally_connected2d")


def test_local1d_matches_an_einsum_oracle_and_keras2_shapes():
    x = rand((2, 9, 3))
    layer = layers.LocallyConnected1D(4, 3, strides=2, **F64)
    y = layer(x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (4, 9, 4) and bias.shape == (4, 4) and y.shape == (2, 4, 4)
    patches = np.stack([x[:, 2 * step:2 * step + 3, :].reshape(2, -1) for step in range(4)], axis=1)
    np.testing.assert_allclose(y, np.einsum("nlk,lkf->nlf", patches, kernel) + bias, rtol=1e-12)
    assert layer.compute_output_shape((None, 9, 3)) == (None, 4, 4)


def test_local_channels_first_uses_keras2_layout():
    """channels_first: patches flattened (c, p, q) and bias (F, OH, OW), as Keras 2 stored them."""
    x = rand((2, 6, 5, 3))
    last = layers.LocallyConnected2D(2, (2, 3), **F64)
    first = layers.LocallyConnected2D(2, (2, 3), data_format="channels_first", **F64)
    x_first = x.transpose(0, 3, 1, 2)
    last(x), first(x_first)
    kernel, bias = last.get_weights()
    assert first.kernel.shape == kernel.shape and first.bias.shape == (2, 5, 3)
    kernel_cpq = kernel.reshape(-1, 2, 3, 3, 2).transpose(0, 3, 1, 2, 4).reshape(kernel.shape)
    first.set_weights([kernel_cpq, bias.transpose(2, 0, 1)])
    np.testing.assert_allclose(first(x_first), last(x).transpose(0, 3, 1, 2), rtol=1e-12)
    x_ncw = rand((2, 3, 7))
    first_1d = layers.LocallyConnected1D(2, 3, data_format="channels_first", **F64)
    last_1d = layers.LocallyConnected1D(2, 3, **F64)
    last_1d(x_ncw.transpose(0, 2, 1)), first_1d(x_ncw)
    kernel, bias = last_1d.get_weights()
    first_1d.set_weights([kernel.reshape(-1, 3, 3, 2).transpose(0, 2, 1, 3).reshape(kernel.shape), bias])
    np.testing.assert_allclose(first_1d(x_ncw), last_1d(x_ncw.transpose(0, 2, 1)).transpose(0, 2, 1), rtol=1e-12)


def test_local_errors_name_the_layer(fresh_names):
    with pytest.raises(ValueError, match=r"LocallyConnected2D 'locally_connected2d': padding must be 'valid', got 'same'"):
        layers.LocallyConnected2D(2, 3, padding="same")
    layer = layers.LocallyConnected2D(2, 3)
    layer(np.zeros((1, 5, 5, 1), "float32"))
    with pytest.raises(ValueError, match=r"needs a kernel of shape \(16, 9, 2\).*built with \(9, 9, 2\)"):
        layer(np.zeros((1, 6, 6, 1), "float32"))
    with pytest.raises(ValueError, match="too small"):
        layers.LocallyConnected2D(2, 4)(np.zeros((1, 3, 5, 1), "float32"))
    with pytest.raises(ValueError, match="fully known spatial"):
        layers.LocallyConnected2D(2, 2).build((None, None, 5, 1))
    with pytest.raises(ValueError, match=r"LocallyConnected1D '.*': expected input of rank 3"):
        layers.LocallyConnected1D(2, 2)(np.zeros((1, 5, 5, 1), "float32"))


# --- tiled convolution: between Conv2D and LocallyConnected2D --------------------------------------------


def test_tile_one_by_one_equals_conv2d(kernel_set):
    x = rand((2, 7, 6, 3))
    conv = layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu", **F64)
    tiled = layers.TiledConv2D(4, (3, 2), tile_size=(1, 1), strides=(2, 1), padding="same", activation="relu",
                               **F64)
    conv(x), tiled(x)
    kernel, bias = conv.get_weights()
    tiled.set_weights([kernel[None, None], bias])
    np.testing.assert_allclose(tiled(x), conv(x), rtol=1e-12)
    dy = rand(conv(x).shape, 1)
    np.testing.assert_allclose(tiled.backward(dy), conv.backward(dy), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tiled.grads["kernel"][0, 0], conv.grads["kernel"], rtol=1e-12, atol=1e-12)


def test_tile_as_large_as_the_output_equals_locally_connected(kernel_set):
    x = rand((2, 7, 6, 3))
    local = layers.LocallyConnected2D(4, (3, 2), strides=(2, 2), **F64)
    local(x)
    oh, ow = local.bias.shape[:2]
    tiled = layers.TiledConv2D(4, (3, 2), tile_size=(oh, ow), strides=(2, 2), use_bias=False, **F64)
    tiled(x)
    tiled_kernel = rand(tiled.kernel.shape, 1)
    tiled.set_weights([tiled_kernel])
    # position (i, j)'s kernel is tile (i, j), its patch flattened in (p, q, c) order
    local.set_weights([tiled_kernel.reshape(oh * ow, -1, 4), np.zeros((oh, ow, 4))])
    np.testing.assert_allclose(tiled(x), local(x), rtol=1e-12)
    dy = rand((2, oh, ow, 4), 2)
    np.testing.assert_allclose(tiled.backward(dy), local.backward(dy), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tiled.grads["kernel"].reshape(oh * ow, -1, 4), local.grads["kernel"], rtol=1e-12)


def test_tiled_positions_share_weights_every_tile_steps():
    """Moving the input by one whole tile period moves the output; by less, it doesn't (in general)."""
    layer = layers.TiledConv2D(1, 1, tile_size=(2, 1), use_bias=False, **F64)
    x = np.ones((1, 4, 1, 1))
    layer(x)
    layer.set_weights([np.array([2.0, 5.0]).reshape(2, 1, 1, 1, 1, 1)])
    np.testing.assert_array_equal(layer(x)[0, :, 0, 0], [2, 5, 2, 5])
    assert layer.get_config()["tile_size"] == (2, 1) and layer.name.startswith("tiled_conv2d")


# --- grouped convolution: partial connectivity between channels -------------------------------------------


def test_grouped_conv_keeps_groups_apart():
    """Goodfellow's 'partial connectivity between channels': Conv2D(groups=2) output channels of
    group 0 read only input channels of group 0."""
    layer = layers.Conv2D(6, 3, groups=2, **F64)
    x = rand((2, 6, 6, 4))
    y = layer(x)
    changed = x.copy()
    changed[..., 2:] = rand((2, 6, 6, 2), 5)  # the input channels of group 1
    y_changed = layer(changed)
    np.testing.assert_array_equal(y_changed[..., :3], y[..., :3])  # group 0's filters: untouched
    assert np.abs(y_changed[..., 3:] - y[..., 3:]).max() > 0.1     # group 1's filters: changed


# --- arguments and errors ------------------------------------------------------------------------------


def test_bad_arguments_name_the_layer(fresh_names):
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'depthwise_conv2d': depth_multiplier must be"):
        layers.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"SeparableConv2D '.*': filters must be a positive integer"):
        layers.SeparableConv2D(0, 3)
    with pytest.raises(ValueError, match=r"TiledConv2D '.*': tile_size must be positive"):
        layers.TiledConv2D(2, 3, tile_size=(0, 2))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.DepthwiseConv2D(3, padding="full")
    layer = layers.DepthwiseConv2D(3)
    layer(np.zeros((1, 5, 5, 2), "float32"))
    with pytest.raises(ValueError, match=r"expected input with 2 channels \(from its weights\), got shape"):
        layer(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match="too small"):
        layers.TiledConv2D(2, 4)(np.zeros((1, 3, 5, 1), "float32"))


def test_configs_and_keras_defaults(fresh_names):
    config = layers.SeparableConv2D(8, 3).get_config()
    assert config["depth_multiplier"] == 1 and config["pointwise_initializer"] == "glorot_uniform"
    assert config["strides"] == (1, 1) and config["padding"] == "valid"
    config = layers.DepthwiseConv2D(3).get_config()
    assert config["depthwise_initializer"] == "glorot_uniform" and "filters" not in config
    config = layers.LocallyConnected1D(2, 3).get_config()
    assert config["kernel_size"] == (3,) and config["strides"] == (1,) and "dilation_rate" not in config
