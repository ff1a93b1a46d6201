"""The documentation site builds warning-free, and is what it should be.

``make docs`` builds the site (``mkdocs.yml``: the pages of ``docs/``, the README, the API reference of
``docs/api/`` drawn from the docstrings) in strict mode, where a warning fails the build: a broken link, a
link to a heading or a source line that is not there, a docstring that names an argument the function does
not take. Checked here, on one build into a temporary folder: no warning; the search index and search box;
the pictures; the reference pages hold the names they promise, and every public name of the package is
documented on some page; links from the tutorial land on source lines. A small site of its own shows that a
broken link does fail the build. The site tools are the ``docs`` extra: without them these tests skip.
"""
import importlib
import importlib.util
import inspect
import json
import pathlib
import re
import subprocess
import sys
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC_TOOLS = ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "griffe", "pymdownx", "pygments")


def importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # its parent package is missing
        return False


MISSING_TOOLS = [name for name in DOC_TOOLS if not importable(name)]
needs_doc_tools = pytest.mark.skipif(bool(MISSING_TOOLS), reason=f"the docs extra is not installed "
                                     f"(missing {', '.join(MISSING_TOOLS)}): pip install -e '.[docs]'")


def load_build_docs():
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "tools" / "build_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mkdocs_build(config_file, site_dir):
    """``mkdocs build --strict`` as ``make docs`` runs it: (exit status, everything it printed)."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config_file),
                           "--site-dir", str(site_dir)], cwd=config_file.parent, capture_output=True, text=True,
                          timeout=600)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    status, output = mkdocs_build(ROOT / "mkdocs.yml", site_dir)
    return site_dir, status, output


def page(site_dir, url):
    return (site_dir / url / "index.html").read_text(encoding="utf-8")


@needs_doc_tools
def test_the_site_builds_in_strict_mode_without_a_warning(site):
    site_dir, status, output = site
    warnings = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    assert status == 0 and not warnings, "the docs build failed or warned:\n" + "\n".join(warnings or [output])


@needs_doc_tools
def test_the_search_box_and_its_index(site):
    site_dir, _, _ = site
    index = json.loads((site_dir / "search" / "search_index.json").read_text(encoding="utf-8"))
    by_page = {}
    for entry in index["docs"]:
        by_page.setdefault(entry["location"].split("#")[0], []).append(entry["text"])
    assert "Conv2D" in " ".join(by_page["docs/api/layers/convolution/"])
    assert "sliding dot product" in " ".join(by_page["docs/tutorial/"])
    # Source listings stay out of the index (only their title goes in), or code would drown the results.
    assert len(" ".join(by_page["tinyconv/kernels/reference/conv.py/"])) < 200
    for url in ("", "docs/", "docs/api/", "docs/api/ops/nn/"):  # the theme's search box, on every page
        assert re.search(r'<form id\s*="rtd-search-form"[^>]*action="[./]*search.html"', page(site_dir, url)), url
    assert (site_dir / "search.html").is_file()


@needs_doc_tools
def test_the_pictures_are_in_the_site_and_the_pages_show_them(site):
    site_dir, _, _ = site
    pictures = sorted((ROOT / "docs" / "images").glob("*.png"))
    assert len(pictures) >= 10
    for picture in pictures:
        copied = site_dir / "docs" / "images" / picture.name
        assert copied.is_file() and copied.read_bytes() == picture.read_bytes(), picture.name
    shown = 0
    for html_file in (site_dir / "docs" / "examples").rglob("index.html"):
        for source in re.findall(r'<img [^>]*src="([^"]+)"', html_file.read_text(encoding="utf-8")):
            assert (html_file.parent / source).resolve().is_file(), f"{html_file}: {source}"
            shown += 1
    assert shown >= len(pictures)


# Each reference page and a few of the names it documents (the ids of their headings).
EXPECTED_ON_PAGES = {
    "docs/api/models/": ["tinyconv.models.Model", "tinyconv.models.Model.fit", "tinyconv.models.Model.compile",
                         "tinyconv.models.Sequential", "tinyconv.models.load_model"],
    "docs/api/layers/convolution/": ["tinyconv.layers.Conv2D", "tinyconv.layers.Conv2DTranspose",
                                     "tinyconv.layers.DepthwiseConv2D"],
    "docs/api/layers/pooling/": ["tinyconv.layers.MaxPooling2D", "tinyconv.layers.GlobalAveragePooling2D"],
    "docs/api/layers/normalization/": ["tinyconv.layers.BatchNormalization"],
    "docs/api/ops/nn/": ["tinyconv.ops.nn.relu", "tinyconv.ops.nn.conv"],
    "docs/api/ops/": ["tinyconv.ops.tape.GradientTape"],
    "docs/api/optimizers/": ["tinyconv.optimizers.Adam", "tinyconv.schedules.ExponentialDecay"],
    "docs/api/losses/": ["tinyconv.losses.SparseCategoricalCrossentropy"],
    "docs/api/metrics/": ["tinyconv.metrics.AUC"],
    "docs/api/callbacks/": ["tinyconv.callbacks.EarlyStopping"],
    "docs/api/datasets/": ["tinyconv.datasets.mnist.load_data"],
    "docs/api/teaching/": ["tinyconv.teaching.gradient_check", "tinyconv.teaching.trace_step"],
    "docs/api/backend/": ["tinyconv.backend.set_device", "tinyconv.dispatch.set_kernels",
                          "tinyconv.parallel.set_num_threads"],
    "docs/api/distribute/": ["tinyconv.distribute.DataParallel"],
    "docs/api/applications/": ["tinyconv.applications.ResNet50"],
}


@needs_doc_tools
@pytest.mark.parametrize("url", sorted(EXPECTED_ON_PAGES))
def test_a_reference_page_documents_its_names(site, url):
    html = page(site[0], url)
    missing = [name for name in EXPECTED_ON_PAGES[url] if f'id="{name}"' not in html]
    assert not missing, f"{url} does not document {missing}"


def inventory_names(site_dir):
    """Every name the site documents, from its inventory (Sphinx's objects.inv format: zlib after 4 lines)."""
    compressed = (site_dir / "objects.inv").read_bytes().split(b"\n", 4)[4]
    return [line.split(" ", 1)[0] for line in zlib.decompress(compressed).decode("utf-8").splitlines() if line]


def resolve(dotted):
    """The object a dotted name stands for, or None."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            found = getattr(found, part, None)
        return found
    return None


# The public namespaces: every class and function in them (by ``__all__``, or else defined in the package
# itself) must be documented under some name: an alias such as ``layers.MaxPool2D`` by its class's entry.
NAMESPACES = ["tinyconv", "tinyconv.models", "tinyconv.layers", "tinyconv.ops", "tinyconv.ops.linalg",
              "tinyconv.ops.nn", "tinyconv.optimizers", "tinyconv.schedules", "tinyconv.losses", "tinyconv.metrics",
              "tinyconv.callbacks", "tinyconv.activations", "tinyconv.initializers",
              "tinyconv.initializers.hand_designed", "tinyconv.regularizers", "tinyconv.constraints",
              "tinyconv.utils", "tinyconv.saving", "tinyconv.preprocessing", "tinyconv.teaching", "tinyconv.backend",
              "tinyconv.devices", "tinyconv.config", "tinyconv.random", "tinyconv.parallel", "tinyconv.compat",
              "tinyconv.distribute", "tinyconv.applications"] + [
    f"tinyconv.datasets.{name}" for name in ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "imdb",
                                             "reuters", "boston_housing", "california_housing")]


def public_callables(namespace):
    module = importlib.import_module(namespace)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in dir(module) if not name.startswith("_")
                 and f"{getattr(getattr(module, name), '__module__', None)}.".startswith(f"{namespace}.")]
    for name in names:
        value = getattr(module, name)
        if not inspect.ismodule(value) and callable(value):
            yield name, value


@needs_doc_tools
def test_every_public_name_is_documented(site):
    names = inventory_names(site[0])
    documented = {id(found) for found in map(resolve, names) if found is not None}
    assert len(names) > 1000
    undocumented = [f"{namespace}.{name}" for namespace in NAMESPACES
                    for name, value in public_callables(namespace) if id(value) not in documented]
    assert not undocumented, "not in the API reference (add them to a page of docs/api/):\n" + "\n".join(undocumented)


@needs_doc_tools
def test_the_tutorial_and_the_reference_link_each_other(site):
    site_dir, _, _ = site
    tutorial = page(site_dir, "docs/tutorial")
    line_links = re.findall(r'href="([^"#]*/tinyconv/kernels/reference/[a-z_]+\.py/)#L(\d+)"', tutorial)
    assert len(line_links) >= 5
    for target, line in line_links:
        listing = (site_dir / "docs" / "tutorial" / target / "index.html").resolve().read_text(encoding="utf-8")
        assert f'id="L{line}"' in listing, f"{target}#L{line}"
    reference = page(site_dir, "docs/api/layers/convolution")
    assert 'href="../../../tutorial/#2-its-backward-is-a-convolution-with-the-flipped-kernel"' in reference
    assert 'href="../../../examples/course_kernels/"' in reference


TOY_CONFIG = """site_name: toy
docs_dir: docs
hooks:
  - {hooks}
validation:
  anchors: warn
  unrecognized_links: warn
"""


@needs_doc_tools
@pytest.mark.parametrize("links, problems", [(["../src/kernel.py#L2"], []),
                                             (["../src/kernel.py#L9", "../src/gone.py"], ["'#L9'", "gone.py"])])
def test_a_link_to_a_missing_file_or_line_fails_the_build(tmp_path, links, problems):
    (tmp_path / "mkdocs.yml").write_text(TOY_CONFIG.format(hooks=ROOT / "tools" / "build_docs.py"), encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "kernel.py").write_text("def forward(x):\n    return 2 * x\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    text = "".join(f"[`forward`]({link})\n\n" for link in links)
    (tmp_path / "docs" / "index.md").write_text(f"# Toy\n\n{text}", encoding="utf-8")
    status, output = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    if not problems:
        assert status == 0, output
        listing = (tmp_path / "site" / "src" / "kernel.py" / "index.html").read_text(encoding="utf-8")
        assert 'id="L2"' in listing and "forward" in listing
    else:
        warnings = [line for line in output.splitlines() if "WARNING" in line]
        assert status != 0 and len(warnings) == len(problems), output
        for problem in problems:
            assert any(problem in warning for warning in warnings), output


def test_keras_style_examples_become_google_style_sections():
    convert = load_build_docs().keras_style_as_google
    docstring = ("Adds.\n\nArgs:\n    x: a number.\n\nExample:\n\n>>> add(1, 2)\n3\n\nThat is all.\n\n"
                 "Raises:\n    TypeError: not a number.")
    assert convert(docstring) == ("Adds.\n\nArgs:\n    x: a number.\n\nExamples:\n    >>> add(1, 2)\n    3\n\n"
                                  "    That is all.\n\nRaises:\n    TypeError: not a number.")
    # Already indented: only the blank line after the title goes; a doctest outside any section is fenced.
    assert convert("Example:\n\n    >>> f()\n    1") == "Examples:\n    >>> f()\n    1"
    assert convert("Text.\n>>> f()\n1\n\nMore.") == "Text.\n\n```pycon\n>>> f()\n1\n```\n\n\nMore."
    # reStructuredText's "written so::" before an indented block: Markdown shows the block as code already.
    assert convert("Written so::\n\n    f(x)\nA::b") == "Written so:\n\n    f(x)\nA::b"
