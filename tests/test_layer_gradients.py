"""Every layer's backward against central differences, in float64, on both kernel sets."""
import numpy as np
import pytest

from tinyconv import layers
from tinyconv.kernels.reference import pooling as ref_pooling

from .gradcheck import check_layer_gradients

F64 = {"dtype": "float64"}


def tie_free(shape, seed=0):
    """Distinct values, spaced widely enough that eps-perturbations never change a max."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0).astype(np.float64)


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("kwargs", [
    dict(filters=3, kernel_size=(3, 2)),
    dict(filters=4, kernel_size=3, strides=2, padding="same", activation="tanh"),
    dict(filters=2, kernel_size=(2, 3), strides=(2, 1), padding="same", activation="sigmoid"),
    dict(filters=4, kernel_size=3, dilation_rate=2, groups=2, use_bias=False),
    dict(filters=2, kernel_size=1, activation="relu"),
    dict(filters=3, kernel_size=3, padding="same", activation="softmax"),
])
def test_conv2d_gradients(kernel_set, kwargs):
    layer = layers.Conv2D(**kwargs, **F64)
    check_layer_gradients(layer, rand((2, 7, 6, 4)) + 0.05)


def test_conv2d_channels_first_gradients(kernel_set):
    layer = layers.Conv2D(3, (2, 3), strides=(1, 2), padding="same", data_format="channels_first", **F64)
    check_layer_gradients(layer, rand((2, 2, 5, 6)))


@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid", "softmax"])
def test_dense_gradients(activation):
    check_layer_gradients(layers.Dense(5, activation=activation, **F64), rand((4, 6)) + 0.01)


def test_dense_on_rank3_input():
    check_layer_gradients(layers.Dense(3, **F64), rand((2, 4, 5)))


@pytest.mark.parametrize("kwargs", [
    dict(pool_size=2),
    dict(pool_size=3, strides=2),
    dict(pool_size=(3, 2), strides=(2, 1), padding="same"),
    dict(pool_size=2, strides=3),
])
def test_max_pooling_gradients(kernel_set, kwargs):
    check_layer_gradients(layers.MaxPooling2D(**kwargs, **F64), tie_free((2, 7, 6, 3)))


@pytest.mark.parametrize("kwargs", [
    dict(pool_size=2),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), strides=(1, 2), padding="same"),
])
def test_average_pooling_gradients(kernel_set, kwargs):
    check_layer_gradients(layers.AveragePooling2D(**kwargs, **F64), rand((2, 7, 6, 3)))


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_gradients(kernel_set, training):
    layer = layers.BatchNormalization(**F64)
    x = rand((3, 4, 5, 6)) * 2 + 1
    layer(x)  # build
    layer.gamma[...] = rand((6,), seed=1)
    layer.beta[...] = rand((6,), seed=2)
    layer.moving_mean[...] = rand((6,), seed=3)
    layer.moving_variance[...] = np.abs(rand((6,), seed=4)) + 0.5
    check_layer_gradients(layer, x, training=training, tol=1e-5)


def test_batch_normalization_on_dense_features_and_other_axis(kernel_set):
    check_layer_gradients(layers.BatchNormalization(**F64), rand((8, 5)), tol=1e-5)
    check_layer_gradients(layers.BatchNormalization(axis=1, **F64), rand((4, 3, 5)), tol=1e-5)


def test_flatten_activation_relu_gradients():
    x = rand((2, 3, 4, 5)) + 0.01
    check_layer_gradients(layers.Flatten(**F64), x)
    check_layer_gradients(layers.Activation("tanh", **F64), x)
    check_layer_gradients(layers.ReLU(**F64), x)
    check_layer_gradients(layers.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2, **F64), x)


def test_dropout_backward_uses_the_forward_mask():
    layer = layers.Dropout(0.5, seed=3, **F64)
    x = np.ones((200, 10))
    y = layer(x, training=True)
    kept = y != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(y[kept], 2.0)  # inverted dropout scales by 1 / (1 - rate)
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx, y)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_max_pooling_routes_gradient_to_the_winner():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)[None, :, :, None]
    layer = layers.MaxPooling2D(2, **F64)
    np.testing.assert_array_equal(layer(x)[0, :, :, 0], [[6, 8], [3, 4]])
    dx = layer.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    expected = np.zeros((4, 4))
    expected[1, 1] = expected[1, 3] = expected[2, 0] = expected[3, 3] = 1
    np.testing.assert_array_equal(dx, expected)
    assert ref_pooling is not None
