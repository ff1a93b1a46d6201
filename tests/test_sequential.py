"""Sequential: construction, summary, weights, compile/fit/evaluate/predict, callbacks, errors."""
import io
import sys

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers


def lenet5():
    """The Keras LeNet-5 of the course: 32x32x1 input, tanh, average pooling."""
    return keras.Sequential([
        layers.Conv2D(6, kernel_size=(5, 5), activation="tanh", input_shape=(32, 32, 1)),
        layers.AveragePooling2D(),
        layers.Conv2D(16, kernel_size=(5, 5), activation="tanh"),
        layers.AveragePooling2D(),
        layers.Conv2D(120, kernel_size=(5, 5), activation="tanh"),
        layers.Flatten(),
        layers.Dense(84, activation="tanh"),
        layers.Dense(10, activation="softmax"),
    ])


def small_cnn():
    return keras.Sequential([
        keras.Input(shape=(6, 6, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


def toy_data(n=60, seed=0):
    """Three classes told apart by which third of the image is bright."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.random((n, 6, 6, 1)).astype("float32") * 0.2
    for i, label in enumerate(y):
        x[i, :, 2 * label:2 * label + 2, 0] += 1.0
    return x, y


def test_lenet5_summary_matches_keras(fresh_names):
    model = lenet5()
    out = io.StringIO()
    model.summary(print_fn=lambda text: out.write(text + "\n"))
    text = out.getvalue()
    assert model.count_params() == 61_706
    assert "Total params: 61,706" in text and "Trainable params: 61,706" in text
    assert "Non-trainable params: 0" in text
    for row in ["conv2d (Conv2D)", "(None, 28, 28, 6)", "156", "conv2d_1 (Conv2D)", "2,416", "conv2d_2",
                "(None, 1, 1, 120)", "48,120", "dense (Dense)", "10,164", "dense_1 (Dense)", "850",
                "average_pooling2d", "(None, 5, 5, 16)", "flatten (Flatten)"]:
        assert row in text, row
    assert [layer.name for layer in model.layers][:3] == ["conv2d", "average_pooling2d", "conv2d_1"]
    assert model.output_shape == (None, 10)


def test_summary_takes_keras_arguments(fresh_names):
    import inspect

    assert list(inspect.signature(keras.Sequential.summary).parameters)[1:] == [
        "line_length", "positions", "print_fn", "expand_nested", "show_trainable", "layer_range"]
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="inner_dense")], name="inner")
    model = keras.Sequential([keras.Input((4,)), layers.Dropout(0.1, name="drop"), layers.Dense(4, name="first"),
                              inner, layers.Dense(2, name="last")])
    model.get_layer("first").trainable = False
    lines = []
    model.summary(print_fn=lines.append, show_trainable=True)
    assert "Trainable" in lines[0].splitlines()[2]
    rows = {line.split()[1]: line for line in lines[0].splitlines() if line.startswith("│ ")}
    assert [rows[name].rstrip("│ ")[-1] for name in ("drop", "first", "last")] == ["-", "N", "Y"]

    model.summary(print_fn=lines.append, layer_range=("inner", "l.st"))
    shown = [line.split()[1] for line in lines[1].splitlines() if line.startswith("│ ")]
    assert shown == ["inner", "last"]
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(print_fn=lines.append, layer_range=("nothing", "last"))
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(print_fn=lines.append, layer_range="last")

    model.summary(print_fn=lines.append, expand_nested=True)
    assert "└ inner_dense (Dense)" in lines[2] and "inner_dense" not in lines[0]

    model.summary(print_fn=lines.append, positions=[30, 50, 60])
    assert lines[3].splitlines()[1] == "┏" + "━" * 29 + "┳" + "━" * 19 + "┳" + "━" * 9 + "┓"
    with pytest.raises(ValueError, match="positions"):
        model.summary(print_fn=lines.append, positions=[0.5, 1.0])


def test_models_do_not_import_the_teaching_tools():
    import ast
    import pathlib

    package = pathlib.Path(keras.models.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "teaching" not in (node.module or ""), f"models/{path.name} imports {node.module}"


def test_add_build_and_input_forms(fresh_names):
    model = keras.Sequential(name="stack")
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(3))
    model.add(layers.Dense(2))
    assert model.built and model.output_shape == (None, 2)
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2

    late = keras.Sequential([layers.Dense(2), layers.Dense(1)])
    assert not late.built
    with pytest.raises(ValueError, match="not built"):
        late.count_params()
    late.build((None, 5))
    assert late.count_params() == 5 * 2 + 2 + 2 + 1
    assert late.layers[0].kernel.shape == (5, 2)


def test_get_set_weights_roundtrip_and_call(fresh_names):
    model = small_cnn()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 1, 4), (4,), (36, 3), (3,)]
    x, _ = toy_data(5)
    before = model(x)
    other = small_cnn()
    other.set_weights(model.get_weights())
    np.testing.assert_allclose(other.predict(x, verbose=0), before, rtol=1e-6)
    with pytest.raises(ValueError, match=r"weight 'kernel' has shape \(3, 3, 1, 4\)"):
        other.layers[0].set_weights([np.zeros((3, 3, 2, 4)), np.zeros(4)])
    with pytest.raises(ValueError, match="expected a list of 4 arrays"):
        other.set_weights(model.get_weights()[:2])


def test_fit_learns_and_returns_history(fresh_names):
    keras.utils.set_random_seed(1)
    x, y = toy_data(90)
    model = small_cnn()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=15, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.95
    probabilities = model.predict(x, batch_size=7, verbose=0)
    assert probabilities.shape == (90, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == y) == pytest.approx(accuracy)


def test_compile_with_string_optimizers_and_one_hot_labels(fresh_names):
    x, y = toy_data(30)
    for optimizer in ["sgd", "adam", "rmsprop"]:
        model = small_cnn()
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        loss, accuracy = model.train_on_batch(x, keras.utils.to_categorical(y, 3))
        assert np.isfinite(loss) and 0 <= accuracy <= 1
        result = model.test_on_batch(x, keras.utils.to_categorical(y, 3))
        assert len(result) == 2
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)  # no metrics: a scalar, as in Keras
    assert model.predict_on_batch(x[:4]).shape == (4, 3)


def test_validation_data_and_no_shuffle_are_deterministic(fresh_names):
    x, y = toy_data(40)
    results = []
    for _ in range(2):
        keras.backend.clear_session()
        keras.utils.set_random_seed(7)
        model = small_cnn()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
        history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, validation_data=(x[:10], y[:10]),
                            verbose=0)
        results.append(history.history)
    assert results[0] == results[1]
    assert "val_acc" in results[0]


def test_verbose_modes_print_one_line_per_epoch_when_not_a_terminal(fresh_names, capsys):
    x, y = toy_data(20)
    model = small_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=8, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3") and "loss:" in lines[0] and "accuracy:" in lines[0]
    model.fit(x, y, epochs=2, batch_size=8, verbose=2)
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_on_a_terminal(fresh_names, monkeypatch, capsys):
    x, y = toy_data(20)
    model = small_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    model.fit(x, y, epochs=1, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "5/5" in out and "loss=" not in out and "loss:" in out


def test_callbacks_see_every_hook(fresh_names):
    events = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_train_batch_end(self, batch, logs=None):
            events.append("batch")
            if epoch_stop and batch == 1:
                self.model.stop_training = True

    x, y = toy_data(24)
    model = small_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epoch_stop = False
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[Recorder()])
    assert events[0] == "train_begin" and events.count("batch") == 6
    assert events[-1] == ("epoch_end", 1, ["accuracy", "loss"])
    events.clear()
    epoch_stop = True
    model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[Recorder()])
    assert events.count("batch") == 2  # stop_training ends fit early


def test_train_on_batch_matches_a_hand_computed_sgd_step(fresh_names):
    """One SGD step on a Dense softmax layer, against the formula dW = x^T (p - y) / N."""
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, activation="softmax", dtype="float64")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    x = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 2.0]])
    y = np.array([1, 0])
    w0, b0 = [w.copy() for w in model.get_weights()]
    logits = x @ w0 + b0
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    dz = (p - np.eye(2)[y]) / 2
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(2), y])))
    w1, b1 = model.get_weights()
    np.testing.assert_allclose(w1, w0 - 0.5 * x.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(b1, b0 - 0.5 * dz.sum(axis=0), rtol=1e-12)


def test_bad_input_gets_a_clear_error(fresh_names):
    model = small_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = toy_data(10)
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 6, 6, 1\), got \(10, 6, 6\)"):
        model.predict(x[..., 0])
    with pytest.raises(ValueError, match=r"\(None, 6, 6, 1\), got \(10, 6, 6, 3\)"):
        model.fit(np.repeat(x, 3, axis=-1), y, verbose=0)
    with pytest.raises(ValueError, match="same number of samples, got 10 inputs and 9 targets"):
        model.fit(x, y[:9], verbose=0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        model.fit(x, y + 5, verbose=0)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="non-empty"):
        model.predict(np.zeros((0, 6, 6, 1)))
    with pytest.raises(RuntimeError, match="compile"):
        small_cnn().fit(x, y, verbose=0)


def test_bad_layer_arguments_name_the_layer(fresh_names):
    with pytest.raises(ValueError, match="Conv2D 'conv2d': filters must be a positive integer, got 0"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        layers.Conv2D(4, (3, -1))
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.Dense(-2)
    with pytest.raises(ValueError, match="pool_size must be positive"):
        layers.MaxPooling2D(0)
    with pytest.raises(ValueError, match="rate must be in"):
        layers.Dropout(1.5)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="groups"):
        layers.Conv2D(3, 3, groups=2)
    conv = layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r"expected input of rank 4 .*got shape \(None, 28, 28\)"):
        conv.build_for((None, 28, 28))
    conv(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"expected input with 3 channels \(from its weights\), got shape"):
        conv(np.zeros((1, 5, 5, 1), "float32"))
    with pytest.raises(ValueError, match="too small"):
        layers.Conv2D(2, 5)(np.zeros((1, 3, 3, 1), "float32"))
    with pytest.raises(ValueError, match="smaller than pool_size"):
        layers.MaxPooling2D(4)(np.zeros((1, 3, 3, 1), "float32"))
    with pytest.raises(TypeError, match="unexpected keyword"):
        layers.Dense(3, activaton="relu")
    with pytest.raises(ValueError, match="unknown activation"):
        layers.Dense(3, activation="relux")


def test_threads_and_openmp_flags():
    assert isinstance(keras.openmp_enabled(), bool)
    previous = keras.get_num_threads()
    try:
        keras.set_num_threads(1)
        assert keras.get_num_threads() == 1
    finally:
        keras.set_num_threads(previous)
    with pytest.raises(ValueError, match="positive integer"):
        keras.set_num_threads(0)


def test_results_do_not_depend_on_the_thread_count(fresh_names):
    x, y = toy_data(32)
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(8, 3, padding="same"),
                              layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    weights = model.get_weights()
    previous = keras.get_num_threads()
    outcomes = []
    try:
        for threads in (1, 2):
            keras.set_num_threads(threads)
            model.set_weights(weights)
            outcomes.append((model.train_on_batch(x, y), model.predict(x, verbose=0)))
    finally:
        keras.set_num_threads(previous)
    assert outcomes[0][0] == pytest.approx(outcomes[1][0], rel=1e-6)
    np.testing.assert_allclose(outcomes[0][1], outcomes[1][1], rtol=1e-5, atol=1e-7)


def test_reference_and_compiled_kernels_train_the_same(fresh_names, monkeypatch):
    # float64, and SGD rather than Adam: the conv bias before batch norm has a zero gradient up to rounding,
    # which Adam's normalised step would blow up to a full step of noise.
    monkeypatch.setattr(keras.backend, "_FLOATX", "float64")
    x, y = toy_data(16)
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same"),
                              layers.BatchNormalization(), layers.AveragePooling2D(2, padding="same"),
                              layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.build((None, 6, 6, 1))
    start = model.get_weights()
    trained = {}
    for kernels in ("cpu", "reference"):
        model.set_weights(start)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
        with keras.backend.use_kernels(kernels):
            model.train_on_batch(x, y)
            model.train_on_batch(x, y)
        trained[kernels] = model.get_weights()
    for fast, ref in zip(trained["cpu"], trained["reference"]):
        np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12)
