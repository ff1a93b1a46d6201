"""The GPU backend's CPU-checkable parts: device selection errors, array-type mixing (with the strict CuPy
stand-in), a user's NumPy layer refused on the GPU, and a LeNet training step through the GPU kernel set
(with xp = numpy) equal to one through the CPU kernels."""
import subprocess
import sys

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import backend, devices, dispatch
from tinyconv.kernels import gpu

from .conftest import to_host

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


def test_mixing_host_and_device_arrays_names_both_types_and_the_op(device):
    x = np.zeros((1, 4, 4, 1), np.float32)
    kernel = device.zeros((3, 3, 1, 2), np.float32)
    module = type(kernel).__module__
    with pytest.raises(TypeError, match=rf"gpu conv2d_forward: cannot mix a host array \(numpy.ndarray\) with a "
                                        rf"GPU array \({module}.ndarray\)"):
        gpu.conv2d_forward(x, kernel, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(TypeError, match="Dense 'dense_x'"):
        devices.check_same_device([x, kernel], "Dense 'dense_x'")


def test_gpu_kernels_refuse_arrays_of_another_module(device):
    name = device.__name__
    with pytest.raises(TypeError, match=rf"expected x as a {name}.ndarray .* got numpy.ndarray"):
        gpu.avg_pool2d_forward(np.zeros((1, 4, 4, 1), np.float32), (2, 2), (2, 2), ((0, 0), (0, 0)))
    with pytest.raises(TypeError, match=rf"expected x as a {name}.ndarray .* got numpy.ndarray"):
        gpu.lrn_forward(np.zeros((1, 2, 2, 3), np.float32), 5, 1.0, 1e-4, 0.75)


def test_device_arrays_are_recognised_without_importing_cupy(device):
    a = device.zeros(3)
    assert devices.is_device_array(a) and not devices.is_numpy(a)
    assert devices.array_module_of(a) is device and devices.array_module_of(np.zeros(3)) is np
    assert devices.companion_module(device, "cupyx").scatter_add is not None
    copy = devices.host_copy(a)
    assert isinstance(copy, np.ndarray) and np.array_equal(copy, np.zeros(3))
    assert devices.place(np.ones(2)).__class__ is type(a)   # the GPU is active: a host input is copied up
    target = device.zeros(2)
    devices.assign(target, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(to_host(target), [1.0, 2.0])
    host = np.zeros(2)
    devices.assign(host, target)
    np.testing.assert_array_equal(host, [1.0, 2.0])


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
    gpu.use_array_module(np)   # the GPU kernel set computing with NumPy arrays
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


class HostOnlyScale(keras.layers.Layer):
    """A user's layer with its own forward/backward written with NumPy: tinyconv cannot know it runs on
    the GPU, so it is refused there with a clear error (unless the class says runs_on_gpu = True)."""

    def forward(self, x, training=False):
        return np.multiply(x, 2.0)

    def backward(self, dy, need_input_gradient=True):
        return np.multiply(dy, 2.0)


def test_a_users_forward_backward_layer_is_refused_on_the_gpu_unless_it_says_it_runs_there(device):
    model = keras.Sequential([keras.Input((3,)), HostOnlyScale(), keras.layers.Dense(2)])
    assert not model.layers[0].runs_on_gpu and model.layers[1].runs_on_gpu
    x = np.ones((2, 3), np.float32)
    with pytest.raises(NotImplementedError, match=r"HostOnlyScale 'host_only_scale.*' has its own forward/backward"
                                                  r".*set runs_on_gpu = True on the class"):
        model.predict(x, verbose=0)
    model.layers[0].runs_on_gpu = True   # its maths (np.multiply) follow the array module of x
    np.testing.assert_array_equal(model.predict(x, verbose=0).shape, (2, 2))
    backend.set_device("cpu")
    assert HostOnlyScale().runs_on_gpu is False   # the declaration was the layer's, not the class's
