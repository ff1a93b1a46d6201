"""tinyconv.random (``keras.random``): distributions, seeding semantics, signatures, and dropout's backward.

The generators are NumPy's, not Keras's, so values are not compared with Keras; shapes, dtypes,
distribution moments (within tolerances of several standard errors), reproducibility, and the
signatures are.
"""
import doctest
import inspect
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import tinyconv  # noqa: E402
from tests.gradcheck import numerical_gradient, relative_error  # noqa: E402
from tinyconv import random  # noqa: E402
from tinyconv.ops.tape import Tape  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

N = 200_000  # draws per moment check: the standard error of a mean is stddev / 447


def test_normal_uniform_truncated_have_their_moments():
    x = random.normal((N,), mean=2.0, stddev=3.0, seed=0)
    assert x.dtype == np.float32 and x.shape == (N,)
    assert x.mean() == pytest.approx(2.0, abs=0.05) and x.std() == pytest.approx(3.0, rel=0.01)
    u = random.uniform((N,), minval=-1.0, maxval=3.0, dtype="float64", seed=0)
    assert u.dtype == np.float64 and u.min() >= -1 and u.max() < 3
    assert u.mean() == pytest.approx(1.0, abs=0.02) and u.var() == pytest.approx(16 / 12, rel=0.02)
    t = random.truncated_normal((N,), mean=1.0, stddev=2.0, seed=0)
    assert np.abs(t - 1).max() <= 4.0 + 1e-6
    # N(0, 1) cut at +-2 has standard deviation 0.8796.
    assert t.mean() == pytest.approx(1.0, abs=0.02) and t.std() == pytest.approx(2 * 0.8796, rel=0.01)


def test_integer_and_other_distributions():
    r = random.randint((N,), 3, 7, seed=0)
    assert r.dtype == np.int32 and set(np.unique(r).tolist()) == {3, 4, 5, 6}
    assert random.randint((3,), 0, 5, dtype="int64", seed=0).dtype == np.int64
    g = random.gamma((N,), alpha=3.0, seed=0)
    assert g.mean() == pytest.approx(3.0, rel=0.02) and g.var() == pytest.approx(3.0, rel=0.03)
    b = random.beta((N,), 2.0, 5.0, seed=0)
    assert b.mean() == pytest.approx(2 / 7, rel=0.01)
    n = random.binomial((N,), counts=10, probabilities=0.3, seed=0)
    assert n.dtype == np.float32 and n.mean() == pytest.approx(3.0, rel=0.01)
    assert n.var() == pytest.approx(2.1, rel=0.03)


def test_categorical_draws_classes_with_softmax_probabilities():
    logits = np.log(np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]]))
    samples = random.categorical(logits, 50_000, seed=0)
    assert samples.shape == (2, 50_000) and samples.dtype == np.int32
    for row, probabilities in zip(samples, np.exp(logits)):
        np.testing.assert_allclose(np.bincount(row, minlength=3) / row.size, probabilities, atol=0.01)


def test_an_int_seed_repeats_a_seed_generator_advances_and_repeats_as_a_sequence():
    assert np.array_equal(random.normal((5,), seed=3), random.normal((5,), seed=3))
    assert not np.array_equal(random.normal((5,), seed=3), random.normal((5,), seed=4))
    a, b = random.SeedGenerator(11), random.SeedGenerator(11)
    first, second = random.uniform((4,), seed=a), random.uniform((4,), seed=a)
    assert not np.array_equal(first, second)
    assert np.array_equal(first, random.uniform((4,), seed=b)) and np.array_equal(second, random.uniform((4,), seed=b))
    assert a.state.tolist() == [11, 2] and a.get_config() == {"seed": 11}
    assert random.SeedGenerator.from_config(a.get_config()).initial_seed == 11


def test_the_global_generator_follows_set_random_seed():
    tinyconv.utils.set_random_seed(5)
    first = random.normal((3,)), random.SeedGenerator().initial_seed
    tinyconv.utils.set_random_seed(5)
    again = random.normal((3,)), random.SeedGenerator().initial_seed
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]


