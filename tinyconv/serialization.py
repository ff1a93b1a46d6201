"""Objects to Keras config dicts and back, through a registry of classes.

A serialized object is what Keras writes into ``config.json``::

    {"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": None,
     "build_config": {"input_shape": [None, 64]}}

``serialize(obj)`` asks the object for its ``get_config()`` and writes it under the Keras class
name its class was registered with; ``deserialize`` looks the class name up and calls
``cls.from_config(config)``.  The modules that define classes fill the registry
(``serialization.register("layers", {...})``), so this module imports nothing of tinyconv and
every other module may import it.

tinyconv's class names are Keras's, so a file written here opens in Keras and the other way
round.  Keras's layer configs carry arguments tinyconv has no use for (``kernel_constraint:
None``, ``sparse: False``, ...): they are dropped when they hold Keras's default, and refused
with a clear error when they ask for something tinyconv cannot do.
"""
import inspect

# The kinds of objects, each with the Keras module its classes are written under.  A bare class
# name is looked up in this order (a model name before a layer name).
KERAS_MODULES = {"models": "keras", "layers": "keras.layers", "initializers": "keras.initializers",
                 "regularizers": "keras.regularizers", "optimizers": "keras.optimizers", "losses": "keras.losses"}

_CLASSES_BY_NAME = {kind: {} for kind in KERAS_MODULES}  # kind -> {Keras class name or alias: class}
_WRITTEN_AS = {}  # class -> (kind, class name, module, registered name): how its objects are written
_REGISTERED_OBJECTS = {}  # "package>name" -> a user's class or function (Keras's register_keras_serializable)
_REGISTERED_NAMES = {}  # that class or function -> "package>name"

# Keras layer arguments tinyconv does not take, with the Keras defaults that are safe to ignore.
_IGNORABLE_KERAS_DEFAULTS = {
    "groups": 1, "renorm_momentum": 0.99, "moving_mean_initializer": "Zeros",
    "moving_variance_initializer": "Ones", "lora_alpha": None,
}


# ------------------------------------------------------------------ running code from a file
# A Lambda layer's file holds Python bytecode; loading it runs that code.  As Keras: refused unless the
# user says the file is trusted, per load (load_model(..., safe_mode=False)) or for the whole process
# (tinyconv.config.enable_unsafe_deserialization()).
_UNSAFE_LOADING = {"process": False, "this_load": None}


def enable_unsafe_deserialization():
    """Allow every later load to run code stored in a file (Keras's ``keras.config`` switch of that name)."""
    _UNSAFE_LOADING["process"] = True


class safe_mode_scope:
    """``with safe_mode_scope(safe_mode):`` - the ``safe_mode`` of the load now running."""

    def __init__(self, safe_mode):
        self.safe_mode = safe_mode

    def __enter__(self):
        self._previous = _UNSAFE_LOADING["this_load"]
        _UNSAFE_LOADING["this_load"] = self.safe_mode
        return self

    def __exit__(self, *exc):
        _UNSAFE_LOADING["this_load"] = self._previous
        return False


def unsafe_loading_allowed(safe_mode=None):
    """Whether code from a file may run: an explicit ``safe_mode=False``, else the load's or the process's setting."""
    if safe_mode is None:
        safe_mode = _UNSAFE_LOADING["this_load"]
    return safe_mode is False or (safe_mode is None and _UNSAFE_LOADING["process"])


# ------------------------------------------------------------------ the registry
def register(kind, classes=None, module=None, registered_name=None):
    """Make classes known to ``serialize`` / ``deserialize`` as objects of ``kind`` ('layers', 'models',
    'initializers', 'regularizers', 'optimizers', 'losses').

    ``classes``: one class, or a ``{name: class}`` dict in which every name finds its class (Keras's
    aliases: ``"Convolution2D"`` finds ``Conv2D``); a class is always written under its own name.
    A registered base class (``Layer``) also makes its unregistered subclasses (a user's layer)
    writable under their own class names.  Without ``classes`` it returns a class decorator.
    """
    if kind not in KERAS_MODULES:
        raise ValueError(f"register: unknown kind {kind!r}; choose one of {list(KERAS_MODULES)}")
    if classes is None:
        return lambda cls: register(kind, cls, module, registered_name)
    named = classes if isinstance(classes, dict) else {classes.__name__: classes}
    for name, cls in named.items():
        if not inspect.isclass(cls):
            raise TypeError(f"register: {name!r} must name a class, got {cls!r}")
        _CLASSES_BY_NAME[kind][name] = cls
        _WRITTEN_AS[cls] = (kind, cls.__name__, module or KERAS_MODULES[kind], registered_name)
    return classes


