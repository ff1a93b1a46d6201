"""gradient_check must flag a wrong backward; trace_step must report the model's real gradients."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import gradient_check, layer_flops, trace_step


def small_model(dtype="float64"):
    model = keras.Sequential([keras.Input((7, 6, 2)), layers.Conv2D(3, (3, 2), activation="tanh", dtype=dtype),
                              layers.AveragePooling2D(dtype=dtype), layers.Flatten(dtype=dtype),
                              layers.Dense(4, activation="softmax", dtype=dtype)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def test_layer_check_passes_for_a_correct_backward(kernel_set):
    report = gradient_check(layers.Conv2D(2, 3, strides=2, padding="same", dtype="float64"),
                            np.random.default_rng(0).standard_normal((2, 5, 6, 3)))
    assert report.passed
    assert [row["name"] for row in report.rows] == ["input", "kernel", "bias"]
    assert "pass" in str(report) and "FAIL" not in str(report)


def test_layer_check_flags_a_backward_off_by_one_percent(monkeypatch):
    layer = layers.Dense(3, dtype="float64")
    original = layers.Dense.backward_from_preactivation
    monkeypatch.setattr(layers.Dense, "backward_from_preactivation",
                        lambda self, dz: original(self, dz * 1.01))
    report = gradient_check(layer, np.random.default_rng(1).standard_normal((4, 5)))
    assert not report.passed
    assert all(not row["passed"] for row in report.rows)
    assert report["kernel"]["relative_error"] == pytest.approx(0.01 / 2.01, rel=1e-3)
    assert "FAIL" in str(report)


def test_model_check_uses_the_compiled_loss_and_flags_a_wrong_layer(monkeypatch):
    model = small_model()
    rng = np.random.default_rng(2)
    x, y = rng.random((3, 7, 6, 2)), np.array([0, 3, 1])
    good = gradient_check(model, x, y)
    assert good.passed
    assert {"input", f"{model.layers[0].name}/kernel", f"{model.layers[3].name}/bias"} <= set(good.as_dict())
    original = layers.AveragePooling2D.backward
    monkeypatch.setattr(layers.AveragePooling2D, "backward", lambda self, dy: original(self, dy) * 1.01)
    bad = gradient_check(model, x, y)
    assert not bad["input"]["passed"] and not bad[f"{model.layers[0].name}/kernel"]["passed"]
    assert bad[f"{model.layers[3].name}/kernel"]["passed"]  # layers after the wrong one are still right


def test_float32_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="float64"):
        gradient_check(small_model("float32"), np.zeros((1, 7, 6, 2)), np.array([0]))


def test_trace_norms_match_the_models_own_gradients():
    model = small_model("float32")
    rng = np.random.default_rng(3)
    x, y = rng.random((5, 7, 6, 2)).astype("float32"), rng.integers(0, 4, 5)
    before = model.get_weights()
    trace = trace_step(model, x, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # no update
    # The same step by hand, through the model's own machinery.
    outputs = model._run_forward([x], training=True)
    grads, fused = model._loss_gradients([y], outputs, None)
    dx = model._run_backward(grads, fused)[0]
    expected = [np.linalg.norm(g) for g in model.trainable_gradients()]
    reported = [v["norm"] for row in trace.rows for v in row["weight_grads"].values()]
    np.testing.assert_allclose(reported, expected, rtol=1e-6)
    assert trace.rows[0]["input_grad_norm"] == pytest.approx(float(np.linalg.norm(dx)), rel=1e-6)
    conv, pool, flatten, dense = trace.rows
    assert conv["cached"]["_input"] == (5, 7, 6, 2) and dense["upstream_is_preactivation"]
    assert conv["output_shape"] == (5, 5, 5, 3) and flatten["output_shape"] == (5, 12)
    assert conv["weight_grads"]["kernel"]["shape"] == (3, 2, 2, 3)
    assert trace.loss == pytest.approx(model.test_on_batch(x, y), rel=1e-5)
    assert "Kept for backward" in str(trace) and trace.as_dict()["layers"][1]["name"] == pool["name"]
    assert conv["params"] == 3 * 2 * 2 * 3 + 3


def test_trace_of_a_functional_model_with_a_branch_and_maxpool():
    inputs = keras.Input((6, 6, 1))
    a = layers.Conv2D(2, 3, padding="same")(inputs)
    b = layers.Conv2D(2, 1)(inputs)
    merged = layers.Add()([a, b])
    pooled = layers.MaxPooling2D()(merged)
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(pooled))
    model = keras.Model(inputs, out)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(4).random((3, 6, 6, 1)).astype("float32")
    trace = trace_step(model, x, np.array([0, 1, 0]))
    rows = {row["class"]: row for row in trace.rows}
    assert rows["Add"]["input_shape"] == [(3, 6, 6, 2), (3, 6, 6, 2)]
    assert rows["MaxPooling2D"]["cached"]["_argmax"] == (3, 3, 3, 2)
    assert len(rows["Add"]["input_grad_shape"]) == 2
    assert "forward" not in vars(model.layers[1])  # the watchers are gone afterwards


def test_conv2d_flops_are_two_multiply_adds_per_output_weight_pair():
    layer = layers.Conv2D(5, (3, 2), strides=(2, 1))
    batch = 4
    y = layer(np.zeros((batch, 9, 8, 3), "float32"))
    _, oh, ow, cout = y.shape
    assert layer_flops(layer) == 2 * batch * oh * ow * 3 * 2 * 3 * cout // batch
    dense = layers.Dense(7)
    dense(np.zeros((2, 10), "float32"))
    assert layer_flops(dense) == 2 * 10 * 7
