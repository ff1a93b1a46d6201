"""Stateful metric classes (keras.metrics.*): Keras 3's names, defaults, configs and numbers.

Keras 3 is the oracle: each metric is fed the same random batches (with and without sample weights) in
both libraries and the results must agree.  Then the metrics are used where scripts use them: by hand
(``update_state`` / ``result`` / ``reset_state``) and in ``compile(metrics=[...])``, including the
per-output list and dict forms of a model with two outputs, whose log names must be Keras's.
"""
import os
import zlib

import numpy as np
import pytest

import tinyconv
from tinyconv import layers, metrics

os.environ.setdefault("KERAS_BACKEND", "torch")


def _keras():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
    if keras.backend.backend() != "torch":
        pytest.skip(f"these tests expect KERAS_BACKEND=torch, got {keras.backend.backend()!r}")
    return keras


# ------------------------------------------------------------------ random batches of each kind of problem
def _sparse(rng, n=12, k=5):
    logits = rng.normal(size=(n, k)).astype("float32")
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return rng.integers(0, k, size=(n, 1)), probs.astype("float32")


def _onehot(rng, n=12, k=5):
    labels, probs = _sparse(rng, n, k)
    return np.eye(k, dtype="float32")[labels[:, 0]], probs


def _binary(rng, n=12, k=1):
    return rng.integers(0, 2, size=(n, k)).astype("float32"), rng.uniform(size=(n, k)).astype("float32")


def _multilabel(rng, n=12):
    return _binary(rng, n, 3)


def _regression(rng, n=12, k=3):
    return rng.normal(size=(n, k)).astype("float32"), rng.normal(size=(n, k)).astype("float32")


CASES = [
    ("Accuracy", {}, lambda rng: (rng.integers(0, 3, (12, 1)).astype("float32"),
                                  rng.integers(0, 3, (12, 1)).astype("float32"))),
    ("BinaryAccuracy", {}, _binary),
    ("BinaryAccuracy", {"threshold": 0.3}, _multilabel),
    ("CategoricalAccuracy", {}, _onehot),
    ("SparseCategoricalAccuracy", {}, _sparse),
    ("TopKCategoricalAccuracy", {"k": 2}, _onehot),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, _sparse),
    ("MeanSquaredError", {}, _regression),
    ("MeanAbsoluteError", {}, _regression),
    ("RootMeanSquaredError", {}, _regression),
    ("MeanAbsolutePercentageError", {}, _regression),
    ("CategoricalCrossentropy", {}, _onehot),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, _onehot),
    ("SparseCategoricalCrossentropy", {}, _sparse),
    ("BinaryCrossentropy", {}, _multilabel),
    ("TruePositives", {}, _binary),
    ("FalsePositives", {"thresholds": [0.2, 0.5, 0.7]}, _multilabel),
    ("TrueNegatives", {}, _multilabel),
    ("FalseNegatives", {"thresholds": 0.3}, _binary),
    ("Precision", {}, _binary),
    ("Precision", {"thresholds": [0.1, 0.4, 0.8]}, _multilabel),
    ("Precision", {"top_k": 2}, _onehot),
    ("Recall", {}, _multilabel),
    ("Recall", {"class_id": 2}, _onehot),
    ("AUC", {}, _binary),
    ("AUC", {"curve": "PR"}, _multilabel),
    ("AUC", {"num_thresholds": 17, "summation_method": "minoring"}, _binary),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, _binary),
    ("AUC", {"thresholds": [0.15, 0.5, 0.65]}, _binary),
    ("AUC", {"multi_label": True}, _multilabel),
    ("AUC", {"multi_label": True, "label_weights": [1.0, 2.0, 0.5], "curve": "PR"}, _multilabel),
    ("F1Score", {}, _onehot),
    ("F1Score", {"average": "macro", "threshold": 0.4}, _multilabel),
    ("FBetaScore", {"average": "weighted", "beta": 2.0, "threshold": 0.5}, _multilabel),
    ("FBetaScore", {"average": "micro", "beta": 0.5}, _onehot),
]


def _case_id(case):
    name, kwargs, _ = case
    return name + ("-" + "-".join(f"{k}={v}" for k, v in kwargs.items()) if kwargs else "")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_metric_equals_keras_over_several_batches(case, weighted):
    keras = _keras()
    name, kwargs, make = case
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    rng = np.random.default_rng(zlib.crc32(_case_id(case).encode()))
    for _ in range(3):
        y_true, y_pred = make(rng)
        weight = rng.uniform(0, 2, size=len(y_true)).astype("float32") if weighted else None
        ours.update_state(y_true, y_pred, sample_weight=weight)
        theirs.update_state(y_true, y_pred, sample_weight=weight)
    expected = keras.ops.convert_to_numpy(theirs.result())
    np.testing.assert_allclose(np.asarray(ours.result()), expected, rtol=2e-5, atol=2e-6)
    assert ours.name == theirs.name
    plain = {k: (keras.ops.convert_to_numpy(v).tolist() if hasattr(v, "shape") else v)  # (a tensor in Keras)
             for k, v in theirs.get_config().items()}
    assert ours.get_config() == plain
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(np.asarray(ours.result()), keras.ops.convert_to_numpy(theirs.result()), atol=1e-7)