def register_keras_serializable(package="Custom", name=None):
    """Keras's decorator that makes a user's class (or function) loadable without ``custom_objects``.

    The object is registered under ``"package>name"`` (``name`` defaults to its own ``__name__``): a saved
    model writes that key as the object's ``registered_name``, and loading finds the class by it.  A class
    must have ``get_config`` (every layer and model has; write your own when ``__init__`` takes arguments
    that cannot be captured automatically).  Registering again under the same key replaces the object.

    Args:
        package: the first part of the key, e.g. your project's name.
        name: the second part; default the object's ``__name__``.

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Raises:
        ValueError: for a class without ``get_config``.

    Example:

    >>> @register_keras_serializable(package="demo")
    ... class Thing:
    ...     def get_config(self):
    ...         return {}
    >>> get_registered_name(Thing), get_registered_object("demo>Thing") is Thing
    ('demo>Thing', True)
    """
    def decorator(obj):
        key = f"{package}>{name if name is not None else obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: cannot register class {obj.__name__} as {key!r}: it "
                             "has no get_config() method")
        _REGISTERED_OBJECTS[key] = obj
        _REGISTERED_NAMES[obj] = key
        return obj

    return decorator


def get_registered_name(obj):
    """The key ``obj`` was registered under with ``register_keras_serializable``; its ``__name__`` if none.

    Args:
        obj: a class or function.

    Example:

    >>> get_registered_name(len)
    'len'
    """
    return _REGISTERED_NAMES.get(obj, getattr(obj, "__name__", None))


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class or function registered under ``name`` (``custom_objects`` first, then the registry, then
    ``module_objects``, as Keras); None when there is none.

    Args:
        name: the registered key (``"package>Name"``) or a name in one of the dicts.
        custom_objects: optional dict of name -> object, looked in first.
        module_objects: optional dict of name -> object, looked in last.

    Example:

    >>> get_registered_object("nothing>Here") is None
    True
    """
    for table in (custom_objects, _REGISTERED_OBJECTS, module_objects):
        if table and name in table:
            return table[name]
    return None


def registered_class(kind, class_name):
    """The class registered under ``class_name`` for ``kind``, or None."""
    return _CLASSES_BY_NAME[kind].get(class_name)


def registered_names(kind):
    """Every name (aliases included) that finds a class of ``kind``."""
    return sorted(_CLASSES_BY_NAME[kind])


def _written_as(cls):
    """(kind, class name, module, registered name) for ``cls``, or None when neither it nor a base is registered."""
    for klass in inspect.getmro(cls):
        if klass in _WRITTEN_AS:
            if klass is cls:
                return _WRITTEN_AS[klass]
            kind = _WRITTEN_AS[klass][0]
            if cls in _REGISTERED_NAMES:  # a user's class registered with register_keras_serializable
                return kind, cls.__name__, cls.__module__, _REGISTERED_NAMES[cls]
            return kind, cls.__name__, KERAS_MODULES[kind], None
    return None


def kind_of(obj):
    """'layers', 'models', ...: the kind ``obj``'s class (or a base of it) is registered as; None if none."""
    found = _written_as(type(obj))
    return found[0] if found else None


def find_class(class_name, custom_objects=None, layer_name=None, registered_name=None):
    """The class for a Keras class name: ``custom_objects`` first, then a class registered with
    ``register_keras_serializable`` under ``registered_name``, then tinyconv's; a clear error when there is none."""
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    if registered_name:
        found = get_registered_object(registered_name, custom_objects)
        if found is not None:
            return found
    for kind in KERAS_MODULES:
        cls = _CLASSES_BY_NAME[kind].get(class_name)
        if cls is not None:
            return cls
    where = f" (layer '{layer_name}')" if layer_name else ""
    raise ValueError(f"Unknown layer class {class_name!r}{where}: tinyconv has no such layer. Pass it in "
                     f"custom_objects={{'{class_name}': YourLayer}}, or use one of: "
                     f"{', '.join(registered_names('layers'))}")


# ------------------------------------------------------------------ to config
def constructor_config(obj):
    """The arguments ``obj``'s class was constructed with, by name: Keras's automatic config of a user's
    layer or model that does not write ``get_config`` (``__new__`` keeps the arguments; see ``Layer``).

    Raises a clear error when an argument cannot be written to JSON: such a class needs its own
    ``get_config`` (and, if it takes objects, ``from_config``).
    """
    args, kwargs = obj.__dict__.get("_constructor_arguments", ((), {}))
    try:
        bound = inspect.signature(type(obj).__init__).bind(obj, *args, **kwargs)
    except TypeError:
        return {}
    config = {}
    for name, value in list(bound.arguments.items())[1:]:
        parameter = bound.signature.parameters[name]
        if parameter.kind == parameter.VAR_KEYWORD:
            config.update(value)
        elif parameter.kind == parameter.VAR_POSITIONAL:
            if value:
                raise NotImplementedError(f"{type(obj).__name__}: takes *{name}, so it cannot be rebuilt from a "
                                          "config automatically; write its get_config() and from_config()")
        else:
            config[name] = value
    for name, value in config.items():
        if not _plain(value):
            raise NotImplementedError(
                f"{type(obj).__name__} was made with {name}={value!r}, which cannot be written to a config file; "
                f"write {type(obj).__name__}.get_config() (and from_config() if it needs the object back)")
    return config


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return False


