"""Metrics: per-sample values, Keras-3-style 'accuracy' resolution, and the running mean."""
import numpy as np
import pytest

from tinyconv import losses, metrics


def test_sparse_categorical_accuracy():
    y_pred = np.array([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    out = metrics.sparse_categorical_accuracy(np.array([1, 1, 2, 0]), y_pred)
    np.testing.assert_array_equal(out, [1, 0, 1, 1])
    assert out.dtype == np.float32 and out.shape == (4,)
    # (N, 1) float labels, logits instead of probabilities
    out = metrics.sparse_categorical_accuracy(np.array([[1.0], [1.0], [2.0], [0.0]]), np.log(y_pred))
    np.testing.assert_array_equal(out, [1, 0, 1, 1])


def test_categorical_accuracy():
    y_true = np.eye(3)[[1, 1, 2]]
    y_pred = np.array([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    np.testing.assert_array_equal(metrics.categorical_accuracy(y_true, y_pred), [1, 0, 1])


def test_binary_accuracy():
    y_pred = np.array([[0.9], [0.4], [0.51], [0.5]])
    y_true = np.array([1, 1, 1, 0])  # (N,) against (N, 1), as Keras allows; 0.5 is not > 0.5
    out = metrics.binary_accuracy(y_true, y_pred)
    assert out.shape == (4, 1)
    np.testing.assert_array_equal(out[:, 0], [1, 0, 1, 1])
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true, y_pred, threshold=0.45)[:, 0], [1, 0, 1, 0])


def test_regression_metrics():
    y_true = np.array([[1.0, 2.0], [0.0, 0.0]])
    y_pred = np.array([[2.0, 4.0], [1.0, -1.0]])
    np.testing.assert_allclose(metrics.mean_squared_error(y_true, y_pred), [2.5, 1.0])
    np.testing.assert_allclose(metrics.mean_absolute_error(y_true, y_pred), [1.5, 1.0])


@pytest.mark.parametrize("loss,shape,expected", [
    ("sparse_categorical_crossentropy", (None, 10), "sparse_categorical_accuracy"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), (None, 10), "sparse_categorical_accuracy"),
    ("categorical_crossentropy", (None, 10), "categorical_accuracy"),
    (losses.CategoricalCrossentropy(), (None, 10), "categorical_accuracy"),
    ("binary_crossentropy", (None, 1), "binary_accuracy"),
    (losses.BinaryCrossentropy(), (None, 3), "binary_accuracy"),
    ("mse", (None, 1), "binary_accuracy"),  # last dim 1 -> binary, whatever the loss
    ("sparse_categorical_crossentropy", (None, 1), "binary_accuracy"),
    ("mse", (None, 4), "categorical_accuracy"),
])
def test_accuracy_resolution_from_loss(loss, shape, expected):
    for name in ("accuracy", "acc"):
        display, fn = metrics.resolve(name, loss, shape)
        assert display == name
        assert fn.__name__ == expected


@pytest.mark.parametrize("y_true_shape,output_shape,expected", [
    ((32,), (32, 10), "sparse_categorical_accuracy"),
    ((32, 1), (32, 10), "sparse_categorical_accuracy"),
    ((32, 10), (32, 10), "categorical_accuracy"),
    ((32,), (32, 1), "binary_accuracy"),
    ((32, 2), (32, 2), "categorical_accuracy"),  # Keras decides on shapes once y_true is seen
])
def test_accuracy_resolution_from_shapes_like_keras(y_true_shape, output_shape, expected):
    # once y_true's shape is known Keras 3 looks only at shapes, not at the loss
    _, fn = metrics.resolve("accuracy", "binary_crossentropy", output_shape, y_true_shape=y_true_shape)
    assert fn.__name__ == expected


def test_resolution_matches_keras_compile_utils():
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    from keras.src.trainers.compile_utils import get_metric
    names = {"BinaryAccuracy": "binary_accuracy", "SparseCategoricalAccuracy": "sparse_categorical_accuracy",
             "CategoricalAccuracy": "categorical_accuracy"}
    for t_shape, p_shape in [((8,), (8, 5)), ((8, 1), (8, 5)), ((8, 5), (8, 5)), ((8, 1), (8, 1)), ((8,), (8, 1))]:
        theirs = get_metric("accuracy", np.zeros(t_shape), np.zeros(p_shape))
        _, fn = metrics.resolve("accuracy", None, p_shape, y_true_shape=t_shape)
        assert names[type(theirs).__name__] == fn.__name__, (t_shape, p_shape)


def test_resolve_other_names_and_callables():
    assert metrics.resolve("mse", "mse", (None, 1)) == ("mse", metrics.mean_squared_error)
    assert metrics.resolve("mae", None, None) == ("mae", metrics.mean_absolute_error)
    assert metrics.resolve("sparse_categorical_accuracy", None, None)[1] is metrics.sparse_categorical_accuracy

    def my_metric(y_true, y_pred):
        return np.zeros(len(y_true))

    assert metrics.resolve(my_metric, None, None) == ("my_metric", my_metric)
    with pytest.raises(ValueError, match="Valid names: accuracy, acc"):
        metrics.resolve("precision_at_infinity", None, None)


def test_mean_metric_weights_by_sample_count():
    m = metrics.MeanMetric()
    assert m.result() == 0.0
    m.update_state(np.ones(3))          # 3 samples of 1
    m.update_state(np.zeros(1))         # 1 sample of 0
    assert m.result() == pytest.approx(0.75)
    m.update_state(2.0, sample_weight=4)  # a batch mean of 2.0 over 4 samples
    assert m.result() == pytest.approx((3 + 8) / 8)
    m.reset_state()
    m.update_state(np.array([1.0, 3.0]), sample_weight=np.array([3.0, 1.0]))
    assert m.result() == pytest.approx(1.5)
    m.reset_state()
    m.update_state(np.array([[1.0, 0.0], [1.0, 1.0]]))  # per-element values: mean per sample first
    assert m.result() == pytest.approx(0.75)
    with pytest.raises(ValueError, match="sample_weight"):
        m.update_state(np.ones(3), sample_weight=np.ones(2))
