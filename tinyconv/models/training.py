"""Training and inference loops of ``Model``: ``fit`` / ``evaluate`` / ``predict``, the ``*_on_batch``
methods, one training step and the loss gradient that starts backprop.

One training step (``_train_step``) is the whole of backprop:

    y_pred = forward(x)                       layer by layer, keeping what backward needs
    loss   = L(y_true, y_pred)
    dy     = dL/dy_pred                       or, for softmax / sigmoid + cross-entropy, the fused
                                              dL/dz = (p - y) / N straight into the last layer
    backward(dy)                              layer by layer in reverse, each storing its grads
    optimizer.apply(weights, grads)

On the GPU a step runs without waiting for the device: the targets are checked on the host before they are
copied up, the loss and the metrics stay in device memory, and the logs handed to the progress bar and the
callbacks (``callbacks.PendingLogs``) are copied back, all values in one transfer, only when they are read.

``TrainingMixin`` is one half of ``Model`` (``model.py`` is the other: layers, weights, compile, config).
It relies on what ``Model`` provides: ``layers``, ``input_names`` / ``output_names``, ``build``,
``_run_forward`` / ``_run_backward`` / ``_output_layers`` / ``_can_fuse`` (from the subclass),
``_resolved_losses`` / ``_resolved_metrics`` / ``_loss_weights`` (set up by ``compile``),
``_regularization_loss``, ``trainable_weights`` / ``trainable_gradients``, ``optimizer`` and ``_unwrap``.
How raw data becomes batches is ``data.py``'s job.
"""
from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from .. import backend, config, devices, losses as losses_module, metrics as metrics_module
from ..callbacks import Callback, CallbackList, History, PendingLogs
from ..layers import taped
from ..ops.tape import TapedTensor
from . import data as data_module
from .data import ArrayData, BatchData, IndexedBatches
from .progress import EpochProgress

if TYPE_CHECKING:
    from ..losses import Loss
    from ..optimizers import Optimizer

# One logged value: a Python float, or a NumPy array for a metric with several values (an F1 score per class).
LogValue: TypeAlias = float | npt.NDArray[Any]
# What evaluate and the *_on_batch methods return: the loss alone, ``[loss, metric, ...]`` when metrics are
# compiled, or ``{name: value}`` with ``return_dict=True``.
Results: TypeAlias = LogValue | list[LogValue] | dict[str, LogValue]
# What predict returns: one NumPy array for a model with one output, else a list of them (or a dict, for outputs
# given as a dict).  Typed as the one-array case or Any, so that the usual single-output use needs no cast.
Predictions: TypeAlias = npt.NDArray[Any] | Any
# fit's validation_data: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight)``, or a source of batches.
ValidationData: TypeAlias = (tuple[ArrayData, ArrayData] | tuple[ArrayData, ArrayData, npt.ArrayLike | None] |
                             Iterator[Any] | IndexedBatches)


