import os

# Keras (an oracle in the parity tests) must run on its torch backend here.
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinyconv  # noqa: E402


def _floor_parallel_thresholds():
    """Tests decide routes and team sizes on the thresholds' floors, as if waking a team cost
    nothing, so what they check does not depend on the machine (threads.pyx measures the real
    cost; tests/test_parallel_thresholds.py checks that)."""
    try:
        from tinyconv.kernels.cpu import threads
    except ImportError:
        return
    threads._wake_up_us.update({count: 0.0 for count in range(1, 257)})
    threads.calibrate(threads.get_num_threads())


_floor_parallel_thresholds()


@pytest.fixture(autouse=True)
def seeded_random_state():
    """Every test starts from the same random state: initial weights, dropout masks and shuffles
    repeat from run to run, so a test that passes once passes every time."""
    tinyconv.utils.set_random_seed(1234)
    yield


@pytest.fixture(autouse=True)
def numpy_print_options_restored():
    """A script run in-process may set NumPy's print options for itself (the course-kernels example
    prints with 3 decimals); put them back so that no later test (a doctest) sees them."""
    saved = np.get_printoptions()
    yield
    np.set_printoptions(**saved)


@pytest.fixture
def fresh_names():
    """Restart automatic layer names (conv2d, conv2d_1, ...) as Keras's clear_session does."""
    tinyconv.backend.clear_session()
    yield
    tinyconv.backend.clear_session()


@pytest.fixture(params=["cpu", "reference"])
def kernel_set(request):
    """Run a test once with the compiled kernels and once with the NumPy references."""
    with tinyconv.backend.use_kernels(request.param):
        yield request.param
