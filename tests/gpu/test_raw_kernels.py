"""The raw CUDA kernels (``tinyconv/kernels/gpu/raw``): their sources compile, their launch wrappers
match their signatures, their array-module twins equal the reference kernels, and each runs as one
launch on the device.

No GPU is needed for the first three: NVRTC (the ``nvidia-cuda-nvrtc-cu12`` wheel) compiles CUDA
to PTX without a device, and the PTX lists every entry point with its parameter types.  The device
tests run on the CuPy stand-in (the twins, one counted launch each) and, under
``TINYCONV_GPU_TESTS=cupy`` on a machine with an NVIDIA GPU, on the compiled kernels themselves.
"""
import ctypes
import ctypes.util
import doctest
import functools
import glob
import os
import re
import types

import numpy as np
import pytest

from tinyconv import activations, losses
from tinyconv.kernels import reference
from tinyconv.kernels import gpu as gpu_kernels
from tinyconv.kernels.gpu import _windows, raw
from tinyconv.kernels.gpu.raw import _cuda, pooling as raw_pooling, softmax_ce, windows as raw_windows
from tinyconv.kernels.gpu.raw import softmax as raw_softmax

from .conftest import REAL_CUPY, to_host

ARCHITECTURES = ("compute_75", "compute_90")  # Turing (the oldest NVRTC 12 keeps) and Hopper
DTYPES = (np.float32, np.float64)


