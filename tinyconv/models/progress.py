"""Progress reporting for fit / evaluate / predict.

How verbose=1 looks depends on where the output goes:

- a notebook kernel with ipywidgets installed: tqdm's widget bar, the running metrics beside it;
- a terminal: a block redrawn in place, a tqdm bar on its first line and the running metrics on the
  lines below, wrapped at the terminal's width so that no metric is ever cut off;
- anything else (a log file, CI, a pipe): one clean line per epoch, so logs never fill with
  progress-bar fragments.

verbose=2 always gives the one line per epoch; verbose=0 is silent.
"""
import importlib.util
import os
import shutil
import sys
import time

from tqdm import tqdm

REDRAW_INTERVAL = 0.1  # seconds between two redraws of a live bar; the last step always draws
FALLBACK_COLUMNS = 80  # for terminals that report no size (a 0x0 pseudo-terminal, some CI runners)

# tqdm bar layouts, richest first: a narrow terminal gets the first one that fits.
BAR_LAYOUTS = (
    "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]",
    "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]",
    "{desc}: {n_fmt}/{total_fmt} [{elapsed}]",
)
SHORTEST_BAR = 5  # columns; below this a layout counts as not fitting


def format_logs(logs):
    return " - ".join(metric_items(logs))


def metric_items(logs):
    return [f"{name}: {value:.4f}" for name, value in logs.items()]


# ------------------------------------------------------------------ text layout
def terminal_columns(stream):
    """The width of the terminal behind `stream`, or FALLBACK_COLUMNS when it reports none."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0  # not a real file (a test's capture), or no terminal behind it
    if columns <= 0:
        columns = shutil.get_terminal_size((FALLBACK_COLUMNS, 24)).columns
    return columns if columns > 0 else FALLBACK_COLUMNS


def wrap_items(items, width, separator=" - "):
    """Pack `items` into lines of at most `width` characters, joined by `separator`.

    An item is never split across lines unless it alone is wider than a line."""
    lines, current = [], ""
    for item in items:
        candidate = f"{current}{separator}{item}" if current else item
        if len(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while len(item) > width:
            lines.append(item[:width])
            item = item[width:]
        current = item
    if current:
        lines.append(current)
    return lines


def bar_line(count, steps, elapsed, description, width):
    """tqdm's bar for `count` of `steps` done, in the richest layout that fits `width` columns."""
    for layout in BAR_LAYOUTS:
        # Without ncols tqdm draws a 10-column bar: what is left over is the text around it.
        natural = tqdm.format_meter(count, steps, elapsed, prefix=description, unit="step", bar_format=layout)
        around_bar = len(natural) - (10 if "{bar}" in layout else 0)
        if around_bar + (SHORTEST_BAR if "{bar}" in layout else 0) <= width:
            break
    return tqdm.format_meter(count, steps, elapsed, ncols=width, prefix=description, unit="step",
                             bar_format=layout)[:width]


# ------------------------------------------------------------------ displays
class TerminalBlock:
    """A block of lines redrawn in place on a terminal.

    Every line is kept shorter than the terminal is wide, so the terminal never wraps one by itself
    and the block's height is known: a redraw moves the cursor back up to the block's first line,
    clears to the end of the screen and writes the new block."""

    def __init__(self, stream):
        self.stream = stream
        self.height = 0  # lines of the block now on screen

    def draw(self, lines):
        rewind = "\r" if self.height else ""
        if self.height > 1:
            rewind += f"\x1b[{self.height - 1}A"  # cursor up to the block's first line
        self.stream.write(rewind + "\x1b[J" + "\n".join(lines))
        self.stream.flush()
        self.height = len(lines)

    def finish(self):
        self.stream.write("\n")
        self.stream.flush()
        self.height = 0