@pytest.mark.parametrize("values,weights", [
    (np.array([1.0, 3.0, 5.0, 7.0]), None),
    (np.array([1.0, 3.0, 5.0, 7.0]), np.array([1.0, 1.0, 0.0, 0.0])),
    (np.arange(12.0).reshape(4, 3), np.array([0.5, 1.0, 2.0, 0.0])),
    (np.arange(24.0).reshape(4, 3, 2), np.arange(12.0).reshape(4, 3)),
    (np.float32(2.5), np.float32(4.0)),
])
@pytest.mark.parametrize("name", ["Mean", "Sum"])
def test_mean_and_sum_reduce_as_keras(name, values, weights):
    keras = _keras()
    ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
    for _ in range(2):
        ours.update_state(values, sample_weight=weights)
        theirs.update_state(values, sample_weight=weights)
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6)


def test_by_hand_protocol():
    m = metrics.SparseCategoricalAccuracy()
    assert m.name == "sparse_categorical_accuracy" and m.dtype == "float32"
    assert float(m.result()) == 0.0                       # nothing seen: 0, not NaN (Keras's divide_no_nan)
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert float(m([1, 1], y_pred)) == 0.5                 # __call__ = update_state + result
    m.update_state([1, 0], y_pred)
    assert float(m.result()) == 0.75                       # state accumulates across calls
    assert [v.name for v in m.variables] == ["total", "count"]
    assert [float(v.numpy()) for v in m.variables] == [3.0, 4.0]
    m.reset_states()                                       # Keras 2 spelling
    assert float(m.result()) == 0.0
    renamed = metrics.CategoricalAccuracy(name="acc")
    assert renamed.name == "acc" and repr(renamed) == "<CategoricalAccuracy name=acc>"
    again = metrics.CategoricalAccuracy.from_config(renamed.get_config())
    assert again.name == "acc" and again is not renamed


def test_a_keras_style_subclass_with_assign():
    class BinaryTruePositives(metrics.Metric):
        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")

        def update_state(self, y_true, y_pred, sample_weight=None):
            values = np.logical_and(np.asarray(y_true, bool), np.asarray(y_pred, bool)).astype(self.dtype)
            if sample_weight is not None:
                values = values * np.asarray(sample_weight, self.dtype)
            self.true_positives.assign_add(values.sum())

        def result(self):
            return self.true_positives.numpy()

    m = BinaryTruePositives()
    m.update_state([1, 1, 0, 1], [1, 0, 1, 1], sample_weight=[1.0, 1.0, 1.0, 0.5])
    assert float(m.result()) == 1.5
    m.reset_state()
    assert float(m.result()) == 0.0

    class Forgetful(metrics.Metric):
        def __init__(self):
            pass

    with pytest.raises(RuntimeError, match="super"):
        Forgetful().add_variable(shape=(), name="x")


def test_get_serialize_and_errors():
    assert isinstance(metrics.get("AUC"), metrics.AUC) and isinstance(metrics.get("auc"), metrics.AUC)
    assert metrics.get("f1_score").name == "f1_score"
    assert metrics.get("mae") is metrics.mean_absolute_error
    entry = metrics.serialize(metrics.Precision(thresholds=[0.2, 0.6], name="p"))
    assert entry["module"] == "keras.metrics" and entry["class_name"] == "Precision"
    rebuilt = metrics.deserialize(entry)
    assert isinstance(rebuilt, metrics.Precision) and rebuilt.thresholds == [0.2, 0.6] and rebuilt.name == "p"
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="LIFT")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="beta"):
        metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="sample_weight"):
        metrics.Mean().update_state(np.ones(3), sample_weight=np.ones(2))
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        metrics.get("no_such_metric")
    with pytest.raises(TypeError, match="fn must be a function"):
        metrics.MeanMetricWrapper(fn=3)


# ------------------------------------------------------------------ in compile(), fit() and evaluate()
def _classifier(seed=0):
    tinyconv.utils.set_random_seed(seed)
    return tinyconv.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="softmax")])


def test_metric_objects_in_compile_log_under_their_names():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.integers(0, 3, size=40)
    model = _classifier()
    acc = metrics.CategoricalAccuracy(name="acc")
    acc.update_state(np.eye(3)[:2], np.eye(3)[[1, 0]])   # state from use by hand is dropped by compile's use
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=[acc, "auc", metrics.TopKCategoricalAccuracy(k=2), "mse"])
    onehot = np.eye(3, dtype="float32")[y]
    history = model.fit(x, onehot, batch_size=8, epochs=2, validation_split=0.25, verbose=0)
    assert list(history.history) == ["loss", "acc", "auc", "top_k_categorical_accuracy", "mse",
                                     "val_loss", "val_acc", "val_auc", "val_top_k_categorical_accuracy",
                                     "val_mse"]
    # the logged value is the metric over the whole data, not an average of per-batch values
    logs = model.evaluate(x, onehot, batch_size=7, verbose=0, return_dict=True)
    probabilities = model.predict(x, verbose=0)
    assert logs["acc"] == pytest.approx(float(np.mean(probabilities.argmax(1) == y)))
    assert float(acc.result()) == pytest.approx(logs["acc"])  # the object itself holds the last run's state
    by_hand = metrics.AUC()
    by_hand.update_state(onehot, probabilities)
    assert logs["auc"] == pytest.approx(float(by_hand.result()), rel=1e-5)
    with pytest.raises(ValueError, match="one-hot them"):
        metrics.AUC().update_state(y, probabilities)


