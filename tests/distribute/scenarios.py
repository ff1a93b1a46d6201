"""The training runs the MPI tests compare: each built the same way by the ranks (under mpiexec) and by
the test process (the one-process reference on the whole batch).

A scenario is a function ``run(dp)`` that trains and returns ``{"weights": [per epoch: list of
arrays], "history": {...}}``; ``dp`` is a ``DataParallel`` (size 1 in the test process). The ranks
build their models from different seeds: only the broadcast of rank 0's weights makes them equal,
so a missing broadcast shows as a difference.
"""
import numpy as np

import tinyconv as keras
from tinyconv import distribute, layers

INIT_SEED = 100  # rank 0's seed, and the reference's


class RecordWeights(keras.callbacks.Callback):
    """Copies of every weight at the end of each epoch (after the logs and statistics were averaged)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append([np.array(w, copy=True) for w in self.model.get_weights()])


def _seed_for(dp):
    keras.utils.set_random_seed(INIT_SEED + dp.rank)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 2)).astype("float32"), rng.integers(0, 3, n)


def _fit(dp, model, x, y, global_batch, epochs=2, validation=None, **kwargs):
    record = RecordWeights()
    shards = dp.shard(x, y)
    val = None if validation is None else dp.shard(*validation)
    history = model.fit(*shards, batch_size=global_batch // dp.size, epochs=epochs, shuffle=False,
                        validation_data=val, callbacks=dp.callbacks(record), verbose=0, **kwargs)
    return {"weights": record.epochs, "history": history.history}


def linear_exact(dp):
    """float64 linear regression, SGD with a power-of-two rate on small integers: every sum is exact."""
    _seed_for(dp)
    rng = np.random.default_rng(1)
    n = 8 * dp_size_for_data(dp)
    x = rng.integers(-1, 2, size=(n, 3)).astype("float64")
    y = rng.integers(-2, 3, size=(n, 1)).astype("float64")
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1, dtype="float64")])
    model.set_weights([np.array([[1.0], [-2.0], [0.5]]) + dp.rank, np.array([0.25]) + dp.rank])
    model.compile(optimizer=dp.optimizer(keras.optimizers.SGD(0.0625)), loss="mse")
    return _fit(dp, model, x, y, global_batch=len(x) // 2)


def dp_size_for_data(dp):
    """The number of ranks the data is cut for: the job's, or the reference's ``data_ranks`` attribute."""
    return getattr(dp, "data_ranks", dp.size)


def conv_momentum(dp):
    """A small CNN with SGD + momentum, accuracy and sharded validation data."""
    _seed_for(dp)
    x, y = _images(48)
    x_val, y_val = _images(12, seed=5)
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(4, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=dp.optimizer(keras.optimizers.SGD(0.05, momentum=0.9)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return _fit(dp, model, x, y, global_batch=12, validation=(x_val, y_val))


def _batch_norm_model(dp, synchronized):
    _seed_for(dp)
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(4, 3),
                              layers.BatchNormalization(synchronized=synchronized, momentum=0.5),
                              layers.Activation("relu"), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=dp.optimizer(keras.optimizers.SGD(0.05)), loss="sparse_categorical_crossentropy")
    return model


def batch_norm_synchronized(dp):
    """Batch statistics over the global batch: the ranks together normalise as one process would."""
    x, y = _images(48)
    return _fit(dp, _batch_norm_model(dp, True), x, y, global_batch=12)


def batch_norm_per_rank(dp):
    """Batch statistics of each rank's own share; the moving statistics averaged at each epoch's end."""
    x, y = _images(48)
    return _fit(dp, _batch_norm_model(dp, False), x, y, global_batch=12)


def shuffled_batches(dp):
    """``dp.batches``: a new order each epoch from a shared seed, the same steps as one process."""
    _seed_for(dp)
    x, y = _images(40)
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=dp.optimizer(keras.optimizers.SGD(0.1)), loss="sparse_categorical_crossentropy")
    record = RecordWeights()
    source = distribute.ShardedBatches((x, y), 12, dp.rank, dp.size, shuffle=True, seed=3)
    history = model.fit(source, epochs=3, callbacks=dp.callbacks(record), verbose=0)
    return {"weights": record.epochs, "history": history.history}


SCENARIOS = {f.__name__: f for f in (linear_exact, conv_momentum, batch_norm_synchronized, batch_norm_per_rank,
                                      shuffled_batches)}


# ------------------------------------------------------------------ saving on rank 0 and resuming
def adam_model(dp, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="relu"), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=dp.optimizer(keras.optimizers.Adam(0.01)), loss="sparse_categorical_crossentropy")
    return model


def save_and_resume(dp, folder):
    """Two epochs straight, against one epoch, a checkpoint written by rank 0, and a resumed second epoch
    in which only rank 0 reads the file (the others start from fresh models and a fresh Adam)."""
    x, y = _images(48)
    xs, ys = dp.shard(x, y)
    straight = adam_model(dp, INIT_SEED + dp.rank)
    straight.fit(xs, ys, batch_size=12 // dp.size, epochs=2, shuffle=False, callbacks=dp.callbacks(), verbose=0)

    first = adam_model(dp, INIT_SEED + dp.rank)
    path = f"{folder}/checkpoint.keras"
    first.fit(xs, ys, batch_size=12 // dp.size, epochs=1, shuffle=False, verbose=0,
              callbacks=dp.callbacks(chief_only=[keras.callbacks.ModelCheckpoint(path)]))
    dp.barrier()  # the file is complete before rank 0 reads it
    if dp.is_chief:
        resumed = keras.models.load_model(path)
        resumed.compile(optimizer=dp.optimizer(resumed.optimizer), loss="sparse_categorical_crossentropy")
    else:
        resumed = adam_model(dp, 999)
    resumed.fit(xs, ys, batch_size=12 // dp.size, epochs=2, initial_epoch=1, shuffle=False,
                callbacks=dp.callbacks(), verbose=0)
    return {"straight": straight.get_weights(), "resumed": resumed.get_weights(),
            "iterations": resumed.optimizer.iterations}
