"""Whole models on the GPU device (the strict CuPy stand-in, or real CuPy under ``make gpu-check``):
Sequential, functional (several inputs and outputs, a shared layer, an op with several outputs of which
one is unused, a custom layer written with ``call``), subclassed and channels_first models train exactly
as on the CPU kernels; predict / evaluate / fit with validation data; saving and loading every way
(weights and optimizer state) round-trips a model that lives on the device; ``backend.set_value`` /
``get_value`` take device arrays; ``model.to_device`` moves a model and back."""
import os

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import backend, devices, layers, ops

from .conftest import to_host

h5py = pytest.importorskip("h5py", reason="saving needs h5py")

RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((12, 8, 8, 2))
LABELS = RNG.integers(0, 3, 12)
SIDE = RNG.standard_normal((12, 5))
TARGETS = RNG.standard_normal((12, 1))


def tolerance(dtype):
    return {"rtol": 2e-4, "atol": 2e-5} if dtype == "float32" else {"rtol": 1e-9, "atol": 1e-10}


# --- the models ----------------------------------------------------------------------------------
class Scale(layers.Layer):
    """A user's layer written Keras's way, with only ``call``: its ops run on the device too."""

    def build(self, input_shape):
        self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="factor")

    def call(self, inputs):
        return ops.tanh(inputs) * self.factor + ops.mean(inputs, axis=-1, keepdims=True)


