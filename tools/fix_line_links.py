"""Re-point stale ``[`name`](path#Lnn)`` links in the docs at the line that now holds ``name``.

``tests/test_docs_links.py`` fails when an edit moves a line a link points at, and says where the name is
now; this rewrites every such link in place (a ``def``/``class`` line first, else the nearest line holding
every name the link text claims).  Run from the repository root: ``python tools/fix_line_links.py``.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import test_docs_links as links  # noqa: E402  (the test's own parsing: one definition of a line link)


def new_line(match, page):
    """The link with its line number moved to where the claimed name is now (unchanged when it is right)."""
    link_text, target, first = match.group(1), match.group(2), int(match.group(3))
    path = os.path.normpath(os.path.join(os.path.dirname(page), target))
    names = links.claimed_names(link_text)
    if not names or not os.path.isfile(path) or match.group(4):
        return match.group(0)
    lines = links.read(path).splitlines()
    if first <= len(lines) and all(name in lines[first - 1] for name in names):
        return match.group(0)
    holding = [number for number, line in enumerate(lines, 1) if all(name in line for name in names)]
    short = re.escape(names[0].split(".")[-1])
    definitions = [number for number in holding if re.match(rf"\s*(def|class)\s+{short}\b", lines[number - 1])]
    pool = definitions or holding
    if not pool:
        print(f"{os.path.relpath(page, ROOT)}: {link_text} not found in {os.path.relpath(path, ROOT)}")
        return match.group(0)
    line = min(pool, key=lambda number: abs(number - first))
    print(f"{os.path.relpath(page, ROOT)}: {link_text} L{first} -> L{line}")
    return match.group(0).replace(f"#L{first})", f"#L{line})")


def main():
    for page in links.PAGES:
        text = links.read(page)
        fixed = links.LINE_LINK.sub(lambda match, page=page: new_line(match, page), text)
        if fixed != text:
            with open(page, "w", encoding="utf-8") as file:
                file.write(fixed)


if __name__ == "__main__":
    main()
