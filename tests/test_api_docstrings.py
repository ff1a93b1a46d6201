"""The rest of the public API documents itself: optimizers (and their schedules), losses, callbacks,
regularizers, initializers, backend and activations.

Two checks per module:

* every ``Example:`` in its docstrings runs and prints what it shows (the examples assume
  ``import numpy as np``, ``import tinyconv`` and ``from tinyconv import layers``, which the run provides);
* every public class, function, method and property has a docstring, with an ``Args:`` section when it
  takes arguments. Public means: in the module's ``__all__``, or, without one, defined in the module under
  a name without a leading underscore. A method that overrides a documented method of a base class may
  keep the base's text (``help()`` shows it, and it states the contract the override keeps).
"""
import doctest
import importlib
import inspect
import tempfile

import numpy as np
import pytest

import tinyconv
from tinyconv import layers

# The modules documented so far (the layers and models have their own tests).
MODULE_NAMES = [
    "tinyconv.optimizers", "tinyconv.schedules", "tinyconv.losses", "tinyconv.callbacks",
    "tinyconv.regularizers", "tinyconv.initializers", "tinyconv.initializers.hand_designed",
    "tinyconv.backend", "tinyconv.activations", "tinyconv.utils", "tinyconv.utils.sequence",
    "tinyconv.utils.files", "tinyconv.utils.image_dataset", "tinyconv.utils.images", "tinyconv.utils.plotting",
    "tinyconv.utils.random", "tinyconv.utils.resample", "tinyconv.tensorboard_callback",
    "tinyconv.datasets", "tinyconv.datasets.boston_housing", "tinyconv.datasets.california_housing",
    "tinyconv.datasets.cifar10", "tinyconv.datasets.cifar100", "tinyconv.datasets.digits",
    "tinyconv.datasets.fashion_mnist", "tinyconv.datasets.imdb", "tinyconv.datasets.mnist",
    "tinyconv.datasets.reuters",
    "tinyconv.teaching.adversarial", "tinyconv.teaching.architecture_costs", "tinyconv.teaching.architectures",
    "tinyconv.teaching.backprop", "tinyconv.teaching.confusion", "tinyconv.teaching.exercise_diagnosis",
    "tinyconv.teaching.exercises", "tinyconv.teaching.flops", "tinyconv.teaching.gradient_check",
    "tinyconv.teaching.graph_picture", "tinyconv.teaching.hooks", "tinyconv.teaching.kernel_timing",
    "tinyconv.teaching.patches", "tinyconv.teaching.plots", "tinyconv.teaching.receptive_field",
    "tinyconv.teaching.saliency", "tinyconv.teaching.sample_efficiency", "tinyconv.teaching.summary_columns",
    "tinyconv.teaching.table", "tinyconv.teaching.tape", "tinyconv.teaching.trace",
    "tinyconv.teaching.transfer",
]
MODULES = [importlib.import_module(name) for name in MODULE_NAMES]
# Modules whose examples run here though not every public helper of theirs is documented yet.
EXAMPLES_ONLY = [importlib.import_module(name) for name in ("tinyconv.serialization",)]


def public_objects(module):
    """(name, object) for each public class and function of ``module``."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name, value in vars(module).items() if not name.startswith("_")
                 and getattr(value, "__module__", None) == module.__name__]
    for name in sorted(names):
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            yield name, value


def own_members(cls):
    """(name, function or property) for each public method and property ``cls`` itself defines."""
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            yield name, member


def arguments(function):
    """The names a caller may pass to ``function`` (self, cls, *args and **kwargs left out)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.name not in ("self", "cls")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def inherited_doc(cls, name):
    """The docstring of the method ``name`` in the nearest base class of ``cls`` that documents it."""
    for base in cls.__mro__[1:]:
        member = vars(base).get(name)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            member = member.fget
        if member is not None and (getattr(member, "__doc__", None) or "").strip():
            return member.__doc__
    return None


def documented_items(module):
    """(label, docstring, argument names) for each public object of ``module`` and its own members."""
    seen = set()
    for name, value in public_objects(module):
        if id(value) in seen:
            continue
        seen.add(id(value))
        doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        args = arguments(value.__init__) if inspect.isclass(value) else arguments(value)
        if inspect.isclass(value) and value.__init__ is object.__init__:
            args = []
        yield f"{module.__name__}.{name}", doc, args
        if not inspect.isclass(value) or value.__module__ != module.__name__:
            continue  # a class re-exported from elsewhere is checked where it is defined
        for member_name, member in own_members(value):
            label = f"{module.__name__}.{name}.{member_name}"
            if isinstance(member, property):
                yield label, member.__doc__ or inherited_doc(value, member_name), []
            else:
                yield label, member.__doc__ or inherited_doc(value, member_name), arguments(member)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_object_has_a_docstring_with_args(module):
    undocumented, without_args = [], []
    for label, doc, args in documented_items(module):
        if not (doc or "").strip():
            undocumented.append(label)
        elif args and "Args:" not in doc:
            without_args.append(label)
    assert not undocumented, f"public objects without a docstring: {undocumented}"
    assert not without_args, f"docstrings without an Args: section: {without_args}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_public_classes_and_functions_have_examples(module):
    missing = [f"{module.__name__}.{name}" for name, value in public_objects(module)
               if getattr(value, "__module__", None) == module.__name__
               and "Example" not in ((value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__) or "")]
    assert not missing, f"public classes and functions without an Example: {missing}"


@pytest.mark.parametrize("module", MODULES + EXAMPLES_ONLY, ids=lambda m: m.__name__)
def test_examples_in_docstrings_run(module, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # examples that write files write under tmp_path
    monkeypatch.chdir(tmp_path)
    tinyconv.utils.set_random_seed(0)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    for test in finder.find(module, extraglobs={"np": np, "tinyconv": tinyconv, "layers": layers}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest lines failed in {module.__name__}"


def test_the_check_finds_a_missing_docstring_and_a_missing_args_section():
    import types
    module = types.ModuleType("fake_api")

    def undocumented(x):
        return x

    def no_args(x):
        """Returns x."""
        return x

    class Base:
        def hook(self, logs):
            """Called at a point.

            Args:
                logs: a dict.
            """

    class Child(Base):
        def hook(self, logs):  # keeps the base's text: fine
            pass

        def extra(self):
            pass

    for value in (undocumented, no_args, Base, Child):
        value.__module__ = module.__name__
        setattr(module, value.__name__, value)
    found = {label.split(".", 1)[1]: (doc, args) for label, doc, args in documented_items(module)}
    assert found["undocumented"][0] is None
    assert found["no_args"] == ("Returns x.", ["x"])
    assert "Args:" in found["Child.hook"][0]
    assert found["Child.extra"][0] is None and found["Child"][0] is None
