"""Three files from a layer to its maths: layer -> ``tinyconv/dispatch.py`` -> the kernel's file in each set.

A student who opens a layer finds the dispatch functions it calls; each is an explicit function in
``dispatch.py`` (so "go to definition" lands on it); from there one more file holds the formula and
the loops (the reference), the compiled twin and the GPU twin.  The compiled 2-D convolution has one
stop more: its entry asks ``conv2d/route.py`` which route runs, and the route's file holds the loops.
"""
import ast
import importlib
import inspect
import pathlib
import re

import pytest

from tinyconv import dispatch, layers

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = [layers.Conv2D, layers.Conv2DTranspose, layers.MaxPooling2D, layers.BatchNormalization,
          layers.LocalResponseNormalization]


def kernels_called_by(layer_class):
    """The dispatch functions the layer's module calls (``dispatch.<name>(``)."""
    source = pathlib.Path(inspect.getsourcefile(layer_class)).read_text()
    return sorted(set(re.findall(r"\bdispatch\.([a-z0-9_]+)\(", source)) - {"KernelCache"})


def source_file(function):
    """The file that defines ``function``: a .py, or the .pyx a compiled module was built from."""
    module = importlib.import_module(function.__module__)
    path = pathlib.Path(module.__file__)
    if path.suffix in (".so", ".pyd"):
        path = path.with_name(path.name.split(".")[0] + ".pyx")
    return path


def defines(path, name):
    return re.search(rf"^(c?p?def|def) {name}\(", path.read_text(), re.M) is not None


@pytest.mark.parametrize("layer_class", LAYERS, ids=lambda cls: cls.__name__)
def test_a_layer_reaches_its_kernels_through_one_explicit_dispatch_function(layer_class):
    names = kernels_called_by(layer_class)
    assert names, f"{layer_class.__name__} calls no dispatch function"
    dispatch_source = pathlib.Path(dispatch.__file__).read_text()
    dispatch_tree = {node.name for node in ast.parse(dispatch_source).body if isinstance(node, ast.FunctionDef)}
    for name in names:
        assert name in dispatch.KERNEL_NAMES and name in dispatch_tree, f"dispatch.{name} is not an explicit function"


@pytest.mark.parametrize("layer_class", LAYERS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("kernel_set", ["reference", "cpu", "gpu"])
def test_one_more_file_holds_the_kernel_in_every_set(layer_class, kernel_set):
    module = importlib.import_module(dispatch.KERNEL_SETS[kernel_set])
    for name in kernels_called_by(layer_class):
        path = source_file(getattr(module, name))
        assert path.exists() and defines(path, name), f"{kernel_set}.{name}: not defined in {path}"
        assert ROOT / "tinyconv" / "kernels" in path.parents


def test_the_compiled_convolution_names_its_route_in_one_table():
    from tinyconv.kernels import cpu

    entry = source_file(cpu.conv2d_forward)
    route = entry.with_name("route.py")
    assert route.exists() and "route" in entry.read_text()
    assert callable(cpu.conv2d_route)


def test_the_reference_kernels_read_formula_first():
    """The module docstring (the formula) comes before the first function, and no argument check sits
    between it and the loops (the checks live in tinyconv/kernels/checks)."""
    for path in sorted((ROOT / "tinyconv" / "kernels" / "reference").glob("*.py")):
        tree = ast.parse(path.read_text())
        if path.name == "__init__.py":
            continue
        assert ast.get_docstring(tree), f"{path.name} has no docstring with its formula"
        checks = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                  and node.name.startswith(("check_", "validate_"))]
        assert not checks, f"{path.name} defines argument checks {checks}: they belong in kernels/checks"
