"""examples/distributed_training.py runs end to end: 1 and 2 ranks, the same steps, the same accuracy."""
import importlib.util
import pathlib

import pytest

from . import launch

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "distributed_training.py"


def test_the_example_trains_on_one_and_two_ranks_and_reports_the_speed_up(monkeypatch, capsys):
    pytest.importorskip("sklearn", reason="the digits come with scikit-learn (pip install '.[data]')")
    mpiexec = launch.mpiexec()  # skips (or fails in CI) without mpi4py and an MPI launcher
    spec = importlib.util.spec_from_file_location("distributed_training", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.setattr(example, "mpiexec", lambda: mpiexec)
    for name, value in launch.environment().items():
        if name.startswith(("HYDRA_", "OMPI_")):
            monkeypatch.setenv(name, value)
    results = example.main(["--ranks", "1,2", "--model", "lenet", "--epochs", "2"])
    assert [r["ranks"] for r in results] == [1, 2]
    # The same global batch of 64 and the same steps: the same model up to the order of the sums.
    assert results[0]["accuracy"] == pytest.approx(results[1]["accuracy"], abs=0.01)
    assert results[0]["accuracy"] > 0.5
    assert "speed-up" in capsys.readouterr().out
