"""The two callbacks of data parallel training (what ``DataParallel.callbacks()`` returns).

* ``BroadcastInitialState`` (train begin): check the ranks agree (same model, same number of steps
  per epoch, the averaging optimizer compiled), then broadcast rank 0's weights and optimizer state.
* ``AverageEpochLogs`` (epoch end): average the logged loss and metrics (validation included) and
  the moving statistics over the ranks, so every rank's ``History`` and callbacks see the same
  numbers and take the same decisions (``EarlyStopping`` stops all ranks at the same epoch).

They must come before the callbacks that read the logs: ``fit`` runs callbacks in list order and
the logs are averaged in place.
"""
import numpy as np

from ..callbacks import Callback
from . import state
from .averaging import GradientAveraging


def _steps_agree(everyone):
    steps = [f["steps"] for f in everyone]
    if len(set(steps)) > 1:
        counts = ", ".join(f"rank {rank}: {count}" for rank, count in enumerate(steps))
        return (f"the ranks would take different numbers of steps per epoch ({counts}), and a rank that "
                f"finishes early would leave the others waiting; give every rank the same number of samples "
                f"(dp.shard(x, y) does)")
    epochs = [f["epochs"] for f in everyone]
    if len(set(epochs)) > 1:
        return f"the ranks train for different numbers of epochs: {epochs} (rank 0, 1, ...)"
    return ""


def _averaging_compiled(everyone):
    missing = [rank for rank, f in enumerate(everyone) if not f["averaging"]]
    if missing:
        return (f"the model on rank(s) {missing} was compiled with a plain optimizer, whose ranks would drift "
                f"apart; compile with optimizer=dp.optimizer(...)")
    return ""


class BroadcastInitialState(Callback):
    """At train begin: check the ranks agree, then copy rank 0's weights and optimizer state to all ranks.

    The first epoch's number is compared too (a different ``initial_epoch`` on one rank would make it
    take fewer steps in all).

    Args:
        communicator: the ranks (``DataParallel.communicator``).
    """

    def __init__(self, communicator):
        super().__init__()
        self.communicator = communicator
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        self._first_epoch = True
        if self.communicator.size < 2:
            return
        facts = {"steps": self.params.get("steps"), "epochs": self.params.get("epochs"),
                 "averaging": isinstance(self.model.optimizer, GradientAveraging)}
        state.broadcast_model_state(self.model, self.communicator, facts, [_steps_agree, _averaging_compiled])

    def on_epoch_begin(self, epoch, logs=None):
        if not self._first_epoch or self.communicator.size < 2:
            return
        self._first_epoch = False
        firsts = self.communicator.allgather_object(epoch)
        if len(set(firsts)) > 1:
            raise ValueError(f"data parallel training over {self.communicator.size} ranks: the ranks start at "
                             f"different epochs (initial_epoch): {firsts} (rank 0, 1, ...)")


class AverageEpochLogs(Callback):
    """At epoch end: every logged number and every moving statistic becomes its mean over the ranks.

    With equal shards (every rank the same number of samples) the mean of the ranks' epoch averages
    is the average over all samples, exactly what one process would log.
    """

    def __init__(self, communicator):
        super().__init__()
        self.communicator = communicator

    def on_epoch_end(self, epoch, logs=None):
        if self.communicator.size < 2:
            return
        average_logs({} if logs is None else logs, self.communicator, f"at epoch {epoch}")
        state.average_moving_statistics(self.model, self.communicator)


def average_logs(logs, communicator, when):
    """Replace each number in the dict ``logs`` by its mean over the ranks, in place (one allreduce).

    Raises:
        ValueError: on every rank, when the ranks' logs name different quantities (``when`` says where).
    """
    if communicator.size < 2:
        return logs
    names = sorted(name for name, value in logs.items() if isinstance(value, (int, float, np.number)))
    everyone = communicator.allgather_object(names)
    if any(other != names for other in everyone):
        raise ValueError(f"data parallel training over {communicator.size} ranks: the ranks logged different "
                         f"quantities {when}: " + "; ".join(f"rank {rank}: {other}"
                                                           for rank, other in enumerate(everyone)))
    if names:
        values = np.array([float(logs[name]) for name in names], dtype=np.float64)
        communicator.allreduce_sum(values)
        logs.update({name: float(value) / communicator.size for name, value in zip(names, values)})
    return logs
