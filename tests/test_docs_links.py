"""The docs point at the right code: line links land on the line they name, and the index lists every script.

A link of the form ``[`name`](path#L42)`` (or ``#L42-L50``, GitHub's range) promises that line 42 of
``path`` holds ``name``; the code span in the link text is that name. Reference files change and their
lines move, so every such link in ``docs/**/*.md`` and ``README.md`` is checked here, and a failure says
where the name is now. Links without ``#L`` are checked for existence by ``tests/test_docs.py``.

The documentation index (``docs/README.md``) lists every example in ``examples/`` and every lab in
``labs/``: a script nobody can find from the index is a script nobody runs.
"""
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)) + [os.path.join(ROOT, "README.md")]
INDEX = os.path.join(ROOT, "docs", "README.md")

# [text](target#L12) or [text](target#L12-L20); the text may itself hold brackets inside a code span.
LINE_LINK = re.compile(r"\[((?:`[^`]*`|[^\]`])+)\]\(([^)\s#]+)#L(\d+)(?:-L(\d+))?\)")
CODE_SPAN = re.compile(r"`([^`]+)`")
LINK_TARGET = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def line_links(page):
    """(link text, target path, first line, last line) for every #L link on the page."""
    for text, target, first, last in LINE_LINK.findall(read(page)):
        first = int(first)
        yield text, os.path.normpath(os.path.join(os.path.dirname(page), target)), first, int(last or first)


def claimed_names(text):
    """The code spans of a link's text: what the linked line must hold (``name()`` claims ``name``)."""
    return [span[:-2] if span.endswith("()") else span for span in CODE_SPAN.findall(text)]


def where(name, lines):
    """1-based numbers of the lines holding ``name`` (for the failure message)."""
    return [number for number, line in enumerate(lines, 1) if name in line]


def line_link_problems(page):
    problems = []
    for text, target, first, last in line_links(page):
        label = f"[{text}]({os.path.relpath(target, os.path.dirname(page))}#L{first})"
        if not os.path.isfile(target):
            problems.append(f"{label}: no file {os.path.relpath(target, ROOT)}")
            continue
        lines = read(target).splitlines()
        names = claimed_names(text)
        if not names:
            problems.append(f"{label}: a line link must name what the line holds in a code span, e.g. [`name`](...)")
            continue
        if last > len(lines) or first < 1 or last < first:
            problems.append(f"{label}: {os.path.relpath(target, ROOT)} has {len(lines)} lines")
            continue
        held = "\n".join(lines[first - 1:last])
        for name in names:
            if name not in held:
                problems.append(f"{label}: line {first} does not hold `{name}` "
                                f"(it is on lines {where(name, lines) or 'none'})")
    return problems


def test_the_docs_have_line_links_to_check():
    assert sum(1 for page in PAGES for _ in line_links(page)) >= 15


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_line_links_land_on_the_name_they_claim(page):
    problems = line_link_problems(page)
    assert not problems, f"{os.path.relpath(page, ROOT)}:\n  " + "\n  ".join(problems)


def test_a_stale_line_link_is_caught(tmp_path):
    """The check itself: a link whose line moved, or that names nothing, is reported."""
    code = tmp_path / "module.py"
    code.write_text("import numpy\n\n\ndef spread():\n    return 1\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[`spread`](module.py#L4) [`spread`](module.py#L2) [here](module.py#L4) "
                    "[`spread()`](module.py#L3-L4) [`gone`](missing.py#L1)\n", encoding="utf-8")
    problems = line_link_problems(str(page))
    assert len(problems) == 3, problems
    assert "line 2 does not hold `spread` (it is on lines [4])" in problems[0]
    assert "must name what the line holds" in problems[1]
    assert "no file" in problems[2]


def heading_anchors(markdown_path):
    """GitHub's anchors for the headings of a markdown file: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    in_code = False
    for line in read(markdown_path).splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"^#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


ANCHOR_LINK = re.compile(r"\]\(([^)\s#]*\.md)?#(?!L\d)([^)\s]+)\)")  # #L42 line links are checked above


def anchor_problems(page):
    problems = []
    for target, anchor in ANCHOR_LINK.findall(read(page)):
        path = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target else page
        if os.path.isfile(path) and anchor not in heading_anchors(path):
            problems.append(f"{target or os.path.basename(page)}#{anchor}: no such heading")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_anchor_links_name_a_heading(page):
    problems = anchor_problems(page)
    assert not problems, f"{os.path.relpath(page, ROOT)}:\n  " + "\n  ".join(problems)


def test_a_wrong_anchor_is_caught(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## 2. Max pooling's backward, routes\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("## Here\n[a](other.md#2-max-poolings-backward-routes) [b](other.md#2-max-pooling) "
                    "[c](#here) [d](#there)\n", encoding="utf-8")
    assert anchor_problems(str(page)) == ["other.md#2-max-pooling: no such heading", "page.md#there: no such heading"]


def index_targets():
    """Every file the documentation index links to, as a path relative to the repository root."""
    targets = set()
    for target in LINK_TARGET.findall(read(INDEX)):
        if not re.match(r"^[a-z]+:", target):
            targets.add(os.path.relpath(os.path.normpath(os.path.join(ROOT, "docs", target)), ROOT))
    return targets


def scripts(folder):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, folder, "*.py"))
                  if not os.path.basename(p).startswith("_"))


def test_the_index_lists_every_example():
    """Each ``examples/<name>.py`` is linked from the index, as its page ``docs/examples/<name>.md`` or itself."""
    targets = index_targets()
    examples = scripts("examples")
    assert examples, "no examples found"
    unlisted = [path for path in examples
                if path not in targets
                and os.path.join("docs", "examples", os.path.basename(path)[:-3] + ".md") not in targets]
    assert not unlisted, f"docs/README.md does not list these examples: {unlisted}"


def test_the_index_lists_every_lab():
    targets = index_targets()
    labs = scripts("labs")
    if not os.path.isdir(os.path.join(ROOT, "labs")):
        pytest.fail("labs/ is missing: the index lists the labs, so the labs must ship with the docs")
    unlisted = [path for path in labs if path not in targets]
    assert not unlisted, f"docs/README.md does not list these labs: {unlisted}"
    assert len(labs) >= 10, f"expected the ten course labs, found {labs}"
