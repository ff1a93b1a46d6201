"""MaxPooling1D/3D, AveragePooling1D/3D and global pooling: shapes, gradients, training, Keras parity."""
import numpy as np
import pytest

import tinyconv
from tinyconv import layers

from ..gradcheck import check_layer_gradients
from .oracles import keras_forward_backward, keras_module, train_loss_decreases


def tie_free(shape, seed=0):
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) / size - 0.5


# (class name, constructor kwargs, input shape): every Keras layer of this module, both layouts
CASES = [
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 9, 3)),
    ("MaxPooling1D", dict(pool_size=2, data_format="channels_first"), (2, 3, 7)),
    # Keras's torch backend pads an *asymmetric* 'same' average with copies of the edge (TensorFlow and
    # tinyconv leave padding out): see test_asymmetric_same_average_leaves_padding_out.
    ("AveragePooling1D", dict(pool_size=3, strides=1, padding="same"), (2, 8, 3)),
    ("AveragePooling1D", dict(pool_size=2, strides=1, data_format="channels_first"), (2, 3, 5)),
    ("MaxPooling3D", dict(pool_size=(2, 3, 2), strides=(1, 2, 2), padding="same"), (1, 3, 4, 5, 2)),
    ("MaxPooling3D", dict(data_format="channels_first"), (1, 2, 2, 4, 5)),
    ("AveragePooling3D", dict(pool_size=(3, 3, 1), strides=(2, 1, 1), padding="same"), (2, 5, 4, 3, 2)),
    ("AveragePooling3D", dict(pool_size=2, data_format="channels_first"), (1, 2, 4, 4, 5)),
    ("GlobalMaxPooling1D", dict(), (2, 6, 3)),
    ("GlobalMaxPooling2D", dict(keepdims=True), (2, 4, 5, 3)),
    ("GlobalMaxPooling3D", dict(data_format="channels_first"), (2, 3, 2, 3, 4)),
    ("GlobalAveragePooling1D", dict(data_format="channels_first", keepdims=True), (2, 3, 6)),
    ("GlobalAveragePooling2D", dict(), (2, 4, 5, 3)),
    ("GlobalAveragePooling3D", dict(keepdims=True), (2, 2, 3, 4, 3)),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=IDS)
def test_matches_keras_forward_and_backward(name, kwargs, shape, fresh_names):
    keras = keras_module()
    x = tie_free(shape).astype(np.float32)
    ours = getattr(layers, name)(**kwargs)
    y = ours(x)
    upstream = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx = ours.backward(upstream)
    y_k, dx_k, _ = keras_forward_backward(getattr(keras.layers, name)(**kwargs), x, upstream)
    assert y.shape == y_k.shape
    np.testing.assert_allclose(y, y_k, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, dx_k, rtol=1e-5, atol=1e-6)
    assert ours.compute_output_shape((None,) + shape[1:]) == (None,) + y_k.shape[1:]


@pytest.mark.parametrize("name, kwargs, shape", CASES, ids=IDS)
def test_gradients_numerically(name, kwargs, shape, kernel_set, fresh_names):
    check_layer_gradients(getattr(layers, name)(dtype="float64", **kwargs), tie_free(shape, seed=2))


def test_aliases_and_keras_defaults():
    assert layers.MaxPool1D is layers.MaxPooling1D and layers.AvgPool3D is layers.AveragePooling3D
    assert layers.GlobalMaxPool2D is layers.GlobalMaxPooling2D
    assert layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D
    assert layers.MaxPooling1D().pool_size == (2,) and layers.MaxPooling3D().pool_size == (2, 2, 2)
    with pytest.raises(TypeError):
        layers.AveragePooling3D()  # pool_size is required, as in Keras


def test_asymmetric_same_average_leaves_padding_out():
    # 8 steps, pool 3, stride 2: 'same' pads 0 before and 1 after; the last window is (6, 7, pad).
    layer = layers.AveragePooling1D(3, strides=2, padding="same")
    y = layer(np.arange(8, dtype=np.float32).reshape(1, 8, 1))
    np.testing.assert_allclose(y.ravel(), [1, 3, 5, 6.5])  # (6 + 7) / 2, as TensorFlow computes it


def test_global_backward_routes_to_the_max_and_spreads_the_mean():
    x = np.zeros((1, 2, 3, 1))
    x[0, 1, 2, 0] = 5.0
    layer = layers.GlobalMaxPooling2D(dtype="float64")
    assert layer(x).item() == 5.0
    np.testing.assert_array_equal(layer.backward(np.array([[2.0]]))[0, :, :, 0], [[0, 0, 0], [0, 0, 2]])
    mean = layers.GlobalAveragePooling2D(dtype="float64")
    mean(x)
    np.testing.assert_allclose(mean.backward(np.array([[6.0]])), np.ones_like(x))


def test_trains_in_a_sequential_model(fresh_names):
    rng = np.random.default_rng(3)
    model = tinyconv.Sequential([
        tinyconv.Input(shape=(8, 3)),
        layers.MaxPooling1D(2),
        layers.AveragePooling1D(2, padding="same"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2),
    ])
    ok, losses = train_loss_decreases(model, rng.standard_normal((16, 8, 3)), rng.standard_normal((16, 2)))
    assert ok, losses
    model3d = tinyconv.Sequential([
        tinyconv.Input(shape=(4, 4, 4, 2)),
        layers.MaxPooling3D(2),
        layers.AveragePooling3D(2),
        layers.GlobalMaxPooling3D(),
        layers.Dense(1),
    ])
    ok, losses = train_loss_decreases(model3d, rng.standard_normal((8, 4, 4, 4, 2)), rng.standard_normal((8, 1)))
    assert ok, losses


def test_bad_input_names_the_layer(fresh_names):
    with pytest.raises(ValueError, match=r"MaxPooling3D 'max_pooling3d'.*rank 5.*got shape \(None, 4, 4, 1\)"):
        layers.MaxPooling3D()(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"AveragePooling1D 'average_pooling1d'.*smaller than pool_size"):
        layers.AveragePooling1D(5)(np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.MaxPooling1D(2, padding="causal")
    with pytest.raises(ValueError, match="pool_size must be an int or a tuple of 3 ints"):
        layers.MaxPooling3D((2, 2))
