"""The public API's type hints: complete, resolvable at run time, checked by mypy, and shipped.

* ``mypy.ini`` lists the modules a Keras user touches; mypy must find no error in them (the version pinned in
  the ``dev`` extra; the mypy tests skip where mypy is not installed);
* a user's script type-checks against the hints: right calls pass, a wrong argument type is reported;
* every public function and method of those modules has a hint on each argument and on its return, and
  ``typing.get_type_hints`` resolves them (documentation tools and runtime checkers evaluate them);
* ``tinyconv/py.typed`` marks the package as typed (PEP 561), so a type checker reads the hints of an
  installed tinyconv; the build ships it in the wheel (setuptools >= 69 does by itself, older ones when
  ``package-data`` names it).
"""
import importlib
import inspect
import pathlib
import re
import textwrap
import tomllib
import typing

import pytest

import tinyconv

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = pathlib.Path(tinyconv.__file__).resolve().parent

# The modules whose public functions and classes must be fully annotated (those mypy.ini checks).
TYPED_MODULES = [
    "tinyconv.backend", "tinyconv.devices", "tinyconv.callbacks", "tinyconv.losses", "tinyconv.optimizers",
    "tinyconv.layers.base", "tinyconv.metrics.base", "tinyconv.metrics.accuracy_metrics",
    "tinyconv.metrics.regression", "tinyconv.metrics.confusion", "tinyconv.metrics.f_score",
    "tinyconv.metrics.functions", "tinyconv.metrics.resolve", "tinyconv.models", "tinyconv.models.model",
    "tinyconv.models.training", "tinyconv.models.sequential", "tinyconv.models.functional",
]
# The namespaces a user reaches them through: what these export (and is defined in a typed module) is checked.
FACES = ["tinyconv", "tinyconv.backend", "tinyconv.devices", "tinyconv.callbacks", "tinyconv.losses",
         "tinyconv.optimizers", "tinyconv.metrics", "tinyconv.models", "tinyconv.layers.base"]
# Dunder methods that are part of the API (the rest, such as __init_subclass__, are machinery).
API_DUNDERS = {"__init__", "__call__"}


def _mypy_api():
    return pytest.importorskip("mypy.api", reason="mypy is not installed (pip install '.[dev]')")


def _run_mypy(arguments, cwd, monkeypatch):
    api = _mypy_api()
    monkeypatch.chdir(cwd)
    stdout, stderr, status = api.run(arguments)
    return stdout + stderr, status


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory):
    """One cache for the module's mypy runs: the second reuses what the first learnt of tinyconv and NumPy."""
    return str(tmp_path_factory.mktemp("mypy_cache"))


def test_mypy_finds_no_error_in_the_public_modules(mypy_cache, monkeypatch):
    config = ROOT / "mypy.ini"
    assert config.is_file(), "mypy.ini is missing (the sdist must ship it: MANIFEST.in)"
    output, status = _run_mypy(["--config-file", str(config), "--cache-dir", mypy_cache], ROOT, monkeypatch)
    assert status == 0, f"mypy found errors:\n{output}"
    assert "Success: no issues found" in output


