"""The package's layering, read from its source: no import circles and no upward imports.

Every ``import`` of every ``tinyconv/**/*.py`` and Cython file counts, the ones inside functions
too (a lazy import still ties two modules together).  From the bottom up:

* leaves - ``devices``, ``graph``, ``geometry``, ``dispatch``, ``naming``, ``_version``,
  ``thread_budget`` - import
  nothing of tinyconv when they load (``dispatch`` imports a kernel set by name, when selected);
* ``kernels/`` never import layers, models, saving or teaching, and ``kernels/checks`` (the argument
  checks the three kernel sets share) imports no kernel set;
* ``layers/`` never import a kernel set (they go through ``dispatch``), models, saving or teaching;
* ``models/`` never import teaching; ``utils/`` import no layers, models, saving or teaching;
* no two modules import each other, directly or round a longer loop - except the one deliberate
  link: ``Model.save`` / ``save_weights`` / ``load_weights`` (and ``models.load_model`` /
  ``save_model``) are facades of ``tinyconv.saving``, which sits above the models.
"""
import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "tinyconv"
SOURCE_SUFFIXES = (".py", ".pyx", ".pxd", ".pxi")

LEAVES = ("devices", "graph", "geometry", "dispatch", "naming", "_version", "thread_budget")
# (importer prefix, imported prefixes, why): an import from under the first to under one of the others breaks it
FORBIDDEN = [
    ("kernels", ("layers", "models", "saving", "teaching"),
     "kernels sit below the layers and the models"),
    ("kernels.checks", ("kernels.cpu", "kernels.reference", "kernels.gpu"),
     "the argument checks sit below the three kernel sets that share them"),
    ("layers", ("kernels.cpu", "kernels.reference", "kernels.gpu"),
     "a layer never imports a kernel set (it goes through tinyconv.dispatch)"),
    ("layers", ("models", "saving", "teaching"),
     "layers sit below the models, saving and teaching"),
    ("utils", ("layers", "models", "saving", "teaching"),
     "utils sit below the layers (which use them) and teaching"),
    ("models", ("teaching",),
     "models never import teaching (teaching tools sit above the models)"),
]
# The deliberate models -> saving facades: (importer, imported package), ignored when looking for circles.
FACADES = {("models.model", "saving"), ("models", "saving")}


# ------------------------------------------------------------------ reading the imports
class Import:
    """One import statement: who imports what, where, and whether it runs only when a function is called."""

    def __init__(self, importer, target, path, line, lazy):
        self.importer, self.target, self.path, self.line, self.lazy = importer, target, path, line, lazy

    def where(self, root):
        return f"{self.path.relative_to(root)}:{self.line}"


def module_files(root, package=PACKAGE):
    """{module name: path} of every source file of ``package`` under ``root``."""
    found = {}
    for path in sorted((root / package).rglob("*")):
        if path.suffix not in SOURCE_SUFFIXES or "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.setdefault(".".join(parts), path)  # a .py and its .pxd twin are one module
    return found


def _absolute(module, is_package, level, name):
    """``from ..x import`` seen from ``module``: the absolute name it means."""
    if not level:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _python_imports(path, module, is_package):
    """(source, names, line, lazy) of each import in a Python file: source None for ``import a.b``,
    else the absolute ``p`` of ``from p import names``."""
    found = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.append((None, [alias.name for alias in child.names], child.lineno, lazy))
            elif isinstance(child, ast.ImportFrom):
                source = _absolute(module, is_package, child.level, child.module)
                found.append((source, [alias.name for alias in child.names], child.lineno, lazy))
            visit(child, inner)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


_CYTHON_FROM = re.compile(r"^([ \t]*)from[ \t]+(\.*[\w.]*)[ \t]+c?import[ \t]+(\([^)]*\)|[^\n#]+)", re.M)
_CYTHON_IMPORT = re.compile(r"^([ \t]*)c?import[ \t]+([\w., \t]+)", re.M)


