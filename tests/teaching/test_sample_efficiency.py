"""Accuracy against training-set size: nested, class-balanced subsets, the same start for every model."""
import doctest

import numpy as np
import pytest

import tinyconv
from tinyconv import layers
from tinyconv.teaching import sample_efficiency
from tinyconv.teaching.sample_efficiency import accuracy_vs_training_size, balanced_order


def blobs(count, seed):
    """Two classes of 4-feature points around +1 and -1 on the first feature: easy, but not from 2 examples."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, count)
    x = rng.normal(scale=1.0, size=(count, 4)).astype("float32")
    x[:, 0] += np.where(y == 1, 1.5, -1.5)
    return x, y


def linear():
    """A compiled model: used as it comes (an uncompiled one gets Adam(1e-3))."""
    model = tinyconv.Sequential([tinyconv.Input((4,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=tinyconv.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    return model


def test_balanced_order_deals_the_classes_in_turn():
    y = np.array([0] * 6 + [1] * 3 + [2] * 3)
    order = balanced_order(y, seed=1)
    assert sorted(order.tolist()) == list(range(12))
    for n in (3, 6, 9):
        assert np.bincount(y[order[:n]], minlength=3).tolist() == [n // 3] * 3   # every prefix balanced
    assert np.array_equal(order, balanced_order(y, seed=1)) and not np.array_equal(order, balanced_order(y, seed=2))


def test_more_data_helps_and_the_runs_repeat_exactly():
    x, y = blobs(400, seed=0)
    x_test, y_test = blobs(200, seed=1)
    args = dict(x_test=x_test, y_test=y_test, sizes=[2, 300], epochs=1, min_steps=60, batch_size=16, seed=0)
    result = accuracy_vs_training_size({"linear": linear}, x, y, **args)
    small, large = result.accuracy["linear"]
    assert large > 0.85 and large > small
    assert result.params == {"linear": 10} and result.runs["linear"].shape == (1, 2)
    again = accuracy_vs_training_size({"linear": linear}, x, y, **args)
    assert again.accuracy == result.accuracy
    assert "train size" in str(result) and "linear (10 p)" in str(result)


def test_every_model_sees_the_same_nested_subsets(monkeypatch):
    seen = []

    class Recording(tinyconv.Sequential):
        def fit(self, x, y, **kwargs):
            seen.append((self.name, x.copy(), kwargs["epochs"]))
            return super().fit(x, y, **kwargs)

    def build(name):
        return lambda: Recording([tinyconv.Input((4,)), layers.Dense(2, activation="softmax")], name=name)

    x, y = blobs(100, seed=0)
    result = accuracy_vs_training_size({"a": build("a"), "b": build("b")}, x, y, sizes=[4, 20], epochs=2,
                                       min_steps=10, batch_size=8, repeats=2)
    assert [name for name, _, _ in seen] == ["a", "b"] * 4
    assert [epochs for _, _, epochs in seen] == [10, 10, 4, 4] * 2   # 1 batch at n=4, 3 batches at n=20
    for first, second in zip(seen[0::2], seen[1::2]):
        np.testing.assert_array_equal(first[1], second[1])      # both models, the same examples
    np.testing.assert_array_equal(seen[0][1], seen[2][1][:4])   # the 20 start with the 4
    assert not np.array_equal(seen[0][1], seen[4][1])           # the second repeat draws another order
    assert result.runs["a"].shape == (2, 2)
    np.testing.assert_allclose(result.accuracy["a"], result.runs["a"].mean(axis=0))


def test_without_a_test_set_a_quarter_is_held_out():
    x, y = blobs(40, seed=0)
    with pytest.raises(ValueError, match="size 31 is more than the 30 training examples"):
        accuracy_vs_training_size({"linear": linear}, x, y, sizes=[31], epochs=1)
    assert accuracy_vs_training_size({"linear": linear}, x, y, sizes=[30], epochs=1).sizes == [30]


def test_mistakes_are_named():
    x, y = blobs(20, seed=0)
    with pytest.raises(ValueError, match="build_fns must be a non-empty dict"):
        accuracy_vs_training_size({}, x, y, sizes=[5])
    with pytest.raises(ValueError, match=r"build_fns\['m'\] must be a function returning a new model, got the model"):
        accuracy_vs_training_size({"m": linear()}, x, y, sizes=[5])
    with pytest.raises(ValueError, match=r"build_fns\['m'\] must be callable, got int"):
        accuracy_vs_training_size({"m": 3}, x, y, sizes=[5])
    with pytest.raises(ValueError, match="x and y must have the same length, got 20 and 19"):
        accuracy_vs_training_size({"m": linear}, x, y[:19], sizes=[5])
    with pytest.raises(ValueError, match="every size must be a positive int, got 0"):
        accuracy_vs_training_size({"m": linear}, x, y, sizes=[0])
    with pytest.raises(ValueError, match="give both x_test and y_test"):
        accuracy_vs_training_size({"m": linear}, x, y, sizes=[5], x_test=x)


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = blobs(60, seed=0)
    result = accuracy_vs_training_size({"linear": linear}, x, y, sizes=[4, 40], epochs=1)
    figure = result.plot(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0 and figure.axes[0].get_xscale() == "log"


def test_examples_in_docstrings_run():
    tinyconv.utils.set_random_seed(0)
    result = doctest.testmod(sample_efficiency, extraglobs={"np": np, "tinyconv": tinyconv, "layers": layers},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0