def test_a_users_script_is_checked_against_the_hints(tmp_path, mypy_cache, monkeypatch):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""\
        import numpy as np
        import tinyconv
        from tinyconv import layers

        model = tinyconv.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
        model.compile(optimizer=tinyconv.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(np.zeros((8, 4)), np.zeros(8), epochs=2, batch_size=4, verbose=0,
                            callbacks=[tinyconv.callbacks.EarlyStopping(monitor="loss")])
        reveal_type(history)
        print(model.predict(np.zeros((2, 4)), verbose=0).shape, model.count_params())
        inputs = tinyconv.Input((4,))
        functional = tinyconv.Model(inputs, layers.Dense(2)(inputs), name="functional")
        functional.fit(np.zeros((8, 4)), np.zeros((8, 2)), epochs="two")
    """))
    # Run from the source tree (tinyconv is found there, wherever it is installed) with the project's settings,
    # so the first test's cache serves: only the script is reported (the package's modules are followed silently).
    output, status = _run_mypy(["--config-file", str(ROOT / "mypy.ini"), "--cache-dir", mypy_cache, str(script)],
                               ROOT, monkeypatch)
    lines = [line for line in output.splitlines() if line.startswith(str(script))]
    assert any(':10: note: Revealed type is "tinyconv.callbacks.History"' in line for line in lines), output
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1 and ":14: error:" in errors[0] and '"fit"' in errors[0] and '"str"' in errors[0], \
        f"expected only the epochs='two' line to be reported:\n{output}"
    assert status == 1


def _members(cls):
    """(qualified name, function) for each API method and property accessor a typed class defines itself or
    inherits from a class of a typed module."""
    for klass in cls.__mro__:
        if klass.__module__ not in TYPED_MODULES:
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") and name not in API_DUNDERS:
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                for accessor in (member.fget, member.fset):
                    if accessor is not None and getattr(accessor, "__module__", None) in TYPED_MODULES:
                        yield f"{klass.__name__}.{name}", accessor
            elif inspect.isfunction(member) and member.__module__ in TYPED_MODULES:
                yield f"{klass.__name__}.{name}", member


def _api_functions():
    """(qualified name, function) for every function and method of the public API (each once)."""
    seen, found = set(), []
    for face in FACES:
        module = importlib.import_module(face)
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) not in TYPED_MODULES:
                continue
            pairs = _members(value) if inspect.isclass(value) else (
                [(f"{value.__module__}.{name}", value)] if inspect.isfunction(value) else [])
            for qualified, function in pairs:
                if id(function) not in seen:
                    seen.add(id(function))
                    found.append((qualified, function))
    return found


API_FUNCTIONS = _api_functions()


def test_the_api_inventory_covers_the_keras_surface():
    names = {name for name, _ in API_FUNCTIONS}
    for expected in ("Model.__init__", "TrainingMixin.fit", "TrainingMixin.evaluate", "TrainingMixin.predict",
                     "TrainingMixin.train_on_batch", "Model.compile", "Model.summary", "Model.save", "Model.get_layer",
                     "Sequential.add", "Sequential.pop", "Functional.__init__", "Layer.add_weight", "Layer.__call__",
                     "Layer.build", "Layer.weights", "Optimizer.apply", "SGD.__init__", "Loss.__call__",
                     "Callback.on_epoch_end", "EarlyStopping.__init__", "Metric.update_state", "AUC.result",
                     "tinyconv.backend.set_floatx", "tinyconv.devices.to_host", "tinyconv.models.load_model",
                     "tinyconv.losses.get", "tinyconv.metrics.resolve.get"):
        assert expected in names, f"{expected} is not in the checked API"
    assert len(API_FUNCTIONS) > 300


@pytest.mark.parametrize("qualified, function", API_FUNCTIONS, ids=[name for name, _ in API_FUNCTIONS])
def test_public_function_has_complete_resolvable_hints(qualified, function):
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    missing = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{qualified}: no type hint on {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, f"{qualified}: no return type hint"
    typing.get_type_hints(function)  # raises NameError for a hint naming something the module does not define


def test_fit_keeps_its_hints():
    hints = typing.get_type_hints(tinyconv.Model.fit)
    for argument in ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_data"):
        assert argument in hints, f"Model.fit lost the hint on {argument}"
    assert hints["epochs"] is int and hints["return"] is tinyconv.callbacks.History
    assert hints["batch_size"] == int | None


def test_py_typed_marks_the_package_and_ships_in_the_wheel():
    assert (PACKAGE / "py.typed").is_file(), "tinyconv/py.typed is missing: type checkers would ignore the hints"
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("needs the source tree (pyproject.toml)")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # include-package-data is off: a file that is not a module ships only when package-data names it, or, for
    # py.typed alone, by setuptools' own rule since version 69.
    declared = "py.typed" in pyproject["tool"]["setuptools"].get("package-data", {}).get("tinyconv", [])
    pins = [re.fullmatch(r"setuptools\s*>=\s*(\d+).*", requirement.replace(" ", ""))
            for requirement in pyproject["build-system"]["requires"]]
    minimum = max((int(pin.group(1)) for pin in pins if pin), default=0)
    assert declared or minimum >= 69, \
        f"the wheel would leave py.typed out: setuptools >= {minimum} is required, list it in package-data"
