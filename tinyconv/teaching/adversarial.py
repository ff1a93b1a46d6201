"""Adversarial examples by the fast gradient sign method (Goodfellow et al., 2015):

    x_adv = clip(x + eps * sign(grad_x J(theta, x, y)), low, high)

One step, each pixel moved by +-eps in the direction that increases the loss.  In many
dimensions these tiny steps add up: the logit changes by about eps * ||w||_1.
"""
import numpy as np

from .backprop import forward_backward, prepare, require_loss


def input_gradient(model, x, y, loss=None):
    """dLoss/dx of a batch, through the model's explicit backward (weights unchanged)."""
    loss = require_loss(model, loss)
    inputs, targets = prepare(model, x, y, "fgsm")
    _, _, input_grads = forward_backward(model, inputs, targets, loss, training=False)
    return input_grads[0]


def fgsm(model, x, y, eps, clip=(0.0, 1.0), loss=None):
    """The adversarial batch x + eps * sign(dLoss/dx), clipped to ``clip`` (None: no clipping).
    Uses the model's compiled loss unless ``loss`` is given."""
    if eps < 0:
        raise ValueError(f"fgsm: eps must be >= 0, got {eps}")
    x = np.asarray(x)
    gradient = input_gradient(model, x, y, loss)
    adversarial = x + eps * np.sign(gradient)
    if clip is not None:
        adversarial = np.clip(adversarial, clip[0], clip[1])
    return adversarial.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else gradient.dtype)