def _cython_imports(path, module, is_package):
    """The same for a Cython file, read with regular expressions (``cimport`` included)."""
    text = path.read_text()
    found = []
    for match in _CYTHON_FROM.finditer(text):
        indent, source, names = match.groups()
        level = len(source) - len(source.lstrip("."))
        source = _absolute(module, is_package, level, source.lstrip(".") or None)
        names = [n.split(" as ")[0].strip() for n in names.strip().strip("()").replace("\n", " ").split(",")]
        line = text.count("\n", 0, match.start()) + 1
        found.append((source, [n for n in names if n], line, bool(indent)))
    for match in _CYTHON_IMPORT.finditer(text):
        indent, names = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        found.append((None, [n.split(" as ")[0].strip() for n in names.split(",")], line, bool(indent)))
    return found


def import_graph(root, package=PACKAGE):
    """Every import between modules of ``package``, as ``Import`` records (targets resolved to modules)."""
    modules = module_files(root, package)
    imports = []
    for module, path in modules.items():
        is_package = path.stem == "__init__"
        read = _python_imports if path.suffix == ".py" else _cython_imports
        for source, names, line, lazy in read(path, module, is_package):
            for target in _modules_loaded(source, names, modules, package):
                if target != module:
                    imports.append(Import(module, target, path, line, lazy))
    return modules, imports


def _modules_loaded(source, names, modules, package):
    """The modules of ``package`` an import loads: ``from p import n`` loads module p.n when there is
    one, else p (n is an attribute of p); a name that is no module is cut back to its nearest package."""
    wanted = names if source is None else [f"{source}.{n}" if f"{source}.{n}" in modules else source for n in names]
    found = set()
    for name in wanted:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and (name == package or name.startswith(package + ".")):
            found.add(name)
    return found


# ------------------------------------------------------------------ the rules
def _under(module, prefix, package=PACKAGE):
    full = f"{package}.{prefix}"
    return module == full or module.startswith(full + ".")


def _is_own_package(importer, target):
    """A module's enclosing packages are loaded before it: importing them adds no dependency."""
    return importer.startswith(target + ".")


def _is_facade(edge, package=PACKAGE):
    return any(edge.importer == f"{package}.{importer}" and _under(edge.target, imported, package)
               for importer, imported in FACADES)


