"""Layers and models to plain dicts (JSON) and back, in Keras 3's layout.

A serialized layer is what Keras writes into ``config.json``::

    {"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": None,
     "build_config": {"input_shape": [None, 64]}}

tinyconv's class names are Keras's, so a file written here opens in Keras and the other way
round.  Keras's configs carry arguments tinyconv has no use for (``kernel_constraint: None``,
``sparse: False``, ...): they are dropped when they hold Keras's default, and refused with a
clear error when they ask for something tinyconv cannot do.
"""
import inspect

from .. import initializers, layers as layers_module

LAYER_MODULE = "keras.layers"
INITIALIZER_MODULE = "keras.initializers"
MODEL_MODULES = {"Sequential": "keras", "Functional": "keras.src.models.functional"}

# Keras arguments tinyconv does not take, with the Keras defaults that are safe to ignore.
_IGNORABLE_KERAS_DEFAULTS = {
    "groups": 1, "renorm_momentum": 0.99, "moving_mean_initializer": "Zeros",
    "moving_variance_initializer": "Ones", "lora_alpha": None,
}


# ------------------------------------------------------------------ class lookup
def _model_classes():
    from ..models import Functional, Model, Sequential

    return {"Sequential": Sequential, "Functional": Functional, "Model": Functional, "Model_": Model}


def find_class(class_name, custom_objects=None, layer_name=None):
    """The tinyconv class for a Keras class name; a clear error when there is none."""
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    models = _model_classes()
    if class_name in models:
        return models[class_name]
    cls = getattr(layers_module, class_name, None)
    if inspect.isclass(cls) and issubclass(cls, layers_module.Layer):
        return cls
    where = f" (layer '{layer_name}')" if layer_name else ""
    known = sorted(n for n, c in vars(layers_module).items()
                   if inspect.isclass(c) and issubclass(c, layers_module.Layer))
    raise ValueError(f"Unknown layer class {class_name!r}{where}: tinyconv has no such layer. Pass it in "
                     f"custom_objects={{'{class_name}': YourLayer}}, or use one of: {', '.join(known)}")


# ------------------------------------------------------------------ values
def serialize_initializer(identifier):
    """Keras's dict form of an initializer given as a name, a dict or an object."""
    if identifier is None or (isinstance(identifier, dict) and "module" in identifier):
        return identifier
    try:
        init = initializers.get(identifier)
    except ValueError:
        return identifier  # a name only the layer itself understands (Embedding's 'uniform'): keep it
    if not isinstance(init, initializers.Initializer):
        return identifier  # a bare function has no config to write
    return {"module": INITIALIZER_MODULE, "class_name": type(init).__name__, "config": init.get_config(),
            "registered_name": None}


def _accepted_arguments(cls):
    """Names the constructor of ``cls`` takes, following ``**kwargs`` up the class hierarchy."""
    names = set(getattr(cls, "_CONSTRUCTOR_KEYS", ()))
    for klass in inspect.getmro(cls):
        init = vars(klass).get("__init__")
        if init is None:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                names.add(param.name)
    names.discard("self")
    return names


def _class_name_of(value):
    return value.get("class_name") if isinstance(value, dict) else value


def _standardize_initializer(value):
    """A Keras initializer dict may carry arguments tinyconv's twin lacks (``input_axes``): drop them."""
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    try:
        cls = type(initializers.get(value["class_name"]))
    except ValueError:
        return value
    accepted = _accepted_arguments(cls)
    config = {k: v for k, v in (value.get("config") or {}).items() if k in accepted}
    return {**value, "config": config}


def _standardize_value(key, value):
    if key == "dtype" and isinstance(value, dict):  # Keras's DTypePolicy -> its name
        return value.get("config", {}).get("name", "float32")
    if key.endswith("_initializer"):
        return _standardize_initializer(value)
    if isinstance(value, list) and key not in ("layers", "inbound_nodes"):
        return tuple(value)  # JSON has no tuples; tinyconv's configs use them for shapes and sizes
    return value


def _is_ignorable(key, value):
    if value is None or value is False:
        return True
    if key in _IGNORABLE_KERAS_DEFAULTS:
        return _class_name_of(value) == _IGNORABLE_KERAS_DEFAULTS[key]
    return False


def standardize_layer_config(cls, config, layer_name=None):
    """Make a config (ours or Keras's) acceptable to ``cls(**config)``."""
    accepted = _accepted_arguments(cls)
    cleaned = {}
    for key, value in config.items():
        if key not in accepted and not issubclass(cls, _model_base()):
            if _is_ignorable(key, value):
                continue
            raise ValueError(f"{cls.__name__} '{layer_name or config.get('name')}': tinyconv does not support "
                             f"the Keras argument {key}={value!r}")
        cleaned[key] = _standardize_value(key, value)
    return cleaned


def _model_base():
    from ..models import Model

    return Model


# ------------------------------------------------------------------ layers
def _json_ready(value):
    """Tuples to lists, NumPy scalars to Python numbers: what ``json.dumps`` can write."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _layer_config(layer):
    config = dict(layer.get_config())
    for key, value in config.items():
        if key.endswith("_initializer"):
            config[key] = serialize_initializer(value)
    return _json_ready(config)


def serialize(layer):
    """A layer (or a model) as Keras's ``{"module", "class_name", "config", "registered_name"}`` dict."""
    from ..models import Model

    class_name = type(layer).__name__
    if isinstance(layer, Model):
        from .model_config import model_config

        entry = {"module": MODEL_MODULES.get(class_name, "keras"), "class_name": class_name,
                 "config": model_config(layer), "registered_name": class_name if class_name == "Functional"
                 else None}
    else:
        entry = {"module": LAYER_MODULE, "class_name": class_name, "config": _layer_config(layer),
                 "registered_name": None}
    input_shape = getattr(layer, "input_shape", None)
    if getattr(layer, "built", False) and input_shape is not None and not isinstance(layer, Model) and \
            class_name != "InputLayer":
        entry["build_config"] = {"input_shape": _json_ready(input_shape)}
    return entry


def deserialize(config, custom_objects=None, layers_by_name=None):
    """A layer or model from ``serialize``'s dict (or Keras's, or Keras 2's ``{class_name, config}``).

    ``layers_by_name``: while a model is rebuilt, the layers made so far; a layer whose config
    names another one (MaxUnpooling2D names its pool) gets that layer before it is built.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    inner = config.get("config") or {}
    cls = find_class(config["class_name"], custom_objects, inner.get("name"))
    if issubclass(cls, _model_base()):
        from .model_config import model_from_config

        return model_from_config(cls, inner, custom_objects)
    layer = cls.from_config(standardize_layer_config(cls, inner))
    resolve = getattr(layer, "resolve_layer_references", None)
    if resolve is not None:
        resolve(layers_by_name or {})
    build = config.get("build_config")
    if build and build.get("input_shape") is not None and not layer.built:
        layer.build_for(tuple(build["input_shape"]))
    return layer
