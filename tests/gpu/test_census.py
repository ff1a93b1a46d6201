"""The lean training step, counted: array operations (kernel launches on a GPU) and host synchronisations in
each step of ``fit`` on the GPU backend, with the census of the strict CuPy stand-in (``standin_cupy.py``).

Python drives a GPU by queueing kernels; the GPU runs ahead as long as Python never waits for it.  A host
synchronisation (reading a loss with ``float()``, checking labels with ``bool()``, ``.get()``) empties that
queue, and every array operation is one kernel launch, several microseconds of CPU time each: a small
model's step costs about launches x launch time.  The budgets below (issue "GPU backend: correct, lean and
ready to prove itself", section "A lean step") keep both from creeping back:

* no host synchronisation inside a training step: labels are checked on the host before they are copied
  up, the loss and the metrics stay on the device, and the logs are read - every value in one transfer -
  only when the progress bar redraws or a callback with a batch hook asks, and once at each epoch's end;
* LeNet-5 (batch 64) at most 60 launches per step (about 143 before), ResNet-20 at most 300 (about 720).

The optimizer's update is counted apart (``by_op`` of its ``apply``): over one flat buffer per model it is
the gradients gathered into one buffer and one fused update (``FUSED_OPTIMIZER_LAUNCHES``); the rest of the
step must fit in what is left.
A failing budget prints the step's operations by name, largest first, so nobody has to guess.
"""
import collections

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import backend, callbacks, layers, losses, metrics
from tinyconv.models import progress

from . import standin_cupy

benchmark_cases = pytest.importorskip("benchmarks.cases", reason="the model definitions live in benchmarks/")

SYNCS_PER_STEP = 0                 # nothing read back to the host inside a training step
SYNCS_PER_PROGRESS_UPDATE = 1      # a progress bar redraw reads every log value in one transfer
SYNCS_PER_EPOCH_END = 1            # the epoch's logs, read once for History and the epoch callbacks
LENET5_LAUNCHES_PER_STEP = 60      # LeNet-5, batch 64
RESNET20_LAUNCHES_PER_STEP = 300   # ResNet-20 (the count does not depend on the batch size)
FUSED_OPTIMIZER_LAUNCHES = 2       # the optimizer's share: the gradients gathered, one fused update
# ResNet-20's step outside the optimizer as measured (915 before the lean step, 388 before batch norm's raw
# reductions, the forward's patches kept for the backward and the fused softmax), so none of it creeps back.
RESNET20_LAUNCHES_WITHOUT_OPTIMIZER_NOW = 258

LENET_BATCH = 64
RESNET_BATCH = 2
SMALL_BATCH = 4      # for the tests that count syncs only (they do not depend on the batch size)
MEASURED_STEPS = 3   # the first two run whole between two batch-begin marks


