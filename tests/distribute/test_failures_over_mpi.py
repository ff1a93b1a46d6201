"""Clear failure, never a hang: a rank that raises ends the job; mistakes are refused on every rank alike."""
import json

import pytest

from . import launch


@pytest.mark.parametrize("form", ["python -m mpi4py", "python + DataParallel's abort hook"])
def test_a_rank_that_raises_ends_the_whole_job_within_seconds(form):
    """Rank 1 raises while rank 0 waits in the gradient allreduce. Either launch form ends the job
    (MPI_Abort) at once; without both the job would wait for ever (the launcher's timeout catches that)."""
    runner = form == "python -m mpi4py"
    finished = launch.run("failing_rank.py", 2, "runner" if runner else "hook", timeout=30,
                          with_mpi4py_runner=runner)
    assert finished.returncode != 0, finished.explain()
    assert finished.seconds < 20, finished.explain()
    assert "rank 1 fails on purpose" in finished.stderr  # the traceback is shown before the abort
    assert "finished training" not in finished.stdout


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refusals")
    finished = launch.run("refusals.py", 2, folder, timeout=60)
    assert finished.returncode == 0, finished.explain()
    outcomes = {}
    for path in sorted(folder.glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            outcome = json.loads(line)
            outcomes.setdefault(outcome["case"], {})[outcome["rank"]] = outcome
    return outcomes


def _same_error_on_both_ranks(refusals, case, kind):
    ranks = refusals[case]
    assert sorted(ranks) == [0, 1]
    assert ranks[0]["error"] == ranks[1]["error"] == kind, ranks
    assert ranks[0]["message"] == ranks[1]["message"]
    return ranks[0]["message"]


def test_unequal_shards_are_refused_up_front_naming_the_step_counts(refusals):
    message = _same_error_on_both_ranks(refusals, "unequal_shards", "ValueError")
    assert "different numbers of steps per epoch (rank 0: 3, rank 1: 2)" in message


def test_different_models_are_detected_at_the_first_broadcast(refusals):
    message = _same_error_on_both_ranks(refusals, "different_models", "ValueError")
    assert "different models" in message and "(4, 5)" in message and "(4, 3)" in message


def test_a_model_compiled_without_the_averaging_optimizer_is_refused(refusals):
    message = _same_error_on_both_ranks(refusals, "plain_optimizer", "ValueError")
    assert "dp.optimizer" in message


def test_training_on_batches_before_any_broadcast_is_refused(refusals):
    message = _same_error_on_both_ranks(refusals, "no_broadcast", "RuntimeError")
    assert "dp.broadcast(model)" in message


def test_ranks_starting_at_different_epochs_are_refused(refusals):
    message = _same_error_on_both_ranks(refusals, "different_first_epochs", "ValueError")
    assert "[0, 1]" in message