def json_ready(value):
    """Tuples to lists, NumPy scalars to Python numbers: what ``json.dumps`` can write."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def serialize(obj):
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` dict of a registered object
    (a layer, a model, an initializer, ...); a built layer also gets its ``build_config``."""
    if obj is None:
        return None
    found = _written_as(type(obj))
    if found is None:
        raise TypeError(f"serialize: {type(obj).__name__} is not a registered class; register it with "
                        f"tinyconv.serialization.register(kind, {type(obj).__name__})")
    kind, class_name, module, registered_name = found
    config = dict(obj.get_config())
    if kind == "layers":  # Keras writes every initializer of a layer in its dict form
        config = {key: serialize_initializer(value) if key.endswith("_initializer") else value
                  for key, value in config.items()}
    entry = {"module": module, "class_name": class_name, "config": json_ready(config),
             "registered_name": registered_name}
    input_shape = getattr(obj, "input_shape", None)
    subclassed_model = kind == "models" and getattr(obj, "_runs_call", lambda: False)()
    if (kind == "layers" or subclassed_model) and getattr(obj, "built", False) and input_shape is not None and \
            class_name != "InputLayer":
        entry["build_config"] = {"input_shape": json_ready(input_shape)}
    return entry


def serialize_initializer(identifier):
    """Keras's dict form of an initializer given as a name, a ``{class_name, config}`` dict or an object.
    A name no registered initializer has (Embedding's 'uniform') and a bare function stay as they are."""
    if identifier is None or (isinstance(identifier, dict) and "module" in identifier):
        return identifier
    if isinstance(identifier, (str, dict)):
        name = identifier if isinstance(identifier, str) else identifier.get("class_name")
        cls = registered_class("initializers", name)
        if cls is None:
            return identifier
        identifier = cls() if isinstance(identifier, str) else cls.from_config(identifier.get("config") or {})
    if kind_of(identifier) != "initializers":
        return identifier
    return serialize(identifier)


# ------------------------------------------------------------------ from config
def _accepted_arguments(cls):
    """Names the constructor of ``cls`` takes, following ``**kwargs`` up the class hierarchy."""
    names = set(getattr(cls, "_CONSTRUCTOR_KEYS", ())) | set(getattr(cls, "_CONSTRAINT_ARGUMENTS", ()))
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
    cls = registered_class("initializers", value["class_name"])
    if cls is None:
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
    """Make a layer config (ours or Keras's) acceptable to ``cls(**config)``."""
    accepted = _accepted_arguments(cls)
    cleaned = {}
    for key, value in config.items():
        if key not in accepted:
            if _is_ignorable(key, value):
                continue
            raise ValueError(f"{cls.__name__} '{layer_name or config.get('name')}': tinyconv does not support "
                             f"the Keras argument {key}={value!r}")
        cleaned[key] = _standardize_value(key, value)
    return cleaned


def _from_config(cls, config, custom_objects):
    """``cls.from_config(config)``, handing ``custom_objects`` on to a class that rebuilds inner objects (a model)."""
    try:
        takes_custom_objects = "custom_objects" in inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):
        takes_custom_objects = False
    if takes_custom_objects:
        return cls.from_config(config, custom_objects=custom_objects)
    return cls.from_config(config)


def deserialize(config, custom_objects=None, layers_by_name=None):
    """An object from ``serialize``'s dict (or Keras's, or Keras 2's ``{class_name, config}``).

    ``layers_by_name``: while a model is rebuilt, the layers made so far; a layer whose config
    names another one (MaxUnpooling2D names its pool) gets that layer before it is built.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected a dict with 'class_name' and 'config', got {config!r}")
    inner = config.get("config") or {}
    cls = find_class(config["class_name"], custom_objects, inner.get("name"), config.get("registered_name"))
    found = _written_as(cls)
    if found is None or found[0] != "layers":
        obj = _from_config(cls, inner, custom_objects)
        build = config.get("build_config")
        if build and build.get("input_shape") is not None and getattr(obj, "_runs_call", lambda: False)() \
                and not obj.built:
            shape = build["input_shape"]  # a subclassed model: its weights exist once it is built
            obj.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
        return obj
    try:
        layer = cls.from_config(standardize_layer_config(cls, inner))
    except ValueError as error:
        if not isinstance(inner.get("activation"), dict):
            raise
        # Keras's dict form of an activation that tinyconv refuses (a lambda, a layer): name the layer
        raise ValueError(f"{cls.__name__} '{inner.get('name')}': {error}") from None
    if "name" not in inner and isinstance(config.get("name"), str):
        # A custom get_config() without the name: the model config still names the layer, and its calls
        # are recorded under that name.
        layer.name = config["name"]
    resolve = getattr(layer, "resolve_layer_references", None)
    if resolve is not None:
        resolve(layers_by_name or {})
    build = config.get("build_config")
    if build and build.get("input_shape") is not None and not layer.built:
        layer.build_for(tuple(build["input_shape"]))
    return layer
