"""Keras 2's single-file ``.h5`` format (still read by Keras 3's ``legacy_h5_format``).

Full model file::

    attrs: model_config (JSON), training_config (JSON), backend, keras_version
    model_weights/                 attrs: layer_names = [every layer's name]
    model_weights/dense/           attrs: weight_names = ["dense/kernel:0", "dense/bias:0"]
    model_weights/dense/dense/kernel:0, .../bias:0   the arrays

A weights-only ``.h5`` (``save_weights("x.h5")``) is the ``model_weights`` group at the root.
Weights are matched to layers by *order* among the layers that have weights; a model used as a
layer stores all its trainable weights first, then the non-trainable ones (Keras's order).
"""
import json

import h5py
import numpy as np

from .. import devices, serialization
from . import compile_config as compile_module, h5_checks, h5_weights
from .atomic import atomic_path

KERAS_FORMAT_VERSION = "2.15.0"  # the Keras 2 release whose layout this follows


def legacy_slots(layer):
    """(name, Weight) pairs of a layer or a nested model, trainable first, as Keras 2 stored them."""
    leaves = [layer]
    while any(h5_weights.is_model(l) for l in leaves):
        leaves = [inner for l in leaves for inner in (l.layers if h5_weights.is_model(l) else [l])]
    if hasattr(layer, "_weight_owners"):  # a custom layer's own weights, then those of the layers it holds
        leaves = [owner for leaf in leaves for owner, _ in leaf._weight_owners()] if len(leaves) == 1 else leaves
    pairs = [(leaf.name, w) for leaf in leaves for w in getattr(leaf, "_weights", [])]
    return [p for p in pairs if p[1].trainable] + [p for p in pairs if not p[1].trainable]


def _names_attr(names):
    return np.asarray([n.encode("utf8") for n in names]) if names else np.asarray([], dtype=np.float64)


def _read_names(group, attr):
    """A list-of-strings attribute, also when Keras split it into attr0, attr1, ... chunks."""
    if attr in group.attrs:
        values = list(group.attrs[attr])
    else:
        values, chunk = [], 0
        while f"{attr}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{attr}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def write_weights_group(group, model):
    group.attrs["layer_names"] = _names_attr([layer.name for layer in model.layers])
    group.attrs["backend"] = b"tinyconv"
    group.attrs["keras_version"] = KERAS_FORMAT_VERSION.encode("utf8")
    for layer in model.layers:
        layer_group = group.create_group(layer.name)
        names = [f"{owner}/{w.name}:0" for owner, w in legacy_slots(layer)]
        layer_group.attrs["weight_names"] = _names_attr(names)
        for name, (_, w) in zip(names, legacy_slots(layer)):
            layer_group.create_dataset(name, data=devices.to_host(w.value))   # a GPU weight is copied down
    group.create_group("top_level_model_weights").attrs["weight_names"] = _names_attr([])


def read_weights_group(group, model, where="weights file"):
    """Load a ``model_weights`` group by layer order, all or nothing: every dataset is checked (links,
    storage, dtype, declared shape) and read before any weight changes."""
    if "layer_names" not in group.attrs:
        group = h5_checks.child_group(group, "model_weights", where) or group
    layer_groups = {}
    for name in _read_names(group, "layer_names"):
        layer_group = h5_checks.child_group(group, name, where)
        if layer_group is None:
            raise ValueError(f"{where}: layer_names lists '{name}' but the file has no group for it")
        if _read_names(layer_group, "weight_names"):
            layer_groups[name] = layer_group
    saved = list(layer_groups)
    layers = [layer for layer in model.layers if legacy_slots(layer)]
    if len(saved) != len(layers):
        raise ValueError(f"{model.describe()}: the file has weights for {len(saved)} layers {saved}, the model "
                         f"has {len(layers)} layers with weights {[l.name for l in layers]}")
    plan = []
    for name, layer in zip(saved, layers):
        datasets = [h5_checks.plain_dataset(layer_groups[name], w, where)
                    for w in _read_names(layer_groups[name], "weight_names")]
        h5_weights.plan_layer(layer, [w for _, w in legacy_slots(layer)], datasets, plan)
    h5_weights.apply_plan(h5_weights.read_plan(plan))


# Keras 3 cannot read these short loss names back from a training_config: write the full names.
_FULL_LOSS_NAMES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                    "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error"}


def _full_loss_names(spec):
    if isinstance(spec, dict) and "class_name" not in spec:
        return {key: _full_loss_names(value) for key, value in spec.items()}
    if isinstance(spec, list):
        return [_full_loss_names(value) for value in spec]
    return _FULL_LOSS_NAMES.get(spec, spec) if isinstance(spec, str) else spec


def _training_config(model):
    config = compile_module.compile_config(model)
    if not config:
        return None
    config["loss"] = _full_loss_names(config["loss"])
    optimizer = config.pop("optimizer")
    config["optimizer_config"] = {"class_name": optimizer["class_name"], "config": optimizer["config"]}
    return config


def _strip_modules(entry):
    """Keras 2 configs have no ``module`` / ``registered_name`` / ``build_config`` keys."""
    if isinstance(entry, dict):
        return {k: _strip_modules(v) for k, v in entry.items()
                if k not in ("module", "registered_name", "build_config")}
    if isinstance(entry, list):
        return [_strip_modules(v) for v in entry]
    return entry


def save(model, path, include_optimizer=True):
    model_config = json.dumps(_strip_modules(serialization.serialize(model)))
    training = _training_config(model) if include_optimizer else None
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as h5:
        h5.attrs["backend"] = "tinyconv"
        h5.attrs["keras_version"] = KERAS_FORMAT_VERSION
        h5.attrs["model_config"] = model_config
        if training is not None:
            h5.attrs["training_config"] = json.dumps(training)
        write_weights_group(h5.create_group("model_weights"), model)


def save_weights(model, path):
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as h5:
        write_weights_group(h5, model)


def load(path, custom_objects=None, compile=True):
    with h5py.File(path, "r") as h5:
        if "model_config" not in h5.attrs:
            raise ValueError(f"{path}: no model config in this HDF5 file (a weights-only file? use "
                             "model.load_weights)")
        raw = h5.attrs["model_config"]
        model = serialization.deserialize(json.loads(raw.decode("utf8") if isinstance(raw, bytes) else raw),
                                          custom_objects)
        weights = h5_checks.child_group(h5, "model_weights", path)
        if weights is None:
            raise ValueError(f"{path}: this Keras 2 model file has no 'model_weights' group")
        read_weights_group(weights, model, where=path)
        training = h5.attrs.get("training_config")
        if compile and training is not None:
            training = json.loads(training.decode("utf8") if isinstance(training, bytes) else training)
            compile_module.compile_from_config(model, training)
    return model
