"""Losses: values, gradients (numerical check), the fused logits path, and Keras 3 / torch as oracles."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from tinyconv import losses  # noqa: E402

from .gradcheck import numerical_gradient_of  # noqa: E402


def _keras():
    return pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _data(seed=0, n=6, k=5):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    labels = rng.integers(0, k, size=n)
    onehot = np.eye(k)[labels]
    binary = rng.integers(0, 2, size=(n, k)).astype(np.float64)
    return rng, logits, labels, onehot, binary


CASES = [
    ("sparse", lambda: losses.SparseCategoricalCrossentropy(), "labels", "softmax"),
    ("sparse_logits", lambda: losses.SparseCategoricalCrossentropy(from_logits=True), "labels", None),
    ("cce", lambda: losses.CategoricalCrossentropy(), "onehot", "softmax"),
    ("cce_smooth", lambda: losses.CategoricalCrossentropy(label_smoothing=0.1), "onehot", "softmax"),
    ("cce_logits", lambda: losses.CategoricalCrossentropy(from_logits=True), "onehot", None),
    ("bce", lambda: losses.BinaryCrossentropy(), "binary", "sigmoid"),
    ("bce_smooth", lambda: losses.BinaryCrossentropy(label_smoothing=0.2), "binary", "sigmoid"),
    ("bce_logits", lambda: losses.BinaryCrossentropy(from_logits=True), "binary", None),
    ("mse", lambda: losses.MeanSquaredError(), "binary", None),
    ("mae", lambda: losses.MeanAbsoluteError(), "binary", None),
]


def _inputs(kind, act, seed=0):
    _, logits, labels, onehot, binary = _data(seed)
    y_true = {"labels": labels, "onehot": onehot, "binary": binary}[kind]
    if act == "softmax":
        y_pred = _softmax(logits)
    elif act == "sigmoid":
        y_pred = _sigmoid(logits)
    else:
        y_pred = logits.copy()
    return y_true, y_pred, logits


@pytest.mark.parametrize("name,make,kind,act", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_numerical(name, make, kind, act):
    loss = make()
    y_true, y_pred, _ = _inputs(kind, act)
    if name == "mae":  # |x| has a kink at 0: keep away from ties
        y_pred = y_pred + 0.01
    analytic = loss.gradient(y_true, y_pred)
    assert analytic.shape == y_pred.shape and analytic.dtype == np.float64
    numeric = numerical_gradient_of(lambda p: loss(y_true, p), y_pred.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,make,kind,act", [c for c in CASES if c[3]], ids=[c[0] for c in CASES if c[3]])
def test_fused_logits_path(name, make, kind, act):
    loss = make()
    assert loss.fused_activation == act
    y_true, probs, logits = _inputs(kind, act, seed=1)
    # value: from logits == from probabilities
    assert loss.logits_loss(y_true, logits) == pytest.approx(loss(y_true, probs), rel=1e-6)
    # gradient wrt logits: numerical, and the closed form of the brief
    g = loss.logits_gradient(y_true, logits)
    numeric = numerical_gradient_of(lambda z: loss.logits_loss(y_true, z), logits.copy())
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)
    # chain rule through the activation from the probability gradient agrees too
    dp = loss.gradient(y_true, probs)
    if act == "softmax":
        chained = probs * (dp - (dp * probs).sum(axis=-1, keepdims=True))
    else:
        chained = dp * probs * (1 - probs)
    np.testing.assert_allclose(g, chained, rtol=1e-5, atol=1e-9)


def test_closed_form_logits_gradient():
    _, logits, labels, onehot, binary = _data(2)
    n, k = logits.shape
    g = losses.SparseCategoricalCrossentropy().logits_gradient(labels, logits)
    np.testing.assert_allclose(g, (_softmax(logits) - onehot) / n, atol=1e-12)
    g = losses.BinaryCrossentropy().logits_gradient(binary, logits)
    np.testing.assert_allclose(g, (_sigmoid(logits) - binary) / (n * k), atol=1e-12)


def test_from_logits_has_no_fused_activation():
    assert losses.SparseCategoricalCrossentropy(from_logits=True).fused_activation is None
    assert losses.BinaryCrossentropy(from_logits=True).fused_activation is None
    assert losses.MeanSquaredError().fused_activation is None
    with pytest.raises(ValueError):
        losses.MeanSquaredError().logits_gradient(np.zeros((2, 1)), np.zeros((2, 1)))


def test_logits_path_is_stable_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-800.0, 800.0, 5.0]])
    loss = losses.SparseCategoricalCrossentropy()
    value = loss.logits_loss([1, 1], logits)
    assert value == pytest.approx(1000.0, rel=1e-9)  # (2000 + 0) / 2
    assert np.all(np.isfinite(loss.logits_gradient([1, 1], logits)))
    b = losses.BinaryCrossentropy()
    assert b.logits_loss([[0.0], [1.0]], [[500.0], [-500.0]]) == pytest.approx(500.0)


def test_probabilities_are_clipped_like_keras():
    # p = 0 for the true class: -log(1e-7)
    v = losses.SparseCategoricalCrossentropy()([0], np.array([[0.0, 1.0]]))
    assert v == pytest.approx(-np.log(1e-7), rel=1e-6)
    # categorical CE renormalises the rows first
    p = np.array([[2.0, 6.0]])
    assert losses.CategoricalCrossentropy()([[0.0, 1.0]], p) == pytest.approx(-np.log(0.75))


def test_label_shapes_and_dtypes():
    p = _softmax(np.random.default_rng(3).normal(size=(4, 3)))
    ref = losses.sparse_categorical_crossentropy(np.array([0, 2, 1, 1]), p)
    assert ref.shape == (4,)
    for labels in ([[0], [2], [1], [1]], np.array([0.0, 2.0, 1.0, 1.0]), np.array([0, 2, 1, 1], np.uint8)):
        np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, p), ref)
    # (N,) binary targets against (N, 1) outputs
    y = np.array([0.0, 1.0, 1.0])
    q = np.array([[0.2], [0.9], [0.6]])
    assert losses.binary_crossentropy(y, q).shape == (3,)
    assert losses.BinaryCrossentropy()(y, q) == pytest.approx(losses.BinaryCrossentropy()(y[:, None], q))
    assert losses.BinaryCrossentropy().gradient(y, q).shape == (3, 1)


def test_float32_stays_float32():
    p = _softmax(np.random.default_rng(4).normal(size=(4, 3))).astype(np.float32)
    g = losses.SparseCategoricalCrossentropy().gradient([0, 1, 2, 0], p)
    assert g.dtype == np.float32
    assert isinstance(losses.SparseCategoricalCrossentropy()([0, 1, 2, 0], p), float)


def test_sample_weight_and_reductions():
    rng, logits, labels, onehot, _ = _data(5)
    p = _softmax(logits)
    per = losses.sparse_categorical_crossentropy(labels, p)
    w = rng.uniform(size=labels.shape)
    loss = losses.SparseCategoricalCrossentropy()
    assert loss(labels, p, sample_weight=w) == pytest.approx((per * w).sum() / len(per))
    numeric = numerical_gradient_of(lambda q: loss(labels, q, sample_weight=w), p.copy())
    np.testing.assert_allclose(loss.gradient(labels, p, sample_weight=w), numeric, rtol=1e-5, atol=1e-7)
    assert losses.SparseCategoricalCrossentropy(reduction="sum")(labels, p) == pytest.approx(per.sum())
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy(reduction=None)(labels, p), per)


def test_validation_errors():
    p = _softmax(np.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy: labels must be in \[0, 10\), got 12"):
        losses.SparseCategoricalCrossentropy()([1, 12, 3], p)
    with pytest.raises(ValueError, match="got -1"):
        losses.SparseCategoricalCrossentropy()([1, -1, 3], p)
    with pytest.raises(ValueError, match="whole numbers"):
        losses.SparseCategoricalCrossentropy()([1.5, 1, 3], p)
    with pytest.raises(ValueError, match="numbers of samples"):
        losses.SparseCategoricalCrossentropy()([1, 2], p)
    with pytest.raises(ValueError, match="one-hot width 5"):
        losses.CategoricalCrossentropy()(np.eye(5)[:3], p)
    with pytest.raises(ValueError, match="integer labels"):
        losses.CategoricalCrossentropy()([[1], [2], [3]], p)
    with pytest.raises(ValueError, match="numbers of samples"):
        losses.MeanSquaredError()(np.zeros((4, 10)), p)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=2)


def test_get():
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossentropy)
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossentropy)
    for name in ("mse", "mean_squared_error", "MeanSquaredError"):
        assert isinstance(losses.get(name), losses.MeanSquaredError)
    for name in ("mae", "mean_absolute_error"):
        assert isinstance(losses.get(name), losses.MeanAbsoluteError)
    inst = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(inst) is inst
    assert isinstance(losses.get(losses.BinaryCrossentropy), losses.BinaryCrossentropy)
    assert isinstance(losses.get(losses.sparse_categorical_crossentropy), losses.SparseCategoricalCrossentropy)
    with pytest.raises(ValueError, match="Valid names:.*sparse_categorical_crossentropy"):
        losses.get("cross_entropy_of_doom")
    with pytest.raises(ValueError, match="no gradient"):
        losses.get(lambda y_true, y_pred: 0.0)
    cfg = losses.CategoricalCrossentropy(label_smoothing=0.1).get_config()
    again = losses.CategoricalCrossentropy.from_config(cfg)
    assert again.label_smoothing == 0.1 and again.name == "categorical_crossentropy"


# ---------------------------------------------------------------------------------- oracles
KERAS_CASES = [
    ("SparseCategoricalCrossentropy", {}, "labels", "softmax"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "labels", None),
    ("CategoricalCrossentropy", {}, "onehot", "softmax"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot", "softmax"),
    ("CategoricalCrossentropy", {"from_logits": True}, "onehot", None),
    ("BinaryCrossentropy", {}, "binary", "sigmoid"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "binary", None),
    ("MeanSquaredError", {}, "binary", None),
    ("MeanAbsoluteError", {}, "binary", None),
]


@pytest.mark.parametrize("cls,kwargs,kind,act", KERAS_CASES)
def test_against_keras(cls, kwargs, kind, act):
    keras = _keras()
    y_true, y_pred, _ = _inputs(kind, act, seed=7)
    y_pred = y_pred.astype(np.float32)
    y_pred[0, 0] = 1e-9 if act else y_pred[0, 0]  # exercise the clipping too
    ours = getattr(losses, cls)(**kwargs)
    theirs = getattr(keras.losses, cls)(**kwargs)
    w = np.linspace(0.5, 1.5, len(y_pred)).astype(np.float32)
    assert ours(y_true, y_pred) == pytest.approx(float(theirs(y_true, y_pred)), rel=1e-5)
    assert ours(y_true, y_pred, sample_weight=w) == pytest.approx(
        float(theirs(y_true, y_pred, sample_weight=w)), rel=1e-5)


def test_function_forms_against_keras():
    keras = _keras()
    y_true, y_pred, _ = _inputs("labels", "softmax", seed=8)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(y_true, y_pred),
                               np.asarray(keras.losses.sparse_categorical_crossentropy(y_true, y_pred)), rtol=1e-6)
    y_true, y_pred, _ = _inputs("binary", "sigmoid", seed=8)
    np.testing.assert_allclose(losses.binary_crossentropy(y_true, y_pred),
                               np.asarray(keras.losses.binary_crossentropy(y_true, y_pred)), rtol=1e-6)


def test_cross_entropy_from_logits_against_torch():
    torch = pytest.importorskip("torch", reason="torch not installed (oracle test)")
    _, logits, labels, onehot, binary = _data(9, n=8, k=7)
    z = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(z, torch.tensor(labels))
    ref.backward()
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert loss(labels, logits) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.gradient(labels, logits), z.grad.numpy(), atol=1e-12)
    fused = losses.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(fused.logits_gradient(labels, logits), z.grad.numpy(), atol=1e-12)

    z = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(binary))
    ref.backward()
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert loss(binary, logits) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.gradient(binary, logits), z.grad.numpy(), atol=1e-12)
