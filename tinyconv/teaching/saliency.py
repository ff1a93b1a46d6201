"""Saliency: which input pixels would change the class score most?  (Simonyan et al., 2014)

The class score is the *pre-softmax* logit z_c of the last layer (the softmax would couple all
classes).  Its gradient with respect to the input comes from the model's own backward pass,
started with dz = one-hot(c) at the last layer's pre-activation:

    saliency[n, i, j] = max over channels |d z_c / d x[n, i, j, channel]|
"""
import numpy as np

from .backprop import prepare


def class_score_gradient(model, x, class_index):
    """d(logit of ``class_index``)/dx for a batch ``x``, through the model's explicit backward.

    Args:
        model: a built model with one input and one output.
        x: the input batch.
        class_index: the class whose logit is differentiated.

    Returns:
        The gradient, shape of ``x``.

    Raises:
        ValueError: if the model has several inputs or outputs, or ``class_index`` is out of range.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> tinyconv.teaching.saliency.class_score_gradient(model, np.ones((1, 3), "float32"), 1).shape
    (1, 3)
    """
    inputs, _ = prepare(model, x, None, "saliency_map")
    if len(inputs) != 1 or len(model.output_names) != 1:
        raise ValueError(f"saliency_map: {model.describe()} must have one input and one output")
    output = model._run_forward(inputs, training=False)[0]
    if not 0 <= int(class_index) < output.shape[-1]:
        raise ValueError(f"saliency_map: class_index {class_index} is out of range for {output.shape[-1]} classes")
    last = model._output_layers()[0]
    # Start from the logits when the last layer has a fusable activation; else from its output.
    from_logits = hasattr(last, "backward_from_preactivation") and model._can_fuse(0)
    seed = np.zeros_like(output)
    seed[..., int(class_index)] = 1.0
    return model._run_backward([seed], [from_logits])[0]


def saliency_map(model, x, class_index, raw=False):
    """Saliency of ``class_index`` for images ``x`` (a batch, or one image without the batch axis).

    Returns max over channels of |d logit / d x| (shape: x without its channel axis), or the signed
    gradient itself (shape of x) with ``raw=True``.

    Args:
        model: a built model with one input and one output.
        x: a batch of images, or one image without the batch axis.
        class_index: the class whose logit is differentiated.
        raw: return the signed gradient instead of the channel maximum of its size.

    Returns:
        The saliency map (or gradient), without a batch axis when ``x`` had none.

    Raises:
        ValueError: if the model has several inputs or outputs, or ``class_index`` is out of range.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((4, 4, 3)), layers.Flatten(),
    ...                              layers.Dense(2, activation="softmax")])
    >>> tinyconv.teaching.saliency.saliency_map(model, np.ones((4, 4, 3), "float32"), 0).shape
    (4, 4)
    """
    x = np.asarray(x)
    single = x.ndim == len(_input_shape(model))
    batch = x[None] if single else x
    gradient = class_score_gradient(model, batch, class_index)
    result = gradient if raw else np.max(np.abs(gradient), axis=-1)
    return result[0] if single else result


def _input_shape(model):
    shape = model.input_shape
    if isinstance(shape, list) or shape is None:
        raise ValueError(f"saliency_map: {model.describe()} needs one known input shape")
    return tuple(shape[1:])