# --- the models: the benchmarks' own ---------------------------------------------------------------------
def lenet5_relu_max():
    """The classic Keras LeNet-5 with ReLU and max pooling (the GPU benchmark's)."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(16, 5, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"), layers.Dense(84, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


MODELS = {
    "lenet5_relu_max": (lenet5_relu_max, LENET_BATCH, (28, 28, 1), LENET5_LAUNCHES_PER_STEP),
    "lenet5_tanh_avg": (benchmark_cases.tinyconv_lenet, LENET_BATCH, (28, 28, 1), LENET5_LAUNCHES_PER_STEP),
    "resnet20": (benchmark_cases.tinyconv_resnet, RESNET_BATCH, (32, 32, 3), RESNET20_LAUNCHES_PER_STEP),
}


@pytest.fixture
def standin(fresh_names):
    """The GPU device on the counting stand-in (whatever TINYCONV_GPU_TESTS says: real CuPy counts nothing)."""
    backend.set_device("gpu", array_module=standin_cupy)
    try:
        yield standin_cupy
    finally:
        backend.set_device("cpu")


def compiled(name, batch=None):
    build, default_batch, shape, budget = MODELS[name]
    batch = batch or default_batch
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch * MEASURED_STEPS,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch * MEASURED_STEPS)
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)   # warm-up: builds, caches tables
    return model, x, y, batch, budget


# --- counting --------------------------------------------------------------------------------------------
class Count:
    """Launches and syncs (by name) between two census snapshots."""

    def __init__(self, after, before):
        self.by_op = collections.Counter(after[0])
        self.by_op.subtract(before[0])
        self.by_op = collections.Counter({name: n for name, n in self.by_op.items() if n})
        self.sync_kinds = collections.Counter(after[1])
        self.sync_kinds.subtract(before[1])
        self.sync_kinds = collections.Counter({name: n for name, n in self.sync_kinds.items() if n})

    @property
    def launches(self):
        return sum(self.by_op.values())

    @property
    def syncs(self):
        return sum(self.sync_kinds.values())

    def __sub__(self, other):
        difference = Count(({}, {}), ({}, {}))
        difference.by_op = self.by_op - other.by_op
        difference.sync_kinds = self.sync_kinds - other.sync_kinds
        return difference


def snapshot():
    census = standin_cupy.census
    return dict(census.launches), dict(census.syncs)


def table(count, title):
    lines = [f"{title}: {count.launches} launches, {count.syncs} syncs {dict(count.sync_kinds)}"]
    lines += [f"    {name:<40} {n}" for name, n in count.by_op.most_common()]
    return "\n".join(lines)


class StepMarks(callbacks.Callback):
    """Snapshots the census as each training batch begins (a hook that is handed no logs to read)."""

    def __init__(self):
        super().__init__()
        self.marks = []

    def on_train_batch_begin(self, batch, logs=None):
        self.marks.append(snapshot())


def census_of_fit(model, x, y, batch, verbose=0, extra_callbacks=()):
    """(steps, optimizer steps, whole fit): one ``Count`` per whole training step, the optimizer's share of
    each, and the fit as a whole (epoch end included)."""
    marks, optimizer_steps = StepMarks(), []
    apply = model.optimizer.apply

    def counted_apply(*args, **kwargs):
        before = snapshot()
        result = apply(*args, **kwargs)
        optimizer_steps.append(Count(snapshot(), before))
        return result

    model.optimizer.apply = counted_apply
    try:
        standin_cupy.census.reset()
        start = snapshot()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=verbose, callbacks=[marks, *extra_callbacks])
        whole = Count(snapshot(), start)
    finally:
        del model.optimizer.apply
    steps = [Count(later, earlier) for earlier, later in zip(marks.marks, marks.marks[1:])]
    return steps, optimizer_steps[:len(steps)], whole


def worst(counts):
    return max(counts, key=lambda count: (count.syncs, count.launches))


_measured = {}


def measured(name):
    """(steps, optimizer steps, whole fit) of ``name``'s budget run, measured once for the tests that share it."""
    if name not in _measured:
        model, x, y, batch, _ = compiled(name)
        _measured[name] = census_of_fit(model, x, y, batch)
    return _measured[name]


# --- the budgets -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lenet5_relu_max", "lenet5_tanh_avg", "resnet20"])
def test_a_training_step_reads_nothing_back_from_the_device(name, standin):
    steps, _, whole = measured(name)
    step = worst(steps)
    assert len(steps) == MEASURED_STEPS - 1
    assert step.syncs == SYNCS_PER_STEP, table(step, f"{name}: one training step")
    assert whole.syncs == SYNCS_PER_EPOCH_END, table(whole, f"{name}: the whole fit (verbose=0)")


@pytest.mark.parametrize("name", ["lenet5_relu_max", "lenet5_tanh_avg"])
def test_lenet5_step_outside_the_optimizer_leaves_room_for_one_fused_update(name, standin):
    budget = MODELS[name][3]
    steps, optimizer_steps, _ = measured(name)
    rest = [step - update for step, update in zip(steps, optimizer_steps)]
    step = worst(rest)
    assert step.launches <= budget - FUSED_OPTIMIZER_LAUNCHES, (
        table(step, f"{name}: one training step without the optimizer") + "\n"
        + table(worst(optimizer_steps), "its optimizer update"))


@pytest.mark.parametrize("name", ["lenet5_relu_max", "lenet5_tanh_avg", "resnet20"])
def test_fit_updates_the_weights_in_one_fused_step(name, standin):
    _, optimizer_steps, _ = measured(name)
    update = worst(optimizer_steps)
    assert update.launches <= FUSED_OPTIMIZER_LAUNCHES and update.syncs == 0, table(update, f"{name}: the update")


@pytest.mark.parametrize("name", ["lenet5_relu_max", "lenet5_tanh_avg"])
def test_lenet5_step_stays_within_its_launch_budget(name, standin):
    budget = MODELS[name][3]
    steps, optimizer_steps, _ = measured(name)
    step = worst(steps)
    assert step.launches <= budget, (table(step, f"{name}: one training step") + "\n"
                                     + table(worst(optimizer_steps), "of which the optimizer update"))


