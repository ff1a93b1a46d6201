"""Data parallel training on 2 and 3 processes under mpiexec, against one process on the whole batch.

One job per rank count runs every scenario of ``scenarios.py`` (a few seconds); the test process
runs the same scenarios as one process and compares. Tolerances:

* ranks among themselves: bit-identical weights after every epoch (the same averaged update from
  the same weights), and identical logs;
* float64 linear SGD on small integers, 2 ranks: exactly the one-process weights (every sum is exact);
  3 ranks divide by 3, so there the one-process weights are met to 1e-12;
* float32 networks: the one-process weights to rtol 1e-5 / atol 1e-6 (the ranks add their partial
  sums in another order than one process does: rounding differs in the last bits and grows a little
  over the steps), the logs to rtol 1e-5.
"""
import json

import numpy as np
import pytest

from tinyconv import distribute

from . import launch, scenarios

RTOL, ATOL = 1e-5, 1e-6  # measured: the differences stay below 1/30 of this


@pytest.fixture(scope="module", params=[2, 3], ids=lambda n: f"{n}ranks")
def job(request, tmp_path_factory):
    """Every rank's results (weights per scenario and epoch, histories) from one mpiexec job."""
    ranks = request.param
    folder = tmp_path_factory.mktemp(f"mpi{ranks}")
    finished = launch.run("run_scenarios.py", ranks, folder, timeout=90)
    assert finished.returncode == 0, finished.explain()
    results = []
    for rank in range(ranks):
        with np.load(folder / f"rank{rank}.npz") as arrays:
            weights = {key: arrays[key] for key in arrays.files}
        with open(folder / f"rank{rank}.json") as handle:
            results.append({"weights": weights, **json.load(handle)})
    return {"ranks": ranks, "results": results, "folder": folder}


def reference(name, ranks):
    """The scenario run by one process on the whole batch (the data cut as for ``ranks``)."""
    dp = distribute.DataParallel()
    dp.data_ranks = ranks
    return scenarios.SCENARIOS[name](dp)


def rank_weights(job, rank, name, epoch):
    weights = job["results"][rank]["weights"]
    return [weights[f"{name}/{epoch}/{i}"] for i in range(len([k for k in weights if k.startswith(f"{name}/{epoch}/")]))]


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_rank_holds_bit_identical_weights_after_every_epoch(job, name):
    epochs = len(job["results"][0]["histories"][name]["loss"])
    assert epochs >= 2
    for epoch in range(epochs):
        chief = rank_weights(job, 0, name, epoch)
        assert chief, f"{name}: no weights recorded at epoch {epoch}"
        for rank in range(1, job["ranks"]):
            for index, (a, b) in enumerate(zip(chief, rank_weights(job, rank, name, epoch))):
                assert np.array_equal(a, b), f"{name} epoch {epoch}: weight {index} differs on rank {rank}"


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_rank_logs_the_same_averaged_history(job, name):
    histories = [result["histories"][name] for result in job["results"]]
    assert all(history == histories[0] for history in histories[1:])


def test_linear_sgd_equals_one_process_on_the_combined_batch(job):
    expected = reference("linear_exact", job["ranks"])
    for epoch, weights in enumerate(expected["weights"]):
        for a, b in zip(rank_weights(job, 0, "linear_exact", epoch), weights):
            if job["ranks"] == 2:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(job["results"][0]["histories"]["linear_exact"]["loss"], expected["history"]["loss"],
                               rtol=1e-12)


@pytest.mark.parametrize("name", ["conv_momentum", "batch_norm_synchronized", "shuffled_batches"])
def test_float32_training_follows_one_process_on_the_combined_batch(job, name):
    expected = reference(name, job["ranks"])
    assert len(expected["weights"]) == len(job["results"][0]["histories"][name]["loss"])
    for epoch, weights in enumerate(expected["weights"]):
        for index, (a, b) in enumerate(zip(rank_weights(job, 0, name, epoch), weights)):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{name} epoch {epoch} weight {index}")
    logged = job["results"][0]["histories"][name]
    assert sorted(logged) == sorted(expected["history"])  # validation logs included where there are some
    for key, values in expected["history"].items():
        np.testing.assert_allclose(logged[key], values, rtol=1e-5, atol=1e-6, err_msg=key)


def test_synchronized_batch_norm_moving_statistics_follow_the_global_batch(job):
    expected = reference("batch_norm_synchronized", job["ranks"])["weights"][-1]
    got = rank_weights(job, 0, "batch_norm_synchronized", 1)
    # Conv2D kernel, bias, then gamma, beta, moving_mean, moving_variance
    for index in (4, 5):
        np.testing.assert_allclose(got[index], expected[index], rtol=RTOL, atol=ATOL)


def test_per_rank_batch_norm_is_a_different_model_from_the_global_batch(job):
    """Without synchronisation each rank normalises with its own few samples: the ranks still agree
    (moving statistics averaged each epoch), but not with one process on the whole batch."""
    expected = reference("batch_norm_per_rank", job["ranks"])["weights"][-1]
    got = rank_weights(job, 0, "batch_norm_per_rank", 1)
    assert max(np.abs(a - b).max() for a, b in zip(got, expected)) > 100 * ATOL


def test_rank_0_saves_a_checkpoint_and_the_job_resumes_from_it(job):
    """Rank 0 writes the file; on resuming only rank 0 reads it and the broadcast gives the others its
    weights and Adam state: the second epoch is then exactly the one of an uninterrupted run."""
    assert [p.name for p in job["folder"].glob("*.keras")] == ["checkpoint.keras"]
    for rank, result in enumerate(job["results"]):
        weights = result["weights"]
        count = len([k for k in weights if k.startswith("save_and_resume_straight/")])
        assert count == 4
        for index in range(count):
            np.testing.assert_array_equal(weights[f"save_and_resume_resumed/{index}"],
                                          weights[f"save_and_resume_straight/{index}"],
                                          err_msg=f"rank {rank} weight {index}")
        assert result["histories"]["save_and_resume_iterations"] == 8  # 2 epochs of 4 steps, state restored
