"""``keras.models``: model classes."""
from .functional import Functional
from .model import Model
from .sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model saved with ``model.save`` (``.keras`` or ``.h5``), by tinyconv or by Keras."""
    from ..saving import load_model as load

    return load(filepath, custom_objects=custom_objects, compile=compile)


def save_model(model, filepath, overwrite=True, **kwargs):
    from ..saving import save_model as save

    save(model, filepath, overwrite=overwrite, **kwargs)


def clone_model(model, input_tensors=None, clone_function=None):
    """Same architecture, fresh weights (each layer rebuilt from its config unless ``clone_function`` says)."""
    from ..saving.model_config import clone_model as clone

    return clone(model, input_tensors=input_tensors, clone_function=clone_function)


def model_from_json(json_string, custom_objects=None):
    """A model (unbuilt weights are freshly initialised) from ``model.to_json()``'s string."""
    import json

    from ..saving.serialization import deserialize

    return deserialize(json.loads(json_string), custom_objects)
