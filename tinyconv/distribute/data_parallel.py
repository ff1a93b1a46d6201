"""``DataParallel``: synchronous data parallel training over MPI, in four lines of a training script.

    dp = distribute.DataParallel()                 # rank, size; size 1 under plain `python`
    x, y = dp.shard(x, y)                          # sample i to rank i % size
    model.compile(optimizer=dp.optimizer(keras.optimizers.SGD(0.01)), loss=...)
    model.fit(x, y, batch_size=64 // dp.size, callbacks=dp.callbacks(), verbose=int(dp.is_chief))

Launched with ``mpiexec -n 4 python -m mpi4py train.py``. Every rank holds the whole model and
trains on its shard; the optimizer averages the gradients over the ranks before each update, so
the ranks' weights stay identical; the callbacks broadcast rank 0's weights at the start and
average the logs at the end of each epoch. Under plain ``python`` all of it is a no-op.
"""
from .. import backend
from . import active, sharding, state
from .averaging import average_gradients
from .callbacks import AverageEpochLogs, BroadcastInitialState, average_logs
from .communicator import abort_job_on_uncaught_exception, connect

_abort_hook_installed = False


class DataParallel:
    """The processes of one training job, and the pieces that make their models train as one.

    Args:
        communicator: None (detect: MPI under ``mpiexec``, a single process otherwise), an
            ``mpi4py.MPI.Comm``, or a ``tinyconv.distribute`` communicator.
        device: ``"cpu"`` (MPI moves NumPy arrays) or ``"gpu"`` (one GPU per rank, gradients over
            NCCL; needs CuPy with NCCL). None keeps the active device, over MPI.
        abort_on_error: when several ranks run, an exception that escapes the script ends the whole
            job (``MPI_Abort``) instead of leaving the other ranks waiting for ever.

    Attributes:
        rank: this process's index, 0 .. size - 1.
        size: the number of processes.
        is_chief: True on rank 0, the one that prints and writes files.
        communicator: what the collectives go through.

    Raises:
        ImportError: under ``mpiexec`` without mpi4py.
        RuntimeError: ``device="gpu"`` without CuPy, NCCL or a GPU for this rank.
        ValueError: an unknown ``device``.

    Example:

    >>> import numpy as np
    >>> dp = DataParallel()  # plain python: one process
    >>> dp.rank, dp.size, dp.is_chief
    (0, 1, True)
    >>> x, y = dp.shard(np.arange(10.0)[:, None], np.arange(10))
    >>> len(x), len(y)
    (10, 10)
    """

    def __init__(self, communicator=None, device=None, abort_on_error=True):
        if device not in (None, "cpu", "gpu"):
            raise ValueError(f"DataParallel: device must be None, 'cpu' or 'gpu', got {device!r}")
        self.communicator = self._communicator(communicator)
        if device == "gpu":
            from .nccl import NCCLCommunicator  # CuPy is imported only on this path

            self.communicator = NCCLCommunicator(self.communicator)
            backend.set_device("gpu")  # on this rank's GPU, which NCCLCommunicator made current
        elif device == "cpu":
            backend.set_device("cpu")
        self.rank, self.size = self.communicator.rank, self.communicator.size
        self.is_chief = self.rank == 0
        active.set_communicator(self.communicator)  # what BatchNormalization(synchronized=True) reduces over
        if abort_on_error:
            _install_abort_hook(self.communicator)

    @staticmethod
    def _communicator(communicator):
        if communicator is None:
            return connect()
        if hasattr(communicator, "allreduce_sum"):
            return communicator
        if hasattr(communicator, "Allreduce"):  # an mpi4py communicator
            from .communicator import MPICommunicator

            return MPICommunicator(communicator)
        raise TypeError(f"DataParallel: communicator must be None, an mpi4py communicator or a "
                        f"tinyconv.distribute communicator, got {type(communicator).__name__}")

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, size={self.size}, over {self.communicator.name})"

    # ------------------------------------------------------------- data
    def shard(self, *arrays, drop_remainder=True):
        """This rank's interleaved share of each array (sample i goes to rank i % size).

        Args:
            *arrays: arrays with the same number of samples (x, y, sample weights...); None passes through.
            drop_remainder: leave out the last ``n % size`` samples so every rank gets the same number
                (different counts would give the ranks different step counts, which ``fit`` refuses).

        Returns:
            One array for one argument, else a tuple in the order given.

        Raises:
            ValueError: arrays of different lengths, or fewer samples than ranks.

        Example:

        >>> import numpy as np
        >>> DataParallel().shard(np.arange(3))
        array([0, 1, 2])
        """
        shards = sharding.shard(arrays, self.rank, self.size, drop_remainder)
        return shards[0] if len(shards) == 1 else tuple(shards)

    def batches(self, *arrays, batch_size, shuffle=True, seed=0):
        """A batch source for ``fit``: this rank's part of each global batch, shuffled by a seed all ranks share.

        Unlike ``shard`` + ``fit(shuffle=True)``, the ranks together take exactly the steps of one process
        running the same source, shuffled or not (see ``sharding.ShardedBatches``).

        Args:
            *arrays: the whole (unsharded) ``x, y`` or ``x, y, sample_weight``, the same on every rank.
            batch_size: the global batch size, a multiple of ``size``.
            shuffle: a new order each epoch, drawn from ``seed + epoch``.
            seed: the shared seed.

        Returns:
            A ``ShardedBatches`` to pass to ``fit`` as ``x`` (without ``y`` and ``batch_size``).

        Raises:
            ValueError: a ``batch_size`` that is not a positive multiple of ``size``.

        Example:

        >>> import numpy as np
        >>> source = DataParallel().batches(np.zeros((10, 2)), np.zeros(10), batch_size=4)
        >>> len(source)  # the last 10 % 4 samples of each epoch's order are left out
        2
        """
        return sharding.ShardedBatches(arrays, batch_size, self.rank, self.size, shuffle, seed)

    # ------------------------------------------------------------- training
    def optimizer(self, optimizer):
        """``optimizer``, averaging its gradients over the ranks (one fused allreduce) before each update.

        Args:
            optimizer: an optimizer object or name (``keras.optimizers.SGD(0.01)``, ``"adam"``).

        Returns:
            An optimizer of the same class and configuration to pass to ``model.compile``.

        Example:

        >>> from tinyconv import optimizers
        >>> adam = DataParallel().optimizer(optimizers.Adam(1e-3))
        >>> type(adam).__name__, adam.learning_rate
        ('Adam', 0.001)
        """
        return average_gradients(optimizer, self.communicator)

    def callbacks(self, *callbacks, chief_only=()):
        """The callbacks of data parallel training, then ``callbacks``, then ``chief_only`` on rank 0.

        Put every callback that reads the logs here (``EarlyStopping``, ``ReduceLROnPlateau``): they
        then see the logs averaged over the ranks and decide alike on every rank. Those that write files
        or print (``ModelCheckpoint``, ``CSVLogger``) go in ``chief_only``.

        Args:
            *callbacks: callbacks for every rank.
            chief_only: callbacks for rank 0 only.

        Returns:
            A list for ``fit(callbacks=...)``.

        Example:

        >>> [type(c).__name__ for c in DataParallel().callbacks()]
        ['BroadcastInitialState', 'AverageEpochLogs']
        """
        ours = [BroadcastInitialState(self.communicator), AverageEpochLogs(self.communicator)]
        return ours + list(callbacks) + (list(chief_only) if self.is_chief else [])

    def broadcast(self, model):
        """Give every rank rank 0's weights (and optimizer state), after checking the ranks hold the same model.

        ``fit`` does it through ``callbacks()``; call it before ``train_on_batch`` loops of your own.

        Raises:
            ValueError: on every rank, when the model is not built or the ranks' models differ.
        """
        state.broadcast_model_state(model, self.communicator)

    def average(self, logs):
        """The mean over the ranks of each number in ``logs`` (a dict, e.g. ``evaluate(..., return_dict=True)``).

        Every rank must call it with the same keys.

        Example:

        >>> DataParallel().average({"loss": 0.5})
        {'loss': 0.5}
        """
        return average_logs(dict(logs), self.communicator, "in DataParallel.average")

    def barrier(self):
        """Wait until every rank gets here."""
        self.communicator.barrier()


def _install_abort_hook(communicator):
    global _abort_hook_installed
    if not _abort_hook_installed and communicator.size > 1:
        abort_job_on_uncaught_exception(communicator)
        _abort_hook_installed = True