def test_metrics_values_equal_keras_in_evaluate():
    keras = _keras()
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)).astype("float32"), rng.integers(0, 3, size=30)
    weights = rng.uniform(0.5, 1.5, size=30).astype("float32")
    ours = _classifier()
    theirs = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation="softmax")])
    theirs.set_weights(ours.get_weights())
    make = [lambda m: m.SparseCategoricalAccuracy(name="acc"), lambda m: m.SparseTopKCategoricalAccuracy(k=2),
            lambda m: m.SparseCategoricalCrossentropy(name="xent")]
    ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[f(metrics) for f in make])
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                   metrics=[f(keras.metrics) for f in make])
    got = ours.evaluate(x, y, batch_size=8, sample_weight=weights, verbose=0, return_dict=True)
    expected = theirs.evaluate(x, y, batch_size=8, sample_weight=weights, verbose=0, return_dict=True)
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-5), key


def _two_outputs():
    tinyconv.utils.set_random_seed(3)
    inputs = layers.Input(shape=(3,))
    hidden = layers.Dense(4)(inputs)
    label = layers.Dense(3, activation="softmax", name="label")(hidden)
    score = layers.Dense(1, name="score")(hidden)
    return tinyconv.Model(inputs, [label, score])


# What Keras 3.15 logs for the same compile calls (read from keras.Model.fit(...).history).
PER_OUTPUT = [
    ([["accuracy"], ["mae"]], ["label_accuracy", "score_mae"]),
    ([["accuracy", metrics.SparseCategoricalAccuracy(name="acc")], [metrics.MeanAbsoluteError(), "mse"]],
     ["label_accuracy", "label_acc", "score_mean_absolute_error", "score_mse"]),
    ({"label": "accuracy", "score": ["mae", metrics.RootMeanSquaredError()]},
     ["label_accuracy", "score_mae", "score_root_mean_squared_error"]),
    ({"label": ["accuracy"]}, ["label_accuracy"]),
    ([["accuracy"], None], ["label_accuracy"]),
    ([None, ["mae"]], ["score_mae"]),
    (["accuracy", ["mae", "mse"]], ["label_accuracy", "score_mae", "score_mse"]),
    ({"score": "mae"}, ["score_mae"]),
]


@pytest.mark.parametrize("spec,names", PER_OUTPUT, ids=[str(i) for i in range(len(PER_OUTPUT))])
def test_metrics_per_output_log_keras_names(spec, names):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = [rng.integers(0, 3, size=16), rng.normal(size=(16, 1)).astype("float32")]
    model = _two_outputs()
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"], metrics=spec)
    history = model.fit(x, y, batch_size=8, epochs=1, validation_data=(x, y), verbose=0).history
    losses = ["loss", "label_loss", "score_loss"]
    assert sorted(history) == sorted(losses + names + [f"val_{n}" for n in losses + names])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(losses + names)


def test_per_output_list_of_the_wrong_length_is_refused():
    model = _two_outputs()
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"],
                  metrics=[["accuracy"], ["mae"], ["mse"]])
    with pytest.raises(ValueError, match="3 metric lists for 2 outputs"):
        model.evaluate(np.zeros((4, 3)), [np.zeros(4), np.zeros((4, 1))], verbose=0)


def test_single_output_accepts_nested_list_and_dict():
    x, y = np.random.default_rng(4).normal(size=(8, 4)), np.arange(8) % 3
    for spec in ([["accuracy"]], {"dense": ["accuracy"]}):
        tinyconv.backend.clear_session()
        model = _classifier()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=spec)
        assert list(model.fit(x, y, verbose=0).history) == ["loss", "accuracy"]


def test_train_on_batch_reports_that_batch_only():
    model = _classifier()
    model.compile(optimizer=tinyconv.optimizers.SGD(1e-12), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = np.random.default_rng(5).normal(size=(8, 4))
    predicted = model.predict(x, verbose=0).argmax(1)
    first = model.train_on_batch(x, predicted, return_dict=True)["accuracy"]
    second = model.train_on_batch(x, (predicted + 1) % 3, return_dict=True)["accuracy"]
    assert (first, second) == (1.0, 0.0)      # not a running mean across calls (Keras resets per call)


@pytest.mark.parametrize("module", ["base", "accuracy_metrics", "regression", "confusion", "f_score", "resolve"])
def test_examples_in_docstrings_run(module):
    import doctest
    import importlib

    found = importlib.import_module(f"tinyconv.metrics.{module}")
    result = doctest.testmod(found, extraglobs={"np": np, "tinyconv": tinyconv},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
