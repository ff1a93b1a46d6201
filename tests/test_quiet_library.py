"""A library prints only what the user asked for: importing, building, training with verbose=0,
evaluating, predicting, saving and loading write nothing to stdout or stderr.  Library messages
go through ``logging.getLogger("tinyconv")``."""
import logging
import subprocess
import sys
import textwrap

import numpy as np

import tinyconv as keras
from tinyconv import callbacks, layers

A_SILENT_SESSION = textwrap.dedent("""
    import numpy as np
    import tinyconv as keras
    from tinyconv import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(32, 8, 8, 1)).astype("float32")
    y = np.arange(32) % 3
    model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.save(sys.argv[1])
    keras.models.load_model(sys.argv[1]).predict(x, verbose=0)
""")


def test_a_whole_session_in_a_fresh_process_prints_nothing(tmp_path):
    """Import included: only a new process sees what importing tinyconv writes."""
    script = "import sys\n" + A_SILENT_SESSION
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.keras")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def quiet_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_training_saving_and_loading_print_nothing(tmp_path, capfd):
    x = np.random.default_rng(1).normal(size=(16, 4)).astype("float32")
    model = quiet_model()
    model.fit(x, x[:, :1], epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    keras.models.load_model(tmp_path / "m.keras").load_weights(tmp_path / "m.weights.h5")
    assert capfd.readouterr() == ("", "")


def test_callbacks_left_at_verbose_0_print_nothing(tmp_path, capfd):
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    model = quiet_model()
    model.fit(x, x[:, :1], epochs=4, batch_size=4, verbose=0, validation_data=(x, x[:, :1]), callbacks=[
        callbacks.EarlyStopping(patience=0, restore_best_weights=True),
        callbacks.ReduceLROnPlateau(patience=0),
        callbacks.ModelCheckpoint(str(tmp_path / "best.keras")),
        callbacks.LearningRateScheduler(lambda epoch, lr: lr)])
    assert capfd.readouterr() == ("", "")


def test_library_messages_are_log_records_under_tinyconv(caplog):
    """TerminateOnNaN's notice is not asked for with a verbose flag: a record, which the user can silence."""
    model = quiet_model()
    model.compile(keras.optimizers.SGD(1e6), "mse")
    x = np.full((8, 4), 100.0, dtype="float32")
    with np.errstate(all="ignore"), caplog.at_level(logging.WARNING, logger="tinyconv"):
        model.fit(x, x[:, :1] * 100, epochs=5, batch_size=2, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert any(r.name.startswith("tinyconv") and "Invalid loss" in r.getMessage() for r in caplog.records)
