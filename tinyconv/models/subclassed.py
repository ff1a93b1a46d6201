"""Subclassed models: ``class MyModel(keras.Model)`` with ``__init__`` and ``call``.

Such a model says what it computes only in Python code (``call``), so there is no graph to walk
backwards.  Training therefore runs ``call`` on the tape (``tinyconv/ops/tape.py``): every built-in
layer it calls is one record whose backward is that layer's own explicit ``backward``; every op and
custom layer is recorded op by op.  Backward replays the tape, and each layer's weight gradients land
in its ``grads``, as after any other model's backward pass.

The layers are those assigned to attributes in ``__init__`` (``self.dense = layers.Dense(...)``, lists
of layers too), in the order assigned, as Keras tracks them.
"""
import numpy as np

from .. import devices
from ..layers import taped
from ..ops.tape import Tape, suspended
from ..variables import shape_probe


class OutputSpec:
    """Stands for one output of a subclassed model where training asks for "the output layer"
    (its name for logs, its shape for metrics); nothing is fused with the loss."""

    activation = None
    activity_regularizer = None

    def __init__(self, name, output_shape):
        self.name = name
        self.output_shape = output_shape


def tracked_layers(model):
    return list(getattr(model, "_tracked_layers", []))


def weight_owners(model):
    """(layer, its own weights) for every layer the model holds, in ``weights`` order."""
    pairs, seen = [], set()
    for layer in tracked_layers(model):
        owners = layer._weight_owners() if hasattr(layer, "_weight_owners") else weight_owners_of_model(layer)
        for owner, own in owners:
            if id(owner) not in seen:
                seen.add(id(owner))
                pairs.append((owner, own))
    return pairs


def weight_owners_of_model(model):
    pairs = []
    for layer in model.layers:
        pairs.extend(layer._weight_owners() if hasattr(layer, "_weight_owners") else weight_owners_of_model(layer))
    return pairs


def structure_of(inputs):
    return inputs[0] if len(inputs) == 1 else list(inputs)


def run_forward(model, inputs, training):
    """``call`` on the batch; on a tape when training.  Returns the outputs as a list."""
    x = structure_of(inputs)
    model._added_losses = []  # add_loss terms are those of this pass only
    for owner, _ in weight_owners(model):
        owner._added_losses = []
    if training:
        tape = Tape()
        with tape:
            taped_inputs = taped.map_structure(lambda a: tape.watch(a, "input"), x)
            outputs = taped.invoke_call(model, taped_inputs, True)
        model._tape_state = (tape, taped_inputs, outputs)
    else:
        outputs = taped.invoke_call(model, x, False)
    outputs = taped.bare(outputs)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    model._output_specs = [OutputSpec(f"output_{i}" if len(outputs) > 1 else "output",
                                      (None,) + tuple(np.shape(o))[1:]) for i, o in enumerate(outputs)]
    return outputs


def run_backward(model, output_grads, need_input_gradients=True):
    """Replay the tape of the last training forward; returns dL/d(each input)."""
    state = getattr(model, "_tape_state", None)
    if state is None:
        raise RuntimeError(f"{model.describe()}: backward needs a forward pass with training=True first")
    tape, inputs, outputs = state
    live = [(t, g) for t, g in zip(taped.flatten(outputs), output_grads) if g is not None]
    targets = [t for t, _ in live] + tape.added_losses
    seeds = [g for _, g in live] + [None] * len(tape.added_losses)
    flat_inputs = taped.flatten(inputs)
    grads = tape.gradient(targets, flat_inputs, seeds)
    taped.write_weight_gradients(weight_owners(model), tape)
    model._tape_state = None
    return [g if g is not None else devices.array_module_of(x.value).zeros_like(x.value)
            for g, x in zip(grads, flat_inputs)]


def build(model, input_shape):
    """Build every layer by running ``call`` once on a small dummy batch (Keras traces it instead)."""
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    ones = devices.array_module().ones   # on the active device, where the layers make their weights
    dummies = [ones(tuple(2 if n is None else n for n in shape), dtype=model._build_dtype()) for shape in shapes]
    with shape_probe(), suspended(), np.errstate(all="ignore"):
        outputs = run_forward(model, dummies, training=False)
    model._build_input_shape = input_shape
    model._input_shapes = [tuple(s) for s in shapes]
    return outputs


def from_config(cls, config):
    """A subclassed model from its config: the constructor called with the saved arguments.  ``name`` and
    ``trainable`` go to the constructor when it takes them, else they are set afterwards."""
    import inspect
    config = dict(config)
    parameters = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    later = {key: config.pop(key) for key in ("name", "trainable")
             if key in config and not takes_any and key not in parameters}
    try:
        model = cls(**config)
    except TypeError as error:
        raise TypeError(f"{cls.__name__}.from_config: its constructor refused the saved arguments "
                        f"{sorted(config)} ({error}); give the class a get_config() that returns what "
                        "__init__ takes") from None
    if "name" in later:
        model.name = later["name"]
    if "trainable" in later:
        model.trainable = later["trainable"]
    return model
