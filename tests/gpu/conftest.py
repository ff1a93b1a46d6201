"""The GPU test fixtures: ``device`` runs a test on the GPU backend with the strict CuPy stand-in
(``standin_cupy.py``) on any machine, or on real CuPy when ``TINYCONV_GPU_TESTS=cupy`` is set
(``make gpu-check`` does so on a machine with an NVIDIA GPU)."""
import os

os.environ.setdefault("CUPY_TF32", "0")  # TF32 off for the 1e-4 comparisons on real CuPy (read once, at import)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinyconv import backend  # noqa: E402

from . import standin_cupy  # noqa: E402

REAL_CUPY = os.environ.get("TINYCONV_GPU_TESTS", "").strip().lower() == "cupy"


def device_array_module():
    """The array module the device tests run on: real CuPy under ``make gpu-check``, else the stand-in."""
    if REAL_CUPY:
        import cupy
        return cupy
    return standin_cupy


@pytest.fixture
def device(fresh_names):
    """The GPU device selected (stand-in or real CuPy) for the test, the CPU restored after it."""
    xp = device_array_module()
    backend.set_device("gpu", array_module=xp)
    try:
        yield xp
    finally:
        backend.set_device("cpu")


def to_host(array):
    """A device array as NumPy (``.get()``); host values unchanged."""
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)
