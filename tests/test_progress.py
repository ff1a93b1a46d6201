"""fit / evaluate / predict progress: every metric shown, whole, on a terminal of any width (a real
pseudo-terminal, read back through a small terminal model), one clean line per epoch in a log, and
tqdm's widget bar in a notebook."""
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

from tinyconv.models.progress import bar_line, wrap_items

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two epochs with validation, an evaluate and a predict; the true values go to stderr as JSON.
TRAINING_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tinyconv as keras
    from tinyconv import layers

    rng = np.random.default_rng(0)
    x = rng.random((24, 4, 4, 1)).astype("float32")
    y = rng.integers(0, 3, 24)
    model = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, validation_data=(x[:8], y[:8]), verbose=1)
    evaluated = model.evaluate(x, y, batch_size=8, verbose=1, return_dict=True)
    model.predict(x, batch_size=8, verbose=1)
    final_epoch = {name: values[-1] for name, values in history.history.items()}
    sys.stderr.write(json.dumps({"fit": final_epoch, "evaluate": evaluated}))
""")


def run_in_terminal(columns, rows=24, term="xterm"):
    """Run TRAINING_SCRIPT with its stdout on a pseudo-terminal of the given size; return what it
    printed there and the values it reported."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the size comes from the pty
    env["TERM"] = term
    process = subprocess.Popen([sys.executable, "-c", TRAINING_SCRIPT], stdin=follower, stdout=follower,
                               stderr=subprocess.PIPE, cwd=ROOT, env=env)
    os.close(follower)
    printed = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # Linux: the other side is closed
                break
            if not chunk:
                break
            printed += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    reported = process.communicate(timeout=60)[1]
    assert process.returncode == 0, reported.decode(errors="replace")
    return printed.decode("utf-8"), json.loads(reported.decode().splitlines()[-1])


def render(output, columns):
    """What a terminal `columns` wide shows after `output`: a small model of the VT100 codes the
    progress display writes.  Returns the screen's lines and how often a line ran past the right
    edge (the terminal wrapping it by itself, which breaks an in-place redraw)."""
    screen, row, column, overflows = [[]], 0, 0, 0
    position = 0
    while position < len(output):
        char = output[position]
        if char == "\x1b":
            code = re.match(r"\x1b\[(\d*)([A-Za-z])", output[position:])
            assert code, f"unexpected escape code {output[position:position + 8]!r}"
            count, command = int(code.group(1) or 1), code.group(2)
            if command == "A":
                row = max(row - count, 0)
            elif command == "J":
                del screen[row][column:]
                del screen[row + 1:]
            elif command == "K":
                del screen[row][column:]
            else:
                raise AssertionError(f"unexpected escape code {code.group(0)!r}")
            position += len(code.group(0))
            continue
        if char == "\r":
            column = 0
        elif char == "\n":
            row, column = row + 1, 0
        else:
            if column >= columns:
                overflows += 1
                row, column = row + 1, 0
            while len(screen) <= row:
                screen.append([])
            line = screen[row]
            line.extend(" " * (column + 1 - len(line)))
            line[column] = char
            column += 1
        while len(screen) <= row:
            screen.append([])
        position += 1
    return ["".join(line).rstrip() for line in screen], overflows


def expected_items(logs):
    return [f"{name}: {value:.4f}" for name, value in logs.items()]


@pytest.mark.parametrize("columns", [80, 100, 40])
def test_every_metric_is_shown_whole_on_a_terminal(columns):
    printed, reported = run_in_terminal(columns)
    screen, overflows = render(printed, columns)
    assert overflows == 0, "a line ran past the terminal's edge"
    text = "\n".join(screen)
    fit_items = expected_items(reported["fit"])
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(reported["fit"])
    # The final epoch's block: its bar, then every metric (validation ones included), each on one line.
    last_epoch = text.index("Epoch 2/2")
    assert "3/3" in text[last_epoch:].splitlines()[0]
    for item in fit_items:
        assert any(item in line for line in text[last_epoch:].splitlines()), (item, screen)
    evaluate_at = text.index("Evaluate")
    for item in expected_items(reported["evaluate"]):
        assert any(item in line for line in text[evaluate_at:].splitlines()), (item, screen)
    assert "Predict" in text and "3/3" in text[text.index("Predict"):].splitlines()[0]


def test_a_terminal_reporting_no_size_still_gets_every_line():
    printed, reported = run_in_terminal(0, rows=0)
    screen, _ = render(printed, 10_000)
    text = "\n".join(screen)
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "Evaluate" in text and "Predict" in text
    for item in expected_items(reported["fit"]) + expected_items(reported["evaluate"]):
        assert item in text, (item, screen)


def test_a_dumb_terminal_gets_plain_lines_without_cursor_codes():
    """TERM=dumb (Emacs's shell, some IDE consoles) cannot redraw in place: one line per pass there."""
    printed, reported = run_in_terminal(80, term="dumb")
    text = printed.decode() if isinstance(printed, (bytes, bytearray)) else printed
    assert "\x1b[" not in text and "\r" not in text.replace("\r\n", "\n")
    for item in expected_items(reported["fit"]) + expected_items(reported["evaluate"]):
        assert item in text, (item, text)


def test_evaluate_and_predict_print_one_clean_line_each_in_a_log(fresh_names, capsys):
    import numpy as np

    import tinyconv as keras

    x = np.random.default_rng(0).random((12, 4)).astype("float32")
    y = np.arange(12) % 2
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.evaluate(x, y, batch_size=4, verbose=1)
    model.predict(x, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2 and "\r" not in out and "\x1b" not in out
    assert lines[0].startswith("Evaluate - 3/3") and "loss:" in lines[0] and "accuracy:" in lines[0]
    assert lines[1].startswith("Predict - 3/3")
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_metric_lines_wrap_between_items():
    items = ["loss: 2.3400", "accuracy: 0.1000", "val_loss: 2.2000", "val_accuracy: 0.5000"]
    lines = wrap_items(items, 39)
    assert lines == ["loss: 2.3400 - accuracy: 0.1000", "val_loss: 2.2000 - val_accuracy: 0.5000"]
    assert wrap_items(["accuracy: 0.1000"], 8) == ["accuracy", ": 0.1000"]  # only a too-long item is cut


@pytest.mark.parametrize("width", [20, 39, 79, 120])
def test_bar_line_fits_the_width_and_keeps_the_count(width):
    line = bar_line(3, 5, 1.2, "Epoch 10/10", width)
    assert len(line) <= width and "3/5" in line


def test_fit_shows_a_widget_bar_in_a_notebook(tmp_path):
    for module in ("nbclient", "nbformat", "ipykernel", "ipywidgets"):
        pytest.importorskip(module, reason=f"the notebook test needs {module} (pip install 'tinyconv[dev]')")
    import nbclient
    import nbformat

    cell = textwrap.dedent("""
        import numpy as np
        import tinyconv as keras
        x = np.random.default_rng(0).random((8, 4)).astype("float32")
        model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, np.arange(8) % 2, epochs=1, batch_size=4, verbose=1)
    """)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    client = nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3",
                                     resources={"metadata": {"path": ROOT}})
    client.execute()
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.get("output_type") == "error"], outputs
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, f"no widget bar in the cell's output: {outputs}"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "Epoch 1/1 - " not in text  # the bar replaces the log line