def test_dropout_keeps_the_expected_value_and_its_backward_uses_the_same_mask():
    x = np.ones((400, 500), dtype="float32")
    y = random.dropout(x, 0.3, seed=0)
    assert y.dtype == np.float32 and np.allclose(np.unique(y), [0.0, 1 / 0.7])
    assert y.mean() == pytest.approx(1.0, abs=0.01)
    seed = random.SeedGenerator(1)
    with Tape() as tape:
        xt = tape.watch(np.random.default_rng(0).standard_normal((6, 5)))
        out = random.dropout(xt, 0.5, seed=seed)
    assert tape.records[-1].name == "dropout"   # recorded on the tape
    g = np.random.default_rng(1).standard_normal((6, 5))
    (dx,) = tape.gradient(out, [xt], output_gradient=g)
    kept = out.value != 0
    np.testing.assert_array_equal(dx, np.where(kept, g * 2, 0))


def test_dropout_noise_shape_shares_the_mask_and_gradcheck_with_an_int_seed():
    y = random.dropout(np.ones((4, 3, 6)), 0.5, noise_shape=(None, 1, 6), seed=2)
    assert (y == y[:, :1, :]).all()                          # one mask row shared along axis 1
    x = np.random.default_rng(0).standard_normal((3, 4))
    r = np.random.default_rng(1).standard_normal((3, 4))
    with Tape() as tape:
        xt = tape.watch(x)
        out = random.dropout(xt, 0.4, seed=7)               # an int seed: the same mask on every call
    (analytic,) = tape.gradient(out, [xt], output_gradient=r)
    numeric = numerical_gradient(lambda: float(np.sum(random.dropout(x, 0.4, seed=7) * r)), x)
    assert relative_error(analytic, numeric) < 1e-8


def test_shuffle_permutes_and_its_backward_unpermutes():
    x = np.arange(12.0).reshape(4, 3)
    y = random.shuffle(x, axis=1, seed=0)
    assert sorted(y[0].tolist()) == [0.0, 1.0, 2.0] and (np.sort(y, axis=1) == x).all()
    with Tape() as tape:
        xt = tape.watch(x)
        out = random.shuffle(xt, axis=0, seed=3)
    g = np.random.default_rng(0).standard_normal((4, 3))
    (dx,) = tape.gradient(out, [xt], output_gradient=g)
    # sum(out * g) = sum(x * dx) for every x: the backward is the transpose of the permutation.
    assert np.sum(out.value * g) == pytest.approx(np.sum(x * dx))


@pytest.mark.parametrize("call, message", [
    (lambda: random.normal((2,), seed="abc"), "seed must be"),
    (lambda: random.normal((2, -1)), "shape must be"),
    (lambda: random.dropout(np.ones(3), 1.0), "rate must be"),
    (lambda: random.dropout(np.ones((2, 3)), 0.5, noise_shape=(2, 2)), "noise_shape"),
    (lambda: random.uniform((2,), dtype="int32"), "float dtype"),
    (lambda: random.SeedGenerator(-1), "non-negative"),
    (lambda: random.categorical(np.ones(3), 2), "rank 2"),
])
def test_bad_arguments_are_refused_clearly(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_signatures_are_keras():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of the signatures")
    for name in random.__all__:
        mine, theirs = inspect.signature(getattr(random, name)), inspect.signature(getattr(keras.random, name))
        assert [(p.name, p.default, p.kind) for p in mine.parameters.values()] == \
            [(p.name, p.default, p.kind) for p in theirs.parameters.values()], name


def test_dropout_and_shuffle_have_backwards_the_rest_are_draws():
    assert random.dropout.backward is not None and random.shuffle.backward is not None
    assert not random.categorical.differentiable   # integer samples: no gradient, on purpose


def test_docstring_examples_run():
    result = doctest.testmod(random, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for name in ("categorical", "shuffle", "dropout"):   # ops: doctest.testmod does not see inside them
        op = getattr(random, name)
        test = doctest.DocTestParser().get_doctest(op.__doc__, dict(vars(random), np=np), name, None, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        assert runner.failures == 0, name
    assert result.failed == 0 and result.attempted > 8