def lenet():
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(2),
        layers.Conv2D(6, 3, activation="relu", groups=2),
        layers.AveragePooling2D(2, padding="same"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def channels_first():
    return keras.Sequential([
        keras.Input((2, 8, 8)),
        layers.Conv2D(4, 3, padding="same", data_format="channels_first", activation="relu"),
        layers.BatchNormalization(axis=1),
        layers.MaxPooling2D(2, data_format="channels_first"),
        layers.DepthwiseConv2D(3, data_format="channels_first"),
        layers.ZeroPadding2D(1, data_format="channels_first"),
        layers.GlobalAveragePooling2D(data_format="channels_first", keepdims=True),
        layers.Flatten(data_format="channels_first"),
        layers.Dense(3, activation="softmax"),
    ])


def functional(split=True):
    """Two inputs, two outputs, a layer shared by two calls, an op with two outputs of which one is
    unused (its gradient is zeros on the device), and a custom ``call`` layer with a weight.
    ``split=False``: both halves kept, no op node (Keras 2's .h5 format stores no op nodes)."""
    image, side = keras.Input((8, 8, 2), name="image"), keras.Input((5,), name="side")
    x = layers.Conv2D(4, 3, activation="relu")(image)
    x = layers.GlobalMaxPooling2D()(layers.LayerNormalization()(x))
    shared = layers.Dense(4, activation="tanh", name="shared")
    joined = layers.Concatenate()([shared(x), shared(layers.Dense(4)(side))])
    kept = ops.split(joined, 2, axis=-1)[0] if split else joined
    hidden = Scale()(layers.Add()([kept, layers.Dense(kept.shape[-1])(side)]))
    classes = layers.Dense(3, activation="softmax", name="classes")(hidden)
    value = layers.Dense(1, name="value")(layers.Multiply()([hidden, hidden]))
    return keras.Model([image, side], [classes, value])


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(3, 3, activation="relu")
        self.pool = layers.GlobalAveragePooling2D()
        self.out = layers.Dense(3, activation="softmax")

    def call(self, inputs, training=False):
        return self.out(self.pool(self.conv(inputs)))


MODELS = {
    "lenet": (lenet, lambda: (IMAGES, LABELS), "sparse_categorical_crossentropy"),
    "channels_first": (channels_first, lambda: (IMAGES.transpose(0, 3, 1, 2), LABELS),
                       "sparse_categorical_crossentropy"),
    "functional": (functional, lambda: ([IMAGES, SIDE], [LABELS, TARGETS]),
                   ["sparse_categorical_crossentropy", "mse"]),
    "subclassed": (Subclassed, lambda: (IMAGES, LABELS), "sparse_categorical_crossentropy"),
    "functional_saveable": (lambda: functional(split=False), lambda: ([IMAGES, SIDE], [LABELS, TARGETS]),
                            ["sparse_categorical_crossentropy", "mse"]),
}
TRAINED = ["lenet", "channels_first", "functional", "subclassed"]


def compiled(name, dtype, optimizer="adam"):
    build, data, loss = MODELS[name]
    backend.set_floatx(dtype)
    try:
        keras.utils.set_random_seed(5)
        backend.clear_session()
        model = build()
        model.compile(optimizer=keras.optimizers.get({"class_name": optimizer,
                                                      "config": {"learning_rate": 0.01}}), loss=loss)
        x, y = data()
        if name == "subclassed":
            model.build((None,) + IMAGES.shape[1:])
    finally:
        backend.set_floatx("float32")
    return model, x, y


def train(name, dtype):
    """fit with validation data, then evaluate and predict: what the test compares across devices."""
    model, x, y = compiled(name, dtype)
    split = 8
    head = [a[:split] for a in x] if isinstance(x, list) else x[:split]
    tail = [a[split:] for a in x] if isinstance(x, list) else x[split:]
    y_head = [a[:split] for a in y] if isinstance(y, list) else y[:split]
    y_tail = [a[split:] for a in y] if isinstance(y, list) else y[split:]
    backend.set_floatx(dtype)
    try:
        history = model.fit(head, y_head, batch_size=4, epochs=2, shuffle=False, verbose=0,
                            validation_data=(tail, y_tail))
        evaluated = model.evaluate(x, y, batch_size=5, verbose=0)
        predicted = model.predict(x, batch_size=5, verbose=0)
    finally:
        backend.set_floatx("float32")
    return model, history.history, evaluated, predicted


def weights_on_device(model):
    return all(devices.is_device_array(w.value) for w in model.weights)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", TRAINED)
def test_training_on_the_device_equals_the_cpu(name, dtype, device):
    backend.set_device("cpu")
    cpu_model, cpu_history, cpu_evaluated, cpu_predicted = train(name, dtype)
    backend.set_device("gpu", array_module=device)
    model, history, evaluated, predicted = train(name, dtype)
    assert weights_on_device(model) and model.weights
    assert sorted(history) == sorted(cpu_history) and "val_loss" in history
    for key in cpu_history:
        np.testing.assert_allclose(history[key], cpu_history[key], err_msg=key, **tolerance(dtype))
    np.testing.assert_allclose(evaluated, cpu_evaluated, **tolerance(dtype))
    for got, want in zip(predicted if isinstance(predicted, list) else [predicted],
                         cpu_predicted if isinstance(cpu_predicted, list) else [cpu_predicted]):
        assert isinstance(got, np.ndarray), "predict hands back host arrays"
        np.testing.assert_allclose(got, want, **tolerance(dtype))
    for got, want in zip(model.get_weights(), cpu_model.get_weights()):
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, want, **tolerance(dtype))
    assert history["loss"][-1] < history["loss"][0]


