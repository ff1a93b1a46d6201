"""activity_regularizer=R: R(y) / batch joins the loss, and R'(y) / batch the gradient at y (Keras 3)."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers, regularizers


def _data(rng, n=6):
    return rng.standard_normal((n, 5)), rng.integers(0, 3, size=n)


def _model(functional, output_penalty):
    keras.utils.set_random_seed(3)
    hidden = layers.Dense(4, activation="tanh", activity_regularizer=regularizers.L2(0.3), dtype="float64", name="hidden")
    out = layers.Dense(3, activation="softmax", dtype="float64", name="out",
                       activity_regularizer=regularizers.L1(0.05) if output_penalty else None)
    if functional:
        inputs = keras.Input((5,), dtype="float64")
        model = keras.Model(inputs, out(hidden(inputs)))
    else:
        model = keras.Sequential([keras.Input((5,)), hidden, out])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="sparse_categorical_crossentropy")
    return model


def _gradient_by_step(model, x, y):
    """One SGD step with learning rate 1: weights before - after = the gradient tinyconv used."""
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    after = model.get_weights()
    model.set_weights(before)
    return [b - a for b, a in zip(before, after)]


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("output_penalty", [False, True], ids=["hidden only", "output too"])
def test_penalty_in_the_loss_and_its_gradient_match_finite_differences(fresh_names, functional, output_penalty):
    rng = np.random.default_rng(0)
    x, y = _data(rng)
    model = _model(functional, output_penalty)
    hidden_out = keras.Model(model.inputs, model.get_layer("hidden").output) if functional else None
    # the loss: cross-entropy + 0.3 * sum(h^2) / batch (+ 0.05 * sum|p| / batch)
    probs = model.predict(x, verbose=0)
    h = (hidden_out.predict(x, verbose=0) if functional
         else np.tanh(x @ model.get_layer("hidden").kernel + model.get_layer("hidden").bias))
    expected = -np.mean(np.log(probs[np.arange(len(y)), y])) + 0.3 * np.sum(h ** 2) / len(x)
    if output_penalty:
        expected += 0.05 * np.sum(np.abs(probs)) / len(x)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-10)

    analytic = _gradient_by_step(model, x, y)
    weights = model.get_weights()
    eps = 1e-6
    for w_index in range(len(weights)):
        flat = weights[w_index].reshape(-1)
        for i in range(0, flat.size, max(1, flat.size // 5)):
            saved = flat[i]
            flat[i] = saved + eps
            model.set_weights(weights)
            plus = model.evaluate(x, y, verbose=0)
            flat[i] = saved - eps
            model.set_weights(weights)
            minus = model.evaluate(x, y, verbose=0)
            flat[i] = saved
            model.set_weights(weights)
            numeric = (plus - minus) / (2 * eps)
            np.testing.assert_allclose(analytic[w_index].reshape(-1)[i], numeric, rtol=1e-5, atol=1e-8)


def test_a_shared_layer_pays_its_penalty_at_every_call(fresh_names):
    shared = layers.Dense(2, activity_regularizer=regularizers.L2(1.0), dtype="float64")
    a, b = keras.Input((3,), dtype="float64"), keras.Input((3,), dtype="float64")
    model = keras.Model([a, b], layers.add([shared(a), shared(b)]))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    xa, xb, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), np.zeros((4, 2))
    ya, yb = xa @ shared.kernel + shared.bias, xb @ shared.kernel + shared.bias
    mse = np.mean((ya + yb) ** 2)
    np.testing.assert_allclose(model.evaluate([xa, xb], target, verbose=0),
                               mse + (np.sum(ya ** 2) + np.sum(yb ** 2)) / 4, rtol=1e-10)


def test_activity_regularizer_in_the_config(fresh_names):
    dense = layers.Dense(3, activity_regularizer="l2")
    config = dense.get_config()
    assert config["activity_regularizer"]["class_name"] == "L2"
    again = layers.Dense.from_config(config)
    assert isinstance(again.activity_regularizer, regularizers.L2)
    assert "activity_regularizer" not in layers.Dense(3).get_config()
    with pytest.raises(ValueError, match="needs a gradient"):
        layers.Dense(3, activity_regularizer=lambda y: 0.0)


def test_matches_keras(fresh_names):
    keras_real = pytest.importorskip("keras", reason="Keras parity needs keras")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, size=8)
    ours = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="relu", activity_regularizer="l2"),
                             layers.Dense(3, activation="softmax")])
    theirs = keras_real.Sequential([keras_real.Input((5,)),
                                    keras_real.layers.Dense(4, activation="relu", activity_regularizer="l2"),
                                    keras_real.layers.Dense(3, activation="softmax")])
    theirs.set_weights(ours.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer=(keras if model is ours else keras_real).optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy")
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)
    ours.train_on_batch(x, y)
    theirs.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)
