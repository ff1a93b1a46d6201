"""One forward and backward pass through a model, without an optimizer step.

The teaching tools need the pieces of ``Model._train_step`` separately: the loss, dL/d(input)
(for saliency and adversarial examples) and the weight gradients (for the gradient check and
the step trace).  Weights are never changed here.
"""
import numpy as np

from .. import losses as losses_module


def prepare(model, x, y=None, what="teaching"):
    """Cast and check x (and y) as ``fit`` would; returns (inputs list, targets list or None)."""
    inputs = model._prepare_inputs(x, what)
    targets = model._prepare_targets(y, len(inputs[0]), what) if y is not None else None
    return inputs, targets


def loss_value(model, inputs, targets, loss=None, training=False):
    """The loss of one batch: the compiled loss plus regularization, or ``loss(y, y_pred)``."""
    outputs = model._run_forward(inputs, training=training)
    if loss is not None:
        return float(loss(targets[0], outputs[0]))
    total, _ = model._compute_loss(targets, outputs, None)
    return total + model._regularization_loss()


def forward_backward(model, inputs, targets, loss=None, training=False):
    """Forward, loss, backward.  Returns (loss value, outputs, dL/d(inputs) list).

    With ``loss=None`` the model's compiled loss is used, softmax/sigmoid fused with
    cross-entropy exactly as in training; a ``loss`` given here is differentiated on its own.
    Weight gradients are left in each layer's ``grads``.
    """
    outputs = model._run_forward(inputs, training=training)
    if loss is not None:
        value = float(loss(targets[0], outputs[0]))
        grads = [np.asarray(loss.gradient(targets[0], outputs[0]), dtype=outputs[0].dtype)]
        fused = [False]
    else:
        require_loss(model)
        value, _ = model._compute_loss(targets, outputs, None)
        value += model._regularization_loss()
        grads, fused = model._loss_gradients(targets, outputs, None)
    input_grads = model._run_backward(grads, fused)
    return value, outputs, input_grads


def require_loss(model, loss=None):
    """The loss to use: ``loss`` if given (a name or object), else the model must be compiled."""
    if loss is not None:
        return losses_module.get(loss)
    if not getattr(model, "compiled", False):
        raise ValueError(f"{model.describe()}: compile the model with a loss, or pass loss=...")
    return None
