"""The documentation site: MkDocs hooks that lay it out like the repository, and a command that builds it.

The pages link to each other the way they do on a code host: ``docs/tutorial.md`` links to ``../README.md``,
to ``../labs/02_output_sizes.py`` and to ``../tinyconv/kernels/reference/conv.py#L40``.  So the site keeps the
repository's layout: the pages of ``docs/`` keep their ``docs/`` prefix, the project README is the home page,
and every file or folder that a page links to becomes part of the site (a source file as a page of its code
with one anchor per line, ``#L40``; a folder as a page listing its files).  MkDocs's own checks then cover every
link: a link to a file that does not exist, or to a heading or line that is not there, is a warning, and
``--strict`` fails on it.

    python tools/build_docs.py                # the site in build/site/, strict, with the time and page count
    python tools/build_docs.py --out DIR      # somewhere else

``mkdocs.yml`` names this file twice: under ``hooks:`` (MkDocs calls the ``on_*`` functions below) and as a
Griffe extension of mkdocstrings (``KerasStyleDocstrings``: the docstrings' examples are shown as code).
"""
import argparse
import html
import logging
import pathlib
import posixpath
import re
import sys
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
# Pages outside docs/ that the site shows whether or not a page links to them (the README is the home page).
ROOT_PAGES = ("README.md", "CHANGELOG.md")
# Inline Markdown links and images: ](target) or ](target "title").
LINK_PATTERN = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# A fenced code block: what looks like a link inside one is code.
FENCE_PATTERN = re.compile(r"^([ \t]*)(```+|~~~+)[^\n]*\n.*?^\1\2[ \t]*$", re.MULTILINE | re.DOTALL)
# Source files shown as pages with line anchors, and the Pygments lexer for each.
SOURCE_LEXERS = {".py": "python", ".pyx": "cython", ".pxd": "cython", ".pxi": "cython", ".h": "c", ".c": "c"}
# What a folder's page lists (generated C is left out: it is shown only where a page links to it).
FOLDER_LISTED_SUFFIXES = (".md", ".py", ".pyx", ".pxd", ".pxi", ".h")
# Where a source page's listing goes in the finished HTML (Markdown keeps an HTML comment as it is).
LISTING_PLACEHOLDER = "<!-- source listing -->"
STYLESHEET = "assets/tinyconv-docs.css"
# Listings: line numbers in a gutter that copying leaves out, the line a link points at highlighted.
LISTING_CSS = """
.source-listing pre { line-height: 1.4; }
.source-line { display: block; }
.source-line:target { background: #fff3b0; }
.source-lineno { display: inline-block; width: 4em; padding-right: 1em; text-align: right; color: #999;
                 user-select: none; }
"""


def site_root(config):
    """The folder that the site's layout mirrors: the one holding mkdocs.yml (the repository's root)."""
    return pathlib.Path(config["config_file_path"]).resolve().parent


# ------------------------------------------------------------------ pages made from files and folders
def relative_link_targets(markdown_text, page_path):
    """Paths (posix, from the root) of the relative links of one page, fenced code left out."""
    text = FENCE_PATTERN.sub("", markdown_text)
    page_folder = posixpath.dirname(page_path)
    for match in LINK_PATTERN.finditer(text):
        target = match.group(1).split("#", 1)[0].split("?", 1)[0]
        if not target or ":" in target or target.startswith("/"):
            continue  # a self-link, a URL with a scheme, an absolute path
        yield posixpath.normpath(posixpath.join(page_folder, target))


def markdown_literal(text):
    """Text that Markdown shows as it is: ``__init__.py`` is not bold."""
    return re.sub(r"([\\`*_\[\]])", r"\\\1", html.escape(text))


def source_page_markdown(path, repo_path):
    """A source file's page before its code goes in: the path as the title, then a placeholder.

    The listing goes into the finished HTML (``on_post_page``): it is thousands of lines that Markdown would
    only pass through, and the search index would fill up with code.
    """
    return f"# {markdown_literal(repo_path)}\n\n{LISTING_PLACEHOLDER}\n"


