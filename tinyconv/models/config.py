"""Model configs in Keras 3's layout, and models rebuilt from them.

A Sequential's config is its list of serialized layers (the InputLayer first).  A functional
model's config lists every layer with its ``inbound_nodes``: one entry per call of the layer,
naming the tensors it was called on as ``keras_history = [layer name, node index, tensor
index]``.  Rebuilding replays those calls; a layer whose inputs are not made yet (a shared
layer's second call, say) waits for a later pass.

``Sequential`` and ``Functional`` import the modules this one builds on, so it finds them in the
serialization registry (where ``sequential.py`` and ``functional.py`` register them) rather than
importing them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import graph, serialization
from ..layers.core import InputLayer
from .op_nodes import OpReplay, is_op_entry, op_node_entry


def _model_class(name):
    """``Sequential`` or ``Functional``, as their modules registered them."""
    return serialization.registered_class("models", name)


def _is_model(obj):
    return serialization.kind_of(obj) == "models"


# ------------------------------------------------------------------ to config
def model_config(model):
    """Keras 3's config of a Sequential or functional model (``model.get_config()``)."""
    if isinstance(model, _model_class("Sequential")):
        return sequential_config(model)
    if isinstance(model, _model_class("Functional")):
        return functional_config(model)
    raise TypeError(f"{model.describe()}: only Sequential and functional models have a config")


def sequential_config(model):
    layers = []
    if model._input_layer is not None:
        layers.append(serialization.serialize(model._input_layer))
    layers.extend(serialization.serialize(layer) for layer in model.layers)
    config = {"name": model.name, "trainable": model.trainable, "layers": layers}
    if model.input_shape is not None:
        config["build_input_shape"] = list(model.input_shape)
    return config


def _node_ids(model):
    return {id(node) for node in model._nodes}


def _graph_layers(model):
    """Every layer of a functional graph, the op nodes (``x + y``, ``x[:, 0]``) included."""
    return list(getattr(model, "_layers", model.layers))


def _node_numbering(model):
    """Keras numbers a layer's calls within one model from 0: map id(node) -> that number."""
    numbering = {}
    for layer in _graph_layers(model):
        own = [node for node in getattr(layer, "_inbound_nodes", []) if id(node) in _node_ids(model)] \
            if not isinstance(layer, InputLayer) else getattr(layer, "_inbound_nodes", [])[:1]
        for number, node in enumerate(own):
            numbering[id(node)] = number
    return numbering


def _history(tensor, numbering):
    return [tensor.producer.name, numbering.get(id(tensor.node), 0), tensor.index]


def _tensor_entry(tensor, numbering):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(tensor.shape), "dtype": tensor.dtype,
                       "keras_history": _history(tensor, numbering)}}


def functional_config(model):
    numbering = _node_numbering(model)
    node_ids = _node_ids(model)
    layers = []
    for layer in _graph_layers(model):
        if getattr(layer, "is_op_node", False):
            layers.append(op_node_entry(layer, [n for n in layer._inbound_nodes if id(n) in node_ids][0],
                                        lambda t: _tensor_entry(t, numbering)))
            continue
        entry = serialization.serialize(layer)
        entry["name"] = layer.name
        inbound = []
        if not isinstance(layer, InputLayer):
            for node in getattr(layer, "_inbound_nodes", []):
                if id(node) in node_ids:
                    args = [_tensor_entry(t, numbering) for t in node.inputs]
                    kwargs = {} if node.training is None else {"training": bool(node.training)}
                    inbound.append({"args": [args if node.multi_input else args[0]], "kwargs": kwargs})
        entry["inbound_nodes"] = inbound
        layers.append(entry)

    def ends(tensors):
        histories = [_history(t, numbering) for t in tensors]
        return histories[0] if len(histories) == 1 else histories

    keys = getattr(model, "_output_keys", None)
    outputs = ({key: _history(t, numbering) for key, t in zip(keys, model.outputs)} if keys  # dict outputs, as Keras
               else ends(model.outputs))
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": ends(model.inputs), "output_layers": outputs}


