"""docs/custom_layers.md stays true: its snippets run in order, and the printed tape is what tinyconv prints."""
import contextlib
import io
import pathlib
import re

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "custom_layers.md"


def test_snippets_run_and_the_printed_tape_matches_the_page():
    text = PAGE.read_text(encoding="utf-8")
    snippets = re.findall(r"```python\n(.*?)```", text, re.S)
    shown = re.findall(r"```text\n(.*?)```", text, re.S)[0]
    namespace = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippets[0], str(PAGE), "exec"), namespace)
    assert printed.getvalue() == shown
    with contextlib.redirect_stdout(io.StringIO()) as loop_output:
        for snippet in snippets[1:]:
            exec(compile(snippet, str(PAGE), "exec"), namespace)
    first, last = namespace["loss_fn"], float(namespace["loss"])
    assert first is not None and "loss after 5 steps" in loop_output.getvalue() and last < 1.1
