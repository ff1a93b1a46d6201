"""tinyconv.distribute without mpiexec: a job of one, the pieces on their own, and what needs no MPI.

The same script must run under plain ``python`` (size 1, nothing changes) and mpi4py must stay
optional. The cross-rank batch-norm maths is checked here too, with ranks simulated by threads.
"""
import doctest
import importlib
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import distribute, layers, optimizers
from tinyconv.distribute import averaging, fused, sharding, sync_batchnorm
from tinyconv.distribute.communicator import SingleProcess, connect, launched_by_mpi

from . import launch

MODULES = ["active", "averaging", "callbacks", "communicator", "data_parallel", "fused", "nccl", "ring_allreduce",
           "sharding", "state", "sync_batchnorm"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"tinyconv.distribute.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_import_tinyconv_and_a_data_parallel_of_one_never_load_mpi():
    code = ("import sys, tinyconv; from tinyconv import distribute; dp = distribute.DataParallel(); "
            "assert dp.size == 1 and 'mpi4py' not in sys.modules, sorted(m for m in sys.modules if 'mpi' in m)")
    env = {k: v for k, v in launch.environment().items() if k not in distribute.communicator.LAUNCHER_VARIABLES}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_launcher_is_recognised_by_its_environment():
    assert launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "4"}) and launched_by_mpi({"PMI_SIZE": "2"})
    assert not launched_by_mpi({"PATH": "/usr/bin"})
    assert isinstance(connect({}), SingleProcess)


def test_under_a_launcher_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `from mpi4py import MPI` now raises ImportError
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    with pytest.raises(ImportError, match=r"pip install mpi4py.*pip install mpich"):
        connect({"PMI_SIZE": "2", "PMI_RANK": "0"})


def test_data_parallel_checks_its_arguments():
    with pytest.raises(ValueError, match="device must be None, 'cpu' or 'gpu', got 'tpu'"):
        distribute.DataParallel(device="tpu")
    with pytest.raises(TypeError, match="got str"):
        distribute.DataParallel(communicator="world")


def test_the_gpu_path_without_cupy_is_refused_with_a_clear_message():
    from tinyconv import devices

    if devices.gpu_available():
        pytest.skip("CuPy and a GPU are present here: the NCCL path would start (run tests under mpiexec)")
    with pytest.raises(RuntimeError, match="CuPy"):
        distribute.DataParallel(device="gpu")
    assert keras.backend.get_device() == "cpu"


def test_a_job_of_one_trains_exactly_as_without_distribute():
    def train(wrap):
        keras.utils.set_random_seed(7)
        dp = distribute.DataParallel()
        model = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="relu"),
                                  layers.BatchNormalization(synchronized=True), layers.Dense(2, activation="softmax")])
        optimizer = keras.optimizers.Adam(0.01)
        model.compile(optimizer=dp.optimizer(optimizer) if wrap else optimizer,
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)
        if wrap:
            x, y = dp.shard(x, y)
        history = model.fit(x, y, batch_size=8, epochs=3, callbacks=dp.callbacks() if wrap else None, verbose=0)
        return model.get_weights(), history.history

    (plain_weights, plain_history), (dp_weights, dp_history) = train(False), train(True)
    assert plain_history == dp_history
    for a, b in zip(plain_weights, dp_weights):
        np.testing.assert_array_equal(a, b)


def test_callbacks_put_ours_first_and_chief_only_ones_on_rank_0():
    dp = distribute.DataParallel()
    early, checkpoint = keras.callbacks.EarlyStopping(), keras.callbacks.CSVLogger(os.devnull)
    names = [type(c).__name__ for c in dp.callbacks(early, chief_only=[checkpoint])]
    assert names == ["BroadcastInitialState", "AverageEpochLogs", "EarlyStopping", "CSVLogger"]
    assert dp.average({"loss": 0.25, "accuracy": 1}) == {"loss": 0.25, "accuracy": 1}


# ------------------------------------------------------------------ sharding
def test_shard_interleaves_and_gives_every_rank_the_same_count():
    x, y = np.arange(11), np.arange(11) * 10
    shards = [sharding.shard([x, y], rank, 3) for rank in range(3)]
    assert [s[0].tolist() for s in shards] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert [s[1].tolist() for s in shards] == [[0, 30, 60], [10, 40, 70], [20, 50, 80]]
    uneven = [sharding.shard([x], rank, 3, drop_remainder=False)[0].tolist() for rank in range(3)]
    assert uneven == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]
    assert sharding.shard([x, None], 0, 2)[1] is None


