"""The strict CuPy stand-in (``standin_cupy.py``) is only as good as its two promises, checked here:

* it offers nothing CuPy lacks: every public name of the module, of ``random``, ``linalg``, ``cuda``,
  its ``cupyx`` and ``cupyx.scipy.special``, and every public attribute of its ``ndarray``, is in the
  real CuPy 14.2 namespace (``cupy_names.json``, and the installed ``cupy`` when it imports), so code
  that passes here does not call something a GPU machine does not have;
* it is as strict as CuPy where CuPy refuses (implicit host copies, host arrays in device operations,
  filling from a host array) and it counts what it should (launches, host syncs, uploads), views free.
"""
import json
import os
import types

import numpy as np
import pytest

from . import standin_cupy as standin

NAMES = json.load(open(os.path.join(os.path.dirname(__file__), "cupy_names.json")))["names"]

# The stand-in's own tools, which are not CuPy names: the census and the fused-kernel runner, and its
# ``cupyx`` companion (CuPy's is a separate package; tinyconv finds it with devices.companion_module).
STANDIN_TOOLS = {"Census", "census", "counting", "launch_twin", "VIEW_FUNCTIONS", "HOST_RESULT", "NO_LAUNCH",
                 "cupyx"}
# Names CuPy 14.2 provides through a module ``__getattr__``, so that ``dir()`` (and the dump) miss them:
# cupy/random/__init__.py imports ``Generator`` lazily from cupy.random._generator_api.
LAZY_CUPY_NAMES = {"cupy.random": {"Generator"}}


def public_names(namespace):
    """Public names a namespace offers, without the modules it merely imported (numpy, sys, ...)."""
    found = set()
    for name in dir(namespace):
        if name.startswith("_"):
            continue
        value = getattr(namespace, name)
        if isinstance(value, types.ModuleType) and not value.__name__.startswith("standin_cupy"):
            continue
        found.add(name)
    return found


NAMESPACES = {
    "cupy": lambda: public_names(standin) - STANDIN_TOOLS,
    "cupy.random": lambda: public_names(standin.random),
    "cupy.linalg": lambda: public_names(standin.linalg),
    "cupy.cuda": lambda: public_names(standin.cuda),
    "cupyx": lambda: public_names(standin.cupyx),
    "cupyx.scipy.special": lambda: public_names(standin.cupyx.scipy.special),
    "cupy.ndarray": lambda: {n for n in dir(standin.ndarray) if not n.startswith("_")},
}


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_every_standin_name_is_a_cupy_name(namespace):
    offered = NAMESPACES[namespace]()
    assert offered, namespace
    unknown = sorted(offered - set(NAMES[namespace]) - LAZY_CUPY_NAMES.get(namespace, set()))
    assert unknown == [], f"the stand-in offers names CuPy 14.2's {namespace} lacks: {unknown}"


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_every_standin_name_is_in_the_installed_cupy(namespace):
    cupy = pytest.importorskip("cupy", reason="the installed CuPy is checked where it imports")
    import cupyx
    import cupyx.scipy.special
    live = {"cupy": cupy, "cupy.random": cupy.random, "cupy.linalg": cupy.linalg, "cupy.cuda": cupy.cuda,
            "cupyx": cupyx, "cupyx.scipy.special": cupyx.scipy.special, "cupy.ndarray": cupy.ndarray}[namespace]
    missing = sorted(name for name in NAMESPACES[namespace]() if not hasattr(live, name))
    assert missing == []


def test_the_dump_is_cupy_14():
    assert json.load(open(os.path.join(os.path.dirname(__file__), "cupy_names.json")))["cupy_version"] == "14.2.0"
    assert {"asarray", "asnumpy", "ElementwiseKernel", "RawKernel", "get_array_module"} <= set(NAMES["cupy"])


