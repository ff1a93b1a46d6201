"""Optimizers: Keras 3 update rules step for step, in-place updates, state handling, validation."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from tinyconv import optimizers  # noqa: E402

# keras (torch backend) warns about its own __array__ under NumPy 2; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONFIGS = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "beta_1": 0.8}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}),
    ("Adam", {"learning_rate": 0.01, "global_clipnorm": 1.0, "weight_decay": 0.1}),
    ("SGD", {"learning_rate": 0.1, "clipvalue": 0.3}),
]


def _problem(seed=0, steps=5):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    grads = [[rng.normal(size=p.shape) for p in params] for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=[f"{c}-{'-'.join(map(str, k.items()))}" for c, k in CONFIGS])
def test_matches_keras(cls, kwargs):
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    params, grads = _problem()
    ours = [p.copy() for p in params]
    kvars = [keras.Variable(p.copy(), dtype="float64") for p in params]
    opt = getattr(optimizers, cls)(**kwargs)
    kopt = getattr(keras.optimizers, cls)(**kwargs)
    for step_grads in grads:
        opt.apply(ours, step_grads)
        kopt.apply_gradients([(keras.ops.convert_to_tensor(g), v) for g, v in zip(step_grads, kvars)])
    assert opt.iterations == len(grads)
    for mine, theirs in zip(ours, kvars):
        np.testing.assert_allclose(mine, keras.ops.convert_to_numpy(theirs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(0.1),
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.Adam(0.1),
    lambda: optimizers.RMSprop(0.05),
    lambda: optimizers.RMSprop(0.01, momentum=0.9, centered=True),
], ids=["sgd", "nesterov", "adam", "rmsprop", "rmsprop-centered-momentum"])
def test_reduces_a_quadratic(make):
    # f(w) = 0.5 * sum(a * (w - target)^2), gradient a * (w - target)
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2.0, size=10).astype(np.float32)
    target = rng.normal(size=10).astype(np.float32)
    w = np.zeros(10, np.float32)
    opt = make()
    f0 = 0.5 * np.sum(a * (w - target) ** 2)
    for _ in range(200):
        opt.apply([w], [a * (w - target)])
    assert w.dtype == np.float32
    assert 0.5 * np.sum(a * (w - target) ** 2) < 0.05 * f0


def test_updates_in_place_and_keeps_state_per_param():
    p1, p2 = np.ones(3, np.float32), np.ones(3, np.float32)
    opt = optimizers.SGD(0.1, momentum=0.9)
    before = id(p1)
    opt.apply([p1, p2], [np.ones(3, np.float32), 2 * np.ones(3, np.float32)])
    opt.apply([p1, p2], [np.ones(3, np.float32), 2 * np.ones(3, np.float32)])
    assert id(p1) == before
    # step 1: m = -0.1, p = 0.9; step 2: m = -0.19, p = 0.71
    np.testing.assert_allclose(p1, 0.71, rtol=1e-6)
    np.testing.assert_allclose(p2, 1 - 0.2 - 0.38, rtol=1e-6)
    assert opt.iterations == 2
    states = list(opt._state.values())
    assert all(s["m"].dtype == np.float32 for s in states)
    assert any(s["param"] is p1 for s in states)  # the reference keeps the id from being reused


def test_apply_gradients_keras_spelling_and_none_grads():
    p, q = np.ones(2), np.ones(2)
    opt = optimizers.SGD(learning_rate=0.5)
    opt.apply_gradients([(np.ones(2), p), (None, q)])
    np.testing.assert_allclose(p, 0.5)
    np.testing.assert_allclose(q, 1.0)


def test_adam_first_step_is_lr_sized():
    # with bias correction, the first Adam step is about lr * sign(g) (epsilon aside: Keras adds it to
    # sqrt(v) *after* folding the correction into the step size, so tiny gradients take smaller steps)
    p = np.zeros(4)
    optimizers.Adam(learning_rate=0.01).apply([p], [np.array([3.0, -0.5, 0.1, -100.0])])
    np.testing.assert_allclose(p, -0.01 * np.sign([3.0, -0.5, 0.1, -100.0]), rtol=1e-3)


def test_learning_rate_property_and_config():
    opt = optimizers.Adam()
    assert opt.learning_rate == 0.001 and isinstance(opt.learning_rate, float)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    cfg = opt.get_config()
    assert cfg["learning_rate"] == 0.5 and cfg["beta_2"] == 0.999 and cfg["epsilon"] == 1e-7
    clone = optimizers.Adam.from_config(cfg)
    assert clone.learning_rate == 0.5 and clone.beta_1 == 0.9
    sgd = optimizers.SGD.from_config(optimizers.SGD(0.2, momentum=0.5, nesterov=True).get_config())
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.2, 0.5, True)
    assert optimizers.RMSprop().get_config()["rho"] == 0.9


def test_defaults_match_keras():
    assert optimizers.SGD().learning_rate == 0.01
    assert optimizers.Adam().learning_rate == 0.001
    assert optimizers.RMSprop().learning_rate == 0.001
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    for name in ("SGD", "Adam", "RMSprop"):
        theirs = getattr(keras.optimizers, name)().get_config()
        ours = getattr(optimizers, name)().get_config()
        for key, value in ours.items():
            if key in theirs and key != "name":
                assert theirs[key] == pytest.approx(value), (name, key)


def test_validation():
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        optimizers.SGD(learning_rate=0)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(learning_rate=-1e-3)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam().learning_rate = "fast"
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="rho"):
        optimizers.RMSprop(rho=-0.1)
    with pytest.raises(ValueError, match="only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="gradient shape"):
        optimizers.SGD().apply([np.zeros(3)], [np.zeros(4)])
    with pytest.raises(ValueError, match="2 gradients"):
        optimizers.SGD().apply([np.zeros(3)], [np.zeros(3), np.zeros(3)])


def test_get():
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    assert isinstance(optimizers.get("Adam"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSPROP"), optimizers.RMSprop)
    opt = optimizers.Adam(0.1)
    assert optimizers.get(opt) is opt
    assert isinstance(optimizers.get(optimizers.RMSprop), optimizers.RMSprop)
    with pytest.raises(ValueError, match="Valid names: adadelta, adagrad, adam, adamax, adamw, nadam, rmsprop, sgd"):
        optimizers.get("adamw_of_doom")
