"""``callbacks.TensorBoard``: the event files are read back with TensorBoard's own reader (EventAccumulator).

Tags, steps and values must be what ``fit`` logged (the History, and each batch's logs), in Keras 3's layout:
``log_dir/train`` and ``log_dir/validation``, ``epoch_*`` per epoch, ``batch_*`` per batch at ``update_freq``,
``<weight path>/histogram`` every ``histogram_freq`` epochs, the model's config under ``keras``.
"""
import doctest
import json
import os
import sys

import numpy as np
import pytest

import tinyconv
from tinyconv import callbacks, layers
from tinyconv import tensorboard_callback

pytest.importorskip("tensorboardX",
                    reason="the TensorBoard callback writes with tensorboardX (pip install tensorboardX)")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the event files are read back with TensorBoard's EventAccumulator (pip install tensorboard)")


def read_run(folder):
    """TensorBoard's view of one run folder: every scalar, histogram, image and tensor it holds."""
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={
        event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0, event_accumulator.IMAGES: 0,
        event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def scalars(run, tag):
    return [(event.step, event.value) for event in run.Scalars(tag)]


class BatchLogs(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


def small_model():
    model = tinyconv.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="relu"),
                                 layers.Dense(2, activation="softmax")])
    model.compile(optimizer=tinyconv.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(samples=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def test_epoch_batch_histogram_and_graph_records_match_the_history(tmp_path, fresh_names):
    model, recorder = small_model(), BatchLogs()
    x, y = data()
    board = callbacks.TensorBoard(tmp_path / "logs", histogram_freq=1, update_freq="batch", write_images=True,
                                  write_steps_per_second=True)
    history = model.fit(x, y, batch_size=8, epochs=3, validation_data=data(8, seed=1), verbose=0,
                        callbacks=[board, recorder])
    assert sorted(os.listdir(tmp_path / "logs")) == ["train", "validation"]
    train, validation = read_run(tmp_path / "logs" / "train"), read_run(tmp_path / "logs" / "validation")

    for name in ("loss", "accuracy"):
        assert [step for step, _ in scalars(train, f"epoch_{name}")] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in scalars(train, f"epoch_{name}")], history.history[name],
                                   rtol=1e-6)
        np.testing.assert_allclose([v for _, v in scalars(validation, f"epoch_{name}")],
                                   history.history[f"val_{name}"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars(train, "epoch_learning_rate")], [0.01] * 3, rtol=1e-6)
    assert all(v > 0 for _, v in scalars(train, "epoch_steps_per_second"))

    # three batches per epoch (8 + 8 + 4 samples): steps 1..9, the running logs fit passed to the callbacks
    assert [step for step, _ in scalars(train, "batch_loss")] == list(range(1, 10))
    np.testing.assert_allclose([v for _, v in scalars(train, "batch_loss")], [log["loss"] for log in recorder.logs],
                               rtol=1e-6)
    assert len(scalars(train, "batch_steps_per_second")) == 9
    assert not any(tag.startswith("batch_") for tag in validation.Tags()["scalars"])

    histograms = train.Tags()["histograms"]
    assert "sequential/dense/kernel/histogram" in histograms and len(histograms) == 4
    kernel = train.Histograms("sequential/dense_1/kernel/histogram")
    assert [event.step for event in kernel] == [0, 1, 2]
    last = kernel[-1].histogram_value
    final = model.layers[1].get_weights()[0]
    assert last.num == final.size and np.isclose(last.sum, final.sum(), rtol=1e-5)
    assert np.isclose(last.min, final.min()) and np.isclose(last.max, final.max())
    assert "sequential/dense/kernel/image" in train.Tags()["images"]

    graph = train.Tensors("keras")
    config = json.loads(graph[0].tensor_proto.string_val[0])
    assert config["class_name"] == "Sequential" and graph[0].step == 0
    assert "graph_keras_model" in train.PluginTagToContent("graph_keras_model") or \
        train.PluginTagToContent("graph_keras_model") == {"keras": b"1"}


