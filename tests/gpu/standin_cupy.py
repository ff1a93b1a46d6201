"""A strict stand-in for CuPy, for testing the GPU backend on a machine without a GPU.

It is a NEP-18 duck array (``ndarray`` wraps a NumPy array but is *not* an ``np.ndarray``
subclass), so it fails wherever real CuPy fails on the host/device border:

* ``np.asarray(device_array)`` raises (``__array__`` refuses, as CuPy's does): every place that
  quietly copies a device array to the host is found;
* a NumPy array (other than a 0-d one) mixed into a device operation raises ``TypeError``
  ("Unsupported type <class 'numpy.ndarray'>"), and ``device[...] = numpy_array`` raises;
* NumPy functions on device arrays dispatch here through ``__array_function__`` /
  ``__array_ufunc__``, and only to names this module has - a name CuPy lacks is refused too
  (``tests/gpu/cupy_names.json`` lists the real namespace; a test keeps this module inside it).

It also **counts**, in ``census``: array operations (each one a kernel launch on a GPU; views,
shape queries and allocations without initialisation are free), host synchronisations
(``bool()``, ``float()``, ``int()``, ``.item()``, ``.get()``, ``asnumpy``, printing a device
array, a stream synchronize) and uploads (host -> device copies).

``launch_twin(name, fn, *arrays)`` is how tinyconv's fused and raw CUDA kernels run here: their
NumPy twin runs on the wrapped data and counts as one launch, as the compiled kernel would.

The module registers itself as ``standin_cupy`` (and its ``cupyx`` as ``standin_cupyx``) in
``sys.modules``; tinyconv finds the companion module by that naming rule.
"""
import builtins
import collections
import contextlib
import sys
import types

import numpy as np

__name__ = "standin_cupy"  # noqa: A001 - the name tinyconv sees for this array library

# ---------------------------------------------------------------------------------------------
# The census
# ---------------------------------------------------------------------------------------------


class Census:
    """Counts of array operations (launches), host synchronisations and uploads, by name."""

    def __init__(self):
        self.launches = collections.Counter()
        self.syncs = collections.Counter()
        self.uploads = 0

    def reset(self):
        self.launches.clear()
        self.syncs.clear()
        self.uploads = 0

    @property
    def launch_count(self):
        return builtins.sum(self.launches.values())

    @property
    def sync_count(self):
        return builtins.sum(self.syncs.values())

    def snapshot(self):
        return {"launches": self.launch_count, "syncs": self.sync_count, "uploads": self.uploads,
                "by_op": dict(self.launches), "sync_kinds": dict(self.syncs)}


census = Census()


@contextlib.contextmanager
def counting():
    """``with counting() as record:`` ... then ``record`` holds what ran inside the block."""
    census.reset()
    record = {}
    try:
        yield record
    finally:
        record.update(census.snapshot())


def _launch(name):
    census.launches[name] += 1


def _sync(kind):
    census.syncs[kind] += 1


# ---------------------------------------------------------------------------------------------
# Wrapping and unwrapping
# ---------------------------------------------------------------------------------------------

def _unwrap(value, where):
    """The NumPy data behind ``value``; NumPy arrays are refused as CuPy refuses them."""
    if isinstance(value, ndarray):
        return value._data
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value[()]
        raise TypeError(f"Unsupported type {type(value)!r} (in standin_cupy.{where}: a host array "
                        "cannot take part in a device operation; copy it with cupy.asarray first)")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    return value


def _unwrap_kwargs(kwargs, where):
    return {k: _unwrap(v, where) for k, v in kwargs.items()}


def _wrap(result):
    """Wrap NumPy results as device arrays; reductions give 0-d device arrays, as in CuPy."""
    if isinstance(result, np.ndarray):
        return ndarray._from_host(result)
    if isinstance(result, np.generic):
        return ndarray._from_host(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, list):
        return [_wrap(r) for r in result]
    return result


def _data_of(args):
    found = []
    for a in args:
        if isinstance(a, ndarray):
            found.append(a._data)
        elif isinstance(a, (list, tuple)):
            found.extend(_data_of(a))
    return found


