"""Batch normalisation's raw CUDA reductions (``tinyconv/kernels/gpu/raw/batch_norm.py``) and the layer's
training step built on them.

1. The CUDA source compiles with NVRTC (no GPU needed) and the launch wrappers pass what it declares.
2. The chunked NumPy twins equal the reference kernels, for any chunking: Chan's combine of per-chunk
   means and squared deviations gives the two-pass mean and variance.
3. The CUDA source itself, run on the CPU: each thread block's 256 threads as C++ threads meeting at a
   barrier for ``__syncthreads``, the blocks one after another in a shuffled order (so the block that
   finishes last is not always the same) - the kernels' indexing, shared-memory sums and last-block
   combine checked against the twins without a GPU.  Needs a C++20 compiler; skipped without one.
4. On the device (the CuPy stand-in, or real CuPy under gpu-check): a training forward (moving averages
   included) is two launches, a backward two, with the reference's numbers.
"""
import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

from tinyconv import dispatch, layers
from tinyconv.kernels import reference
from tinyconv.kernels.gpu import normalization
from tinyconv.kernels.gpu.raw import _cuda, batch_norm as raw_batch_norm

from .conftest import REAL_CUPY, to_host
from .test_raw_kernels import (ARCHITECTURES, DTYPES, RecordingCupy, entry_parameters, needs_nvrtc, ptx_for,
                               ptx_type)

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}
SUM_TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}


def data(rows, channels, dtype, seed=0, offset=5.0):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((rows, channels)) + offset).astype(dtype)
    dy = rng.standard_normal((rows, channels)).astype(dtype)
    return x, dy


def assert_close(got, want, tolerance, what=""):
    np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=what)


# ----------------------------------------------------------------------------------------------
# 1. NVRTC compiles the source; the wrappers launch what it declares
# ----------------------------------------------------------------------------------------------
@needs_nvrtc
@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_the_source_compiles_without_warnings_and_float32_stays_float32(dtype, architecture):
    ptx, log = ptx_for(raw_batch_norm, dtype, architecture)
    assert log.strip() == ""
    assert sorted(entry_parameters(ptx)) == sorted(raw_batch_norm.ENTRY_POINTS)
    if dtype == np.float32:
        assert ".f32" in ptx and ".f64" not in ptx


def test_the_source_and_the_python_side_agree_on_the_block_and_the_counters():
    assert f"#define TINYCONV_BLOCK {raw_batch_norm.BLOCK}\n" in raw_batch_norm.SOURCE
    assert f"#define TINYCONV_MAX_TILES {raw_batch_norm.MAX_TILES}\n" in raw_batch_norm.SOURCE


@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_every_launch_passes_the_parameters_its_kernel_declares(dtype):
    x, dy = data(1000, 70, dtype)
    mean, inv_std = np.zeros(70, dtype), np.ones(70, dtype)
    tile_width, chunk_rows, tiles, chunks = 32, 64, 3, 16
    cases = [(raw_batch_norm.build_statistics, (x, mean.copy(), inv_std.copy(), 1e-3, 0.9, 0.1, chunk_rows)),
             (raw_batch_norm.build_statistics, (x, None, None, 1e-3, 0.0, 1.0, chunk_rows)),
             (raw_batch_norm.build_gradient_sums, (dy, x, mean, inv_std, chunk_rows))]
    for build, arguments in cases:
        cupy = RecordingCupy()
        build(cupy)(*arguments)
        assert len(cupy.launches) == 1
        entry, options, grid, block, args = cupy.launches[0]
        assert options == _cuda.compile_options(dtype)
        assert [ptx_type(a) for a in args] == entry_parameters(ptx_for(raw_batch_norm, dtype)[0])[entry], entry
        assert grid == (tiles, chunks) and block == (raw_batch_norm.BLOCK,)
        sizes = [int(a) for a in args if isinstance(a, np.int32)]
        assert sizes[:4] == [1000, 70, chunk_rows, tile_width]


