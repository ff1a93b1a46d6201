"""Functional models: graphs, residual sums, shared layers, several inputs and outputs."""
import io

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers

from .gradcheck import numerical_gradient, relative_error


def f64(cls, *args, **kwargs):
    return cls(*args, dtype="float64", **kwargs)


def residual_model():
    inputs = keras.Input((6, 6, 2), dtype="float64")
    x = f64(layers.Conv2D, 3, 3, padding="same", activation="tanh")(inputs)
    y = f64(layers.Conv2D, 3, 3, padding="same")(x)
    x = f64(layers.Activation, "tanh")(layers.add([x, y]))
    x = f64(layers.Flatten)(x)
    outputs = f64(layers.Dense, 4, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual")


def loss_of(model, x, y):
    return float(model.loss(y, model.predict(x, verbose=0)))


def check_model_gradients(model, x, y, tol=1e-6):
    """Every trainable weight's gradient after one backward pass against central differences."""
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    inputs = model._prepare_inputs(x, "test")
    targets = model._prepare_targets(y, len(inputs[0]), "test")
    outputs = model._run_forward(inputs, training=True)
    grads, fused = model._loss_gradients(targets, outputs, None)
    model._run_backward(grads, fused)
    analytic = model.trainable_gradients()
    for weight, gradient in zip(model.trainable_weights, analytic):
        numeric = numerical_gradient(lambda: loss_of(model, x, y), weight)
        assert relative_error(gradient, numeric) < tol


def test_residual_connection_gradients_are_summed(fresh_names):
    rng = np.random.default_rng(0)
    model = residual_model()
    check_model_gradients(model, rng.standard_normal((3, 6, 6, 2)), rng.integers(0, 4, 3))


def test_shared_layer_gets_the_sum_of_both_calls(fresh_names):
    rng = np.random.default_rng(1)
    left, right = keras.Input((5,), dtype="float64"), keras.Input((5,), dtype="float64")
    shared = f64(layers.Dense, 3, activation="tanh")
    merged = layers.concatenate([shared(left), shared(right)])
    output = f64(layers.Dense, 2, activation="softmax")(merged)
    model = keras.Model([left, right], output)
    assert len(model.trainable_weights) == 4  # the shared Dense counts once
    x = [rng.standard_normal((4, 5)), rng.standard_normal((4, 5))]
    check_model_gradients(model, x, rng.integers(0, 2, 4))
    assert shared._inbound_nodes[0].index == 0 and shared._inbound_nodes[1].index == 1


def test_multi_output_training_and_named_losses(fresh_names):
    rng = np.random.default_rng(2)
    inputs = keras.Input((4,), name="features")
    hidden = layers.Dense(8, activation="relu")(inputs)
    label = layers.Dense(3, activation="softmax", name="label")(hidden)
    score = layers.Dense(1, name="score")(hidden)
    model = keras.Model(inputs=inputs, outputs=[label, score])
    model.compile(optimizer="adam", loss={"label": "sparse_categorical_crossentropy", "score": "mse"},
                  loss_weights={"label": 1.0, "score": 0.5}, metrics={"label": ["accuracy"]})
    x = rng.standard_normal((32, 4)).astype("float32")
    y = [rng.integers(0, 3, 32), rng.standard_normal((32, 1))]
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert {"loss", "label_loss", "score_loss", "label_accuracy"} <= set(history.history)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["label_loss"] + 0.5 * logs["score_loss"], rel=1e-5)
    probabilities, scores = model.predict(x, verbose=0)
    assert probabilities.shape == (32, 3) and scores.shape == (32, 1)


def test_model_used_as_a_layer(fresh_names):
    rng = np.random.default_rng(3)
    encoder = keras.Sequential([keras.Input((6,), dtype="float64"), f64(layers.Dense, 4, activation="tanh")],
                               name="encoder")
    inputs = keras.Input((6,), dtype="float64")
    outputs = f64(layers.Dense, 2, activation="softmax")(encoder(inputs))
    model = keras.Model(inputs, outputs)
    assert [layer.name for layer in model.layers] == [model.layers[0].name, "encoder", model.layers[2].name]
    assert model.count_params() == 6 * 4 + 4 + 4 * 2 + 2
    check_model_gradients(model, rng.standard_normal((5, 6)), rng.integers(0, 2, 5))