def _is_view(result, inputs):
    """True when ``result`` shares memory with an input (a view: no kernel runs)."""
    arrays = result if isinstance(result, (tuple, list)) else [result]
    arrays = [a for a in arrays if isinstance(a, np.ndarray)]
    return bool(arrays) and builtins.all(builtins.any(np.may_share_memory(a, i) for i in inputs) for a in arrays)


# Functions that may return a view of their input: they cost a launch only when they copy.
VIEW_FUNCTIONS = {"reshape", "transpose", "moveaxis", "swapaxes", "broadcast_to", "squeeze", "expand_dims",
                  "ravel", "atleast_1d", "atleast_2d", "atleast_3d", "split", "array_split", "diagonal",
                  "flip", "broadcast_arrays", "ascontiguousarray", "asarray", "rollaxis"}
# Functions whose result is host metadata, not an array.
HOST_RESULT = {"result_type", "can_cast", "promote_types", "isscalar", "ndim", "shape", "size", "finfo",
               "iinfo", "dtype", "issubdtype", "get_array_module", "common_type", "min_scalar_type"}
# Allocation without initialisation: no kernel.
NO_LAUNCH = {"empty", "empty_like"}


def _function(name, numpy_function=None):
    target = numpy_function if numpy_function is not None else getattr(np, name)

    def device_function(*args, **kwargs):
        inputs = _data_of(list(args) + list(kwargs.values()))
        result = target(*_unwrap(args, name), **_unwrap_kwargs(kwargs, name))
        if name in HOST_RESULT:
            return result
        if name not in NO_LAUNCH and not (name in VIEW_FUNCTIONS and _is_view(result, inputs)):
            _launch(name)
        return _wrap(result)

    device_function.__name__ = name
    device_function.__qualname__ = name
    return device_function


# ---------------------------------------------------------------------------------------------
# The device array
# ---------------------------------------------------------------------------------------------