def test_the_layout_spreads_large_batches_over_many_blocks_and_keeps_the_combine_short():
    for channels, tile_width in [(1, 1), (3, 4), (16, 16), (33, 32), (64, 32)]:
        assert raw_batch_norm.layout(10, channels)[0] == tile_width
    # ResNet-20 at batch 128: 131072 rows of 16 channels in 512 chunks of 256 rows (1 tile of 16 lanes)
    assert raw_batch_norm.layout(128 * 32 * 32, 16) == (16, 256, 1, 512)
    assert raw_batch_norm.layout(128 * 8 * 8, 64) == (32, 128, 2, 64)
    tile_width, chunk_rows, tiles, chunks = raw_batch_norm.layout(10 ** 8, 8)
    assert chunks <= raw_batch_norm.MAX_CHUNKS and chunks * chunk_rows >= 10 ** 8 > (chunks - 1) * chunk_rows
    assert raw_batch_norm.fits(10, 3) and not raw_batch_norm.fits(0, 3)
    assert not raw_batch_norm.fits(2, 32 * raw_batch_norm.MAX_TILES + 1)


# ----------------------------------------------------------------------------------------------
# 2. the twins equal the reference, whatever the chunks
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("rows,channels,chunk_rows", [(7, 3, 1024), (300, 16, 37), (129, 33, 1), (64, 5, 64)])
def test_the_chunked_twins_equal_the_reference(rows, channels, chunk_rows, dtype):
    x, dy = data(rows, channels, dtype)
    gamma, beta = np.ones(channels, dtype), np.zeros(channels, dtype)
    _, mean, var, inv_std = reference.batch_norm_forward_train(x, gamma, beta, 1e-3)
    got = raw_batch_norm.chunked_statistics(x, None, None, 1e-3, 0.0, 1.0, chunk_rows)
    for value, want, name in zip(got, (mean, var, inv_std), ("mean", "var", "inv_std")):
        assert value.dtype == dtype
        assert_close(value, want, TOLERANCE[dtype], name)
    _, dgamma, dbeta = reference.batch_norm_backward(dy, x, gamma, mean, inv_std)
    sums = raw_batch_norm.chunked_gradient_sums(dy, x, mean, inv_std, chunk_rows)
    for value, want in zip(sums, (dbeta, dgamma)):
        assert_close(value, want, SUM_TOLERANCE[dtype])


def test_the_combine_keeps_the_digits_a_large_mean_would_cancel():
    """Around 1e4 with unit spread, E[x^2] - mean^2 in float32 loses every digit of the variance; the
    squared deviations of the chunks do not."""
    rng = np.random.default_rng(1)
    x = (10000 + rng.standard_normal((4096, 4))).astype(np.float32)
    exact = x.astype(np.float64).var(axis=0)
    _, var, _ = raw_batch_norm.chunked_statistics(x, None, None, 1e-3, 0.0, 1.0, 100)
    np.testing.assert_allclose(var, exact, rtol=1e-4)
    naive = (x * x).mean(axis=0) - x.mean(axis=0) ** 2
    assert np.abs(naive - exact).max() > 100 * np.abs(var - exact).max()


def test_the_twin_updates_the_moving_statistics_as_the_layer_does():
    x, _ = data(50, 6, np.float32)
    rng = np.random.default_rng(2)
    moving_mean, moving_variance = rng.standard_normal(6).astype(np.float32), rng.random(6).astype(np.float32)
    expected_mean, expected_variance = moving_mean.copy(), moving_variance.copy()
    mean, var, _ = raw_batch_norm.chunked_statistics(x, moving_mean, moving_variance, 1e-3, 0.99, 1 - 0.99, 16)
    expected_mean *= 0.99                     # BatchNormalization's own four lines
    expected_mean += (1 - 0.99) * mean
    expected_variance *= 0.99
    expected_variance += (1 - 0.99) * var
    np.testing.assert_array_equal(moving_mean, expected_mean)
    np.testing.assert_array_equal(moving_variance, expected_variance)


