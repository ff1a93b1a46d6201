"""Rank 1 raises in the middle of training while rank 0 waits for its gradients: the job must end.

Usage: mpiexec -n 2 python [-m mpi4py] failing_rank.py {hook|runner}
  hook:   DataParallel's own abort on an uncaught exception (for a plain `python script.py` launch);
  runner: that hook switched off, so only `python -m mpi4py` ends the job.
"""
import sys

import numpy as np

import tinyconv as keras
from tinyconv import distribute, layers

keras.set_num_threads(1)
dp = distribute.DataParallel(abort_on_error=sys.argv[1] == "hook")


class FailOnRankOne(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if dp.rank == 1 and batch == 2:
            raise RuntimeError("rank 1 fails on purpose")


net = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="softmax")])
net.compile(optimizer=dp.optimizer("sgd"), loss="sparse_categorical_crossentropy")
net.fit(np.ones((40, 4)), np.zeros(40), batch_size=4, epochs=100, callbacks=dp.callbacks(FailOnRankOne()),
        verbose=0)
print(f"rank {dp.rank} finished training: the failure did not stop it", flush=True)