def source_listing_html(path):
    """The code of one source file, highlighted, with an anchor ``L<n>`` on every line."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    lexer = get_lexer_by_name(SOURCE_LEXERS[path.suffix], stripnl=False, ensurenl=True)
    # nowrap: one output line per input line (Pygments closes and reopens a token's span at each newline),
    # so line n of the highlighted text is line n of the file.
    highlighted = highlight(path.read_text(encoding="utf-8"), lexer, HtmlFormatter(nowrap=True))
    rows = [f'<span class="source-line" id="L{number}"><a class="source-lineno" href="#L{number}">{number}</a>'
            f"{code}</span>" for number, code in enumerate(highlighted.splitlines(), start=1)]
    return '<div class="highlight source-listing"><pre><code>' + "\n".join(rows) + "\n</code></pre></div>"


def folder_entries(path, repo_path):
    """The files that a folder's page lists: Markdown and hand-written sources, by name."""
    return sorted(f"{repo_path}/{entry.name}" for entry in path.iterdir()
                  if entry.is_file() and entry.suffix in FOLDER_LISTED_SUFFIXES and not entry.name.startswith("."))


def folder_page_markdown(path, repo_path):
    """A folder as a page, as a code host shows one: its files, each a link."""
    items = [f"- [`{posixpath.basename(entry)}`]({posixpath.relpath(entry, posixpath.dirname(repo_path))})"
             for entry in folder_entries(path, repo_path)]
    return f"# {markdown_literal(repo_path)}/\n\n" + "\n".join(items) + "\n"


def _repository_page_class(file_class):
    """A File for a source file or a folder, published as a page at ``<path>/`` with text from ``render``."""

    class RepositoryPage(file_class):
        is_repository_page = True

        def __init__(self, repo_path, render, root, config, inclusion):
            site_dir, directory_urls = config["site_dir"], config["use_directory_urls"]
            dest = posixpath.join(repo_path, "index.html") if directory_urls else repo_path + ".html"
            super().__init__(repo_path, str(root), site_dir, directory_urls, dest_uri=dest, inclusion=inclusion)
            self._render = render

        def is_documentation_page(self):
            return True

        @property
        def content_string(self):
            return self._render(pathlib.Path(self.abs_src_path), self.src_uri)

        @property
        def content_bytes(self):
            return self.content_string.encode("utf-8")

    return RepositoryPage


def _is_source_page(page):
    return getattr(page.file, "is_repository_page", False) and page.file.src_uri.endswith(tuple(SOURCE_LEXERS))


# ------------------------------------------------------------------ the MkDocs hooks
def on_config(config):
    """The stylesheet that colours highlighted code (the theme's highlight.js is off) and lays out listings."""
    config["extra_css"].append(STYLESHEET)
    return config


def on_files(files, config):
    """Move docs/ under ``docs/``, add the root pages, and every file or folder that a page links to."""
    from mkdocs.structure.files import File, Files, InclusionLevel
    from pygments.formatters import HtmlFormatter

    root = site_root(config)
    repository_page = _repository_page_class(File)
    docs_dir = pathlib.Path(config["docs_dir"]).resolve()
    prefix = docs_dir.relative_to(root).as_posix()
    laid_out = Files([])
    to_read = []  # Markdown pages whose links are still to be followed

    def add(repo_path, inclusion):
        path = root / repo_path
        if path.is_dir():
            laid_out.append(repository_page(repo_path, folder_page_markdown, root, config, inclusion))
            for entry in folder_entries(path, repo_path):
                if laid_out.get_file_from_path(entry) is None:
                    add(entry, InclusionLevel.NOT_IN_NAV)
        elif path.suffix in SOURCE_LEXERS:
            laid_out.append(repository_page(repo_path, source_page_markdown, root, config, inclusion))
        else:
            laid_out.append(File(repo_path, str(root), config["site_dir"], config["use_directory_urls"],
                                 inclusion=inclusion))
            if path.suffix == ".md":
                to_read.append(repo_path)

    for file in files:
        if file.abs_src_path and pathlib.Path(file.abs_src_path).resolve().is_relative_to(docs_dir):
            add(f"{prefix}/{file.src_uri}", file.inclusion)
        else:  # the theme's and the plugins' own files
            laid_out.append(file)
    for repo_path in ROOT_PAGES:
        if (root / repo_path).is_file():
            add(repo_path, InclusionLevel.UNDEFINED)
    laid_out.append(File.generated(config, STYLESHEET,
                                   content=HtmlFormatter().get_style_defs(".highlight") + LISTING_CSS))

    while to_read:
        page_path = to_read.pop()
        for target in relative_link_targets((root / page_path).read_text(encoding="utf-8"), page_path):
            if target.startswith("../") or target == "." or laid_out.get_file_from_path(target) is not None:
                continue  # outside the root (MkDocs reports the link), or already part of the site
            if (root / target).exists():  # a link to a missing file is left to MkDocs, which reports it
                add(target, InclusionLevel.NOT_IN_NAV)
    return laid_out


