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
    entry["build_config"] = {"input_shape": list(model.input_shape) if type(model).__name__ == "Sequential"
                             and model.input_shape is not None else None}
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


def load(path, custom_objects=None, compile=True):
    with zipfile.ZipFile(path, "r") as archive:
        names = set(archive.namelist())
        missing = {CONFIG_FILE, WEIGHTS_FILE} - names
        if missing:
            raise ValueError(f"{path}: not a Keras 3 model file (missing {sorted(missing)} in the zip)")
        entry = json.loads(archive.read(CONFIG_FILE))
        weights = archive.read(WEIGHTS_FILE)
    model = serialization.deserialize(entry, custom_objects)
    build = entry.get("build_config") or {}
    if not model.built and build.get("input_shape") is not None:
        model.build(tuple(build["input_shape"]))
    if compile and entry.get("compile_config"):
        compile_module.compile_from_config(model, entry["compile_config"])
    with h5py.File(io.BytesIO(weights), "r") as h5:
        h5_weights.read_model_state(h5, model, load_optimizer=compile)
    return model