def test_update_freq_every_n_batches_and_epoch_only(tmp_path):
    x, y = data(32)
    small_model().fit(x, y, batch_size=4, epochs=2, verbose=0,
                      callbacks=[callbacks.TensorBoard(tmp_path / "n", update_freq=3, write_graph=False)])
    run = read_run(tmp_path / "n" / "train")
    assert [step for step, _ in scalars(run, "batch_loss")] == [3, 6, 9, 12, 15]  # of 16 batches
    assert "keras" not in run.Tags()["tensors"]

    small_model().fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[callbacks.TensorBoard(tmp_path / "e")])
    run = read_run(tmp_path / "e" / "train")
    assert not [tag for tag in run.Tags()["scalars"] if tag.startswith("batch_")]
    assert not run.Tags()["histograms"]  # histogram_freq=0
    assert [step for step, _ in scalars(run, "epoch_loss")] == [0, 1]


def test_evaluate_writes_the_evaluation_vs_iterations_records(tmp_path):
    model = small_model()
    x, y = data()
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)  # 4 optimizer steps
    loss, accuracy = model.evaluate(x, y, verbose=0, callbacks=[callbacks.TensorBoard(tmp_path)])
    run = read_run(tmp_path / "validation")
    assert scalars(run, "evaluation_loss_vs_iterations") == [(4, pytest.approx(loss, rel=1e-6))]
    assert scalars(run, "evaluation_accuracy_vs_iterations") == [(4, pytest.approx(accuracy, rel=1e-6))]


def test_embeddings_are_saved_with_a_projector_config(tmp_path, fresh_names):
    model = tinyconv.Sequential([layers.Input(shape=(5,)), layers.Embedding(10, 3), layers.Flatten(),
                                 layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    board = callbacks.TensorBoard(tmp_path, embeddings_freq=2, embeddings_metadata={"embedding": "words.tsv"})
    model.fit(np.zeros((4, 5)), np.zeros(4), epochs=3, verbose=0, callbacks=[board])
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"' in config
    assert 'metadata_path: "words.tsv"' in config
    saved = sorted(name for name in os.listdir(tmp_path / "train") if name.startswith("keras_embedding"))
    assert saved == ["keras_embedding.ckpt-0.weights.h5", "keras_embedding.ckpt-2.weights.h5"]
    with pytest.raises(ValueError, match=r"not Embedding layers of the model: \['dense_9'\]"):
        model.fit(np.zeros((4, 5)), np.zeros(4), epochs=1, verbose=0, callbacks=[
            callbacks.TensorBoard(tmp_path / "bad", embeddings_freq=1, embeddings_metadata={"dense_9": "x.tsv"})])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="profile_batch must be 0, got profile_batch=5"):
        callbacks.TensorBoard(profile_batch=5)
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive int"):
        callbacks.TensorBoard(update_freq="sometimes")
    with pytest.raises(ValueError, match="histogram_freq must be a non-negative int"):
        callbacks.TensorBoard(histogram_freq=-1)


def test_without_tensorboardx_the_error_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # makes `import tensorboardX` fail
    with pytest.raises(ImportError, match=r"pip install tensorboardX"):
        callbacks.TensorBoard()


def test_weights_as_images():
    assert tensorboard_callback.weight_image(np.arange(4.0)).shape == (1, 1, 4, 1)
    assert tensorboard_callback.weight_image(np.ones((6, 2))).shape == (1, 2, 6, 1)  # wide side horizontal
    conv = tensorboard_callback.weight_image(np.arange(3 * 3 * 2 * 4.0).reshape(3, 3, 2, 4))
    assert conv is None  # a 4D conv kernel has no single image
    image = tensorboard_callback.weight_image(np.linspace(-1, 1, 18).reshape(3, 3, 2))
    assert image.shape == (2, 3, 3, 1) and image.min() == 0.0 and image.max() == 1.0


def test_docstring_example_runs(tmp_path):
    result = doctest.testmod(tensorboard_callback, extraglobs={"np": np, "tinyconv": tinyconv, "layers": layers,
                                                               "os": os},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0
