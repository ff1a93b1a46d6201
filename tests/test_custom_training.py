"""Keras 3's customised training: ``train_step`` / ``test_step`` overrides honoured by fit and evaluate,
``compute_loss``, ``model.metrics``, a Model subclass made from (inputs, outputs), ``steps_per_epoch`` on
arrays, dict outputs with dict losses, ``register_keras_serializable`` with custom ``get_config`` through
``.keras`` files, and the ``tensorflow`` alias's ``GradientTape``.
"""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import compat, layers, ops

RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 4)).astype("float32")
Y = RNG.standard_normal((24, 1)).astype("float32")


@pytest.fixture(autouse=True)
def fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


class TapeStepModel(keras.Model):
    """The guide's first example: the compiled loss through compute_loss, a GradientTape, optimizer.apply."""

    def train_step(self, data):
        x, y = data[0], data[1]
        sample_weight = data[2] if len(data) == 3 else None
        with ops.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


def two_layer_graph(regularizer=None):
    inputs = layers.Input(shape=(4,))
    hidden = layers.Dense(5, activation="tanh", kernel_regularizer=regularizer)(inputs)
    return inputs, layers.Dense(1)(hidden)


def test_a_train_step_with_a_tape_takes_the_same_steps_as_the_built_in_one():
    # With an L2 penalty: compute_loss must put dR/dw on the tape too, or the weights drift apart.
    built_in = keras.Model(*two_layer_graph(keras.regularizers.L2(0.1)))
    custom = TapeStepModel(*two_layer_graph(keras.regularizers.L2(0.1)))
    custom.set_weights(built_in.get_weights())
    for model in (built_in, custom):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    expected = built_in.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    history = custom.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    for a, b in zip(built_in.get_weights(), custom.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert set(history) == {"loss", "mae"}  # compile_metrics' dict is flattened into the logs
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["mae"], expected["mae"], rtol=1e-5)


def test_a_subclass_made_from_inputs_and_outputs_is_functional_with_its_own_methods():
    model = TapeStepModel(*two_layer_graph())
    assert isinstance(model, TapeStepModel) and isinstance(model, keras.models.Functional)
    assert type(model).__name__ == "TapeStepModel" and len(model.layers) == 3
    assert model.predict(X, verbose=0).shape == (24, 1)


def test_metrics_lists_the_loss_tracker_the_compiled_metrics_and_metric_attributes():
    model = keras.Model(*two_layer_graph())
    assert model.metrics == []
    model.tracker = keras.metrics.Mean(name="extra")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert model.metrics_names == ["loss", "compile_metrics", "extra"]
    compiled = model.metrics[1]
    compiled.update_state(Y, np.zeros_like(Y))
    assert compiled.result() == {"mae": pytest.approx(float(np.mean(np.abs(Y))))}
    model.reset_metrics()
    assert compiled.result() == {"mae": 0.0}
    model.compile(optimizer="sgd", loss="mse")
    assert model.metrics_names == ["loss", "extra"]  # no compiled metrics, no compile_metrics


