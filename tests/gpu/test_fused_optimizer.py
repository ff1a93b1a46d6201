"""The optimizer on the GPU: a model's weights in one flat buffer per dtype, one fused update per step.

On the CuPy stand-in (or real CuPy under ``TINYCONV_GPU_TESTS=cupy``), for a small model with a
convolution, batch normalization (its moving statistics are not trainable), dense layers and a
frozen layer:

* each optimizer's fused step gives the weights the per-weight CPU optimizer gives, to 1e-6 in
  float32 and 1e-12 in float64, with schedules, clipping, weight decay and constraints;
* the step costs a few launches whatever the number of weights, and no host synchronisation;
* the layers keep seeing their weights (views into the buffer), the optimizer's state stays
  reachable per weight (set_weights, reset, save and load act on the buffers), weights joining or
  leaving training are repacked, and what cannot be fused runs weight by weight, still right.

The kernel sources are checked without a GPU: NVRTC compiles each to PTX, and each CUDA body,
compiled as C++ for the CPU, gives its NumPy twin's numbers.
"""
import ctypes
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

import tinyconv
from tinyconv import backend, constraints, layers, optimizers, schedules
from tinyconv.kernels.gpu import fused_update

from . import standin_cupy
from .conftest import REAL_CUPY, to_host
from .test_raw_kernels import compile_to_ptx, needs_nvrtc

TOLERANCE = {"float32": 1e-6, "float64": 1e-12}
STEPS = 4

