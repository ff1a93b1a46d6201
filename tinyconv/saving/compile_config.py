"""What ``compile()`` was given, written so that Keras (and tinyconv) can compile the model again."""
import inspect
import warnings

from .. import losses, optimizers, serialization

# Keras optimizer arguments tinyconv lacks, with the values that mean "off".
_IGNORABLE_OPTIMIZER_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                                 "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _serialize_loss(spec):
    if isinstance(spec, dict):
        return {key: _serialize_loss(value) for key, value in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_serialize_loss(value) for value in spec]
    if serialization.kind_of(spec) == "losses":
        return serialization.serialize(spec)
    if callable(spec):
        return spec.__name__
    return spec


def _serialize_metrics(spec):
    if isinstance(spec, dict):
        return {key: _serialize_metrics(value) for key, value in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_serialize_metrics(value) for value in spec]
    if callable(spec) and not isinstance(spec, str):
        return getattr(spec, "name", None) or getattr(spec, "__name__", None) or type(spec).__name__
    return spec


def serialize_optimizer(optimizer):
    return serialization.serialize(optimizer)


def compile_config(model):
    """Keras 3's ``compile_config`` ({} for a model that was never compiled)."""
    if not model.compiled:
        return {}
    return {"optimizer": serialize_optimizer(model.optimizer), "loss": _serialize_loss(model._loss_spec),
            "loss_weights": model._loss_weight_spec, "metrics": _serialize_metrics(model._metric_specs) or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def deserialize_optimizer(config):
    """A tinyconv optimizer from Keras's (or our) ``{"class_name", "config"}``."""
    if isinstance(config, str):
        return optimizers.get(config)
    cls = type(optimizers.get(config["class_name"]))
    accepted = set()
    for klass in inspect.getmro(cls):
        if "__init__" in vars(klass):
            accepted.update(inspect.signature(klass.__init__).parameters)
    kept = {}
    for key, value in (config.get("config") or {}).items():
        if key in accepted:
            kept[key] = value
        elif _IGNORABLE_OPTIMIZER_DEFAULTS.get(key, object()) != value:
            warnings.warn(f"{cls.__name__}: the saved optimizer argument {key}={value!r} has no tinyconv "
                          "equivalent and is ignored", stacklevel=3)
    return cls.from_config(kept)


def _deserialize_loss(spec):
    if isinstance(spec, dict) and "class_name" in spec:
        return losses.get({"class_name": spec["class_name"], "config": spec.get("config") or {}})
    if isinstance(spec, dict):
        return {key: _deserialize_loss(value) for key, value in spec.items()}
    if isinstance(spec, list):
        return [_deserialize_loss(value) for value in spec]
    return spec


def compile_from_config(model, config):
    """Compile ``model`` as the saved ``compile_config`` (or Keras 2's ``training_config``) says."""
    optimizer = config.get("optimizer", config.get("optimizer_config"))
    if not config or optimizer is None or config.get("loss") is None:
        return
    metrics = config.get("metrics")
    model.compile(optimizer=deserialize_optimizer(optimizer), loss=_deserialize_loss(config["loss"]),
                  metrics=metrics, loss_weights=config.get("loss_weights"))