class TrainingMixin:
    """Keras's training API (``fit``, ``evaluate``, ``predict``, ``*_on_batch``) for ``Model``."""

    if TYPE_CHECKING:  # What Model (model.py) and its subclasses provide to these methods.
        name: str
        optimizer: Optimizer | None
        compiled: bool
        stop_training: bool
        history: History | None
        _loss_weights: list[float]
        _metrics: list[tuple[str, int, Any, bool]] | None

        @property
        def layers(self) -> list[Any]: ...
        @property
        def input_names(self) -> list[str]: ...
        @property
        def output_names(self) -> list[str]: ...
        @property
        def built(self) -> bool: ...
        @property
        def losses(self) -> list[Any]: ...
        @property
        def trainable_weights(self) -> list[Any]: ...
        def describe(self) -> str: ...
        def build(self, input_shape: Any = None) -> None: ...
        def trainable_gradients(self) -> list[Any]: ...
        def _run_forward(self, inputs: list[Any], training: bool) -> list[Any]: ...
        def _run_backward(self, output_grads: list[Any], fused: list[bool],
                          need_input_gradients: bool = True) -> list[Any]: ...
        def _output_layers(self) -> list[Any]: ...
        def _can_fuse(self, output_index: int) -> bool: ...
        def _without_call(self) -> bool: ...
        def _require_compiled(self, what: str) -> None: ...
        def _resolved_losses(self) -> list[Loss | None]: ...
        def _resolved_metrics(self, targets: list[Any]) -> list[tuple[str, int, Any, bool]]: ...
        def _regularization_loss(self) -> float: ...
        def _added_loss_total(self) -> float: ...
        def _user_outputs(self, outputs: list[Any]) -> Any: ...
        def _unwrap(self, outputs: list[Any]) -> Any: ...

    # ------------------------------------------------------------- data checks
    def _input_dtype(self):
        return self.layers[0].dtype if self.layers else backend.floatx()

    def _prepare_inputs(self, x, what):
        """One float array per model input (cast once at the model's entrance, as Keras does)."""
        if x is None:
            raise ValueError(f"{what}: x is None")
        if not self.layers:
            raise ValueError(f"{what}: {self.describe()} has no layers")
        if isinstance(x, dict):
            missing = set(self.input_names) - set(x)
            if missing:
                raise ValueError(f"{what}: missing inputs {sorted(missing)}; the model's inputs are {self.input_names}")
            x = [x[name] for name in self.input_names]
        arrays = data_module.as_list(x) if isinstance(x, (list, tuple)) and len(self.input_names) > 1 else [x]
        if len(arrays) != len(self.input_names):
            raise ValueError(f"{what}: {self.describe()} has {len(self.input_names)} inputs "
                             f"{self.input_names}, got {len(arrays)} arrays")
        prepared = []
        for array in arrays:
            array = devices.asarray(array)
            if array.dtype == object:
                raise ValueError(f"{what}: x must be a numeric array, got ragged or object data")
            if array.ndim == 0 or array.shape[0] == 0:
                raise ValueError(f"{what}: x must be a non-empty array with a batch axis, got shape {array.shape}")
            dtype = self._input_dtype()
            prepared.append(array.astype(dtype) if array.dtype != dtype else array)
        sizes = {len(a) for a in prepared}
        if len(sizes) > 1:
            raise ValueError(f"{what}: all inputs must have the same number of samples, got {sorted(sizes)}")
        if not self.built and not self._without_call():  # (a model with no call of its own has nothing to build)
            self.build([(None,) + a.shape[1:] for a in prepared] if len(prepared) > 1
                       else (None,) + prepared[0].shape[1:])
        self._check_input_shapes(prepared, what)
        return [devices.to_device(a) for a in prepared]  # batches go where the weights are

    def _check_input_shapes(self, arrays, what):
        """Each array fits its model input, or an error saying how to fix the usual layout mistakes."""
        shapes = getattr(self, "input_shape", None)
        if shapes is None:
            return
        shapes = shapes if len(arrays) > 1 else [shapes]
        for name, array, expected in zip(self.input_names, arrays, shapes):
            subject = (f"{what}: {self.describe()}: expected input of shape" if len(arrays) == 1
                       else f"{what}: {self.describe()}: input '{name}' expects shape")
            data_module.check_input_shape(array.shape, expected, subject)

    def _trains_without_targets(self):
        """compile() without a loss: the model minimises only the terms its layers add with add_loss."""
        return self.compiled and all(loss is None for loss in self._resolved_losses())

    def _prepare_targets(self, y, n, what):
        if y is None and self._trains_without_targets():
            # compile() without a loss: the model trains on its add_loss terms and needs no targets
            return [np.zeros(n, dtype=np.float32) for _ in self.output_names]
        if y is None:
            raise ValueError(f"{what}: y (the targets) is None")
        if isinstance(y, dict):
            y = [y[name] for name in self.output_names]
        targets = data_module.as_list(y) if isinstance(y, (list, tuple)) and len(self.output_names) > 1 else [y]
        if len(targets) != len(self.output_names):
            raise ValueError(f"{what}: {self.describe()} has {len(self.output_names)} outputs, "
                             f"got {len(targets)} target arrays")
        prepared = []
        for target in targets:
            # Targets already on the GPU stay there (np.asarray would refuse them); NumPy targets are checked
            # here, on the host, and copied up batch by batch (``_on_device``).
            if not devices.is_device_array(target):
                target = np.asarray(target)
                data_module.check_targets_are_numbers(target, what)
            if target.ndim == 0 or target.shape[0] != n:
                raise ValueError(f"{what}: x and y must have the same number of samples, got {n} inputs and "
                                 f"{target.shape[0] if target.ndim else 'a scalar'} targets")
            prepared.append(target)
        return prepared

    def _on_device(self, targets, sample_weight, what):
        """The batch's targets and weights where the model computes: NumPy targets bound for the GPU are checked
        on the host first (the losses' ``check_targets``: labels in range), then copied up once for the
        whole step.  On the CPU they are returned unchanged."""
        if devices.get_device() != "gpu":
            return targets, sample_weight
        moved = []
        for index, target in enumerate(targets):
            if not devices.is_device_array(target):
                loss = self._resolved_losses()[index] if self.compiled else None
                if loss is not None and hasattr(loss, "check_targets"):
                    loss.check_targets(target, self._output_shape_of(index), what)
                target = devices.to_device(target)
            moved.append(target)
        if sample_weight is not None:
            sample_weight = devices.to_device(sample_weight)
        return moved, sample_weight

    def _output_shape_of(self, index):
        """Output ``index``'s shape, or None when the model does not know it."""
        layers = self._output_layers() if hasattr(self, "_output_layers") else []
        return getattr(layers[index], "output_shape", None) if index < len(layers) else None

    def _prepare_sample_weight(self, sample_weight, class_weight, targets, n, what):
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.shape[:1] != (n,):
                raise ValueError(f"{what}: sample_weight must have one entry per sample ({n}), "
                                 f"got shape {weights.shape}")
        if class_weight is not None:
            from_classes = data_module.class_weights_to_sample_weights(class_weight, targets[0])
            weights = from_classes if weights is None else weights * from_classes
        return weights

    # ------------------------------------------------------------- one step
    def _fused(self, index):
        """True when output ``index``'s softmax/sigmoid is fused with its cross-entropy."""
        layer = self._output_layers()[index]
        loss = self._resolved_losses()[index]
        wanted = getattr(loss, "fused_activation", None)
        activation = getattr(layer, "activation", None)
        return (wanted is not None and getattr(activation, "__name__", "") == wanted
                and hasattr(layer, "backward_from_preactivation") and self._can_fuse(index)
                and getattr(layer, "activity_regularizer", None) is None)  # its penalty needs dL/dy

    def _compute_loss(self, targets, outputs, sample_weight):
        """(total, {name_loss: value}): Python floats for host outputs, 0-d device arrays for GPU ones (read only
        when the logs are)."""
        terms, per_output = [], {}
        with losses_module.checked_targets():
            for index, (loss, weight) in enumerate(zip(self._resolved_losses(), self._loss_weights)):
                if loss is None:
                    continue
                value = _loss_value(loss, targets[index], outputs[index], sample_weight)
                per_output[f"{self.output_names[index]}_loss"] = value
                terms.append((weight, value))
        if len(terms) == 1 and terms[0][0] == 1.0:
            return terms[0][1], per_output  # (the loss itself: "0 + 1.0 * loss" would be two launches on a GPU)
        total = 0.0
        for weight, value in terms:
            total = total + weight * (value.astype(np.float64) if devices.is_device_array(value) else value)
        return total, per_output

    def _loss_gradients(self, targets, outputs, sample_weight):
        grads, fused = [], []
        with losses_module.checked_targets():
            for index, (loss, weight) in enumerate(zip(self._resolved_losses(), self._loss_weights)):
                if loss is None:  # an output without a loss (its model trains on add_loss terms): no gradient
                    grads.append(devices.array_module_of(outputs[index]).zeros_like(outputs[index]))
                    fused.append(False)
                    continue
                fused.append(self._fused(index))
                if fused[-1]:
                    logits = self._output_layers()[index]._preactivation
                    gradient = loss.fused_gradient(targets[index], logits, outputs[index], sample_weight=sample_weight)
                else:
                    gradient = loss.gradient(targets[index], outputs[index], sample_weight=sample_weight)
                gradient = devices.asarray(gradient, dtype=outputs[index].dtype)
                grads.append(gradient if weight == 1.0 else weight * gradient)  # (x 1.0 would be one more launch)
        return grads, fused

    def _train_step(self, inputs, targets, sample_weight=None):
        outputs = self._run_forward(inputs, training=True)
        loss_value, per_output = self._compute_loss(targets, outputs, sample_weight)
        loss_value = _plus(loss_value, self._regularization_loss())
        grads, fused = self._loss_gradients(targets, outputs, sample_weight)
        # A training step only needs the weight gradients: the first layers may skip dL/dx.
        self._run_backward(grads, fused, need_input_gradients=False)
        params = self.trainable_weights
        if params:
            if _takes_holders(type(self.optimizer)):
                # On the GPU the optimizer then packs the weights into one flat buffer (repointing the layers'
                # attributes) and updates them all in one fused kernel per step.
                self.optimizer.apply(params, self.trainable_gradients(), holders=[self])
            else:
                self.optimizer.apply(params, self.trainable_gradients())
        return loss_value, per_output, outputs

    # ------------------------------------------------------------- Keras 3's overridable steps
    # A model class may override ``train_step(data)`` / ``test_step(data)`` (Keras's "customizing what happens
    # in fit()"): fit and evaluate then hand each batch to it and report the dict it returns, flattened.
    def _custom_step(self, name):
        """True when the model's class overrides ``train_step`` or ``test_step``."""
        return getattr(type(self), name) is not getattr(TrainingMixin, name)

    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on one batch, as ``fit`` runs it: Keras 3's method to override.

        The built-in step runs forward, the compiled loss, the explicit backward pass and one optimizer
        update, then folds the batch into ``self.metrics``.  Override it to train another way (a GAN, a loss
        computed by hand): use ``self(x, training=True)`` inside a ``GradientTape``, ``self.compute_loss``,
        ``tape.gradient`` and ``self.optimizer.apply(gradients, variables)``, and return a dict of logs.
        ``fit`` then calls the override for every batch, resets ``self.metrics`` before each epoch and
        shows what it returns (a nested dict, such as ``compile_metrics``'s, is flattened).

        Args:
            data: the batch: ``x`` alone (``(x,)`` when ``x`` is a list), ``(x, y)``, or
                ``(x, y, sample_weight)`` when sample or class weights are given.

        Returns:
            A dict ``{name: value}`` of the running values of ``self.metrics``.

        Example:

        >>> class Halved(tinyconv.Model):
        ...     def train_step(self, data):
        ...         logs = super().train_step(data)
        ...         return {"half_loss": logs["loss"] / 2}
        >>> inputs = layers.Input(shape=(2,))
        >>> model = Halved(inputs, layers.Dense(1, kernel_initializer="zeros")(inputs))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.fit(np.ones((4, 2)), np.full((4, 1), 2.0), verbose=0).history
        {'half_loss': [2.0]}
        """
        x, y, sample_weight = unpack_data(data)
        inputs = self._prepare_inputs(x, "train_step")
        targets = self._prepare_targets(y, len(inputs[0]), "train_step")
        weights = self._prepare_sample_weight(sample_weight, None, targets, len(inputs[0]), "train_step")
        targets, weights = self._on_device(targets, weights, "train_step")
        loss_value, _, outputs = self._train_step(inputs, targets, weights)
        return self._step_logs(loss_value, targets, outputs, weights)

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step on one batch, as ``evaluate`` runs it: Keras 3's method to override.

        The built-in step computes the outputs in inference mode and folds the loss and the compiled metrics
        into ``self.metrics``.  ``evaluate`` (and fit's validation) call an override for every batch, after
        resetting ``self.metrics``, and report what the last call returns.

        Args:
            data: the batch, as ``train_step`` receives it.

        Returns:
            A dict ``{name: value}`` of the running values of ``self.metrics``.

        Example:

        >>> class Doubled(tinyconv.Model):
        ...     def test_step(self, data):
        ...         x, y = data
        ...         return {"twice": 2 * float(self.compute_loss(y=y, y_pred=self(x, training=False)))}
        >>> inputs = layers.Input(shape=(2,))
        >>> model = Doubled(inputs, layers.Dense(1, kernel_initializer="zeros")(inputs))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.evaluate(np.ones((4, 2)), np.full((4, 1), 2.0), verbose=0, return_dict=True)
        {'twice': 8.0}
        """
        x, y, sample_weight = unpack_data(data)
        inputs = self._prepare_inputs(x, "test_step")
        targets = self._prepare_targets(y, len(inputs[0]), "test_step")
        weights = self._prepare_sample_weight(sample_weight, None, targets, len(inputs[0]), "test_step")
        targets, weights = self._on_device(targets, weights, "test_step")
        outputs = self._run_forward(inputs, training=False)
        loss_value, _ = self._compute_loss(targets, outputs, weights)
        return self._step_logs(_plus(loss_value, self._regularization_loss()), targets, outputs, weights)

    def _step_logs(self, loss_value, targets, outputs, weights):
        """Fold one batch into ``self.metrics`` (the loss into the loss tracker) and return their results."""
        for metric in self.metrics:
            if metric is getattr(self, "_loss_tracker", None):
                metric.update_state(loss_value)
            elif isinstance(metric, CompiledMetrics):
                metric.update_state(targets, outputs, sample_weight=weights)
        return {metric.name: metric.result() for metric in self.metrics}

    @property
    def metrics(self) -> list[Any]:
        """The metric objects ``fit`` and ``evaluate`` reset and report (Keras 3's ``model.metrics``).

        Once compiled: the loss tracker (a ``Mean`` named ``"loss"``), then the metrics given to ``compile`` as
        one object named ``"compile_metrics"`` (its ``result()`` is a dict), then the metric objects held in
        the model's attributes (``self.loss_tracker = metrics.Mean(name="loss")``).  A custom ``train_step``
        updates them; override this property to list exactly the ones to reset before each epoch.

        Example:

        >>> inputs = layers.Input(shape=(2,))
        >>> model = tinyconv.Model(inputs, layers.Dense(1)(inputs))
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        >>> [metric.name for metric in model.metrics]
        ['loss', 'compile_metrics']
        """
        found = []
        if getattr(self, "compiled", False):
            found += [m for m in (getattr(self, "_loss_tracker", None), getattr(self, "_compile_metrics", None))
                      if m is not None]
        found += [value for value in vars(self).values() if isinstance(value, metrics_module.Metric)
                  and all(value is not m for m in found)]
        return found

    @property
    def metrics_names(self) -> list[str]:
        """The names of ``self.metrics``, in order."""
        return [metric.name for metric in self.metrics]

    def reset_metrics(self) -> None:
        """Empty every object in ``self.metrics`` (fit does it before each epoch, evaluate before it starts)."""
        for metric in self.metrics:
            metric.reset_state()

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: npt.ArrayLike | None = None,
                     training: bool = True) -> Any:
        """The total loss of a batch: the compiled loss(es) of ``y`` and ``y_pred``, weighted, plus
        ``self.losses`` (``add_loss`` terms, activity and weight penalties), as Keras 3's ``compute_loss``.

        Called inside a ``GradientTape`` on the ``y_pred`` of ``self(x, training=True)``, the result is on the
        tape: ``tape.gradient(loss, self.trainable_variables)`` then holds the gradients of the compiled loss
        and of every penalty (the ``add_loss`` terms and activity penalties reach the weights through the
        model's backward pass, the weight penalties through a step of their own).

        Args:
            x: the inputs (unused by this implementation; Keras passes them for overrides).
            y: the targets: an array, or a list / dict keyed by output name for several outputs.
            y_pred: the model's outputs, in the same structure.
            sample_weight: optional per-sample weights.
            training: whether the step trains (unused by this implementation).

        Returns:
            The loss: on the tape when ``y_pred`` is, else a float.

        Raises:
            ValueError: when there is nothing to minimise (no compiled loss and no added losses).

        Example:

        >>> inputs = layers.Input(shape=(2,))
        >>> model = tinyconv.Model(inputs, layers.Dense(1, kernel_initializer="zeros")(inputs))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> float(model.compute_loss(y=np.full((3, 1), 2.0), y_pred=model(np.ones((3, 2)))))
        4.0
        """
        del x, training  # (Keras's signature: an override may use them)
        terms = []
        if getattr(self, "compiled", False) and any(loss is not None for loss in self._resolved_losses()):
            if y is None or y_pred is None:
                raise ValueError(f"compute_loss: {self.describe()} has a compiled loss, so it needs y and y_pred "
                                 f"(got y={'None' if y is None else 'given'}, "
                                 f"y_pred={'None' if y_pred is None else 'given'})")
            targets = [taped.bare(t) for t in self._per_output_values(y, "y")]
            predictions = self._per_output_values(y_pred, "y_pred")
            weights = None if sample_weight is None else taped.bare(sample_weight)
            for index, (loss, factor) in enumerate(zip(self._resolved_losses(), self._loss_weights)):
                if loss is not None:
                    value = loss(targets[index], predictions[index], sample_weight=weights)
                    terms.append(value if factor == 1.0 else value * factor)
        tape = next((t.tape for t in taped.flatten(y_pred) if isinstance(t, TapedTensor)), None) \
            if y_pred is not None else None
        penalty = self._weight_penalty_on(tape) if tape is not None else \
            sum(float(layer.regularization_losses()) for layer in self.layers if hasattr(layer, "regularization_losses"))
        others = getattr(self, "_activity_loss", 0.0) + self._added_loss_total()
        if not terms and not self.losses:
            raise ValueError(f"compute_loss: no loss to compute for {self.describe()}; provide a `loss` argument "
                             "in compile() or add losses with add_loss()")
        total: Any = terms[0] if terms else 0.0  # a float, or a value on the tape
        for term in terms[1:]:
            total = total + term
        if isinstance(penalty, TapedTensor) or penalty:
            total = total + penalty
        return total + others if others else total

    def _per_output_values(self, value, what):
        """``y`` or ``y_pred`` as a list with one entry per output (from an array, a list or a dict)."""
        names = self.output_names
        if isinstance(value, dict):
            missing = [name for name in names if name not in value]
            if missing:
                raise ValueError(f"compute_loss: {what} has no entry for the outputs {missing} of {self.describe()} "
                                 f"(its keys: {sorted(value)})")
            return [value[name] for name in names]
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                raise ValueError(f"compute_loss: {what} has {len(value)} entries for the {len(names)} outputs "
                                 f"{names} of {self.describe()}")
            return list(value)
        return [value]

    def _weight_penalty_on(self, tape):
        """The weight-regularization penalty, recorded on ``tape`` as one step whose backward adds dR/dw to each
        penalised weight's gradient (0.0 when no weight has a regularizer)."""
        from . import subclassed  # (the owner walk that also enters nested models)

        penalised = [(owner, weight) for owner, own in subclassed.weight_owners_of_model(self)
                     if owner.trainable and getattr(owner, "regularizers", None)
                     for weight in own if weight.trainable and weight.name in owner.regularizers]
        if not penalised or not self.trainable:
            return 0.0
        value = sum(float(owner.regularizers[weight.name](weight.value)) for owner, weight in penalised)
        # A weight met as a leaf of this tape (a custom layer run on it) takes its gradient there; the weights
        # of layers recorded as one step take it with that step's gradients, by layer.
        leaves = {id(variable) for variable in tape.variables()}
        leaf_weights = [weight for _, weight in penalised if id(weight) in leaves]

        def backward(upstream):
            scale = upstream[0]
            for owner, weight in penalised:
                if id(weight) in leaves:
                    continue
                gradient = scale * owner.regularizers[weight.name].gradient(weight.value)
                entry = tape.layer_grads.setdefault(id(owner), (owner, {}))
                entry[1][weight.name] = gradient if weight.name not in entry[1] else entry[1][weight.name] + gradient
            return [scale * owner.regularizers[weight.name].gradient(weight.value)
                    for owner, weight in penalised if id(weight) in leaves]

        return tape.record("weight penalties", [tape.leaf_for(w) for w in leaf_weights],
                           np.asarray(value, dtype=backend.floatx()), backward)

    def _run_step(self, step, batch, class_weight, what):
        """Hand one batch to an overridden ``train_step`` / ``test_step``; its logs, flattened, as numbers."""
        x, y, sample_weight = batch
        inputs = self._prepare_inputs(x if len(x) > 1 else x[0], what)
        targets = None
        if y is not None:
            targets = [_standard_dtype(np.asarray(devices.to_host(t))) for t in y]
            for target in targets:
                if target.ndim == 0 or len(target) != len(inputs[0]):
                    raise ValueError(f"{what}: x and y must have the same number of samples, got {len(inputs[0])} "
                                     f"inputs and {len(target) if target.ndim else 'a scalar'} targets")
            sample_weight = self._prepare_sample_weight(sample_weight, class_weight, targets, len(inputs[0]), what)
        data = pack_data(inputs, targets, sample_weight)
        return flatten_logs(step(data), what)

    # ------------------------------------------------------------- one batch
    def _update_metrics(self, targets, outputs, sample_weight):
        """Fold one batch into every compiled metric object (``weighted_metrics`` also get the weights).

        On the GPU the metrics that take device arrays (``Metric.runs_on_device``) compute there and keep their
        state there; the others get host copies of the batch (a host synchronisation each step)."""
        with losses_module.checked_targets():
            for _, index, metric, weighted in self._resolved_metrics(targets):
                weights = sample_weight if weighted else None
                if getattr(metric, "runs_on_device", False):
                    metric.update_state(targets[index], outputs[index], sample_weight=weights)
                else:
                    metric.update_state(devices.to_host(targets[index]), devices.to_host(outputs[index]),
                                        sample_weight=None if weights is None else devices.to_host(weights))

    def _reset_metrics(self):
        """Empty the compiled metrics' state (before each epoch and each evaluation, as Keras)."""
        for _, _, metric, _ in getattr(self, "_metrics", None) or []:
            metric.reset_state()

    def _metric_logs(self):
        return host_logs(self._metric_results())

    def _metric_results(self):
        """``{log name: result}`` of the compiled metrics, each where it was computed (not read yet)."""
        return {name: metric.result() for name, _, metric, _ in self._metrics or []}

    def _batch_logs(self, targets, outputs, sample_weight):
        """The compiled metrics over this one batch, by log name, not read yet (``train_on_batch`` /
        ``test_on_batch`` read them with the loss, in one transfer)."""
        self._resolved_metrics(targets)
        self._reset_metrics()
        self._update_metrics(targets, outputs, sample_weight)
        return self._metric_results()

    def train_on_batch(self, x: ArrayData, y: ArrayData | None = None, sample_weight: npt.ArrayLike | None = None,
                       class_weight: Mapping[int, float] | None = None, return_dict: bool = False) -> Results:
        """Run one training step on one batch: forward, loss, backward, one optimizer update.

        The whole of ``x`` is one batch (it is not split). Each layer's gradients are overwritten
        by this step's backward pass (not accumulated across calls), then the optimizer applies them.
        Where the last layer's softmax (or sigmoid) meets its cross-entropy, the two are fused: backprop
        starts from ``(p - y) / N`` on the logits.

        Args:
            x: input array (batch axis first), a list of arrays, or a dict keyed by input name.
            y: target array, a list of them, or a dict keyed by output name.
            sample_weight: optional array with one weight per sample.
            class_weight: optional dict ``{class index: weight}``, turned into per-sample weights.
            return_dict: if True, return ``{name: value}``; otherwise the loss alone, or a list
                ``[loss, metric, ...]`` when metrics are compiled.

        Returns:
            The loss (with the weight penalties) and the metrics of this batch, measured during
            the forward pass (before the update).

        Raises:
            RuntimeError: if the model is not compiled.
            ValueError: if ``x`` and ``y`` are missing, empty, of the wrong shape, or of different lengths.

        Example:

        >>> tinyconv.utils.set_random_seed(0)
        >>> model = tinyconv.Sequential([layers.Input(shape=(4,)), layers.Dense(2, activation="softmax")])
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> logs = model.train_on_batch(np.ones((8, 4)), np.zeros(8), return_dict=True)
        >>> sorted(logs)
        ['accuracy', 'loss']
        """
        self._require_compiled("train_on_batch")
        if self._custom_step("train_step"):
            return self._format_result(self._step_on_batch(self.train_step, x, y, sample_weight, class_weight,
                                                           "train_on_batch"), return_dict)
        inputs = self._prepare_inputs(x, "train_on_batch")
        targets = self._prepare_targets(y, len(inputs[0]), "train_on_batch")
        weights = self._prepare_sample_weight(sample_weight, class_weight, targets, len(inputs[0]),
                                              "train_on_batch")
        targets, weights = self._on_device(targets, weights, "train_on_batch")
        loss_value, per_output, outputs = self._train_step(inputs, targets, weights)
        logs = {"loss": loss_value, **(per_output if len(per_output) > 1 else {}),
                **self._batch_logs(targets, outputs, weights)}
        return self._format_result(host_logs(logs), return_dict)  # (one host synchronisation on the GPU)

    def test_on_batch(self, x: ArrayData, y: ArrayData | None = None, sample_weight: npt.ArrayLike | None = None,
                      return_dict: bool = False) -> Results:
        """Loss and metrics of the model on one batch, in inference mode (no weight changes).

        Args:
            x: input array, a list of arrays, or a dict keyed by input name.
            y: target array, a list of them, or a dict keyed by output name.
            sample_weight: optional array with one weight per sample.
            return_dict: if True, return ``{name: value}``; otherwise the loss alone, or a list
                ``[loss, metric, ...]`` when metrics are compiled.

        Returns:
            The loss (weight penalties included) and the metrics of this batch.

        Raises:
            RuntimeError: if the model is not compiled.
            ValueError: if the data is missing or does not fit the model.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(1, kernel_initializer="zeros")])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.test_on_batch(np.ones((4, 3)), np.full((4, 1), 2.0))
        4.0
        """
        self._require_compiled("test_on_batch")
        if self._custom_step("test_step"):
            return self._format_result(self._step_on_batch(self.test_step, x, y, sample_weight, None,
                                                           "test_on_batch"), return_dict)
        inputs = self._prepare_inputs(x, "test_on_batch")
        targets = self._prepare_targets(y, len(inputs[0]), "test_on_batch")
        weights = self._prepare_sample_weight(sample_weight, None, targets, len(inputs[0]), "test_on_batch")
        targets, weights = self._on_device(targets, weights, "test_on_batch")
        outputs = self._run_forward(inputs, training=False)
        loss_value, per_output = self._compute_loss(targets, outputs, weights)
        logs = {"loss": _plus(loss_value, self._regularization_loss()), **(per_output if len(per_output) > 1 else {}),
                **self._batch_logs(targets, outputs, weights)}
        return self._format_result(host_logs(logs), return_dict)

    def _step_on_batch(self, step, x, y, sample_weight, class_weight, what):
        """One whole batch through an overridden step (``*_on_batch``)."""
        x = [x[name] for name in self.input_names] if isinstance(x, dict) else x
        xs = data_module.as_list(x) if isinstance(x, (list, tuple)) and len(self.input_names) > 1 else [x]
        several = isinstance(y, (list, tuple)) and all(hasattr(item, "shape") for item in y)
        ys = None if y is None else (list(y) if several else [y])
        return self._run_step(step, (xs, ys, sample_weight), class_weight, what)

    def predict_on_batch(self, x: ArrayData) -> Predictions:
        """The model's outputs for one batch, in inference mode (dropout off, batch norm uses its moving statistics).

        Args:
            x: input array, a list of arrays, or a dict keyed by input name; all of it is one batch.

        Returns:
            A NumPy array (moved back to the host when the model runs on the GPU), or a list
            of arrays for a model with several outputs.

        Raises:
            ValueError: if ``x`` is missing, empty or of the wrong shape.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2, kernel_initializer="ones")])
        >>> model.predict_on_batch(np.ones((5, 3)))[0]
        array([3., 3.], dtype=float32)
        """
        outputs = self._run_forward(self._prepare_inputs(x, "predict_on_batch"), training=False)
        return self._user_outputs([devices.to_host(y) for y in outputs])  # predict returns NumPy

    @staticmethod
    def _format_result(logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------- batches
    def _batches_for(self, x, y, sample_weight, class_weight, batch_size, shuffle, steps, what):
        """A batch source plus, for arrays, the prepared arrays (for validation_split)."""
        if data_module.is_batch_source(x):
            if y is not None:
                raise ValueError(f"{what}: when x is a generator or Sequence, y must be None "
                                 "(the generator yields (x, y) pairs)")
            return data_module.SourceBatches(x, steps)
        inputs = self._prepare_inputs(x, what)
        targets = self._prepare_targets(y, len(inputs[0]), what) if y is not None else None
        weights = (self._prepare_sample_weight(sample_weight, class_weight, targets, len(inputs[0]), what)
                   if targets is not None else None)
        batches = data_module.ArrayBatches(inputs, targets, weights, batch_size, shuffle)
        batches.steps_cap = steps  # Keras's steps_per_epoch / steps on arrays: at most that many batches per epoch
        return batches

    def _check_batch_size(self, batch_size, what):
        batch_size = 32 if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"{what}: batch_size must be positive, got {batch_size!r}")
        return int(batch_size)

    def _prepare_batch(self, batch, class_weight, what):
        x, y, sample_weight = batch
        inputs = self._prepare_inputs(x if len(x) > 1 else x[0], what)
        if y is None:
            return inputs, None, None
        targets = self._prepare_targets(y if len(y) > 1 else y[0], len(inputs[0]), what)
        weights = self._prepare_sample_weight(sample_weight, class_weight, targets, len(inputs[0]), what)
        targets, weights = self._on_device(targets, weights, what)
        return inputs, targets, weights

    # ------------------------------------------------------------- loops
    def fit(self, x: BatchData | None = None, y: ArrayData | None = None, batch_size: int | None = None,
            epochs: int = 1, verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: ValidationData | None = None, shuffle: bool = True,
            class_weight: Mapping[int, float] | None = None, sample_weight: npt.ArrayLike | None = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_batch_size: int | None = None, validation_freq: int = 1, **kwargs: Any) -> History:
        """Train the model for a number of epochs: every batch runs one training step (see ``train_on_batch``).

        The arrays are split into batches of ``batch_size`` (the last one may be smaller) and, with
        ``shuffle=True``, reshuffled before each epoch. Each step overwrites every layer's gradients
        with its own backward pass and the optimizer applies them at once; nothing accumulates from
        one step to the next.

        Args:
            x: input array (batch axis first), a list of arrays or a dict keyed by input name; or a
                generator / ``Sequence`` yielding ``(x, y)`` or ``(x, y, sample_weight)`` batches.
            y: targets (array, list or dict by output name); must be None when ``x`` yields batches.
            batch_size: samples per step; None means 32. Ignored for generators.
            epochs: index of the epoch to stop at (training runs epochs ``initial_epoch .. epochs - 1``).
            verbose: ``"auto"`` or 1 (a progress bar), 2 (one line per epoch), 0 (silent).
            callbacks: list of ``tinyconv.callbacks.Callback``; a ``History`` is always added.
            validation_split: fraction in (0, 1) of the *last* samples (taken before shuffling) kept out
                of training and evaluated at the end of each epoch. Arrays only.
            validation_data: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight)`` or a generator,
                evaluated at the end of each epoch; takes precedence over ``validation_split``.
            shuffle: reshuffle the training arrays before each epoch.
            class_weight: optional dict ``{class index: weight}`` scaling each sample's loss.
            sample_weight: optional array with one weight per training sample.
            initial_epoch: epoch to start from (to resume a previous run).
            steps_per_epoch: batches per epoch when ``x`` is a generator (default: its length).
            validation_steps: batches drawn from a validation generator.
            validation_batch_size: batch size for the validation arrays (default: ``batch_size``).
            validation_freq: evaluate the validation data every this many epochs.

        Returns:
            A ``History`` whose ``history`` dict holds, for each logged name (``loss``, the metrics,
            ``val_loss``...), one value per epoch: the average over that epoch's batches.

        Raises:
            RuntimeError: if the model is not compiled.
            ValueError: for missing or inconsistent data, a non-positive ``batch_size``, a negative
                ``epochs`` or a ``validation_split`` outside (0, 1).
            TypeError: for a keyword argument ``fit`` does not know.

        Example:

        >>> tinyconv.utils.set_random_seed(0)
        >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
        >>> y = x.sum(axis=1, keepdims=True)
        >>> history = model.fit(x, y, epochs=3, batch_size=2, verbose=0)
        >>> len(history.history["loss"])
        3
        """
        self._require_compiled("fit")
        if kwargs:
            raise TypeError(f"fit: unexpected keyword argument(s) {sorted(kwargs)}")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = self._check_batch_size(batch_size, "fit")
        if isinstance(epochs, bool) or int(epochs) < 0:
            raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
        epochs = int(epochs) if config.max_epochs() is None else min(int(epochs), config.max_epochs())
        custom = self._custom_step("train_step")  # a model class with its own train_step: y may be absent
        if y is None and not custom and self._trains_without_targets() and x is not None and \
                not callable(getattr(x, "__next__", None)):
            first: Any = (data_module.as_list(x)[0] if isinstance(x, (list, tuple)) else
                          next(iter(x.values())) if isinstance(x, dict) else x)
            y = np.zeros(len(first), dtype=np.float32)
        source = self._batches_for(x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch, "fit")
        if isinstance(source, data_module.ArrayBatches):
            if source.targets is None and not custom:
                raise ValueError("fit: y (the targets) is None")
            if validation_data is None and validation_split:
                source, validation_data = self._split_off_validation(source, validation_split)
        elif validation_split:
            raise ValueError("fit: validation_split needs array data; pass validation_data with a generator")
        validation = None
        if validation_data is not None:
            validation = self._validation_source(validation_data, validation_batch_size or batch_size,
                                                 validation_steps)

        history = History()
        params = {"verbose": verbose, "epochs": epochs, "steps": _steps(source)}
        callback_list = CallbackList(list(callbacks or []) + [history], self, params)
        self.stop_training = False
        callback_list.on_train_begin()
        epoch_logs: dict[str, Any] = {}
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            progress = EpochProgress(verbose, _steps(source), f"Epoch {epoch + 1}/{epochs}")
            trackers: dict[str, Any] = {}
            logs: Mapping[str, Any] = {}
            if custom:
                self.reset_metrics()  # every object in self.metrics (a property the model may override)
            else:
                self._reset_metrics()
            for step, batch in enumerate(_epoch(source)):
                callback_list.on_train_batch_begin(step)
                if custom:  # the model's own step; its logs are running values, the last are the epoch's
                    logs = self._run_step(self.train_step, batch, class_weight, "fit")
                    progress.update(step, logs)
                    callback_list.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                    continue
                inputs, targets, weights = self._prepare_batch(batch, class_weight, "fit")
                if targets is None:
                    raise ValueError("fit: the data yields no targets; yield (x, y) pairs")
                loss_value, per_output, outputs = self._train_step(inputs, targets, weights)
                logs = self._track(trackers, loss_value, per_output, targets, outputs, weights, len(inputs[0]))
                progress.update(step, logs)  # (reads the logs only when it redraws)
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs) if custom else self._logs(trackers)
            if validation is not None and (epoch + 1) % validation_freq == 0:
                callback_list.on_test_begin()  # Keras runs the validation as an evaluate() with fit's callbacks
                val_logs = self._evaluate_source(validation, callback_list=callback_list)
                callback_list.on_test_end(val_logs)
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            progress.close(epoch_logs)
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end(epoch_logs)
        history.params = params
        self.history = history
        return history

    def _split_off_validation(self, source, validation_split):
        if not 0 < validation_split < 1:
            raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
        # Keras holds out the *last* samples, before any shuffling.
        split = int(source.size * (1 - validation_split))
        if split == 0 or split == source.size:
            raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation "
                             f"samples out of {source.size}")
        weights = source.sample_weight
        train = data_module.ArrayBatches([x[:split] for x in source.inputs], [y[:split] for y in source.targets],
                                         None if weights is None else weights[:split], source.batch_size,
                                         source.shuffle)
        held_out = ([x[split:] for x in source.inputs], [y[split:] for y in source.targets],
                    None if weights is None else weights[split:])
        return train, held_out

    def _validation_source(self, validation_data, batch_size, steps):
        if data_module.is_batch_source(validation_data):
            return data_module.SourceBatches(validation_data, steps)
        if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, weights)")
        x_val, y_val = validation_data[0], validation_data[1]
        weights = validation_data[2] if len(validation_data) == 3 else None
        if isinstance(x_val, list) and len(self.input_names) == 1 and not isinstance(x_val[0], np.ndarray):
            x_val = np.asarray(x_val)
        inputs = self._prepare_inputs(x_val if len(self.input_names) > 1 or not isinstance(x_val, list)
                                      else x_val[0], "fit (validation_data)")
        targets = self._prepare_targets(y_val if len(self.output_names) > 1 or not isinstance(y_val, list)
                                        else y_val[0], len(inputs[0]), "fit (validation_data)")
        weights = self._prepare_sample_weight(weights, None, targets, len(inputs[0]), "fit (validation_data)")
        return data_module.ArrayBatches(inputs, targets, weights, batch_size, shuffle=False)

    def _track(self, trackers, loss_value, per_output, targets, outputs, weights, count):
        """Fold one batch into the running epoch values (losses averaged by batch size, the compiled
        metric objects updated); return the logs so far, read only when someone looks (``PendingLogs``)."""
        # (float64 running means: a float64 model's loss is reported to its full precision)
        # (the step's losses are fresh: on the GPU they wait on the device until the logs are read)
        trackers.setdefault("loss", metrics_module.Mean(dtype="float64"))._update_with_fresh(loss_value,
                                                                                           sample_weight=count)
        if len(per_output) > 1:
            for name, value in per_output.items():
                trackers.setdefault(name, metrics_module.Mean(dtype="float64"))._update_with_fresh(
                    value, sample_weight=count)
        self._update_metrics(targets, outputs, weights)
        return PendingLogs(lambda: self._logs(trackers))

    def _logs(self, trackers):
        """Losses, then the compiled metrics, as Python numbers (what callbacks and History receive), read from
        the device in one transfer."""
        return host_logs({**{name: tracker.result() for name, tracker in trackers.items()}, **self._metric_results()})

    def _evaluate_source(self, source, callback_list, progress=None):
        if self._custom_step("test_step"):
            return self._evaluate_with_test_step(source, callback_list, progress)
        trackers = {}
        self._reset_metrics()
        for step, batch in enumerate(_epoch(source)):
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            inputs, targets, weights = self._prepare_batch(batch, None, "evaluate")
            if targets is None:
                raise ValueError("evaluate: the data yields no targets; yield (x, y) pairs")
            outputs = self._run_forward(inputs, training=False)
            loss_value, per_output = self._compute_loss(targets, outputs, weights)
            logs = self._track(trackers, _plus(loss_value, self._regularization_loss()), per_output, targets,
                               outputs, weights, len(inputs[0]))
            if callback_list is not None:
                callback_list.on_test_batch_end(step, logs)
            if progress is not None:
                progress.update(step, logs)
        return self._logs(trackers)

    def _evaluate_with_test_step(self, source, callback_list, progress):
        """``evaluate`` with the model's own ``test_step``: ``self.metrics`` reset first, the last logs returned."""
        self.reset_metrics()
        logs = {}
        for step, batch in enumerate(_epoch(source)):
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            logs = self._run_step(self.test_step, batch, None, "evaluate")
            if callback_list is not None:
                callback_list.on_test_batch_end(step, logs)
            if progress is not None:
                progress.update(step, logs)
        return logs

    def evaluate(self, x: BatchData | None = None, y: ArrayData | None = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: npt.ArrayLike | None = None, steps: int | None = None,
                 callbacks: Sequence[Callback] | None = None, return_dict: bool = False, **kwargs: Any) -> Results:
        """Loss and metrics of the model over a whole data set, in inference mode (no weight changes).

        Each value is the average over all samples (batches weighted by their size).

        Args:
            x: input array, a list of arrays, a dict keyed by input name, or a generator / ``Sequence``
                yielding ``(x, y)`` batches.
            y: targets; must be None when ``x`` yields batches.
            batch_size: samples per batch; None means 32 (the result does not depend on it).
            verbose: ``"auto"`` or 1 (a progress bar), 0 (silent).
            sample_weight: optional array with one weight per sample.
            steps: batches to draw from a generator (default: its length).
            callbacks: list of callbacks; their ``on_test_*`` methods are called.
            return_dict: if True, return ``{name: value}``; otherwise the loss alone, or a list
                ``[loss, metric, ...]`` when metrics are compiled.

        Returns:
            The loss (weight penalties included) and metrics, as a number, a list or a dict.

        Raises:
            RuntimeError: if the model is not compiled.
            ValueError: if the data is missing, does not fit the model, or ``batch_size`` is not positive.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)),
        ...                               layers.Dense(2, activation="softmax", kernel_initializer="zeros")])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> loss, accuracy = model.evaluate(np.ones((6, 3)), np.zeros(6), verbose=0)
        >>> round(loss, 4)  # two equal probabilities: -log(1/2)
        0.6931
        """
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = self._check_batch_size(batch_size, "evaluate")
        source = self._batches_for(x, y, sample_weight, None, batch_size, False, steps, "evaluate")
        if isinstance(source, data_module.ArrayBatches) and source.targets is None and \
                not self._custom_step("test_step"):
            raise ValueError("evaluate: y (the targets) is None")
        callback_list = CallbackList(list(callbacks or []), self, {"verbose": verbose, "epochs": 1,
                                                                   "steps": _steps(source)})
        callback_list.on_test_begin()
        progress = EpochProgress(verbose, _steps(source), "Evaluate")
        logs = self._evaluate_source(source, callback_list, progress)
        progress.close(logs)
        callback_list.on_test_end(logs)
        return self._format_result(logs, return_dict)

    def predict(self, x: BatchData, batch_size: int | None = None, verbose: int | str = "auto",
                steps: int | None = None, callbacks: Sequence[Callback] | None = None) -> Predictions:
        """The model's outputs for every sample of ``x``, computed batch by batch in inference mode.

        Args:
            x: input array, a list of arrays, a dict keyed by input name, or a generator / ``Sequence``
                yielding batches (an ``(x, y)`` pair's ``y`` is ignored).
            batch_size: samples per batch; None means 32 (the result does not depend on it).
            verbose: ``"auto"`` or 1 (a progress bar), 0 (silent).
            steps: batches to draw from a generator (default: its length).
            callbacks: list of callbacks; their ``on_predict_*`` methods are called.

        Returns:
            One NumPy array with a row per sample (a list of arrays for several outputs). Nothing is
            rounded or arg-maxed: a softmax output gives probabilities.

        Raises:
            ValueError: if ``x`` is missing, empty or does not fit the model, or yields no batches.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
        >>> probabilities = model.predict(np.zeros((10, 4)), batch_size=4, verbose=0)
        >>> probabilities.shape
        (10, 3)
        >>> np.round(probabilities.sum(axis=1), 5)
        array([1., 1., 1., 1., 1., 1., 1., 1., 1., 1.], dtype=float32)
        """
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = self._check_batch_size(batch_size, "predict")
        source = self._batches_for(x, None, None, None, batch_size, False, steps, "predict")
        callback_list = CallbackList(list(callbacks or []), self, {"verbose": verbose, "epochs": 1,
                                                                   "steps": _steps(source)})
        callback_list.on_predict_begin()
        progress = EpochProgress(verbose, _steps(source), "Predict")
        collected: list[list[npt.NDArray[Any]]] | None = None
        for step, batch in enumerate(_epoch(source)):
            callback_list.on_predict_batch_begin(step)
            inputs = self._prepare_batch((batch[0], None, None), None, "predict")[0]
            outputs = self._run_forward(inputs, training=False)
            collected = [[] for _ in outputs] if collected is None else collected
            for store, output in zip(collected, outputs):
                store.append(devices.to_host(output))  # predict returns NumPy
            progress.update(step, {})
            callback_list.on_predict_batch_end(step, {"outputs": self._unwrap([devices.to_host(y) for y in outputs])})
        progress.close({})
        callback_list.on_predict_end()
        if collected is None:
            raise ValueError("predict: the data produced no batches")
        return self._user_outputs([np.concatenate(parts, axis=0) for parts in collected])

    # Keras 2 spellings, kept for the scripts courses still hand out.
    def fit_generator(self, generator: Iterator[Any] | IndexedBatches, steps_per_epoch: int | None = None,
                      epochs: int = 1, verbose: int | str = 1, callbacks: Sequence[Callback] | None = None,
                      validation_data: ValidationData | None = None, validation_steps: int | None = None,
                      class_weight: Mapping[int, float] | None = None, initial_epoch: int = 0, shuffle: bool = True,
                      **ignored_workers_options: Any) -> History:
        """Keras 2's name for ``fit`` on a generator; the worker options are accepted and ignored.

        ``steps_per_epoch``, ``epochs``, ``verbose``, ``callbacks``, ``validation_data``, ``validation_steps``,
        ``class_weight``, ``initial_epoch`` and ``shuffle`` are ``fit``'s.

        Args:
            generator: a generator or ``Sequence`` yielding ``(x, y)`` or ``(x, y, sample_weight)``.

        Returns:
            The ``History`` that ``fit`` returns.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> batches = ((np.ones((4, 2)), np.ones((4, 1))) for _ in range(6))
        >>> history = model.fit_generator(batches, steps_per_epoch=3, epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2
        """
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        class_weight=class_weight, initial_epoch=initial_epoch, shuffle=shuffle)

    def evaluate_generator(self, generator: Iterator[Any] | IndexedBatches, steps: int | None = None,
                           verbose: int | str = 0, **ignored_workers_options: Any) -> Results:
        """Keras 2's name for ``evaluate`` on a generator; the worker options are accepted and ignored.

        Args:
            generator: a generator or ``Sequence`` yielding ``(x, y)`` batches.
            steps: batches to draw (default: the ``Sequence``'s length).
            verbose: 0 (silent) or 1 (a progress bar).

        Returns:
            What ``evaluate`` returns.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1, kernel_initializer="zeros")])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.evaluate_generator(iter([(np.ones((4, 2)), np.ones((4, 1)))]), steps=1)
        1.0
        """
        return self.evaluate(generator, steps=steps, verbose=verbose)

    def predict_generator(self, generator: Iterator[Any] | IndexedBatches, steps: int | None = None,
                          verbose: int | str = 0, **ignored_workers_options: Any) -> Predictions:
        """Keras 2's name for ``predict`` on a generator; the worker options are accepted and ignored.

        Args:
            generator: a generator or ``Sequence`` yielding input batches (or ``(x, y)`` pairs).
            steps: batches to draw (default: the ``Sequence``'s length).
            verbose: 0 (silent) or 1 (a progress bar).

        Returns:
            What ``predict`` returns: the outputs of every batch, concatenated.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
        >>> model.predict_generator(iter([np.ones((4, 2)), np.ones((3, 2))]), steps=2).shape
        (7, 1)
        """
        return self.predict(generator, steps=steps, verbose=verbose)


