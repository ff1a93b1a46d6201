"""``Sequential``: a plain stack of layers, each feeding the next.

Forward runs the layers in order; backward runs them in reverse, handing each layer the
gradient of the loss with respect to its output and receiving the gradient with respect
to its input.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import graph, serialization
from ..devices import check_layer_runs_here
from ..layers.base import Layer, Shape, ShapeLike, run_backward
from ..layers.core import InputLayer
from .model import Model


class Sequential(Model):
    """A plain stack of layers, each feeding the next.

    The model is built (its weights created) as soon as it knows its input shape: from a first
    ``layers.Input``, from ``build(input_shape)``, or from the first batch it sees.

    Args:
        layers: optional list of layers (an ``Input`` may come first), added in order.
        name: the model's name (default: a unique ``"sequential..."``).
        trainable: if False, ``fit`` leaves every weight unchanged.

    Raises:
        TypeError: if an element is not a tinyconv layer or model.
        ValueError: if two layers share a name, or an ``Input`` comes after a layer.

    Example:

    >>> model = tinyconv.Sequential([
    ...     layers.Input(shape=(8, 8, 1)),
    ...     layers.Conv2D(4, 3, activation="relu"),
    ...     layers.Flatten(),
    ...     layers.Dense(10, activation="softmax"),
    ... ])
    >>> model.output_shape, model.count_params()
    ((None, 10), 1490)
    """
    def __init__(self, layers: Sequence[Layer | Model | graph.SymbolicTensor] | None = None, name: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        self._layers: list[Layer | Model] = []
        self._input_layer: InputLayer | None = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer | Model]:
        """The model's layers in order, without the ``InputLayer`` (as in Keras 3).

        Returns:
            A new list; changing it does not change the model (use ``add`` / ``pop``).

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2), layers.ReLU()])
        >>> [type(layer).__name__ for layer in model.layers]
        ['Dense', 'ReLU']
        """
        return list(self._layers)

    def add(self, layer: Layer | Model | graph.SymbolicTensor) -> None:
        """Append a layer (or a model) to the top of the stack; builds the model when its input shape is known.

        Args:
            layer: a tinyconv layer, a model, or ``layers.Input(...)`` (only as the first element).

        Raises:
            TypeError: if ``layer`` is not a tinyconv layer or model.
            ValueError: if its name is already used, or an ``Input`` is added after other layers.

        Example:

        >>> model = tinyconv.Sequential()
        >>> model.add(layers.Input(shape=(3,)))
        >>> model.add(layers.Dense(2))
        >>> model.output_shape
        (None, 2)
        """
        if isinstance(layer, graph.SymbolicTensor):
            layer = layer.producer
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"Sequential '{self.name}': an Input can only be the first element")
            self._input_layer = layer
            return
        if not isinstance(layer, (Layer, Model)):
            raise TypeError(f"Sequential '{self.name}': can only add tinyconv layers or models, got {layer!r}")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential '{self.name}': all layers must have unique names; "
                             f"'{layer.name}' is already used")
        declared = getattr(layer, "_declared_input_shape", None)
        if isinstance(layer, Model) and layer.built:  # a nested model brings its input shape along
            declared = getattr(layer, "input_shape", None)
        if not self._layers and self._input_layer is None and declared is not None:
            self._input_layer = InputLayer(batch_shape=declared)
        self._layers.append(layer)
        if self._input_layer is not None:
            self.build(self._input_layer.batch_shape)

    def pop(self) -> Layer | Model:
        """Remove the last layer and return it.

        Returns:
            The removed layer.

        Raises:
            ValueError: if the model has no layers.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
        >>> model.pop().units, len(model.layers)
        (1, 1)
        """
        if not self._layers:
            raise ValueError(f"Sequential '{self.name}': there is no layer to remove")
        return self._layers.pop()

    def build(self, input_shape: ShapeLike | None = None) -> None:
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included, usually None).

        Args:
            input_shape: a tuple such as ``(None, 28, 28, 1)``; may be omitted when the model starts with ``Input``.

        Raises:
            ValueError: if no shape is given and the model has no ``Input``, or a layer cannot take the shape.

        Example:

        >>> model = tinyconv.Sequential([layers.Dense(2)])
        >>> model.build((None, 5))
        >>> model.count_params()
        12
        """
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input shape, e.g. "
                                 "build((None, 28, 28, 1)), or start the model with Input(shape=...)")
            input_shape = self._input_layer.batch_shape
        shape: Any = tuple(input_shape)  # then each layer's output shape
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=shape)
        for layer in self._layers:
            # (Model itself has no build_for: Sequential and Functional define one, a subclassed model does not,
            # and nesting one here raises AttributeError)
            shape = layer.build_for(shape)  # type: ignore[union-attr]
        self._trace_symbolic_graph()

    def _trace_symbolic_graph(self):
        """Record the stack as a graph of symbolic tensors, so ``model.inputs``, ``model.outputs`` and
        ``layer.output`` exist as in Keras (``Model(model.inputs, model.layers[2].output)`` makes a
        feature extractor).  Rebuilding replaces the previous trace."""
        for layer, node in getattr(self, "_traced_nodes", []):
            if node in getattr(layer, "_inbound_nodes", []):
                layer._inbound_nodes.remove(node)
        self._traced_nodes = []
        tensor = self._input_layer.output
        self._symbolic_inputs = [tensor]
        for layer in self._layers:
            tensor = graph.call_layer_on_symbols(layer, tensor)
            self._traced_nodes.append((layer, layer._inbound_nodes[-1]))
        self._symbolic_outputs = [tensor]

    @property
    def inputs(self) -> list[graph.SymbolicTensor]:
        """The model's symbolic input tensors (one), as in Keras: ``Model(model.inputs, ...)`` reuses its layers.

        Raises:
            AttributeError: if the model is not built yet.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> model.inputs[0].shape
        (None, 3)
        """
        if not self.built:
            raise AttributeError(f"Sequential '{self.name}' is not built yet, so it has no inputs")
        return list(self._symbolic_inputs)

    @property
    def outputs(self) -> list[graph.SymbolicTensor]:
        """The model's symbolic output tensors (one), traced through the layers when the model was built.

        Raises:
            AttributeError: if the model is not built yet.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> model.outputs[0].shape
        (None, 2)
        """
        if not self.built:
            raise AttributeError(f"Sequential '{self.name}' is not built yet, so it has no outputs")
        return list(self._symbolic_outputs)

    @property
    def input(self) -> graph.SymbolicTensor:
        """The model's one symbolic input tensor (``inputs[0]``).

        Raises:
            AttributeError: if the model is not built yet.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2), layers.Dense(1)])
        >>> features = tinyconv.Model(model.input, model.layers[0].output)  # a feature extractor
        >>> features.output_shape
        (None, 2)
        """
        return self.inputs[0]

    @property
    def output(self) -> graph.SymbolicTensor:
        """The model's one symbolic output tensor (``outputs[0]``).

        Raises:
            AttributeError: if the model is not built yet.

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> model.output.shape
        (None, 2)
        """
        return self.outputs[0]

    @property
    def input_shape(self) -> Shape | None:
        """The input's batch shape, e.g. ``(None, 28, 28, 1)``; None while the model does not know it.

        Example:

        >>> tinyconv.Sequential([layers.Input(shape=(28, 28, 1))]).input_shape
        (None, 28, 28, 1)
        """
        return self._input_layer.batch_shape if self._input_layer is not None else None

    @property
    def output_shape(self) -> Shape | list[Shape] | None:
        """The last layer's output shape, batch axis included.

        Raises:
            AttributeError: if the model is not built yet.

        Example:

        >>> tinyconv.Sequential([layers.Input(shape=(6, 6, 1)), layers.MaxPooling2D(2)]).output_shape
        (None, 3, 3, 1)
        """
        if not self.built:
            raise AttributeError(f"Sequential '{self.name}' is not built yet, so it has no output_shape")
        return self._layers[-1].output_shape

    @property
    def input_names(self) -> list[str]:
        """The name of the model's input layer, in a list (``["input"]`` while there is none).

        Example:

        >>> tinyconv.Sequential([layers.Input(shape=(3,), name="features"), layers.Dense(1)]).input_names
        ['features']
        """
        return [self._input_layer.name if self._input_layer is not None else "input"]

    def _output_layers(self):
        return [self._layers[-1]]

    def build_for(self, input_shape: ShapeLike) -> Shape | list[Shape] | None:
        """Build the model as a layer of another model.

        Args:
            input_shape: the batch shape of its input.

        Returns:
            The output shape.

        Example:

        >>> inner = tinyconv.Sequential([layers.Dense(4), layers.Dense(2)])
        >>> inner.build_for((None, 3))
        (None, 2)
        """
        self.build(input_shape)
        return self.output_shape

    def _run_forward(self, inputs, training):
        x = inputs[0]
        expected = self.input_shape
        if expected is not None and (x.ndim != len(expected) or any(
                e is not None and e != got for e, got in zip(expected[1:], x.shape[1:]))):
            raise ValueError(f"Sequential '{self.name}': expected input of shape {expected}, got {x.shape}")
        self._start_activity_record()
        for index, layer in enumerate(self._layers):
            check_layer_runs_here(layer)
            layer.check_input(x)
            x = layer.forward(x, training=training)
            self._record_activity(index, layer, x)
            if training:
                self._release_unneeded_preactivation(layer)
        return [x]

    def _run_backward(self, output_grads, fused, need_input_gradients=True):
        dy, layers = output_grads[0], self._layers
        if fused[0]:
            # dy is already dL/dz of the last layer: its softmax/sigmoid was fused with the loss.
            if need_input_gradients or len(layers) > 1:
                dy = layers[-1].backward_from_preactivation(dy)
            else:
                dy = layers[-1].backward_from_preactivation(dy, need_input_gradient=False)
            layers = layers[:-1]
        for index in reversed(range(len(layers))):
            layer = layers[index]
            dy = self._add_activity_gradient(index, layer, dy)
            # A training step reads no dL/d(input): the first layer may skip computing it.
            dy = run_backward(layer, dy, need_input_gradient=need_input_gradients or index > 0)
        return [dy]


serialization.register("models", Sequential)
