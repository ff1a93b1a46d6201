"""Starting a script on N processes with ``mpiexec``, with a hard time limit, for the MPI tests.

The MPI tests need mpi4py and an MPI launcher (``.ci/run`` installs mpi4py and the mpich wheel, whose
``mpiexec`` lands next to the Python executable). Where CI runs (``CI`` set) a missing piece fails the
test; elsewhere it skips, naming what to install.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = pathlib.Path(__file__).resolve().parent / "scripts"
INSTALL = "python3 -m pip install mpi4py mpich"


def _missing(reason):
    if os.environ.get("CI"):
        pytest.fail(f"the MPI tests must run in CI: {reason} ({INSTALL})")
    pytest.skip(f"{reason}: {INSTALL}")


def mpiexec():
    """The ``mpiexec`` to use: the one beside this Python (the mpich wheel's), else the first on PATH."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        _missing("mpi4py is not installed")
    beside = pathlib.Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        _missing(f"no mpiexec beside {sys.executable} nor on PATH")
    return found


def environment():
    """The ranks' environment: this checkout's tinyconv, one thread each, no launcher variables inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_LOCAL"))}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    # Hydra (MPICH's launcher): start the ranks as local processes, never through ssh or a batch system.
    env.setdefault("HYDRA_LAUNCHER", "fork")
    # Open MPI, where it is the mpiexec found: containers run as root, and 3 ranks on 2 cores oversubscribe.
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return env


class Finished:
    """What a job left behind: return code, output, seconds taken."""

    def __init__(self, returncode, stdout, stderr, seconds):
        self.returncode, self.stdout, self.stderr, self.seconds = returncode, stdout, stderr, seconds

    def explain(self):
        return f"exit code {self.returncode} after {self.seconds:.1f}s\n--- stdout\n{self.stdout[-3000:]}\n" \
               f"--- stderr\n{self.stderr[-3000:]}"


def run(script, ranks, *args, timeout=60, with_mpi4py_runner=True):
    """Run ``scripts/<script>`` on ``ranks`` processes; kill the whole job if it outlives ``timeout``.

    Args:
        script: a file name under ``tests/distribute/scripts``.
        ranks: the number of processes.
        *args: the script's arguments.
        timeout: seconds before the job (launcher and every rank) is killed and the test fails.
        with_mpi4py_runner: launch as ``python -m mpi4py script`` (an exception on one rank aborts the
            job) rather than ``python script``.

    Returns:
        A ``Finished``.
    """
    command = [mpiexec(), "-n", str(ranks), sys.executable]
    command += ["-m", "mpi4py"] if with_mpi4py_runner else []
    command += [str(SCRIPTS / script), *map(str, args)]
    start = time.monotonic()
    # A session of its own, so that a timeout kills the ranks too, not only the launcher.
    process = subprocess.Popen(command, cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command)} still ran after {timeout}s and was killed (a hang)\n"
                    f"--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}")
    return Finished(process.returncode, stdout, stderr, time.monotonic() - start)