def test_summary_shows_connections(fresh_names):
    model = residual_model()
    out = io.StringIO()
    model.summary(print_fn=lambda text: out.write(text))
    text = out.getvalue()
    assert "Connected to" in text and "conv2d[0][0]" in text and "conv2d_1[0][0]" in text
    assert "input_layer (InputLayer)" in text


def test_graph_errors(fresh_names):
    a, b = keras.Input((3,)), keras.Input((3,))
    out = layers.Dense(2)(layers.add([a, b]))
    with pytest.raises(ValueError, match="graph disconnected"):
        keras.Model(a, out)
    with pytest.raises(ValueError, match="not compatible"):
        layers.add([keras.Input((3,)), keras.Input((4,))])
    with pytest.raises(ValueError, match="must match on every axis"):
        layers.concatenate([keras.Input((2, 3)), keras.Input((4, 3))], axis=-1)
    model = keras.Model([a, b], out)
    with pytest.raises(ValueError, match="has 2 inputs"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expects shape \(None, 3\), got \(2, 4\)"):
        model.predict([np.zeros((2, 4)), np.zeros((2, 3))])


@pytest.mark.parametrize("merge, reference", [
    (layers.Subtract, lambda a, b: a - b),
    (layers.Multiply, lambda a, b: a * b),
    (layers.Average, lambda a, b: (a + b) / 2),
    (layers.Maximum, np.maximum),
    (layers.Minimum, np.minimum),
])
def test_merge_layers_forward_and_gradients(merge, reference):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    layer = merge(dtype="float64")
    np.testing.assert_allclose(layer([a, b]), reference(a, b))
    r = rng.standard_normal((3, 4))
    da, db = layer.backward(r)
    for array, analytic in ((a, da), (b, db)):
        numeric = numerical_gradient(lambda: float(np.sum(layer.forward([a, b]) * r)), array)
        assert relative_error(analytic, numeric) < 1e-7


def test_fit_with_generators_sequences_and_weights(fresh_names):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")

    def batches():
        while True:
            for start in range(0, 40, 10):
                yield x[start:start + 10], y[start:start + 10]

    class Batches(keras.utils.Sequence if hasattr(keras.utils, "Sequence") else object):
        def __init__(self):
            self.epochs_ended = 0

        def __len__(self):
            return 4

        def __getitem__(self, index):
            return x[index * 10:(index + 1) * 10], y[index * 10:(index + 1) * 10]

        def on_epoch_end(self):
            self.epochs_ended += 1

    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(batches(), steps_per_epoch=4, epochs=2, verbose=0, validation_data=batches(),
                        validation_steps=2)
    assert len(history.history["val_loss"]) == 2
    sequence = Batches()
    model.fit_generator(sequence, epochs=3, verbose=0)
    assert sequence.epochs_ended == 3
    assert len(model.evaluate_generator(Batches())) == 2
    assert model.predict_generator(Batches()).shape == (40, 2)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(batches(), epochs=1, verbose=0)

    # class_weight {0: 0, 1: 1} is the same as sample weights that drop class 0.
    start = model.get_weights()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y, class_weight={0: 0.0, 1: 1.0})
    by_class = model.get_weights()
    model.set_weights(start)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y, sample_weight=y.astype(float))
    for a, b in zip(by_class, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="class_weight has no entry"):
        model.train_on_batch(x, y, class_weight={1: 1.0})