# ----------------------------------------------------------------------------------------------
# NVRTC through ctypes
# ----------------------------------------------------------------------------------------------
def load_nvrtc():
    """libnvrtc from the nvidia-cuda-nvrtc-cu12 wheel, or from the system; None when absent."""
    candidates = []
    try:
        import nvidia.cuda_nvrtc as wheel
        for folder in wheel.__path__:
            candidates += sorted(glob.glob(os.path.join(folder, "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    system = ctypes.util.find_library("nvrtc")
    if system:
        candidates.append(system)
    for path in candidates:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        library.nvrtcGetErrorString.restype = ctypes.c_char_p
        return library
    return None


NVRTC = load_nvrtc()
needs_nvrtc = pytest.mark.skipif(NVRTC is None, reason="NVRTC is not installed: `pip install nvidia-cuda-nvrtc-cu12` "
                                 "lets these tests compile the raw CUDA kernels to PTX without a GPU")


def _check(result, what):
    if result != 0:
        raise RuntimeError(f"{what}: {NVRTC.nvrtcGetErrorString(result).decode()}")


@functools.lru_cache(maxsize=None)
def compile_to_ptx(source, options):
    """(PTX text, compiler log) for ``source`` compiled with ``options``; raises with the log on errors."""
    program = ctypes.c_void_p()
    _check(NVRTC.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"tinyconv_raw.cu", 0, None, None),
           "nvrtcCreateProgram")
    try:
        encoded = (ctypes.c_char_p * len(options))(*(option.encode() for option in options))
        compiled = NVRTC.nvrtcCompileProgram(program, len(options), encoded)
        size = ctypes.c_size_t()
        _check(NVRTC.nvrtcGetProgramLogSize(program, ctypes.byref(size)), "nvrtcGetProgramLogSize")
        log = ctypes.create_string_buffer(size.value)
        _check(NVRTC.nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog")
        if compiled != 0:
            raise RuntimeError(f"NVRTC could not compile ({' '.join(options)}):\n{log.value.decode()}")
        _check(NVRTC.nvrtcGetPTXSize(program, ctypes.byref(size)), "nvrtcGetPTXSize")
        ptx = ctypes.create_string_buffer(size.value)
        _check(NVRTC.nvrtcGetPTX(program, ptx), "nvrtcGetPTX")
        return ptx.value.decode(), log.value.decode()
    finally:
        NVRTC.nvrtcDestroyProgram(ctypes.byref(program))


def ptx_for(family, dtype, architecture="compute_75"):
    return compile_to_ptx(family.SOURCE, _cuda.compile_options(dtype) + (f"--gpu-architecture={architecture}",))


def entry_parameters(ptx):
    """{entry point: [PTX parameter type, ...]} from the ``.visible .entry name(.param .u64 ..., ...)`` lists."""
    entries = {}
    for name, body in re.findall(r"\.visible \.entry (\w+)\((.*?)\)", ptx, flags=re.S):
        entries[name] = re.findall(r"\.param \.(\w+) " + name + r"_param_\d+", body)
    return entries


# ----------------------------------------------------------------------------------------------
# 1. the sources compile, for float32 and float64, with the expected entry points
# ----------------------------------------------------------------------------------------------
@needs_nvrtc
@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("family_name", sorted(raw.FAMILIES))
def test_every_raw_kernel_source_compiles_to_ptx_without_warnings(family_name, dtype, architecture):
    family = raw.FAMILIES[family_name]
    ptx, log = ptx_for(family, dtype, architecture)
    assert log.strip() == "", f"NVRTC warnings for {family_name} ({dtype.__name__}, {architecture}):\n{log}"
    assert sorted(entry_parameters(ptx)) == sorted(family.ENTRY_POINTS)


@needs_nvrtc
@pytest.mark.parametrize("family_name", sorted(raw.FAMILIES))
def test_the_float32_build_computes_in_float32_and_the_float64_build_in_float64(family_name):
    family = raw.FAMILIES[family_name]
    single, _ = ptx_for(family, np.float32)
    double, _ = ptx_for(family, np.float64)
    assert ".f32" in single and not re.search(r"\.f64\b", single)  # no silent promotion to double
    assert re.search(r"\.f64\b", double)


@needs_nvrtc
def test_a_broken_source_is_reported_with_the_compiler_log():
    with pytest.raises(RuntimeError, match="undefined"):
        compile_to_ptx('extern "C" __global__ void k(float* y) { y[0] = undefined_name; }', ())


# ----------------------------------------------------------------------------------------------
# 2. the launch wrappers pass what the kernels declare
# ----------------------------------------------------------------------------------------------
class RecordingCupy(types.SimpleNamespace):
    """Just enough of CuPy for a build_*() function: NumPy allocations, and RawModule functions that
    record their launches instead of running them."""

    def __init__(self):
        super().__init__(empty=np.empty, zeros=np.zeros, ascontiguousarray=np.ascontiguousarray, launches=[])

    def RawModule(self, code, options):  # noqa: N802 - CuPy's name
        recorder = self

        class Module:
            def get_function(self, entry):
                return lambda grid, block, args: recorder.launches.append((entry, options, grid, block, args))
        return Module()


PTX_TYPE_OF = {np.int32: "u32", np.float32: "f32", np.float64: "f64"}


def ptx_type(argument):
    return "u64" if isinstance(argument, np.ndarray) else PTX_TYPE_OF[type(argument)]


def launch_cases(dtype):
    """(family, build, arguments) for every wrapper, on small NumPy arrays."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3)).astype(dtype)
    pads, out = ((1, 0), (2, 1)), (3, 4)
    windows = np.zeros((2, *out, 3, 2, 3), dtype)
    pooled = np.zeros((2, 4, 4, 3), dtype)
    return [
        (raw_windows, raw_windows.build_im2col_2d, (x, pads, (3, 2), (2, 2), (1, 1), out, 0.0)),
        (raw_windows, raw_windows.build_col2im_2d, (windows, (7, 6), (3, 2), (2, 2), pads, (1, 1))),
        (raw_pooling, raw_pooling.build_extreme_pool_2d, (x, (2, 2), (2, 2), ((1, 0), (1, 1)), (4, 4), "argmax")),
        (raw_pooling, raw_pooling.build_avg_pool_2d, (x, (2, 2), (2, 2), ((1, 0), (1, 1)), (4, 4))),
        (raw_pooling, raw_pooling.build_avg_pool_2d_backward, (pooled, (7, 6), (2, 2), (2, 2), ((1, 0), (1, 1)))),
        (raw_pooling, raw_pooling.build_max_pool_backward, (pooled, np.zeros(pooled.shape, np.int64), x.shape)),
        (softmax_ce, softmax_ce.build_softmax_cross_entropy, (x.reshape(-1, 3), np.zeros(28, np.int64), 0.5)),
    ]


@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_every_launch_passes_the_parameters_its_kernel_declares(dtype):
    for family, build, arguments in launch_cases(dtype):
        cupy = RecordingCupy()
        build(cupy)(*arguments)
        assert len(cupy.launches) == 1, build.__name__
        entry, options, grid, block, args = cupy.launches[0]
        assert options == _cuda.compile_options(dtype)
        declared = entry_parameters(ptx_for(family, dtype)[0])[entry]
        assert [ptx_type(a) for a in args] == declared, f"{build.__name__}: arguments do not match {entry}"
        # One thread per element: the grid covers every element, with under one block to spare.
        total = max(int(a) for a in args if isinstance(a, np.int32))
        assert grid[0] * block[0] >= total > (grid[0] - 1) * block[0], build.__name__


def test_nothing_is_launched_for_an_empty_array():
    cupy = RecordingCupy()
    y = raw_pooling.build_avg_pool_2d(cupy)(np.zeros((0, 4, 4, 2), np.float32), (2, 2), (2, 2), ((0, 0), (0, 0)),
                                            (2, 2))
    assert y.shape == (0, 2, 2, 2) and cupy.launches == []


def test_only_float32_and_float64_have_a_build():
    with pytest.raises(TypeError, match="expected float32 or float64, got float16"):
        _cuda.compile_options(np.float16)


# ----------------------------------------------------------------------------------------------
# 3. the twins equal the references (NumPy, no device)
# ----------------------------------------------------------------------------------------------
GEOMETRIES = [  # (input (N, H, W, C), window, strides, dilation, pads)
    ((2, 7, 6, 3), (3, 2), (2, 2), (1, 1), ((1, 0), (2, 1))),
    ((1, 9, 8, 2), (3, 3), (1, 2), (2, 1), ((2, 2), (0, 1))),
    ((3, 5, 5, 4), (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))),
]


def output_size(size, window, stride, dilation, before, after):
    return (size + before + after - dilation * (window - 1) - 1) // stride + 1


def im2col_by_loops(x, pads, window, strides, dilation, fill):
    """windows[s, i, j, p, q, c] = x_pad[s, i*sh + p*dh, j*sw + q*dw, c], cell by cell."""
    x_pad = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill)
    out = [output_size(x.shape[1 + a], window[a], strides[a], dilation[a], *pads[a]) for a in range(2)]
    windows = np.empty((x.shape[0], *out, *window, x.shape[-1]), x.dtype)
    for i in range(out[0]):
        for j in range(out[1]):
            for p in range(window[0]):
                for q in range(window[1]):
                    row, col = i * strides[0] + p * dilation[0], j * strides[1] + q * dilation[1]
                    windows[:, i, j, p, q] = x_pad[:, row, col]
    return windows, tuple(out)


@pytest.mark.parametrize("shape,window,strides,dilation,pads", GEOMETRIES)
def test_the_im2col_twin_gathers_every_window_and_col2im_is_its_adjoint(shape, window, strides, dilation, pads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    expected, out = im2col_by_loops(x, pads, window, strides, dilation, fill=-2.5)
    np.testing.assert_array_equal(_windows.padded_im2col_arrays(x, pads, window, strides, dilation, out, -2.5),
                                  expected)
    # col2im is the adjoint of im2col (with zero padding): <im2col(x), g> == <x, col2im(g)>.
    g = rng.standard_normal(expected.shape)
    patches = _windows.padded_im2col_arrays(x, pads, window, strides, dilation, out)
    back = _windows.col2im_arrays(g, shape[1:3], window, strides, pads, dilation)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(patches, g), np.vdot(x, back), rtol=1e-12)


def pooling_input(rng, shape, dtype):
    """Small integers, so windows hold ties, plus a NaN and a -inf: the first winner must still win."""
    x = rng.integers(-3, 4, shape).astype(dtype)
    x[0, 1, 1, 0], x[-1, 0, 0, -1] = np.nan, -np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("pool,strides,pads", [((2, 2), (2, 2), ((0, 0), (0, 0))),
                                               ((3, 2), (2, 1), ((1, 1), (0, 1))),
                                               ((3, 3), (1, 1), ((2, 1), (1, 2)))])
def test_the_pooling_twins_equal_the_reference_kernels(pool, strides, pads, dtype):
    rng = np.random.default_rng(2)
    x = pooling_input(rng, (2, 7, 6, 3), dtype)
    y_ref, argmax_ref = reference.max_pool2d_forward(x, pool, strides, pads)
    out = y_ref.shape[1:3]
    y, argmax = _windows.extreme_pool_arrays(x, pool, strides, pads, out, "argmax")
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    y_min, argmin = _windows.extreme_pool_arrays(x, pool, strides, pads, out, "argmin")
    y_min_ref, argmin_ref = reference.min_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(y_min, y_min_ref)
    np.testing.assert_array_equal(argmin, argmin_ref)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    np.testing.assert_allclose(raw_pooling.max_pool_backward_arrays(dy, argmax, x.shape),
                               reference.max_pool2d_backward(dy, argmax_ref, x.shape), rtol=1e-6)
    finite = np.nan_to_num(x, nan=0.5, neginf=-7.0)
    np.testing.assert_allclose(_windows.average_pool_arrays(finite, pool, strides, pads, out),
                               reference.avg_pool2d_forward(finite, pool, strides, pads), rtol=1e-6)
    np.testing.assert_allclose(_windows.average_pool_backward_arrays(dy, x.shape[1:3], pool, strides, pads),
                               reference.avg_pool2d_backward(dy, x.shape, pool, strides, pads), rtol=1e-6, atol=1e-7)


def test_the_max_pool_backward_twin_serves_volumes_too():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 4, 3))
    y, argmax = reference.max_pool3d_forward(x, (2, 2, 2), (1, 2, 1), ((0, 1), (1, 0), (0, 0)))
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(raw_pooling.max_pool_backward_arrays(dy, argmax, x.shape),
                               reference.max_pool3d_backward(dy, argmax, x.shape), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_the_softmax_cross_entropy_twin_equals_the_loss(dtype):
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((6, 5)) * 30).astype(dtype)  # large logits: the max shift matters
    labels = rng.integers(0, 5, 6)
    loss, grad = softmax_ce.softmax_cross_entropy_arrays(logits, labels, 1 / 6)
    objective = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, objective(labels, logits), rtol=tol, atol=tol)
    mean = losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(grad, mean.logits_gradient(labels, logits), rtol=tol, atol=tol)
    assert loss.dtype == grad.dtype == dtype


@pytest.mark.parametrize("module", [_cuda, raw_pooling, softmax_ce], ids=lambda m: m.__name__)
def test_the_docstring_examples_run(module):
    gpu_kernels.use_array_module(np)  # NumPy arrays: fused.run takes the twin
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_a_label_outside_the_classes_selects_no_class():
    logits = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    loss, grad = softmax_ce.softmax_cross_entropy_arrays(logits, np.array([-1, 3]))
    np.testing.assert_array_equal(loss, [0.0, 0.0])
    np.testing.assert_array_equal(grad, np.zeros_like(logits))


def test_softmax_cross_entropy_refuses_bad_arguments():
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"expected labels of shape \(4,\).*got \(4, 1\)"):
        softmax_ce.softmax_cross_entropy(logits, np.zeros((4, 1), np.int64))
    with pytest.raises(TypeError, match="expected integer labels, got float32"):
        softmax_ce.softmax_cross_entropy(logits, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="expected float32 or float64 logits, got int64"):
        softmax_ce.softmax_cross_entropy(np.zeros((4, 3), np.int64), np.zeros(4, np.int64))


# ----------------------------------------------------------------------------------------------
# 4. on the device: one launch each (stand-in), the compiled kernels equal the twins (real CuPy)
# ----------------------------------------------------------------------------------------------
def counted(xp, call):
    """(result, launches): launches counted on the stand-in, None on real CuPy (no census there)."""
    if REAL_CUPY:
        return call(), None
    with xp.counting() as record:
        result = call()
    return result, record["launches"]


def assert_device_close(got, want, dtype):
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(to_host(got), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape,window,strides,dilation,pads", GEOMETRIES)
def test_im2col_and_col2im_are_one_launch_each_on_the_device(device, shape, window, strides, dilation, pads, dtype):
    xp, rng = device, np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    out = tuple(output_size(shape[1 + a], window[a], strides[a], dilation[a], *pads[a]) for a in range(2))
    windows, launches = counted(xp, lambda: _windows.padded_im2col(xp.asarray(x), pads, window, strides, dilation,
                                                                    out, fill=-1.0))
    assert launches in (None, 1)
    assert_device_close(windows, _windows.padded_im2col_arrays(x, pads, window, strides, dilation, out, -1.0), dtype)
    g = rng.standard_normal(windows.shape).astype(dtype)
    dx, launches = counted(xp, lambda: _windows.col2im(xp.asarray(g), shape[1:3], window, strides, pads, dilation))
    assert launches in (None, 1)
    assert_device_close(dx, _windows.col2im_arrays(g, shape[1:3], window, strides, pads, dilation), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("pool,strides,pads", [((2, 2), (2, 2), ((0, 0), (0, 0))), ((3, 2), (2, 1), ((1, 1), (0, 1)))])
def test_pooling_windows_are_one_launch_each_on_the_device(device, pool, strides, pads, dtype):
    xp, rng = device, np.random.default_rng(6)
    x = pooling_input(rng, (2, 7, 6, 3), dtype)
    y_ref, argmax_ref = reference.max_pool2d_forward(x, pool, strides, pads)
    out = y_ref.shape[1:3]
    (y, argmax), launches = counted(xp, lambda: _windows.extreme_pool(xp.asarray(x), pool, strides, pads, out,
                                                                       "argmax"))
    assert launches in (None, 1)
    np.testing.assert_array_equal(to_host(y), y_ref)
    np.testing.assert_array_equal(to_host(argmax), argmax_ref)
    (y_min, argmin), launches = counted(xp, lambda: _windows.extreme_pool(xp.asarray(x), pool, strides, pads, out,
                                                                           "argmin"))
    assert launches in (None, 1)
    y_min_ref, argmin_ref = reference.min_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(to_host(y_min), y_min_ref)
    np.testing.assert_array_equal(to_host(argmin), argmin_ref)

    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx, launches = counted(xp, lambda: raw_pooling.max_pool_backward(xp.asarray(dy), argmax, x.shape))
    assert launches in (None, 1)
    assert_device_close(dx, reference.max_pool2d_backward(dy, argmax_ref, x.shape), dtype)

    finite = np.nan_to_num(x, nan=0.5, neginf=-7.0)
    y_avg, launches = counted(xp, lambda: _windows.average_pool(xp.asarray(finite), pool, strides, pads, out))
    assert launches in (None, 1)
    assert_device_close(y_avg, reference.avg_pool2d_forward(finite, pool, strides, pads), dtype)
    dx_avg, launches = counted(xp, lambda: _windows.average_pool_backward(xp.asarray(dy), x.shape[1:3], pool, strides,
                                                                          pads))
    assert launches in (None, 1)
    assert_device_close(dx_avg, reference.avg_pool2d_backward(dy, x.shape, pool, strides, pads), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_softmax_cross_entropy_is_one_launch_on_the_device(device, dtype):
    xp, rng = device, np.random.default_rng(7)
    logits = (rng.standard_normal((2, 9, 10)) * 10).astype(dtype)
    labels = rng.integers(0, 10, (2, 9))
    labels[0, 0] = -1
    (loss, grad), launches = counted(xp, lambda: softmax_ce.softmax_cross_entropy(xp.asarray(logits),
                                                                                  xp.asarray(labels), 0.25))
    assert launches in (None, 1)
    want_loss, want_grad = softmax_ce.softmax_cross_entropy_arrays(logits.reshape(-1, 10), labels.reshape(-1), 0.25)
    assert loss.shape == (2, 9) and grad.shape == logits.shape and loss.dtype == grad.dtype == dtype
    assert_device_close(loss, want_loss.reshape(2, 9), dtype)
    assert_device_close(grad, want_grad.reshape(logits.shape), dtype)


@pytest.mark.skipif(REAL_CUPY, reason="shrinks the 32-bit index limit, which only the stand-in may do safely")
def test_arrays_too_large_for_32_bit_indices_take_the_array_module_twin(device, monkeypatch):
    xp, rng = device, np.random.default_rng(8)
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    pads, window, strides, dilation, out = ((1, 1), (1, 1)), (3, 3), (1, 1), (1, 1), (6, 6)
    monkeypatch.setattr(_cuda, "INT32_LIMIT", x.size - 1)
    windows, launches = counted(xp, lambda: _windows.padded_im2col(xp.asarray(x), pads, window, strides, dilation,
                                                                    out))
    assert launches > 1 and "im2col_2d" not in xp.census.launches
    np.testing.assert_array_equal(to_host(windows), im2col_by_loops(x, pads, window, strides, dilation, 0.0)[0])


# ----------------------------------------------------------------------------------------------
# 5. the softmax kernel (tinyconv.activations.softmax on a device array)
# ----------------------------------------------------------------------------------------------
@needs_nvrtc
@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_the_softmax_source_compiles_and_its_launch_passes_what_it_declares(dtype, architecture):
    ptx, log = ptx_for(raw_softmax, dtype, architecture)
    assert log.strip() == "" and sorted(entry_parameters(ptx)) == ["tinyconv_softmax"]
    if dtype == np.float32:
        assert not re.search(r"\.f64\b", ptx)
    cupy = RecordingCupy()
    raw_softmax.build_softmax(cupy)(np.zeros((300, 10), dtype))
    (entry, options, grid, block, args), = cupy.launches
    assert options == _cuda.compile_options(dtype)
    assert [ptx_type(a) for a in args] == entry_parameters(ptx)[entry]
    assert grid[0] * block[0] >= 300 > (grid[0] - 1) * block[0]          # one thread per row


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_softmax_on_the_device_is_one_launch_with_the_cpu_numbers(device, dtype):
    xp, rng = device, np.random.default_rng(9)
    scores = (rng.standard_normal((2, 5, 7)) * 40).astype(dtype)             # large scores: the max shift matters
    want = activations.softmax(scores)
    got, launches = counted(xp, lambda: activations.softmax(xp.asarray(scores)))
    assert launches in (None, 1) and got.dtype == dtype and got.shape == scores.shape
    assert_device_close(got, want, dtype)
    if not REAL_CUPY:   # the twin is the CPU formula itself
        np.testing.assert_array_equal(to_host(got), want)
    other_axis, launches = counted(xp, lambda: activations.softmax(xp.asarray(scores), axis=1))
    assert launches in (None, 5)                                             # not the last axis: the array route
    assert_device_close(other_axis, activations.softmax(scores, axis=1), dtype)


def test_softmax_refuses_what_it_cannot_normalise():
    with pytest.raises(TypeError, match="softmax: expected float32 or float64 scores, got int64"):
        raw_softmax.softmax(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"softmax: expected scores with a non-empty last axis .*got shape \(2, 0\)"):
        raw_softmax.softmax(np.zeros((2, 0), np.float32))
    gpu_kernels.use_array_module(np)
    result = doctest.testmod(raw_softmax, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
