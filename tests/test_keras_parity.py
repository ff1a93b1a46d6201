"""Parity with Keras 3 (torch backend): the same script gives the same model, numbers and text.

The same architecture is built with ``keras`` and with ``tinyconv``; names, shapes, parameter
counts, weight layouts, predictions, training (fit / evaluate / *_on_batch), ``summary()`` and
initialiser statistics are compared.  Skipped (with a reason) when Keras or torch is missing.
"""
import os
import re

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch", reason="Keras parity tests run Keras on its torch backend (pip install torch)")
keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these parity tests (pip install keras)")
if keras.backend.backend() != "torch":  # pragma: no cover
    pytest.skip(f"Keras parity tests expect KERAS_BACKEND=torch, got {keras.backend.backend()!r}",
                allow_module_level=True)

import tinyconv  # noqa: E402

F32 = dict(rtol=1e-4, atol=1e-6)

# Keras's torch backend converts tensors with np.array(x) and NumPy 2 warns about it; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


# ------------------------------------------------------------------ model definitions
# Each builder takes a module (keras or tinyconv) so both frameworks run the *same* script.
def lenet5(k):
    L = k.layers
    return k.Sequential([
        k.Input(shape=(32, 32, 1)),
        L.Conv2D(6, kernel_size=5, activation="tanh"),
        L.AveragePooling2D(pool_size=2),
        L.Conv2D(16, kernel_size=5, activation="tanh"),
        L.AveragePooling2D(pool_size=2),
        L.Conv2D(120, kernel_size=5, activation="tanh"),
        L.Flatten(),
        L.Dense(84, activation="tanh"),
        L.Dense(10, activation="softmax"),
    ])


def conv_bn_model(k):
    L = k.layers
    return k.Sequential([
        k.Input(shape=(12, 12, 3)),
        L.Conv2D(8, (3, 3), padding="same", activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Conv2D(16, (3, 2), strides=(2, 1), use_bias=False),
        L.BatchNormalization(momentum=0.9, epsilon=1e-5),
        L.Activation("relu"),
        L.AveragePooling2D(pool_size=2, padding="same"),
        L.Dropout(0.25),
        L.Flatten(),
        L.Dense(32, activation="relu"),
        L.Dropout(0.5),
        L.Dense(5, activation="softmax"),
    ])


def tiny_bn_model(k):
    L = k.layers
    return k.Sequential([
        k.Input(shape=(8, 8, 1)),
        L.Conv2D(4, 3, activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(pool_size=2),
        L.Flatten(),
        L.Dense(4, activation="softmax"),
    ])


def build_pair(builder):
    keras.backend.clear_session()
    tinyconv.backend.clear_session()
    keras.utils.set_random_seed(0)
    kmodel = builder(keras)
    tmodel = builder(tinyconv)
    return kmodel, tmodel


def n_params(weights):
    return int(sum(np.prod(tuple(w.shape)) for w in weights))


# ------------------------------------------------------------------ structure
@pytest.mark.parametrize("builder, total", [(lenet5, 61706), (conv_bn_model, None)], ids=["lenet5", "conv_bn"])
def test_structure_matches_keras(builder, total):
    kmodel, tmodel = build_pair(builder)
    assert tmodel.name == kmodel.name
    assert [l.name for l in tmodel.layers] == [l.name for l in kmodel.layers]
    assert [type(l).__name__ for l in tmodel.layers] == [type(l).__name__ for l in kmodel.layers]
    for kl, tl in zip(kmodel.layers, tmodel.layers):
        assert tuple(tl.output_shape) == tuple(kl.output.shape), kl.name
        assert tl.count_params() == kl.count_params(), kl.name
    assert tmodel.count_params() == kmodel.count_params()
    if total is not None:
        assert tmodel.count_params() == total
    assert n_params(tmodel.trainable_weights) == n_params(kmodel.trainable_weights)
    assert n_params(tmodel.non_trainable_weights) == n_params(kmodel.non_trainable_weights)
    kw, tw = kmodel.get_weights(), tmodel.get_weights()
    assert [w.shape for w in tw] == [w.shape for w in kw]
    assert tuple(tmodel.output_shape) == tuple(kmodel.output_shape)


@pytest.mark.parametrize("builder, shape", [(lenet5, (32, 32, 1)), (conv_bn_model, (12, 12, 3))],
                         ids=["lenet5", "conv_bn"])
def test_predict_with_keras_weights(builder, shape):
    kmodel, tmodel = build_pair(builder)
    weights = kmodel.get_weights()
    rng = np.random.default_rng(0)
    # Non-trivial batch-norm statistics so inference exercises them.
    weights = [w if w.ndim != 1 else (w + rng.uniform(0.1, 0.5, w.shape)).astype(w.dtype) for w in weights]
    kmodel.set_weights(weights)
    tmodel.set_weights(weights)
    for got, want in zip(tmodel.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    x = rng.standard_normal((20,) + shape).astype("float32")
    want = np.asarray(kmodel.predict(x, batch_size=8, verbose=0))
    got = tmodel.predict(x, batch_size=8, verbose=0)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ training
def fit_data(n=40):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 4, n)
    return x, y


OPTIMIZERS = {
    "sgd": lambda k: k.optimizers.SGD(learning_rate=0.05),
    "sgd_nesterov": lambda k: k.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam": lambda k: k.optimizers.Adam(learning_rate=0.01),
    "rmsprop": lambda k: k.optimizers.RMSprop(learning_rate=0.01),
}


def compiled_pair(opt_name):
    kmodel, tmodel = build_pair(tiny_bn_model)
    tmodel.set_weights(kmodel.get_weights())
    for k, model in ((keras, kmodel), (tinyconv, tmodel)):
        model.compile(optimizer=OPTIMIZERS[opt_name](k), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return kmodel, tmodel


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_fit_one_epoch_matches_keras(opt_name):
    kmodel, tmodel = compiled_pair(opt_name)
    x, y = fit_data()  # 40 samples, batch 16: the last batch is short (8), so weighting matters
    w0 = tmodel.get_weights()
    kh = kmodel.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    th = tmodel.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    kw, tw = kmodel.get_weights(), tmodel.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(tw, w0)), "training changed nothing"
    for i, (got, want) in enumerate(zip(tw, kw)):
        np.testing.assert_allclose(got, want, err_msg=f"weight {i} after one epoch of {opt_name}", **F32)
    assert set(th.history) == set(kh.history) == {"loss", "accuracy"}
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(th.history[key], kh.history[key], rtol=1e-5, err_msg=key)

    # evaluate: [loss, accuracy], weighted over a short last batch as Keras does.
    xe, ye = fit_data(27)
    np.testing.assert_allclose(tmodel.evaluate(xe, ye, batch_size=10, verbose=0),
                               kmodel.evaluate(xe, ye, batch_size=10, verbose=0), rtol=1e-5)


def test_train_and_test_on_batch_match_keras():
    kmodel, tmodel = compiled_pair("adam")
    x, y = fit_data(12)
    for _ in range(2):
        got, want = tmodel.train_on_batch(x, y), kmodel.train_on_batch(x, y)
        assert isinstance(got, list) and len(got) == len(want) == 2
        np.testing.assert_allclose(got, want, rtol=1e-5)
        np.testing.assert_allclose(tmodel.test_on_batch(x, y), kmodel.test_on_batch(x, y), rtol=1e-5)
    for i, (got, want) in enumerate(zip(tmodel.get_weights(), kmodel.get_weights())):
        np.testing.assert_allclose(got, want, err_msg=f"weight {i} after two train_on_batch", **F32)
    got = tmodel.train_on_batch(x, y, return_dict=True)
    want = kmodel.train_on_batch(x, y, return_dict=True)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], float(want[key]), rtol=1e-5, err_msg=key)


