"""Callbacks: code that ``fit`` calls at fixed points of training (Keras's hooks).

``History`` is always attached by ``fit`` and returned by it.  The others, as in Keras 3:
``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau`` (these watch a logged quantity, ``monitor``),
``LearningRateScheduler``, ``CSVLogger``, ``TerminateOnNaN`` and ``LambdaCallback``.  Keras 2's metric names
are understood: ``monitor="val_acc"`` reads ``val_accuracy`` when only that is logged, and the reverse.
"""
from __future__ import annotations

import csv
import inspect
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, TypeAlias

import numpy as np

# What every hook receives: the logged values by name (Python floats; an array for a metric with several
# values; ``{"outputs": ...}`` at on_predict_batch_end).
Logs: TypeAlias = dict[str, Any]

logger = logging.getLogger(__name__)  # "tinyconv.callbacks", under the "tinyconv" logger


class Callback:
    """Base class: override the hooks you need.  ``fit`` / ``evaluate`` / ``predict`` set ``self.model``
    (``set_model``) and ``self.params`` (``set_params``: ``{"verbose", "epochs", "steps"}``).

    Every hook receives a dict ``logs``, as in Keras 3: empty at the ``*_begin`` hooks, the running
    values (``loss``, the metrics) at the ``*_batch_end`` hooks, the epoch's values (with ``val_*``) at
    ``on_epoch_end`` and ``on_train_end``, ``{"outputs": ...}`` at ``on_predict_batch_end``.  Keras 2's
    ``on_batch_begin`` / ``on_batch_end`` are called for every training batch (by the default
    ``on_train_batch_begin`` / ``on_train_batch_end``, as in Keras).

    Example:

    >>> class LossHistory(tinyconv.callbacks.Callback):
    ...     def on_train_begin(self, logs):
    ...         self.losses = []
    ...     def on_batch_end(self, batch, logs):
    ...         self.losses.append(logs["loss"])
    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> recorder = LossHistory()
    >>> _ = model.fit(np.ones((10, 2)), np.ones((10, 1)), batch_size=4, epochs=2, callbacks=[recorder], verbose=0)
    >>> len(recorder.losses)  # 3 batches a epoch
    6
    """

    def __init__(self) -> None:
        # The model being run (typed Any: the models import this module, so it cannot name their class).
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        """Called by ``fit`` / ``evaluate`` / ``predict`` before the first hook: sets ``self.model``.

        Args:
            model: the model being trained, evaluated or run.
        """
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Called before the first hook: sets ``self.params``.

        Args:
            params: a dict ``{"verbose": ..., "epochs": ..., "steps": ...}`` describing the run.
        """
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called once at the start of ``fit``.

        Args:
            logs: a dict: empty.
        """
        pass

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called once at the end of ``fit``.

        Args:
            logs: a dict: the last epoch's values.
        """
        pass

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of every epoch.

        Args:
            epoch: the epoch's index, counted from 0.
            logs: a dict: empty.
        """
        pass

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the end of every epoch, after validation.

        Args:
            epoch: the epoch's index, counted from 0.
            logs: a dict: the epoch's loss and metrics, with ``val_*`` values when there is validation data.
        """
        pass

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Keras 2's name for ``on_train_batch_begin`` (called by it).

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: empty.
        """
        pass

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Keras 2's name for ``on_train_batch_end`` (called by it).

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: the running loss and metrics.
        """
        pass

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before every training batch (calls ``on_batch_begin``).

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: empty.
        """
        self.on_batch_begin(batch, logs=logs)  # Keras 2 callbacks override on_batch_begin

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after every training batch (calls ``on_batch_end``).

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: the epoch's running loss and metrics.
        """
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Called at the start of ``evaluate`` (and of validation in ``fit``).

        Args:
            logs: a dict: empty.
        """
        pass

    def on_test_end(self, logs: Logs | None = None) -> None:
        """Called at the end of ``evaluate`` (and of validation in ``fit``).

        Args:
            logs: a dict: the loss and metrics.
        """
        pass

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before every evaluation batch.

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: empty.
        """
        pass

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after every evaluation batch.

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: the running loss and metrics.
        """
        pass

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Called at the start of ``predict``.

        Args:
            logs: a dict: empty.
        """
        pass

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """Called at the end of ``predict``.

        Args:
            logs: a dict: empty.
        """
        pass

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before every prediction batch.

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: empty.
        """
        pass

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after every prediction batch.

        Args:
            batch: the batch's index within the epoch (or the evaluate / predict run), from 0.
            logs: a dict: ``{"outputs": ...}``, the batch's predictions.
        """
        pass


class PendingLogs(Mapping[str, Any]):
    """The running logs of a training (or evaluation) step, read from the device only when someone looks.

    On the GPU the loss and the metrics stay in device memory while the steps run; reading them is a host
    synchronisation, which stops the CPU until the GPU has caught up.  ``fit`` hands this read-only mapping to
    the progress bar, which reads it only when it redraws; the first read copies every value to the host at
    once (one synchronisation for all of them) and later reads reuse the copy.  Callbacks receive a plain
    dict, read only for the callbacks whose batch hook does something (see ``CallbackList``).

    Args:
        read: a function without arguments returning the logs as ``{name: Python number}``.

    Example:

    >>> logs = tinyconv.callbacks.PendingLogs(lambda: {"loss": 0.25})
    >>> logs["loss"], dict(logs)
    (0.25, {'loss': 0.25})
    """

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self._read = read
        self._values: dict[str, Any] | None = None

    def resolve(self) -> dict[str, Any]:
        """The logs as a plain dict (read from the device on the first call)."""
        if self._values is None:
            self._values = dict(self._read())
        return self._values

    def __getitem__(self, name: str) -> Any:
        return self.resolve()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.resolve())

    def __len__(self) -> int:
        return len(self.resolve())

    def __repr__(self) -> str:
        return f"PendingLogs({self.resolve()!r})" if self._values is not None else "PendingLogs(<not read yet>)"


def _resolve_logs(logs):
    """``logs`` as a plain dict: a ``PendingLogs`` is read (from the device, once), a dict is returned as it is."""
    return logs.resolve() if isinstance(logs, PendingLogs) else logs


# Keras 2's names, which the default training-batch hooks call (so a callback may override either).
_KERAS2_BATCH_HOOKS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _does_something(callback, hook):
    """False when ``callback``'s ``hook`` is the base class's empty one (then its logs need not be read)."""
    for name in (hook, _KERAS2_BATCH_HOOKS.get(hook)):
        if name is not None and (name in vars(callback) or getattr(type(callback), name) is not getattr(Callback, name)):
            return True
    return False


class CallbackList:
    """Forwards every hook to each callback in order, with Keras 3's arguments: ``logs`` is always a dict
    (``{}`` where the loop has nothing to report), passed positionally to the begin/end and epoch hooks
    and as ``logs=`` to the batch hooks.

    ``fit``, ``evaluate`` and ``predict`` build one; a hand-written loop can too.  A batch hook may receive a
    ``PendingLogs`` (values still on the device): the callbacks whose hook does something get it read into a
    plain dict (one host synchronisation for all of them), the callbacks that keep the base class's empty
    hook are skipped, so nothing is read for them.

    Args:
        callbacks: ``Callback`` instances, called in this order.
        model: the model, given to each callback's ``set_model``.
        params: the run's description, given to each callback's ``set_params``.

    Raises:
        TypeError: if one of ``callbacks`` is not a ``Callback``.

    Example:

    >>> seen = []
    >>> printer = tinyconv.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs)))
    >>> hooks = tinyconv.callbacks.CallbackList([printer], model=None, params={"epochs": 1})
    >>> hooks.on_epoch_end(0, {"loss": 0.5})
    >>> seen
    [(0, {'loss': 0.5})]
    """

    _HOOKS = [name for name in vars(Callback) if name.startswith("on_") and "_batch_" in name or
              name in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin",
                       "on_test_end", "on_predict_begin", "on_predict_end")]

    def __init__(self, callbacks: Iterable[Callback], model: Any, params: dict[str, Any]) -> None:
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be tinyconv.callbacks.Callback instances, got {callback!r}")
            callback.set_model(model)
            callback.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        """``hooks.on_epoch_end(epoch, logs)`` and the other hooks: each calls that hook of every callback."""
        if hook not in CallbackList._HOOKS:
            raise AttributeError(hook)

        def call_batch_hook(batch: int, logs: Mapping[str, Any] | None = None) -> None:
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                if isinstance(logs, PendingLogs):
                    if not _does_something(callback, hook):
                        continue
                    logs = logs.resolve()
                getattr(callback, hook)(batch, logs=logs)

        def call_epoch_hook(epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            logs = {} if logs is None else _resolve_logs(logs)
            for callback in self.callbacks:
                getattr(callback, hook)(epoch, logs)

        def call_hook(logs: Mapping[str, Any] | None = None) -> None:
            logs = {} if logs is None else _resolve_logs(logs)
            for callback in self.callbacks:
                getattr(callback, hook)(logs)

        if "_batch_" in hook:
            return call_batch_hook
        return call_epoch_hook if hook.startswith("on_epoch_") else call_hook


class History(Callback):
    """Records the logs of every epoch: ``history.history['loss']`` is a list, one value per epoch.

    ``fit`` always attaches one and returns it.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> history = model.fit(x, y, epochs=3, verbose=0)
    >>> history.epoch, list(history.history), len(history.history["loss"])
    ([0, 1, 2], ['loss'], 3)
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