class OwnTrackers(keras.Model):
    """The guide's "going lower-level": its own loss and metric objects, listed by a metrics property."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()
        self.calls = []

    def train_step(self, data):
        self.calls.append(data)
        x, y = data
        with ops.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        self.mae_metric.update_state(y, self(x, training=False))
        return {"mae": self.mae_metric.result(), "batches": float(len(self.calls))}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def test_fit_resets_the_metrics_property_before_each_epoch_and_reports_the_last_logs():
    model = OwnTrackers(*two_layer_graph())
    model.compile(optimizer="adam")
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert len(model.calls) == 6  # 3 batches a epoch, each handed to train_step as (x, y)
    x, y = model.calls[0]
    assert x.shape == (8, 4) and y.shape == (8, 1) and x.dtype == np.float32
    assert float(model.loss_tracker.count) == 3  # reset before the second epoch: one value per batch since
    model.calls.clear()
    history = model.fit(X, Y, batch_size=8, epochs=3, verbose=0, validation_data=(X[:8], Y[:8]))
    assert set(history.history) == {"loss", "mae", "val_mae", "val_batches"}
    assert history.history["val_batches"] == [3.0, 6.0, 9.0]  # validation ran test_step after each epoch


def test_evaluate_and_the_on_batch_methods_use_the_overridden_steps():
    model = OwnTrackers(*two_layer_graph())
    model.compile(optimizer="adam")
    logs = model.evaluate(X, Y, batch_size=10, verbose=0, return_dict=True)
    prediction = model.predict(X, verbose=0)
    assert logs["mae"] == pytest.approx(float(np.mean(np.abs(prediction - Y))), rel=1e-5)
    assert model.train_on_batch(X[:6], Y[:6], return_dict=True).keys() == {"loss", "mae"}
    assert len(model.calls) == 1
    assert model.test_on_batch(X, Y, return_dict=True)["batches"] == 1.0


class XOnly(keras.Model):
    """A step with no targets (the GAN's): fit hands over x alone."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(2)
        self.seen = []

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        self.seen.append(data)
        return {"rows": float(len(data if not isinstance(data, tuple) else data[0]))}


def test_a_train_step_without_targets_receives_x_alone_and_steps_per_epoch_caps_arrays():
    model = XOnly()
    model.compile()
    history = model.fit(X, batch_size=5, steps_per_epoch=2, epochs=2, verbose=0)
    assert len(model.seen) == 4 and all(isinstance(batch, np.ndarray) for batch in model.seen)
    assert history.history["rows"] == [5.0, 5.0]


def test_sample_weights_reach_the_step_as_a_third_element_and_weight_the_loss():
    model = TapeStepModel(*two_layer_graph())
    model.compile(optimizer="sgd", loss="mse")
    squared = np.mean((model.predict(X, verbose=0) - Y) ** 2, axis=1)  # one batch: its loss is before the update
    weights = np.r_[np.ones(12), np.zeros(12)]
    history = model.fit(X, Y, sample_weight=weights, batch_size=24, verbose=0, shuffle=False)
    assert history.history["loss"][0] == pytest.approx(float(np.sum(squared * weights) / 24), rel=1e-5)


def test_compute_loss_weights_each_output_and_adds_the_penalties():
    inputs = layers.Input(shape=(4,))
    hidden = layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.5), name="hidden")(inputs)
    model = keras.Model(inputs, {"a": layers.Dense(1, name="a")(hidden), "b": layers.Dense(2, name="b")(hidden)})
    model.compile(optimizer="sgd", loss={"a": "mse", "b": "mae"}, loss_weights={"a": 1.0, "b": 0.25})
    y_pred = model.predict(X, verbose=0)
    y_pred = dict(zip(model.output_names, y_pred)) if isinstance(y_pred, list) else y_pred
    y = {"a": Y, "b": np.zeros((24, 2), dtype="float32")}
    kernel = model.get_layer("hidden").kernel
    expected = (np.mean((y_pred["a"] - Y) ** 2) + 0.25 * np.mean(np.abs(y_pred["b"]))
                + 0.5 * np.sum(np.square(kernel)))
    assert float(model.compute_loss(y=y, y_pred=y_pred)) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="no entry for the outputs"):
        model.compute_loss(y={"a": Y}, y_pred=y_pred)
    bare = keras.Model(*two_layer_graph())
    bare.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no loss to compute"):
        bare.compute_loss(y=Y, y_pred=Y)


