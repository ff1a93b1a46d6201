"""``keras.saving``: models to files and back, in Keras's own formats.

* ``model.save("m.keras")``: Keras 3's zip (JSON config + HDF5 weights); opens in Keras 3.
* ``model.save("m.h5")``: Keras 2's single HDF5 file; Keras 3 still opens it.
* ``model.save_weights("w.weights.h5")`` / ``("w.h5")``: weights only, Keras 3 or Keras 2 layout.

Every write goes to a temporary file first and replaces the target only once complete.  Model configs
(the JSON inside these files) come from ``tinyconv.models.config`` through ``tinyconv.serialization``.
"""
import os
import zipfile

import h5py

from ..models.config import clone_model
from .. import serialization
from ..serialization import (deserialize, get_registered_name, get_registered_object, register_keras_serializable,
                             serialize)
from . import h5_checks, h5_weights, keras_zip, legacy_h5
from .atomic import atomic_path


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")


def save_model(model, filepath, overwrite=True, include_optimizer=True, **kwargs):
    """Save architecture, weights and compile settings to ``.keras`` (Keras 3) or ``.h5`` (Keras 2)."""
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    if path.endswith(".keras"):
        keras_zip.save(model, path, include_optimizer)
    elif path.endswith((".h5", ".hdf5")):
        legacy_h5.save(model, path, include_optimizer)
    else:
        raise ValueError(f"save: unknown file extension in {path!r}; use '.keras' (Keras 3 format) or '.h5' "
                         "(Keras 2 format)")


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a ``.keras`` zip or a Keras 2 ``.h5`` file (written by tinyconv or by Keras).

    ``safe_mode`` is Keras's: the only code a file can hold is a ``Lambda`` layer's bytecode, and it is
    refused unless ``safe_mode=False`` (or ``tinyconv.config.enable_unsafe_deserialization()``) says the
    file is trusted.  The only classes a config can name are tinyconv's own and those passed in
    ``custom_objects``; an activation given as code is refused in both modes.
    Loading is all or nothing; the limits on what a file may hold are in docs/SECURITY.md.
    """
    if not isinstance(safe_mode, bool):
        raise TypeError(f"load_model: safe_mode must be True or False, got {safe_mode!r}")
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no file at {path!r}")
    with serialization.safe_mode_scope(safe_mode):
        if zipfile.is_zipfile(path):
            return keras_zip.load(path, custom_objects, compile)
        if h5py.is_hdf5(path):
            return legacy_h5.load(path, custom_objects, compile)
    raise ValueError(f"load_model: {path!r} is neither a .keras zip nor an HDF5 (.h5) file")


def save_weights(model, filepath, overwrite=True):
    path = os.fspath(filepath)
    _check_overwrite(path, overwrite)
    if path.endswith(".weights.h5"):
        with atomic_path(path) as temporary, h5py.File(temporary, "w") as h5:
            h5_weights.write_model_state(h5, model, include_optimizer=False)
    elif path.endswith((".h5", ".hdf5")):
        legacy_h5.save_weights(model, path)
    else:
        raise ValueError(f"save_weights: the file name must end in '.weights.h5' (Keras 3 layout) or '.h5' "
                         f"(Keras 2 layout), got {path!r}")


def load_weights(model, filepath, skip_mismatch=False):
    """Weights from a ``.weights.h5`` file, a Keras 2 ``.h5`` file, or the weights inside a ``.keras`` zip."""
    path = os.fspath(filepath)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            keras_zip.load_weights(archive, model, path)
        return
    with h5py.File(path, "r") as h5:
        if h5_checks.child_group(h5, "layers", path) is not None:
            h5_weights.read_model_state(h5, model, load_optimizer=False, where=path)
        else:
            legacy_h5.read_weights_group(h5, model, where=path)


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "serialize", "deserialize", "clone_model",
           "register_keras_serializable", "get_registered_name", "get_registered_object"]