# ------------------------------------------------------------------ from config
def model_from_config(cls, config, custom_objects=None):
    """A model of class ``cls`` from its config (``Model.from_config`` on the base class gives a functional model)."""
    if issubclass(cls, _model_class("Sequential")):
        return sequential_from_config(config, custom_objects, cls)
    return functional_from_config(config, custom_objects)


def sequential_from_config(config, custom_objects=None, cls=None):
    cls = cls or _model_class("Sequential")
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    by_name = {}  # the layers made so far, for a layer whose config names another one
    for layer_config in config.get("layers", []):
        layer = serialization.deserialize(layer_config, custom_objects, layers_by_name=by_name)
        by_name[layer.name] = layer
        model.add(layer)
    shape = config.get("build_input_shape")
    if shape is not None and model.layers and not model.built:
        model.build(tuple(shape))
    return model


def _as_histories(spec):
    """``['img', 0, 0]`` or ``[['a', 0, 0], ['b', 0, 0]]`` -> a list of triples."""
    if spec and isinstance(spec[0], str):
        return [spec]
    return list(spec)


def _node_inputs(node_data):
    """The (layer name, node index, tensor index) triples one call used, and whether it took a list.

    Keras 3 writes ``{"args": [tensor or [tensors]], "kwargs": {}}``; Keras 2 wrote
    ``[[name, node, tensor, kwargs], ...]``.
    """
    if isinstance(node_data, dict):
        first = node_data["args"][0]
        triples = [tuple(t["config"]["keras_history"])
                   for t in _tensor_entries([node_data["args"], node_data.get("kwargs", {})])]
        return triples, isinstance(first, list)
    triples = [tuple(entry[:3]) for entry in node_data]
    return triples, len(triples) > 1


