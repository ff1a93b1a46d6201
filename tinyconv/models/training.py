"""Training and inference loops of ``Model``: ``fit`` / ``evaluate`` / ``predict``, the ``*_on_batch``
methods, one training step and the loss gradient that starts backprop.

One training step (``_train_step``) is the whole of backprop:

    y_pred = forward(x)                       layer by layer, keeping what backward needs
    loss   = L(y_true, y_pred)
    dy     = dL/dy_pred                       or, for softmax / sigmoid + cross-entropy, the fused
                                              dL/dz = (p - y) / N straight into the last layer
    backward(dy)                              layer by layer in reverse, each storing its grads
    optimizer.apply(weights, grads)

``TrainingMixin`` is one half of ``Model`` (``model.py`` is the other: layers, weights, compile, config).
It relies on what ``Model`` provides: ``layers``, ``input_names`` / ``output_names``, ``build``,
``_run_forward`` / ``_run_backward`` / ``_output_layers`` / ``_can_fuse`` (from the subclass),
``_resolved_losses`` / ``_resolved_metrics`` / ``_loss_weights`` (set up by ``compile``),
``_regularization_loss``, ``trainable_weights`` / ``trainable_gradients``, ``optimizer`` and ``_unwrap``.
How raw data becomes batches is ``data.py``'s job.
"""
import itertools

import numpy as np

from .. import backend, config, devices, metrics as metrics_module
from ..callbacks import CallbackList, History
from . import data as data_module
from .progress import EpochProgress


