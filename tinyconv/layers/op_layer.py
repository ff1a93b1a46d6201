"""An op called on functional-API tensors becomes a node of the graph: ``OpLayer``.

``x = x + residual``, ``x[:, 0]``, ``ops.concatenate([a, b], axis=-1)`` between layer calls run no
arithmetic: as with a layer call, a node is recorded - this op, on these tensors - and its symbolic
output returned.  The node's layer is an ``OpLayer``: a layer whose ``call`` is the op, so its backward
comes from the op's own backward through the tape, like any layer that defines only ``call``.

Keras lists such nodes in ``summary()`` and in the saved config (as ``"module": "keras.src.ops.numpy"``,
``"class_name": "Add"``, ...) but not in ``model.layers``; so does tinyconv.
"""
from .. import graph, naming, serialization
from ..ops.operation import REGISTRY, set_symbolic_handler
from .base import Layer


class OpLayer(Layer):
    """One call of a ``tinyconv.ops`` function on symbolic tensors.

    Args:
        op_name: the op's name in ``tinyconv.ops`` (``"add"``, ``"get_item"``, ...).
        args: the op's positional arguments, with ``OpLayer.Slot(i)`` where the i-th input tensor goes.
        kwargs: the op's keyword arguments, likewise.
        name: the node's name (default: the op's name, made unique).

    Example:

    >>> inputs = layers.Input(shape=(3,))
    >>> doubled = inputs * 2.0
    >>> type(doubled.producer).__name__, doubled.producer.name.startswith("multiply"), doubled.shape
    ('OpLayer', True, (None, 3))
    """

    is_op_node = True  # listed in summary() and configs, not in model.layers (as Keras)

    class Slot:
        """Where an input tensor goes in the op's arguments."""

        def __init__(self, index):
            self.index = index

        def __repr__(self):
            return f"Slot({self.index})"

    def __init__(self, op_name, args=(), kwargs=None, name=None, **layer_kwargs):
        if op_name not in REGISTRY:
            raise ValueError(f"OpLayer: unknown op {op_name!r} (not in tinyconv.ops)")
        self.op = REGISTRY[op_name]
        super().__init__(name=name or naming.unique_name(op_name), **layer_kwargs)
        self.op_args = list(args)
        self.op_kwargs = dict(kwargs or {})

    def describe(self):
        return f"op '{self.name}' (ops.{self.op.name})"

    @property
    def summary_type(self):
        """The type ``summary()`` shows, Keras's op class: ``Add``, ``GetItem``, ``Concatenate``."""
        return "".join(part.capitalize() for part in self.op.name.split("_"))

    def _fill(self, value, inputs):
        if isinstance(value, OpLayer.Slot):
            return inputs[value.index]
        if isinstance(value, list):
            return [self._fill(item, inputs) for item in value]
        if isinstance(value, tuple):
            return tuple(self._fill(item, inputs) for item in value)
        return value

    def call(self, inputs):
        args = [self._fill(a, inputs) for a in self.op_args]
        kwargs = {key: self._fill(value, inputs) for key, value in self.op_kwargs.items()}
        return self.op(*args, **kwargs)

    def check_input(self, x):
        """Op nodes take whatever their op takes: the op itself checks its arguments."""

    def get_config(self):
        return {"name": self.name}


def _replace_tensors(value, tensors):
    """The argument with each symbolic tensor replaced by a Slot (the tensor appended to ``tensors``)."""
    if isinstance(value, graph.SymbolicTensor):
        tensors.append(value)
        return OpLayer.Slot(len(tensors) - 1)
    if isinstance(value, list):
        return [_replace_tensors(item, tensors) for item in value]
    if isinstance(value, tuple):
        return tuple(_replace_tensors(item, tensors) for item in value)
    return value


def call_op_on_symbols(op, bound):
    """What ``ops.<name>(...)`` does on symbolic tensors: a graph node whose layer runs the op."""
    tensors = []
    args = [_replace_tensors(value, tensors) for value in bound.args]
    kwargs = {key: _replace_tensors(value, tensors) for key, value in bound.kwargs.items()}
    layer = OpLayer(op.name, args, kwargs, name=naming.unique_name(op.name))
    return graph.call_layer_on_symbols(layer, list(tensors))


set_symbolic_handler(call_op_on_symbols)
serialization.register("layers", OpLayer)
