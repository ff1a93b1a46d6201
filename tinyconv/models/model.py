"""``Model``: what every model can do - compile, fit, evaluate, predict - on top of a
forward pass and an explicit backward pass supplied by the subclass (``Sequential``).

One training step (``train_on_batch``) is the whole of backprop:

    y_pred = forward(x)                       layer by layer, keeping what backward needs
    loss   = L(y_true, y_pred)
    dy     = dL/dy_pred                       or, for softmax / sigmoid + cross-entropy, the fused
                                              dL/dz = (p - y) / N straight into the last layer
    backward(dy)                              layer by layer in reverse, each storing its grads
    optimizer.apply(weights, grads)
"""
import numpy as np

from .. import backend, losses as losses_module, metrics as metrics_module, naming, optimizers
from ..callbacks import CallbackList, History
from ..utils.random import global_rng
from .progress import EpochProgress


class Model:
    def __init__(self, *args, name=None, trainable=True, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise TypeError("Model(inputs, outputs): functional models are not available in this version of "
                            "tinyconv yet; build the network with tinyconv.Sequential")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name if name is not None else naming.unique_name(naming.to_snake_case(type(self).__name__))
        self.trainable = trainable
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self.compiled = False
        self._metrics = []

    # ------------------------------------------------------------- subclass API
    @property
    def layers(self):
        raise NotImplementedError

    def _forward(self, x, training):
        raise NotImplementedError

    def _backward(self, dy, fused_output=False):
        raise NotImplementedError

    @property
    def built(self):
        return all(layer.built for layer in self.layers) and bool(self.layers)

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

    def get_weights(self):
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"Model '{self.name}': set_weights expected a list of {expected} arrays, "
                             f"got {len(weights)}")
        start = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self):
        if not self.built:
            raise ValueError(f"Model '{self.name}' is not built yet: call build(input_shape) or fit it on data")
        return sum(layer.count_params() for layer in self.layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}' has no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    # ------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses_module.get(loss)
        self._metric_specs = list(metrics or [])
        self._metrics = None  # resolved once the output shape is known
        self.compiled = True

    def _resolved_metrics(self, y_true_shape):
        # Keras 3 decides what 'accuracy' means on the first batch, from the shapes of y and y_pred.
        if self._metrics is None:
            output_shape = self.layers[-1].output_shape if self.built else None
            self._metrics = [metrics_module.resolve(m, self.loss, output_shape, y_true_shape)
                             for m in self._metric_specs]
        return self._metrics

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"Model '{self.name}': call compile(optimizer, loss) before {what}()")

    # ------------------------------------------------------------- data checks
    def _prepare_x(self, x, what):
        if x is None:
            raise ValueError(f"{what}: x is None")
        x = np.asarray(x)
        if x.dtype == object:
            raise ValueError(f"{what}: x must be a numeric array, got ragged or object data")
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"{what}: x must be a non-empty array with a batch axis, got shape {x.shape}")
        dtype = self.layers[0].dtype if self.layers else backend.floatx()
        if x.dtype != dtype:
            x = x.astype(dtype)  # cast once at the model's entrance, as Keras does
        if not self.built:
            self.build((None,) + x.shape[1:])
        return x

    def _prepare_y(self, y, n, what):
        if y is None:
            raise ValueError(f"{what}: y (the targets) is None")
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != n:
            raise ValueError(f"{what}: x and y must have the same number of samples, got {n} inputs and "
                             f"{y.shape[0] if y.ndim else 'a scalar'} targets")
        return y

    # ------------------------------------------------------------- one step
    def _fused_output(self):
        """True when the last layer's softmax/sigmoid should be fused with the loss."""
        last = self.layers[-1]
        fused = getattr(self.loss, "fused_activation", None)
        activation = getattr(last, "activation", None)
        return fused is not None and activation is not None and getattr(activation, "__name__", "") == fused \
            and hasattr(last, "backward_from_preactivation")

    def _loss_gradient(self, y, y_pred):
        if self._fused_output():
            return self.loss.logits_gradient(y, self.layers[-1]._preactivation), True
        return self.loss.gradient(y, y_pred).astype(y_pred.dtype, copy=False), False

    def _train_step(self, x, y):
        y_pred = self._forward(x, training=True)
        loss_value = float(self.loss(y, y_pred))
        dy, fused = self._loss_gradient(y, y_pred)
        self._backward(np.asarray(dy, dtype=y_pred.dtype), fused_output=fused)
        params = self.trainable_weights
        grads = [g for layer in self.layers if layer.trainable for g in layer.trainable_gradients()]
        if params:
            self.optimizer.apply(params, grads)
        return loss_value, y_pred

    def _metric_values(self, y, y_pred):
        return {name: np.asarray(fn(y, y_pred), dtype=np.float64)
                for name, fn in self._resolved_metrics(y.shape)}

    def train_on_batch(self, x, y, return_dict=False):
        self._require_compiled("train_on_batch")
        x = self._prepare_x(x, "train_on_batch")
        y = self._prepare_y(y, len(x), "train_on_batch")
        loss_value, y_pred = self._train_step(x, y)
        logs = {"loss": loss_value, **{k: float(v.mean()) for k, v in self._metric_values(y, y_pred).items()}}
        return self._format_result(logs, return_dict)

    def test_on_batch(self, x, y, return_dict=False):
        self._require_compiled("test_on_batch")
        x = self._prepare_x(x, "test_on_batch")
        y = self._prepare_y(y, len(x), "test_on_batch")
        y_pred = self._forward(x, training=False)
        logs = {"loss": float(self.loss(y, y_pred)),
                **{k: float(v.mean()) for k, v in self._metric_values(y, y_pred).items()}}
        return self._format_result(logs, return_dict)

    def predict_on_batch(self, x):
        return self._forward(self._prepare_x(x, "predict_on_batch"), training=False)

    @staticmethod
    def _format_result(logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def __call__(self, x, training=False):
        return self._forward(self._prepare_x(x, "call"), training=training)

    # ------------------------------------------------------------- loops
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None):
        self._require_compiled("fit")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"fit: batch_size must be positive, got {batch_size}")
        if int(epochs) < 0:
            raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
        x = self._prepare_x(x, "fit")
        y = self._prepare_y(y, len(x), "fit")
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
            # Keras holds out the *last* samples, before any shuffling.
            split = int(len(x) * (1 - validation_split))
            if split == 0 or split == len(x):
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation "
                                 f"samples out of {len(x)}")
            x, y, validation_data = x[:split], y[:split], (x[split:], y[split:])
        if validation_data is not None:
            if len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            x_val = self._prepare_x(validation_data[0], "fit (validation_data)")
            y_val = self._prepare_y(validation_data[1], len(x_val), "fit (validation_data)")

        steps = -(-len(x) // batch_size)
        history = History()
        callback_list = CallbackList(list(callbacks or []) + [history], self,
                                     {"verbose": verbose, "epochs": epochs, "steps": steps})
        self.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            order = global_rng().permutation(len(x)) if shuffle else np.arange(len(x))
            progress = EpochProgress(verbose, steps, f"Epoch {epoch + 1}/{epochs}")
            trackers = {"loss": metrics_module.MeanMetric()}
            for step in range(steps):
                batch = order[step * batch_size:(step + 1) * batch_size]
                callback_list.on_train_batch_begin(step)
                x_batch, y_batch = x[batch], y[batch]
                loss_value, y_pred = self._train_step(x_batch, y_batch)
                trackers["loss"].update_state(loss_value, sample_weight=len(batch))
                for name, values in self._metric_values(y_batch, y_pred).items():
                    trackers.setdefault(name, metrics_module.MeanMetric()).update_state(values)
                logs = {name: tracker.result() for name, tracker in trackers.items()}
                progress.update(step, logs)
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = {name: tracker.result() for name, tracker in trackers.items()}
            if validation_data is not None:
                val = self._evaluate_arrays(x_val, y_val, batch_size)
                epoch_logs.update({f"val_{name}": value for name, value in val.items()})
            progress.close(epoch_logs)
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end()
        history.params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        self.history = history
        return history

    def _evaluate_arrays(self, x, y, batch_size):
        trackers = {"loss": metrics_module.MeanMetric()}
        for start in range(0, len(x), batch_size):
            x_batch, y_batch = x[start:start + batch_size], y[start:start + batch_size]
            y_pred = self._forward(x_batch, training=False)
            trackers["loss"].update_state(float(self.loss(y_batch, y_pred)), sample_weight=len(x_batch))
            for name, values in self._metric_values(y_batch, y_pred).items():
                trackers.setdefault(name, metrics_module.MeanMetric()).update_state(values)
        return {name: tracker.result() for name, tracker in trackers.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, callbacks=None):
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"evaluate: batch_size must be positive, got {batch_size}")
        x = self._prepare_x(x, "evaluate")
        y = self._prepare_y(y, len(x), "evaluate")
        logs = self._evaluate_arrays(x, y, batch_size)
        if verbose:
            steps = -(-len(x) // batch_size)
            EpochProgress(2, steps, "Evaluate").close(logs)
        return self._format_result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None):
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size <= 0:
            raise ValueError(f"predict: batch_size must be positive, got {batch_size}")
        x = self._prepare_x(x, "predict")
        outputs = [self._forward(x[start:start + batch_size], training=False)
                   for start in range(0, len(x), batch_size)]
        return np.concatenate(outputs, axis=0)

    # ------------------------------------------------------------- display
    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        from .summary import print_summary

        print_summary(self, line_length=line_length, print_fn=print_fn)
