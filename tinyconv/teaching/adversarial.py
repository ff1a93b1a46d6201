"""Adversarial examples by the fast gradient sign method (Goodfellow et al., 2015):

    x_adv = clip(x + eps * sign(grad_x J(theta, x, y)), low, high)

One step, each pixel moved by +-eps in the direction that increases the loss.  In many
dimensions these tiny steps add up: the logit changes by about eps * ||w||_1.
"""
import numpy as np

from .backprop import forward_backward, prepare, require_loss


def input_gradient(model, x, y, loss=None):
    """dLoss/dx of a batch, through the model's explicit backward (weights unchanged).

    Args:
        model: a built model.
        x: the input batch.
        y: the targets of ``x``.
        loss: a loss name or object; None uses the model's compiled loss.

    Returns:
        The gradient of the loss with respect to ``x`` (same shape as ``x``).

    Raises:
        ValueError: if ``loss`` is None and the model is not compiled.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> tinyconv.teaching.adversarial.input_gradient(model, np.ones((4, 3), "float32"), np.zeros(4)).shape
    (4, 3)
    """
    loss = require_loss(model, loss)
    inputs, targets = prepare(model, x, y, "fgsm")
    _, _, input_grads = forward_backward(model, inputs, targets, loss, training=False)
    return input_grads[0]


def fgsm(model, x, y, eps, clip=(0.0, 1.0), loss=None):
    """The adversarial batch x + eps * sign(dLoss/dx), clipped to ``clip``.

    Args:
        model: a built model.
        x: the input batch.
        y: the targets of ``x``.
        eps: the step per pixel, >= 0.
        clip: (low, high) bounds of the result; None: no clipping.
        loss: a loss name or object; None uses the model's compiled loss.

    Returns:
        The adversarial batch, shape and (floating) dtype of ``x``.

    Raises:
        ValueError: if ``eps`` is negative, or ``loss`` is None and the model is not compiled.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> x = np.full((2, 3), 0.5, "float32")
    >>> x_adv = tinyconv.teaching.adversarial.fgsm(model, x, np.zeros(2), eps=0.1)
    >>> bool(np.all(np.abs(x_adv - x) <= 0.1 + 1e-6))
    True
    """
    if eps < 0:
        raise ValueError(f"fgsm: eps must be >= 0, got {eps}")
    x = np.asarray(x)
    gradient = input_gradient(model, x, y, loss)
    adversarial = x + eps * np.sign(gradient)
    if clip is not None:
        adversarial = np.clip(adversarial, clip[0], clip[1])
    return adversarial.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else gradient.dtype)
