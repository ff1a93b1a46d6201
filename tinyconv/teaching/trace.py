"""What happens in one training step, layer by layer.

``trace_step(model, x, y)`` runs forward (training mode), the loss, and backward, exactly as
``fit`` would, but does not update the weights.  For each layer call, in forward order, it
records the shapes going in and out, the arrays the layer kept for its backward pass (found
on the layer after forward: ``_input``, ``_argmax``, ``_cache``, ...), the gradient that came
back (dL/d input) and each weight's gradient, with FLOPs and parameter counts.
"""
import numpy as np

from .backprop import forward_backward, prepare, require_loss
from .flops import layer_flops
from .hooks import recording
from .table import format_table, shape_text


def _shape(value):
    if isinstance(value, (list, tuple)):
        return [tuple(np.shape(v)) for v in value]
    return None if value is None else tuple(np.shape(value))


def _norm(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [None if v is None else float(np.linalg.norm(v)) for v in value]
    return float(np.linalg.norm(value))


class StepTrace:
    """One row per layer call (``rows``, a list of dicts) and the step's loss.

    ``trace[name]`` is the row of the layer called ``name``; ``str(trace)`` is a table.

    Args:
        model: the model traced (its name is kept).
        loss: the step's loss value.
        rows: one dict per layer call, in forward order.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> trace = tinyconv.teaching.trace.trace_step(model, np.ones((4, 3)), np.zeros(4))
    >>> trace[model.layers[0].name]["output_shape"]
    (4, 2)
    """

    def __init__(self, model, loss, rows):
        self.model_name = model.name
        self.loss = loss
        self.rows = rows

    def as_dict(self):
        """The trace as plain data: {"model": name, "loss": value, "layers": list of row dicts}.

        Returns:
            A dict.
        """
        return {"model": self.model_name, "loss": self.loss, "layers": [dict(row) for row in self.rows]}

    def __getitem__(self, name):
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"no layer named {name!r} in the trace")

    def __str__(self):
        table = []
        for row in self.rows:
            cached = ", ".join(f"{k} {shape_text(v)}" for k, v in row["cached"].items()) or "-"
            grads = ", ".join(f"d{k} |{v['norm']:.3g}|" for k, v in row["weight_grads"].items()) or "-"
            dx = row["input_grad_norm"]
            dx_text = "-" if dx is None else (", ".join(f"{v:.3g}" for v in dx if v is not None)
                                              if isinstance(dx, list) else f"{dx:.3g}")
            table.append([f"{row['name']} ({row['class']})", shape_text(row["input_shape"]),
                          shape_text(row["output_shape"]), cached, dx_text, grads, f"{row['flops']:,}",
                          f"{row['params']:,}"])
        head = f"Training step of '{self.model_name}': loss {self.loss:.6g} (weights not updated)"
        return head + "\n" + format_table(["Layer", "Input", "Output", "Kept for backward", "|dL/dinput|",
                                           "Weight gradients", "FLOPs/sample", "Params"], table)

    __repr__ = __str__


def trace_step(model, x, y, loss=None, training=True):
    """Trace one forward/backward step of ``model`` on the batch (x, y); weights are not updated.

    Args:
        model: a built model, compiled unless ``loss`` is given.
        x: the input batch.
        y: the targets of ``x``.
        loss: a loss name or object; None uses the model's compiled loss.
        training: run the forward pass in training mode (as ``fit`` does).

    Returns:
        A ``StepTrace``.

    Raises:
        ValueError: if ``loss`` is None and the model is not compiled.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> trace = tinyconv.teaching.trace.trace_step(model, np.ones((4, 3)), np.zeros(4))
    >>> len(trace.rows), trace.loss > 0
    (1, True)
    """
    loss = require_loss(model, loss)
    inputs, targets = prepare(model, x, y, "trace_step")
    with recording(model) as calls:
        value, _, _ = forward_backward(model, inputs, targets, loss, training)
    rows = [_row(call) for call in calls]
    return StepTrace(model, float(value), rows)


def _row(call):
    layer = call.layer
    weight_grads = {}
    if layer.trainable:
        for slot in getattr(layer, "_weights", []):
            if slot.trainable and slot.name in layer.grads:
                gradient = layer._regularized_gradient(slot)
                weight_grads[slot.name] = {"shape": tuple(gradient.shape), "norm": float(np.linalg.norm(gradient))}
    input_shape, output_shape = _shape(call.inputs), _shape(call.output)
    batch = (input_shape[0] if isinstance(input_shape, list) else input_shape)[0]
    as_symbolic = ([(None,) + s[1:] for s in input_shape] if isinstance(input_shape, list)
                   else (None,) + input_shape[1:])
    return {
        "name": layer.name, "class": type(layer).__name__,
        "input_shape": input_shape, "output_shape": output_shape,
        "cached": {name: _shape(value) for name, value in call.cached.items()},
        "upstream_shape": _shape(call.upstream), "upstream_is_preactivation": call.fused,
        "input_grad_shape": _shape(call.input_gradient), "input_grad_norm": _norm(call.input_gradient),
        "weight_grads": weight_grads,
        "flops": layer_flops(layer, as_symbolic, (None,) + tuple(output_shape[1:])
                             if not isinstance(output_shape, list) else [(None,) + s[1:] for s in output_shape]),
        "params": layer.count_params(), "batch_size": batch,
    }