def test_resnet20_step_outside_the_optimizer_does_not_creep_back(standin):
    steps, optimizer_steps, _ = measured("resnet20")
    step = worst([step - update for step, update in zip(steps, optimizer_steps)])
    assert step.launches <= RESNET20_LAUNCHES_WITHOUT_OPTIMIZER_NOW, table(step, "resnet20: one step without "
                                                                               "the optimizer")


def test_resnet20_step_stays_within_its_launch_budget(standin):
    steps, optimizer_steps, _ = measured("resnet20")
    step = worst(steps)
    assert step.launches <= RESNET20_LAUNCHES_PER_STEP, (table(step, "resnet20: one training step") + "\n"
                                     + table(worst(optimizer_steps), "of which the optimizer update"))


# --- when the logs are read ------------------------------------------------------------------------------
def test_a_progress_bar_reads_the_logs_once_per_redraw(standin, monkeypatch, capsys):
    """verbose=1 on a terminal that redraws after every step: one sync per redraw, none elsewhere."""
    monkeypatch.setattr(progress, "is_terminal", lambda stream: True)
    monkeypatch.setattr(progress, "REDRAW_INTERVAL", 0.0)
    draws = []
    draw = progress.TerminalBar.draw
    monkeypatch.setattr(progress.TerminalBar, "draw", lambda bar, logs: (draws.append(1), draw(bar, logs))[1])
    model, x, y, batch, _ = compiled("lenet5_relu_max", SMALL_BATCH)
    steps, _, whole = census_of_fit(model, x, y, batch, verbose=1)
    assert "accuracy:" in capsys.readouterr().out
    for step in steps:
        assert step.syncs == SYNCS_PER_PROGRESS_UPDATE, table(step, "a step whose progress bar redraws")
    redraws_during_steps = MEASURED_STEPS                    # one after every step (the last one too) ...
    assert len(draws) == redraws_during_steps + 1            # ... and the final one at the epoch's end
    assert whole.syncs == redraws_during_steps * SYNCS_PER_PROGRESS_UPDATE + SYNCS_PER_EPOCH_END, \
        table(whole, "the whole fit (verbose=1)")


def test_only_callbacks_with_a_batch_hook_read_the_batch_logs(standin):
    seen = []
    reader = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs["loss"]))
    bystander = callbacks.Callback()   # the base class's empty hooks: nothing for it to read
    model, x, y, batch, _ = compiled("lenet5_relu_max", SMALL_BATCH)
    steps, _, whole = census_of_fit(model, x, y, batch, extra_callbacks=[bystander])
    assert all(step.syncs == 0 for step in steps)
    steps, _, whole = census_of_fit(model, x, y, batch, extra_callbacks=[reader, bystander])
    assert [step.syncs for step in steps] == [1] * len(steps), table(worst(steps), "a step with a reader")
    assert len(seen) == MEASURED_STEPS and all(isinstance(value, float) for value in seen)


def test_pending_logs_are_read_once_in_one_transfer(standin):
    values = {"loss": standin_cupy.asarray(np.float32(0.5)), "accuracy": standin_cupy.asarray(np.float64(0.25)),
              "lr": 0.1}
    logs = callbacks.PendingLogs(lambda: keras.models.training.host_logs(values))
    with standin_cupy.counting() as record:
        assert dict(logs) == {"loss": 0.5, "accuracy": 0.25, "lr": 0.1}
        assert logs["loss"] == 0.5 and len(logs) == 3
    assert record["syncs"] == 1 and record["sync_kinds"] == {"get": 1}


# --- labels: checked on the host, before they travel -----------------------------------------------------
def test_bad_labels_are_refused_on_the_host_before_any_upload(standin):
    model, x, y, batch, _ = compiled("lenet5_relu_max", SMALL_BATCH)
    y = y.copy()
    y[-1] = 10   # the model has 10 classes: 0..9
    standin_cupy.census.reset()
    with pytest.raises(ValueError, match=r"fit: SparseCategoricalCrossentropy: labels must be in \[0, 10\), got 10"):
        model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    assert standin_cupy.census.sync_count == 0


def test_labels_already_on_the_device_are_used_without_reading_them_back(standin):
    model, x, y, batch, _ = compiled("lenet5_relu_max", SMALL_BATCH)
    steps, _, whole = census_of_fit(model, x, standin_cupy.asarray(y), batch)
    assert all(step.syncs == 0 for step in steps) and whole.syncs == SYNCS_PER_EPOCH_END


