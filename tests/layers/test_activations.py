"""Activation functions and activation layers: Keras 3 / PyTorch parity (values and gradients),
float64 gradient checks, Maxout against a NumPy oracle, training in a model, errors."""
import numpy as np
import pytest

import tinyconv
from tinyconv import activations, layers

from ..gradcheck import check_layer_gradients
from .oracles import (keras_forward_backward, keras_module, tinyconv_forward_backward, torch_forward_backward,
                      torch_module, train_loss_decreases)

F64 = {"dtype": "float64"}
# Keras 3.15's torch backend computes some ops in float32 even for float64 layers.
KERAS_CLOSE = dict(rtol=1e-5, atol=2e-6)
CLOSE = dict(rtol=1e-9, atol=1e-12)
NEW_ACTIVATIONS = ["leaky_relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign",
                   "hard_sigmoid", "exponential"]


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_kinks(shape, seed=0):
    """Inputs at least 0.05 away from 0, -3, 3 and 6, where some derivatives jump."""
    x = rand(shape, seed) * 3
    for kink in (0.0, -3.0, 3.0, 6.0):
        near = np.abs(x - kink) < 0.05
        x[near] = kink + 0.1
    return x


def torch_activations():
    torch = torch_module()
    F = torch.nn.functional
    return {"leaky_relu": lambda t: F.leaky_relu(t, 0.2), "relu6": F.relu6, "elu": F.elu, "selu": F.selu,
            "gelu": F.gelu, "silu": F.silu, "swish": F.silu, "softplus": F.softplus, "softsign": F.softsign,
            "hard_sigmoid": F.hardsigmoid, "exponential": torch.exp}


# ------------------------------------------------------------------ functions
@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
def test_activation_matches_torch(name):
    x, upstream = away_from_kinks((50,)), rand((50,), 1)
    fn = activations.get(name)
    a = fn(x)
    dz = activations.backward(fn, upstream, a, z=x)
    a_t, (dz_t,) = torch_forward_backward(torch_activations()[name], x, upstream)
    np.testing.assert_allclose(a, a_t, **CLOSE)
    # torch's hardsigmoid uses a float 1/6 in its derivative
    np.testing.assert_allclose(dz, dz_t, **(dict(rtol=1e-7) if name == "hard_sigmoid" else CLOSE))


