"""Callbacks: EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, LearningRateScheduler, CSVLogger,
TerminateOnNaN, LambdaCallback - on small models, and decision for decision against Keras 3's own callbacks."""
import csv
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import tinyconv  # noqa: E402
from tinyconv import callbacks, layers, optimizers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ------------------------------------------------------------------------------------------------ helpers
def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model(optimizer=None, seed=0):
    tinyconv.utils.set_random_seed(seed)
    model = tinyconv.Sequential([tinyconv.Input((4,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer or optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Scripted(callbacks.Callback):
    """Overwrites a logged value each epoch with a scripted sequence, so decisions are predictable."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightsLog(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


class FakeOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate
        self.name = "fake"


class FakeModel:
    """Just enough of a model for a callback: weights, an optimizer, stop_training and save calls."""

    def __init__(self, learning_rate=0.1):
        self.optimizer = FakeOptimizer(learning_rate)
        self.stop_training = False
        self.weights = [np.zeros(2)]
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path, **kwargs):
        self.saved.append(("model", path))

    def save_weights(self, path, **kwargs):
        self.saved.append(("weights", path))


def _drive(callback, model, values, key="val_loss"):
    """Run the epoch hooks over a scripted sequence; returns the number of epochs run."""
    callback.set_model(model)
    callback.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        model.weights = [np.full(2, float(epoch))]
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {key: value, "loss": 1.0})
        epochs += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return epochs


SEQUENCES = [
    [1.0, 0.8, 0.9, 0.85, 0.95, 0.65, 0.75, 0.8, 0.9, 1.0],
    [0.5, 0.5, 0.5, 0.49995, 0.4, 0.3, 0.35, 0.36, 0.37, 0.2],
    [3.0, 2.0, 1.5, 1.4, 1.39, 1.395, 1.38, 1.5, 1.6, 1.7],
]
EARLY_STOPPING = [
    dict(patience=0),
    dict(patience=2),
    dict(patience=2, min_delta=0.05),
    dict(patience=1, restore_best_weights=True),
    dict(patience=2, baseline=0.6),
    dict(patience=1, start_from_epoch=3, restore_best_weights=True),
    dict(patience=2, mode="max"),
]


# ------------------------------------------------------------------------------------------------ parity
@pytest.mark.parametrize("kwargs", EARLY_STOPPING, ids=[str(k) for k in EARLY_STOPPING])
@pytest.mark.parametrize("sequence", SEQUENCES, ids=["bumpy", "flat", "slow"])
def test_early_stopping_decisions_match_keras(kwargs, sequence):
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    ours, theirs = FakeModel(), FakeModel()
    our_epochs = _drive(callbacks.EarlyStopping(**kwargs), ours, sequence)
    their_epochs = _drive(keras.callbacks.EarlyStopping(**kwargs), theirs, sequence)
    assert our_epochs == their_epochs
    np.testing.assert_array_equal(ours.weights[0], theirs.weights[0])  # restored (or last) weights


REDUCE_LR = [
    dict(patience=1),
    dict(patience=2, factor=0.5, cooldown=1),
    dict(patience=1, factor=0.2, min_lr=0.01),
    dict(patience=1, min_delta=0.1, mode="min"),
]


@pytest.mark.parametrize("kwargs", REDUCE_LR, ids=[str(k) for k in REDUCE_LR])
@pytest.mark.parametrize("sequence", SEQUENCES, ids=["bumpy", "flat", "slow"])
def test_reduce_lr_on_plateau_matches_keras(kwargs, sequence):
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    ours, theirs = FakeModel(0.1), FakeModel(0.1)
    mine, expected = callbacks.ReduceLROnPlateau(**kwargs), keras.callbacks.ReduceLROnPlateau(**kwargs)
    mine.set_model(ours)
    expected.set_model(theirs)
    mine.on_train_begin()
    expected.on_train_begin()
    for epoch, value in enumerate(sequence):
        mine.on_epoch_end(epoch, {"val_loss": value})
        expected.on_epoch_end(epoch, {"val_loss": value})
        assert ours.optimizer.learning_rate == pytest.approx(float(theirs.optimizer.learning_rate)), epoch


# ------------------------------------------------------------------------------------------------ in fit
def test_early_stopping_stops_at_the_right_epoch_and_restores_best_weights():
    x, y = _data()
    model = _model()
    weights_log = WeightsLog()
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    # best at epoch 1; epochs 2 and 3 do not improve -> stop after epoch 3
    history = model.fit(x, y, epochs=10, batch_size=8, verbose=0, validation_split=0.25,
                        callbacks=[Scripted("val_loss", [1.0, 0.5, 0.6, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
                                   weights_log, stopper])
    assert history.epoch == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1 and stopper.best == 0.5
    for restored, best in zip(model.get_weights(), weights_log.weights[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(model.get_weights()[0], weights_log.weights[3][0])


def test_early_stopping_without_restore_keeps_last_weights_and_is_reusable():
    x, y = _data()
    model = _model()
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0)
    script = Scripted("loss", [1.0, 1.0, 1.0, 1.0])
    assert model.fit(x, y, epochs=4, verbose=0, callbacks=[script, stopper]).epoch == [0, 1]
    assert model.fit(x, y, epochs=4, verbose=0, callbacks=[script, stopper]).epoch == [0, 1]  # reset per fit


def test_keras2_metric_names_are_accepted():
    x, y = _data()
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not available" warning: val_acc is read from val_accuracy
        stopper = callbacks.EarlyStopping(monitor="val_acc", patience=1)
        model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
                  callbacks=[Scripted("val_accuracy", [0.5, 0.6, 0.55]), stopper])
    assert stopper.maximize and stopper.best == 0.6 and stopper.stopped_epoch == 2
    # and the reverse: a model compiled with metrics=["acc"] logs "acc", and "val_accuracy" finds it
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
    reverse = callbacks.EarlyStopping(monitor="val_accuracy", patience=5)
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[reverse])
    assert reverse.best is not None


def test_missing_monitor_warns_and_does_not_crash():
    x, y = _data()
    model = _model()
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics are: "):
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[stopper])  # no validation data
    assert history.epoch == [0, 1]


def test_mode_auto_and_unknown_mode():
    assert callbacks.EarlyStopping(monitor="val_accuracy").maximize
    assert callbacks.EarlyStopping(monitor="acc").maximize
    assert callbacks.EarlyStopping(monitor="val_auc").maximize
    assert not callbacks.EarlyStopping(monitor="val_loss").maximize
    assert not callbacks.EarlyStopping(monitor="mae").maximize
    assert callbacks.EarlyStopping(monitor="val_loss", mode="max").maximize
    with pytest.warns(UserWarning, match="mode 'upwards' is unknown"):
        assert callbacks.EarlyStopping(monitor="val_loss", mode="upwards").mode == "auto"


def test_reduce_lr_on_plateau_changes_optimizer_learning_rate():
    x, y = _data()
    model = _model(optimizers.Adam(0.01))
    reducer = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=0.002)
    history = model.fit(x, y, epochs=5, verbose=0, validation_split=0.25,
                        callbacks=[Scripted("val_loss", [1.0, 1.0, 1.0, 1.0, 1.0]), reducer])
    # the rate is logged before the reduction of that epoch
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.002])
    assert model.optimizer.learning_rate == pytest.approx(0.002)
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.5)
    with pytest.warns(UserWarning, match="epsilon"):
        assert callbacks.ReduceLROnPlateau(epsilon=0.01).min_delta == 0.01


def test_learning_rate_scheduler_sets_rate_per_epoch():
    x, y = _data()
    seen = []
    model = _model(optimizers.SGD(0.1))
    record = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    one_arg = callbacks.LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[one_arg, record])
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    seen.clear()
    two_args = callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else lr * 0.1)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[two_args, record])
    assert seen == pytest.approx([0.025, 0.0025, 0.00025])
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda epoch: "fast")])


def test_learning_rate_scheduler_matches_keras_fit():
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    x, y = _data()
    ours = _model(optimizers.SGD(0.1))
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    theirs.set_weights(ours.get_weights())
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")

    def schedule(epoch, lr):
        return lr * 0.5 if epoch else lr

    ours.fit(x, y, epochs=3, batch_size=40, shuffle=False, verbose=0,
             callbacks=[callbacks.LearningRateScheduler(schedule)])
    theirs.fit(x, y, epochs=3, batch_size=40, shuffle=False, verbose=0,
               callbacks=[keras.callbacks.LearningRateScheduler(schedule)])
    for mine, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    model = _model()
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2"]
    for column, key in enumerate(rows[0][1:], start=1):
        assert [float(row[column]) for row in rows[1:]] == pytest.approx(history.history[key])
    # append: no second header
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + 3 + 2 and rows[4][0] == "0"


def test_csv_logger_separator_and_na_columns(tmp_path):
    x, y = _data()
    path = tmp_path / "log.tsv"
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(str(path), separator="\t")])
    header, row = path.read_text().splitlines()
    # as Keras: without validation data the val_ columns are still there, filled with NA
    assert header.split("\t") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert row.split("\t")[-2:] == ["NA", "NA"]


def test_terminate_on_nan_stops_a_diverging_run(capsys, caplog):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32) * 100
    y = rng.normal(size=(64, 1)).astype(np.float32) * 100
    tinyconv.utils.set_random_seed(0)
    model = tinyconv.Sequential([tinyconv.Input((4,)), layers.Dense(8), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(1e6), loss="mse")
    batches = []
    with np.errstate(all="ignore"):
        history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[
            callbacks.TerminateOnNaN(),
            callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(logs["loss"]))])
    assert len(history.epoch) == 1
    assert not np.isfinite(batches[-1]) and np.all(np.isfinite(batches[:-1]))
    assert capsys.readouterr().out == ""  # said through logging.getLogger("tinyconv"), not printed
    assert [(r.name, r.levelname) for r in caplog.records] == [("tinyconv.callbacks", "WARNING")]
    assert "Invalid loss, terminating training" in caplog.records[0].getMessage()
    with np.errstate(all="ignore"), pytest.raises(RuntimeError, match="NaN or Inf loss"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.TerminateOnNaN(raise_error=True)])


def test_lambda_callback_hooks_and_keras2_batch_names():
    x, y = _data(n=16)
    calls = []
    hooks = callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: calls.append("train_end"),
        note="kept as an attribute")
    _model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[hooks])
    assert calls == ["train_begin",
                     "epoch_begin 0", "batch_end 0 ['accuracy', 'loss']", "batch_end 1 ['accuracy', 'loss']",
                     "epoch_end 0 ['accuracy', 'loss']",
                     "epoch_begin 1", "batch_end 0 ['accuracy', 'loss']", "batch_end 1 ['accuracy', 'loss']",
                     "epoch_end 1 ['accuracy', 'loss']", "train_end"]
    assert hooks.note == "kept as an attribute"


# ------------------------------------------------------------------------------------------------ checkpoints
def test_model_checkpoint_formats_paths_and_saves_every_epoch(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.2f}-{val_acc:.1f}.keras")
    checkpoint = callbacks.ModelCheckpoint(pattern)
    checkpoint.set_model(model)
    for epoch, loss in enumerate([0.5, 0.25]):
        checkpoint.on_epoch_begin(epoch)
        checkpoint.on_epoch_end(epoch, {"val_loss": loss, "val_accuracy": 0.75})
    assert model.saved == [("model", str(tmp_path / "ckpt" / "m-01-0.50-0.8.keras")),
                           ("model", str(tmp_path / "ckpt" / "m-02-0.25-0.8.keras"))]
    assert (tmp_path / "ckpt").is_dir()  # parent folder created


def test_model_checkpoint_save_best_only_and_weights_only(tmp_path):
    model = FakeModel()
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), monitor="val_accuracy",
                                           save_best_only=True, save_weights_only=True)
    _drive(checkpoint, model, [0.5, 0.7, 0.6, 0.7, 0.8], key="val_accuracy")
    assert [epoch_path for epoch_path in model.saved] == [("weights", str(tmp_path / "best.weights.h5"))] * 3
    assert checkpoint.best == 0.8


def test_model_checkpoint_matches_keras_decisions(tmp_path):
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    for kwargs in [dict(save_best_only=True), dict(save_best_only=True, mode="max"),
                   dict(save_best_only=True, initial_value_threshold=0.9), dict()]:
        ours, theirs = FakeModel(), FakeModel()
        path = str(tmp_path / "m-{epoch}.keras")
        for callback, model in ((callbacks.ModelCheckpoint(path, **kwargs), ours),
                                (keras.callbacks.ModelCheckpoint(path, **kwargs), theirs)):
            _drive(callback, model, SEQUENCES[0])
        assert ours.saved == theirs.saved, kwargs


def test_model_checkpoint_batch_frequency_and_errors(tmp_path):
    x, y = _data(n=40)
    model = _model()
    saved = []
    model.save = lambda path, **kwargs: saved.append(path)  # stands in for the real saving
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.keras"), save_freq=2)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[checkpoint])  # 5 batches per epoch
    assert [os.path.basename(p) for p in saved] == ["e1-b2.keras", "e1-b4.keras", "e2-b1.keras",
                                                   "e2-b3.keras", "e2-b5.keras"]
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        callbacks.ModelCheckpoint("m.keras", save_freq="sometimes")
    bad = callbacks.ModelCheckpoint(str(tmp_path / "{epoch}-{nope}.keras"))
    bad.set_model(FakeModel())
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        bad.on_epoch_end(0, {"loss": 1.0})


def test_keras_namespace():
    for name in ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger",
                 "TerminateOnNaN", "LambdaCallback", "History", "Callback"]:
        assert issubclass(getattr(tinyconv.callbacks, name), tinyconv.callbacks.Callback)