CONFIGS = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "clipvalue": 0.3}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"learning_rate": schedules.ExponentialDecay(0.02, decay_steps=2, decay_rate=0.5)}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "clipnorm": 0.5}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.05, "global_clipnorm": 1.0}),
    ("RMSprop", {"learning_rate": 0.01, "decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True, "clipnorm": 1.0}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01, "global_clipnorm": 0.5}),
    ("Adadelta", {"learning_rate": 1.0, "weight_decay": 0.01}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items() if k != 'learning_rate')}" for name, kwargs in CONFIGS]


def small_model(dtype="float32"):
    """Conv + batch norm + a frozen dense layer + a dense layer with a max-norm constraint."""
    tinyconv.utils.set_random_seed(0)
    return tinyconv.Sequential([
        layers.Input(shape=(5, 5, 2)),
        layers.Conv2D(3, 3, padding="same", dtype=dtype, name="conv"),
        layers.BatchNormalization(dtype=dtype, name="norm"),
        layers.Flatten(dtype=dtype),
        layers.Dense(6, dtype=dtype, trainable=False, name="frozen"),
        layers.Dense(4, dtype=dtype, kernel_constraint=constraints.MaxNorm(0.3), name="head"),
    ])


def on_both_devices(xp, build, *args):
    """(the model built on the CPU, the same model built on the GPU device)."""
    backend.set_device("cpu")
    host = build(*args)
    backend.set_device("gpu", array_module=xp)
    return host, build(*args)


def gradients(model, rng, dtype):
    return [rng.normal(scale=2.0, size=w.shape).astype(dtype) for w in model.trainable_weights]


def assert_same_weights(device_model, host_model, tolerance):
    for mine, theirs, weight in zip(device_model.get_weights(), host_model.get_weights(), host_model.weights):
        np.testing.assert_allclose(mine, theirs, rtol=tolerance, atol=tolerance, err_msg=weight.path)


def fused_launches(record):
    return {name: count for name, count in record["by_op"].items() if name.startswith("optimizer_")}


# --------------------------------------------------------------------------------------------------
# 1. the fused step equals the per-weight CPU step
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_the_fused_step_gives_the_weights_of_the_per_weight_cpu_step(device, name, kwargs, dtype):
    host, model = on_both_devices(device, small_model, dtype)
    assert_same_weights(model, host, 0.0)
    before = model.get_weights()
    cpu_optimizer, optimizer = getattr(optimizers, name)(**kwargs), getattr(optimizers, name)(**kwargs)
    optimizer.build(model.trainable_variables, holders=[model])
    rng = np.random.default_rng(1)
    for _ in range(STEPS):
        grads = gradients(host, rng, dtype)
        cpu_optimizer.apply(host.trainable_variables, grads)
        optimizer.apply(model.trainable_variables, [device.asarray(g) for g in grads])
    assert optimizer._flat is not None and optimizer.iterations == STEPS
    assert_same_weights(model, host, TOLERANCE[dtype])
    after = {w.path: to_host(w.value) for w in model.weights}
    for weight, value in zip(model.weights, before):  # moving statistics and the frozen layer are kept
        moved = not np.array_equal(after[weight.path], value)
        assert moved == any(weight is w for w in model.trainable_weights), weight.path
    head = model.get_layer("head")
    assert np.all(np.linalg.norm(after["head/kernel"], axis=0) <= 0.3 + 1e-6)  # projected after the step
    for layer in model.layers:  # the layers' own attributes are the packed views
        for weight in layer.weights:
            assert getattr(layer, weight.name) is weight.value
    position = [w.path for w in model.trainable_weights].index("head/kernel")
    assert head.kernel is optimizer._flat.arrays[position]


def test_a_model_of_two_dtypes_gets_one_buffer_each_and_one_global_norm(device):
    def mixed():
        tinyconv.utils.set_random_seed(3)
        return tinyconv.Sequential([layers.Input(shape=(4,)), layers.Dense(5, name="single"),
                                    layers.Dense(3, dtype="float64", name="double")])

    host, model = on_both_devices(device, mixed)
    cpu_optimizer, optimizer = (optimizers.Adam(0.01, global_clipnorm=0.5) for _ in range(2))
    optimizer.build(model.trainable_variables, holders=[model])
    assert [group.dtype.name for group in optimizer._flat.groups] == ["float32", "float64"]
    rng = np.random.default_rng(2)
    for _ in range(STEPS):
        grads = [rng.normal(scale=3.0, size=w.shape).astype(w.dtype) for w in host.trainable_weights]
        cpu_optimizer.apply(host.trainable_variables, grads)
        optimizer.apply(model.trainable_variables, [device.asarray(g) for g in grads])
    assert_same_weights(model, host, TOLERANCE["float32"])


class PerWeightAdam(optimizers.Adam):
    """Adam's rule as a subclass's own ``_update``: no fused kernel, so always weight by weight."""

    def _update(self, param, grad, state, lr):
        super()._update(param, grad, state, lr)


def test_training_steps_with_the_fused_update_equal_those_with_the_per_weight_update(device):
    x = np.random.default_rng(4).normal(size=(8, 5, 5, 2)).astype("float32")
    y = np.random.default_rng(5).normal(size=(8, 4)).astype("float32")
    models = []
    for fused in (True, False):
        model = small_model()
        model.compile(optimizer=(optimizers.Adam if fused else PerWeightAdam)(0.01, clipnorm=1.0), loss="mse")
        if fused:
            model.optimizer.build(model.trainable_variables, holders=[model])
        for _ in range(3):
            model.train_on_batch(x, y)
        models.append(model)
    fused_model, per_weight_model = models
    assert fused_model.optimizer._flat is not None and per_weight_model.optimizer._flat is None
    assert_same_weights(fused_model, per_weight_model, 1e-6)
    np.testing.assert_allclose(fused_model.predict(x, verbose=0), per_weight_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# 2. a few launches per step, whatever the number of weights; no host sync
# --------------------------------------------------------------------------------------------------
def dense_stack(depth):
    tinyconv.utils.set_random_seed(0)
    return tinyconv.Sequential([layers.Input(shape=(8,))] + [layers.Dense(8) for _ in range(depth)])


def count_one_step(xp, optimizer, model, holders):
    grads = [xp.full(w.shape, 0.5, dtype=w.dtype) for w in model.trainable_weights]
    optimizer.apply(model.trainable_variables, grads, holders=holders)  # packing and slots: once
    with standin_cupy.counting() as record:
        optimizer.apply(model.trainable_variables, grads, holders=holders)
    return record


@pytest.mark.skipif(REAL_CUPY, reason="the census counts the stand-in's launches")
@pytest.mark.parametrize("clip,budget", [({}, 2), ({"clipvalue": 0.1}, 3), ({"clipnorm": 1.0}, 4),
                                         ({"global_clipnorm": 1.0}, 4)], ids=["none", "value", "norm", "global"])
def test_a_step_is_a_few_launches_whatever_the_number_of_weights(device, clip, budget):
    records = {}
    for depth in (1, 12):
        model = dense_stack(depth)
        records[depth] = count_one_step(device, optimizers.Adam(0.01, weight_decay=0.01, **clip), model, [model])
    assert records[1]["launches"] == records[12]["launches"] <= budget  # 2 weights or 24: the same launches
    assert fused_launches(records[12]).get("optimizer_adam") == 1
    assert records[12]["syncs"] == 0 and records[12]["uploads"] == 0


@pytest.mark.skipif(REAL_CUPY, reason="the census counts the stand-in's launches")
def test_weight_by_weight_the_same_step_costs_launches_per_weight(device):
    model = dense_stack(12)
    record = count_one_step(device, optimizers.Adam(0.01), model, None)  # no holders: not packed
    assert not fused_launches(record) and record["launches"] >= 5 * len(model.trainable_weights)


# --------------------------------------------------------------------------------------------------
# 3. the buffers stay consistent with everything that reads or writes weights and state
# --------------------------------------------------------------------------------------------------
def test_weights_that_join_or_leave_training_are_repacked_with_their_state(device):
    host, model = on_both_devices(device, small_model, "float32")
    cpu_optimizer, optimizer = optimizers.Adam(0.01), optimizers.Adam(0.01)
    rng = np.random.default_rng(6)

    def step():
        grads = gradients(host, rng, "float32")
        cpu_optimizer.apply(host.trainable_variables, grads)
        optimizer.apply(model.trainable_variables, [device.asarray(g) for g in grads], holders=[model])
        assert optimizer._flat is not None and optimizer._flat.holds([w.value for w in model.trainable_weights])

    step()
    for m in (host, model):  # a weight joins: the frozen layer is unfrozen
        m.get_layer("frozen").trainable = True
    step()
    step()
    for m in (host, model):  # and some leave
        m.get_layer("conv").trainable = False
    step()
    assert_same_weights(model, host, 1e-6)
    conv = model.get_layer("conv")
    assert conv.kernel is conv.weights[0].value
    assert all(conv.kernel is not array for array in optimizer._flat.arrays)  # an array of its own again
    m_kernel = optimizer._state_for(conv.weights[0])["m"]  # its state went with it
    np.testing.assert_allclose(to_host(m_kernel), cpu_optimizer._state_for(host.get_layer("conv").weights[0])["m"],
                               rtol=1e-6, atol=1e-7)


def test_set_weights_and_reset_act_on_the_flat_buffers(device):
    host, model = on_both_devices(device, small_model, "float32")
    cpu_optimizer, optimizer = optimizers.RMSprop(0.01, momentum=0.5), optimizers.RMSprop(0.01, momentum=0.5)
    optimizer.build(model.trainable_variables, holders=[model])
    start = host.get_weights()
    rng = np.random.default_rng(7)
    for round_ in range(2):
        for _ in range(2):
            grads = gradients(host, rng, "float32")
            cpu_optimizer.apply(host.trainable_variables, grads)
            optimizer.apply(model.trainable_variables, [device.asarray(g) for g in grads])
        assert_same_weights(model, host, 1e-6)
        for m, o in ((host, cpu_optimizer), (model, optimizer)):
            m.set_weights(start)
            o.reset()
    assert_same_weights(model, host, 0.0)
    flat = optimizer._flat
    assert all(array is w.value for array, w in zip(flat.arrays, model.trainable_weights))


def test_each_weights_state_is_a_view_into_the_slot_buffers(device):
    model = small_model()
    optimizer = optimizers.Adam(0.01, amsgrad=True)
    optimizer.build(model.trainable_variables, holders=[model])
    group = optimizer._flat.groups[0]
    kernel = model.get_layer("head").weights[0]
    state = optimizer._state_for(kernel)
    for slot in ("m", "v", "v_hat"):
        state[slot][...] = 2.5  # a write through the per-weight state lands in the flat buffer
        position = next(j for j, view in enumerate(group.views) if view is kernel.value)
        assert state[slot] is group.slot_views[slot][position]
        assert float(to_host(group.slots[slot]).sum()) == 2.5 * kernel.value.size


def test_save_and_load_carry_the_flat_optimizer_state(device, tmp_path):
    x = np.random.default_rng(8).normal(size=(8, 5, 5, 2)).astype("float32")
    y = np.random.default_rng(9).normal(size=(8, 4)).astype("float32")
    model = small_model()
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    model.optimizer.build(model.trainable_variables, holders=[model])
    for _ in range(2):
        model.train_on_batch(x, y)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = tinyconv.models.load_model(path)
    assert loaded.optimizer.iterations == 2
    loaded.optimizer.build(loaded.trainable_variables, holders=[loaded])  # the loaded slots join the buffers
    for _ in range(2):
        model.train_on_batch(x, y)
        loaded.train_on_batch(x, y)
    assert_same_weights(loaded, model, 1e-6)


# --------------------------------------------------------------------------------------------------
# 4. what is not packed runs weight by weight, and is still right
# --------------------------------------------------------------------------------------------------
class Halving(optimizers.SGD):
    """A user's rule: no fused kernel for it."""

    def _update(self, param, grad, state, lr):
        param *= param.dtype.type(0.5)


@pytest.mark.parametrize("case", ["no holders", "own rule", "layer not reached", "bare arrays"])
def test_what_cannot_be_packed_is_updated_weight_by_weight(device, case):
    host, model = on_both_devices(device, small_model, "float32")
    make = (lambda: Halving(0.1)) if case == "own rule" else (lambda: optimizers.Adam(0.01))
    cpu_optimizer, optimizer = make(), make()
    holders = {"no holders": None, "own rule": [model], "layer not reached": [model.get_layer("conv")],
               "bare arrays": [model]}[case]
    weights = model.trainable_variables
    if case == "bare arrays":
        weights = [w.value for w in weights]
    rng = np.random.default_rng(10)
    for _ in range(2):
        grads = gradients(host, rng, "float32")
        cpu_optimizer.apply(host.trainable_variables, grads)
        optimizer.apply(weights, [device.asarray(g) for g in grads], holders=holders)
    assert optimizer._flat is None
    for mine, theirs, weight in zip(model.get_weights(), host.get_weights(), host.weights):
        if case == "bare arrays" and weight.path == "head/kernel":
            continue  # a bare array carries no constraint; the CPU side projects its variable
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6, err_msg=weight.path)


def test_back_on_the_cpu_the_device_buffers_are_let_go(device):
    model = small_model()
    optimizer = optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(model.trainable_variables, holders=[model])
    assert optimizer._flat is not None
    backend.set_device("cpu")
    host_weights = [to_host(w.value) for w in model.trainable_weights]
    optimizer.apply(host_weights, [np.ones_like(w) for w in host_weights])
    assert optimizer._flat is None


# --------------------------------------------------------------------------------------------------
# 5. the kernel sources, without a GPU
# --------------------------------------------------------------------------------------------------
UPDATE_SOURCES = [s for s in fused_update.ELEMENTWISE_SOURCES if not s.name.startswith("optimizer_clip")]


@needs_nvrtc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_elementwise_kernel_compiles_with_nvrtc(dtype):
    for source in fused_update.ELEMENTWISE_SOURCES:
        ptx, log = compile_to_ptx(fused_update.cuda_translation_unit(source, dtype),
                                  fused_update.COMPILE_OPTIONS + ("--gpu-architecture=compute_75",))
        assert log.strip() == "", f"{source.name}: {log}"
        assert f".entry {source.name}(" in ptx
        if dtype == "float32" and source in UPDATE_SOURCES:  # no silent promotion to double
            assert not re.search(r"\.f64\b", ptx), source.name


@needs_nvrtc
def test_the_segment_norm_kernel_compiles_with_nvrtc():
    ptx, log = compile_to_ptx(fused_update.SEGMENT_SUM_OF_SQUARES,
                              fused_update.COMPILE_OPTIONS + ("--gpu-architecture=compute_75",))
    assert log.strip() == ""
    for dtype in ("float32", "float64"):
        assert f".entry optimizer_segment_sum_of_squares_{dtype}(" in ptx


COMPILER = shutil.which("g++") or shutil.which("c++")


@pytest.fixture(scope="module")
def host_kernels():
    """Every elementwise kernel's CUDA body compiled as C++ for this CPU (no contraction into
    multiply-adds, as on the GPU with --fmad=false): a shared library to call with ctypes."""
    if COMPILER is None:
        pytest.skip("no C++ compiler to run the CUDA bodies on the CPU")
    folder = tempfile.mkdtemp(prefix="tinyconv_fused_")
    source = os.path.join(folder, "kernels.cpp")
    with open(source, "w") as handle:
        for kernel in fused_update.ELEMENTWISE_SOURCES:
            for dtype in ("float32", "float64"):
                handle.write(fused_update.cuda_translation_unit(kernel, dtype, target="host"))
    library = os.path.join(folder, "kernels.so")
    subprocess.run([COMPILER, "-O2", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", source, "-o", library],
                   check=True, capture_output=True)
    yield ctypes.CDLL(library)
    shutil.rmtree(folder, ignore_errors=True)


def kernel_arguments(source, dtype, rng, n=50):
    """Plausible arrays and scalars for ``source``: slots positive, a centered mean small."""
    arrays, scalars = {}, {}
    for declaration in (source.in_params + "," + source.out_params).split(","):
        words = declaration.split()
        type_name, name = words[-2], words[-1]
        if name in source.scalars:
            scalars[name] = 1e-7 if name == "epsilon" else float(rng.uniform(0.05, 0.9))
        elif name == "sum_of_squares":
            arrays[name] = rng.uniform(1.0, 4.0, size=3)  # norms above any clipnorm drawn here
        elif name == "segment":
            arrays[name] = rng.integers(0, 3, size=n).astype(np.int32)
        elif name == "g":
            arrays[name] = rng.normal(size=n).astype(dtype)
        else:
            arrays[name] = rng.uniform(0.0, 0.1 if name == "a" else 1.0, size=n).astype(dtype)
    if "sum_of_squares" in arrays and "segment" not in arrays:
        arrays["sum_of_squares"] = arrays["sum_of_squares"][:1]
    return arrays, scalars


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("source", fused_update.ELEMENTWISE_SOURCES, ids=lambda s: s.name)
def test_each_cuda_body_run_on_the_cpu_gives_its_twins_numbers(host_kernels, source, dtype):
    arrays, scalars = kernel_arguments(source, dtype, np.random.default_rng(11))
    original = {name: array.copy() for name, array in arrays.items()}
    twin_arrays = {name: array.copy() for name, array in arrays.items()}
    fused_update.TWINS[source.name](*twin_arrays.values(), **scalars)
    c_scalar = {"float32": ctypes.c_float, "float64": ctypes.c_double}[dtype]
    arguments = [ctypes.c_longlong(len(arrays["g"]))]
    for declaration in (source.in_params + "," + source.out_params).split(","):
        type_name, name = declaration.split()[-2:]
        if name in source.scalars:
            arguments.append((c_scalar if type_name == "T" else ctypes.c_double)(scalars[name]))
        else:
            arguments.append(ctypes.c_void_p(arrays[name].ctypes.data))
    getattr(host_kernels, f"{source.name}_{dtype}")(*arguments)
    for name in arrays:
        np.testing.assert_array_equal(arrays[name], twin_arrays[name], err_msg=f"{source.name}: {name}")
    written = "g" if source.name.startswith("optimizer_clip") else "p"
    assert not np.array_equal(arrays[written], original[written])  # the kernel did something
