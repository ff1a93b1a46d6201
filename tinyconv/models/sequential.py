"""``Sequential``: a plain stack of layers, each feeding the next.

Forward runs the layers in order; backward runs them in reverse, handing each layer the
gradient of the loss with respect to its output and receiving the gradient with respect
to its input.
"""
from .. import graph, serialization
from ..devices import check_layer_runs_here
from ..layers.base import Layer, run_backward
from ..layers.core import InputLayer
from .model import Model


class Sequential(Model):
    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        """The model's layers, without the InputLayer (as in Keras 3)."""
        return list(self._layers)

    def add(self, layer):
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

    def pop(self):
        if not self._layers:
            raise ValueError(f"Sequential '{self.name}': there is no layer to remove")
        return self._layers.pop()

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included)."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential '{self.name}': build() needs an input shape, e.g. "
                                 "build((None, 28, 28, 1)), or start the model with Input(shape=...)")
            input_shape = self._input_layer.batch_shape
        shape = tuple(input_shape)
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=shape)
        for layer in self._layers:
            shape = layer.build_for(shape)
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
    def inputs(self):
        if not self.built:
            raise AttributeError(f"Sequential '{self.name}' is not built yet, so it has no inputs")
        return list(self._symbolic_inputs)

    @property
    def outputs(self):
        if not self.built:
            raise AttributeError(f"Sequential '{self.name}' is not built yet, so it has no outputs")
        return list(self._symbolic_outputs)

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    @property
    def input_shape(self):
        return self._input_layer.batch_shape if self._input_layer is not None else None

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError(f"Sequential '{self.name}' is not built yet, so it has no output_shape")
        return self._layers[-1].output_shape

    @property
    def input_names(self):
        return [self._input_layer.name if self._input_layer is not None else "input"]

    def _output_layers(self):
        return [self._layers[-1]]

    def build_for(self, input_shape):
        """Build as a layer of another model; returns the output shape."""
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
