"""Reshape, Permute, RepeatVector, Embedding, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout:
shapes and values against Keras 3, float64 gradient checks, training in a model, errors."""
import numpy as np
import pytest

import tinyconv
from tinyconv import layers

from ..gradcheck import check_layer_gradients, numerical_gradient, relative_error
from .oracles import keras_forward_backward, keras_module, tinyconv_forward_backward, train_loss_decreases

F64 = {"dtype": "float64"}


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ reshaping
@pytest.mark.parametrize("name, args, shape", [
    ("Reshape", ((4, 6),), (2, 3, 8)),
    ("Reshape", ((-1, 3),), (2, 4, 6)),
    ("Reshape", ((2, -1, 2),), (3, 12)),
    ("Permute", ((2, 1),), (2, 3, 4)),
    ("Permute", ((3, 1, 2),), (2, 3, 4, 5)),
    ("RepeatVector", (3,), (2, 5)),
])
def test_reshaping_layers_match_keras(name, args, shape):
    keras = keras_module()
    x, ours = rand(shape), getattr(layers, name)(*args, **F64)
    upstream = rand(ours.compute_output_shape((None,) + shape[1:])[1:], 1)[None].repeat(shape[0], 0)
    y, dx, _ = tinyconv_forward_backward(ours, x, upstream)
    theirs = getattr(keras.layers, name)(*args, dtype="float64")
    y_k, dx_k, _ = keras_forward_backward(theirs, x, upstream)
    np.testing.assert_array_equal(y, y_k)
    np.testing.assert_allclose(dx, dx_k, rtol=1e-12)
    assert ours.compute_output_shape((None,) + shape[1:]) == tuple(theirs.compute_output_shape((None,) + shape[1:]))
    check_layer_gradients(getattr(layers, name)(*args, **F64), x)


def test_reshaping_errors(fresh_names):
    with pytest.raises(ValueError, match=r"Reshape 'reshape': cannot reshape 10 values per sample into \(-1, 3\)"):
        layers.Reshape((-1, 3))(rand((2, 10)))
    with pytest.raises(ValueError, match="at most one -1"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match="dims must be a permutation of 1..2"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match=r"RepeatVector 'repeat_vector': expected input of rank 2"):
        layers.RepeatVector(2)(rand((2, 3, 4)))


# ------------------------------------------------------------------ embedding
def test_embedding_matches_keras_and_scatter_adds():
    keras = keras_module()
    indices = np.array([[1, 4, 1, 0], [3, 3, 3, 9]])
    upstream = rand((2, 4, 5), 1)
    ours = layers.Embedding(10, 5, embeddings_initializer="random_normal", **F64)
    y = ours(indices)
    ours.backward(upstream)
    theirs = keras.layers.Embedding(10, 5, dtype="float64")
    y_k, _, (grad_k,) = keras_forward_backward_int(theirs, indices, upstream, ours.get_weights())
    np.testing.assert_allclose(y, y_k)
    np.testing.assert_allclose(ours.grads["embeddings"], grad_k, rtol=1e-12)
    # Index 3 is used three times: its row collects three gradients.
    np.testing.assert_allclose(ours.grads["embeddings"][3], upstream[1, :3].sum(axis=0))
    assert not ours.grads["embeddings"][[2, 5, 6, 7, 8]].any()


def keras_forward_backward_int(keras_layer, indices, upstream, weights):
    import torch

    keras_layer.build(indices.shape)
    keras_layer.set_weights(weights)
    y = keras_layer(torch.tensor(indices))
    (y * torch.tensor(upstream)).sum().backward()
    return y.detach().numpy(), None, [w.value.grad.numpy() for w in keras_layer.weights]


def test_embedding_weight_gradient_is_numerically_right():
    layer = layers.Embedding(6, 3, **F64)
    indices = np.array([[0, 5, 5], [2, 0, 1]])
    r = rand((2, 3, 3), 2)
    layer(indices)
    layer.backward(r)
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(indices) * r)), layer.embeddings)
    assert relative_error(layer.grads["embeddings"], numeric) < 1e-8


def test_embedding_defaults_and_errors(fresh_names):
    layer = layers.Embedding(7, 4)
    y = layer(np.array([[0, 6]]))
    assert y.shape == (1, 2, 4) and y.dtype == np.float32
    assert np.abs(layer.embeddings).max() <= 0.05                    # Keras's "uniform": U(-0.05, 0.05)
    with pytest.raises(ValueError, match=r"Embedding 'embedding': indices must be in \[0, 7\) \(input_dim\), .* e\.g\. 7"):
        layer(np.array([[1, 7]]))
    with pytest.raises(ValueError, match=r"indices must be in \[0, 7\)"):
        layer(np.array([[-1, 2]]))
    with pytest.warns(DeprecationWarning, match="input_length"):
        assert layers.Embedding(5, 2, input_length=3).input_length == 3  # Keras 2's argument, accepted
    with pytest.raises(ValueError, match="output_dim must be a positive int"):
        layers.Embedding(5, 0)


