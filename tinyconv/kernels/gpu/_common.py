"""State and helpers shared by the GPU kernels: the array module ``xp`` and cached index tables.

Every kernel in this package is written against ``xp``: CuPy on a GPU, NumPy in the CPU tests
(``use_array_module(numpy)``).  Geometry (which input cell feeds which output cell) is worked out
once on the host in NumPy, cached by its parameters, and copied to ``xp``; the device then only
runs gathers, matrix products and reductions - no atomics, no Python loops over pixels.
"""
import functools

import numpy as np

from ... import devices

_state = {"xp": np}


def use_array_module(module):
    """Run the GPU kernels with ``module`` (cupy, or numpy to test them on the CPU)."""
    if not all(hasattr(module, name) for name in ("ndarray", "matmul", "asarray", "zeros")):
        raise TypeError(f"use_array_module: expected an array module such as numpy or cupy, got {module!r}")
    _state["xp"] = module
    _cached_table.cache_clear()


def xp():
    """The array module the kernels use now."""
    return _state["xp"]


def check_arrays(where, **arrays):
    """Every array must belong to the kernels' array module and be float32/float64.

    A NumPy array reaching the CuPy kernels (or the reverse) is the usual mistake after moving a
    model but not its data: the message names both types and the kernel.
    """
    module = xp()
    devices.check_same_device(list(arrays.values()), where)
    for name, array in arrays.items():
        if array is None:
            continue
        if not isinstance(array, module.ndarray):
            raise TypeError(f"{where}: expected {name} as a {module.__name__}.ndarray (the GPU kernels run on "
                            f"{module.__name__}), got {devices.type_name(array)}; move it with "
                            "tinyconv.devices.to_device(...)")
        if array.dtype not in (np.float32, np.float64):
            raise TypeError(f"{where}: expected {name} of dtype float32 or float64, got {array.dtype}")


def shape_proxy(array):
    """A host array with ``array``'s shape and dtype that allocates nothing (all strides 0).

    Lets the GPU kernels reuse the reference kernels' argument checks, which inspect only shapes
    and dtypes, without copying device data to the host.
    """
    if array is None:
        return None
    return np.broadcast_to(np.zeros((), dtype=array.dtype), array.shape)


def column_sums(rows):
    """rows.sum(axis=0) of an (M, C) matrix as one product ``ones(M) @ rows`` (cuBLAS on a GPU).

    The per-channel sums of a backward pass (bias, batch norm) reduce many rows into few columns: CuPy's
    reduction gives such a sum only one or two thread blocks, a matrix-vector product spreads it over
    the whole GPU.  The ones vector is made once per (M, dtype) and cached.
    """
    return device_table(_ones, rows.shape[0], rows.dtype.str) @ rows


def column_means(rows):
    """rows.mean(axis=0) of an (M, C) matrix as one product ``full(M, 1/M) @ rows`` (see ``column_sums``)."""
    return device_table(_reciprocals, rows.shape[0], rows.dtype.str) @ rows


def _ones(m, dtype):
    return np.ones(m, dtype=np.dtype(dtype))


def _reciprocals(m, dtype):
    return np.full(m, 1.0 / m, dtype=np.dtype(dtype))


def device_table(builder, *key):
    """``builder(*key)`` (a host NumPy index table), copied to ``xp`` once per distinct key and GPU
    (an array lives on one device: a table made on GPU 0 cannot serve a kernel running on GPU 1)."""
    return _cached_table(builder, key, _device_id())


def _device_id():
    """The current CUDA device of the kernels' array module (None on NumPy)."""
    cuda = getattr(xp(), "cuda", None)
    return cuda.get_device_id() if cuda is not None and hasattr(cuda, "get_device_id") else None


@functools.lru_cache(maxsize=256)
def _cached_table(builder, key, device_id):
    del device_id  # (part of the cache key only)
    return xp().asarray(builder(*key))


def receivers(in_size, out_size, kernel, stride, dilation, offset):
    """For each input position, which (output index, kernel offset) pairs read it.

    Output cell ``o`` with kernel offset ``k`` reads input position ``o*stride + k*dilation - offset``
    (``offset`` is the padding before).  Returns two (in_size, T) int64 tables, ``out_index`` and
    ``tap``, padded with ``out_index = out_size`` (a sentinel pointing at an appended zero) where an
    input position has fewer than T readers.  T <= kernel.

    These tables turn the scatter of a backward pass (every output adds into the inputs it read,
    several outputs into one input) into a gather: each input *collects* from its readers, so no two
    threads ever write the same cell and no atomics are needed (Chainer's col2im does the same).
    """
    readers = [[] for _ in range(in_size)]
    for o in range(out_size):
        for k in range(kernel):
            position = o * stride + k * dilation - offset
            if 0 <= position < in_size:
                readers[position].append((o, k))
    width = max(1, max(len(r) for r in readers))
    out_index = np.full((in_size, width), out_size, dtype=np.int64)
    tap = np.zeros((in_size, width), dtype=np.int64)
    for position, pairs in enumerate(readers):
        for t, (o, k) in enumerate(pairs):
            out_index[position, t] = o
            tap[position, t] = k
    return out_index, tap