def test_dropout_on_the_device_trains_and_is_the_identity_at_inference(device):
    model = keras.Sequential([keras.Input((5,)), layers.Dense(8, activation="relu"), layers.Dropout(0.5, seed=2),
                              layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(SIDE, TARGETS, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    x = device.asarray(SIDE.astype("float32"))
    hidden = model.layers[0](x)
    dropped = to_host(model.layers[1](hidden, training=True))
    kept = to_host(hidden)
    scaled = np.isclose(dropped, 2 * kept, rtol=1e-6) | (dropped == 0)
    assert scaled.all() and (dropped == 0).any() and (dropped != 0).any()
    np.testing.assert_array_equal(to_host(model.layers[1](hidden, training=False)), kept)
    np.testing.assert_array_equal(model.predict(SIDE, verbose=0), model.predict(SIDE, verbose=0))


# --- saving and loading a model that lives on the device ----------------------------------------------
def one_more_step(model, x, y):
    model.train_on_batch(x, y)
    return model.get_weights()


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for got, want in zip(a, b):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("suffix, name", [(".keras", "functional"), (".keras", "functional_saveable"),
                                          (".h5", "functional_saveable")])
def test_save_and_load_model_round_trip_weights_and_optimizer_state(suffix, name, device, tmp_path):
    model, x, y = compiled(name, "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"Scale": Scale})
    assert weights_on_device(loaded)
    assert_same_weights(loaded.get_weights(), model.get_weights())
    for got, want in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)
    if suffix == ".h5":
        return  # Keras 2's format keeps no optimizer state in tinyconv
    assert loaded.optimizer.iterations == model.optimizer.iterations
    # The optimizer's slots came back too: one more identical step gives identical weights.
    batch_x, batch_y = [a[:4] for a in x], [a[:4] for a in y]
    assert_same_weights(one_more_step(loaded, batch_x, batch_y), one_more_step(model, batch_x, batch_y))


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_save_and_load_weights_on_the_device(suffix, device, tmp_path):
    model, x, y = compiled("lenet", "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / f"lenet{suffix}")
    model.save_weights(path)
    other, _, _ = compiled("lenet", "float32")
    other.load_weights(path)
    assert weights_on_device(other)
    assert_same_weights(other.get_weights(), model.get_weights())
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_checkpoint_writes_a_device_model_that_loads_back(device, tmp_path):
    model, x, y = compiled("lenet", "float32")
    path = str(tmp_path / "best.keras")
    checkpoint = keras.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    model.fit(x[:8], y[:8], batch_size=4, epochs=2, verbose=0, validation_data=(x[8:], y[8:]),
              callbacks=[checkpoint])
    assert os.path.exists(path)
    loaded = keras.models.load_model(path)
    assert weights_on_device(loaded)
    assert loaded.evaluate(x[8:], y[8:], verbose=0) == pytest.approx(min(model.history.history["val_loss"]),
                                                                     rel=1e-5)


def test_set_value_and_get_value_take_device_arrays(device):
    weight = device.zeros((2, 3), dtype="float32")
    backend.set_value(weight, np.arange(6, dtype="float32").reshape(2, 3))
    value = backend.get_value(weight)
    assert isinstance(value, np.ndarray)
    np.testing.assert_array_equal(value, np.arange(6).reshape(2, 3))
    backend.set_value(weight, device.full((2, 3), 7.0, dtype="float32"))
    backend.set_value(weight, 2.5)
    np.testing.assert_array_equal(to_host(weight), np.full((2, 3), 2.5))
    with pytest.raises(ValueError, match=r"set_value: the array has shape \(2, 3\), the new value shape \(3,\)"):
        backend.set_value(weight, np.zeros(3))
    dense = layers.Dense(2)
    dense(np.ones((1, 3), "float32"))
    backend.set_value(dense.kernel, np.ones((3, 2)))
    assert devices.is_device_array(dense.kernel)
    np.testing.assert_array_equal(backend.get_value(dense.kernel), np.ones((3, 2)))


def test_model_moves_to_the_cpu_and_back_with_its_optimizer_state(device):
    model, x, y = compiled("lenet", "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    predicted = model.predict(x, verbose=0)
    twin, _, _ = compiled("lenet", "float32")
    twin.fit(x, y, batch_size=4, epochs=1, verbose=0)

    model.to_device("cpu")
    assert backend.get_device() == "cpu" and not any(devices.is_device_array(w.value) for w in model.weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), predicted, rtol=1e-5, atol=1e-6)
    backend.set_device("gpu", array_module=device)
    model.to_device("gpu")
    assert weights_on_device(model)
    # The moved optimizer state continues exactly where the model that never moved goes.
    twin.to_device("gpu")
    assert_same_weights(one_more_step(model, x[:4], y[:4]), one_more_step(twin, x[:4], y[:4]))