def test_embedding_trains_in_a_sequential_model(fresh_names):
    tinyconv.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, (32, 6)), rng.integers(0, 2, 32)
    model = tinyconv.Sequential([
        tinyconv.Input(shape=(6,)),
        layers.Embedding(20, 4),
        layers.SpatialDropout1D(0.2),
        layers.Reshape((6, 2, 2)),
        layers.Permute((2, 1, 3)),
        layers.Reshape((-1,)),
        layers.GaussianNoise(0.05),
        layers.Dense(8, activation="relu"),
        layers.GaussianDropout(0.1),
        layers.RepeatVector(2),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    decreased, losses = train_loss_decreases(model, x, y, loss="sparse_categorical_crossentropy", steps=12)
    assert decreased, losses
    assert model.layers[0].output_shape == (None, 6, 4)
    assert model.predict(x[:3], verbose=0).shape == (3, 2)


# ------------------------------------------------------------------ noise
@pytest.mark.parametrize("make, shape, channel_axis", [
    (lambda: layers.SpatialDropout1D(0.5, seed=1), (8, 10, 6), 2),
    (lambda: layers.SpatialDropout2D(0.5, seed=1), (8, 5, 4, 6), 3),
    (lambda: layers.SpatialDropout2D(0.5, data_format="channels_first", seed=1), (8, 6, 5, 4), 1),
    (lambda: layers.SpatialDropout3D(0.5, seed=1), (4, 3, 2, 3, 6), 4),
])
def test_spatial_dropout_drops_whole_channels(make, shape, channel_axis):
    layer = make()
    x = (np.abs(rand(shape)) + 1).astype(np.float32)
    y = layer(x, training=True)
    kept = np.moveaxis(y != 0, channel_axis, -1).reshape(shape[0], -1, shape[channel_axis])
    assert (kept.all(axis=1) | ~kept.any(axis=1)).all()              # a channel is all kept or all dropped
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(y[y != 0], 2 * x[y != 0])             # kept values scaled by 1 / (1 - rate)
    np.testing.assert_array_equal(layer.backward(np.ones(shape)), (y != 0) * 2.0)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_spatial_dropout_matches_keras_shapes_and_inference():
    keras = keras_module()
    x = rand((2, 4, 5, 3))
    for name in ("SpatialDropout2D", "GaussianNoise", "GaussianDropout"):
        arg = 0.3
        ours, theirs = getattr(layers, name)(arg), getattr(keras.layers, name)(arg)
        np.testing.assert_array_equal(ours(x), np.asarray(theirs(x, training=False)))
        assert sorted(set(ours.get_config()) - {"dtype", "trainable", "name"}) == \
            sorted(set(theirs.get_config()) - {"dtype", "trainable", "name"})


def test_gaussian_noise_and_dropout_statistics():
    x = np.full((200, 100), 2.0)
    noisy = layers.GaussianNoise(0.5, seed=0)(x, training=True)
    assert abs((noisy - x).mean()) < 0.01 and abs((noisy - x).std() - 0.5) < 0.01
    noise = layers.GaussianNoise(0.5, seed=0)
    noise(x, training=True)
    np.testing.assert_array_equal(noise.backward(np.ones_like(x)), 1.0)  # d(x + n)/dx = 1
    dropout = layers.GaussianDropout(0.2, seed=0)
    y = dropout(x, training=True)
    assert abs(y.mean() - 2.0) < 0.02 and abs((y / 2).std() - np.sqrt(0.2 / 0.8)) < 0.01
    np.testing.assert_allclose(dropout.backward(np.ones_like(x)), y / x)
    np.testing.assert_array_equal(dropout(x, training=False), x)
    with pytest.raises(ValueError, match="stddev must be >= 0"):
        layers.GaussianNoise(-1.0)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        layers.GaussianDropout(1.0)


def test_noise_gradients_given_the_noise():
    """With the noise fixed (a seeded generator restarted each call), backward is exact."""
    for make in (lambda: layers.GaussianDropout(0.3, seed=3, **F64), lambda: layers.GaussianNoise(0.3, seed=3, **F64),
                 lambda: layers.SpatialDropout2D(0.4, seed=3, **F64)):
        layer = make()
        layer.forward = _with_fixed_noise(layer)
        check_layer_gradients(layer, rand((2, 3, 3, 4)))


def _with_fixed_noise(layer):
    forward = type(layer).forward

    def fixed(x, training=False):
        layer._rng = np.random.default_rng(3)
        return forward(layer, x, training=training)
    return fixed