class TerminalBar:
    """verbose=1 on a terminal: the bar on one line, every metric on the wrapped lines below."""

    def __init__(self, stream, steps, description):
        self.stream = stream
        self.steps = steps
        self.description = description
        self.block = TerminalBlock(stream)
        self.start = time.perf_counter()
        self.last_draw = None
        self.count = 0

    def update(self, step, logs):
        self.count = step + 1
        now = time.perf_counter()
        if self.last_draw is None or now - self.last_draw >= REDRAW_INTERVAL or self.count == self.steps:
            self.draw(logs)
            self.last_draw = now

    def close(self, logs):
        self.draw(logs)
        self.block.finish()

    def draw(self, logs):
        width = max(terminal_columns(self.stream) - 1, 1)  # the last column would make the terminal wrap
        elapsed = time.perf_counter() - self.start
        lines = [bar_line(self.count, self.steps, elapsed, self.description, width)]
        self.block.draw(lines + wrap_items(metric_items(logs), width))


class NotebookBar:
    """verbose=1 in a notebook kernel: tqdm's widget bar, the metrics beside it."""

    def __init__(self, steps, description):
        from tqdm.notebook import tqdm as notebook_tqdm

        self.bar = notebook_tqdm(total=steps, desc=description, unit="step", leave=True)
        self.steps = steps
        self.last_draw = None

    def update(self, step, logs):
        self.bar.update(step + 1 - self.bar.n)
        now = time.perf_counter()
        if self.last_draw is None or now - self.last_draw >= REDRAW_INTERVAL or step + 1 == self.steps:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)  # (reading GPU logs is a host sync)
            self.last_draw = now

    def close(self, logs):
        self.bar.set_postfix_str(format_logs(logs), refresh=True)
        self.bar.close()


class LogLine:
    """verbose=2, or output that is not a terminal: one clean line when the epoch ends."""

    def __init__(self, stream, steps, description):
        self.stream = stream
        self.steps = steps
        self.description = description
        self.start = time.perf_counter()

    def update(self, step, logs):
        pass

    def close(self, logs):
        elapsed = time.perf_counter() - self.start
        per_step = 1000 * elapsed / max(self.steps, 1)
        parts = [self.description, f"{self.steps}/{self.steps}", f"{elapsed:.1f}s", f"{per_step:.0f}ms/step"]
        print(" - ".join(parts + metric_items(logs)), file=self.stream, flush=True)


class Silent:
    def update(self, step, logs):
        pass

    def close(self, logs):
        pass


def in_notebook_with_widgets():
    """True inside a Jupyter kernel (not a terminal IPython) that can show ipywidgets."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it already; never import it here
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None or "IPKernelApp" not in getattr(shell, "config", {}):
        return False
    return importlib.util.find_spec("ipywidgets") is not None


def is_terminal(stream):
    """A terminal that can redraw lines in place: a tty whose TERM is not 'dumb' (Emacs's shell
    mode and some IDE consoles say 'dumb': they would print the cursor codes as text)."""
    if os.environ.get("TERM", "") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def choose_display(verbose, steps, description, stream):
    if verbose == 1 and in_notebook_with_widgets():
        return NotebookBar(steps, description)
    if verbose == 1 and is_terminal(stream):
        return TerminalBar(stream, steps, description)
    if verbose in (1, 2):
        return LogLine(stream, steps, description)
    return Silent()


class EpochProgress:
    """The progress of one pass over the data (an epoch of fit, one evaluate, one predict)."""

    def __init__(self, verbose, steps, description):
        self.display = choose_display(verbose, steps, description, sys.stdout)

    def update(self, step, logs):
        """Step `step` (counted from 0) is done; `logs` holds the running averages.

        ``logs`` may be a ``callbacks.PendingLogs`` whose values are still on the GPU: a display reads it
        only when it draws (at most every ``REDRAW_INTERVAL`` seconds), so most steps never wait for the GPU.
        """
        self.display.update(step, logs)

    def close(self, logs):
        """The pass is over; `logs` holds its final values (validation metrics included)."""
        self.display.close(logs)
