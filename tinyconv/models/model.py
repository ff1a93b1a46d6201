"""``Model``: what every model is - its layers and weights, ``compile``, ``summary``, its config and the
saving facades - on top of a forward pass and an explicit backward pass supplied by the subclass
(``Sequential`` or a functional graph).  What a model *does* with data (``fit``, ``evaluate``,
``predict``, ``*_on_batch``, one training step) is ``training.py``'s ``TrainingMixin``.

Internally a model has a list of inputs and a list of outputs (one each for a Sequential).
``Model(inputs, outputs)`` builds a functional model (see ``functional.py``).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self, TypeAlias, overload

import numpy as np
import numpy.typing as npt

from .. import activations, backend, devices, losses as losses_module, metrics as metrics_module, naming, optimizers
from .. import graph, serialization
from ..devices import DeviceArray
from ..layers import taped
from ..layers.base import ActivationMixin, Layer, Shape, ShapeLike, track_held_layers
from ..variables import Variable
from . import data as data_module
from .config import model_config, model_from_config
from . import subclassed
from .training import CompiledMetrics, TrainingMixin

# The ends of a functional graph: a symbolic tensor (from ``Input`` and layer calls), a list or a dict of them.
GraphEnds: TypeAlias = (graph.SymbolicTensor | Sequence[graph.SymbolicTensor] |
                        Mapping[str, graph.SymbolicTensor])
# compile's arguments, in Keras's "a name or an object" forms: one loss (``"mse"``, ``losses.Huber()``, a
# function ``(y_true, y_pred) -> loss``, a config dict), or one per output as a list or a dict by output name.
OneLoss: TypeAlias = str | losses_module.Loss | Callable[..., Any] | dict[str, Any]
LossArgument: TypeAlias = OneLoss | Sequence[OneLoss | None] | Mapping[str, OneLoss | None]
# One metric (``"accuracy"``, ``metrics.AUC()``, a function), a list of them, or one entry per output.
OneMetric: TypeAlias = str | metrics_module.Metric | Callable[..., Any]
MetricsArgument: TypeAlias = (Sequence[OneMetric | Sequence[OneMetric] | None] |
                              Mapping[str, OneMetric | Sequence[OneMetric] | None])
OptimizerArgument: TypeAlias = str | optimizers.Optimizer | dict[str, Any]


class Model(TrainingMixin):
    """A trainable model: its layers and weights, ``compile``, ``fit`` / ``evaluate`` / ``predict``, and saving.

    Use ``Sequential`` for a stack of layers, or call ``Model(inputs, outputs)`` on symbolic tensors
    (from ``layers.Input`` and layer calls) for a graph: the call returns a functional model.
    Training runs an explicit backward pass, layer by layer, after each forward pass.

    Args:
        name: the model's name (default: a unique one made from the class name).
        trainable: if False, ``fit`` leaves every weight unchanged.

    Raises:
        TypeError: for a keyword argument the model does not know.

    Example:

    >>> inputs = layers.Input(shape=(4,))
    >>> outputs = layers.Dense(2, activation="softmax")(layers.Dense(8, activation="relu")(inputs))
    >>> model = tinyconv.Model(inputs, outputs)
    >>> type(model).__name__, model.output_shape
    ('Functional', (None, 2))
    """
    runs_on_gpu = True  # as a layer of another model: its own layers are checked one by one

    name: str
    optimizer: optimizers.Optimizer | None
    loss: Any  # what compile received; the resolved Loss object once there is one output
    _loss_tracker: metrics_module.Mean
    _compile_metrics: CompiledMetrics | None

    def __new__(cls, *args, **kwargs):
        # Keras's Model(inputs, outputs) is the functional API: hand over to Functional (which
        # functional.py registers; it imports this module, so this one looks it up instead).
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return serialization.registered_class("models", "Functional")(*args, **kwargs)
        if cls._run_forward is Model._run_forward and _functional_arguments(args, kwargs):
            # Keras 3: a subclass of Model made from (inputs, outputs) is a functional model that keeps the
            # subclass's own methods (a custom train_step, a metrics property, ...).
            cls = _functional_subclass(cls)
        instance = super().__new__(cls)
        instance.__dict__["_constructor_arguments"] = (args, kwargs)  # a subclassed model's automatic config
        return instance

    # Two ways to make a model: ``Model(inputs, outputs)`` (the functional API, which __new__ hands to
    # Functional, so it never runs this __init__), or a subclass's ``super().__init__(name=...)``.
    @overload
    def __init__(self, inputs: GraphEnds, outputs: GraphEnds, name: str | None = None,
                 trainable: bool = True) -> None: ...

    @overload
    def __init__(self, name: str | None = None, trainable: bool = True, **kwargs: Any) -> None: ...

    def __init__(self, name: str | None = None, trainable: bool = True,  # type: ignore[misc]
                 **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name if name is not None else naming.unique_name(naming.to_snake_case(type(self).__name__))
        self.trainable = trainable
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self.compiled = False
        self.grads: dict[str, Any] = {}
        self._metrics = None
        self._metric_specs: list[Any] | dict[str, Any] = []

    # ------------------------------------------------------------- subclass API
    # Sequential and Functional override these.  The defaults are those of a subclassed model
    # (``class MyModel(Model)`` with ``__init__`` and ``call``): see ``subclassed.py``.
    def __setattr__(self, name: str, value: Any) -> None:
        track_held_layers(self, name, value)  # Keras tracks the layers a subclassed model holds
        object.__setattr__(self, name, value)

    @property
    def trainable(self) -> bool:
        """Whether training may change the weights.  Setting it sets every layer's flag too, as Keras 3
        does: ``base_model.trainable = False`` freezes a backbone, and its batch normalization layers
        then run in inference mode (their moving statistics stay as they are)."""
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.__dict__["_trainable"] = bool(value)
        try:
            inner = self.layers
        except (AttributeError, NotImplementedError):
            return  # still being constructed: no layers yet
        for layer in inner:
            layer.trainable = bool(value)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Keras's ``call``: the model's computation on a batch.  A subclassed model defines it; for a
        Sequential or functional model it runs the layers.

        Args:
            inputs: an array, or a list of arrays for several inputs.
            training: True for the training behaviour of dropout and batch normalization.

        Returns:
            The output array (a list for several outputs).
        """
        if type(self).call is Model.call and type(self)._run_forward is Model._run_forward:
            raise NotImplementedError(f"{type(self).__name__}: a subclassed model must define call()")
        return self.forward(inputs, training=bool(training))

    def _runs_call(self):
        """True for a subclassed model: what it computes is its ``call`` (no layer graph)."""
        return type(self)._run_forward is Model._run_forward

    def _without_call(self):
        """True for a subclassed model that defines no ``call`` (a GAN that its own ``train_step`` trains)."""
        return self._runs_call() and type(self).call is Model.call

    @property
    def layers(self) -> list[Layer | Model]:
        """The model's layers, in order: for a subclassed model, those assigned to its attributes.

        Returns:
            A new list of layer objects; changing the list does not change the model.
        """
        return subclassed.tracked_layers(self)

    def _run_forward(self, inputs, training):
        """inputs: list of arrays, one per model input -> list of output arrays."""
        return subclassed.run_forward(self, inputs, training)

    def _run_backward(self, output_grads, fused, need_input_gradients=True):
        """Backprop a gradient per output; ``fused[i]`` says it is already dL/dz of output i's layer.
        Returns the gradients with respect to the inputs (a list)."""
        return subclassed.run_backward(self, output_grads, need_input_gradients)

    def _output_layers(self):
        """The layer that produces each output (for a subclassed model, a stand-in per output)."""
        specs = getattr(self, "_output_specs", None)
        if specs is None:
            raise RuntimeError(f"{self.describe()}: the model is not built yet; call it on a batch or build(shape)")
        return specs

    def build(self, input_shape: ShapeLike | None = None) -> None:
        """Create the weights of every layer for inputs of ``input_shape`` (batch axis None).

        For a subclassed model this runs ``call`` once on a small dummy batch, so that ``summary()`` and
        ``count_params()`` work before training.

        Args:
            input_shape: the batch shape of the input, or a list of them for several inputs.
        """
        if input_shape is None:
            raise ValueError(f"{self.describe()}: build() needs the input shape, e.g. build((None, 28, 28, 1))")
        subclassed.build(self, input_shape if isinstance(input_shape, list) else tuple(input_shape))

    def _build_dtype(self):
        return backend.floatx()

    @property
    def input_shape(self) -> Shape | list[Shape] | None:
        """The input's batch shape, once known (after ``build`` or the first batch)."""
        shapes = getattr(self, "_input_shapes", None)
        if not shapes:
            return None
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Shape | list[Shape] | None:
        """The output's batch shape, once known (after ``build`` or the first batch)."""
        specs = getattr(self, "_output_specs", None)
        if not specs:
            return None
        return specs[0].output_shape if len(specs) == 1 else [spec.output_shape for spec in specs]

    def add_loss(self, loss: Any) -> None:
        """Add a term to the training loss from inside ``call`` (Keras's ``add_loss``).

        Args:
            loss: a scalar computed with ``tinyconv.ops`` from the model's values (its gradient flows back).
        """
        Layer.add_loss(self, loss)  # type: ignore[arg-type]  # (a model keeps its terms as a layer does)

    @property
    def losses(self) -> list[Any]:
        """The terms ``add_loss`` received during the last forward pass (the model's and its layers'), then the
        weight-regularization penalties."""
        own = [taped.value_of(loss) for loss in getattr(self, "_added_losses", [])]
        return own + [value for layer in self.layers if hasattr(layer, "losses") for value in layer.losses]

    def _added_loss_total(self):
        """The sum of the terms added with ``add_loss`` in the last forward pass (0.0 without any)."""
        holders = [self] + [owner for owner, _ in subclassed.weight_owners_of_model(self)]
        return sum(float(np.sum(devices.to_host(taped.value_of(loss))))
                   for holder in holders for loss in getattr(holder, "_added_losses", []))

    def _can_fuse(self, output_index):
        """True when output i's last activation may be fused with the loss."""
        return True

    @property
    def input_names(self) -> list[str]:
        """The names of the model's inputs, one per input array ``fit`` and ``predict`` expect.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,), name="pixels"), layers.Dense(1)])
        >>> model.input_names
        ['pixels']
        """
        return ["input"]

    @property
    def output_names(self) -> list[str]:
        """The names of the layers that make the model's outputs (the keys of dict targets and of per-output losses).

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(1, name="score")])
        >>> model.output_names
        ['score']
        """
        return [layer.name for layer in self._output_layers()]

    @property
    def built(self) -> bool:
        """True once every layer has its weights (after ``build``, an ``Input`` first layer, or the first batch).

        Example:

        >>> model = tinyconv.Sequential([layers.Dense(2)])
        >>> model.built
        False
        >>> model.build((None, 3))
        >>> model.built
        True
        """
        if self._runs_call() and not self._without_call():  # built once call() has run (build() or a first batch)
            return getattr(self, "_output_specs", None) is not None
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def describe(self) -> str:
        """The model's class and name, as error messages quote it.

        Returns:
            A string such as ``"Sequential 'classifier'"``.

        Example:

        >>> tinyconv.Sequential(name="classifier").describe()
        "Sequential 'classifier'"
        """
        return f"{type(self).__name__} '{self.name}'"

    @property
    def dtype(self) -> str:
        """The dtype inputs are cast to at the model's entrance: the first layer's dtype, else ``backend.floatx()``.

        Example:

        >>> tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(1)]).dtype
        'float32'
        """
        return self.layers[0].dtype if self.layers else backend.floatx()

    # ------------------------------------------------------------- weights
    @property
    def weights(self) -> list[Variable]:
        """Every weight of every layer, trainable ones and not, in layer order.

        Returns:
            A list of the layers' weight variables.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> [tuple(w.shape) for w in model.weights]
        [(3, 2), (2,)]
        """
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_variables(self) -> list[Variable]:
        """Keras 3's name for ``trainable_weights`` (what a custom ``train_step`` differentiates).

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> [v.shape for v in model.trainable_variables]
        [(3, 2), (2,)]
        """
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        """Keras 3's name for ``non_trainable_weights``."""
        return self.non_trainable_weights

    @property
    def variables(self) -> list[Variable]:
        """Keras 3's name for ``weights``."""
        return self.weights

    @property
    def trainable_weights(self) -> list[Variable]:
        """The weights the optimizer updates (none when ``model.trainable`` is False).

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2), layers.BatchNormalization()])
        >>> len(model.trainable_weights), len(model.non_trainable_weights)
        (4, 2)
        """
        if not self.trainable:
            return []
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """The weights the optimizer leaves alone: e.g. batch normalization's moving statistics, or every
        weight when ``model.trainable`` is False.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> model.trainable = False
        >>> len(model.non_trainable_weights)
        2
        """
        if not self.trainable:
            return self.weights
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def trainable_gradients(self) -> list[DeviceArray]:
        """The gradients of the last backward pass, aligned with ``trainable_weights``.

        Each training step overwrites them (they are not summed across steps), so after ``train_on_batch``
        they are that batch's gradients, the ones the optimizer has just applied.

        Returns:
            A list of arrays, one per trainable weight, with that weight's shape.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> _ = model.train_on_batch(np.ones((4, 3)), np.ones((4, 2)))
        >>> [g.shape for g in model.trainable_gradients()]
        [(3, 2), (2,)]
        """
        if not self.trainable:
            return []
        return [g for layer in self.layers if layer.trainable for g in layer.trainable_gradients()]

    def get_weights(self) -> list[npt.NDArray[Any]]:
        """Copies of every weight as NumPy arrays, in the order of ``weights``.

        Returns:
            A list of arrays that ``set_weights`` accepts.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> [w.shape for w in model.get_weights()]
        [(3, 2), (2,)]
        """
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Iterable[npt.ArrayLike | DeviceArray | Variable]) -> None:
        """Replace every weight, in the order ``get_weights`` returns them.

        Args:
            weights: a list of arrays, one per weight, each of that weight's shape.

        Raises:
            ValueError: if the number of arrays or a shape does not match.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
        >>> model.set_weights([np.ones((3, 1)), np.zeros(1)])
        >>> model.predict(np.ones((1, 3)), verbose=0)
        array([[3.]], dtype=float32)
        """
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

    def count_params(self) -> int:
        """The number of scalar weights (trainable and not).

        Returns:
            An int.

        Raises:
            ValueError: if the model is not built yet.

        Example:

        >>> tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)]).count_params()  # 3 * 2 + 2
        8
        """
        if not self.built:
            raise ValueError(f"{self.describe()} is not built yet: call build(input_shape) or fit it on data")
        return sum(layer.count_params() for layer in self.layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer | Model:
        """One of the model's layers, by name or by position in ``layers``.

        Args:
            name: the layer's name.
            index: its position in ``layers`` (takes precedence over ``name``).

        Returns:
            The layer object itself (not a copy).

        Raises:
            ValueError: if no layer has that name (the message lists the names).
            IndexError: if ``index`` is out of range.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2, name="hidden"),
        ...                              layers.Dense(1, name="score")])
        >>> model.get_layer("score").units, model.get_layer(index=0).name
        (1, 'hidden')
        """
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.describe()} has no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    # ------------------------------------------------------------- compile
    def compile(self, optimizer: OptimizerArgument = "rmsprop", loss: LossArgument | None = None,
                metrics: MetricsArgument | None = None,
                loss_weights: Sequence[float | None] | Mapping[str, float | None] | None = None,
                weighted_metrics: MetricsArgument | None = None, **kwargs: Any) -> None:
        """Choose the optimizer, the loss and the metrics that ``fit`` and ``evaluate`` use.

        A softmax (or sigmoid) last layer with a (sparse / binary) cross-entropy loss is fused during
        training: backprop starts from ``(p - y) / N`` on the logits, which is exact and avoids dividing
        by tiny probabilities. What ``"accuracy"`` means is decided on the first batch, from the shapes
        of the targets and of the output (as in Keras 3).

        Args:
            optimizer: a name (``"sgd"``, ``"adam"``, ``"rmsprop"``...) or an optimizer object.
            loss: a name, a loss object or a function ``(y_true, y_pred)``; a list or a dict keyed by
                output name for a model with several outputs (None there skips an output). Required.
            metrics: a list of metric names, functions or ``tinyconv.metrics`` objects (each logged under
                its name); for several outputs a list with one entry (a metric, a list or None) per output,
                or a dict keyed by output name. Logged as ``<output>_<name>`` when there are several outputs.
            loss_weights: one factor per output (list or dict) for the total loss.
            weighted_metrics: metrics that also take ``sample_weight`` / ``class_weight`` into account (the
                plain ``metrics`` do not, as in Keras); same forms as ``metrics``.
            **kwargs: other Keras options, accepted and ignored.

        Raises:
            ValueError: if ``optimizer`` is an unknown name (``loss`` may be None for a model that adds its
                own loss terms with ``add_loss``). The losses and metrics are
                resolved on the first batch of ``fit`` / ``evaluate``, which reports an unknown loss name or
                a dict naming an output the model does not have.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> model.compiled, type(model.optimizer).__name__
        (True, 'Adam')
        """
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._loss_spec = loss
        self._loss_weight_spec = loss_weights
        self._metric_specs = metrics if isinstance(metrics, dict) else list(metrics or [])
        self._weighted_metric_specs = (weighted_metrics if isinstance(weighted_metrics, dict)
                                       else list(weighted_metrics or []))
        self._metrics = None  # resolved on the first batch, when the shapes are known
        self._losses = None
        # What ``model.metrics`` lists (Keras 3's): the loss tracker and the compiled metrics as one object.
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_metrics = (CompiledMetrics(self) if metrics is not None or weighted_metrics is not None
                                 else None)
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

    def _metrics_per_output(self, specs):
        """One list of metric entries per output, from Keras 3's forms of ``compile(metrics=...)``: a dict
        keyed by output name; for several outputs, a list with one entry (a metric, a list or None) per
        output; else one list, which (as in Keras 2) every output gets when there are several."""
        names = self.output_names
        if isinstance(specs, dict):
            return [data_module.as_list(entry) or [] for entry in self._per_output(specs, "metrics")]
        nested = any(entry is None or isinstance(entry, (list, tuple)) for entry in specs)
        if len(names) > 1 and (nested or len(specs) == len(names)):
            if len(specs) != len(names):
                raise ValueError(f"compile: {len(specs)} metric lists for {len(names)} outputs {names}; give one "
                                 f"entry (a metric, a list of metrics or None) per output, or a dict keyed by "
                                 f"output name")
            return [data_module.as_list(entry) or [] for entry in specs]
        if len(names) == 1 and len(specs) == 1 and isinstance(specs[0], (list, tuple)):
            return [list(specs[0])]
        return [list(specs)] * len(names)

    def _resolved_metrics(self, targets):
        """``[(log name, output index, Metric object, weighted)]``, made on the first batch: Keras 3 decides
        what 'accuracy' means from the shapes of y and y_pred."""
        if self._metrics is None:
            losses = self._resolved_losses()
            prefix = len(losses) > 1
            resolved = []
            for weighted, specs in ((False, self._metric_specs),
                                    (True, getattr(self, "_weighted_metric_specs", []))):
                for index, entries in enumerate(self._metrics_per_output(specs)):
                    layer = self._output_layers()[index]
                    for spec in entries:
                        name, metric = metrics_module.metric_object(spec, losses[index], layer.output_shape,
                                                                    np.shape(targets[index]))
                        name = f"{self.output_names[index]}_{name}" if prefix else name
                        if weighted and any(name == taken for taken, *_ in resolved):
                            name = f"weighted_{name}"  # Keras's name when a plain metric has it already
                        resolved.append((name, index, metric, weighted))
            for _, _, metric, _ in resolved:
                metric.reset_state()  # a metric object may arrive with state from use by hand
            self._metrics = resolved
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
        return getattr(self, "_activity_loss", 0.0) + self._added_loss_total() + sum(
            float(layer.regularization_losses()) for layer in self.layers if hasattr(layer, "regularization_losses"))

    def regularization_losses(self) -> float:
        """The weight penalties of every layer (nested models included) plus the activity penalties of the last
        forward pass: the term ``fit`` adds to the loss.

        Returns:
            A float.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(
        ...     2, kernel_initializer="ones", kernel_regularizer=tinyconv.regularizers.L2(0.5))])
        >>> model.regularization_losses()  # 0.5 * (six weights of 1)
        3.0
        """
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
    def _user_outputs(self, outputs):
        """What ``model(x)`` and ``predict`` hand back: a dict for a model made with dict outputs (Keras 3),
        else the one array or the list."""
        keys = getattr(self, "_output_keys", None)
        return dict(zip(keys, outputs)) if keys else self._unwrap(outputs)

    def _unwrap(self, outputs):
        return outputs[0] if len(outputs) == 1 else outputs

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        """Run the model on a batch (``model(x)``), as ``predict_on_batch`` but without batching or the copy to
        NumPy; on symbolic tensors, record the model as one layer of a functional graph instead.

        Args:
            x: an array (a list or a dict of them for several inputs), or symbolic tensors.
            training: True for the training behaviour of dropout and batch normalization.

        Returns:
            The output array (a list or a dict for several outputs), or the symbolic outputs.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2, kernel_initializer="ones")])
        >>> model(np.ones((1, 3))).tolist()
        [[3.0, 3.0]]
        """
        if graph.is_symbolic(x):  # the model used as a layer in a functional graph
            return graph.call_layer_on_symbols(self, x, training)
        tape = taped.tape_of(x)
        if tape is not None:  # inside taped code or a GradientTape: one step, backward = this model's own
            return self._call_on_tape(x, tape, training)
        return self._user_outputs(self._run_forward(self._prepare_inputs(taped.bare(x), "call"),
                                                    training=bool(training)))

    def _call_on_tape(self, x, tape, training):
        """Run the model and record it on ``tape`` as one step whose backward is the model's backward pass."""
        if training is None:
            training = bool(taped._TRAINING[0])
        outputs = self._run_forward(self._prepare_inputs(taped.bare(x), "call"), training=bool(training))
        saved = _snapshot(self)  # should the model be called again on this tape (a shared encoder)
        flat_inputs = taped.flatten(x)
        taped_inputs = [leaf if tape.holds(leaf) else None for leaf in flat_inputs]

        def model_backward(upstream):
            _restore(saved)
            input_grads = self._run_backward(list(upstream), [False] * len(upstream))
            for owner, _ in subclassed.weight_owners_of_model(self):  # each layer's gradients, for tape.gradient
                tape.add_layer_gradients(owner)
            return input_grads

        recorded = tape.record(f"{type(self).__name__} '{self.name}'", taped_inputs, outputs, model_backward,
                               detail=self, multi_output=True)
        return self._unwrap(recorded)

    # ------------------------------------------------------------- as a layer
    def forward(self, x: DeviceArray | list[DeviceArray], training: bool = False) -> Any:
        """Run the model as a layer of another model: the outputs for the batch ``x``.

        Unlike ``predict`` there is no batching, casting or conversion to NumPy; what backward needs is kept.

        Args:
            x: an array (or a list of arrays, one per input).
            training: True for the training behaviour of dropout and batch normalization.

        Returns:
            The output array, or a list for several outputs.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> model.forward(np.ones((5, 3), dtype="float32")).shape
        (5, 2)
        """
        outputs = self._run_forward(x if isinstance(x, list) else [x], training)
        return self._unwrap(outputs)

    def backward(self, dy: DeviceArray | list[DeviceArray], need_input_gradient: bool = True) -> Any:
        """Backprop through the model as a layer: from dL/d(output) of the last ``forward`` to dL/d(input).

        Every layer stores its weight gradients on the way (overwriting the previous ones).

        Args:
            dy: dL/d(output), with the output's shape (a list for several outputs).
            need_input_gradient: accepted for the layer interface; the model always returns dL/d(input).

        Returns:
            dL/d(input), with the input's shape (a list for several inputs).

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> _ = model.forward(np.ones((5, 3), dtype="float32"), training=True)
        >>> model.backward(np.ones((5, 2), dtype="float32")).shape
        (5, 3)
        """
        grads = self._run_backward(dy if isinstance(dy, list) else [dy], [False] * len(self.output_names))
        return grads[0] if len(grads) == 1 else grads

    def check_input(self, x: Any) -> None:
        """Part of the layer interface; a model checks its inputs in its own forward pass, so this does nothing.

        Args:
            x: the input about to be passed to ``forward``.

        Example:

        >>> tinyconv.Sequential([layers.Dense(1)]).check_input(np.ones((2, 3))) is None
        True
        """
        pass

    # ------------------------------------------------------------- display
    def summary(self, line_length: int | None = None, positions: Sequence[float] | None = None,
                print_fn: Callable[..., Any] | None = None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range: Sequence[str] | None = None) -> None:
        """Print Keras's table of the layers, their output shapes and parameter counts, and the totals.

        ``tinyconv.teaching.summary`` prints the same table with receptive-field and FLOP columns.

        Args:
            line_length: total width of the table.
            positions: relative or absolute positions of the column ends.
            print_fn: function called with each line instead of ``print``.
            expand_nested: also list the layers inside nested models.
            show_trainable: add a column saying whether each layer is trainable.
            layer_range: ``(first name, last name)`` of the layers to list.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> lines = []
        >>> model.summary(print_fn=lines.append)
        >>> [line.strip() for text in lines for line in text.splitlines() if "params" in line]
        ['Total params: 8 (32.00 B)', 'Trainable params: 8 (32.00 B)', 'Non-trainable params: 0 (0.00 B)']
        """
        from .summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)

    # ------------------------------------------------------------- config (models/config.py) and files
    def get_config(self) -> dict[str, Any]:
        """Keras 3's config of the model: its layers (and, for a functional model, how they connect); no weights.

        Returns:
            A dict that ``from_config`` turns back into a model (with fresh weights).

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)], name="tiny")
        >>> config = model.get_config()
        >>> config["name"], len(config["layers"])
        ('tiny', 2)
        """
        if self._runs_call():  # a subclassed model: its constructor's arguments, as Keras's automatic config
            config: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
            if type(self).__init__ is not Model.__init__:
                config.update(serialization.constructor_config(self))
            return config
        return model_config(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Self:
        """Make a model from ``get_config()``'s dict (Keras's configs too); its weights are freshly initialised.

        Args:
            config: the config dict.
            custom_objects: dict of the user-defined classes or functions the config names.

        Returns:
            A new model.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> copy = tinyconv.Sequential.from_config(model.get_config())
        >>> copy.count_params(), copy is model
        (8, False)
        """
        graph_config = all(key in config for key in ("layers", "input_layers", "output_layers"))
        if cls._run_forward is Model._run_forward and not graph_config:  # a subclassed model: its constructor
            return subclassed.from_config(cls, config)
        return model_from_config(cls, config, custom_objects)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture (no weights) as Keras's JSON; ``models.model_from_json`` reads it back.

        Args:
            **kwargs: passed to ``json.dumps`` (e.g. ``indent=2``).

        Returns:
            A string.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> import json
        >>> json.loads(model.to_json())["class_name"]
        'Sequential'
        """
        import json

        return json.dumps(serialization.serialize(self), **kwargs)

    # save / save_weights / load_weights are facades of tinyconv.saving, which sits above the models (it reads
    # and writes them): the one deliberate upward import of the models, made when called (as in Keras).
    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True, include_optimizer: bool = True,
             **kwargs: Any) -> None:
        """Save the architecture, the weights and (optionally) the optimizer to one file.

        ``.keras`` writes Keras 3's zip, ``.h5`` Keras 2's HDF5 file; both reopen with ``models.load_model``
        (in tinyconv or in Keras).

        Args:
            filepath: the file's path; its extension picks the format.
            overwrite: if False, refuse to replace an existing file.
            include_optimizer: also save the optimizer's state, so that training can resume.
            **kwargs: options of the file format.

        Raises:
            ValueError: for an extension other than ``.keras`` or ``.h5``.
            FileExistsError: if the file exists and ``overwrite`` is False.

        Example:

        >>> import os, tempfile
        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.keras")
        >>> model.save(path)
        >>> tinyconv.models.load_model(path).count_params()
        8
        """
        from ..saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs)

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Save the weights only (no architecture): ``.weights.h5`` in Keras 3's layout, ``.h5`` in Keras 2's.

        Args:
            filepath: the file's path, ending in ``.weights.h5`` or ``.h5``.
            overwrite: if False, refuse to replace an existing file.

        Raises:
            ValueError: for any other file name.
            FileExistsError: if the file exists and ``overwrite`` is False.

        Example:

        >>> import os, tempfile
        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.weights.h5")
        >>> model.save_weights(path)
        >>> os.path.exists(path)
        True
        """
        from ..saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def to_device(self, name: str) -> Self:
        """Move the weights (and the optimizer's state) to ``'cpu'`` or ``'gpu'`` and make it the active device
        (the device already active stays as it is, with the array module it was selected with).

        Values are kept: a model trained on one device predicts the same on the other.  Layers hold their
        weights as attributes too (``layer.kernel``), so every attribute that *is* a moved array is
        repointed; the optimizer's per-weight state is keyed on the weight array and moves with it.

        Args:
            name: ``'cpu'`` or ``'gpu'``.

        Returns:
            The model itself.

        Raises:
            RuntimeError: for ``'gpu'`` without CuPy or a GPU (nothing changes).
            ValueError: for a name other than ``'cpu'`` or ``'gpu'``.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> model.to_device("cpu") is model
        True
        """
        if name != devices.get_device():
            backend.set_device(name)  # raises (and changes nothing) without CuPy or a GPU
        moved: dict[int, DeviceArray] = {}
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

    def load_weights(self, filepath: str | os.PathLike[str], skip_mismatch: bool = False) -> None:
        """Load weights saved by ``save_weights`` (or a whole ``.keras`` / ``.h5`` model file) into this model.

        Args:
            filepath: the file's path.
            skip_mismatch: if True, skip weights whose shape does not match instead of raising.

        Raises:
            FileNotFoundError: if there is no file at ``filepath``.
            ValueError: if the file's weights do not fit this model's layers (the message names the
                layer, the weight and both shapes).

        Example:

        >>> import os, tempfile
        >>> source = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.weights.h5")
        >>> source.save_weights(path)
        >>> target = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> target.load_weights(path)
        >>> all(np.array_equal(a, b) for a, b in zip(source.get_weights(), target.get_weights()))
        True
        """
        from ..saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)