class TrainingMixin:
    """Keras's training API (``fit``, ``evaluate``, ``predict``, ``*_on_batch``) for ``Model``."""

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
        if not self.built:
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
            target = np.asarray(target)
            data_module.check_targets_are_numbers(target, what)
            if target.ndim == 0 or target.shape[0] != n:
                raise ValueError(f"{what}: x and y must have the same number of samples, got {n} inputs and "
                                 f"{target.shape[0] if target.ndim else 'a scalar'} targets")
            prepared.append(target)
        return prepared

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
        total = 0.0
        per_output = {}
        for index, (loss, weight) in enumerate(zip(self._resolved_losses(), self._loss_weights)):
            if loss is None:
                continue
            value = float(loss(targets[index], outputs[index], sample_weight=sample_weight))
            per_output[f"{self.output_names[index]}_loss"] = value
            total += weight * value
        return total, per_output

    def _loss_gradients(self, targets, outputs, sample_weight):
        grads, fused = [], []
        for index, (loss, weight) in enumerate(zip(self._resolved_losses(), self._loss_weights)):
            if loss is None:  # an output without a loss (its model trains on add_loss terms): no gradient from it
                grads.append(devices.array_module_of(outputs[index]).zeros_like(outputs[index]))
                fused.append(False)
            elif self._fused(index):
                logits = self._output_layers()[index]._preactivation
                grads.append(weight * devices.asarray(loss.logits_gradient(targets[index], logits,
                                                                      sample_weight=sample_weight),
                                                 dtype=outputs[index].dtype))
                fused.append(True)
            else:
                gradient = loss.gradient(targets[index], outputs[index], sample_weight=sample_weight)
                grads.append(weight * devices.asarray(gradient, dtype=outputs[index].dtype))
                fused.append(False)
        return grads, fused

    def _train_step(self, inputs, targets, sample_weight=None):
        outputs = self._run_forward(inputs, training=True)
        loss_value, per_output = self._compute_loss(targets, outputs, sample_weight)
        loss_value += self._regularization_loss()
        grads, fused = self._loss_gradients(targets, outputs, sample_weight)
        # A training step only needs the weight gradients: the first layers may skip dL/dx.
        self._run_backward(grads, fused, need_input_gradients=False)
        params = self.trainable_weights
        if params:
            self.optimizer.apply(params, self.trainable_gradients())
        return loss_value, per_output, outputs

    # ------------------------------------------------------------- one batch
    def _update_metrics(self, targets, outputs, sample_weight):
        """Fold one batch into every compiled metric object (``weighted_metrics`` also get the weights)."""
        for _, index, metric, weighted in self._resolved_metrics(targets):
            # Metrics are computed in NumPy: GPU outputs come back to the host first.
            metric.update_state(devices.to_host(targets[index]), devices.to_host(outputs[index]),
                                sample_weight=sample_weight if weighted else None)

    def _reset_metrics(self):
        """Empty the compiled metrics' state (before each epoch and each evaluation, as Keras)."""
        for _, _, metric, _ in getattr(self, "_metrics", None) or []:
            metric.reset_state()

    def _metric_logs(self):
        return {name: _log_value(metric.result()) for name, _, metric, _ in self._metrics or []}

    def _batch_logs(self, targets, outputs, sample_weight):
        """The compiled metrics over this one batch, by log name (``train_on_batch`` / ``test_on_batch``)."""
        self._resolved_metrics(targets)
        self._reset_metrics()
        self._update_metrics(targets, outputs, sample_weight)
        return self._metric_logs()

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
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
        inputs = self._prepare_inputs(x, "train_on_batch")
        targets = self._prepare_targets(y, len(inputs[0]), "train_on_batch")
        weights = self._prepare_sample_weight(sample_weight, class_weight, targets, len(inputs[0]),
                                              "train_on_batch")
        loss_value, per_output, outputs = self._train_step(inputs, targets, weights)
        logs = {"loss": loss_value, **(per_output if len(per_output) > 1 else {}),
                **self._batch_logs(targets, outputs, weights)}
        return self._format_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
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
        inputs = self._prepare_inputs(x, "test_on_batch")
        targets = self._prepare_targets(y, len(inputs[0]), "test_on_batch")
        weights = self._prepare_sample_weight(sample_weight, None, targets, len(inputs[0]), "test_on_batch")
        outputs = self._run_forward(inputs, training=False)
        loss_value, per_output = self._compute_loss(targets, outputs, weights)
        logs = {"loss": loss_value + self._regularization_loss(), **(per_output if len(per_output) > 1 else {}),
                **self._batch_logs(targets, outputs, weights)}
        return self._format_result(logs, return_dict)

    def predict_on_batch(self, x):
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
        return self._unwrap([devices.to_host(y) for y in outputs])  # predict returns NumPy

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
        return data_module.ArrayBatches(inputs, targets, weights, batch_size, shuffle)

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
        return inputs, targets, weights

    # ------------------------------------------------------------- loops
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1, **kwargs):
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
        if y is None and self._trains_without_targets() and x is not None and not callable(getattr(x, "__next__", None)):
            y = np.zeros(len(data_module.as_list(x)[0] if isinstance(x, (list, tuple)) else
                             next(iter(x.values())) if isinstance(x, dict) else x), dtype=np.float32)
        source = self._batches_for(x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch, "fit")
        if isinstance(source, data_module.ArrayBatches):
            if source.targets is None:
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
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            progress = EpochProgress(verbose, _steps(source), f"Epoch {epoch + 1}/{epochs}")
            trackers = {}
            self._reset_metrics()
            for step, batch in enumerate(_epoch(source)):
                callback_list.on_train_batch_begin(step)
                inputs, targets, weights = self._prepare_batch(batch, class_weight, "fit")
                if targets is None:
                    raise ValueError("fit: the data yields no targets; yield (x, y) pairs")
                loss_value, per_output, outputs = self._train_step(inputs, targets, weights)
                logs = self._track(trackers, loss_value, per_output, targets, outputs, weights, len(inputs[0]))
                progress.update(step, logs)
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = self._logs(trackers)
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
        metric objects updated); return the logs so far."""
        # (float64 running means: a float64 model's loss is reported to its full precision)
        trackers.setdefault("loss", metrics_module.Mean(dtype="float64")).update_state(loss_value, sample_weight=count)
        if len(per_output) > 1:
            for name, value in per_output.items():
                trackers.setdefault(name, metrics_module.Mean(dtype="float64")).update_state(value,
                                                                                            sample_weight=count)
        self._update_metrics(targets, outputs, weights)
        return self._logs(trackers)

    def _logs(self, trackers):
        """Losses, then the compiled metrics, as Python numbers (what callbacks and History receive)."""
        return {**{name: _log_value(tracker.result()) for name, tracker in trackers.items()}, **self._metric_logs()}

    def _evaluate_source(self, source, callback_list, progress=None):
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
            logs = self._track(trackers, loss_value + self._regularization_loss(), per_output, targets, outputs,
                               weights, len(inputs[0]))
            if callback_list is not None:
                callback_list.on_test_batch_end(step, logs)
            if progress is not None:
                progress.update(step, logs)
        return self._logs(trackers)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
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
        if isinstance(source, data_module.ArrayBatches) and source.targets is None:
            raise ValueError("evaluate: y (the targets) is None")
        callback_list = CallbackList(list(callbacks or []), self, {"verbose": verbose, "epochs": 1,
                                                                   "steps": _steps(source)})
        callback_list.on_test_begin()
        progress = EpochProgress(verbose, _steps(source), "Evaluate")
        logs = self._evaluate_source(source, callback_list, progress)
        progress.close(logs)
        callback_list.on_test_end(logs)
        return self._format_result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
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
        collected = None
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
        return self._unwrap([np.concatenate(parts, axis=0) for parts in collected])

    # Keras 2 spellings, kept for the scripts courses still hand out.
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, class_weight=None, initial_epoch=0,
                      shuffle=True, **ignored_workers_options):
        """Keras 2's name for ``fit`` on a generator; the worker options are accepted and ignored.

        Args:
            generator: a generator or ``Sequence`` yielding ``(x, y)`` or ``(x, y, sample_weight)``.
            steps_per_epoch, epochs, verbose, callbacks, validation_data, validation_steps,
            class_weight, initial_epoch, shuffle: as in ``fit``.

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

    def evaluate_generator(self, generator, steps=None, verbose=0, **ignored_workers_options):
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

    def predict_generator(self, generator, steps=None, verbose=0, **ignored_workers_options):
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


def _log_value(value):
    """A metric's result as logs hold it: a Python float (an array when the metric has several values)."""
    value = np.asarray(value)
    return float(value) if value.size == 1 else value


def _steps(source):
    """Batches per epoch: the source's, capped by ``config.set_max_steps_per_epoch`` (as Keras)."""
    cap = config.max_steps_per_epoch()
    return len(source) if cap is None else min(len(source), cap)


def _epoch(source):
    """One epoch of batches from ``source``, cut at the cap of ``config.set_max_steps_per_epoch``
    (uncut, the source runs to its end: a Sequence's ``on_epoch_end`` is called there)."""
    steps = _steps(source)
    return source.epoch() if steps == len(source) else itertools.islice(source.epoch(), steps)