# ----------------------------------------------------------------------------------------------
# 3. the CUDA source run on the CPU, each block's threads as C++ threads
# ----------------------------------------------------------------------------------------------
EMULATION = r"""
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <thread>
#include <utility>
#include <vector>
using std::max; using std::min;
struct dim3 { unsigned x = 1, y = 1, z = 1; };
thread_local dim3 threadIdx, blockIdx;
dim3 gridDim, blockDim;
std::barrier<>* block_barrier;
#define __syncthreads() block_barrier->arrive_and_wait()
#define __global__
#define __device__
#define __shared__ static
#define __threadfence() std::atomic_thread_fence(std::memory_order_seq_cst)
unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
template <class T> T __ldcg(const T* p) { return *p; }

#include "source.cu"

// Every block of the grid, one at a time in a shuffled order; its threads meet at one barrier.
template <class Body> void launch(unsigned tiles, unsigned chunks, unsigned threads, Body body) {
    gridDim.x = tiles; gridDim.y = chunks; blockDim.x = threads;
    std::vector<std::pair<unsigned, unsigned>> order;
    for (unsigned y = 0; y < chunks; ++y) for (unsigned x = 0; x < tiles; ++x) order.push_back({x, y});
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[(i * 2654435761u) % i]);
    std::barrier<> barrier(threads);
    block_barrier = &barrier;
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            threadIdx.x = t;
            for (auto [x, y] : order) {
                blockIdx.x = x; blockIdx.y = y;
                body();
                barrier.arrive_and_wait();          // the next block starts when this one is done
            }
        });
    for (auto& worker : workers) worker.join();
}

extern "C" void statistics(const scalar_t* x, scalar_t* chunk_mean, scalar_t* chunk_m2, scalar_t* mean,
        scalar_t* var, scalar_t* inv_std, scalar_t* moving_mean, scalar_t* moving_variance, int rows,
        int channels, int chunk_rows, int tile_width, scalar_t epsilon, scalar_t momentum, scalar_t rest,
        int update, unsigned tiles, unsigned chunks) {
    launch(tiles, chunks, TINYCONV_BLOCK, [=] {
        tinyconv_batch_norm_statistics(x, chunk_mean, chunk_m2, mean, var, inv_std, moving_mean, moving_variance,
                                       rows, channels, chunk_rows, tile_width, epsilon, momentum, rest, update); });
}

extern "C" void gradient_sums(const scalar_t* dy, const scalar_t* x, const scalar_t* mean, const scalar_t* inv_std,
        scalar_t* chunk_dbeta, scalar_t* chunk_dgamma, scalar_t* dbeta, scalar_t* dgamma, int rows, int channels,
        int chunk_rows, int tile_width, unsigned tiles, unsigned chunks) {
    launch(tiles, chunks, TINYCONV_BLOCK, [=] {
        tinyconv_batch_norm_gradient_sums(dy, x, mean, inv_std, chunk_dbeta, chunk_dgamma, dbeta, dgamma, rows,
                                          channels, chunk_rows, tile_width); });
}

extern "C" unsigned ticket(int tile) { return tinyconv_batch_norm_tickets[tile]; }
"""

