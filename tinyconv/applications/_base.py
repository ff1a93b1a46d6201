"""What every application model shares: argument checks, the input, the pooled head, loading weights.

The rules are Keras's (``keras.applications``): the same arguments, the same accepted input shapes, the same
refusals (``classes != 1000`` with ImageNet weights and the top, an activation other than softmax or None
on pretrained logits), so a Keras script gets the same model or the same complaint.  Only
``channels_last`` images are built (tinyconv's layout everywhere).
"""
import os

from .. import activations, backend
from ..graph import SymbolicTensor
from ..layers import GlobalAveragePooling2D, GlobalMaxPooling2D, Input, InputLayer
from ..models import Model
from . import _files


def check_weights(weights, model_name):
    """``weights`` is None, ``"imagenet"`` or the path of an existing file; anything else is refused."""
    if weights is None or weights == "imagenet":
        return
    if isinstance(weights, (str, os.PathLike)) and os.path.exists(weights):
        return
    raise ValueError(f"{model_name}: weights must be None (random initialization), 'imagenet' (pre-training on "
                     f"ImageNet) or the path to an existing weights file, got weights={weights!r}")


def check_classes(weights, include_top, classes, model_name):
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"{model_name}: classes must be a positive int, got classes={classes!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{model_name}: with weights='imagenet' and include_top=True, classes must be 1000 "
                         f"(the ImageNet classifier), got classes={classes}")


def check_pooling(pooling, model_name):
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{model_name}: pooling must be None, 'avg' or 'max', got pooling={pooling!r}")


def check_activation(classifier_activation, weights, model_name):
    """Pretrained classifiers were trained with softmax: only softmax or None (the logits) make sense."""
    resolved = activations.get(classifier_activation)
    if weights is not None and resolved not in (activations.get("softmax"), activations.get(None)):
        raise ValueError(f"{model_name}: with pretrained weights the classifier_activation must be None or "
                         f"'softmax', got classifier_activation={classifier_activation!r}")


def input_shape_for(input_shape, default_size, min_size, include_top, weights, model_name):
    """The ``(rows, cols, channels)`` an application is built for (Keras's ``obtain_input_shape`` rules).

    * ImageNet weights with the top need exactly ``(default_size, default_size, 3)``;
    * a given shape has 3 entries, 3 channels with ImageNet weights, and rows and cols >= ``min_size``;
    * no shape: the default with the top (its Dense layers fix the size), else ``(None, None, 3)``.
    """
    if backend.image_data_format() != "channels_last":
        raise ValueError(f"{model_name}: tinyconv's applications are built for channels_last images; "
                         f"image_data_format() is {backend.image_data_format()!r}")
    if input_shape is not None:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
            raise ValueError(f"{model_name}: input_shape must be a tuple of three integers (rows, cols, "
                             f"channels), got input_shape={input_shape!r}")
        input_shape = tuple(None if size is None else int(size) for size in input_shape)
    channels = input_shape[-1] if input_shape is not None and weights != "imagenet" else 3
    default = (default_size, default_size, channels)
    if weights == "imagenet" and include_top:
        if input_shape is not None and input_shape != default:
            raise ValueError(f"{model_name}: with include_top=True and weights='imagenet', input_shape must be "
                             f"{default}, got input_shape={input_shape}")
        return default
    if input_shape is None:
        return default if include_top else (None, None, 3)
    if weights == "imagenet" and input_shape[-1] != 3:
        raise ValueError(f"{model_name}: ImageNet weights need 3 input channels, got input_shape={input_shape}")
    if any(size is not None and size < min_size for size in input_shape[:2]):
        raise ValueError(f"{model_name}: input size must be at least {min_size}x{min_size}, got "
                         f"input_shape={input_shape}")
    if include_top and None in input_shape:
        raise ValueError(f"{model_name}: with include_top=True the input_shape must be fully known (the top's "
                         f"Dense layers fix the image size), got input_shape={input_shape}")
    return input_shape


def image_input(input_shape, input_tensor, model_name):
    """(the tensor the network starts from, the model's inputs): a new ``Input`` or the caller's tensor."""
    if input_tensor is None:
        image = Input(shape=input_shape)
        return image, image
    if not isinstance(input_tensor, SymbolicTensor):
        raise TypeError(f"{model_name}: input_tensor must be a symbolic tensor (from tinyconv.Input(...) or a "
                        f"layer call), got {type(input_tensor).__name__}")
    return input_tensor, source_inputs(input_tensor)


def source_inputs(tensor):
    """The ``Input`` tensors a symbolic tensor is computed from (Keras's ``get_source_inputs``)."""
    found, seen, pending = [], set(), [tensor]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current.producer, InputLayer):
            found.append(current)
        elif current.node is not None:
            pending.extend(reversed(current.node.inputs))
    return found[0] if len(found) == 1 else found


def tensor_input_shape(input_shape, input_tensor):
    """With an ``input_tensor`` and no ``input_shape``, the tensor's own image shape decides."""
    if input_shape is None and isinstance(input_tensor, SymbolicTensor) and len(input_tensor.shape) == 4:
        return tuple(input_tensor.shape[1:])
    return input_shape


def pooled(x, pooling, avg_name=None, max_name=None):
    """The headless model's optional global pooling: a 4D feature map, or one vector per image."""
    if pooling == "avg":
        return GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=max_name)(x)
    return x


def finish(inputs, outputs, name, weights, published=None):
    """The ``Model``, with ``weights`` loaded: Keras's published file for ``"imagenet"``, else the given file.

    ``published`` is ``(file name, address, md5 or None)`` of the ImageNet file for this configuration.
    """
    model = Model(inputs, outputs, name=name)
    if weights == "imagenet":
        file_name, origin, file_hash = published
        model.load_weights(_files.fetch(file_name, origin, file_hash, what=f"{name}: ImageNet weights"))
    elif weights is not None:
        model.load_weights(weights)
    return model
