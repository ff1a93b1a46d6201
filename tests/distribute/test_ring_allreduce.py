"""The ring allreduce (the teaching twin) against MPI's Allreduce, and its one-process simulation."""
import json

import numpy as np
import pytest

from tinyconv.distribute import ring_allreduce, simulate_ring_allreduce
from tinyconv.distribute.ring_allreduce import all_gather_step, chunk_bounds, reduce_scatter_step, ring_cost_seconds

from . import launch


@pytest.mark.parametrize("ranks", [2, 3])
def test_ring_allreduce_equals_mpi_allreduce_on_awkward_sizes(ranks, tmp_path):
    """Sizes 0, 1, 2, 3, 5, 7, 64, 1001, 65537 (most not divisible by the rank count), int64 exactly,
    float64 to 1e-12 and float32 to 1e-5 (the ring adds in another order than MPI)."""
    finished = launch.run("ring.py", ranks, tmp_path, timeout=60)
    assert finished.returncode == 0, finished.explain()
    reports = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("rank*.json"))]
    assert sorted(r["rank"] for r in reports) == list(range(ranks))
    for report in reports:
        assert report["size"] == ranks
        assert report["checked"] == 9 * 3 * 2
        assert report["problems"] == [], report


@pytest.mark.parametrize("ranks", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("size", [0, 1, 3, 10, 101])
def test_the_simulated_ring_sums_every_buffer_on_every_rank(ranks, size):
    rng = np.random.default_rng(size * 10 + ranks)
    buffers = [rng.integers(-50, 50, size) for _ in range(ranks)]
    expected = np.sum(buffers, axis=0) if size else np.zeros(0, dtype=np.int64)
    for result in simulate_ring_allreduce(buffers):
        np.testing.assert_array_equal(result, expected)


def test_the_simulation_leaves_the_inputs_alone():
    buffers = [np.arange(5.0), np.ones(5)]
    simulate_ring_allreduce(buffers)
    np.testing.assert_array_equal(buffers[0], np.arange(5.0))


def test_chunks_cover_the_buffer_once_and_differ_by_at_most_one():
    for n in range(0, 30):
        for size in range(1, 8):
            bounds = chunk_bounds(n, size)
            sizes = np.diff(bounds)
            assert bounds[0] == 0 and bounds[-1] == n and sizes.min() >= 0 and sizes.max() - sizes.min() <= 1


def test_each_phase_sends_every_chunk_once_per_step_and_ends_complete():
    size = 5
    for step in range(size - 1):
        # At each step the ranks send N different chunks, and each receives what its left neighbour sent.
        for phase in (reduce_scatter_step, all_gather_step):
            sent = [phase(rank, size, step)[0] for rank in range(size)]
            assert sorted(sent) == list(range(size))
            for rank in range(size):
                assert phase(rank, size, step)[1] == sent[(rank - 1) % size]
    # After the reduce-scatter rank r holds chunk r + 1 complete, the first chunk it sends in the all-gather.
    assert [all_gather_step(rank, size, 0)[0] for rank in range(size)] == [(r + 1) % size for r in range(size)]


def test_a_single_process_ring_gives_the_buffer_back_as_a_copy():
    from tinyconv.distribute import SingleProcess

    buffer = np.arange(6.0).reshape(2, 3)
    result = ring_allreduce(buffer, SingleProcess())
    np.testing.assert_array_equal(result, buffer.ravel())
    result[0] = 99
    assert buffer[0, 0] == 0


def test_the_cost_model_is_two_n_minus_one_over_n_bytes_plus_latencies():
    assert ring_cost_seconds(1e9, 1, 1e9, 1e-5) == 0.0
    assert ring_cost_seconds(1e9, 2, 1e9, 0.0) == pytest.approx(1.0)  # 2 * 1/2 * bytes / bandwidth
    assert ring_cost_seconds(0, 4, 1e9, 1e-5) == pytest.approx(6e-5)  # 2 (N - 1) latencies
    many = ring_cost_seconds(1e9, 1000, 1e9, 0.0)
    assert 1.99 < many < 2.0  # the bandwidth term tends to 2 x bytes / bandwidth