# ---------------------------------------------------------------------------------------------------------------
# Callbacks that watch a logged quantity ("monitor") and act on it.
# ---------------------------------------------------------------------------------------------------------------

# Besides anything with "acc" in its name, the quantities that get better as they grow; everything else
# (losses, errors) gets better as it shrinks.
_MAXIMIZED = ("auc", "prc", "precision", "recall", "f1_score", "fbeta_score")


def _alias(key):
    """Keras 2 logged 'acc' / 'val_acc' where Keras 3 logs 'accuracy' / 'val_accuracy': the other spelling."""
    if key.endswith("accuracy"):
        return key[:-len("accuracy")] + "acc"
    if key.endswith("acc"):
        return key[:-len("acc")] + "accuracy"
    return None


def _with_aliases(logs):
    """``logs`` plus the other spelling of every accuracy key, for file names like '{val_acc:.2f}'."""
    logs = dict(logs or {})
    for key in list(logs):
        other = _alias(key)
        if other is not None and other not in logs:
            logs[other] = logs[key]
    return logs


def _is_maximized(monitor):
    name = monitor[len("val_"):] if monitor.startswith("val_") else monitor
    return "acc" in name or any(name == stem or name.endswith("_" + stem) for stem in _MAXIMIZED)


class MonitorCallback(Callback):
    """Base of the callbacks that track the best value of ``monitor`` (EarlyStopping, ReduceLROnPlateau,
    ModelCheckpoint).

    mode 'min': lower is better; 'max': higher is better; 'auto': 'max' for accuracy-like names
    ('accuracy', 'val_acc', 'auc', ...), else 'min'.  A value counts as an improvement only if it beats the best
    so far by more than ``min_delta``.

    Args:
        monitor: the logged quantity to watch, such as "val_loss" or "accuracy".
        mode: "auto", "min" or "max" (an unknown mode warns and means "auto").
        baseline: the best value before training starts (None: the first epoch's value).
        min_delta: how much better a value must be to count as an improvement.

    Example:

    >>> watcher = tinyconv.callbacks.MonitorCallback(monitor="val_acc")
    >>> watcher.maximize, watcher.get_monitor_value({"val_accuracy": 0.9})
    (True, 0.9)
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None,
                 min_delta: float = 0) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = baseline
        self.min_delta = abs(min_delta)
        self.maximize = mode == "max" or (mode == "auto" and _is_maximized(monitor))

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self.maximize:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def get_monitor_value(self, logs: Mapping[str, Any] | None) -> Any:
        """The monitored value from ``logs``, accepting the Keras 2 spelling ('val_acc' for 'val_accuracy' and
        the reverse); None, with a warning, when neither is logged.

        Args:
            logs: the dict a hook received.
        """
        logs = logs or {}
        if self.monitor in logs:
            return logs[self.monitor]
        other = _alias(self.monitor)
        if other is not None and other in logs:
            return logs[other]
        warnings.warn(f"{type(self).__name__} is conditioned on metric `{self.monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs)}", stacklevel=3)
        return None


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: the logged quantity to watch.
        min_delta: how much better a value must be to count as an improvement.
        patience: how many epochs without improvement to allow before stopping.
        verbose: 1 prints a line when training stops and when weights are restored.
        mode: "auto", "min" or "max" (see ``MonitorCallback``).
        baseline: the value must also beat this to reset the patience counter.
        restore_best_weights: at the end of training, put back the weights of the best epoch.
        start_from_epoch: epochs to ignore at the start (warm-up).

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> model.compile(optimizer=tinyconv.optimizers.SGD(1e-9), loss="mse")   # a rate too small to improve
    >>> stop = tinyconv.callbacks.EarlyStopping(monitor="loss", patience=1)
    >>> history = model.fit(x, y, epochs=10, callbacks=[stop], verbose=0)
    >>> len(history.epoch), stop.stopped_epoch
    (2, 1)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights: list[Any] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        # reset, so one instance can serve several fit() calls
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # nothing better seen yet: these are the best
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0  # restart the count only when the baseline is beaten too
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the optimizer's learning rate by ``factor`` when ``monitor`` has not improved for ``patience``
    epochs; then wait ``cooldown`` epochs before counting again.  Never goes below ``min_lr``.  Adds
    ``learning_rate`` to the epoch's logs (the rate the epoch ran with).

    Args:
        monitor: the logged quantity to watch.
        factor: the multiplier, below 1.
        patience: how many epochs without improvement to allow before reducing.
        verbose: 1 prints a line at each reduction.
        mode: "auto", "min" or "max" (see ``MonitorCallback``).
        min_delta: how much better a value must be to count as an improvement (Keras 2: ``epsilon``).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the lowest learning rate.
        **kwargs: only Keras 2's ``epsilon``, which warns and means ``min_delta``.

    Raises:
        ValueError: if ``factor`` >= 1.
        TypeError: for another keyword argument.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> reduce = tinyconv.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1.0)
    >>> history = model.fit(x, y, epochs=3, callbacks=[reduce], verbose=0)
    >>> history.history["learning_rate"], model.optimizer.learning_rate
    ([0.01, 0.01, 0.005], 0.0025)
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 **kwargs: Any) -> None:
        if "epsilon" in kwargs:  # Keras 2's name for min_delta
            warnings.warn("ReduceLROnPlateau: `epsilon` is deprecated, use `min_delta` instead", stacklevel=2)
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected keyword argument(s) {sorted(kwargs)}")
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        """True while the callback waits out its ``cooldown`` after a reduction."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_learning_rate(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce_learning_rate(self, epoch):
        optimizer = self.model.optimizer
        old_lr = float(optimizer.learning_rate)
        if old_lr <= np.float32(self.min_lr):
            return False  # already at the floor
        new_lr = max(old_lr * self.factor, self.min_lr)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) after every epoch, or every
    ``save_freq`` batches.

    ``filepath`` may hold ``{epoch:02d}`` (counted from 1) and any logged value, e.g.
    ``'ckpt-{epoch:02d}-{val_loss:.2f}.keras'`` (Keras 2's '{val_acc}' works too).  ``save_best_only``: save
    only when ``monitor`` improves on the best so far (``initial_value_threshold`` seeds the best).

    Args:
        filepath: where to save: a path, maybe with ``{epoch}``, ``{batch}`` and logged values in it.
        monitor: the logged quantity ``save_best_only`` watches.
        verbose: 1 prints a line at each save (or decision not to save).
        save_best_only: save only when ``monitor`` improves.
        save_weights_only: ``model.save_weights`` (the path should end in ``.weights.h5``) instead of
            ``model.save`` (``.keras``).
        mode: "auto", "min" or "max" (see ``MonitorCallback``).
        save_freq: "epoch", or a positive number of batches between saves.
        initial_value_threshold: the value the first save must beat (with ``save_best_only``).

    Raises:
        ValueError: for a ``save_freq`` that is neither "epoch" nor a positive integer.
        KeyError: when saving, if ``filepath`` names a value that is not logged.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> checkpoint = tinyconv.callbacks.ModelCheckpoint("ckpt-{epoch:02d}.weights.h5", save_weights_only=True)
    >>> _ = model.fit(x, y, epochs=2, callbacks=[checkpoint], verbose=0)
    >>> import os; sorted(name for name in os.listdir() if name.startswith("ckpt"))
    ['ckpt-01.weights.h5', 'ckpt-02.weights.h5']
    """

    def __init__(self, filepath: str | os.PathLike[str], monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None) -> None:
        super().__init__(monitor, mode, baseline=initial_value_threshold)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or "
                             f"a positive integer (a number of batches)")
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_since_save = 0
        self._current_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not isinstance(self.save_freq, int):  # "epoch" (the only string __init__ accepts): saved at epoch ends
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _file_path(self, epoch, batch, logs):
        values = _with_aliases(logs)
        if batch is not None and "batch" not in values:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(epoch=epoch + 1, **values)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}. '
                           f"Available keys: {['epoch'] + sorted(values)}") from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = self.get_monitor_value(logs)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IOError(f"Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an "
                          f"existing directory: {filepath}")
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


# ---------------------------------------------------------------------------------------------------------------
# Learning rate, logging, safety, and ad-hoc callbacks.
# ---------------------------------------------------------------------------------------------------------------

def _takes_two_arguments(fn):
    """True when ``fn`` can be called as fn(epoch, lr)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(0, 0.0)
        return True
    except TypeError:
        return False


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)`` (or Keras 2's
    ``schedule(epoch)``); epochs count from 0.  Adds ``learning_rate`` to the epoch's logs.

    Args:
        schedule: a function ``(epoch, lr) -> float`` or ``(epoch) -> float``.
        verbose: 1 prints the new rate every epoch.

    Raises:
        ValueError: when ``schedule`` returns something other than a float.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> halve = tinyconv.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    >>> model.fit(x, y, epochs=3, callbacks=[halve], verbose=0).history["learning_rate"]
    [0.005, 0.0025, 0.00125]
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        if _takes_two_arguments(self.schedule):
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            learning_rate = self.schedule(epoch)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (float, np.floating)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate!r}")
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (from 0) then the logged values in sorted key order.

    ``append=True`` continues an existing file (the header is written only if the file is empty).
    Without validation data the ``val_*`` columns are still there, filled with NA (as Keras).

    Args:
        filename: the CSV file's path.
        separator: the field separator.
        append: add to the file instead of overwriting it.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> _ = model.fit(x, y, epochs=2, callbacks=[tinyconv.callbacks.CSVLogger("log.csv")], verbose=0)
    >>> open("log.csv").read().splitlines()[0]
    'epoch,loss,val_loss'
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys: list[str] | None = None
        self.writer: csv.DictWriter[str] | None = None
        self.csv_file: IO[str] | None = None
        self.append_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as existing:
                self.append_header = not existing.readline()
        else:
            self.append_header = True
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.csv_file is None:
            raise RuntimeError(f"CSVLogger: on_epoch_end({epoch}) came before on_train_begin, which opens "
                               f"{self.filename!r}")
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # as Keras: without validation data, still reserve val_ columns (filled with NA)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            dialect = type("CSVLoggerDialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return f'"[{", ".join(map(str, value))}]"'
    if isinstance(value, np.generic):
        return value.item()
    return value


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite (or raise, with ``raise_error=True``).

    Stopping logs a warning through the ``tinyconv.callbacks`` logger.

    Args:
        raise_error: raise a RuntimeError instead of stopping quietly.

    Raises:
        RuntimeError: with ``raise_error=True``, at the first batch whose loss is not finite.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> history = model.fit(np.full((8, 2), np.nan), y, epochs=3, callbacks=[tinyconv.callbacks.TerminateOnNaN()],
    ...                     verbose=0)
    >>> history.epoch   # stopped during the first epoch
    [0]
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               f"Terminating training immediately.")
        # Not asked for with a verbose flag, so a log record the user can silence, not a print.
        logger.warning("Batch %d: Invalid loss, terminating training", batch)
        self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(logs))``.

    Signatures as in Keras: on_epoch_begin/on_epoch_end(epoch, logs), on_train_batch_begin/end(batch, logs),
    on_train_begin/on_train_end(logs).  Keras 2's on_batch_begin/on_batch_end mean the training-batch hooks.

    Args:
        on_epoch_begin: ``f(epoch, logs)``, or None.
        on_epoch_end: ``f(epoch, logs)``, or None.
        on_train_begin: ``f(logs)``, or None.
        on_train_end: ``f(logs)``, or None.
        on_train_batch_begin: ``f(batch, logs)``, or None.
        on_train_batch_end: ``f(batch, logs)``, or None.
        **kwargs: other hooks by name (``on_test_batch_end=...``, Keras 2's ``on_batch_end=...``); any other
            keyword becomes an attribute.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> printer = tinyconv.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, sorted(logs)))
    >>> _ = model.fit(x, y, epochs=2, callbacks=[printer], verbose=0)
    0 ['loss']
    1 ['loss']
    """

    _INDEXED = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")
    _KERAS2_NAMES = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}

    def __init__(self, on_epoch_begin: Callable[[int, Logs | None], Any] | None = None,
                 on_epoch_end: Callable[[int, Logs | None], Any] | None = None,
                 on_train_begin: Callable[[Logs | None], Any] | None = None,
                 on_train_end: Callable[[Logs | None], Any] | None = None,
                 on_train_batch_begin: Callable[[int, Logs | None], Any] | None = None,
                 on_train_batch_end: Callable[[int, Logs | None], Any] | None = None, **kwargs: Any) -> None:
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}
        for name, fn in kwargs.items():
            hook = self._KERAS2_NAMES.get(name, name)
            if hook in CallbackList._HOOKS:
                hooks[hook] = fn
            else:
                setattr(self, name, fn)  # as Keras: extra keywords become attributes
        for hook, fn in hooks.items():
            if fn is not None:
                setattr(self, hook, self._always_pass_logs(fn, hook in self._INDEXED))

    @staticmethod
    def _always_pass_logs(fn, indexed):
        # fit calls some hooks without logs; Keras's functions always receive them (None when there are none)
        if indexed:
            return lambda index, logs=None: fn(index, logs)
        return lambda logs=None: fn(logs)


# TensorBoard's event-file writing lives in its own module (its writer library, tensorboardX, is optional).
from .tensorboard_callback import TensorBoardHooks  # noqa: E402


class TensorBoard(TensorBoardHooks, Callback):
    __doc__ = TensorBoardHooks.__doc__