def on_page_content(html_text, page, config, files):
    """Declare a source page's line anchors, so that MkDocs checks ``file.py#L40`` links against them."""
    if _is_source_page(page):
        lines = pathlib.Path(page.file.abs_src_path).read_text(encoding="utf-8").splitlines()
        page.present_anchor_ids.update(f"L{number}" for number in range(1, len(lines) + 1))
    return html_text


def on_post_page(output, page, config):
    """Put a source page's listing in place of its placeholder."""
    if _is_source_page(page):
        output = output.replace(LISTING_PLACEHOLDER, source_listing_html(pathlib.Path(page.file.abs_src_path)), 1)
    return output


# ------------------------------------------------------------------ docstrings in Keras's style
# Keras writes a docstring's examples as doctests at the docstring's own indentation:
#
#     Example:
#
#     >>> tinyconv.ops.add(1, 2)
#     3
#
# Google style, which Griffe reads, wants a section's body indented under its title, and a doctest outside an
# Examples section is prose to Markdown.  So such a body is indented under ``Examples:``, where Griffe makes
# each doctest a code block, and a doctest outside any section is fenced as code.  A few docstrings introduce
# an indented code block with reStructuredText's ``text::``; Markdown shows the block as code already, so the
# second colon goes.
EXAMPLE_TITLES = ("Example:", "Examples:")
SECTION_TITLE_PATTERN = re.compile(
    r"^(Args|Arguments|Parameters|Keyword Args|Raises|Returns|Yields|Attributes|Note|Notes|Warning|Warnings|"
    r"See Also|Example|Examples|References|Methods):\s*$")


def keras_style_as_google(docstring):
    """The docstring with its example sections as Google style has them, other doctests fenced as code."""
    lines = docstring.split("\n")
    out = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line in EXAMPLE_TITLES:
            body_start = index + 1
            while body_start < len(lines) and not lines[body_start].strip():
                body_start += 1
            out.append("Examples:")
            if body_start < len(lines) and lines[body_start].startswith((" ", "\t")):
                index = body_start  # already indented: only the blank lines after the title go
                continue
            body_end = body_start
            while body_end < len(lines) and not SECTION_TITLE_PATTERN.match(lines[body_end]):
                body_end += 1
            out.extend("    " + body if body.strip() else "" for body in lines[body_start:body_end])
            index = body_end
        elif line.startswith(">>>"):
            block_end = index
            while block_end < len(lines) and lines[block_end].strip():
                block_end += 1
            out.extend(["", "```pycon", *lines[index:block_end], "```", ""])
            index = block_end
        else:
            literal_block = line.endswith("::") and line.strip() != "::" and (
                index + 1 == len(lines) or not lines[index + 1].strip())
            out.append(line[:-1] if literal_block else line)
            index += 1
    return "\n".join(out)


def _griffe_extension_class():
    try:
        import griffe
    except ImportError:  # without the docs extra: the hooks above still import
        return None

    class KerasStyleDocstrings(griffe.Extension):
        """Griffe extension: read Keras-style docstrings as Google style (``keras_style_as_google``)."""

        def on_instance(self, *, obj, **kwargs):
            if obj.docstring is not None:
                obj.docstring.value = keras_style_as_google(obj.docstring.value)

    return KerasStyleDocstrings


KerasStyleDocstrings = _griffe_extension_class()


# ------------------------------------------------------------------ the command
def build(out_dir):
    """Build the site strictly into ``out_dir``; return (seconds, number of HTML pages)."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    started = time.perf_counter()
    mkdocs_build(load_config(str(REPO_ROOT / "mkdocs.yml"), strict=True, site_dir=str(out_dir)))
    return time.perf_counter() - started, sum(1 for _ in pathlib.Path(out_dir).rglob("*.html"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "build" / "site"), help="where the site goes")
    args = parser.parse_args(argv)
    from mkdocs.exceptions import Abort

    handler = logging.StreamHandler()  # as ``mkdocs build`` shows them: the warnings, and what a build did
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    logging.getLogger("mkdocs").addHandler(handler)
    logging.getLogger("mkdocs").setLevel(logging.INFO)

    try:
        seconds, pages = build(args.out)
    except Abort as error:  # the warnings are printed above it
        print(error, file=sys.stderr)
        return 1
    print(f"built {pages} pages into {args.out} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
