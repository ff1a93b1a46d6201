"""The GPU backend on a real GPU (CuPy): kernels equal the reference to 1e-4 relative with TF32 off,
the raw CUDA kernels compile and load, models move between devices keeping their weights, predict
returns NumPy, a training step makes no host synchronisation.  Skipped without CuPy and a GPU
(``make gpu-check`` runs them; the rest of tests/gpu runs there on CuPy too)."""
import os

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import backend, devices, dispatch
from tinyconv.kernels import gpu, reference
from tinyconv.kernels.gpu import raw
from tinyconv.kernels.gpu.raw import _cuda

pytestmark = pytest.mark.skipif(not devices.gpu_available(), reason="needs CuPy and an NVIDIA GPU")

RTOL = 1e-4


@pytest.fixture
def on_gpu(fresh_names):
    backend.set_device("gpu")
    yield __import__("cupy")
    backend.set_device("cpu")
    gpu.use_array_module(np)


def assert_close(device_array, host_array):
    assert devices.is_device_array(device_array)
    np.testing.assert_allclose(devices.to_host(device_array), host_array, rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("strides,pads,dilation,groups", [
    ((1, 1), ((1, 1), (1, 1)), (1, 1), 1), ((2, 2), ((0, 1), (0, 1)), (1, 1), 1),
    ((1, 2), ((2, 2), (1, 0)), (2, 1), 2)])
def test_conv2d_on_the_gpu_matches_the_reference(on_gpu, strides, pads, dilation, groups):
    cupy, rng = on_gpu, np.random.default_rng(0)
    x = rng.standard_normal((4, 11, 10, 6), dtype=np.float32)
    kernel = rng.standard_normal((3, 3, 6 // groups, 8), dtype=np.float32)
    bias = rng.standard_normal(8, dtype=np.float32)
    y = gpu.conv2d_forward(cupy.asarray(x), cupy.asarray(kernel), cupy.asarray(bias), strides, pads, dilation,
                           groups)
    assert_close(y, reference.conv2d_forward(x, kernel, bias, strides, pads, dilation, groups))
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    for got, want in zip(gpu.conv2d_backward(cupy.asarray(dy), cupy.asarray(x), cupy.asarray(kernel), strides,
                                             pads, dilation, groups),
                         reference.conv2d_backward(dy, x, kernel, strides, pads, dilation, groups)):
        assert_close(got, want)


def test_pooling_and_batch_norm_on_the_gpu_match_the_reference(on_gpu):
    cupy, rng = on_gpu, np.random.default_rng(1)
    x = rng.standard_normal((3, 9, 8, 5), dtype=np.float32)
    pads = ((1, 1), (0, 1))
    y, argmax = gpu.max_pool2d_forward(cupy.asarray(x), (3, 2), (2, 2), pads)
    y_ref, argmax_ref = reference.max_pool2d_forward(x, (3, 2), (2, 2), pads)
    assert_close(y, y_ref)
    np.testing.assert_array_equal(devices.to_host(argmax), argmax_ref)
    dy = rng.standard_normal(y_ref.shape, dtype=np.float32)
    assert_close(gpu.max_pool2d_backward(cupy.asarray(dy), argmax, x.shape),
                 reference.max_pool2d_backward(dy, argmax_ref, x.shape))
    assert_close(gpu.avg_pool2d_forward(cupy.asarray(x), (3, 2), (2, 2), pads),
                 reference.avg_pool2d_forward(x, (3, 2), (2, 2), pads))
    assert_close(gpu.avg_pool2d_backward(cupy.asarray(dy), x.shape, (3, 2), (2, 2), pads),
                 reference.avg_pool2d_backward(dy, x.shape, (3, 2), (2, 2), pads))
    gamma, beta = rng.standard_normal(5, dtype=np.float32), rng.standard_normal(5, dtype=np.float32)
    for got, want in zip(gpu.batch_norm_forward_train(cupy.asarray(x), cupy.asarray(gamma), cupy.asarray(beta), 1e-3),
                         reference.batch_norm_forward_train(x, gamma, beta, 1e-3)):
        assert_close(got, want)


def test_tf32_is_off_for_the_comparisons():
    # CuPy reads CUPY_TF32 once: with TF32 on, float32 products keep 10 mantissa bits and 1e-4 fails.
    assert os.environ.get("CUPY_TF32", "0") == "0", "run the GPU tests with CUPY_TF32=0 (make gpu-check does)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("family_name", sorted(raw.FAMILIES))
def test_every_raw_kernel_compiles_and_loads_on_the_device(on_gpu, family_name, dtype):
    family = raw.FAMILIES[family_name]
    compiled = _cuda.KernelFamily(on_gpu, family.SOURCE)
    for entry in family.ENTRY_POINTS:
        assert compiled.function(entry, dtype) is not None, entry


def test_set_device_selects_the_gpu_kernels(on_gpu):
    assert backend.get_device() == "gpu" and dispatch.active_kernels() == "gpu"
    assert devices.array_module() is on_gpu


def test_mixing_numpy_and_cupy_is_a_clear_error(on_gpu):
    x = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(TypeError, match="cannot mix a host array"):
        gpu.conv2d_forward(x, on_gpu.zeros((3, 3, 1, 2), np.float32), None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)


def build_lenet():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_training_on_the_gpu_matches_the_cpu_and_moves_back(fresh_names):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((32, 12, 12, 1)).astype(np.float32), rng.integers(0, 10, 32)
    cpu_model = build_lenet()
    cpu_history = cpu_model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    gpu_model = build_lenet().to_device("gpu")
    try:
        assert all(devices.is_device_array(w) for w in gpu_model.weights)
        gpu_history = gpu_model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)  # NumPy in
        np.testing.assert_allclose(gpu_history.history["loss"], cpu_history.history["loss"], rtol=RTOL)
        prediction = gpu_model.predict(x, verbose=0)
        assert isinstance(prediction, np.ndarray)
        np.testing.assert_allclose(prediction, cpu_model.predict(x, verbose=0), rtol=1e-3, atol=1e-5)
        trained = gpu_model.get_weights()
        assert all(isinstance(w, np.ndarray) for w in trained)
    finally:
        gpu_model.to_device("cpu")
        gpu.use_array_module(np)
    assert backend.get_device() == "cpu"
    for got, want in zip(gpu_model.get_weights(), trained):
        np.testing.assert_array_equal(got, want)
    assert all(isinstance(state["param"], np.ndarray) for state in gpu_model.optimizer._state.values())
    gpu_model.fit(x, y, epochs=1, verbose=0)  # keeps training on the CPU with its moved Adam state


def test_a_training_step_makes_no_host_synchronisation(fresh_names):
    """Two fits of 2 and 6 steps declare the same number of CuPy synchronisations (``.get()``,
    ``bool()``, ``float()``, ``synchronize()``...): the end-of-epoch loss read, none per step."""
    from cupy._core import syncdetect
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((48, 12, 12, 1)).astype(np.float32), rng.integers(0, 10, 48)
    model = build_lenet().to_device("gpu")
    declared, original = [], syncdetect._declare_synchronize

    def counting():
        declared.append(1)
        original()

    try:
        model.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0, shuffle=False)  # compile first
        counts = []
        for steps in (2, 6):
            declared.clear()
            syncdetect._declare_synchronize = counting
            try:
                model.fit(x[:8 * steps], y[:8 * steps], batch_size=8, epochs=1, verbose=0, shuffle=False)
            finally:
                syncdetect._declare_synchronize = original
            counts.append(len(declared))
    finally:
        model.to_device("cpu")
        gpu.use_array_module(np)
    assert counts[0] == counts[1], f"host syncs grow with the steps: {counts} for 2 and 6 steps"
