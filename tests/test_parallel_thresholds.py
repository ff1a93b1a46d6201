"""A pass goes parallel only when its work outweighs waking the team, as measured on this machine."""
import pytest

import tinyconv

threads = pytest.importorskip("tinyconv.kernels.cpu.threads")


@pytest.fixture
def measured(monkeypatch):
    """Pretend waking a team of 3 was measured at ``us`` microseconds."""
    before = tinyconv.get_num_threads()

    def pretend(us):
        monkeypatch.setitem(threads._wake_up_us, 3, us)
        return threads.calibrate(3)

    yield pretend
    tinyconv.set_num_threads(before)      # (thresholds back to the real count's)


def test_a_slow_wake_up_raises_both_thresholds(measured):
    assert measured(90.0) == 90.0
    assert threads.min_parallel_elements() == threads.WORTH * 90 * threads.ELEMENTS_PER_US
    assert threads.min_parallel_macs() == threads.WORTH * 90 * threads.MACS_PER_US


def test_a_quick_wake_up_keeps_the_floors(measured):
    measured(0.5)
    assert threads.min_parallel_elements() == threads.MIN_ELEMENTS
    assert threads.min_parallel_macs() == threads.GEMM_MIN_MACS


def test_one_thread_needs_no_measurement():
    before = tinyconv.get_num_threads()
    try:
        tinyconv.set_num_threads(1)
        assert threads.wake_up_us() == 0.0
        assert threads.min_parallel_elements() == threads.MIN_ELEMENTS
    finally:
        tinyconv.set_num_threads(before)


@pytest.mark.skipif(not tinyconv.openmp_enabled(), reason="a build without OpenMP has no team to wake")
def test_the_wake_up_is_measured_once_per_count_and_reported(monkeypatch):
    before = tinyconv.get_num_threads()
    monkeypatch.delitem(threads._wake_up_us, 2)      # (conftest.py set it to 0 for the other tests)
    try:
        tinyconv.set_num_threads(2)
        first = threads.wake_up_us()
        assert first > 0
        assert tinyconv.parallel.team_wake_up_us() == first
        tinyconv.set_num_threads(1)
        tinyconv.set_num_threads(2)
        assert threads.wake_up_us() == first           # kept, not measured again
    finally:
        monkeypatch.undo()                              # the floors back before the count
        tinyconv.set_num_threads(before)