# ------------------------------------------------------------------ summary
def test_summary_text_matches_keras():
    kmodel, tmodel = build_pair(lenet5)
    captured = []
    tmodel.summary(print_fn=lambda text, *args, **kwargs: captured.append(text))
    ktext = []
    kmodel.summary(print_fn=lambda text, *args, **kwargs: ktext.append(text))
    text, ktext = "\n".join(captured), "\n".join(ktext)
    assert f'Model: "{kmodel.name}"' in text
    for layer in kmodel.layers:
        assert layer.name in text
        shape = "(" + ", ".join("None" if d is None else str(d) for d in layer.output.shape) + ")"
        assert shape in text, shape
    assert "(None, 28, 28, 6)" in text
    assert "Total params: 61,706" in text
    # The three totals lines read exactly as Keras prints them.
    for label in ("Total params", "Trainable params", "Non-trainable params"):
        want = re.search(rf"{label}: [^\n]*", ktext).group(0)
        got = re.search(rf"{label}: [^\n]*", text)
        assert got is not None and got.group(0).strip() == want.strip(), label


# ------------------------------------------------------------------ initialisers
def test_glorot_uniform_conv_kernel_statistics_match_keras():
    kh, kw, cin, cout = 5, 5, 16, 120
    bound = np.sqrt(6.0 / (kh * kw * cin + kh * kw * cout))
    keras.utils.set_random_seed(0)
    kconv = keras.layers.Conv2D(cout, (kh, kw))
    kconv.build((None, 14, 14, cin))
    tconv = tinyconv.layers.Conv2D(cout, (kh, kw))
    tconv.build_for((None, 14, 14, cin))
    want = np.asarray(kconv.get_weights()[0])
    got = tconv.kernel
    assert got.shape == want.shape and got.dtype == want.dtype
    for w in (got, want):
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.99 * bound  # 48,000 samples reach the edge
        assert abs(w.mean()) < 0.01 * bound
    # Uniform(-b, b) has std b / sqrt(3); both must agree with it and with each other.
    np.testing.assert_allclose(got.std(), bound / np.sqrt(3), rtol=0.02)
    np.testing.assert_allclose(got.std(), want.std(), rtol=0.03)
    np.testing.assert_array_equal(tconv.bias, np.zeros(cout, np.float32))