class CompiledMetrics:
    """The metrics given to ``compile``, as the one entry ``compile_metrics`` of ``model.metrics`` (Keras 3's).

    A custom ``train_step`` calls ``update_state(y, y_pred)`` on it; ``result()`` is a dict of every compiled
    metric's value (fit flattens it into the logs).

    Args:
        model: the compiled model whose metrics it stands for.
    """

    name = "compile_metrics"

    def __init__(self, model: Any) -> None:
        self._model = model

    @property
    def metrics(self) -> list[Any]:
        """The compiled metric objects (made on the first update, when the shapes are known)."""
        return [metric for _, _, metric, _ in self._model._metrics or []]

    def update_state(self, y_true: ArrayData, y_pred: ArrayData, sample_weight: npt.ArrayLike | None = None) -> None:
        """Fold one batch into every compiled metric (``weighted_metrics`` also get ``sample_weight``)."""
        model = self._model
        targets = [devices.to_host(taped.bare(t)) for t in model._per_output_values(y_true, "y")]
        outputs = [devices.to_host(taped.bare(p)) for p in model._per_output_values(y_pred, "y_pred")]
        weights = None if sample_weight is None else np.asarray(devices.to_host(taped.bare(sample_weight)))
        model._resolved_metrics(targets)
        model._update_metrics(targets, outputs, weights)

    def result(self) -> dict[str, LogValue]:
        """``{log name: value}`` of every compiled metric."""
        return self._model._metric_logs()

    def reset_state(self) -> None:
        """Empty every compiled metric."""
        self._model._reset_metrics()

    def __repr__(self) -> str:
        return f"<CompiledMetrics {[name for name, *_ in self._model._metrics or []]}>"


