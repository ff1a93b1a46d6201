"""The callback protocol: which hooks fit / evaluate / predict call, in what order, with what arguments.

A recording callback (one per spelling: Keras 3's hooks, and Keras 2's ``on_batch_begin`` /
``on_batch_end``) runs through the same tiny fit (with validation), evaluate and predict in tinyconv and
in Keras 3; the two recordings must be the same: hook sequence, positional and keyword arguments, the
keys of every ``logs`` dict and the ``params`` each callback was given.
"""
import doctest
import os

import numpy as np
import pytest

import tinyconv
from tinyconv import callbacks, layers

os.environ.setdefault("KERAS_BACKEND", "torch")

KERAS3_HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
                "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
                "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"]
KERAS2_HOOKS = ["on_batch_begin", "on_batch_end"]


def _describe(value):
    """What a hook received, library-independently: numbers as they are, dicts as their sorted keys."""
    if isinstance(value, dict):
        return ("logs", tuple(sorted(value)))
    if value is None:
        return None
    return int(value)


def _recorder_class(base, hooks):
    """A Callback subclass of ``base`` recording every call of ``hooks``: (hook, positional, keyword)."""

    def make(hook):
        def record(self, *args, **kwargs):
            self.events.append((hook, tuple(_describe(a) for a in args),
                                tuple(sorted((k, _describe(v)) for k, v in kwargs.items()))))
        return record

    def __init__(self):
        base.__init__(self)
        self.events = []

    namespace = {hook: make(hook) for hook in hooks}
    namespace["__init__"] = __init__
    return type("Recorder", (base,), namespace)


def _run(lib, hooks):
    """A fit (two epochs, validation), an evaluate and a predict of the same small model in ``lib``."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 3)).astype("float32"), rng.integers(0, 2, size=10)
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    recorder_class = _recorder_class(lib.callbacks.Callback, hooks)
    runs = {}
    for what, call in [("fit", lambda cb: model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y),
                                                    callbacks=[cb], verbose=0)),
                       ("evaluate", lambda cb: model.evaluate(x, y, batch_size=4, callbacks=[cb], verbose=0)),
                       ("predict", lambda cb: model.predict(x, batch_size=4, callbacks=[cb], verbose=0))]:
        recorder = recorder_class()
        call(recorder)
        runs[what] = (recorder.events, dict(recorder.params), recorder.model is model)
    return runs


def _keras():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
    if keras.backend.backend() != "torch":
        pytest.skip(f"these tests expect KERAS_BACKEND=torch, got {keras.backend.backend()!r}")
    return keras


@pytest.mark.parametrize("hooks", [KERAS3_HOOKS, KERAS2_HOOKS, KERAS3_HOOKS + KERAS2_HOOKS],
                         ids=["keras3_spelling", "keras2_spelling", "both_spellings"])
def test_hooks_arguments_and_params_equal_keras(hooks):
    keras = _keras()
    ours, theirs = _run(tinyconv, hooks), _run(keras, hooks)
    for what in ("fit", "evaluate", "predict"):
        our_events, our_params, our_model = ours[what]
        their_events, their_params, their_model = theirs[what]
        assert our_events == their_events, what
        assert our_params == their_params, what
        assert our_model and their_model


def test_expected_shape_of_the_recording():
    """Independent of Keras: the facts a reader of the recording relies on."""
    events, params, _ = _run(tinyconv, KERAS3_HOOKS + KERAS2_HOOKS)["fit"]
    names = [hook for hook, _, _ in events]
    assert names[0] == "on_train_begin" and names[-1] == "on_train_end"
    assert names.count("on_train_batch_end") == 6       # 10 samples in batches of 4: 3 a epoch, 2 epochs
    assert names.count("on_batch_end") == 0             # overridden on_train_batch_end: Keras does not chain
    assert names.count("on_test_begin") == 2            # the validation runs as an evaluate, with fit's callbacks
    end = [e for e in events if e[0] == "on_epoch_end"][0]
    assert end == ("on_epoch_end", (0, ("logs", ("accuracy", "loss", "val_accuracy", "val_loss"))), ())
    begin = [e for e in events if e[0] == "on_train_batch_begin"][0]
    assert begin == ("on_train_batch_begin", (0,), (("logs", ("logs", ())),))
    assert params == {"verbose": 0, "epochs": 2, "steps": 3}
    predicted = [e for e in _run(tinyconv, KERAS3_HOOKS)["predict"][0] if e[0] == "on_predict_batch_end"]
    assert predicted[0][2] == (("logs", ("logs", ("outputs",))),)


def test_keras2_loss_history_records_every_batch():
    class LossHistory(callbacks.Callback):           # the classic Keras 2 example, no logs default
        def on_train_begin(self, logs):
            self.losses = []
            self.seen_begin_logs = dict(logs)

        def on_batch_end(self, batch, logs):
            self.losses.append(logs.get("loss"))

    model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = LossHistory()
    model.fit(np.ones((94 * 4, 3)), np.ones((94 * 4, 1)), batch_size=4, epochs=1, callbacks=[history], verbose=0)
    assert len(history.losses) == 94 and all(isinstance(v, float) for v in history.losses)
    assert history.seen_begin_logs == {}


def test_predict_outputs_are_numpy_batches():
    class Collect(callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            self.shapes = getattr(self, "shapes", []) + [type(logs["outputs"]).__name__ + str(logs["outputs"].shape)]

    model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2)])
    collect = Collect()
    model.predict(np.zeros((5, 3)), batch_size=2, callbacks=[collect], verbose=0)
    assert collect.shapes == ["ndarray(2, 2)", "ndarray(2, 2)", "ndarray(1, 2)"]


def test_train_end_logs_without_epochs_and_bad_callbacks():
    seen = []

    class End(callbacks.Callback):
        def on_train_end(self, logs):
            seen.append(logs)

    model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=0, callbacks=[End()], verbose=0)
    assert seen == [{}]
    with pytest.raises(TypeError, match="Callback instances"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), callbacks=[lambda logs: None], verbose=0)


def test_callback_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(callbacks.Callback, "Callback",
                            globs={"np": np, "tinyconv": tinyconv, "layers": layers}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
