"""The Keras 3 ``.keras`` file: a zip holding three members.

    metadata.json      {"keras_version": ..., "date_saved": ...}
    config.json        the serialized model, plus its compile_config and build_config
    model.weights.h5   the weights, in the layout of ``h5_weights``

Nothing is pickled: a ``.keras`` file is JSON and arrays, safe to open from anyone.
"""
import datetime
import io
import json
import zipfile
import zlib

import h5py

from .. import serialization
from .._version import __version__
from . import compile_config as compile_module, h5_weights
from .atomic import atomic_path

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose files this layout was checked against


def _model_json(model):
    entry = serialization.serialize(model)
    # Sequential and subclassed models are rebuilt from their input shape (a functional one from its graph).
    builds_from_shape = type(model).__name__ == "Sequential" or model._runs_call()
    entry["build_config"] = {"input_shape": serialization.json_ready(model.input_shape)
                             if builds_from_shape and model.input_shape is not None else None}
    entry["compile_config"] = compile_module.compile_config(model)
    return json.dumps(entry)


def _metadata_json():
    return json.dumps({"keras_version": KERAS_FORMAT_VERSION, "tinyconv_version": __version__,
                       "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})


def weights_bytes(model, include_optimizer=True):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5_weights.write_model_state(h5, model, include_optimizer)
    return buffer.getvalue()


def save(model, path, include_optimizer=True):
    config, metadata = _model_json(model), _metadata_json()  # fail before touching the disk if we must
    with atomic_path(path) as temporary:
        with zipfile.ZipFile(temporary, "w") as archive:
            archive.writestr(METADATA_FILE, metadata)
            archive.writestr(CONFIG_FILE, config)
            archive.writestr(WEIGHTS_FILE, weights_bytes(model, include_optimizer))


# ------------------------------------------------------------------ reading, within limits
# A zip member says how large it is, and may lie; a few kilobytes of deflated zeros inflate to gigabytes.
# So each member is read in slices, against a limit set before reading: for config.json a fixed one (a
# Keras config is kilobytes to a few megabytes), for the weights what this model can need.
CONFIG_LIMIT_BYTES = 64 << 20
_READ_SLICE = 1 << 20
# Beyond the model's own arrays a weights member holds its optimizer's slots (at most three per weight:
# Adam with amsgrad) and HDF5's bookkeeping (about a kilobyte per group; a generous allowance per layer).
_OPTIMIZER_SLOTS_ALLOWED = 3
_OVERHEAD_BYTES = 4 << 20
_OVERHEAD_BYTES_PER_LAYER = 64 << 10


def _count_layers(layers):
    return sum(1 + (_count_layers(layer.layers) if h5_weights.is_model(layer) else 0) for layer in layers)


def weights_limit_bytes(model):
    """The most bytes ``model``'s weights member may inflate to."""
    arrays = sum(int(getattr(w, "nbytes", 0)) for w in model.weights)
    return (1 + _OPTIMIZER_SLOTS_ALLOWED) * arrays + _OVERHEAD_BYTES + \
        _OVERHEAD_BYTES_PER_LAYER * _count_layers(model.layers)


def read_member(archive, name, limit, path):
    """The bytes of one zip member, refused as soon as its declared or inflated size passes ``limit``."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"{path}: not a Keras 3 model file (no {name} in the zip)") from None
    too_large = (f"{path}: the zip member {name} {{}} more than the {limit:,} bytes this model can need; "
                 "refused (a corrupt or hostile file)")
    if info.file_size > limit:
        raise ValueError(too_large.format(f"declares {info.file_size:,} bytes,"))
    data = bytearray()
    try:
        with archive.open(info) as member:
            while True:
                piece = member.read(_READ_SLICE)
                if not piece:
                    break
                data += piece
                if len(data) > limit:
                    raise ValueError(too_large.format("inflates to"))
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(f"{path}: the zip member {name} is damaged ({error})") from None
    return bytes(data)


def _read_config(archive, path):
    raw = read_member(archive, CONFIG_FILE, CONFIG_LIMIT_BYTES, path)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{path}: {CONFIG_FILE} is not a readable JSON config ({error})") from None


def load_weights(archive, model, path, load_optimizer=False):
    """Read the weights member (within ``model``'s limit) into ``model``, all or nothing."""
    weights = read_member(archive, WEIGHTS_FILE, weights_limit_bytes(model), path)
    with h5py.File(io.BytesIO(weights), "r") as h5:
        h5_weights.read_model_state(h5, model, load_optimizer=load_optimizer, where=path)


def load(path, custom_objects=None, compile=True):
    with zipfile.ZipFile(path, "r") as archive:
        entry = _read_config(archive, path)
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: {CONFIG_FILE} should hold a model config object, got {type(entry).__name__}")
        model = serialization.deserialize(entry, custom_objects)
        build = entry.get("build_config") or {}
        shape = build.get("input_shape")
        if not model.built and shape is not None:
            model.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
        if compile and entry.get("compile_config"):
            compile_module.compile_from_config(model, entry["compile_config"])
        load_weights(archive, model, path, load_optimizer=compile)
    return model
