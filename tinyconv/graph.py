"""The symbolic graph: placeholders for data, and the layer calls that connect them.

``Input(shape=(28, 28, 1))`` returns a ``SymbolicTensor``: a shape (batch axis None) and the
layer that produces it.  Calling a layer (or a whole model) on symbolic tensors runs no
arithmetic: it records a ``Node`` - this layer, called on these tensors, made these tensors -
and returns the node's symbolic outputs.  ``Model(inputs, outputs)`` later walks these nodes
back from the outputs (see ``tinyconv.models.functional``).

This module sits below the layers and the models: it knows only that a layer has
``build_for(input_shape) -> output_shape``, a ``name`` and a ``dtype``.
"""


class SymbolicTensor:
    """A placeholder for data that will flow through a model: a shape (batch axis None) and
    the layer that produces it."""

    def __init__(self, shape, dtype, producer, node=None, index=0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.producer = producer
        self.node = node  # the call of ``producer`` that made this tensor
        self.index = index  # which of that call's outputs it is

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, from={self.producer.name!r}>"

    def __iter__(self):
        # Indexing makes graph nodes (x[0] is an op), so iterating would never end: refuse it.
        raise TypeError(f"{self!r} cannot be iterated: it is a placeholder with no values yet; "
                        "use ops.unstack or indexing x[i] to split it")

    def __bool__(self):
        raise TypeError(f"{self!r} has no truth value: it is a placeholder with no values yet "
                        "(branch on data with ops.where, or in a custom layer's call)")


class Node:
    """One call of ``layer`` on ``inputs`` (symbolic tensors); ``layer._inbound_nodes`` lists its calls."""

    def __init__(self, layer, inputs, multi_input):
        self.layer = layer
        self.inputs = list(inputs)
        self.multi_input = multi_input
        self.outputs = []
        self.multi_output = False
        self.training = None  # a training flag fixed at the call (Keras: base(x, training=False)), else None
        self.index = len(getattr(layer, "_inbound_nodes", []))  # which call of the layer this is
        if not hasattr(layer, "_inbound_nodes"):
            layer._inbound_nodes = []
        layer._inbound_nodes.append(self)

    def add_outputs(self, shapes, multi_output=False):
        self.multi_output = multi_output
        dtype = getattr(self.layer, "dtype", None) or "float32"
        self.outputs = [SymbolicTensor(shape, dtype, self.layer, node=self, index=i) for i, shape in enumerate(shapes)]
        return self.outputs


def is_symbolic(x):
    """True for a symbolic tensor, or a non-empty list / tuple of them (a merge layer's inputs)."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, SymbolicTensor) for t in x)


def call_layer_on_symbols(layer, x, training=None):
    """``layer(tensor)`` in a functional graph: build the layer for the tensors' shapes and record
    the call.  A model used as a layer goes the same way: one node whose layer is the whole model."""
    multi_input = isinstance(x, (list, tuple))
    inputs = list(x) if multi_input else [x]
    shapes = [t.shape for t in inputs]
    output_shape = layer.build_for(shapes if multi_input else shapes[0])
    multi_output = isinstance(output_shape, list)
    node = Node(layer, inputs, multi_input)
    node.training = training  # layer(x, training=False) in a graph: this call always runs in inference mode
    outputs = node.add_outputs(output_shape if multi_output else [output_shape], multi_output)
    return outputs if multi_output else outputs[0]
