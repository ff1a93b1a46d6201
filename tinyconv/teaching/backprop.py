"""One forward and backward pass through a model, without an optimizer step.

The teaching tools need the pieces of ``Model._train_step`` separately: the loss, dL/d(input)
(for saliency and adversarial examples) and the weight gradients (for the gradient check and
the step trace).  Weights are never changed here.
"""
import numpy as np

from .. import losses as losses_module


def prepare(model, x, y=None, what="teaching"):
    """Cast and check x (and y) as ``fit`` would.

    Args:
        model: a built model.
        x: the input batch (an array, or a list of arrays for several inputs).
        y: the targets, or None.
        what: the name used in error messages.

    Returns:
        (inputs list, targets list or None).

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> inputs, targets = tinyconv.teaching.backprop.prepare(model, np.ones((4, 3)), np.zeros(4))
    >>> len(inputs), inputs[0].shape, targets is not None
    (1, (4, 3), True)
    """
    inputs = model._prepare_inputs(x, what)
    targets = model._prepare_targets(y, len(inputs[0]), what) if y is not None else None
    return inputs, targets


def loss_value(model, inputs, targets, loss=None, training=False):
    """The loss of one batch: the compiled loss plus regularization, or ``loss(y, y_pred)``.

    Args:
        model: a built model.
        inputs: the inputs list from ``prepare``.
        targets: the targets list from ``prepare``.
        loss: a loss object; None uses the model's compiled loss.
        training: run the forward pass in training mode (dropout, batch statistics).

    Returns:
        The loss as a float.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> inputs, targets = tinyconv.teaching.backprop.prepare(model, np.ones((4, 3)), np.zeros(4))
    >>> tinyconv.teaching.backprop.loss_value(model, inputs, targets) > 0
    True
    """
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

    Args:
        model: a built model.
        inputs: the inputs list from ``prepare``.
        targets: the targets list from ``prepare``.
        loss: a loss object; None uses the model's compiled loss.
        training: run the forward pass in training mode.

    Returns:
        (loss value, outputs list, list of dL/d(input) per model input).

    Raises:
        ValueError: if ``loss`` is None and the model is not compiled.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> inputs, targets = tinyconv.teaching.backprop.prepare(model, np.ones((4, 3)), np.zeros(4))
    >>> value, outputs, input_grads = tinyconv.teaching.backprop.forward_backward(model, inputs, targets)
    >>> outputs[0].shape, input_grads[0].shape
    ((4, 2), (4, 3))
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
    """The loss to use: ``loss`` if given (a name or object), else the model must be compiled.

    Args:
        model: the model the loss is for.
        loss: a loss name or object, or None.

    Returns:
        The loss object, or None when the model's compiled loss is to be used.

    Raises:
        ValueError: if ``loss`` is None and the model is not compiled.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2)])
    >>> type(tinyconv.teaching.backprop.require_loss(model, "mse")).__name__
    'MeanSquaredError'
    """
    if loss is not None:
        return losses_module.get(loss)
    if not getattr(model, "compiled", False):
        raise ValueError(f"{model.describe()}: compile the model with a loss, or pass loss=...")
    return None