def _tensor_entries(value):
    """Every ``__keras_tensor__`` entry in a node's arguments, in order (an op's may be anywhere)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value]
        return [entry for item in value.values() for entry in _tensor_entries(item)]
    if isinstance(value, list):
        return [entry for item in value for entry in _tensor_entries(item)]
    return []


def functional_from_config(config, custom_objects=None):
    made = {}  # (layer name, node number) -> list of output tensors
    layers, pending = {}, []
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"]["name"]
        if is_op_entry(entry):
            pending.append((OpReplay(entry), list(entry.get("inbound_nodes", []))))
            continue
        layer = serialization.deserialize(entry, custom_objects, layers_by_name=layers)
        layers[name] = layer
        if isinstance(layer, InputLayer):
            made[(name, 0)] = [layer.output]
        else:
            pending.append((layer, list(entry.get("inbound_nodes", []))))

    calls = {}  # layer name -> how many of its calls are replayed
    while pending:
        progress, still = False, []
        for layer, nodes in pending:
            while nodes:
                triples, multi = _node_inputs(nodes[0])
                if not all((name, node) in made for name, node, _ in triples):
                    break  # this call waits for a layer further down the list
                inputs = [made[(name, node)][index] for name, node, index in triples]
                training = nodes[0].get("kwargs", {}).get("training") if isinstance(nodes[0], dict) else None
                outputs = (layer.replay(nodes[0], lambda triple: made[triple[:2]][triple[2]])
                           if isinstance(layer, OpReplay) else layer(inputs if multi else inputs[0], training=training))
                number = calls.get(layer.name, 0)
                made[(layer.name, number)] = outputs if isinstance(outputs, list) else [outputs]
                calls[layer.name] = number + 1
                nodes.pop(0)
                progress = True
            if nodes:
                still.append((layer, nodes))
        if not progress:
            names = [layer.name for layer, _ in still]
            raise ValueError(f"functional config: cannot rebuild the calls of {names}: their inputs are never made")
        pending = still

    def tensors(spec):
        found = []
        for name, node, index in _as_histories(spec):
            if (name, node) not in made:
                raise ValueError(f"functional config: no layer {name!r} (call {node}) to take a model "
                                 f"input or output from")
            found.append(made[(name, node)][index])
        return found

    inputs = tensors(config["input_layers"])
    spec = config["output_layers"]
    if isinstance(spec, dict):
        outputs = {key: tensors(history)[0] for key, history in spec.items()}
    else:
        outputs = tensors(spec)
        outputs = outputs if len(outputs) > 1 else outputs[0]
    return _model_class("Functional")(inputs if len(inputs) > 1 else inputs[0], outputs,
                                      name=config.get("name"), trainable=config.get("trainable", True))


# ------------------------------------------------------------------ clone_model
def _default_clone(layer):
    if _is_model(layer):
        return clone_model(layer)
    return type(layer).from_config(layer.get_config())


# (The models are typed Any: this module sits below ``Model``, which imports it.)
def clone_model(model: Any, input_tensors: graph.SymbolicTensor | Sequence[graph.SymbolicTensor] | None = None,
                clone_function: Callable[[Any], Any] | None = None) -> Any:
    """A new model with the same architecture and freshly initialised weights (Keras's ``clone_model``).

    Args:
        model: a Sequential or functional model.
        input_tensors: optional symbolic tensor(s) to call the clone on instead of new inputs.
        clone_function: ``clone_function(layer) -> new layer`` decides how each layer is copied
            (default: a new layer from its config).

    Returns:
        The new model; no layer or weight is shared with ``model``.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    >>> clone = tinyconv.models.clone_model(model)
    >>> clone.count_params(), clone.layers[0] is model.layers[0]
    (8, False)
    """
    clone_function = _resolving(clone_function or _default_clone)
    if isinstance(model, _model_class("Sequential")):
        layers = [clone_function(layer) for layer in model.layers]
        if input_tensors is not None:
            start: Any = input_tensors[0] if isinstance(input_tensors, (list, tuple)) else input_tensors
            layers.insert(0, start.producer)
        elif model._input_layer is not None:
            layers.insert(0, InputLayer(batch_shape=model.input_shape, dtype=model._input_layer.dtype,
                                        name=model._input_layer.name))
        return _model_class("Sequential")(layers, name=model.name, trainable=model.trainable)
    if not isinstance(model, _model_class("Functional")):
        raise TypeError(f"clone_model: expected a Sequential or functional model, got {model!r}")
    return _clone_functional(model, input_tensors, clone_function)


def _resolving(clone_function):
    """``clone_function``, plus: a clone whose config names another layer (MaxUnpooling2D's
    pool) gets the clone of that layer (the layers are cloned in order, so it exists)."""
    clones_by_name = {}

    def clone(layer):
        new = clone_function(layer)
        resolve = getattr(new, "resolve_layer_references", None)
        if resolve is not None:
            resolve(clones_by_name)
        clones_by_name[layer.name] = new
        return new

    return clone


def _clone_functional(model, input_tensors, clone_function):
    if input_tensors is None:
        new_inputs = [InputLayer(batch_shape=t.shape, dtype=t.producer.dtype, name=t.producer.name).output
                      for t in model.inputs]
    else:
        new_inputs = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        if len(new_inputs) != len(model.inputs) or not all(isinstance(t, graph.SymbolicTensor) for t in new_inputs):
            raise ValueError(f"clone_model: input_tensors must be {len(model.inputs)} symbolic tensor(s) "
                             f"(from Input(...)), got {input_tensors!r}")
    tensor_map = {id(old): new for old, new in zip(model.inputs, new_inputs)}
    clones = {}
    for node in model._nodes:
        layer = node.layer
        if id(layer) not in clones:  # a shared layer is cloned once and called again
            clones[id(layer)] = clone_function(layer)
        args = [tensor_map[id(t)] for t in node.inputs]
        outputs = clones[id(layer)](args if node.multi_input else args[0])
        for old, new in zip(node.outputs, outputs if node.multi_output else [outputs]):
            tensor_map[id(old)] = new
    outputs = [tensor_map[id(t)] for t in model.outputs]
    return _model_class("Functional")(new_inputs if len(new_inputs) > 1 else new_inputs[0],
                                      outputs if len(outputs) > 1 else outputs[0], name=model.name,
                                      trainable=model.trainable)
