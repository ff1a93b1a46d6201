"""Progress reporting for fit / evaluate / predict.

verbose=1 on a terminal: a tqdm bar per epoch showing the running loss and metrics.
verbose=1 when output is not a terminal (a log file, CI) and verbose=2: one clean line per
epoch, so logs never fill with progress-bar fragments.  verbose=0: silent.
"""
import sys
import time

from tqdm.auto import tqdm


def format_logs(logs):
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())


class EpochProgress:
    def __init__(self, verbose, steps, description):
        self.verbose = verbose
        self.steps = steps
        self.description = description
        self.start = time.perf_counter()
        self.bar = None
        interactive = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        if verbose == 1 and interactive:
            self.bar = tqdm(total=steps, desc=description, unit="step", leave=True, file=sys.stdout,
                            dynamic_ncols=True, mininterval=0.1)

    def update(self, step, logs):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(format_logs(logs), refresh=False)

    def close(self, logs):
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=True)
            self.bar.close()
        elif self.verbose in (1, 2):
            elapsed = time.perf_counter() - self.start
            per_step = 1000 * elapsed / max(self.steps, 1)
            print(f"{self.description} - {self.steps}/{self.steps} - {elapsed:.1f}s - {per_step:.0f}ms/step - "
                  f"{format_logs(logs)}", file=sys.stdout, flush=True)