def test_the_loss_checks_device_labels_when_called_on_its_own(standin):
    probabilities = standin_cupy.asarray(np.full((2, 3), 1 / 3, dtype=np.float32))
    loss = losses.SparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got 3"):
        loss(standin_cupy.asarray(np.array([0, 3])), probabilities)
    with losses.checked_targets():   # what a model's step declares after its host check: no read-back
        with standin_cupy.counting() as record:
            value = loss.value(standin_cupy.asarray(np.array([0, 2])), probabilities)
    assert record["syncs"] == 0 and np.isclose(float(value), np.log(3))


# --- the lean step computes what the CPU computes --------------------------------------------------------
def small_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"), layers.BatchNormalization(),
        layers.MaxPooling2D(2),
        layers.Conv2D(6, 3, activation="tanh"), layers.Flatten(), layers.Dropout(0.3, seed=seed),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    return model


def test_device_logs_and_weights_equal_the_cpu_ones_with_host_drawn_masks(fresh_names):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 20)
    runs = {}
    previous = keras.random.set_mask_source("host")
    try:
        for device in ("cpu", "gpu"):
            backend.set_device(device, **({"array_module": standin_cupy} if device == "gpu" else {}))
            try:
                model = small_model(seed=3)
                history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                                    validation_data=(x[:6], y[:6]))
                runs[device] = history.history, model.get_weights()
            finally:
                backend.set_device("cpu")
    finally:
        keras.random.set_mask_source(previous)
    (gpu_logs, gpu_weights), (cpu_logs, cpu_weights) = runs["gpu"], runs["cpu"]
    assert sorted(gpu_logs) == sorted(cpu_logs)
    for name in cpu_logs:
        np.testing.assert_allclose(gpu_logs[name], cpu_logs[name], rtol=1e-4, atol=1e-6, err_msg=name)
    for got, want in zip(gpu_weights, cpu_weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_dropout_draws_its_masks_on_the_device_by_default(standin):
    layer = layers.Dropout(0.5, seed=4)
    x = standin.asarray(np.ones((64, 32), dtype=np.float32))
    with standin.counting() as record:
        y = standin_cupy.asnumpy(layer(x, training=True))
    assert record["uploads"] == 0 and record["by_op"].get("random.random") == 1
    assert set(np.unique(y)) == {0.0, 2.0} and 0.3 < (y == 0).mean() < 0.7
    previous = keras.random.set_mask_source("host")
    try:
        host_drawn = standin_cupy.asnumpy(layers.Dropout(0.5, seed=4)(x, training=True))
    finally:
        keras.random.set_mask_source(previous)
    backend.set_device("cpu")
    np.testing.assert_array_equal(host_drawn, layers.Dropout(0.5, seed=4)(np.ones((64, 32), np.float32),
                                                                          training=True))


# Launches of one device update: the hits kernel; a scalar weight also takes the batch's mean (Keras weighs
# the batch as a whole then).  The running sums wait on the device until a read.
UPDATE_LAUNCHES = {None: 1, "per_sample": 1, "scalar": 2}


@pytest.mark.parametrize("weights", [None, "per_sample", "scalar"])
def test_device_metric_state_waits_on_the_device_and_reads_as_on_the_host(weights, standin):
    rng = np.random.default_rng(2)
    batches = [(rng.integers(0, 4, 6), rng.random((6, 4)).astype(np.float32)) for _ in range(3)]
    weight_of = {None: lambda i: None, "per_sample": lambda i: rng.random(6), "scalar": lambda i: float(i + 1)}[weights]
    host, device = metrics.SparseCategoricalAccuracy(), metrics.SparseCategoricalAccuracy()
    assert device.runs_on_device
    for i, (labels, scores) in enumerate(batches):
        weight = weight_of(i)
        host.update_state(labels, scores, sample_weight=weight)
        with standin.counting() as record:
            device.update_state(standin.asarray(labels), standin.asarray(scores), sample_weight=weight)
        assert record["syncs"] == 0 and record["launches"] == UPDATE_LAUNCHES[weights], record
    np.testing.assert_allclose(float(device.result()), float(host.result()), rtol=1e-6)
    device.reset_state()
    assert float(device.result()) == 0.0


# --- fused pieces ready for the layers that own the remaining launches ------------------------------------
def test_moving_statistics_update_is_one_launch_with_the_layers_numbers(standin):
    from tinyconv.kernels.gpu import normalization
    rng = np.random.default_rng(3)
    mean, var = rng.standard_normal(8).astype(np.float32), rng.random(8).astype(np.float32)
    moving_mean, moving_variance = rng.standard_normal(8).astype(np.float32), rng.random(8).astype(np.float32)
    on_device = [standin.asarray(a) for a in (moving_mean, moving_variance, mean, var)]
    with standin.counting() as record:
        normalization.batch_norm_update_moving_statistics(*on_device, momentum=0.99)
    assert record["launches"] == 1 and record["syncs"] == 0
    moving_mean *= 0.99                    # BatchNormalization's own four lines
    moving_mean += (1 - 0.99) * mean
    moving_variance *= 0.99
    moving_variance += (1 - 0.99) * var
    np.testing.assert_array_equal(standin.asnumpy(on_device[0]), moving_mean)
    np.testing.assert_array_equal(standin.asnumpy(on_device[1]), moving_variance)


def test_a_convolution_without_bias_can_skip_its_bias_gradient(standin):
    from tinyconv.kernels.gpu import conv
    rng = np.random.default_rng(4)
    x = standin.asarray(rng.standard_normal((2, 6, 6, 3)).astype(np.float32))
    kernel = standin.asarray(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
    dy = standin.asarray(rng.standard_normal((2, 6, 6, 4)).astype(np.float32))
    arguments = (dy, x, kernel, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    with standin.counting() as with_bias:
        full = conv.conv2d_backward(*arguments)
    with standin.counting() as without_bias:
        lean = conv.conv2d_backward(*arguments, bias_gradient=False)
    assert lean[2] is None and without_bias["launches"] == with_bias["launches"] - 1
    for got, want in zip(lean[:2], full[:2]):
        np.testing.assert_array_equal(standin.asnumpy(got), standin.asnumpy(want))


def test_values_handed_to_update_state_are_added_at_once(standin):
    """A caller's own device array may change after the call: update_state must not keep it for later."""
    values = standin.asarray(np.array([1.0, 3.0], dtype=np.float32))
    mean = metrics.Mean()
    mean.update_state(values)
    values[...] = 100.0
    assert float(mean.result()) == 2.0


def test_a_convolution_backward_reuses_the_patches_its_forward_kept(standin):
    from tinyconv import dispatch
    from tinyconv.kernels.gpu import conv
    rng = np.random.default_rng(5)
    x = standin.asarray(rng.standard_normal((2, 7, 6, 3)).astype(np.float32))
    kernel = standin.asarray(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
    geometry = ((2, 1), ((1, 1), (0, 1)), (1, 1), 1)
    cache = dispatch.KernelCache()
    y = dispatch.conv2d_forward(x, kernel, None, *geometry, cache=cache)
    assert isinstance(cache.kept, conv.KeptPatches)
    dy = standin.asarray(rng.standard_normal(tuple(y.shape)).astype(np.float32))
    with standin.counting() as again:
        recomputed = dispatch.conv2d_backward(dy, x, kernel, *geometry, bias_gradient=False)
    with standin.counting() as reused:
        kept = dispatch.conv2d_backward(dy, x, kernel, *geometry, cache=cache, bias_gradient=False)
    assert again["by_op"]["im2col_2d"] == 1 and "im2col_2d" not in reused["by_op"]
    assert reused["launches"] == again["launches"] - 1
    assert cache.kept is None                       # the patches' memory is let go once used
    for got, want in zip(kept, recomputed):
        np.testing.assert_array_equal(standin.asnumpy(got), standin.asnumpy(want))


def test_patches_kept_for_another_geometry_are_not_used(standin):
    from tinyconv import dispatch
    from tinyconv.kernels import reference
    rng = np.random.default_rng(6)
    x = standin.asarray(rng.standard_normal((2, 6, 6, 3)).astype(np.float32))
    kernel = standin.asarray(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
    cache = dispatch.KernelCache()
    dispatch.conv2d_forward(x, kernel, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, cache=cache)   # "same"
    dy = standin.asarray(rng.standard_normal((2, 4, 4, 4)).astype(np.float32))
    with standin.counting() as record:                                                         # "valid"
        _, dkernel, _ = dispatch.conv2d_backward(dy, x, kernel, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, cache=cache)
    assert record["by_op"]["im2col_2d"] == 1
    backend.set_device("cpu")
    host = [standin.asnumpy(a) for a in (dy, x, kernel)]
    np.testing.assert_allclose(standin.asnumpy(dkernel), reference.conv2d_backward(
        *host, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)[1], rtol=1e-5, atol=1e-5)
