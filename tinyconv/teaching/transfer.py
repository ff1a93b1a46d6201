"""Transfer learning: reuse a trained feature extractor on a new task.

The recipe (as in Keras):

    base = trained_model                                  # e.g. trained on a big data set
    freeze(base)                                          # its weights stay as they are
    inputs = tinyconv.Input(shape)
    h = base(inputs)                                      # the frozen extractor
    outputs = tinyconv.layers.Dense(new_classes, activation="softmax")(h)   # a new head
    model = tinyconv.Model(inputs, outputs)
    model.compile(...)                                    # compile *after* freezing
    model.fit(new_x, new_y)                               # trains the head only
    unfreeze(base, from_layer="conv2d_2"); model.compile(optimizer with a small learning rate)
    model.fit(...)                                        # optional: fine-tune the top of the base

Small data close to the original task: freeze everything but the head.  More data, or a task
further away: unfreeze more of the top layers and fine-tune with a small learning rate.
"""
from ..models.model import Model


def _layer_list(model_or_layers):
    if isinstance(model_or_layers, Model):
        return list(model_or_layers.layers)
    if isinstance(model_or_layers, (list, tuple)):
        return list(model_or_layers)
    return [model_or_layers]


def _position(layers, marker, what):
    if marker is None:
        return None
    if isinstance(marker, int):
        if not -len(layers) <= marker < len(layers):
            raise ValueError(f"{what}: index {marker} is out of range for {len(layers)} layers")
        return marker % len(layers)
    names = [layer.name for layer in layers]
    if marker not in names:
        raise ValueError(f"{what}: no layer named {marker!r}; layers: {names}")
    return names.index(marker)


def freeze(model_or_layers, until=None):
    """Set ``trainable = False`` on the layers of a model (or a list of layers), from the first up
    to and including ``until``.  Compile the model again afterwards so the optimizer sees the new
    set of weights.

    Args:
        model_or_layers: a model, a list of layers, or one layer.
        until: the last layer to freeze, by name or index; None: all of them.

    Returns:
        The list of frozen layers.

    Raises:
        ValueError: if ``until`` names no layer or is out of range.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2)])
    >>> frozen = tinyconv.teaching.transfer.freeze(model, until=0)
    >>> [layer.trainable for layer in model.layers]
    [False, True]
    """
    layers = _layer_list(model_or_layers)
    last = _position(layers, until, "freeze")
    frozen = layers if last is None else layers[:last + 1]
    for layer in frozen:
        layer.trainable = False
    return frozen


def unfreeze(model_or_layers, from_layer=None):
    """Set ``trainable = True`` on the layers from ``from_layer`` to the end.

    Args:
        model_or_layers: a model, a list of layers, or one layer.
        from_layer: the first layer to unfreeze, by name or index; None: all of them.

    Returns:
        The list of unfrozen layers.

    Raises:
        ValueError: if ``from_layer`` names no layer or is out of range.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2)])
    >>> _ = tinyconv.teaching.transfer.freeze(model)
    >>> _ = tinyconv.teaching.transfer.unfreeze(model, from_layer=-1)
    >>> [layer.trainable for layer in model.layers]
    [False, True]
    """
    layers = _layer_list(model_or_layers)
    first = _position(layers, from_layer, "unfreeze")
    thawed = layers if first is None else layers[first:]
    for layer in thawed:
        layer.trainable = True
    return thawed
