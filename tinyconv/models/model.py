"""``Model``: what every model is - its layers and weights, ``compile``, ``summary``, its config and the
saving facades - on top of a forward pass and an explicit backward pass supplied by the subclass
(``Sequential`` or a functional graph).  What a model *does* with data (``fit``, ``evaluate``,
``predict``, ``*_on_batch``, one training step) is ``training.py``'s ``TrainingMixin``.

Internally a model has a list of inputs and a list of outputs (one each for a Sequential).
``Model(inputs, outputs)`` builds a functional model (see ``functional.py``).
"""
import numpy as np

from .. import activations, backend, devices, losses as losses_module, metrics as metrics_module, naming, optimizers
from .. import graph, serialization
from ..layers.base import ActivationMixin
from . import data as data_module
from .config import model_config, model_from_config
from .training import TrainingMixin


class Model(TrainingMixin):
    runs_on_gpu = True  # as a layer of another model: its own layers are checked one by one
    def __new__(cls, *args, **kwargs):
        # Keras's Model(inputs, outputs) is the functional API: hand over to Functional (which
        # functional.py registers; it imports this module, so this one looks it up instead).
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return serialization.registered_class("models", "Functional")(*args, **kwargs)
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

    # ------------------------------------------------------------- forward-pass bookkeeping (for the subclasses)
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

    # ------------------------------------------------------------- calling the model
    def _unwrap(self, outputs):
        return outputs[0] if len(outputs) == 1 else outputs

    def __call__(self, x, training=False):
        if graph.is_symbolic(x):  # the model used as a layer in a functional graph
            return graph.call_layer_on_symbols(self, x)
        return self._unwrap(self._run_forward(self._prepare_inputs(x, "call"), training=training))

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
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Keras's table of layers, output shapes and parameter counts (``tinyconv.teaching.summary`` adds
        receptive-field and FLOP columns)."""
        from .summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)

    # ------------------------------------------------------------- config (models/config.py) and files
    def get_config(self):
        """Keras 3's model config: the layers (and, for a functional model, how they are connected)."""
        return model_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return model_from_config(cls, config, custom_objects)

    def to_json(self, **kwargs):
        """The architecture (no weights) as Keras's JSON; ``models.model_from_json`` reads it back."""
        import json

        return json.dumps(serialization.serialize(self), **kwargs)

    # save / save_weights / load_weights are facades of tinyconv.saving, which sits above the models (it reads
    # and writes them): the one deliberate upward import of the models, made when called (as in Keras).
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