# --- strict where CuPy is strict ------------------------------------------------------------------------------
def test_a_device_array_is_no_numpy_array_and_never_converts_quietly():
    a = standin.arange(6.0).reshape(2, 3)
    assert not isinstance(a, np.ndarray)
    for convert in (np.asarray, np.array, np.ascontiguousarray, lambda v: np.zeros(3) + np.asarray(v)):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            convert(a)
    np.testing.assert_array_equal(a.get(), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(standin.asnumpy(a), a.get())


def test_host_arrays_cannot_take_part_in_device_operations():
    a = standin.ones((2, 3))
    host = np.ones((2, 3))
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        a + host
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        host * a
    with pytest.raises(TypeError, match="a host array cannot take part in a device operation"):
        np.add(a, host)
    with pytest.raises(TypeError, match="a host array cannot take part in a device operation"):
        standin.concatenate([a, host])
    with pytest.raises(TypeError, match="a host array cannot take part in a device operation"):
        np.where(a > 0, host, a)
    # What CuPy accepts: Python and NumPy scalars, 0-d host arrays, and host index arrays (copied up).
    np.testing.assert_array_equal((a * 2.0 + np.float32(1) + np.array(1.0)).get(), np.full((2, 3), 4.0))
    assert a[np.array([1, 0])].shape == (2, 3)


def test_filling_a_device_array_from_a_host_array_is_refused():
    a = standin.zeros((2, 3))
    with pytest.raises(TypeError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[...] = np.ones((2, 3))
    a[...] = standin.asarray(np.ones((2, 3)))
    a[0] = 5.0
    a[1, 1] = np.float64(7.0)
    np.testing.assert_array_equal(a.get(), [[5, 5, 5], [1, 7, 1]])
    with pytest.raises(TypeError, match="Only numpy.ndarray can be set"):
        a.set([1, 2, 3])


def test_numpy_functions_dispatch_to_the_standin_and_refuse_what_cupy_lacks():
    a = standin.arange(4.0)
    assert isinstance(np.exp(a), standin.ndarray) and isinstance(np.sum(a), standin.ndarray)
    assert isinstance(np.moveaxis(a.reshape(2, 2), 0, 1), standin.ndarray)
    with pytest.raises(TypeError):
        np.apply_along_axis(lambda row: row, 0, a)   # no such function in the stand-in (as in CuPy)
    import scipy.special
    with pytest.raises(TypeError, match="standin_cupy has no ufunc 'erf'"):
        scipy.special.erf(a)   # CuPy's is cupyx.scipy.special.erf
    assert isinstance(standin.cupyx.scipy.special.erf(a), standin.ndarray)


def test_an_operand_with_its_own_array_ufunc_gets_its_turn_as_with_cupy():
    class Wrapper:
        """Like tinyconv's Variable: NumPy ufuncs on it run on the array inside."""

        def __init__(self, value):
            self.value = value

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            inputs = [i.value if isinstance(i, Wrapper) else i for i in inputs]
            return getattr(ufunc, method)(*inputs, **kwargs)

    a = standin.full(3, 2.0)
    np.testing.assert_array_equal((a * Wrapper(standin.full(3, 3.0))).get(), [6.0, 6.0, 6.0])


# --- counting -----------------------------------------------------------------------------------------------
def test_syncs_are_counted_by_kind():
    a = standin.arange(4.0)
    with standin.counting() as record:
        float(a.sum())
        bool(a[0] == 0)
        int(a.max())
        a.item(1)
        a.get()
        standin.asnumpy(a)
        a.tolist()
        repr(a)
        standin.cuda.get_current_stream().synchronize()
    assert record["sync_kinds"] == {"float": 1, "bool": 1, "int": 1, "item": 1, "get": 2, "tolist": 1,
                                    "repr": 1, "stream.synchronize": 1}
    assert record["syncs"] == 9


def test_views_and_queries_are_free_and_computations_are_launches():
    a = standin.asarray(np.arange(24.0).reshape(2, 3, 4))
    with standin.counting() as record:
        a.reshape(6, 4), a.transpose(2, 0, 1), a.T, a[1:], a[:, 0], np.moveaxis(a, 0, -1), a.shape, a.dtype
        standin.broadcast_to(a[0], (5, 3, 4)), standin.empty((3, 3)), standin.ascontiguousarray(a)
    assert record["launches"] == 0 and record["syncs"] == 0
    with standin.counting() as record:
        b = a + 1
        b.sum(axis=0)
        standin.ascontiguousarray(a.transpose(2, 0, 1))
        a.copy()
        standin.zeros(3)
        a[np.array([0, 1])]
    assert record["launches"] == 6
    assert record["by_op"] == {"add": 1, "sum": 1, "ascontiguousarray": 1, "copy": 1, "zeros": 1, "getitem": 1}
    assert record["uploads"] == 1   # the host index array


def test_uploads_and_fused_kernels_are_counted():
    with standin.counting() as record:
        a = standin.asarray(np.ones(4))
        standin.array([1.0, 2.0])
        standin.asarray(a)   # already on the device: nothing
        out = standin.launch_twin("fused_axpy", lambda x, y: 2.0 * x + y, a, a)
    assert record["uploads"] == 2 and record["launches"] == 1 and record["by_op"] == {"fused_axpy": 1}
    np.testing.assert_array_equal(out.get(), [3.0] * 4)


def test_compiled_kernels_cannot_run_here():
    kernel = standin.ElementwiseKernel("T x", "T y", "y = 2 * x", "double_it")
    with pytest.raises(RuntimeError, match="cannot run the CUDA ElementwiseKernel 'double_it'"):
        kernel(standin.ones(3))
    with pytest.raises(RuntimeError, match="cannot run the CUDA RawKernel 'k'"):
        standin.RawKernel("extern \"C\" __global__ void k() {}", "k")((1,), (1,), ())
