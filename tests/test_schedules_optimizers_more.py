"""Learning-rate schedules, the newer optimizers (Adadelta, Adagrad, Adamax, Nadam, AdamW) and Keras 2's
``lr=`` / ``decay=`` arguments: step for step against Keras 3 where it has them."""
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import tinyconv  # noqa: E402
from tinyconv import optimizers  # noqa: E402
from tinyconv.optimizers import schedules  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SCHEDULES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[2, 5], values=[1.0, 0.5, 0.1])),
    ("InverseTimeDecay", dict(initial_learning_rate=0.2, decay_steps=2, decay_rate=0.7)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.2, decay_steps=2, decay_rate=0.7, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=6)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=6, alpha=0.2)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=5, warmup_target=0.3, warmup_steps=3)),
]
SCHEDULE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


def _keras():
    keras = pytest.importorskip("keras", reason="keras 3 not installed (oracle test)")
    return keras


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_values_match_keras(name, kwargs):
    keras = _keras()
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    for step in range(12):
        expected = float(keras.ops.convert_to_numpy(theirs(step)))
        assert ours(step) == pytest.approx(expected, rel=1e-6, abs=1e-7), f"step {step}"


def test_schedule_paths_and_config_round_trip():
    from tinyconv.optimizers.schedules import ExponentialDecay as imported  # Keras's import path

    assert imported is tinyconv.schedules.ExponentialDecay
    assert tinyconv.optimizers.schedules is tinyconv.schedules
    schedule = schedules.CosineDecay(0.1, 10, alpha=0.1, warmup_target=0.2, warmup_steps=2)
    again = schedules.deserialize(schedules.serialize(schedule))
    assert [again(s) for s in range(15)] == [schedule(s) for s in range(15)]


def test_schedule_validation():
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="1 less than"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])
    with pytest.raises(NotImplementedError):
        schedules.LearningRateSchedule()(0)


def _problem(seed=0, steps=6):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 4)), rng.normal(size=(4,))]
    grads = [[rng.normal(size=p.shape) for p in params] for _ in range(steps)]
    return params, grads


def _run_both(make_ours, make_theirs, keras, steps=6):
    params, grads = _problem(steps=steps)
    ours = [p.copy() for p in params]
    kvars = [keras.Variable(p.copy(), dtype="float64") for p in params]
    opt, kopt = make_ours(), make_theirs()
    for step_grads in grads:
        opt.apply(ours, step_grads)
        kopt.apply_gradients([(keras.ops.convert_to_tensor(g), v) for g, v in zip(step_grads, kvars)])
    return opt, ours, [keras.ops.convert_to_numpy(v) for v in kvars]


NEW_OPTIMIZERS = [
    ("Adadelta", {"learning_rate": 0.5}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-4}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Adamax", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.9}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01, "beta_1": 0.8, "clipnorm": 0.5}),
    ("AdamW", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]


@pytest.mark.parametrize("cls,kwargs", NEW_OPTIMIZERS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(NEW_OPTIMIZERS)])
def test_new_optimizers_match_keras(cls, kwargs):
    keras = _keras()
    opt, ours, theirs = _run_both(lambda: getattr(optimizers, cls)(**kwargs),
                                  lambda: getattr(keras.optimizers, cls)(**kwargs), keras)
    assert opt.iterations == 6
    for mine, expected in zip(ours, theirs):
        np.testing.assert_allclose(mine, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", ["SGD", "Adam", "Nadam"])
@pytest.mark.parametrize("name,kwargs", [SCHEDULES[0], SCHEDULES[2], SCHEDULES[7]], ids=["exp", "piecewise", "warmup"])
def test_schedule_as_learning_rate_matches_keras(cls, name, kwargs):
    keras = _keras()
    opt, ours, theirs = _run_both(lambda: getattr(optimizers, cls)(getattr(schedules, name)(**kwargs)),
                                  lambda: getattr(keras.optimizers, cls)(
                                      getattr(keras.optimizers.schedules, name)(**kwargs)), keras, steps=8)
    for mine, expected in zip(ours, theirs):
        np.testing.assert_allclose(mine, expected, rtol=1e-6, atol=1e-6)
    # the property reports the schedule's value at the current step, and cannot be overwritten
    assert opt.learning_rate == pytest.approx(getattr(schedules, name)(**kwargs)(8))
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.1


def test_new_optimizers_reduce_a_quadratic():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2.0, size=10).astype(np.float32)
    target = rng.normal(size=10).astype(np.float32)
    for opt in [optimizers.Adadelta(1.0, epsilon=1e-3), optimizers.Adagrad(0.5), optimizers.Adamax(0.1),
                optimizers.Nadam(0.1), optimizers.AdamW(0.1)]:
        w = np.zeros(10, np.float32)
        f0 = 0.5 * np.sum(a * (w - target) ** 2)
        for _ in range(300):
            opt.apply([w], [a * (w - target)])
        assert w.dtype == np.float32
        assert 0.5 * np.sum(a * (w - target) ** 2) < 0.1 * f0, type(opt).__name__


