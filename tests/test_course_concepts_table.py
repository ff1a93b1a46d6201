"""docs/course_concepts.md maps every deck's concepts to something runnable, and its links hold.

The page has one section per lecture deck, each a table of (concept, where to run it). Checked here:
every deck has its section and a table of a fair size; every row links to at least one runnable thing;
every relative link points to a file; a link whose text names code (``[`MaxUnpooling2D`](...)``) points
to a file that holds that name; no row is marked missing; the ten labs are all used.
"""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "course_concepts.md")

# The five decks of the course, by file name (the course README, /work/shared/course/README.md, lists them).
DECKS = ["lecture-dl1-cnn.txt", "lecture-cosc2779-cnn.txt", "lecture-ce40717-cnn.txt",
         "lecture-cis5190-cnn.txt", "lecture-goodfellow-ch9-cnn.txt"]

# The ten labs, by their fixed names.
LABS = ["01_convolution_by_hand", "02_output_sizes", "03_pooling_and_unpooling", "04_backprop_conv_pool",
        "05_batch_norm", "06_classic_architectures", "07_residual_dense_unet", "08_visualisation_adversarial",
        "09_transfer_learning", "10_conv_1d_3d"]

LINK = re.compile(r"\[((?:`[^`]*`|[^\]`])+)\]\(([^)\s]+)\)")
NAMED = re.compile(r"^`([A-Za-z_][A-Za-z0-9_.]*)`$")
MARKED_MISSING = re.compile(r"\b(missing|todo|not yet|to do|planned|unsupported)\b", re.I)


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def sections(text):
    """{deck file: section text} for the level-2 headings that name a deck file."""
    found = {}
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    for part in parts:
        heading = part.splitlines()[0]
        for deck in DECKS:
            if deck in heading:
                assert deck not in found, f"two sections for {deck}"
                found[deck] = part
    return found


def table_rows(section):
    """The body rows of the section's table, as lists of cells."""
    rows = [line for line in section.splitlines() if line.startswith("|")]
    body = rows[2:]  # past the header and the --- line
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in body]


def relative_links(text):
    for link_text, target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        yield link_text, target.split("#")[0]


def link_problems(page):
    """Links to missing files, and code names the linked file does not hold."""
    problems = []
    for link_text, target in relative_links(read(page)):
        path = os.path.normpath(os.path.join(os.path.dirname(page), target))
        if not os.path.exists(path):
            problems.append(f"[{link_text}]({target}): no such file")
            continue
        named = NAMED.match(link_text)
        if named and os.path.isfile(path):
            name = named.group(1).split(".")[-1]
            if not re.search(rf"\b{re.escape(name)}\b", read(path)):
                problems.append(f"[{link_text}]({target}): the file does not hold `{name}`")
    return list(dict.fromkeys(problems))  # each problem once, however often the link recurs


@pytest.fixture(scope="module")
def page_sections():
    return sections(read(PAGE))


@pytest.mark.parametrize("deck", DECKS)
def test_every_deck_has_a_section_with_a_table(page_sections, deck):
    assert deck in page_sections, f"docs/course_concepts.md has no section for {deck}"
    rows = table_rows(page_sections[deck])
    assert len(rows) >= 10, f"{deck}: only {len(rows)} concepts in the table"
    for row in rows:
        assert len(row) == 2, f"{deck}: a row should be | concept | run it |, got {row}"


@pytest.mark.parametrize("deck", DECKS)
def test_every_concept_links_to_something_runnable(page_sections, deck):
    for concept, run_it in table_rows(page_sections[deck]):
        assert list(relative_links(run_it)), f"{deck}: '{concept}' links to nothing runnable"
        assert not MARKED_MISSING.search(concept + run_it), f"{deck}: '{concept}' is marked as missing"


def test_every_link_points_to_a_file_holding_the_name_it_gives():
    problems = link_problems(PAGE)
    assert not problems, "docs/course_concepts.md:\n  " + "\n  ".join(problems)


def test_the_table_uses_every_lab():
    targets = {os.path.normpath(target) for _, target in relative_links(read(PAGE))}
    unused = [lab for lab in LABS if os.path.normpath(f"../labs/{lab}.py") not in targets]
    assert not unused, f"docs/course_concepts.md never links these labs: {unused}"


def test_a_wrong_name_or_a_missing_file_is_caught(tmp_path):
    """The link check itself: a name the file lacks, and a file that is not there, are both reported."""
    (tmp_path / "module.py").write_text("class MaxUnpooling2D:\n    pass\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[`MaxUnpooling2D`](module.py) [`MaxUnpooling3D`](module.py) [lab](lab.py) "
                    "[a plain word](module.py)\n", encoding="utf-8")
    problems = link_problems(str(page))
    assert problems == ["[`MaxUnpooling3D`](module.py): the file does not hold `MaxUnpooling3D`",
                        "[lab](lab.py): no such file"]
