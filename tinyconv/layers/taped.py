"""Layers that define only ``call()``: their forward runs ``call`` on a tape, their backward replays it.

A built-in layer has a hand-written ``backward``.  A user's layer usually has only ``call``, written
with ``tinyconv.ops``.  For such a layer:

* **forward** (training): each input becomes a taped value, ``call`` runs, and every op it calls is
  recorded (see ``tinyconv/ops/tape.py``).  The layer's variables join the tape as leaves.
* **backward**: the tape is replayed from the outputs back to the inputs; the gradients that reach
  the variables are the layer's weight gradients, the one that reaches each input is dL/dx.
* A layer called *inside* taped code (a ``Dense`` in a custom block's ``call``) is recorded as one
  step whose backward is that layer's own ``backward``.  A custom layer called there simply runs
  its ``call`` on the same tape.

At inference no tape is kept: ``call`` runs on plain arrays and the ops are plain NumPy.
"""
import functools
import inspect

import numpy as np

from .. import devices
from ..ops.tape import GradientTape, Tape, TapedTensor, active_tape, suspended, value_of
from ..variables import Variable, shape_probe

_TRAINING = [None]  # the training flag of the call being run, inherited by layers called inside it


# ---------------------------------------------------------------- small structure helpers
def flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    return fn(structure)


def unflatten_like(structure, leaves):
    leaves = iter(leaves)
    return map_structure(lambda _: next(leaves), structure)


def bare(structure):
    """The same structure with every taped value or variable replaced by its array."""
    return map_structure(value_of, structure)


def tape_of(inputs):
    """The tape a call on ``inputs`` is recorded on: the active tape when ``inputs`` holds a value recorded
    on it, or a user's ``GradientTape`` (which records every layer and model call), else None."""
    tape = active_tape()
    if tape is None:
        return None
    if isinstance(tape, GradientTape) or any(tape.holds(leaf) for leaf in flatten(inputs)):
        return tape
    return None


# ---------------------------------------------------------------- calling ``call``
@functools.lru_cache(maxsize=None)
def _accepts(function, name):
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind == p.VAR_KEYWORD for p in parameters.values())


def invoke_call(layer, inputs, training, args=(), kwargs=None):
    """``layer.call(inputs, *args, **kwargs)``, with ``training=`` only when ``call`` takes it."""
    kwargs = dict(kwargs or {})
    if training is None:
        training = _TRAINING[0]
    if _accepts(type(layer).call, "training") and "training" not in kwargs:
        kwargs["training"] = bool(training)
    previous = _TRAINING[0]
    _TRAINING[0] = training
    try:
        return layer.call(inputs, *args, **kwargs)
    finally:
        _TRAINING[0] = previous


def note_shapes(layer, input_shape, out):
    """Record the shapes a call saw (batch axis None), as ``build_for`` does: ``summary()`` shows them."""
    def batchless(value):
        return (None,) + tuple(np.shape(value_of(value)))[1:]
    layer.input_shape = input_shape
    layer.output_shape = [batchless(o) for o in out] if isinstance(out, (list, tuple)) else batchless(out)


def build_if_needed(layer, input_shape):
    if not layer.built:
        layer.build(input_shape)
        layer.built = True


def probe_output_shape(layer, input_shape):
    """The output shape of ``call``, learned by running it on two small dummy batches.

    Keras traces ``call`` symbolically; here it runs for real on arrays of ones whose unknown sizes
    are 2 and then 3: a size that changes with them is unknown (None) in the output too.  Variables
    ignore assignments meanwhile and added losses are dropped (see ``variables.shape_probe``).
    """
    def dummy(shape, fill):
        if isinstance(shape, list):
            return [dummy(s, fill) for s in shape]
        # on the active device, where the layer's weights are made
        return devices.array_module().ones(tuple(fill if n is None else n for n in shape), dtype=layer.dtype)

    outputs = []
    with shape_probe(), suspended(), np.errstate(all="ignore"):
        for fill in (2, 3):
            saved = dict(vars(layer))
            out = bare(invoke_call(layer, dummy(input_shape, fill), False))
            vars(layer).clear()
            vars(layer).update(saved)
            outputs.append(out)
    first, second = outputs

    def shape_of(a, b):
        return tuple(None if m != n else m for m, n in zip(np.shape(a), np.shape(b)))

    if isinstance(first, (list, tuple)):
        return [shape_of(a, b) for a, b in zip(first, second)]
    return shape_of(first, second)