class ndarray:  # noqa: N801 - CuPy's name
    """A device array: NumPy data behind a wall that only explicit copies cross."""

    __slots__ = ("_data",)
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._data = np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _from_host(cls, data):
        array = cls.__new__(cls)
        array._data = data
        return array

    # host metadata: free
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    itemsize = property(lambda self: self._data.itemsize)
    nbytes = property(lambda self: self._data.nbytes)
    strides = property(lambda self: self._data.strides)
    flags = property(lambda self: self._data.flags)
    T = property(lambda self: self.transpose())

    @property
    def base(self):
        return None if self._data.base is None else ndarray._from_host(self._data.base)

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        for index in range(len(self._data)):
            yield self[index]

    # the wall
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method not in ("__call__", "reduce", "accumulate", "at", "outer"):
            return NotImplemented
        name = ufunc.__name__
        if name not in _UFUNC_NAMES:
            raise TypeError(f"standin_cupy has no ufunc {name!r} (CuPy does not either)")
        if not builtins.all(_ufunc_operand(v) for v in inputs + tuple(kwargs.get("out", None) or ())):
            return NotImplemented  # as CuPy: another operand type (a tinyconv Variable) may handle it
        result = getattr(ufunc, method)(*_unwrap(inputs, name), **_unwrap_kwargs(kwargs, name))
        _launch(name if method == "__call__" else f"{name}.{method}")
        if method == "at":
            return None
        out = kwargs.get("out")
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        name = func.__name__
        module = sys.modules[__name__]
        if func.__module__.startswith("numpy.linalg") or getattr(np.linalg, name, None) is func:
            implementation = getattr(linalg, name, None)
        else:
            implementation = getattr(module, name, None)
        if implementation is None or not callable(implementation):
            return NotImplemented  # NumPy then raises "no implementation found", as with CuPy
        return implementation(*args, **kwargs)

    # host synchronisations
    def get(self, stream=None, order="C", out=None):
        _sync("get")
        return np.array(self._data, copy=True)

    def item(self, *args):
        _sync("item")
        return self._data.item(*args)

    def tolist(self):
        _sync("tolist")
        return self._data.tolist()

    def __bool__(self):
        _sync("bool")
        return bool(self._data)

    def __float__(self):
        _sync("float")
        return float(self._data)

    def __int__(self):
        _sync("int")
        return int(self._data)

    def __index__(self):
        _sync("index")
        return self._data.__index__()

    def __complex__(self):
        _sync("complex")
        return complex(self._data)

    def __repr__(self):
        _sync("repr")
        return repr(self._data).replace("array", "standin_cupy.array", 1)

    def __str__(self):
        _sync("str")
        return str(self._data)

    def __format__(self, spec):
        _sync("format")
        return format(self._data, spec)

    __hash__ = None

    def set(self, array, stream=None):
        """Copy host ``array`` into this device array (CuPy's upload)."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(array)!r}")
        if array.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {array.shape}")
        census.uploads += 1
        self._data[...] = array

    # indexing
    def __getitem__(self, index):
        index = _device_index(index)
        result = self._data[index]
        if not _is_view(result, [self._data]):
            _launch("getitem")
        return _wrap(result)

    def __setitem__(self, index, value):
        if isinstance(value, np.ndarray) and value.ndim > 0:
            raise TypeError("non-scalar numpy.ndarray cannot be used for fill")
        self._data[_device_index(index)] = _unwrap(value, "setitem")
        _launch("setitem")

    # methods
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        _launch("astype")
        return ndarray._from_host(self._data.astype(dtype, order=order))

    def copy(self, order="C"):
        _launch("copy")
        return ndarray._from_host(self._data.copy(order=order))

    def fill(self, value):
        self._data.fill(_unwrap(value, "fill"))
        _launch("fill")

    def view(self, dtype=None):
        return ndarray._from_host(self._data.view() if dtype is None else self._data.view(dtype))

    def __dlpack__(self, stream=None):
        raise TypeError("standin_cupy arrays do not export DLPack")


def _device_index(index):
    """Index arrays may be device arrays or host ones (CuPy copies host index arrays up)."""
    if isinstance(index, tuple):
        return tuple(_device_index(i) for i in index)
    if isinstance(index, ndarray):
        return index._data
    if isinstance(index, np.ndarray) and index.ndim > 0:
        census.uploads += 1
    return index


def _method(name, view_capable=False):
    def method(self, *args, **kwargs):
        result = getattr(self._data, name)(*_unwrap(args, name), **_unwrap_kwargs(kwargs, name))
        if not (view_capable and _is_view(result, [self._data])):
            _launch(name)
        return _wrap(result)

    method.__name__ = name
    return method


for _name in ("reshape", "transpose", "ravel", "squeeze", "swapaxes", "diagonal"):
    setattr(ndarray, _name, _method(_name, view_capable=True))
for _name in ("sum", "mean", "max", "min", "argmax", "argmin", "prod", "std", "var", "any", "all", "cumsum",
              "clip", "dot", "take", "repeat", "flatten", "round", "conj", "nonzero", "argsort", "sort", "trace",
              "cumprod", "ptp", "put", "choose", "compress", "partition", "argpartition"):
    setattr(ndarray, _name, _method(_name))


def _ufunc_operand(value):
    """What CuPy's ufuncs take (device arrays, host arrays - refused later - and scalars); for anything
    else CuPy's ``__array_ufunc__`` answers NotImplemented, so that the other operand's may run."""
    return isinstance(value, (ndarray, np.ndarray, np.generic, int, float, complex, bool))


def _operator(ufunc, reflected=False, inplace=False):
    def operator(self, other):
        if isinstance(other, np.ndarray) and other.ndim > 0:
            raise TypeError(f"Unsupported type {type(other)!r}")
        if not isinstance(other, ndarray) and getattr(type(other), "__array_ufunc__", True) is None:
            return NotImplemented  # CuPy's _should_use_rop: the other operand's reflected operator runs
        if inplace:
            return ufunc(self, other, out=(self,))
        args = (other, self) if reflected else (self, other)
        return ufunc(*args)   # NumPy's dispatch, as CuPy's operators do for a non-CuPy operand
    return operator


for _names, _ufunc in ((("add",), np.add), (("sub",), np.subtract), (("mul",), np.multiply),
                       (("truediv",), np.true_divide), (("floordiv",), np.floor_divide), (("mod",), np.remainder),
                       (("pow",), np.power), (("matmul",), np.matmul), (("and",), np.bitwise_and),
                       (("or",), np.bitwise_or), (("xor",), np.bitwise_xor), (("lshift",), np.left_shift),
                       (("rshift",), np.right_shift)):
    for _n in _names:
        setattr(ndarray, f"__{_n}__", _operator(_ufunc))
        setattr(ndarray, f"__r{_n}__", _operator(_ufunc, reflected=True))
        if _n != "matmul":
            setattr(ndarray, f"__i{_n}__", _operator(_ufunc, inplace=True))
for _n, _ufunc in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                   ("eq", np.equal), ("ne", np.not_equal)):
    setattr(ndarray, f"__{_n}__", _operator(_ufunc))
ndarray.__neg__ = lambda self: self.__array_ufunc__(np.negative, "__call__", self)
ndarray.__pos__ = lambda self: self.__array_ufunc__(np.positive, "__call__", self)
ndarray.__abs__ = lambda self: self.__array_ufunc__(np.absolute, "__call__", self)
ndarray.__invert__ = lambda self: self.__array_ufunc__(np.invert, "__call__", self)
ndarray.__module__ = "standin_cupy"
ndarray.__qualname__ = "ndarray"

# ---------------------------------------------------------------------------------------------
# The module namespace: CuPy's names, backed by NumPy
# ---------------------------------------------------------------------------------------------

_UFUNC_NAMES = {
    "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "power", "remainder", "mod", "fmod",
    "negative", "positive", "absolute", "abs", "sign", "sqrt", "square", "cbrt", "reciprocal", "exp", "exp2",
    "expm1", "log", "log2", "log10", "log1p", "logaddexp", "logaddexp2", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "hypot", "deg2rad", "rad2deg",
    "degrees", "radians", "maximum", "minimum", "fmax", "fmin", "floor", "ceil", "trunc", "rint", "isnan", "isinf",
    "isfinite", "signbit", "copysign", "nextafter", "ldexp", "frexp", "modf", "greater", "greater_equal", "less",
    "less_equal", "equal", "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_not", "invert", "left_shift", "right_shift", "matmul", "conjugate", "conj",
    "float_power", "heaviside", "gcd", "lcm", "divmod", "sinc",
}

_FUNCTION_NAMES = (
    # creation
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "arange", "linspace",
    "logspace", "eye", "identity", "tri", "tril", "triu", "diag", "diagflat", "meshgrid", "indices", "copy",
    # shaping
    "reshape", "transpose", "moveaxis", "swapaxes", "rollaxis", "broadcast_to", "broadcast_arrays", "squeeze",
    "expand_dims", "ravel", "atleast_1d", "atleast_2d", "atleast_3d", "concatenate", "stack", "hstack", "vstack",
    "dstack", "column_stack", "split", "array_split", "hsplit", "vsplit", "tile", "repeat", "flip", "fliplr",
    "flipud", "roll", "rot90", "pad", "diagonal", "ascontiguousarray", "asfortranarray",
    # indexing
    "take", "take_along_axis", "put_along_axis", "where", "select", "choose", "compress", "nonzero", "argwhere",
    "flatnonzero", "searchsorted", "extract", "place", "putmask", "tril_indices", "triu_indices", "diag_indices",
    "unravel_index", "ravel_multi_index", "ix_",
    # maths and reductions
    "sum", "prod", "mean", "std", "var", "max", "min", "amax", "amin", "argmax", "argmin", "nanmax", "nanmin",
    "nansum", "nanmean", "nanprod", "nanargmax", "nanargmin", "cumsum", "cumprod", "nancumsum", "diff", "ptp",
    "median", "nanmedian", "percentile", "quantile", "average", "all", "any", "count_nonzero", "clip", "around",
    "round", "fix", "dot", "vdot", "inner", "outer", "tensordot", "einsum", "kron", "cross", "trace", "convolve",
    "correlate", "interp", "histogram", "bincount", "digitize", "unique", "sort", "argsort", "lexsort", "partition",
    "argpartition", "isclose", "allclose", "array_equal", "nan_to_num", "real", "imag", "angle", "cov", "corrcoef",
    "logical_and", "logical_or", "logical_not", "logical_xor", "isreal", "iscomplex", "trapz", "packbits",
    # host metadata
    "result_type", "can_cast", "promote_types", "isscalar", "ndim", "shape", "size", "finfo", "iinfo", "dtype",
    "issubdtype", "common_type", "min_scalar_type",
)

_namespace = globals()
for _name in _FUNCTION_NAMES:
    if hasattr(np, _name):
        _namespace[_name] = _function(_name)
for _name in _UFUNC_NAMES:
    _namespace[_name] = _function(_name, getattr(np, _name))

for _name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "bool_", "complex64", "complex128", "intp", "newaxis", "pi", "e", "inf", "nan",
              "floating", "integer", "signedinteger", "unsignedinteger", "number", "generic", "complexfloating"):
    _namespace[_name] = getattr(np, _name)
_namespace["dtype"] = np.dtype
_namespace["finfo"] = np.finfo
_namespace["iinfo"] = np.iinfo


def asarray(a, dtype=None, order=None):
    """Device array from anything; a host NumPy array or list is uploaded (counted)."""
    if isinstance(a, ndarray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return a.astype(dtype)
    census.uploads += 1
    return ndarray._from_host(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(obj, ndarray):
        _launch("array")
        return ndarray._from_host(np.array(obj._data, dtype=dtype, copy=True, order=order, ndmin=ndmin))
    census.uploads += 1
    return ndarray._from_host(np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        return asarray(np.ascontiguousarray(a, dtype=dtype))
    result = np.ascontiguousarray(a._data, dtype=dtype)
    if not np.may_share_memory(result, a._data):
        _launch("ascontiguousarray")
    return ndarray._from_host(result)


def asnumpy(a, stream=None, order="C", out=None):
    """Copy a device array to the host (a synchronisation); host values pass through."""
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


def get_array_module(*args):
    return sys.modules[__name__] if builtins.any(isinstance(a, ndarray) for a in args) else np


def launch_twin(name, function, *args, **kwargs):
    """Run a fused/raw kernel's NumPy twin on the device data: counted as one launch.

    ``function`` gets NumPy arrays and writes its outputs in place or returns arrays (wrapped back).
    """
    _launch(name)
    return _wrap(function(*_unwrap(args, name), **_unwrap_kwargs(kwargs, name)))


class ElementwiseKernel:
    """CuPy's elementwise CUDA kernel: the stand-in cannot compile CUDA, so calling one refuses.

    tinyconv runs its fused kernels here through ``launch_twin`` instead (their NumPy twins)."""

    def __init__(self, in_params, out_params, operation, name="kernel", **options):
        self.in_params, self.out_params, self.operation, self.name = in_params, out_params, operation, name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"standin_cupy cannot run the CUDA ElementwiseKernel {self.name!r}; run its NumPy twin "
                           "with launch_twin")


class RawKernel:
    """CuPy's raw CUDA kernel: as ElementwiseKernel, the stand-in keeps the source but cannot run it."""

    def __init__(self, code, name, options=(), backend="nvrtc", **extra):
        self.code, self.name, self.options = code, name, options

    def __call__(self, grid, block, args, **kwargs):
        raise RuntimeError(f"standin_cupy cannot run the CUDA RawKernel {self.name!r}; run its NumPy twin with "
                           "launch_twin")


