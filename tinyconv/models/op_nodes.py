"""Op nodes (``x + y``, ``x[:, 0]``, ``ops.concatenate``) in a functional model's config, as Keras writes them.

Keras 3 writes an op called on symbolic tensors as an entry of ``"layers"`` whose module is one of
``keras.src.ops.*`` and whose class is the op's class (``Add``, ``GetItem``, ``Concatenate``); its one
inbound node holds the op's arguments, the tensors among them as ``__keras_tensor__`` entries and slices
as ``__slice__``.  Loading replays the op on the rebuilt tensors.
"""
from .. import naming
from ..layers.op_layer import OpLayer
from ..ops.operation import REGISTRY

_OP_MODULES = {"nn": "keras.src.ops.nn", "linalg": "keras.src.ops.linalg", "core": "keras.src.ops.core"}


def class_name_of(op_name):
    """``get_item`` -> ``GetItem``: Keras's op classes are the op names in CamelCase."""
    return "".join(part.capitalize() for part in op_name.split("_"))


def op_name_of(class_name):
    return naming.to_snake_case(class_name)


def is_op_entry(entry):
    return str(entry.get("module", "")).startswith("keras.src.ops")


def _encode(value, tensor_entry, inputs):
    if isinstance(value, OpLayer.Slot):
        return tensor_entry(inputs[value.index])
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {"start": value.start, "stop": value.stop, "step": value.step}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(value, (list, tuple)):
        return [_encode(item, tensor_entry, inputs) for item in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def op_node_entry(layer, node, tensor_entry):
    """Keras's config entry for one op node."""
    family = layer.op.forward.__module__.rsplit(".", 1)[-1].split("_")[0]  # nn_conv.py is an nn module
    class_name = class_name_of(layer.op.name)
    return {"module": _OP_MODULES.get(family, "keras.src.ops.numpy"), "class_name": class_name,
            "config": {"name": layer.name}, "registered_name": class_name, "name": layer.name,
            "inbound_nodes": [{"args": [_encode(a, tensor_entry, node.inputs) for a in layer.op_args],
                               "kwargs": {k: _encode(v, tensor_entry, node.inputs)
                                          for k, v in layer.op_kwargs.items()}}]}


class OpReplay:
    """An op entry of a config, replayed on the rebuilt tensors when its inputs exist."""

    def __init__(self, entry):
        self.name = entry.get("name") or entry["config"]["name"]
        self.op_name = op_name_of(entry["class_name"])
        if self.op_name not in REGISTRY:
            raise ValueError(f"functional config: node {self.name!r} calls the op {entry['class_name']!r} "
                             f"({entry.get('module')}), which tinyconv.ops does not have")
        self.extra = {k: v for k, v in (entry.get("config") or {}).items() if k != "name"}

    def replay(self, node_data, tensor_for):
        def decode(value):
            if isinstance(value, dict):
                kind = value.get("class_name")
                if kind == "__keras_tensor__":
                    return tensor_for(tuple(value["config"]["keras_history"]))
                if kind == "__slice__":
                    config = value.get("config", {})
                    return slice(config.get("start"), config.get("stop"), config.get("step"))
                if kind == "__ellipsis__":
                    return Ellipsis
                return {k: decode(v) for k, v in value.items()}
            if isinstance(value, list):
                return [decode(item) for item in value]
            return value

        args = [decode(a) for a in node_data.get("args", [])]
        kwargs = {k: decode(v) for k, v in node_data.get("kwargs", {}).items()}
        kwargs.update(self.extra)
        if self.op_name == "get_item" and len(args) > 1 and isinstance(args[1], list):
            args[1] = tuple(args[1])  # Keras writes the index tuple x[a, b] as a list
        output = REGISTRY[self.op_name](*args, **kwargs)
        outputs = list(output) if isinstance(output, (list, tuple)) else [output]  # ops.split: several
        for tensor in outputs:
            tensor.producer.name = self.name  # later entries name this node's outputs by the saved name
        return outputs