@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
def test_activation_matches_keras(name):
    keras = keras_module()
    import torch

    x, upstream = away_from_kinks((40,), 2), rand((40,), 3)
    fn = activations.get(name)
    x_t = torch.tensor(x, requires_grad=True)
    y_t = getattr(keras.activations, name)(x_t)
    (y_t * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(fn(x), y_t.detach().numpy(), **KERAS_CLOSE)
    np.testing.assert_allclose(activations.backward(fn, upstream, fn(x), z=x), x_t.grad.numpy(), **KERAS_CLOSE)
    assert activations.serialize(fn) == getattr(keras.activations, name).__name__


def test_keras_defaults():
    x = np.array([-10.0, -3.0, -1.0, 0.5, 2.0, 10.0])
    np.testing.assert_allclose(activations.leaky_relu(x), np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(activations.hard_sigmoid(x), np.clip(x + 3, 0, 6) / 6)   # Keras 3, not Keras 2's 0.2x+0.5
    assert activations.gelu(np.array([1.0]))[0] == pytest.approx(0.8413447460685429)  # exact erf form
    assert activations.gelu(np.array([1.0]), approximate=True)[0] == pytest.approx(0.8411919906082768)
    assert activations.get("swish") is activations.silu
    assert activations.softplus(np.array([1000.0]))[0] == 1000.0                         # no overflow


@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
def test_dense_with_activation_gradients(name):
    """Through ActivationMixin: the layer passes its pre-activation to the activations that need it."""
    layer = layers.Dense(4, activation=name, **F64)
    x = rand((5, 3), 4)
    layer(x)
    layer.bias[...] = [0.31, -0.27, 0.13, -0.41]  # keeps z off the kinks for this seed
    check_layer_gradients(layer, x, tol=1e-6)


def test_activations_keep_float32():
    x = rand((3, 4)).astype(np.float32)
    for name in NEW_ACTIVATIONS:
        fn = activations.get(name)
        a = fn(x)
        assert a.dtype == np.float32, name
        assert activations.backward(fn, np.ones_like(a), a, z=x).dtype == np.float32, name


def test_backward_needing_the_input_says_so():
    with pytest.raises(ValueError, match="gelu needs its input z"):
        activations.backward(activations.gelu, np.ones(3), np.ones(3))


# ------------------------------------------------------------------ layers: gradients
@pytest.mark.parametrize("make, x", [
    (lambda: layers.LeakyReLU(**F64), away_from_kinks((3, 4, 5))),
    (lambda: layers.LeakyReLU(negative_slope=0.05, **F64), away_from_kinks((3, 6))),
    (lambda: layers.ELU(alpha=0.7, **F64), away_from_kinks((3, 4, 5))),
    (lambda: layers.PReLU(alpha_initializer="random_normal", **F64), away_from_kinks((3, 4, 5))),
    (lambda: layers.PReLU(alpha_initializer="random_normal", shared_axes=[1, 2], **F64), away_from_kinks((2, 3, 4, 5))),
    (lambda: layers.Softmax(**F64), rand((3, 5))),
    (lambda: layers.Softmax(axis=1, **F64), rand((2, 4, 3))),
    (lambda: layers.Softmax(axis=(1, 2), **F64), rand((2, 4, 3))),
    (lambda: layers.Maxout(3, **F64), rand((4, 9))),
    (lambda: layers.Maxout(2, axis=1, **F64), rand((2, 6, 3))),
])
def test_activation_layer_gradients(make, x):
    check_layer_gradients(make(), x)


# ------------------------------------------------------------------ layers: parity
def run_both(ours, theirs, x, seed=1):
    upstream = rand(x.shape, seed)
    y, dx, grads = tinyconv_forward_backward(ours, x, upstream)
    y_k, dx_k, grads_k = keras_forward_backward(theirs, x, upstream, weights=ours.get_weights())
    assert [g.shape for g in grads] == [g.shape for g in grads_k]
    for a, b in zip([y, dx] + grads, [y_k, dx_k] + grads_k):
        np.testing.assert_allclose(a, b, **KERAS_CLOSE)


@pytest.mark.parametrize("name, kwargs, shape", [
    ("LeakyReLU", dict(), (3, 4, 5)),
    ("LeakyReLU", dict(negative_slope=0.1), (3, 6)),
    ("ELU", dict(alpha=0.5), (3, 4, 5)),
    ("Softmax", dict(), (3, 6)),
    ("Softmax", dict(axis=1), (2, 4, 3)),
    ("PReLU", dict(alpha_initializer="random_normal"), (2, 3, 4)),
    ("PReLU", dict(alpha_initializer="random_normal", shared_axes=[1, 2]), (2, 3, 4, 5)),
])
def test_activation_layers_match_keras(name, kwargs, shape):
    keras = keras_module()
    x = away_from_kinks(shape)
    ours = getattr(layers, name)(**kwargs, **F64)
    ours(x)
    theirs = getattr(keras.layers, name)(**kwargs, dtype="float64")
    run_both(ours, theirs, x)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]


def test_activation_layers_match_torch():
    torch = torch_module()
    F = torch.nn.functional
    x, upstream = away_from_kinks((3, 4, 5)), rand((3, 4, 5), 1)
    cases = [(layers.LeakyReLU(**F64), lambda t: F.leaky_relu(t, 0.3)),
             (layers.ELU(alpha=0.5, **F64), lambda t: F.elu(t, 0.5)),
             (layers.Softmax(axis=1, **F64), lambda t: F.softmax(t, dim=1))]
    for ours, theirs in cases:
        y, dx, _ = tinyconv_forward_backward(ours, x, upstream)
        y_t, (dx_t,) = torch_forward_backward(theirs, x, upstream)
        np.testing.assert_allclose(y, y_t, **CLOSE)
        np.testing.assert_allclose(dx, dx_t, **CLOSE)
    # PReLU with one slope per channel is torch's prelu with num_parameters = channels (channels first).
    prelu = layers.PReLU(alpha_initializer="random_normal", shared_axes=[1, 2], **F64)
    x4, up4 = away_from_kinks((2, 3, 4, 5)), rand((2, 3, 4, 5), 2)
    y, dx, (dalpha,) = tinyconv_forward_backward(prelu, x4, up4)
    alpha = prelu.get_weights()[0].reshape(-1)
    y_t, (dx_t, dalpha_t) = torch_forward_backward(
        lambda t, a: F.prelu(t.permute(0, 3, 1, 2), a).permute(0, 2, 3, 1), x4, up4, alpha)
    for a, b in ((y, y_t), (dx, dx_t), (dalpha.reshape(-1), dalpha_t)):
        np.testing.assert_allclose(a, b, **CLOSE)


def maxout_oracle(x, num_units, axis):
    """Loops over every output cell: the max of its group of consecutive features."""
    x_last = np.moveaxis(x, axis, -1)
    group = x_last.shape[-1] // num_units
    out = np.empty(x_last.shape[:-1] + (num_units,))
    for index in np.ndindex(*x_last.shape[:-1]):
        for k in range(num_units):
            out[index + (k,)] = max(x_last[index + (j,)] for j in range(k * group, (k + 1) * group))
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("num_units, axis, shape", [(3, -1, (4, 12)), (2, 1, (2, 6, 3)), (4, -1, (2, 3, 4, 8)),
                                                    (5, -1, (3, 5))])
def test_maxout_matches_numpy_oracle(num_units, axis, shape):
    x = rand(shape)
    layer = layers.Maxout(num_units, axis=axis, **F64)
    y = layer(x)
    np.testing.assert_allclose(y, maxout_oracle(x, num_units, axis))
    assert (None,) + y.shape[1:] == layer.compute_output_shape((None,) + shape[1:])
    dx = layer.backward(np.ones_like(y))
    assert dx.sum() == y.size and set(np.unique(dx)) <= {0.0, 1.0}  # one winner per group


# ------------------------------------------------------------------ in a model, and errors
def test_activation_layers_train_in_a_sequential_model(fresh_names):
    tinyconv.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 8)).astype(np.float32), rng.integers(0, 3, 32)
    model = tinyconv.Sequential([
        tinyconv.Input(shape=(8,)),
        layers.Dense(12, activation="gelu"),
        layers.LeakyReLU(),
        layers.Dense(12, activation="swish"),
        layers.PReLU(),
        layers.Maxout(6),
        layers.ELU(),
        layers.Dense(3, activation="selu"),
        layers.Softmax(),
    ])
    decreased, losses = train_loss_decreases(model, x, y, loss="sparse_categorical_crossentropy")
    assert decreased, losses
    assert model.layers[3].get_weights()[0].shape == (12,)
    assert model.layers[4].output_shape == (None, 6)


def test_activation_layer_errors_and_aliases(fresh_names):
    with pytest.warns(DeprecationWarning, match="alpha"):
        assert layers.LeakyReLU(alpha=0.1).negative_slope == 0.1     # Keras 2's name
    assert layers.LeakyReLU().negative_slope == 0.3                   # Keras 3's default
    with pytest.raises(ValueError, match="negative_slope must be a number >= 0"):
        layers.LeakyReLU(negative_slope=-1)
    with pytest.raises(ValueError, match=r"Maxout 'maxout(_\d+)?': the 10 features on axis -1 must be a multiple of num_units=3"):
        layers.Maxout(3)(rand((2, 10)))
    with pytest.raises(ValueError, match="shared_axes must be in 1..2"):
        layers.PReLU(shared_axes=[3])(rand((2, 3, 4)))
    prelu = layers.PReLU()
    prelu(rand((2, 3, 4)))
    with pytest.raises(ValueError, match=r"PReLU 'p_re_lu(_\d+)?': expected input shaped like \(batch,\) \+ \(3, 4\)"):
        prelu(rand((2, 3, 5)))
    with pytest.raises(ValueError, match="axis 2 is not a feature axis"):
        layers.Softmax(axis=2)(rand((2, 3)))