def unpack_data(data: Any) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` from what a step receives: x alone, ``(x,)``, ``(x, y)`` or ``(x, y, w)``."""
    if isinstance(data, tuple) and 1 <= len(data) <= 3:
        return tuple(data) + (None,) * (3 - len(data))
    return data, None, None


def pack_data(inputs: list[Any], targets: list[Any] | None, sample_weight: Any) -> Any:
    """What a custom step receives for one batch, as Keras builds it: x alone (``(x,)`` for several inputs),
    ``(x, y)``, or ``(x, y, sample_weight)`` when there are weights."""
    x = inputs[0] if len(inputs) == 1 else list(inputs)
    if targets is None:
        return (x,) if isinstance(x, list) else x
    y = targets[0] if len(targets) == 1 else list(targets)
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def flatten_logs(logs: Any, what: str) -> dict[str, LogValue]:
    """A step's returned logs as fit reports them: nested dicts (``compile_metrics``) flattened, values as
    Python numbers (an array for a metric with several values)."""
    if not isinstance(logs, dict):
        raise TypeError(f"{what}: a custom step must return a dict of logs {{name: value}}, "
                        f"got {type(logs).__name__}")
    flat = {}
    for name, value in logs.items():
        if isinstance(value, dict):
            flat.update(flatten_logs(value, what))
        else:
            flat[name] = _log_value(devices.to_host(taped.bare(value)))
    return flat


def _standard_dtype(array):
    """Float arrays in the default float dtype (Keras's data adapters convert them so); others unchanged."""
    if array.dtype.kind == "f" and array.dtype != backend.floatx():
        return array.astype(backend.floatx())
    return array


def _log_value(value):
    """A metric's result as logs hold it: a Python float (an array when the metric has several values)."""
    value = np.asarray(value)
    return float(value) if value.size == 1 else value


def host_logs(values: Mapping[str, Any]) -> dict[str, LogValue]:
    """``{name: value}`` as logs hold it (Python floats, arrays for metrics with several values), the device
    values copied to the host together: one concatenation and one transfer, the read's only host sync."""
    on_device = [name for name, value in values.items() if devices.is_device_array(value)]
    fetched = {}
    if on_device:
        xp = devices.array_module_of(values[on_device[0]])
        flat = devices.to_host(xp.concatenate([xp.ravel(values[name]) for name in on_device], dtype=np.float64))
        start = 0
        for name in on_device:
            size = values[name].size
            fetched[name] = flat[start:start + size].reshape(values[name].shape)
            start += size
    return {name: _log_value(fetched[name] if name in fetched else value) for name, value in values.items()}


def _loss_value(loss, y_true, y_pred, sample_weight):
    """A compiled loss's value: a Python float for host outputs, a 0-d device array for GPU ones (read later)."""
    if devices.is_device_array(y_pred) and type(loss).__call__ is losses_module.Loss.__call__:
        return loss.value(y_true, y_pred, sample_weight=sample_weight)
    return float(loss(y_true, y_pred, sample_weight=sample_weight))


@functools.lru_cache(maxsize=64)
def _takes_holders(optimizer_class):
    """True when the class's ``apply`` accepts ``holders`` (tinyconv's do; a user's own ``apply`` may not)."""
    try:
        return "holders" in inspect.signature(optimizer_class.apply).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def _plus(loss_value, penalty):
    """The loss plus the regularization penalty (a float), without a device launch when the penalty is 0."""
    if not devices.is_device_array(loss_value):
        return loss_value + penalty
    return loss_value.astype(np.float64) + penalty if penalty else loss_value


def _steps(source):
    """Batches per epoch: the source's, capped by ``steps_per_epoch`` on arrays and by
    ``config.set_max_steps_per_epoch`` (as Keras)."""
    caps = [cap for cap in (config.max_steps_per_epoch(), getattr(source, "steps_cap", None)) if cap is not None]
    return min([len(source)] + [int(cap) for cap in caps])


def _epoch(source):
    """One epoch of batches from ``source``, cut at the cap of ``config.set_max_steps_per_epoch``
    (uncut, the source runs to its end: a Sequence's ``on_epoch_end`` is called there)."""
    steps = _steps(source)
    return source.epoch() if steps == len(source) else itertools.islice(source.epoch(), steps)