def test_dict_outputs_train_with_dict_losses_and_loss_weights():
    # The functional API guide's ticket model, with pooling in place of its LSTMs.
    title, tags = layers.Input(shape=(None,), name="title"), layers.Input(shape=(6,), name="tags")
    features = layers.concatenate([layers.GlobalAveragePooling1D()(layers.Embedding(50, 8)(title)), tags])
    model = keras.Model(inputs=[title, tags], outputs={"priority": layers.Dense(1, name="priority")(features),
                                                       "department": layers.Dense(4, name="department")(features)})
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
                        "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.2})
    data = {"title": RNG.integers(50, size=(32, 7)), "tags": RNG.integers(2, size=(32, 6)).astype("float32")}
    targets = {"priority": RNG.random((32, 1)), "department": np.eye(4)[RNG.integers(4, size=32)]}
    logs = model.fit(data, targets, batch_size=32, verbose=0).history
    assert logs["loss"][0] == pytest.approx(logs["priority_loss"][0] + 0.2 * logs["department_loss"][0], rel=1e-5)


@keras.saving.register_keras_serializable(package="tests")
class Scaled(layers.Layer):
    """A custom layer whose get_config returns its own argument only (no name)."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")

    def call(self, inputs):
        return inputs * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="tests")
class Head(keras.Model):
    """A subclassed model with a custom get_config."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.scaled = Scaled(0.5)
        self.dense = layers.Dense(units)

    def call(self, inputs):
        return self.dense(self.scaled(inputs))

    def get_config(self):
        return {"units": self.units, "name": self.name}


def test_registered_classes_round_trip_through_a_keras_file_without_custom_objects(tmp_path):
    assert keras.saving.get_registered_name(Scaled) == "tests>Scaled"
    assert keras.saving.get_registered_object("tests>Head") is Head
    inputs = layers.Input(shape=(4,))
    model = keras.Model(inputs, layers.Dense(2)(Scaled(3.0)(inputs)))
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, np.zeros((24, 2)), verbose=0)
    entry = next(e for e in model.get_config()["layers"] if e["class_name"] == "Scaled")
    assert entry["registered_name"] == "tests>Scaled" and entry["config"]["factor"] == 3.0
    model.save(tmp_path / "functional.keras")
    loaded = keras.models.load_model(tmp_path / "functional.keras")
    assert isinstance(loaded.layers[1], Scaled) and loaded.layers[1].factor == 3.0
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)

    head = Head(units=2, name="head")
    head.compile(optimizer="adam", loss="mse")
    head.fit(X, np.zeros((24, 2)), verbose=0)
    head.save(tmp_path / "head.keras")
    again = keras.models.load_model(tmp_path / "head.keras")
    assert type(again) is Head and again.units == 2 and again.name == "head"
    np.testing.assert_allclose(again.predict(X, verbose=0), head.predict(X, verbose=0), rtol=1e-6)


def test_registering_a_class_without_get_config_is_refused():
    with pytest.raises(ValueError, match="no get_config"):
        keras.saving.register_keras_serializable("tests")(type("Plain", (), {}))


def test_a_custom_layer_whose_config_lacks_its_name_rebuilds_in_a_functional_config():
    class CustomDense(layers.Layer):  # the functional API guide's: get_config returns {"units": ...} only
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")

        def call(self, inputs):
            return ops.matmul(inputs, self.w)

        def get_config(self):
            return {"units": self.units}

    inputs = layers.Input((4,))
    model = keras.Model(inputs, CustomDense(10)(inputs))
    copy = keras.Model.from_config(model.get_config(), custom_objects={"CustomDense": CustomDense})
    assert copy.output_shape == (None, 10) and [l.name for l in copy.layers] == [l.name for l in model.layers]


def test_the_tensorflow_alias_has_the_tape_and_the_few_functions_the_guides_use():
    with compat.keras_aliases():
        import tensorflow as tf

        assert tf.GradientTape is ops.GradientTape and tf.keras is keras
        assert tf.shape(np.ones((2, 3))) == (2, 3)
        np.testing.assert_array_equal(tf.concat([tf.ones((1, 2)), tf.zeros((1, 2))], axis=0), [[1, 1], [0, 0]])
