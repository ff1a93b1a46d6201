"""``keras.models``: model classes."""
from .. import serialization
from .config import clone_model
from .functional import Functional
from .model import Model
from .sequential import Sequential


# load_model / save_model are facades of tinyconv.saving (the file formats), which sits above the models:
# imported when called, as Model.save does.
def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model saved with ``model.save`` (``.keras`` or ``.h5``), by tinyconv or by Keras."""
    from ..saving import load_model as load

    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, **kwargs):
    from ..saving import save_model as save

    save(model, filepath, overwrite=overwrite, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A model (unbuilt weights are freshly initialised) from ``model.to_json()``'s string."""
    import json

    return serialization.deserialize(json.loads(json_string), custom_objects)
