import os

# Keras (an oracle in the parity tests) must run on its torch backend here.
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinyconv  # noqa: E402


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