def circles(imports, package=PACKAGE):
    """Groups of modules that import each other round a loop (strongly connected components, size > 1)."""
    edges = {}
    for edge in imports:
        if not _is_own_package(edge.importer, edge.target) and not _is_facade(edge, package):
            edges.setdefault(edge.importer, set()).add(edge.target)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def strong(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                strong(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            strong(node)
    return found


def broken_rules(root, imports, package=PACKAGE):
    """One message per import that breaks the layering, naming the file, the line and the rule."""
    messages = []
    for edge in imports:
        where = f"{edge.where(root)}: {edge.importer} imports {edge.target}"
        if any(edge.importer == f"{package}.{leaf}" for leaf in LEAVES) and not edge.lazy:
            messages.append(f"{where}: {edge.importer} is a leaf and imports nothing of {package} when it loads")
        for importer, imported, why in FORBIDDEN:
            if _under(edge.importer, importer, package) and any(_under(edge.target, i, package) for i in imported):
                messages.append(f"{where}: {why}")
    return messages


def circle_messages(root, imports, package=PACKAGE):
    messages = []
    for group in circles(imports, package):
        members = set(group)
        links = [f"{e.where(root)} {e.importer} -> {e.target}" for e in imports
                 if e.importer in members and e.target in members and not _is_own_package(e.importer, e.target)]
        messages.append(f"import circle through {len(group)} modules {group}; its imports:\n    "
                        + "\n    ".join(links))
    return messages


# ------------------------------------------------------------------ the package itself
@pytest.fixture(scope="module")
def package_imports():
    return import_graph(ROOT)[1]


def test_no_import_breaks_the_layering(package_imports):
    messages = broken_rules(ROOT, package_imports)
    assert not messages, "imports that break the layering:\n" + "\n".join(messages)


def test_no_import_circles(package_imports):
    messages = circle_messages(ROOT, package_imports)
    assert not messages, "\n".join(messages)


def test_the_graph_is_read_from_the_whole_package(package_imports):
    """Guards the checker itself: it sees lazy imports, Cython cimports and the layers' way down."""
    seen = {(e.importer, e.target) for e in package_imports}
    assert ("tinyconv.layers.base", "tinyconv.graph") in seen
    assert ("tinyconv.layers.base", "tinyconv.dispatch") in seen
    assert any(e.importer.startswith("tinyconv.kernels.cpu") and e.path.suffix == ".pyx" for e in package_imports)
    assert any(e.lazy and e.importer == "tinyconv.models.model" and e.target.startswith("tinyconv.saving")
               for e in package_imports)


def test_version_has_one_source():
    """tinyconv/_version.py is where the version is written; pyproject.toml reads it from there."""
    import tomllib

    import tinyconv
    from tinyconv._version import __version__

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"], "pyproject.toml writes the version a second time"
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tinyconv._version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", __version__), __version__
    assert tinyconv.__version__ == __version__


# ------------------------------------------------------------------ the checker, on a small fake package
def _write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


FAKE = {
    "tinyconv/__init__.py": "from . import layers, models\n",
    "tinyconv/graph.py": "import numpy\n",
    "tinyconv/layers/__init__.py": "from .dense import Dense\n",
    "tinyconv/layers/dense.py": "from .. import graph\n\nclass Dense:\n    pass\n",
    "tinyconv/models/__init__.py": "from .model import Model\n",
    "tinyconv/models/model.py": ("from ..layers import dense\n\nclass Model:\n    def save(self):\n"
                                 "        from ..saving import save_model\n"),
    "tinyconv/saving/__init__.py": "def save_model(model):\n    from ..models.model import Model\n",
    "tinyconv/kernels/__init__.py": "",
    "tinyconv/kernels/cpu/__init__.py": "",
    "tinyconv/kernels/cpu/fast.pyx": "from tinyconv.kernels.cpu.parallel cimport threads\nimport numpy as np\n",
    "tinyconv/kernels/cpu/parallel.pxd": "cdef int threads()\n",
}


def test_checker_passes_a_well_layered_package(tmp_path):
    _write(tmp_path, FAKE)
    _, imports = import_graph(tmp_path)
    assert broken_rules(tmp_path, imports) == []
    assert circles(imports) == []  # models.model <-> saving is the allowed facade
    assert any(e.target == "tinyconv.kernels.cpu.parallel" for e in imports)  # the cimport was read


def test_checker_names_a_planted_upward_import(tmp_path):
    _write(tmp_path, {**FAKE, "tinyconv/layers/dense.py": (
        "from .. import graph\n\nclass Dense:\n    def fit(self):\n        from ..models.model import Model\n")})
    _, imports = import_graph(tmp_path)
    messages = broken_rules(tmp_path, imports)
    assert messages == ["tinyconv/layers/dense.py:5: tinyconv.layers.dense imports tinyconv.models.model: "
                        "layers sit below the models, saving and teaching"]
    assert circles(imports) == [["tinyconv.layers.dense", "tinyconv.models.model"]]


def test_checker_names_a_leaf_that_imports_and_a_kernel_set_import(tmp_path):
    _write(tmp_path, {**FAKE, "tinyconv/graph.py": "from .layers import dense\n",
                      "tinyconv/layers/conv.py": "from ..kernels.cpu import fast\n"})
    messages = broken_rules(tmp_path, import_graph(tmp_path)[1])
    assert any(m.startswith("tinyconv/graph.py:1:") and "is a leaf" in m for m in messages)
    assert any(m.startswith("tinyconv/layers/conv.py:1:") and "goes through tinyconv.dispatch" in m
               for m in messages)


def test_checker_finds_a_circle_other_than_the_facade(tmp_path):
    _write(tmp_path, {**FAKE, "tinyconv/saving/__init__.py": "from ..layers import dense\n",
                      "tinyconv/layers/dense.py": "def f():\n    from ..saving import save_model\n"})
    imports = import_graph(tmp_path)[1]
    assert circles(imports) == [["tinyconv.layers.dense", "tinyconv.saving"]]
    assert "tinyconv/layers/dense.py:2 tinyconv.layers.dense -> tinyconv.saving" in circle_messages(
        tmp_path, imports)[0]