# random: a device generator backed by NumPy's
class _Generator:
    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def _draw(self, method, *args, **kwargs):
        _launch(f"random.{method}")
        return ndarray._from_host(np.asarray(getattr(self._rng, method)(*args, **kwargs)))

    def random(self, size=None, dtype=np.float64, out=None):
        return self._draw("random", size, dtype=dtype)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._draw("standard_normal", size, dtype=dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self._draw("uniform", low, high, size).astype(dtype) if dtype != np.float64 else \
            self._draw("uniform", low, high, size)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._draw("integers", low, high, size, dtype=dtype, endpoint=endpoint)


class _RandomState(_Generator):
    def rand(self, *shape):
        return self._draw("random", shape)

    def randn(self, *shape):
        return self._draw("standard_normal", shape)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return self._draw("normal", loc, scale, size)

    def seed(self, seed=None):
        self._rng = np.random.default_rng(seed)


random = types.ModuleType("standin_cupy.random")
random.default_rng = _Generator
random.Generator = _Generator
random.RandomState = _RandomState
_global_state = _RandomState(0)
random.seed = _global_state.seed
random.rand = _global_state.rand
random.randn = _global_state.randn
random.random = _global_state.random
random.uniform = _global_state.uniform
random.normal = _global_state.normal

linalg = types.ModuleType("standin_cupy.linalg")
for _name in ("norm", "inv", "solve", "det", "qr", "svd", "cholesky", "eigh", "eigvalsh", "pinv", "slogdet",
              "lstsq", "matrix_power", "matrix_rank", "tensorsolve", "tensorinv"):
    setattr(linalg, _name, _function(_name, getattr(np.linalg, _name)))

# cuda: one device, a stream whose synchronize is a host sync
cuda = types.ModuleType("standin_cupy.cuda")


class _Stream:
    def synchronize(self):
        _sync("stream.synchronize")


class _Device:
    def __init__(self, device=0):
        self.id = int(device)

    def synchronize(self):
        _sync("device.synchronize")

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, getDevice=lambda: 0)
cuda.Device = _Device
cuda.Stream = _Stream
cuda.get_current_stream = _Stream
cuda.get_device_id = lambda: 0

