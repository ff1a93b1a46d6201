"""Every layer documents itself: each public layer class of ``tinyconv.layers`` has a docstring of
its own (not one inherited from a base class or mixin), with an ``Args:`` section when its
constructor takes arguments, and every ``Example:`` in the layer modules runs and prints what it shows.

The examples assume ``import numpy as np`` and ``from tinyconv import layers`` (as Keras's examples
assume ``import keras``); the doctest run below provides those names.
"""
import doctest
import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import tinyconv
from tinyconv import layers

LAYER_MODULES = [importlib.import_module(f"tinyconv.layers.{info.name}")
                 for info in pkgutil.iter_modules(layers.__path__)]

# Each class once, under the name it was defined with (MaxPool2D and the other aliases are skipped).
PUBLIC_LAYER_CLASSES = sorted({value for name, value in vars(layers).items()
                               if isinstance(value, type) and name == value.__name__}, key=lambda c: c.__name__)

# The base Layer's own arguments: a layer whose constructor takes only these has none of its own.
BASE_ARGUMENTS = {"self", "name", "trainable", "dtype"}


def own_arguments(cls):
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"
            and (p.name not in BASE_ARGUMENTS or cls is layers.Layer)]


def test_every_public_layer_class_is_checked():
    assert len(PUBLIC_LAYER_CLASSES) > 60
    assert layers.Conv2D in PUBLIC_LAYER_CLASSES and layers.MaxPooling2D in PUBLIC_LAYER_CLASSES


@pytest.mark.parametrize("cls", PUBLIC_LAYER_CLASSES, ids=lambda c: c.__name__)
def test_layer_class_has_its_own_docstring(cls):
    doc = cls.__dict__.get("__doc__")
    assert doc and doc.strip(), f"{cls.__name__} has no docstring of its own (help() shows a base class's)"
    if own_arguments(cls):
        assert "Args:" in doc, f"{cls.__name__}'s docstring lacks an Args: section"
        assert "Example:" in doc and ">>> " in doc, f"{cls.__name__}'s docstring lacks an Example:"


@pytest.mark.parametrize("cls", PUBLIC_LAYER_CLASSES, ids=lambda c: c.__name__)
def test_args_section_names_every_constructor_argument(cls):
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    for argument in own_arguments(cls):
        assert f"\n    {argument}:" in doc, f"{cls.__name__}'s Args: section does not describe {argument!r}"


def test_layer_modules_have_examples():
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for module in LAYER_MODULES for test in finder.find(module))
    assert examples >= len(PUBLIC_LAYER_CLASSES)


@pytest.mark.parametrize("module", LAYER_MODULES, ids=lambda m: m.__name__)
def test_examples_in_layer_docstrings_run(module):
    tinyconv.utils.set_random_seed(0)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    for test in finder.find(module, extraglobs={"np": np, "layers": layers, "ops": tinyconv.ops, "tinyconv": tinyconv}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest lines failed in {module.__name__}"
