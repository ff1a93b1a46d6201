"""Watching a model run: wrap every layer's forward and backward for the length of a ``with`` block.

The wrappers are instance attributes, so removing them afterwards restores the class's methods
exactly; the model's own loops run unchanged and do not know they are being watched.
"""
from contextlib import contextmanager

import numpy as np

from ..models.model import Model


def leaf_layers(model):
    """The layers that do the work, in ``model.layers`` order, looking inside nested models.

    Args:
        model: a model.

    Returns:
        A list of layers (no models among them).

    Example:

    >>> inner = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2)])
    >>> outer = tinyconv.Sequential([layers.Input((3,)), inner, layers.Dense(1)])
    >>> [type(layer).__name__ for layer in tinyconv.teaching.hooks.leaf_layers(outer)]
    ['Dense', 'Dense']
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, Model):
            found.extend(leaf_layers(layer))
        else:
            found.append(layer)
    return found


class Call:
    """One call of one layer: what went in and out, what it kept, what came back in backward.

    ``recording`` creates these; ``upstream``, ``fused`` and ``input_gradient`` are filled in when
    the backward pass reaches the call.

    Args:
        layer: the layer called.
        inputs: its input array, or a list of arrays for merge layers.
        output: its output array.
        cached: {attribute name: array or list of arrays} the layer kept for backward.

    Example:

    >>> layer = layers.Dense(2)
    >>> call = tinyconv.teaching.hooks.Call(layer, np.ones((1, 3)), np.ones((1, 2)), {})
    >>> call.output.shape, call.input_gradient is None
    ((1, 2), True)
    """

    def __init__(self, layer, inputs, output, cached):
        self.layer = layer
        self.inputs = inputs            # an array, or a list of arrays for merge layers
        self.output = output
        self.cached = cached            # {attribute name: array or list of arrays} kept for backward
        self.upstream = None            # dL/d(output) handed to backward (dL/dz when the loss was fused)
        self.fused = False
        self.input_gradient = None      # what backward returned: dL/d(input)


def cached_values(layer):
    """Arrays a layer stored on itself during forward: private attributes holding arrays
    (``_input``, ``_argmax``, ``_cache``, ...), tuples/lists of arrays included.

    Args:
        layer: a layer, usually just after its forward pass.

    Returns:
        A dict {attribute name: array or list of arrays}.

    Example:

    >>> layer = layers.Dense(2)
    >>> layer._input = np.ones((1, 3))
    >>> list(tinyconv.teaching.hooks.cached_values(layer))
    ['_input']
    """
    found = {}
    for name, value in vars(layer).items():
        if not name.startswith("_") or name.startswith("__"):
            continue
        if isinstance(value, np.ndarray):
            found[name] = value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
            found[name] = list(value)
    return found


@contextmanager
def recording(model):
    """``with recording(model) as calls:`` -> ``calls`` fills with one ``Call`` per layer call, in
    forward order, and each call's backward information as the backward pass reaches it.

    Args:
        model: the model to watch; its leaf layers are wrapped for the length of the block.

    Returns:
        A context manager yielding the (growing) list of ``Call``.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2)])
    >>> with tinyconv.teaching.hooks.recording(model) as calls:
    ...     _ = model.predict(np.ones((2, 3)), verbose=0)
    >>> [call.output.shape for call in calls]
    [(2, 4), (2, 2)]
    """
    calls = []
    layers = leaf_layers(model)
    for layer in layers:
        _wrap(layer, calls)
    try:
        yield calls
    finally:
        for layer in layers:
            for name in ("forward", "backward", "backward_from_preactivation"):
                vars(layer).pop(name, None)
            vars(layer).pop("_teaching_pending", None)


def _wrap(layer, calls):
    # A layer called twice (shared in a functional model) runs backward in reverse call order.
    layer._teaching_pending = []
    forward, backward = layer.forward, layer.backward
    from_preactivation = getattr(layer, "backward_from_preactivation", None)
    depth = [0]  # ActivationMixin.backward calls backward_from_preactivation: record the outer call only

    def watched_forward(x, training=False):
        y = forward(x, training=training)
        call = Call(layer, x, y, cached_values(layer))
        calls.append(call)
        layer._teaching_pending.append(call)
        return y

    def run_backward(method, dy, fused):
        depth[0] += 1
        try:
            dx = method(dy)
        finally:
            depth[0] -= 1
        if depth[0] == 0 and layer._teaching_pending:
            call = layer._teaching_pending.pop()
            call.upstream, call.fused, call.input_gradient = dy, fused, dx
        return dx

    layer.forward = watched_forward
    layer.backward = lambda dy: run_backward(backward, dy, False)
    if from_preactivation is not None:
        layer.backward_from_preactivation = lambda dz: run_backward(from_preactivation, dz, depth[0] == 0)
