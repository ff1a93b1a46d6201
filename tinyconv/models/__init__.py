"""``keras.models``: model classes (``Model``, ``Sequential``) and the functions that save, load and copy models."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import serialization
from .config import clone_model
from .functional import Functional
from .model import Model
from .sequential import Sequential


# load_model / save_model are facades of tinyconv.saving (the file formats), which sits above the models:
# imported when called, as Model.save does.
def load_model(filepath: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None,
               compile: bool = True, safe_mode: bool = True) -> Model:
    """A model saved with ``model.save`` (``.keras`` or ``.h5``), by tinyconv or by Keras.

    No code from the file is ever run, whatever ``safe_mode`` says: the only classes a file may name
    are tinyconv's and those in ``custom_objects``.

    Args:
        filepath: the file's path.
        custom_objects: dict of the user-defined classes or functions the file names.
        compile: if True and the file holds compile settings, return a compiled model
            (with the optimizer's state when it was saved).
        safe_mode: Keras's argument, accepted for compatibility (must be a bool).

    Returns:
        The model, with its saved weights.

    Raises:
        FileNotFoundError: if there is no file at ``filepath``.
        ValueError: if the file is not a model file tinyconv can read, or names an unknown class.

    Example:

    >>> import os, tempfile
    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.keras")
    >>> model.save(path)
    >>> loaded = tinyconv.models.load_model(path)
    >>> np.array_equal(loaded.predict(np.ones((1, 3)), verbose=0), model.predict(np.ones((1, 3)), verbose=0))
    True
    """
    from ..saving import load_model as load

    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_model(model: Model, filepath: str | os.PathLike[str], overwrite: bool = True, **kwargs: Any) -> None:
    """Save ``model`` to one file: the same as ``model.save(filepath, ...)``.

    Args:
        model: the model to save.
        filepath: ``.keras`` for Keras 3's zip, ``.h5`` for Keras 2's HDF5 file.
        overwrite: if False, refuse to replace an existing file.
        **kwargs: ``include_optimizer`` and the options of the file format.

    Raises:
        ValueError: for an extension other than ``.keras`` or ``.h5``.
        FileExistsError: if the file exists and ``overwrite`` is False.

    Example:

    >>> import os, tempfile
    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.h5")
    >>> tinyconv.models.save_model(model, path)
    >>> tinyconv.models.load_model(path).output_shape
    (None, 2)
    """
    from ..saving import save_model as save

    save(model, filepath, overwrite=overwrite, **kwargs)


def model_from_json(json_string: str, custom_objects: Mapping[str, Any] | None = None) -> Model:
    """A model from ``model.to_json()``'s string: the same architecture with freshly initialised weights.

    Args:
        json_string: the JSON text (tinyconv's or Keras's).
        custom_objects: dict of the user-defined classes or functions it names.

    Returns:
        A new model.

    Raises:
        ValueError: if the JSON names an unknown class.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    >>> tinyconv.models.model_from_json(model.to_json()).count_params()
    8
    """
    import json

    return serialization.deserialize(json.loads(json_string), custom_objects)
