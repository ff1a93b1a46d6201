"""``Model``: what every model can do - compile, fit, evaluate, predict - on top of a
forward pass and an explicit backward pass supplied by the subclass (``Sequential`` or a
functional graph).

One training step (``train_on_batch``) is the whole of backprop:

    y_pred = forward(x)                       layer by layer, keeping what backward needs
    loss   = L(y_true, y_pred)
    dy     = dL/dy_pred                       or, for softmax / sigmoid + cross-entropy, the fused
                                              dL/dz = (p - y) / N straight into the last layer
    backward(dy)                              layer by layer in reverse, each storing its grads
    optimizer.apply(weights, grads)

Internally a model has a list of inputs and a list of outputs (one each for a Sequential).
``Model(inputs, outputs)`` builds a functional model (see ``functional.py``).
"""
import numpy as np

from .. import activations, backend, devices, losses as losses_module, metrics as metrics_module, naming, optimizers
from ..layers.base import ActivationMixin
from ..callbacks import CallbackList, History
from . import data as data_module
from .progress import EpochProgress


class Model:
    runs_on_gpu = True  # as a layer of another model: its own layers are checked one by one
    def __new__(cls, *args, **kwargs):
        # Keras's Model(inputs, outputs) is the functional API: hand over to Functional.
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional

            return Functional(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name if name is not None else naming.unique_name(naming.to_snake_case(type(self).__name__))
        self.trainable = trainable
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self.compiled = False
        self.grads = {}
        self._metrics = None
        self._metric_specs = []

    # ------------------------------------------------------------- subclass API
    @property
    def layers(self):
        raise NotImplementedError

    def _run_forward(self, inputs, training):
        """inputs: list of arrays, one per model input -> list of output arrays."""
        raise NotImplementedError

    def _run_backward(self, output_grads, fused, need_input_gradients=True):
        """Backprop a gradient per output; ``fused[i]`` says it is already dL/dz of output i's layer.
        Returns the gradients with respect to the inputs (a list)."""
        raise NotImplementedError

    def _output_layers(self):
        """The layer that produces each output."""
        raise NotImplementedError

    def _can_fuse(self, output_index):
        """True when output i's last activation may be fused with the loss."""
        return True

    @property
    def input_names(self):
        return ["input"]

    @property
    def output_names(self):
        return [layer.name for layer in self._output_layers()]

    @property
    def built(self):
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def describe(self):
        return f"{type(self).__name__} '{self.name}'"

    @property
    def dtype(self):
        return self.layers[0].dtype if self.layers else backend.floatx()

    # ------------------------------------------------------------- weights
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def trainable_gradients(self):
        """Gradients aligned with ``trainable_weights``, after a backward pass."""
        if not self.trainable:
            return []
        return [g for layer in self.layers if layer.trainable for g in layer.trainable_gradients()]

    def get_weights(self):
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"{self.describe()}: set_weights expected a list of {expected} arrays, "
                             f"got {len(weights)}")
        start = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self):
        if not self.built:
            raise ValueError(f"{self.describe()} is not built yet: call build(input_shape) or fit it on data")
        return sum(layer.count_params() for layer in self.layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.describe()} has no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    # ------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._loss_spec = loss
        self._loss_weight_spec = loss_weights
        self._metric_specs = metrics if isinstance(metrics, dict) else list(metrics or [])
        self._metrics = None  # resolved on the first batch, when the shapes are known
        self._losses = None
        self.compiled = True

    def _per_output(self, spec, what):
        """A compile argument given once, as a list, or as a dict keyed by output name -> a list."""
        names = self.output_names
        if isinstance(spec, dict):
            unknown = set(spec) - set(names)
            if unknown:
                raise ValueError(f"compile: {what} names {sorted(unknown)} are not outputs of {self.describe()} "
                                 f"(outputs: {names})")
            return [spec.get(name) for name in names]
        if isinstance(spec, (list, tuple)) and len(names) > 1:
            if len(spec) != len(names):
                raise ValueError(f"compile: {len(spec)} {what} given for {len(names)} outputs")
            return list(spec)
        return [spec] * len(names)

    def _resolved_losses(self):
        if self._losses is None:
            self._losses = [losses_module.get(spec) if spec is not None else None
                            for spec in self._per_output(self._loss_spec, "losses")]
            weights = self._loss_weight_spec
            self._loss_weights = ([1.0] * len(self._losses) if weights is None
                                  else [1.0 if w is None else float(w) for w in self._per_output(weights,
                                                                                                 "loss_weights")])
            if len(self._losses) == 1:
                self.loss = self._losses[0]
        return self._losses

    def _resolved_metrics(self, targets):
        # Keras 3 decides what 'accuracy' means on the first batch, from the shapes of y and y_pred.
        if self._metrics is None:
            losses = self._resolved_losses()
            specs = self._metric_specs
            per_output = (self._per_output(specs, "metrics") if isinstance(specs, dict)
                          else [specs] * len(losses))
            prefix = len(losses) > 1
            self._metrics = []
            for index, (layer, loss, output_specs) in enumerate(zip(self._output_layers(), losses, per_output)):
                for spec in data_module.as_list(output_specs) or []:
                    name, fn = metrics_module.resolve(spec, loss, layer.output_shape, np.shape(targets[index]))
                    self._metrics.append((f"{self.output_names[index]}_{name}" if prefix else name, index, fn))
        return self._metrics

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"{self.describe()}: call compile(optimizer, loss) before {what}()")

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
        return [devices.to_device(a) for a in prepared]  # batches go where the weights are

    def _prepare_targets(self, y, n, what):
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
            if loss is None:
                grads.append(None)
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

    def _release_unneeded_preactivation(self, layer):
        """After a training forward: forget ``layer``'s pre-activation z where backward will not read it.

        A layer with an activation keeps both z and a = act(z).  Most derivatives need only a
        (relu: dz = dy * (a > 0); tanh: dz = dy * (1 - a^2)), so also keeping z would hold a second
        activation-sized array per layer until backward, for nothing.  z stays where it is needed:
        for activations whose derivative reads z (gelu, silu, softplus), and on the output layers,
        whose softmax or sigmoid the loss may fuse with the cross-entropy (the loss then reads z,
        the logits).
        """
        z = getattr(layer, "_preactivation", None)
        if z is None or z is getattr(layer, "_output", None) or not isinstance(layer, ActivationMixin):
            return  # nothing kept twice (a linear activation returns z itself)
        if layer.activation not in activations._BACKWARD:  # the derivatives written from a alone
            return
        if any(layer is output_layer for output_layer in self._output_layers()):
            return
        layer._preactivation = None

    def _regularization_loss(self):
        """Weight penalties of every layer (nested models included) and the activity penalties
        of the last forward pass."""
        return getattr(self, "_activity_loss", 0.0) + sum(
            float(layer.regularization_losses()) for layer in self.layers if hasattr(layer, "regularization_losses"))

    def regularization_losses(self):
        """As a layer of another model: its own layers' penalties."""
        return self._regularization_loss()

    # ------------------------------------------------------------- activity regularizers
    # A layer built with activity_regularizer=R adds R(y) / batch to the loss, y its output in
    # this forward pass; backward then adds R'(y) / batch to the gradient arriving at y.
    def _start_activity_record(self):
        self._activity_loss = 0.0
        self._activity_outputs = {}

    def _record_activity(self, key, layer, output):
        regularizer = getattr(layer, "activity_regularizer", None)
        if regularizer is None:
            return
        for value in output if isinstance(output, list) else [output]:
            self._activity_loss += float(regularizer(value)) / _batch_size(value)
        self._activity_outputs[key] = output

    def _add_activity_gradient(self, key, layer, dy):
        output = getattr(self, "_activity_outputs", {}).pop(key, None)
        if output is None:
            return dy
        regularizer = layer.activity_regularizer
        if isinstance(output, list):
            return [g + regularizer.gradient(y) / _batch_size(y) for g, y in zip(dy, output)]
        return dy + (regularizer.gradient(output) / _batch_size(output)).astype(dy.dtype, copy=False)

    def _batch_logs(self, targets, outputs, sample_weight):
        """Per-sample metric values for one batch, by metric name."""
        values = {}
        for name, index, fn in self._resolved_metrics(targets):
            # Metrics are computed in NumPy: GPU outputs come back to the host first.
            values[name] = np.asarray(fn(devices.to_host(targets[index]), devices.to_host(outputs[index])),
                                      dtype=np.float64)
        return values

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._require_compiled("train_on_batch")
        inputs = self._prepare_inputs(x, "train_on_batch")
        targets = self._prepare_targets(y, len(inputs[0]), "train_on_batch")
        weights = self._prepare_sample_weight(sample_weight, class_weight, targets, len(inputs[0]),
                                              "train_on_batch")
        loss_value, per_output, outputs = self._train_step(inputs, targets, weights)
        logs = {"loss": loss_value, **(per_output if len(per_output) > 1 else {}),
                **{k: float(v.mean()) for k, v in self._batch_logs(targets, outputs, weights).items()}}
        return self._format_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        inputs = self._prepare_inputs(x, "test_on_batch")
        targets = self._prepare_targets(y, len(inputs[0]), "test_on_batch")
        weights = self._prepare_sample_weight(sample_weight, None, targets, len(inputs[0]), "test_on_batch")
        outputs = self._run_forward(inputs, training=False)
        loss_value, per_output = self._compute_loss(targets, outputs, weights)
        logs = {"loss": loss_value + self._regularization_loss(), **(per_output if len(per_output) > 1 else {}),
                **{k: float(v.mean()) for k, v in self._batch_logs(targets, outputs, weights).items()}}
        return self._format_result(logs, return_dict)

    def predict_on_batch(self, x):
        return self._unwrap([devices.to_host(y) for y in self._run_forward(self._prepare_inputs(x, "predict_on_batch"), training=False)])

    def _unwrap(self, outputs):
        return outputs[0] if len(outputs) == 1 else outputs

    @staticmethod
    def _format_result(logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def __call__(self, x, training=False):
        from ..layers.core import SymbolicTensor

        if isinstance(x, SymbolicTensor) or (isinstance(x, (list, tuple)) and x
                                             and all(isinstance(t, SymbolicTensor) for t in x)):
            from .functional import call_model_on_symbols

            return call_model_on_symbols(self, x)
        return self._unwrap(self._run_forward(self._prepare_inputs(x, "call"), training=training))

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
        self._require_compiled("fit")
        if kwargs:
            raise TypeError(f"fit: unexpected keyword argument(s) {sorted(kwargs)}")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = self._check_batch_size(batch_size, "fit")
        if isinstance(epochs, bool) or int(epochs) < 0:
            raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
        epochs = int(epochs)
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
        params = {"verbose": verbose, "epochs": epochs, "steps": len(source)}
        callback_list = CallbackList(list(callbacks or []) + [history], self, params)
        self.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            progress = EpochProgress(verbose, len(source), f"Epoch {epoch + 1}/{epochs}")
            trackers = {}
            for step, batch in enumerate(source.epoch()):
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
            epoch_logs = {name: tracker.result() for name, tracker in trackers.items()}
            if validation is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_source(validation, callback_list=None)
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            progress.close(epoch_logs)
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end()
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
        """Fold one batch into the running epoch averages; return the averages so far."""
        trackers.setdefault("loss", metrics_module.MeanMetric()).update_state(loss_value, sample_weight=count)
        if len(per_output) > 1:
            for name, value in per_output.items():
                trackers.setdefault(name, metrics_module.MeanMetric()).update_state(value, sample_weight=count)
        for name, values in self._batch_logs(targets, outputs, weights).items():
            trackers.setdefault(name, metrics_module.MeanMetric()).update_state(values)
        return {name: tracker.result() for name, tracker in trackers.items()}

    def _evaluate_source(self, source, callback_list):
        trackers = {}
        for step, batch in enumerate(source.epoch()):
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
        return {name: tracker.result() for name, tracker in trackers.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = self._check_batch_size(batch_size, "evaluate")
        source = self._batches_for(x, y, sample_weight, None, batch_size, False, steps, "evaluate")
        if isinstance(source, data_module.ArrayBatches) and source.targets is None:
            raise ValueError("evaluate: y (the targets) is None")
        callback_list = CallbackList(list(callbacks or []), self, {"verbose": verbose, "steps": len(source)})
        callback_list.on_test_begin()
        logs = self._evaluate_source(source, callback_list)
        callback_list.on_test_end(logs)
        if verbose:
            EpochProgress(2, len(source), "Evaluate").close(logs)
        return self._format_result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        batch_size = self._check_batch_size(batch_size, "predict")
        source = self._batches_for(x, None, None, None, batch_size, False, steps, "predict")
        callback_list = CallbackList(list(callbacks or []), self, {"steps": len(source)})
        callback_list.on_predict_begin()
        collected = None
        for step, batch in enumerate(source.epoch()):
            callback_list.on_predict_batch_begin(step)
            inputs = self._prepare_batch((batch[0], None, None), None, "predict")[0]
            outputs = self._run_forward(inputs, training=False)
            collected = [[] for _ in outputs] if collected is None else collected
            for store, output in zip(collected, outputs):
                store.append(devices.to_host(output))  # predict returns NumPy
            callback_list.on_predict_batch_end(step, {"outputs": outputs})
        callback_list.on_predict_end()
        if collected is None:
            raise ValueError("predict: the data produced no batches")
        return self._unwrap([np.concatenate(parts, axis=0) for parts in collected])

    # Keras 2 spellings, kept for the scripts courses still hand out.
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, class_weight=None, initial_epoch=0,
                      shuffle=True, **ignored_workers_options):
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        class_weight=class_weight, initial_epoch=initial_epoch, shuffle=shuffle)

    def evaluate_generator(self, generator, steps=None, verbose=0, **ignored_workers_options):
        return self.evaluate(generator, steps=steps, verbose=verbose)

    def predict_generator(self, generator, steps=None, verbose=0, **ignored_workers_options):
        return self.predict(generator, steps=steps, verbose=verbose)

    # ------------------------------------------------------------- as a layer
    def forward(self, x, training=False):
        """A model used as a layer inside another model."""
        outputs = self._run_forward(x if isinstance(x, list) else [x], training)
        return self._unwrap(outputs)

    def backward(self, dy, need_input_gradient=True):
        grads = self._run_backward(dy if isinstance(dy, list) else [dy], [False] * len(self.output_names))
        return grads[0] if len(grads) == 1 else grads

    def check_input(self, x):
        pass

    # ------------------------------------------------------------- display
    def summary(self, line_length=None, positions=None, print_fn=None, show_receptive_field=False,
                show_flops=False, **kwargs):
        """Keras's table; ``show_receptive_field`` / ``show_flops`` add teaching columns per layer."""
        from .summary import print_summary

        print_summary(self, line_length=line_length, print_fn=print_fn, show_receptive_field=show_receptive_field,
                      show_flops=show_flops)

    # ------------------------------------------------------------- config and files (see tinyconv/saving)
    def get_config(self):
        """Keras 3's model config: the layers (and, for a functional model, how they are connected)."""
        from ..saving.model_config import model_config

        return model_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving.model_config import model_from_config

        return model_from_config(cls, config, custom_objects)

    def to_json(self, **kwargs):
        """The architecture (no weights) as Keras's JSON; ``models.model_from_json`` reads it back."""
        import json

        from ..saving.serialization import serialize

        return json.dumps(serialize(self), **kwargs)

    def save(self, filepath, overwrite=True, include_optimizer=True, **kwargs):
        """``.keras``: Keras 3's zip; ``.h5``: Keras 2's HDF5 file. Both reopen with ``models.load_model``."""
        from ..saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        from ..saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def to_device(self, name):
        """Move the weights (and the optimizer's state) to ``'cpu'`` or ``'gpu'`` and make it the active device.

        Values are kept: a model trained on one device predicts the same on the other.  Layers hold their
        weights as attributes too (``layer.kernel``), so every attribute that *is* a moved array is
        repointed; the optimizer's per-weight state is keyed on the weight array and moves with it.
        """
        backend.set_device(name)  # raises (and changes nothing) without CuPy or a GPU
        moved = {}
        for layer in _all_layers(self):
            for slot in layer._weights:
                new = devices.to_device(slot.value)
                if new is not slot.value:
                    moved[id(slot.value)] = new
                    slot.value = new
            if moved:
                for attribute, value in list(vars(layer).items()):
                    if id(value) in moved:
                        setattr(layer, attribute, moved[id(value)])
            layer.grads = {}
        optimizer = getattr(self, "optimizer", None)
        state = getattr(optimizer, "_state", None)
        if isinstance(state, dict):
            for key in list(state):
                if key not in moved:
                    continue
                entry = state.pop(key)
                entry = {slot: (moved[key] if slot == "param" else
                         devices.to_device(value) if hasattr(value, "shape") else value)
                         for slot, value in entry.items()}
                state[id(moved[key])] = entry
        return self

    def load_weights(self, filepath, skip_mismatch=False):
        from ..saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)


def _all_layers(model):
    """Every layer of ``model``, looking inside nested models."""
    for layer in model.layers:
        if hasattr(layer, "layers") and not hasattr(layer, "_weights"):
            yield from _all_layers(layer)
        else:
            yield layer


def _batch_size(value):
    return value.shape[0] if getattr(value, "ndim", 0) > 0 and value.shape[0] > 0 else 1