# cupyx: scatter operations and scipy.special
cupyx = types.ModuleType("standin_cupyx")


def _scatter(ufunc):
    def scatter(target, indices, values):
        if not isinstance(target, ndarray):
            raise TypeError(f"scatter: expected a device array, got {type(target)!r}")
        ufunc.at(target._data, _device_index(indices), _unwrap(values, "scatter"))
        _launch(f"scatter_{ufunc.__name__}")
    return scatter


cupyx.scatter_add = _scatter(np.add)
cupyx.scatter_max = _scatter(np.maximum)
cupyx.scatter_min = _scatter(np.minimum)
cupyx.scipy = types.ModuleType("standin_cupyx.scipy")
cupyx.scipy.special = types.ModuleType("standin_cupyx.scipy.special")


def _special(name):
    def function(x, *args):
        import scipy.special  # only for the few ops that call it
        result = getattr(scipy.special, name)(_unwrap(x, name), *_unwrap(args, name))
        _launch(f"special.{name}")
        return _wrap(result)
    return function


for _name in ("erf", "erfc", "erfinv", "erfcinv", "gammaln", "digamma", "i0e", "i1e", "ndtr", "ndtri", "log_ndtr",
              "expit", "logit", "xlogy", "xlog1py", "entr", "gamma", "psi", "zeta", "polygamma", "betaln", "log_softmax",
              "softmax", "logsumexp", "i0", "i1", "sinc"):
    setattr(cupyx.scipy.special, _name, _special(_name))

# Register under the names tinyconv looks up: the array module by its __name__, and its companion
# (CuPy's ``cupyx``) by the rule "cupy" -> "cupyx" in that name.
_module = sys.modules[__spec__.name] if globals().get("__spec__") else None
if _module is not None:
    sys.modules["standin_cupy"] = _module
sys.modules["standin_cupyx"] = cupyx
sys.modules["standin_cupyx.scipy"] = cupyx.scipy
sys.modules["standin_cupyx.scipy.special"] = cupyx.scipy.special
