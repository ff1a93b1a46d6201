"""Mistakes that must end in the same clear error on every rank, never in a hang.

Each case runs on every rank; the error (type and message) is written as one JSON line per case to
``OUTDIR/rank<r>.jsonl`` (a file per rank: the launcher may interleave the ranks' printed lines), then
the script goes on to the next case. Usage: mpiexec -n 2 python -m mpi4py refusals.py OUTDIR
"""
import json
import os
import sys

import numpy as np

import tinyconv as keras
from tinyconv import distribute, layers

keras.set_num_threads(1)
dp = distribute.DataParallel()


def model(units=3):
    net = keras.Sequential([keras.Input((4,)), layers.Dense(units, activation="softmax")])
    net.compile(optimizer=dp.optimizer("sgd"), loss="sparse_categorical_crossentropy")
    return net


def unequal_shards():
    count = 12 if dp.rank == 0 else 8  # 3 steps of 4 on rank 0, 2 on the others
    model().fit(np.ones((count, 4)), np.zeros(count), batch_size=4, callbacks=dp.callbacks(), verbose=0)


def different_models():
    net = model(units=3 if dp.rank == 0 else 5)
    net.fit(np.ones((8, 4)), np.zeros(8), batch_size=4, callbacks=dp.callbacks(), verbose=0)


def plain_optimizer():
    net = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="softmax")])
    net.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    net.fit(np.ones((8, 4)), np.zeros(8), batch_size=4, callbacks=dp.callbacks(), verbose=0)


def no_broadcast():
    model().train_on_batch(np.ones((4, 4)), np.zeros(4))


def different_first_epochs():
    model().fit(np.ones((8, 4)), np.zeros(8), batch_size=4, epochs=3, initial_epoch=dp.rank,
                callbacks=dp.callbacks(), verbose=0)


results = open(os.path.join(sys.argv[1], f"rank{dp.rank}.jsonl"), "w")
for case in (unequal_shards, different_models, plain_optimizer, no_broadcast, different_first_epochs):
    try:
        case()
        outcome = {"case": case.__name__, "rank": dp.rank, "error": None}
    except (ValueError, RuntimeError) as error:
        outcome = {"case": case.__name__, "rank": dp.rank, "error": type(error).__name__, "message": str(error)}
    results.write(json.dumps(outcome) + "\n")
    dp.barrier()
results.close()