_FUNCTIONAL_SUBCLASSES: dict[type, type] = {}  # a Model subclass -> the same class on a functional graph (made once)


def _functional_arguments(args, kwargs):
    """Whether a Model subclass is being made the functional way: ``(inputs, outputs)``, the inputs symbolic."""
    if len(args) == 2 or (len(args) == 1 and "outputs" in kwargs):
        inputs = args[0]
    elif "inputs" in kwargs and "outputs" in kwargs:
        inputs = kwargs["inputs"]
    else:
        return False
    return graph.is_symbolic(list(inputs.values()) if isinstance(inputs, dict) else inputs)


def _functional_subclass(cls):
    """``cls`` with Functional behind it: the subclass's methods first, the graph's forward and backward next."""
    made = _FUNCTIONAL_SUBCLASSES.get(cls)
    if made is None:
        functional = serialization.registered_class("models", "Functional")
        made = type(cls.__name__, (cls, functional), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
        _FUNCTIONAL_SUBCLASSES[cls] = made
    return made


def _sublayers(layer):
    """The layer, and every layer inside it when it is itself a model."""
    found = [layer]
    for inner in getattr(layer, "layers", []) if isinstance(layer, Model) else []:
        found.extend(_sublayers(inner))
    return found


def _snapshot(layer):
    """What a layer (or a model's layers) kept from a forward call, to put back before that call's backward
    when the layer is called again in between (a shared layer)."""
    return [(obj, dict(vars(obj))) for obj in _sublayers(layer)]


def _restore(snapshot):
    for obj, saved in snapshot:
        vars(obj).clear()
        vars(obj).update(saved)


def _all_layers(model):
    """Every layer of ``model``, looking inside nested models."""
    for layer in model.layers:
        if hasattr(layer, "layers") and not hasattr(layer, "_weights"):
            yield from _all_layers(layer)
        else:
            yield layer


def _batch_size(value):
    return value.shape[0] if getattr(value, "ndim", 0) > 0 and value.shape[0] > 0 else 1
