"""Conv1D and Conv3D (and the conv3d kernels they run on).

1. output shapes: the course's formula out = (N + 2P - F)/S + 1 and Keras's numbers for every padding;
2. a dilated 3-wide kernel sees 5 cells (receptive field), causal Conv1D never sees the future;
3. conv3d kernels: compiled == reference on random shapes (hypothesis), parity with torch;
4. float64 gradient checks on both kernel sets; training in a small Sequential model;
5. parity with Keras layers (forward, gradients, one SGD step) and with torch's conv1d/conv3d;
6. bad arguments raise ValueErrors that name the layer.
"""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyconv
from tinyconv.kernels.cpu import conv3d as fast
from tinyconv.kernels.reference import conv3d as ref
from tinyconv.layers import Conv1D, Conv3D, Convolution1D, Convolution3D

from ..gradcheck import check_layer_gradients
from .oracles import assert_conv_matches_keras, keras_module

os.environ.setdefault("KERAS_BACKEND", "torch")


def course_output_size(n, f, s, p):
    """The course's formula, with P zeros on each side."""
    return (n + 2 * p - f) // s + 1


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("length, k, s", [(10, 3, 1), (11, 3, 2), (7, 5, 2), (8, 1, 3)])
def test_conv1d_valid_and_same_shapes_follow_the_course_formula(length, k, s, fresh_names):
    x = np.zeros((2, length, 3), np.float32)
    assert Conv1D(4, k, strides=s)(x).shape == (2, course_output_size(length, k, s, 0), 4)
    # 'same' keeps ceil(N / S) cells; with stride 1 and odd F that is P = (F - 1) / 2.
    assert Conv1D(4, k, strides=s, padding="same")(x).shape == (2, -(-length // s), 4)
    if s == 1 and k % 2:
        assert course_output_size(length, k, 1, (k - 1) // 2) == length


def test_conv1d_causal_keeps_the_length(fresh_names):
    x = np.zeros((1, 9, 2), np.float32)
    assert Conv1D(3, 4, padding="causal", dilation_rate=2)(x).shape == (1, 9, 3)
    assert Conv1D(3, 4, padding="causal", strides=2)(x).shape == (1, 5, 3)


def test_conv3d_shapes_follow_the_course_formula(fresh_names):
    x = np.zeros((2, 7, 8, 9, 2), np.float32)
    layer = Conv3D(5, (3, 2, 4), strides=(2, 1, 3))
    expected = tuple(course_output_size(n, f, s, 0) for n, f, s in zip((7, 8, 9), (3, 2, 4), (2, 1, 3)))
    assert layer(x).shape == (2,) + expected + (5,)
    assert layer.kernel.shape == (3, 2, 4, 2, 5)
    assert Conv3D(5, 3, strides=2, padding="same")(x).shape == (2, 4, 4, 5, 5)


CONV1D_CONFIGS = [
    dict(filters=4, kernel_size=3, padding="valid"),
    dict(filters=4, kernel_size=3, padding="same", strides=2),
    dict(filters=4, kernel_size=4, padding="same"),
    dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2),
    dict(filters=4, kernel_size=2, padding="causal", strides=3, groups=2),
]
CONV3D_CONFIGS = [
    dict(filters=4, kernel_size=3, padding="valid"),
    dict(filters=4, kernel_size=(2, 3, 1), strides=(1, 2, 2), padding="same"),
    dict(filters=4, kernel_size=3, dilation_rate=(1, 2, 1), padding="same", groups=2),
]


@pytest.mark.parametrize("config", CONV1D_CONFIGS)
def test_conv1d_output_shapes_match_keras(config, fresh_names):
    keras = keras_module()
    for length in (1 + config.get("dilation_rate", 1) * (config["kernel_size"] - 1), 9, 10):
        shape = (None, length, 4)
        assert Conv1D(**config).compute_output_shape(shape) == tuple(keras.layers.Conv1D(**config)
                                                                     .compute_output_shape(shape))


@pytest.mark.parametrize("config", CONV3D_CONFIGS)
def test_conv3d_output_shapes_match_keras(config, fresh_names):
    keras = keras_module()
    shape = (None, 5, 6, 7, 4)
    assert Conv3D(**config).compute_output_shape(shape) == tuple(keras.layers.Conv3D(**config)
                                                                 .compute_output_shape(shape))


# ------------------------------------------------------------------ receptive field, causality


def test_a_dilated_3_kernel_sees_5_cells(fresh_names):
    """A single 1 in the input spreads over 3 cells spaced 2 apart: a footprint 5 wide."""
    x = np.zeros((1, 11, 1))
    x[0, 5, 0] = 1
    layer = Conv1D(1, 3, dilation_rate=2, padding="same", kernel_initializer="ones", dtype="float64")
    touched = np.flatnonzero(layer(x)[0, :, 0])
    assert touched.tolist() == [3, 5, 7]
    assert touched.max() - touched.min() + 1 == 5


def test_a_dilated_3x3x3_kernel_sees_a_5x5x5_box(fresh_names):
    x = np.zeros((1, 9, 9, 9, 1))
    x[0, 4, 4, 4, 0] = 1
    layer = Conv3D(1, 3, dilation_rate=2, padding="same", kernel_initializer="ones", dtype="float64")
    touched = np.argwhere(layer(x)[0, ..., 0])
    assert len(touched) == 27
    assert (touched.max(axis=0) - touched.min(axis=0) + 1).tolist() == [5, 5, 5]


@pytest.mark.parametrize("kernel_size, dilation", [(3, 1), (2, 3), (4, 2)])
def test_causal_output_at_t_depends_only_on_inputs_up_to_t(kernel_size, dilation, kernel_set, fresh_names):
    rng = np.random.default_rng(1)
    layer = Conv1D(3, kernel_size, padding="causal", dilation_rate=dilation, dtype="float64")
    x = rng.standard_normal((2, 12, 2))
    y = layer(x)
    for t in range(12):
        changed = x.copy()
        changed[:, t:] += rng.standard_normal(changed[:, t:].shape)  # rewrite the present and future
        y_changed = layer(changed)
        np.testing.assert_array_equal(y_changed[:, :t], y[:, :t])
        assert not np.allclose(y_changed[:, t], y[:, t])  # ... and the present does matter


# ------------------------------------------------------------------ conv3d kernels


def problem_3d(rng, n, dhw, c, kdhw, f, groups, dtype):
    x = rng.standard_normal((n,) + dhw + (c,)).astype(dtype)
    kernel = rng.standard_normal(kdhw + (c // groups, f)).astype(dtype)
    return x, kernel, rng.standard_normal(f).astype(dtype)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_conv3d_fast_matches_reference(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    groups = draw(st.sampled_from([1, 2]))
    kdhw = tuple(draw(st.integers(1, 3)) for _ in range(3))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(3))
    dhw = tuple(max(draw(st.integers(1, 6)), d * (k - 1) + 1) for k, d in zip(kdhw, dilation))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x, kernel, bias = problem_3d(rng, draw(st.integers(1, 3)), dhw, groups * draw(st.integers(1, 3)), kdhw,
                                 groups * draw(st.integers(1, 3)), groups, dtype)
    args = (strides, pads, dilation, groups)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    y = ref.conv3d_forward(x, kernel, bias, *args)
    np.testing.assert_allclose(fast.conv3d_forward(x, kernel, bias, *args), y, **tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(fast.conv3d_backward(dy, x, kernel, *args), ref.conv3d_backward(dy, x, kernel, *args)):
        assert got.dtype == want.dtype == dtype
        np.testing.assert_allclose(got, want, **tol)


def test_conv3d_fast_matches_reference_when_the_batch_is_chunked(monkeypatch):
    rng = np.random.default_rng(3)
    x, kernel, bias = problem_3d(rng, 5, (4, 5, 6), 3, (2, 3, 2), 4, 1, np.float64)
    args = ((1, 2, 1), ((1, 1), (0, 2), (1, 0)), (1, 1, 2), 1)
    monkeypatch.setattr(fast, "WORKSPACE_BYTES", 4096)  # forces one sample per chunk
    assert len(fast._batch_chunks(5, 1000, 8)) == 5
    np.testing.assert_allclose(fast.conv3d_forward(x, kernel, bias, *args), ref.conv3d_forward(x, kernel, bias, *args))
    dy = rng.standard_normal(ref.conv3d_forward(x, kernel, bias, *args).shape)
    for got, want in zip(fast.conv3d_backward(dy, x, kernel, *args), ref.conv3d_backward(dy, x, kernel, *args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("module", [ref, fast], ids=["reference", "cpu"])
def test_conv3d_kernels_match_torch(module):
    torch = pytest.importorskip("torch", reason="torch is the oracle of this test (pip install torch)")
    rng = np.random.default_rng(4)
    x, kernel, bias = problem_3d(rng, 2, (5, 6, 7), 4, (2, 3, 2), 6, 2, np.float64)
    strides, pads, dilation = (1, 2, 1), ((1, 0), (1, 2), (0, 1)), (2, 1, 2)
    y = module.conv3d_forward(x, kernel, bias, strides, pads, dilation, 2)
    padded = np.pad(x, ((0, 0),) + pads + ((0, 0),))
    x_t = torch.tensor(padded).permute(0, 4, 1, 2, 3).requires_grad_()
    k_t = torch.tensor(kernel).permute(4, 3, 0, 1, 2).requires_grad_()   # (F, Cg, KD, KH, KW)
    y_t = torch.nn.functional.conv3d(x_t, k_t, torch.tensor(bias), stride=strides, dilation=dilation, groups=2)
    np.testing.assert_allclose(y, y_t.permute(0, 2, 3, 4, 1).detach().numpy(), rtol=1e-10, atol=1e-10)
    dy = rng.standard_normal(y.shape)
    (y_t * torch.tensor(dy).permute(0, 4, 1, 2, 3)).sum().backward()
    dx, dkernel, dbias = module.conv3d_backward(dy, x, kernel, strides, pads, dilation, 2)
    dx_t = x_t.grad.permute(0, 2, 3, 4, 1).numpy()[:, 1:, 1:-2, :-1]   # drop the padding's gradient
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dkernel, k_t.grad.permute(2, 3, 4, 1, 0).numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dbias, dy.sum(axis=(0, 1, 2, 3)), rtol=1e-12)


def test_conv3d_kernel_rejects_bad_arguments():
    x = np.zeros((1, 4, 4, 4, 2))
    kernel = np.zeros((3, 3, 3, 2, 1))
    with pytest.raises(ValueError, match="rank 5"):
        ref.conv3d_forward(x[0], kernel, None, (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1)
    with pytest.raises(ValueError, match="input channels"):
        fast.conv3d_forward(x, kernel[:, :, :, :1], None, (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1)
    with pytest.raises(ValueError, match="output size"):
        fast.conv3d_forward(x, kernel, None, (1, 1, 1), ((0, 0),) * 3, (2, 1, 1), 1)
    with pytest.raises(ValueError, match="pads"):
        fast.conv3d_forward(x, kernel, None, (1, 1, 1), ((0, 0),) * 2, (1, 1, 1), 1)
    with pytest.raises(ValueError, match="expected dy of shape"):
        fast.conv3d_backward(np.zeros((1, 3, 3, 3, 1)), x, kernel, (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1)


# ------------------------------------------------------------------ layer gradients and training


@pytest.mark.parametrize("config", CONV1D_CONFIGS)
def test_conv1d_gradients(config, kernel_set, fresh_names):
    x = np.random.default_rng(5).standard_normal((2, 7, 4))
    check_layer_gradients(Conv1D(dtype="float64", bias_initializer="random_normal", **config), x)


@pytest.mark.parametrize("config", CONV3D_CONFIGS[:2] + [dict(CONV3D_CONFIGS[2], data_format="channels_first")])
def test_conv3d_gradients(config, kernel_set, fresh_names):
    x = np.random.default_rng(6).standard_normal((1, 4, 4, 5, 4))
    check_layer_gradients(Conv3D(dtype="float64", activation="tanh", **config), x)


def test_conv1d_and_conv3d_layers_agree_across_kernel_sets(fresh_names):
    rng = np.random.default_rng(7)
    for layer, x in [(Conv1D(6, 3, padding="causal", groups=3, dtype="float64"), rng.standard_normal((3, 10, 6))),
                     (Conv3D(4, 2, strides=2, padding="same", dtype="float64"), rng.standard_normal((2, 5, 6, 3, 2)))]:
        results = []
        for kernels in ("cpu", "reference"):
            with tinyconv.backend.use_kernels(kernels):
                y = layer(x)
                results.append((y, layer.backward(np.ones_like(y)), layer.grads["kernel"]))
        for got, want in zip(*results):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make_model, x_shape", [
    (lambda k: [k.Input(shape=(16, 3)), k.layers.Conv1D(8, 3, padding="causal", activation="relu"),
                k.layers.Conv1D(4, 3, strides=2), k.layers.Flatten(), k.layers.Dense(3, activation="softmax")],
     (48, 16, 3)),
    (lambda k: [k.Input(shape=(6, 6, 6, 2)), k.layers.Conv3D(4, 3, activation="relu"),
                k.layers.Convolution3D(4, 2, padding="same"), k.layers.Flatten(),
                k.layers.Dense(3, activation="softmax")], (48, 6, 6, 6, 2)),
])
def test_trains_in_a_sequential_model(make_model, x_shape, fresh_names):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(x_shape).astype(np.float32)
    y = (x.reshape(len(x), -1)[:, :3].argmax(axis=1))  # learnable: which of three cells is largest
    model = tinyconv.Sequential(make_model(tinyconv))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]


# ------------------------------------------------------------------ Keras and torch parity


@pytest.mark.parametrize("ours, name, config, x_shape", [
    (Conv1D, "Conv1D", c, (2, 9, 4)) for c in CONV1D_CONFIGS] + [
    (Conv3D, "Conv3D", c, (2, 5, 6, 7, 4)) for c in CONV3D_CONFIGS] + [
    (Conv3D, "Conv3D", dict(filters=3, kernel_size=2, data_format="channels_first"), (2, 4, 5, 6, 4))])
def test_forward_and_gradients_match_keras(ours, name, config, x_shape, fresh_names):
    keras = keras_module()
    rng = np.random.default_rng(9)
    keras_layer = getattr(keras.layers, name)(bias_initializer="random_normal", **config)
    x = rng.standard_normal(x_shape).astype(np.float32)
    keras_layer(x)
    layer = ours(**config)
    layer(x)
    layer.set_weights(keras_layer.get_weights())
    assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in keras_layer.get_weights()]

    r = rng.standard_normal(layer.compute_output_shape(x.shape)).astype(np.float32)
    assert_conv_matches_keras(layer, keras_layer, x, r)


def test_one_sgd_step_matches_keras(fresh_names):
    keras = keras_module()
    rng = np.random.default_rng(10)
    x = rng.standard_normal((8, 10, 2)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)

    def build(k):
        return k.Sequential([k.Input(shape=(10, 2)), k.layers.Conv1D(4, 3, padding="causal", activation="relu"),
                             k.layers.Convolution1D(2, 2, strides=2), k.layers.Flatten(), k.layers.Dense(3)])

    keras_model, model = build(keras), build(tinyconv)
    model.set_weights(keras_model.get_weights())
    for m, k in ((keras_model, keras), (model, tinyconv)):
        m.compile(optimizer=k.optimizers.SGD(learning_rate=0.1), loss="mse")
    assert np.isclose(model.train_on_batch(x, y), float(keras_model.train_on_batch(x, y)), rtol=1e-4)
    for ours, theirs in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_conv1d_matches_torch_conv1d(fresh_names):
    torch = pytest.importorskip("torch", reason="torch is the oracle of this test (pip install torch)")
    rng = np.random.default_rng(11)
    layer = Conv1D(6, 3, strides=2, groups=3, padding="same", dtype="float64", bias_initializer="random_normal")
    x = rng.standard_normal((2, 11, 6))
    y = layer(x)
    before, after = layer._pad_spec[0]
    x_t = torch.tensor(np.pad(x, ((0, 0), (before, after), (0, 0)))).permute(0, 2, 1)
    k_t = torch.tensor(layer.kernel).permute(2, 1, 0)  # (k, Cg, F) -> torch's (F, Cg, k)
    y_t = torch.nn.functional.conv1d(x_t, k_t, torch.tensor(layer.bias), stride=2, groups=3)
    np.testing.assert_allclose(y, y_t.permute(0, 2, 1).numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ config and errors


def test_aliases_names_and_config(fresh_names):
    assert Convolution1D is Conv1D and Convolution3D is Conv3D
    assert tinyconv.layers.Convolution1D is Conv1D
    layer = Conv1D(4, 3, padding="causal")
    assert layer.name == "conv1d"
    config = layer.get_config()
    assert config["kernel_size"] == (3,) and config["padding"] == "causal" and config["strides"] == (1,)
    assert Conv1D.from_config(config).get_config() == config
    assert Conv3D(2, 3).name == "conv3d"


def test_bad_arguments_name_the_layer(fresh_names):
    with pytest.raises(ValueError, match="Conv3D 'conv3d'.*padding"):
        Conv3D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="Conv1D 'conv1d'.*kernel_size"):
        Conv1D(2, (3, 3))
    with pytest.raises(ValueError, match="strides > 1 .* dilation_rate > 1"):
        Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="groups"):
        Conv3D(3, 3, groups=2)
    layer = Conv1D(2, 3, name="c1")
    with pytest.raises(ValueError, match=r"Conv1D 'c1': expected input of rank 3 \(batch, steps, channels\)"):
        layer(np.zeros((1, 5, 5, 2)))
    layer(np.zeros((1, 5, 2)))
    with pytest.raises(ValueError, match="expected input with 2 channels"):
        layer(np.zeros((1, 5, 3)))
    with pytest.raises(ValueError, match="too small"):
        layer(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv3D(4, 1, groups=2)(np.zeros((1, 2, 2, 2, 3)))
