"""The docs stay true: every relative link points to a file, every tutorial snippet runs."""
import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)) + [os.path.join(ROOT, "README.md")]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page):
    with open(page, encoding="utf-8") as handle:
        text = handle.read()
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # web addresses, mail links and anchors within the page
        yield target.split("#")[0]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_point_to_files(page):
    missing = [t for t in relative_links(page) if not os.path.exists(os.path.join(os.path.dirname(page), t))]
    assert not missing, f"{os.path.relpath(page, ROOT)} links to missing files: {missing}"


def test_docs_exist_and_are_linked_from_the_readme():
    assert os.path.exists(os.path.join(ROOT, "docs", "tutorial.md"))
    links = set(relative_links(os.path.join(ROOT, "README.md")))
    assert {"docs/README.md", "docs/tutorial.md"} <= links


def tutorial_snippets():
    with open(os.path.join(ROOT, "docs", "tutorial.md"), encoding="utf-8") as handle:
        return re.findall(r"```python\n(.*?)```", handle.read(), re.S)


def test_the_tutorial_has_snippets():
    assert len(tutorial_snippets()) >= 6


@pytest.mark.parametrize("index", range(len(tutorial_snippets())))
def test_tutorial_snippet_runs(index):
    code = tutorial_snippets()[index]
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"snippet {index} failed:\n{code}\n{result.stderr}"
