"""Weight regularizers: penalty values, gradients (numerically and against Keras), and how a layer's
``kernel_regularizer`` / ``bias_regularizer`` reach the loss and the gradients in training."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import tinyconv  # noqa: E402
from tinyconv import layers, regularizers  # noqa: E402

from .gradcheck import numerical_gradient_of  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


REGULARIZERS = [regularizers.L1(0.03), regularizers.L2(0.05), regularizers.L1L2(l1=0.02, l2=0.07)]


@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=["l1", "l2", "l1l2"])
def test_penalty_and_gradient(regularizer):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3))
    w[np.abs(w) < 0.05] = 0.3  # keep away from |w|'s kink, where the numerical derivative is undefined
    l1 = getattr(regularizer, "l1", 0.0)
    l2 = getattr(regularizer, "l2", 0.0)
    assert regularizer(w) == pytest.approx(l1 * np.abs(w).sum() + l2 * (w ** 2).sum(), rel=1e-12)
    np.testing.assert_allclose(regularizer.gradient(w), numerical_gradient_of(regularizer, w), rtol=1e-6, atol=1e-8)
    assert regularizer.gradient(w.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=["l1", "l2", "l1l2"])
def test_penalty_matches_keras(regularizer):
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    w = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    theirs = getattr(keras.regularizers, type(regularizer).__name__)(**regularizer.get_config())
    assert regularizer(w) == pytest.approx(float(keras.ops.convert_to_numpy(theirs(w))), rel=1e-5)


def test_aliases_get_and_config():
    assert regularizers.l2 is regularizers.L2 and regularizers.l1 is regularizers.L1
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.l2(1e-4).l2 == 1e-4
    assert regularizers.get(None) is None
    assert isinstance(regularizers.get("l2"), regularizers.L2) and regularizers.get("l2").l2 == 0.01
    assert isinstance(regularizers.get("L1"), regularizers.L1)
    assert regularizers.get(regularizers.serialize(regularizers.L1L2(0.1, 0.2))).get_config() == {"l1": 0.1, "l2": 0.2}
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="Unknown regularizer"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="gradient"):
        regularizers.get(lambda w: 0.0)


def test_layer_stores_regularizers_and_round_trips():
    dense = layers.Dense(3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.2))
    assert set(dense.regularizers) == {"kernel", "bias"}
    again = layers.Dense.from_config(dense.get_config())
    assert again.regularizers["bias"].l1 == 0.2 and again.regularizers["kernel"].l2 == 0.01
    assert layers.Dense(3).regularizers == {}
    assert "kernel_regularizer" not in layers.Dense(3).get_config()


def test_layer_regularization_loss_and_gradients():
    dense = layers.Dense(2, kernel_regularizer=regularizers.L2(0.1), bias_regularizer=regularizers.L1(0.3),
                         bias_initializer="ones", dtype="float64")
    x = np.random.default_rng(2).normal(size=(5, 3))
    y = dense(x)
    dense.backward(np.ones_like(y))
    kernel, bias = dense.weights
    assert dense.regularization_losses() == pytest.approx(0.1 * (kernel ** 2).sum() + 0.3 * np.abs(bias).sum())
    grad_kernel, grad_bias = dense.trainable_gradients()
    np.testing.assert_allclose(grad_kernel, dense.grads["kernel"] + 2 * 0.1 * kernel)
    np.testing.assert_allclose(grad_bias, dense.grads["bias"] + 0.3 * np.sign(bias))
    dense.trainable = False
    assert dense.regularization_losses() == 0.0


def _build_pair(keras, make_layer):
    """The same tiny model in tinyconv and Keras, with identical weights."""
    ours = tinyconv.Sequential([tinyconv.Input((4, 4, 2)), make_layer(tinyconv), layers.Flatten(),
                                make_dense(tinyconv)])
    theirs = keras.Sequential([keras.Input((4, 4, 2)), make_layer(keras), keras.layers.Flatten(),
                               make_dense(keras)])
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def make_dense(k):
    return k.layers.Dense(3, activation="softmax", kernel_regularizer=k.regularizers.L2(0.05),
                          bias_regularizer=k.regularizers.L1(0.01))


def test_training_matches_keras():
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4, 4, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=6)
    ours, theirs = _build_pair(keras, lambda k: k.layers.Conv2D(
        2, 3, activation="relu", kernel_regularizer=k.regularizers.L1L2(l1=0.01, l2=0.02)))
    for model, k in ((ours, tinyconv), (theirs, keras)):
        model.compile(optimizer=k.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
    for _ in range(3):
        our_loss = ours.train_on_batch(x, y)
        their_loss = theirs.train_on_batch(x, y)
        assert our_loss == pytest.approx(float(their_loss), rel=1e-5)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)


def test_reported_loss_includes_penalty_and_l2_shrinks_weights():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)

    def fitted(regularizer):
        tinyconv.utils.set_random_seed(0)
        model = tinyconv.Sequential([tinyconv.Input((5,)), layers.Dense(1, kernel_regularizer=regularizer)])
        model.compile(optimizer=tinyconv.optimizers.SGD(0.05), loss="mse")
        penalty = model.layers[-1].regularization_losses()
        plain = model.test_on_batch(x, y)
        return model, penalty, plain

    model, penalty, _ = fitted(regularizers.L2(1.0))
    data_loss = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    assert model.train_on_batch(x, y) == pytest.approx(data_loss + penalty, rel=1e-5)
    for _ in range(200):
        model.train_on_batch(x, y)
    shrunk = np.abs(model.get_weights()[0]).sum()
    free, _, _ = fitted(None)
    for _ in range(200):
        free.train_on_batch(x, y)
    assert shrunk < 0.5 * np.abs(free.get_weights()[0]).sum()
