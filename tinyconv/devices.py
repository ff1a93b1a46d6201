"""Where arrays live: the CPU (NumPy) or an NVIDIA GPU (CuPy).

CuPy copies NumPy's interface, so most of tinyconv's maths runs unchanged on either library
once it is handed the right *array module* ``xp``:

    xp = array_module()          # numpy on the CPU device, cupy on the GPU device
    y = xp.zeros((n, k))         # created where the model's weights are

Moving data is explicit: ``to_device(a)`` copies a NumPy array to the active device,
``to_host(a)`` brings any array back as NumPy (``a.get()`` for CuPy).  A NumPy array and a
CuPy array can never be combined in one operation (the data sit in different memories);
``check_same_device`` turns that into an error naming both types and the operation.

CuPy is optional: without it (or without a CUDA device) only the CPU device exists, and
asking for the GPU raises a RuntimeError that says what is missing.

This module only places arrays; it imports nothing else of tinyconv (a leaf of the package).
Switching the device, kernels included, is ``tinyconv.backend.set_device``.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any, Protocol, TypeAlias, TypeGuard

import numpy as np
import numpy.typing as npt

# An array where tinyconv computes: a NumPy ndarray, or a CuPy ndarray on the GPU device.  CuPy ships no
# type information, so to a type checker the GPU half is Any.
DeviceArray: TypeAlias = npt.NDArray[Any] | Any

DEVICES = ("cpu", "gpu")
INSTALL_HINT = ("pip install '.[gpu]' from a clone of tinyconv (CuPy for CUDA 12), on a machine with an NVIDIA GPU "
                "and its driver")

_device = "cpu"
_cupy: Any = None  # the cupy module once the GPU device has been selected successfully
# Names of the device array libraries known here: CuPy, and any module with CuPy's interface that was
# selected in its place (the test suite's strict stand-in for CuPy, ``tests/gpu/standin_cupy.py``).
_device_libraries = {"cupy"}


def find_cupy() -> ModuleType:
    """Import CuPy and check a CUDA device is visible; return the module or raise RuntimeError.

    The message names what is missing: the cupy package, or a usable CUDA device.
    """
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as error:
        raise RuntimeError(f"tinyconv: the GPU backend needs CuPy and an NVIDIA GPU: {INSTALL_HINT}. "
                           f"Missing: the cupy package ({error}).") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDA driver absent or broken: CuPy raises its own runtime errors
        raise RuntimeError(f"tinyconv: the GPU backend needs CuPy and an NVIDIA GPU: {INSTALL_HINT}. "
                           f"Missing: a CUDA device (CuPy could not query one: {error}).") from None
    if count < 1:
        raise RuntimeError(f"tinyconv: the GPU backend needs CuPy and an NVIDIA GPU: {INSTALL_HINT}. "
                           "Missing: a CUDA device (CuPy sees none).")
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        find_cupy()
        return True
    except RuntimeError:
        return False


def select(name: str, cupy: ModuleType | None = None) -> None:
    """Record where new arrays go: ``'cpu'``, or ``'gpu'`` with the CuPy module ``find_cupy`` returned.

    Only placement: which kernels run is the dispatch's business, and
    ``tinyconv.backend.set_device`` changes both together (use that one).
    """
    global _device, _cupy
    if name not in DEVICES:
        raise ValueError(f"tinyconv: unknown device {name!r}; choose one of {list(DEVICES)}")
    if name == "gpu":
        if cupy is None:
            raise ValueError("tinyconv: devices.select('gpu') needs the CuPy module (from find_cupy())")
        _cupy = cupy
        _device_libraries.add(cupy.__name__.split(".")[0])
    _device = name


def get_device() -> str:
    """The active device: 'cpu' or 'gpu'."""
    return _device


def array_module() -> ModuleType:
    """The array library of the active device: numpy, or cupy on the GPU."""
    return _cupy if _device == "gpu" else np


def is_numpy(array: object) -> TypeGuard[npt.NDArray[Any]]:
    """True for a NumPy array (in host memory)."""
    return isinstance(array, np.ndarray)


# (TypeGuard[Any]: a CuPy array, which has no type information.)
def is_device_array(array: object) -> TypeGuard[Any]:
    """True for an array that lives on the GPU (a CuPy ndarray), without importing CuPy."""
    return type(array).__module__.split(".")[0] in _device_libraries


def array_module_of(array: object) -> ModuleType:
    """numpy or cupy, whichever ``array`` belongs to (numpy for lists and numbers)."""
    if is_device_array(array):
        return importlib.import_module(type(array).__module__.split(".")[0])
    return np


def companion_module(array_module: ModuleType, name: str = "cupyx") -> ModuleType | None:
    """CuPy's companion package for ``array_module`` (``cupyx``, ``cupyx.scipy.special``), or None
    on NumPy.  Found by the naming rule "cupy" -> "cupyx", so a stand-in for CuPy brings its own."""
    if array_module is np:
        return None
    full = array_module.__name__.replace("cupy", "cupyx", 1) + name[len("cupyx"):]
    return sys.modules.get(full) or importlib.import_module(full)


def scatter_add(target: DeviceArray, indices: Any, values: npt.ArrayLike | DeviceArray) -> DeviceArray:
    """``target[indices] += values`` in place, adding every contribution where an index repeats
    (the backward of a gather): ``np.add.at`` on the host, ``cupyx.scatter_add`` on the GPU."""
    module = array_module_of(target)
    if module is np:
        np.add.at(target, indices, values)
    else:
        companion: Any = companion_module(module)  # cupyx (a module, on the GPU)
        companion.scatter_add(target, indices, values)
    return target


def asarray(array: npt.ArrayLike | DeviceArray, dtype: npt.DTypeLike | None = None) -> DeviceArray:
    """Like ``np.asarray`` but a GPU array stays on the GPU (np.asarray would refuse it)."""
    if is_device_array(array):
        return array if dtype is None or array.dtype == dtype else array.astype(dtype)
    return np.asarray(array, dtype=dtype)


def assign(target: DeviceArray, value: npt.ArrayLike | DeviceArray) -> DeviceArray:
    """``target[...] = value`` in place, wherever ``target`` lives: a host value is copied up to a GPU
    target (CuPy refuses to fill a GPU array from a NumPy array), a GPU value down to a host target."""
    if is_device_array(target):
        if not is_device_array(value):
            value = array_module_of(target).asarray(value)
    elif is_device_array(value):
        value = value.get()
    target[...] = value
    return target


def place(array: npt.ArrayLike | DeviceArray, dtype: npt.DTypeLike | None = None) -> DeviceArray:
    """An input where the computation happens: a GPU array stays where it is; anything else (a NumPy
    array, a list) becomes a NumPy array, copied to the GPU when the GPU is the active device."""
    if is_device_array(array):
        return array if dtype is None or array.dtype == dtype else array.astype(dtype)
    array = np.asarray(array, dtype=dtype)
    return _cupy.asarray(array) if _device == "gpu" else array


def to_device(array: npt.ArrayLike | DeviceArray, dtype: npt.DTypeLike | None = None) -> DeviceArray:
    """``array`` on the active device: unchanged on the CPU device for NumPy arrays, copied to the GPU
    on the GPU device (a GPU array is brought back to the host on the CPU device)."""
    if _device == "cpu":
        return to_host(array) if is_device_array(array) else np.asarray(array, dtype=dtype)
    if is_device_array(array):
        return array if dtype is None or array.dtype == dtype else array.astype(dtype)
    return _cupy.asarray(np.asarray(array, dtype=dtype))


def to_host(array: npt.ArrayLike | DeviceArray) -> npt.NDArray[Any]:
    """``array`` as a NumPy array in host memory (``.get()`` copies a CuPy array back)."""
    if is_device_array(array):
        return array.get()
    return np.asarray(array)


def host_copy(array: npt.ArrayLike | DeviceArray) -> npt.NDArray[Any]:
    """A NumPy copy of ``array`` (``get_weights()`` hands out copies, wherever the weights live)."""
    return array.get() if is_device_array(array) else np.array(array, copy=True)


def check_same_device(arrays: Iterable[Any], where: str) -> None:
    """Refuse a mix of NumPy and GPU arrays in one operation, naming both types and ``where``.

    ``arrays`` may contain None (an absent bias); those are skipped.
    """
    present = [a for a in arrays if a is not None and hasattr(a, "shape")]
    kinds = {is_device_array(a) for a in present}
    if len(kinds) > 1:
        host = next(a for a in present if not is_device_array(a))
        device = next(a for a in present if is_device_array(a))
        raise TypeError(
            f"{where}: cannot mix a host array ({type_name(host)}) with a GPU array ({type_name(device)}); "
            "move the data with tinyconv.devices.to_device(...) / to_host(...), or move the model with "
            "model.to_device('gpu' / 'cpu')"
        )


def type_name(array: object) -> str:
    """``module.Class`` of an array's type, as error messages name it (``numpy.ndarray``)."""
    cls = type(array)
    return f"{cls.__module__}.{cls.__name__}"


class _DescribedLayer(Protocol):
    def describe(self) -> str: ...


def check_layer_runs_here(layer: _DescribedLayer) -> None:
    """On the GPU, refuse a layer that computes with NumPy, with a clear error instead of a confusing
    one deep inside NumPy.  Every layer of tinyconv runs on the GPU, and so does a user's layer written
    with only ``call`` (its ops follow their inputs); a user's layer with its own ``forward`` and
    ``backward`` declares ``runs_on_gpu = True`` once they compute with ``array_module_of(x)``.
    The models call this before each layer's forward."""
    if _device == "gpu" and not getattr(layer, "runs_on_gpu", False):
        raise NotImplementedError(
            f"{layer.describe()} has its own forward/backward, which tinyconv takes to compute with NumPy, so it "
            "cannot run on the GPU backend. Write its maths with xp = tinyconv.devices.array_module_of(x) "
            "(NumPy or CuPy, whichever holds x) and set runs_on_gpu = True on the class, or write it with "
            "call() and tinyconv.ops only; or run it with tinyconv.backend.set_device('cpu')")
