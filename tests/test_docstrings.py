"""The model API documents itself: every public method and property of ``Model`` and ``Sequential`` has a
docstring of its own, and every ``Example:`` in the model modules runs and prints what it shows.

The examples assume ``import numpy as np``, ``import tinyconv`` and ``from tinyconv import layers``
(as Keras's examples assume ``import keras``); the doctest run below provides those names.
"""
import doctest
import inspect
import tempfile

import numpy as np
import pytest

import tinyconv
from tinyconv import layers
from tinyconv.models import config, functional, model, sequential, training
import tinyconv.models as models_package

DOCUMENTED_MODULES = [model, training, sequential, functional, config, models_package]
DOCUMENTED_CLASSES = [tinyconv.models.Model, tinyconv.models.Sequential, tinyconv.models.Functional]


@pytest.mark.parametrize("module", DOCUMENTED_MODULES, ids=lambda m: m.__name__)
def test_examples_in_docstrings_run(module, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the saving examples write under tmp_path
    tinyconv.utils.set_random_seed(0)
    result = doctest.testmod(module, extraglobs={"np": np, "tinyconv": tinyconv, "layers": layers},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest lines failed in {module.__name__}"


def public_members(cls):
    """(name, member) for each public method and property ``cls`` or one of its bases defines."""
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(cls, name)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            yield name, member


@pytest.mark.parametrize("cls", DOCUMENTED_CLASSES, ids=lambda c: c.__name__)
def test_every_public_method_and_property_has_its_own_docstring(cls):
    missing = [name for name, member in public_members(cls)
               if not (member.__doc__ or "").strip()]
    assert not missing, f"{cls.__name__}: public members without a docstring: {missing}"


def test_the_classes_and_module_functions_have_docstrings_with_examples():
    for documented in DOCUMENTED_CLASSES + [models_package.load_model, models_package.save_model,
                                            models_package.model_from_json, models_package.clone_model]:
        assert "Example" in (documented.__doc__ or ""), f"{documented.__qualname__} has no Example"