def test_functional_matches_keras(fresh_names):
    keras_ref = pytest.importorskip("keras", reason="Keras 3 is the oracle for the functional API")
    keras_ref.backend.clear_session()
    rng = np.random.default_rng(6)

    def build(lib):
        inputs = lib.Input((8, 8, 3))
        x = lib.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        y = lib.layers.Conv2D(4, 3, padding="same")(x)
        y = lib.layers.BatchNormalization()(y)
        x = lib.layers.Activation("relu")(lib.layers.add([x, y]))
        x = lib.layers.MaxPooling2D()(x)
        x = lib.layers.concatenate([lib.layers.Flatten()(x), lib.layers.Flatten()(lib.layers.AveragePooling2D(4)(inputs))])
        return lib.Model(inputs, lib.layers.Dense(5, activation="softmax")(x))

    theirs, ours = build(keras_ref), build(keras)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    x = rng.standard_normal((16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 5, 16)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-4, atol=1e-6)
    for model in (theirs, ours):
        model.compile(optimizer=model is ours and keras.optimizers.SGD(0.1) or keras_ref.optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours_logs = ours.train_on_batch(x, y)
    theirs_logs = theirs.train_on_batch(x, y)
    np.testing.assert_allclose(ours_logs, theirs_logs, rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-3, atol=1e-5)


def test_sequential_nests_models_and_exposes_symbolic_outputs(fresh_names):
    rng = np.random.default_rng(7)
    encoder = keras.Sequential([keras.Input((6,)), layers.Dense(4, activation="relu")], name="encoder")
    model = keras.Sequential([encoder, layers.Dense(2, activation="softmax")])
    assert model.input_shape == (None, 6) and model.output_shape == (None, 2)
    assert model.count_params() == 6 * 4 + 4 + 4 * 2 + 2
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = rng.standard_normal((10, 6)).astype("float32"), rng.integers(0, 2, 10)
    before = encoder.get_weights()[0].copy()
    model.train_on_batch(x, y)
    assert not np.allclose(before, encoder.get_weights()[0])  # gradients reached the nested model

    # Keras's feature-extractor idiom on a Sequential: Model(model.inputs, model.layers[i].output)
    cnn = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                            layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3)])
    features = keras.Model(inputs=cnn.inputs, outputs=cnn.layers[0].output)
    images = rng.random((2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(features.predict(images, verbose=0), cnn.layers[0](images), rtol=1e-6)
    assert cnn.layers[1].output.shape == (None, 3, 3, 4) and cnn.input.shape == (None, 8, 8, 1)
    shared = layers.Dense(2)
    shared(keras.Input((3,)))
    shared(keras.Input((3,)))
    with pytest.raises(AttributeError, match="called 2 times"):
        shared.output


def test_the_symbolic_graph_lives_in_tinyconv_graph(fresh_names):
    from tinyconv import graph

    x = keras.Input((4,))
    dense = layers.Dense(2)
    y = dense(x)
    assert isinstance(x, graph.SymbolicTensor) and keras.backend.is_keras_tensor(y)
    assert not keras.backend.is_keras_tensor(np.zeros((1, 4)))
    assert isinstance(y.node, graph.Node) and y.node.layer is dense and y.node.inputs == [x]
    assert dense.input is x and dense.output is y
    assert graph.is_symbolic([x, y]) and not graph.is_symbolic([]) and not graph.is_symbolic([x, np.zeros(2)])
    inner = keras.Model(x, y)  # a model called on symbols is one node, as a layer is
    z = inner(keras.Input((4,)))
    assert z.shape == (None, 2) and z.node.layer is inner


def test_dict_outputs_are_named_by_their_keys_returned_as_a_dict_and_saved(tmp_path, fresh_names):
    inputs = layers.Input((3,))
    model = keras.Model(inputs, {"score": layers.Dense(1, name="d1")(inputs),
                                 "label": layers.Dense(2, activation="softmax", name="d2")(inputs)})
    assert model.output_names == ["score", "label"]
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    predicted = model.predict(x, verbose=0)
    assert sorted(predicted) == ["label", "score"] and predicted["label"].shape == (4, 2)
    model.compile("sgd", loss={"score": "mse", "label": "sparse_categorical_crossentropy"})
    logs = model.fit(x, {"score": np.zeros((4, 1)), "label": np.zeros(4)}, verbose=0).history
    assert {"score_loss", "label_loss"} <= set(logs)
    model.save(tmp_path / "dict.keras")
    loaded = keras.models.load_model(tmp_path / "dict.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0)["score"], model.predict(x, verbose=0)["score"])