# ---------------------------------------------------------------- forward and backward of a call-only layer
def forward(layer, x, training):
    """The forward of a layer that has only ``call``, on a tape so that ``backward`` can follow.

    As a built-in layer keeps what its backward needs after any forward, the tape is kept at inference
    too (one batch's values, replaced by the next forward): a gradient check or a saliency map runs
    backward after a forward with training=False."""
    for owner, _ in layer._weight_owners():
        owner._added_losses = []  # add_loss terms are those of this pass only
    tape = Tape()
    with tape:
        taped_inputs = map_structure(lambda a: tape.watch(a, "input"), x)
        outputs = invoke_call(layer, taped_inputs, bool(training))
    layer._tape_state = (tape, taped_inputs, outputs)
    return bare(outputs)


def backward(layer, dy, need_input_gradient=True):
    """Replay the tape of the last forward: weight gradients into ``grads``, dL/dx returned."""
    state = getattr(layer, "_tape_state", None)
    if state is None:
        raise RuntimeError(f"{layer.describe()}: backward() needs a forward pass with training=True first")
    tape, inputs, outputs = state
    targets, seeds = flatten(outputs), flatten(dy)
    targets, seeds = targets + tape.added_losses, seeds + [None] * len(tape.added_losses)
    flat_inputs = flatten(inputs)
    grads = tape.gradient(targets, flat_inputs, seeds)
    write_weight_gradients(layer._weight_owners(), tape)
    layer._tape_state = None  # what the tape holds is done with
    if not need_input_gradient:
        return None
    grads = [devices.array_module_of(x.value).zeros_like(x.value) if g is None else g
             for g, x in zip(grads, flat_inputs)]
    return unflatten_like(inputs, grads)


def write_weight_gradients(owners, tape):
    """Set the ``grads`` of each layer in ``owners`` ((layer, its own weights) pairs) from what the tape computed.

    A built-in layer called inside the tape left its (summed) gradients in ``tape.layer_grads``; a
    custom layer's variables are leaves of the tape.  A weight no gradient reached gets zeros.
    """
    for owner, own in owners:
        from_layer_records = tape.layer_grads.get(id(owner))
        grads = {}
        for weight in own:
            if from_layer_records is not None:
                gradient = from_layer_records[1].get(weight.name)
            else:
                gradient = tape.gradient_of_variable(weight)
            grads[weight.name] = (gradient if gradient is not None else
                                  devices.array_module_of(weight.value).zeros_like(weight.value))
        owner.grads = grads


# ---------------------------------------------------------------- a layer called inside taped code
def call_on_tape(layer, inputs, tape, training, args=(), kwargs=None):
    """``layer(inputs)`` where the inputs are being recorded: run it and put it on the same tape."""
    if training is None:
        training = _TRAINING[0]
    values = bare(inputs)
    shapes = map_structure(lambda a: (None,) + tuple(np.shape(a))[1:], values) if isinstance(values, list) \
        else (None,) + tuple(np.shape(values))[1:]
    if layer._runs_call():
        build_if_needed(layer, shapes)
        out = invoke_call(layer, inputs, training, args, kwargs)
        note_shapes(layer, shapes, out)
        return out
    # A built-in layer: its own forward now, and its own backward when the tape is replayed.
    values = map_structure(lambda a: a.astype(layer.dtype) if np.issubdtype(a.dtype, np.floating) and
                           a.dtype != layer.dtype else a, values)
    layer.build_for(shapes)
    layer.check_input(values)
    out = layer.forward(values, training=bool(training))
    saved = dict(vars(layer))  # what this call's backward needs, should the layer be called again
    multi_output = isinstance(out, list)
    flat_inputs = flatten(inputs)
    taped_inputs = [leaf if tape.holds(leaf) else None for leaf in flat_inputs]

    def layer_backward(upstream):
        vars(layer).clear()
        vars(layer).update(saved)
        dx = layer.backward(upstream if multi_output else upstream[0])  # the layer's own, explicit backward
        tape.add_layer_gradients(layer)
        return flatten(dx) if isinstance(inputs, (list, tuple)) else [dx]

    return tape.record(f"{type(layer).__name__} '{layer.name}'", taped_inputs, out, layer_backward,
                       detail=layer, multi_output=multi_output)


def is_taped(value):
    return isinstance(value, (TapedTensor, Variable))
