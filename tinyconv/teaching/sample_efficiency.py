"""Sample efficiency: test accuracy against the number of training examples, for several models.

CE40717's "Inductive bias in CNNs" slide: weight sharing and locality make CNNs "more sample-efficient than
FCNs".  ``accuracy_vs_training_size`` measures it: each model is trained from the same initial seed on the
first n examples of one fixed, class-balanced order (so a larger training set contains every smaller one),
for every n in ``sizes``, and tested on the same held-out set.
"""
import math

import numpy as np

from .. import optimizers
from ..models.model import Model
from ..utils import set_random_seed


def balanced_order(y, seed=0):
    """Indices of ``y`` in an order whose every prefix is as class-balanced as possible: each class shuffled,
    then the classes dealt in turn (one of each class, then the next of each, ...).

    Args:
        y: class labels, one per sample.
        seed: the seed of the shuffles.

    Returns:
        An int64 array of indices into ``y``.

    Example:

    >>> y = np.array([0, 0, 0, 1, 1, 2])
    >>> sorted(y[balanced_order(y)[:3]].tolist())
    [0, 1, 2]
    """
    y = np.asarray(y).ravel()
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    queues = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    order = []
    for turn in range(max(len(queue) for queue in queues)):
        dealt = [queue[turn] for queue in queues if turn < len(queue)]
        order.extend(rng.permutation(dealt))  # classes in a random order within each turn
    return np.asarray(order, dtype=np.int64)


class SampleEfficiency:
    """The result of ``accuracy_vs_training_size``.

    Attributes:
        sizes: the training-set sizes, as given.
        accuracy: ``{model name: [mean test accuracy at each size]}``.
        runs: ``{model name: array (repeats, len(sizes))}`` of every run's test accuracy.
        params: ``{model name: parameter count}``.

    Args:
        sizes: the training-set sizes.
        runs: ``{model name: array (repeats, len(sizes))}`` of every run's test accuracy.
        params: ``{model name: parameter count}``.

    Example:

    >>> result = tinyconv.teaching.SampleEfficiency([10, 100], {"mlp": np.array([[0.5, 0.7], [0.6, 0.9]])},
    ...                                             {"mlp": 1234})
    >>> [round(a, 2) for a in result.accuracy["mlp"]]
    [0.55, 0.8]
    """

    def __init__(self, sizes, runs, params):
        self.sizes, self.runs, self.params = list(sizes), runs, params
        self.accuracy = {name: [float(v) for v in values.mean(axis=0)] for name, values in runs.items()}

    def __str__(self):
        names = list(self.accuracy)
        header = f"{'train size':>10}" + "".join(f"{name + f' ({self.params[name]:,} p)':>24}" for name in names)
        rows = [f"{size:>10}" + "".join(f"{self.accuracy[name][i]:>24.3f}" for name in names)
                for i, size in enumerate(self.sizes)]
        return "\n".join([header] + rows)

    __repr__ = __str__

    def plot(self, path=None):
        """Test accuracy against training-set size (log scale), one line per model.

        Args:
            path: where to save the figure as a PNG; None: not saved.

        Returns:
            The matplotlib ``Figure``.
        """
        from .plots import _finish, _new_figure

        figure = _new_figure(figsize=(5, 3.4))
        axis = figure.subplots()
        for name, values in self.accuracy.items():
            axis.plot(self.sizes, values, marker="o", label=f"{name} ({self.params[name]:,} params)")
        axis.set_xscale("log")
        axis.set_xlabel("training examples")
        axis.set_ylabel("test accuracy")
        axis.set_title("accuracy against training-set size")
        axis.legend(fontsize=8)
        return _finish(figure, path)


def _check_sizes(sizes, available, function):
    if not isinstance(sizes, (list, tuple, np.ndarray)) or len(sizes) == 0:
        raise ValueError(f"{function}: sizes must be a non-empty list of positive ints, got sizes={sizes!r}")
    checked = []
    for size in sizes:
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{function}: every size must be a positive int, got {size!r} in sizes={list(sizes)}")
        if size > available:
            raise ValueError(f"{function}: size {size} is more than the {available} training examples")
        checked.append(int(size))
    return checked