def test_names_config_and_reset():
    for name, cls in [("adadelta", optimizers.Adadelta), ("Adagrad", optimizers.Adagrad),
                      ("ADAMAX", optimizers.Adamax), ("nadam", optimizers.Nadam), ("adamw", optimizers.AdamW)]:
        opt = optimizers.get(name)
        assert type(opt) is cls
        again = optimizers.get(optimizers.serialize(opt))
        assert again.get_config() == opt.get_config()
    assert optimizers.AdamW().weight_decay == 0.004
    scheduled = optimizers.SGD(schedules.ExponentialDecay(0.1, 10, 0.9))
    again = optimizers.get(optimizers.serialize(scheduled))
    assert isinstance(again._learning_rate, schedules.ExponentialDecay)
    nadam = optimizers.Nadam(0.01)
    w = np.ones(3)
    nadam.apply([w], [np.ones(3)])
    first = w.copy()
    nadam.reset()
    w[...] = 1.0
    nadam.apply([w], [np.ones(3)])
    np.testing.assert_array_equal(w, first)  # a reset optimizer repeats its first step exactly


def test_new_optimizer_validation():
    with pytest.raises(ValueError, match="Adadelta: rho"):
        optimizers.Adadelta(rho=1.5)
    with pytest.raises(ValueError, match="Adagrad: initial_accumulator_value"):
        optimizers.Adagrad(initial_accumulator_value=-1)
    with pytest.raises(ValueError, match="Nadam: beta_2"):
        optimizers.Nadam(beta_2=1.0)
    with pytest.raises(ValueError, match="Adamax: epsilon"):
        optimizers.Adamax(epsilon=-1)
    with pytest.raises(ValueError, match="decay must be"):
        optimizers.SGD(decay=-0.1)


def test_keras2_lr_alias_and_attribute():
    with pytest.warns(UserWarning, match="`lr` argument is deprecated"):
        opt = optimizers.Adam(lr=0.05)
    assert opt.learning_rate == 0.05 and opt.lr == 0.05
    opt.lr = 0.01
    assert opt.learning_rate == 0.01


def test_keras2_time_based_decay():
    # Keras 2: lr_t = lr / (1 + decay * iterations), iterations counted before the step
    lr, decay = 0.1, 0.5
    w = np.array([1.0])
    opt = optimizers.SGD(learning_rate=lr, decay=decay)
    expected = 1.0
    for step in range(5):
        opt.apply([w], [np.array([2.0])])
        expected -= lr / (1 + decay * step) * 2.0
        assert w[0] == pytest.approx(expected, rel=1e-12)
    assert opt.learning_rate == lr  # the base rate, as Keras 2 reported it
    assert optimizers.SGD.from_config(opt.get_config()).decay == decay


def test_keras2_decay_matches_inverse_time_schedule_in_keras():
    # Keras 3 dropped decay=; its documented replacement is InverseTimeDecay(lr, 1, decay)
    keras = _keras()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ours, theirs = _run_both(
            lambda: optimizers.Adam(learning_rate=0.05, decay=0.3),
            lambda: keras.optimizers.Adam(keras.optimizers.schedules.InverseTimeDecay(0.05, 1, 0.3)), keras)
    for mine, expected in zip(ours, theirs):
        np.testing.assert_allclose(mine, expected, rtol=1e-6, atol=1e-6)


def test_learning_rate_settable_by_callbacks():
    opt = optimizers.RMSprop(0.01)
    opt.learning_rate = 0.002
    assert opt.learning_rate == 0.002
    with pytest.raises(ValueError, match="positive number"):
        opt.learning_rate = -1.0
    zero_arg = optimizers.SGD(lambda: 0.25)  # Keras 3 calls a plain callable with no arguments
    assert zero_arg.learning_rate == 0.25