C_TYPES = {np.float32: ("float", ctypes.c_float), np.float64: ("double", ctypes.c_double)}


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    """{dtype: the CUDA source compiled for the CPU as a shared library}; skips without a C++20 compiler."""
    compiler = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler to run the CUDA source on the CPU")
    folder = tmp_path_factory.mktemp("batch_norm_emulation")
    (folder / "source.cu").write_text(raw_batch_norm.SOURCE)
    (folder / "emulation.cpp").write_text(EMULATION)
    libraries = {}
    for dtype, (c_name, _) in C_TYPES.items():
        target = folder / f"emulation_{c_name}.so"
        result = subprocess.run([compiler, "-std=c++20", "-O1", "-shared", "-fPIC", f"-Dscalar_t={c_name}",
                                 str(folder / "emulation.cpp"), "-o", str(target), "-lpthread"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            if "barrier" in result.stderr and "No such file" in result.stderr:
                pytest.skip("the C++ compiler has no C++20 <barrier> to run the CUDA source on the CPU")
            raise AssertionError(f"the emulation did not compile:\n{result.stderr}")
        libraries[dtype] = ctypes.CDLL(str(target))
    return libraries


def pointer(array):
    return array.ctypes.data_as(ctypes.c_void_p)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("rows,channels,chunk_rows", [(7, 3, None), (300, 16, 37), (129, 33, 10), (600, 70, 64)])
def test_the_cuda_source_run_on_the_cpu_equals_the_twins(emulated, rows, channels, chunk_rows, dtype):
    library, scalar = emulated[dtype], C_TYPES[dtype][1]
    x, dy = data(rows, channels, dtype, seed=rows)
    tile_width, default_rows, tiles, _ = raw_batch_norm.layout(rows, channels)
    chunk_rows = chunk_rows or default_rows
    chunks = -(-rows // chunk_rows)
    rng = np.random.default_rng(3)
    moving = [rng.standard_normal(channels).astype(dtype), rng.random(channels).astype(dtype)]
    twin_moving = [a.copy() for a in moving]
    want = raw_batch_norm.chunked_statistics(x, *twin_moving, 1e-3, 0.9, 1 - 0.9, chunk_rows)
    for launch in range(2):   # the second launch finds its ticket counters back at 0
        got = [np.empty(channels, dtype) for _ in range(3)]
        partials = [np.empty((chunks, channels), dtype) for _ in range(2)]
        update = launch == 0
        library.statistics(pointer(x), *map(pointer, partials), *map(pointer, got), *map(pointer, moving), rows,
                           channels, chunk_rows, tile_width, scalar(1e-3), scalar(0.9), scalar(1 - 0.9), int(update),
                           tiles, chunks)
        for value, expected, name in zip(got, want, ("mean", "var", "inv_std")):
            assert_close(value, expected, TOLERANCE[dtype], name)
        assert all(library.ticket(tile) == 0 for tile in range(tiles))
        if update:
            for value, expected in zip(moving, twin_moving):
                assert_close(value, expected, TOLERANCE[dtype], "moving statistics")
    mean, _, inv_std = want
    sums = [np.empty(channels, dtype) for _ in range(2)]
    partials = [np.empty((chunks, channels), dtype) for _ in range(2)]
    library.gradient_sums(pointer(dy), pointer(x), pointer(mean), pointer(inv_std), *map(pointer, partials),
                          *map(pointer, sums), rows, channels, chunk_rows, tile_width, tiles, chunks)
    for value, expected in zip(sums, raw_batch_norm.chunked_gradient_sums(dy, x, mean, inv_std, chunk_rows)):
        assert_close(value, expected, SUM_TOLERANCE[dtype])
    assert all(library.ticket(tile) == 0 for tile in range(tiles))


# ----------------------------------------------------------------------------------------------
# 4. on the device: two launches forward, two backward
# ----------------------------------------------------------------------------------------------
def counted(xp, call):
    if REAL_CUPY:
        return call(), None
    with xp.counting() as record:
        result = call()
    return result, record["launches"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 6, 5, 3), (4, 16, 16, 16), (3, 70)])
def test_a_training_step_is_four_launches_with_the_reference_numbers(device, shape, dtype):
    xp, rng = device, np.random.default_rng(4)
    x = (2 * rng.standard_normal(shape) + 1).astype(dtype)
    c = shape[-1]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    moving_mean, moving_variance = rng.standard_normal(c).astype(dtype), rng.random(c).astype(dtype)
    on_device = [xp.asarray(a) for a in (x, gamma, beta)]
    moving = [xp.asarray(moving_mean), xp.asarray(moving_variance)]
    result, launches = counted(xp, lambda: normalization.batch_norm_forward_train_and_update(
        *on_device, 1e-3, *moving, 0.9))
    assert launches in (None, 2)
    want = reference.batch_norm_forward_train(x, gamma, beta, 1e-3)
    for got, expected in zip(result, want):
        assert got.dtype == dtype
        assert_close(to_host(got), expected, SUM_TOLERANCE[dtype])
    reference.batch_norm_update_moving_statistics(moving_mean, moving_variance, want[1], want[2], 0.9)
    assert_close(to_host(moving[0]), moving_mean, SUM_TOLERANCE[dtype])
    assert_close(to_host(moving[1]), moving_variance, SUM_TOLERANCE[dtype])

    _, plain_launches = counted(xp, lambda: normalization.batch_norm_forward_train(*on_device, 1e-3))
    assert plain_launches in (None, 2)
    dy = rng.standard_normal(shape).astype(dtype)
    _, mean, _, inv_std = want
    gradients, launches = counted(xp, lambda: normalization.batch_norm_backward(
        xp.asarray(dy), on_device[0], on_device[1], xp.asarray(mean), xp.asarray(inv_std)))
    assert launches in (None, 2)
    for got, expected in zip(gradients, reference.batch_norm_backward(dy, x, gamma, mean, inv_std)):
        assert got.dtype == dtype
        assert_close(to_host(got), expected, SUM_TOLERANCE[dtype])


@pytest.mark.skipif(REAL_CUPY, reason="shrinks the 32-bit index limit, which only the stand-in may do safely")
def test_arrays_too_large_for_the_raw_kernels_take_the_array_route_with_the_same_numbers(device, monkeypatch):
    xp, rng = device, np.random.default_rng(5)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    gamma, beta = np.ones(4, np.float32), np.zeros(4, np.float32)
    moving = [xp.zeros(4, np.float32), xp.ones(4, np.float32)]
    monkeypatch.setattr(_cuda, "INT32_LIMIT", x.size - 1)
    result, launches = counted(xp, lambda: normalization.batch_norm_forward_train_and_update(
        xp.asarray(x), xp.asarray(gamma), xp.asarray(beta), 1e-3, *moving, 0.5))
    assert launches == 6 and "batch_norm_statistics" not in xp.census.launches
    want = reference.batch_norm_forward_train(x, gamma, beta, 1e-3)
    for got, expected in zip(result, want):
        assert_close(to_host(got), expected, 1e-5)
    assert_close(to_host(moving[0]), 0.5 * want[1], 1e-6)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    gradients, launches = counted(xp, lambda: normalization.batch_norm_backward(
        xp.asarray(dy), xp.asarray(x), xp.asarray(gamma), result[1], result[3]))
    assert launches == 3
    for got, expected in zip(gradients, reference.batch_norm_backward(dy, x, gamma, want[1], want[3])):
        assert_close(to_host(got), expected, 1e-4)


def test_moving_statistics_in_another_dtype_take_a_launch_of_their_own(device):
    xp, rng = device, np.random.default_rng(6)
    x = rng.standard_normal((30, 3)).astype(np.float32)
    moving = [xp.zeros(3, np.float64), xp.ones(3, np.float64)]
    ones, zeros = xp.asarray(np.ones(3, np.float32)), xp.asarray(np.zeros(3, np.float32))
    (_, mean, var, _), launches = counted(xp, lambda: normalization.batch_norm_forward_train_and_update(
        xp.asarray(x), ones, zeros, 1e-3, *moving, 0.5))
    assert launches in (None, 3)
    np.testing.assert_allclose(to_host(moving[0]), 0.5 * to_host(mean).astype(np.float64), rtol=1e-7)
    np.testing.assert_allclose(to_host(moving[1]), 0.5 + 0.5 * to_host(var).astype(np.float64), rtol=1e-7)


def test_bad_moving_statistics_are_refused_by_name(device):
    xp = device
    x, vector = xp.asarray(np.ones((4, 3), np.float32)), xp.asarray(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"batch_norm_forward_train_and_update: expected moving_variance of shape "
                                         r"\(3,\).*got \(2,\)"):
        normalization.batch_norm_forward_train_and_update(x, vector, vector, 1e-3, vector,
                                                          xp.asarray(np.ones(2, np.float32)), 0.9)
    with pytest.raises(TypeError, match="expected moving_mean of dtype float32 or float64, got int64"):
        normalization.batch_norm_forward_train_and_update(x, vector, vector, 1e-3, xp.zeros(3, np.int64), vector,
                                                          0.9)
    with pytest.raises(TypeError, match="cannot mix a host array"):
        normalization.batch_norm_forward_train_and_update(x, vector, vector, 1e-3, np.ones(3, np.float32), vector,
                                                          0.9)


def test_the_layer_gets_the_same_moving_statistics_on_every_kernel_set(fresh_names):
    """dispatch.batch_norm_forward_train with the moving statistics: one GPU call, the two calls elsewhere."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4, 4, 5)).astype(np.float32)
    results, previous = {}, dispatch.active_kernels()
    for kernels in ("reference", "gpu"):
        dispatch.set_kernels(kernels, **({"array_module": np} if kernels == "gpu" else {}))
        try:
            layer = layers.BatchNormalization(momentum=0.8)
            y = layer(x, training=True)
            results[kernels] = (y, layer.moving_mean.copy(), layer.moving_variance.copy())
        finally:
            dispatch.set_kernels(previous)
    for got, want in zip(results["gpu"], results["reference"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(results["gpu"][1], 0.0)   # the moving mean did move