def accuracy_vs_training_size(build_fns, x, y, sizes, x_test=None, y_test=None, test_fraction=0.25, epochs=10,
                              min_steps=0, batch_size=32, repeats=1, seed=0, verbose=0):
    """Train each model on the first n examples (for every n in ``sizes``) and measure its test accuracy.

    For every repeat r (seed ``seed + r``): one class-balanced order of the training examples
    (``balanced_order``); for every size n and every model, ``tinyconv.utils.set_random_seed(seed + r)``, a
    fresh model from its build function (compiled with Adam(1e-3), sparse categorical cross-entropy and
    accuracy when the function returns it uncompiled), ``fit`` on the first n examples of the order, and
    ``evaluate`` on the test set.

    Small sets make short epochs: with ``min_steps`` every run takes at least that many gradient steps
    (epochs = max(``epochs``, ceil(min_steps / batches per epoch))), so that a small set is not also
    under-trained.

    Args:
        build_fns: ``{name: function()}`` each returning a new model (compiled or not) for ``x``'s shape and
            integer labels.
        x: the training pool.
        y: the pool's integer labels.
        sizes: the training-set sizes, each at most the pool's size.
        x_test: the test inputs; default: a class-balanced ``test_fraction`` of ``x, y`` set aside first
            (with ``seed``), the rest being the pool.
        y_test: the test labels, given with ``x_test``.
        test_fraction: the share held out when no test set is given.
        epochs: passes over each training subset.
        min_steps: the fewest gradient steps of any run (0: just ``epochs``).
        batch_size: examples per step.
        repeats: runs per size and model (different orders and initial weights), averaged.
        seed: the first seed.
        verbose: passed to ``fit``.

    Returns:
        A ``SampleEfficiency`` (``sizes``, ``accuracy``, ``runs``, ``params``; ``print`` it for a table,
        ``plot()`` draws the curves).

    Raises:
        ValueError: an empty or non-callable ``build_fns``, ``x`` and ``y`` of different lengths, a size larger
            than the pool, or other non-positive counts.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 4)).astype("float32"); y = (x[:, 0] > 0).astype("int64")
    >>> build = lambda: tinyconv.Sequential([tinyconv.Input((4,)), layers.Dense(2, activation="softmax")])
    >>> result = accuracy_vs_training_size({"linear": build}, x, y, sizes=[10, 100], epochs=20)
    >>> result.sizes, len(result.accuracy["linear"])
    ([10, 100], 2)
    """
    function = "accuracy_vs_training_size"
    if not isinstance(build_fns, dict) or not build_fns:
        raise ValueError(f"{function}: build_fns must be a non-empty dict {{name: function returning a model}}, "
                         f"got {build_fns!r}")
    for name, build in build_fns.items():
        if isinstance(build, Model):   # a model is callable too, but every run needs a fresh one
            raise ValueError(f"{function}: build_fns[{name!r}] must be a function returning a new model, got the "
                             f"model {build.name!r} itself; pass e.g. lambda: make_model()")
        if not callable(build):
            raise ValueError(f"{function}: build_fns[{name!r}] must be callable, got {type(build).__name__}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{function}: x and y must have the same length, got {len(x)} and {len(y)}")
    for what, value in (("epochs", epochs), ("batch_size", batch_size), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{function}: {what} must be a positive int, got {what}={value!r}")
    if isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 0:
        raise ValueError(f"{function}: min_steps must be an int >= 0, got min_steps={min_steps!r}")
    if (x_test is None) != (y_test is None):
        raise ValueError(f"{function}: give both x_test and y_test, or neither")
    if x_test is None:
        if not 0 < test_fraction < 1:
            raise ValueError(f"{function}: test_fraction must be between 0 and 1, got {test_fraction!r}")
        order = balanced_order(y, seed)
        held = max(1, int(round(test_fraction * len(y))))
        test, pool = order[:held], order[held:]
        x_test, y_test, x, y = x[test], y[test], x[pool], y[pool]
    sizes = _check_sizes(sizes, len(x), function)
    runs = {name: np.zeros((repeats, len(sizes))) for name in build_fns}
    params = {}
    for repeat in range(repeats):
        order = balanced_order(y, seed + repeat)
        for column, size in enumerate(sizes):
            chosen = order[:size]
            steps_per_epoch = math.ceil(size / batch_size)
            run_epochs = max(epochs, math.ceil(min_steps / steps_per_epoch))
            for name, build in build_fns.items():
                set_random_seed(seed + repeat)   # every model and size starts from the same random state
                model = build()
                if not model.compiled:
                    model.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                                  metrics=["accuracy"])
                model.fit(x[chosen], y[chosen], batch_size=batch_size, epochs=run_epochs, verbose=verbose)
                predictions = np.asarray(model.predict(x_test, verbose=0))
                runs[name][repeat, column] = float(np.mean(predictions.argmax(axis=-1) == np.asarray(y_test).ravel()))
                params[name] = model.count_params()
    return SampleEfficiency(sizes, runs, params)


__all__ = ["SampleEfficiency", "accuracy_vs_training_size", "balanced_order"]
