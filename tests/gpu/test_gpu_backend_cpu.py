"""The GPU backend's CPU-checkable parts: device selection errors, array-type mixing, and a LeNet
training step through the GPU kernel set (with xp = numpy) equal to one through the CPU kernels."""
import subprocess
import sys
import types

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import backend, devices, dispatch
from tinyconv.kernels import gpu

pytestmark = pytest.mark.skipif(devices.gpu_available(), reason="checks the behaviour without a GPU")


def test_asking_for_the_gpu_without_cupy_is_a_clear_error_and_keeps_the_cpu():
    before = dispatch.active_kernels()
    with pytest.raises(RuntimeError, match=r"needs CuPy and an NVIDIA GPU: pip install '\.\[gpu\]' from a clone"):
        backend.set_device("gpu")
    assert backend.get_device() == "cpu"
    assert dispatch.active_kernels() == before
    assert devices.array_module() is np


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        backend.set_device("tpu")


def test_environment_variable_warns_and_imports_on_the_cpu():
    code = "import tinyconv; print(tinyconv.backend.get_device())"
    result = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True,
                            env={"TINYCONV_DEVICE": "gpu", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cpu"
    assert "TINYCONV_DEVICE='gpu' ignored" in result.stderr and "cupy" in result.stderr


class FakeDeviceArray(np.ndarray):
    """Stands in for a CuPy array: tinyconv recognises device arrays by their module name."""


FakeDeviceArray.__module__ = "cupy.fake"


def test_mixing_host_and_device_arrays_names_both_types_and_the_op():
    x = np.zeros((1, 4, 4, 1), np.float32)
    kernel = np.zeros((3, 3, 1, 2), np.float32).view(FakeDeviceArray)
    with pytest.raises(TypeError, match=r"gpu conv2d_forward: cannot mix a host array \(numpy.ndarray\) with a "
                                        r"GPU array \(cupy.fake.FakeDeviceArray\)"):
        gpu.conv2d_forward(x, kernel, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(TypeError, match="Dense 'dense_x'"):
        devices.check_same_device([x, kernel], "Dense 'dense_x'")


def test_gpu_kernels_refuse_arrays_of_another_module():
    FakeModule = types.ModuleType("fakecupy")  # an array module whose arrays are FakeDeviceArray
    FakeModule.ndarray, FakeModule.matmul, FakeModule.asarray, FakeModule.zeros = (FakeDeviceArray, np.matmul,
                                                                                   np.asarray, np.zeros)
    gpu.use_array_module(FakeModule)
    try:
        with pytest.raises(TypeError, match=r"expected x as a fakecupy.ndarray .* got numpy.ndarray"):
            gpu.avg_pool2d_forward(np.zeros((1, 4, 4, 1), np.float32), (2, 2), (2, 2), ((0, 0), (0, 0)))
        with pytest.raises(TypeError, match=r"expected x as a fakecupy.ndarray .* got numpy.ndarray"):
            gpu.lrn_forward(np.zeros((1, 2, 2, 3), np.float32), 5, 1.0, 1e-4, 0.75)
    finally:
        gpu.use_array_module(np)


def test_host_helpers():
    a = np.arange(3.0)
    assert devices.to_host(a) is a
    assert devices.to_device(a) is a  # the CPU device leaves NumPy arrays alone
    copy = devices.host_copy(a)
    assert copy is not a and np.array_equal(copy, a)


def lenet(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(12, 12, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(6, 3, activation="relu", groups=2),
        keras.layers.AveragePooling2D(2, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.25, seed=seed),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lenet_training_through_the_gpu_kernel_set_matches_the_cpu_kernels(dtype, fresh_names):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 12, 12, 1))
    y = rng.integers(0, 10, 16)
    results = {}
    backend.set_floatx(dtype)
    try:
        for kernels in ("cpu", "gpu"):
            with dispatch.use_kernels(kernels):
                model = lenet(seed=3)
                history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
                results[kernels] = (history.history["loss"], model.get_weights(), model.predict(x, verbose=0))
    finally:
        backend.set_floatx("float32")
    tol = 1e-4 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(results["gpu"][0], results["cpu"][0], rtol=tol)
    for got, want in zip(results["gpu"][1], results["cpu"][1]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(results["gpu"][2], results["cpu"][2], rtol=tol, atol=tol)
    assert results["cpu"][0][-1] < results["cpu"][0][0]


def test_model_to_cpu_keeps_weights_and_optimizer_state(fresh_names):
    model = lenet(seed=1)
    x = np.random.default_rng(1).standard_normal((8, 12, 12, 1))
    model.fit(x, np.arange(8), epochs=1, verbose=0)
    before = model.get_weights()
    state_count = len(model.optimizer._state)
    assert model.to_device("cpu") is model
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    assert len(model.optimizer._state) == state_count
    with pytest.raises(RuntimeError, match="CuPy"):
        model.to_device("gpu")
    assert backend.get_device() == "cpu"


def test_benchmark_script_help_runs_without_a_gpu():
    result = subprocess.run([sys.executable, "benchmarks/gpu_bench.py", "--help"], capture_output=True, text=True,
                            timeout=60, cwd=__file__.rsplit("/tests/", 1)[0])
    assert result.returncode == 0, result.stderr
    assert "TF32" in result.stdout


def test_layers_not_ported_to_the_gpu_say_so(monkeypatch):
    model = keras.Sequential([keras.Input((6, 2)), keras.layers.Conv1D(3, 2), keras.layers.Flatten()])
    x = np.zeros((1, 6, 2), np.float32)
    monkeypatch.setattr(devices, "_device", "gpu")  # pretend: only the check is exercised
    with pytest.raises(NotImplementedError, match="Conv1D 'conv1d.*' is not available on the GPU backend yet"):
        model._run_forward([x], training=False)
    monkeypatch.setattr(devices, "_device", "cpu")
    assert model._run_forward([x], training=False)[0].shape == (1, 15)
