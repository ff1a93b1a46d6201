"""MinPooling2D, LpPooling2D, LogSumExpPooling2D, WeightedPooling2D: layers over the variant kernels."""
import numpy as np
import pytest

import tinyconv
from tinyconv import layers

from ..gradcheck import check_layer_gradients
from .oracles import torch_forward_backward, train_loss_decreases

CASES = [
    (layers.MinPooling2D, dict(pool_size=3, strides=2, padding="same")),
    (layers.MinPooling2D, dict(pool_size=(2, 3), data_format="channels_first")),
    (layers.LpPooling2D, dict(pool_size=2, p=2)),
    (layers.LpPooling2D, dict(pool_size=(3, 2), strides=1, padding="same", p=3)),
    (layers.LogSumExpPooling2D, dict(pool_size=3, strides=2, padding="same", beta=2.0)),
    (layers.LogSumExpPooling2D, dict(pool_size=2, data_format="channels_first")),
    (layers.WeightedPooling2D, dict(pool_size=3, strides=2, padding="same", sigma=0.8)),
    (layers.WeightedPooling2D, dict(pool_size=(2, 3), strides=1)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CASES)]


def positive_tie_free(shape, seed=0):
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) / size + 0.1


@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_gradients_numerically(cls, kwargs, kernel_set, fresh_names):
    check_layer_gradients(cls(dtype="float64", **kwargs), positive_tie_free((2, 5, 6, 3)))


@pytest.mark.parametrize("cls, kwargs", CASES, ids=IDS)
def test_shapes_follow_keras_pooling_arithmetic(cls, kwargs, fresh_names):
    x = positive_tie_free((2, 7, 6, 3)).astype(np.float32)
    reference = layers.MaxPooling2D(**{k: v for k, v in kwargs.items() if k not in ("p", "beta", "sigma")})
    layer = cls(**kwargs)
    assert layer(x).shape == reference(x).shape
    assert layer.compute_output_shape((None, 7, 6, 3)) == reference.compute_output_shape((None, 7, 6, 3))


def test_min_pooling_is_minus_max_pooling_and_routes_to_the_min(fresh_names):
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 2))
    layer = layers.MinPooling2D(2, dtype="float64")
    np.testing.assert_array_equal(layer(x), -layers.MaxPooling2D(2, dtype="float64")(-x))
    dx = layer.backward(np.ones((2, 3, 3, 2)))
    assert dx.sum() == 36 and set(np.unique(dx)) == {0.0, 1.0}  # one winner per window, each gets dy = 1
    blocks = x.reshape(2, 3, 2, 3, 2, 2).min(axis=(2, 4))
    np.testing.assert_array_equal(np.sort(x[dx == 1]), np.sort(blocks.ravel()))


def test_lp_pooling_matches_torch_lppool2d(fresh_names):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    x = positive_tie_free((2, 6, 7, 3), seed=2)
    upstream = np.random.default_rng(3).standard_normal((2, 3, 3, 3))
    layer = layers.LpPooling2D((2, 2), p=3, dtype="float64")
    y = layer(x)
    dx = layer.backward(upstream)
    pool = torch.nn.LPPool2d(3, 2)
    y_t, (dx_t,) = torch_forward_backward(lambda t: pool(t.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), x, upstream)
    np.testing.assert_allclose(y, y_t, rtol=1e-10)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-9)


def test_logsumexp_matches_torch_logsumexp(fresh_names):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    x = np.random.default_rng(4).standard_normal((1, 4, 6, 2))
    upstream = np.random.default_rng(5).standard_normal((1, 2, 3, 2))
    layer = layers.LogSumExpPooling2D(2, beta=2.5, dtype="float64")
    y = layer(x)
    dx = layer.backward(upstream)

    def lse_pool(t):  # windows as an extra axis, then torch.logsumexp over it
        windows = t.reshape(1, 2, 2, 3, 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(1, 2, 3, 2, 4)
        return torch.logsumexp(2.5 * windows, dim=-1) / 2.5

    y_t, (dx_t,) = torch_forward_backward(lse_pool, x, upstream)
    np.testing.assert_allclose(y, y_t, rtol=1e-12)
    np.testing.assert_allclose(dx, dx_t, rtol=1e-10)


def test_trains_in_a_sequential_model(fresh_names):
    rng = np.random.default_rng(6)
    for pooling in (layers.MinPooling2D(2), layers.LpPooling2D(2), layers.LogSumExpPooling2D(2),
                    layers.WeightedPooling2D(3, 2, padding="same")):
        model = tinyconv.Sequential([
            tinyconv.Input(shape=(6, 6, 1)),
            layers.Conv2D(2, 3, padding="same", activation="relu"),
            pooling,
            layers.Flatten(),
            layers.Dense(1),
        ])
        ok, losses = train_loss_decreases(model, rng.standard_normal((8, 6, 6, 1)), rng.standard_normal((8, 1)))
        assert ok, (pooling.name, losses)


def test_bad_arguments_name_the_layer(fresh_names):
    with pytest.raises(ValueError, match=r"LpPooling2D 'lp_pooling2d': p must be a positive number, got 0"):
        layers.LpPooling2D(2, p=0)
    with pytest.raises(ValueError, match=r"LogSumExpPooling2D .*beta must be a positive number"):
        layers.LogSumExpPooling2D(beta="big")
    with pytest.raises(ValueError, match=r"WeightedPooling2D .*sigma must be a positive number"):
        layers.WeightedPooling2D(sigma=-1)
    with pytest.raises(ValueError, match=r"MinPooling2D 'min_pooling2d'.*smaller than pool_size"):
        layers.MinPooling2D(4)(np.zeros((1, 3, 3, 1)))
    assert layers.LpPooling2D(p=3).get_config()["p"] == 3.0
