"""Who am I among the processes of a job, and the few collectives data parallelism needs.

Two communicators with one surface:

* ``SingleProcess``: size 1, every collective a no-op. What a script gets under plain ``python``,
  so the same script runs on a laptop and under ``mpiexec``.
* ``MPICommunicator``: MPI through mpi4py. Arrays travel with the buffer methods
  (``Allreduce``/``Bcast``: no pickling, one call per fused buffer), small Python objects
  (shapes, step counts, metric names) with the lower-case pickling ones.

``connect()`` picks one. mpi4py is imported only when the process was started by an MPI launcher
(or mpi4py is loaded already, as under ``python -m mpi4py``), so ``import tinyconv`` never loads
MPI and a plain ``python`` run never starts it.
"""
import os
import sys
import time
import traceback

# Variables that MPI launchers put into each process's environment: MPICH and Intel MPI (Hydra:
# PMI_*), Open MPI (OMPI_*), PMIx-based launchers (srun --mpi=pmix, prterun), MVAPICH.
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")

INSTALL_HINT = ("pip install mpi4py (or pip install 'tinyconv[mpi]'); on a machine without an MPI library, "
                "also pip install mpich")


def launched_by_mpi(environ=None):
    """True when an MPI launcher (``mpiexec``, ``mpirun``, ``srun``) started this process.

    Args:
        environ: the environment to look at (default ``os.environ``).

    Returns:
        A bool.

    Example:

    >>> launched_by_mpi({"PMI_RANK": "0", "PMI_SIZE": "2"}), launched_by_mpi({})
    (True, False)
    """
    environ = os.environ if environ is None else environ
    return any(name in environ for name in LAUNCHER_VARIABLES)


class SingleProcess:
    """The communicator of a job of one process: rank 0 of 1; collectives leave their data as it is.

    Example:

    >>> import numpy as np
    >>> comm = SingleProcess()
    >>> comm.rank, comm.size, comm.allreduce_sum(np.array([1.0, 2.0]))
    (0, 1, array([1., 2.]))
    """

    rank = 0
    size = 1
    local_rank = 0
    name = "single process"

    def allreduce_sum(self, buffer):
        return buffer

    def broadcast(self, buffer, root=0):
        return buffer

    def broadcast_object(self, value, root=0):
        return value

    def allgather_object(self, value):
        return [value]

    def barrier(self):
        pass

    def abort(self, code=1):
        raise SystemExit(code)


class MPICommunicator:
    """MPI collectives over an mpi4py communicator (``MPI.COMM_WORLD`` by default).

    Args:
        comm: an ``mpi4py.MPI.Comm``; None means ``MPI.COMM_WORLD``.

    Raises:
        ImportError: when mpi4py is not installed (the message says what to install).
    """

    name = "MPI"

    def __init__(self, comm=None):
        MPI = import_mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._local_rank = None

    @property
    def local_rank(self):
        """This process's index among the ranks on its own machine (picks its GPU)."""
        if self._local_rank is None:
            node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
            self._local_rank = node.Get_rank()
            node.Free()
        return self._local_rank

    def allreduce_sum(self, buffer):
        """Sum ``buffer`` (a contiguous NumPy array) over all ranks, in place; returns it."""
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return buffer

    def broadcast(self, buffer, root=0):
        """Overwrite ``buffer`` on every rank with the root's, in place; returns it."""
        self.comm.Bcast(buffer, root=root)
        return buffer

    def broadcast_object(self, value, root=0):
        return self.comm.bcast(value, root=root)

    def allgather_object(self, value):
        return self.comm.allgather(value)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):
        """End every process of the job (``MPI_Abort``): the way out when one rank fails."""
        self.comm.Abort(code)


def import_mpi():
    """``mpi4py.MPI``, or an ImportError that says what to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"tinyconv.distribute: this process was started by an MPI launcher but mpi4py "
                          f"cannot be imported ({error}); {INSTALL_HINT}") from error
    return MPI


def connect(environ=None):
    """The communicator of this process: MPI under a launcher (or ``python -m mpi4py``), else one process.

    Args:
        environ: the environment to read the launcher's variables from (default ``os.environ``).

    Returns:
        A ``MPICommunicator`` or a ``SingleProcess``.

    Raises:
        ImportError: launched by ``mpiexec`` but mpi4py is missing (never silently N lone copies).

    Example:

    >>> connect({}).size
    1
    """
    if "mpi4py.MPI" in sys.modules or launched_by_mpi(environ):
        return MPICommunicator()
    return SingleProcess()


def abort_job_on_uncaught_exception(communicator):
    """Make an exception that escapes the script end every rank, not just this one.

    Without it, a rank that dies leaves the others waiting in their next collective for ever (the
    MPI library is finalised cleanly at exit, so the launcher sees no crash). ``python -m mpi4py``
    does the same for the whole script; this hook covers a plain ``python script.py`` launch.
    The traceback is printed first by the hook that was there before.
    """
    if communicator.size < 2:
        return
    previous = sys.excepthook

    def print_then_abort(kind, value, trace):
        try:
            previous(kind, value, trace)
        except Exception:  # a broken hook must not stop the abort
            traceback.print_exception(kind, value, trace)
        sys.stderr.flush()
        # The launcher forwards each rank's output through a pipe it stops reading once the abort
        # reaches it: a moment's pause lets the traceback get out first (seen cut to its first line
        # on a loaded machine without it).
        time.sleep(0.5)
        communicator.abort(1)

    sys.excepthook = print_then_abort