def test_union_of_the_ranks_batches_is_the_one_process_batch():
    x = np.arange(24)
    batch, ranks = 6, 3
    shards = [sharding.shard([x], rank, ranks)[0] for rank in range(ranks)]
    for step in range(len(x) // batch):
        local = [s[step * batch // ranks:(step + 1) * batch // ranks] for s in shards]
        assert sorted(np.concatenate(local).tolist()) == x[step * batch:(step + 1) * batch].tolist()


def test_shard_refuses_bad_input():
    with pytest.raises(ValueError, match="rank must be in 0..1, got 2"):
        sharding.shard([np.arange(4)], 2, 2)
    with pytest.raises(ValueError, match=r"same number of samples, got \[4, 3\]"):
        sharding.shard([np.arange(4), np.arange(3)], 0, 2)
    with pytest.raises(ValueError, match="3 samples cannot be shared among 4 ranks"):
        sharding.shard([np.arange(3)], 0, 4)


@pytest.mark.parametrize("shuffle", [False, True])
def test_sharded_batches_together_are_the_one_process_batches_every_epoch(shuffle):
    x, y = np.arange(30)[:, None], np.arange(30)
    one = sharding.ShardedBatches((x, y), 6, 0, 1, shuffle=shuffle, seed=4)
    ranks = [sharding.ShardedBatches((x, y), 6, rank, 3, shuffle=shuffle, seed=4) for rank in range(3)]
    orders = []
    for _ in range(3):
        assert len(one) == len(ranks[0]) == 5
        for step in range(len(one)):
            together = np.concatenate([r[step][1] for r in ranks])
            assert sorted(together.tolist()) == sorted(one[step][1].tolist())
        orders.append(one[0][1].tolist())
        for source in [one, *ranks]:
            source.on_epoch_end()
    assert (len({tuple(o) for o in orders}) == 3) == shuffle  # a new order each epoch only when shuffling


def test_sharded_batches_refuse_a_global_batch_the_ranks_cannot_split():
    with pytest.raises(ValueError, match="multiple of the 4 ranks, got 6"):
        sharding.ShardedBatches((np.zeros(20),), 6, 0, 4)
    with pytest.raises(ValueError, match="larger than the 20 samples"):
        sharding.ShardedBatches((np.zeros(20),), 24, 0, 4)
    with pytest.raises(IndexError):
        sharding.ShardedBatches((np.zeros(20),), 4, 0, 4)[5]


# ------------------------------------------------------------------ the optimizer and its buffer
def test_fused_buffer_packs_arrays_of_two_dtypes_into_two_buffers():
    arrays = [np.ones((2, 3), np.float32), np.arange(4, dtype=np.float64), np.full(2, 5, np.float32)]
    buffer = fused.FusedBuffer(arrays)
    assert [(b.dtype.name, b.size) for b in buffer.buffers] == [("float32", 8), ("float64", 4)]
    buffer.pack(arrays)
    for b in buffer.buffers:
        b *= 2
    assert [v.tolist() for v in buffer.views()] == [[[2.0] * 3] * 2, [0.0, 2.0, 4.0, 6.0], [10.0, 10.0]]
    targets = [np.zeros_like(a) for a in arrays]
    buffer.unpack_into(targets)
    assert targets[2].tolist() == [10.0, 10.0]
    assert buffer.matches(arrays) and not buffer.matches(arrays[:2])


def test_the_averaging_optimizer_is_still_its_class_for_the_saved_file_and_the_callbacks(tmp_path):
    sgd = averaging.average_gradients(optimizers.SGD(0.1, momentum=0.5), SingleProcess())
    assert isinstance(sgd, optimizers.SGD) and type(sgd).__name__ == "SGD"
    assert sgd.get_config() == optimizers.SGD(0.1, momentum=0.5).get_config()
    sgd.learning_rate = 0.05  # what ReduceLROnPlateau does
    assert sgd.learning_rate == 0.05
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(optimizer=sgd, loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is optimizers.SGD and loaded.optimizer.iterations == 1
    with pytest.raises(ValueError, match="already averages"):
        averaging.average_gradients(sgd, SingleProcess())


class _Ranks:
    """A communicator for ``size`` threads of one process: each collective sums every thread's buffer."""

    def __init__(self, size):
        self.size, self._barrier = size, threading.Barrier(size)
        self._slots = [None] * size

    def member(self, rank):
        ranks = self

        class Member:
            size = ranks.size

            def allreduce_sum(self, buffer):
                ranks._slots[rank] = buffer.copy()
                ranks._barrier.wait()
                total = np.sum(ranks._slots, axis=0)
                ranks._barrier.wait()
                buffer[...] = total
                return buffer

        return Member()


def _on_threads(size, work):
    ranks, results, errors = _Ranks(size), [None] * size, []

    def run(rank):
        try:
            results[rank] = work(rank, ranks.member(rank))
        except Exception as error:  # reported below; a thread's exception would be lost
            errors.append(error)
            ranks._barrier.abort()

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("ranks", [2, 3])
def test_averaging_gradients_over_simulated_ranks_updates_every_rank_alike(ranks):
    grads = [np.full((2, 2), float(rank + 1)) for rank in range(ranks)]

    def step(rank, communicator):
        param = np.zeros((2, 2))
        sgd = averaging.average_gradients(optimizers.SGD(1.0), communicator)
        sgd._weights_broadcast = True  # the broadcast is the callback's job, tested under mpiexec
        sgd.apply([param], [grads[rank]])
        return param

    for param in _on_threads(ranks, step):
        np.testing.assert_array_equal(param, -np.mean(grads, axis=0))


# ------------------------------------------------------------------ batch norm across ranks
def test_batch_normalization_takes_and_saves_keras_synchronized_argument():
    layer = layers.BatchNormalization(synchronized=True)
    assert layer.get_config()["synchronized"] is True
    assert layers.BatchNormalization().get_config()["synchronized"] is False
    assert layers.BatchNormalization.from_config(layer.get_config()).synchronized is True
    with pytest.raises(TypeError, match="synchronized must be True or False, got 'yes'"):
        layers.BatchNormalization(synchronized="yes")


def test_synchronized_batch_norm_without_distribution_is_the_plain_layer():
    x = np.random.default_rng(0).normal(size=(8, 3, 3, 4)).astype("float32")
    dy = np.random.default_rng(1).normal(size=x.shape).astype("float32")
    out = []
    for synchronized in (False, True):
        layer = layers.BatchNormalization(synchronized=synchronized)
        y = layer(x, training=True)
        out.append((y, layer.backward(dy), layer.grads["gamma"], layer.moving_variance.copy()))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ranks", [2, 3])
def test_synchronized_statistics_and_gradients_over_simulated_ranks_are_the_whole_batch_ones(ranks):
    """Each rank normalises its rows with the statistics of all rows; its dx rows and the sum of the
    ranks' dgamma / dbeta are those of one process on the whole batch (float64, 1e-12)."""
    from tinyconv.kernels.reference import normalization as reference

    rng = np.random.default_rng(ranks)
    x = rng.normal(2.0, 3.0, size=(6 * ranks, 5))
    dy = rng.normal(size=x.shape)
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    y, mean, var, inv_std = reference.batch_norm_forward_train(x, gamma, beta, 1e-3)
    dx, dgamma, dbeta = reference.batch_norm_backward(dy, x, gamma, mean, inv_std)

    def rank_work(rank, communicator):
        rows = slice(rank, None, ranks)
        got = sync_batchnorm.forward(x[rows], gamma, beta, 1e-3, communicator)
        grads = sync_batchnorm.backward(dy[rows], x[rows], gamma, got[1], got[3], communicator)
        return rows, got, grads

    results = _on_threads(ranks, rank_work)
    for rows, (y_r, mean_r, var_r, _), (dx_r, _, _) in results:
        np.testing.assert_allclose(mean_r, mean, rtol=1e-12)
        np.testing.assert_allclose(var_r, var, rtol=1e-12)
        np.testing.assert_allclose(y_r, y[rows], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx_r, dx[rows], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sum(r[2][1] for r in results), dgamma, rtol=1e-10)
    np.testing.assert_allclose(sum(r[2][2] for r in results), dbeta, rtol=1e-10)

