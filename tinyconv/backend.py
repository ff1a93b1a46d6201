"""``keras.backend``-style settings: float type, image layout, fuzz factor, sessions.

Arrays live on the CPU as NumPy arrays, or on an NVIDIA GPU as CuPy arrays after
``set_device("gpu")`` (or ``TINYCONV_DEVICE=gpu`` in the environment); see ``tinyconv.devices``.
"""
from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
import numpy.typing as npt

from . import devices, dispatch, graph, naming

if TYPE_CHECKING:
    from .optimizers import Optimizer

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


def floatx() -> str:
    """The default float type of weights and activations ('float32').

    Example:

    >>> tinyconv.backend.floatx()
    'float32'
    """
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type of new weights and activations.

    Args:
        value: 'float32' or 'float64'.

    Raises:
        ValueError: for any other value.

    Example:

    >>> tinyconv.backend.set_floatx("float64")
    >>> tinyconv.backend.cast_to_floatx([1, 2]).dtype
    dtype('float64')
    >>> tinyconv.backend.set_floatx("float32")
    """
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"floatx must be 'float32' or 'float64', got {value!r}")
    _FLOATX = value


def epsilon() -> float:
    """The fuzz factor Keras adds to avoid dividing by zero (1e-7 by default).

    Example:

    >>> tinyconv.backend.epsilon()
    1e-07
    """
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Set the value ``epsilon()`` returns.

    Args:
        value: a small positive number.

    Example:

    >>> tinyconv.backend.set_epsilon(1e-5); tinyconv.backend.epsilon()
    1e-05
    >>> tinyconv.backend.set_epsilon(1e-7)
    """
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    """The default image layout of new layers: 'channels_last' (NHWC) or 'channels_first' (NCHW).

    Example:

    >>> tinyconv.backend.image_data_format()
    'channels_last'
    """
    return _IMAGE_DATA_FORMAT


def set_image_data_format(value: str) -> None:
    """Set the default image layout (``data_format``) of layers created afterwards.

    Args:
        value: 'channels_last' or 'channels_first'.

    Raises:
        ValueError: for any other value.

    Example:

    >>> tinyconv.backend.set_image_data_format("channels_first")
    >>> tinyconv.backend.image_data_format()
    'channels_first'
    >>> tinyconv.backend.set_image_data_format("channels_last")
    """
    global _IMAGE_DATA_FORMAT
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"image data format must be 'channels_last' or 'channels_first', got {value!r}")
    _IMAGE_DATA_FORMAT = value


def clear_session() -> None:
    """Restart automatic names from ``conv2d``, ``dense`` ... as Keras does.

    Example:

    >>> tinyconv.backend.clear_session()
    >>> layers.Dense(2).name
    'dense'
    """
    naming.reset()


def standardize_dtype(dtype: npt.DTypeLike | None) -> str:
    """A dtype's canonical name; None means ``floatx()``.

    Args:
        dtype: a name, a NumPy dtype or type, or None.

    Example:

    >>> tinyconv.backend.standardize_dtype(np.float64), tinyconv.backend.standardize_dtype(None)
    ('float64', 'float32')
    """
    return np.dtype(dtype if dtype is not None else _FLOATX).name


# --- Keras 2 ``K.*`` helpers -----------------------------------------------------------------------------------

def backend() -> str:
    """The name of the array library underneath: tinyconv computes with NumPy.

    Example:

    >>> tinyconv.backend.backend()
    'numpy'
    """
    return "numpy"


def is_keras_tensor(x: object) -> bool:
    """True for the symbolic tensors that ``Input`` and layer calls return (not for concrete arrays).

    Args:
        x: anything.

    Example:

    >>> tinyconv.backend.is_keras_tensor(tinyconv.Input((4,))), tinyconv.backend.is_keras_tensor(np.zeros(4))
    (True, False)
    """
    return isinstance(x, graph.SymbolicTensor)


def int_shape(x: Any) -> tuple[int | None, ...]:
    """The shape as a tuple of ints, None for an unknown size (the batch axis of an ``Input``).

    Args:
        x: an array, a symbolic tensor, or anything ``np.shape`` accepts.

    Example:

    >>> tinyconv.backend.int_shape(tinyconv.Input((28, 28, 1)))
    (None, 28, 28, 1)
    """
    if hasattr(x, "shape"):
        return tuple(None if size is None else int(size) for size in x.shape)
    return tuple(int(size) for size in np.shape(x))


def shape(x: Any) -> tuple[int | None, ...]:
    """The shape of ``x`` (a tuple, as ``keras.ops.shape`` returns).

    Args:
        x: an array or a symbolic tensor.

    Example:

    >>> tinyconv.backend.shape(np.zeros((2, 3)))
    (2, 3)
    """
    return int_shape(x)


def ndim(x: Any) -> int:
    """The number of axes of ``x``.

    Args:
        x: an array or a symbolic tensor.

    Example:

    >>> tinyconv.backend.ndim(tinyconv.Input((28, 28, 1)))
    4
    """
    return len(int_shape(x))


def cast_to_floatx(x: npt.ArrayLike) -> npt.NDArray[np.floating[Any]]:
    """``x`` as a NumPy array of the default float type (``floatx()``).

    Args:
        x: an array or anything ``np.asarray`` accepts.

    Example:

    >>> tinyconv.backend.cast_to_floatx([1, 2])
    array([1., 2.], dtype=float32)
    """
    return np.asarray(x, dtype=_FLOATX)


def _is_optimizer(x: object) -> TypeGuard[Optimizer]:
    from .optimizers import Optimizer  # imported here: optimizers may import this module
    return isinstance(x, Optimizer)


def get_value(x: Any) -> Any:
    """The value held by ``x``: a copy of an array, a number as it is, an optimizer's learning rate.

    Args:
        x: an array (a GPU one is copied to the host), a variable (anything with ``numpy()``), a number
            or an optimizer.

    Example:

    >>> tinyconv.backend.get_value(tinyconv.optimizers.SGD(learning_rate=0.1))
    0.1
    """
    if _is_optimizer(x):
        return x.learning_rate
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    if isinstance(x, np.ndarray) or devices.is_device_array(x):
        return devices.host_copy(x)   # a NumPy copy, as Keras hands back, wherever the array lives
    return x


def set_value(x: Any, value: Any) -> None:
    """Overwrite the value held by ``x`` in place.

    ``x`` may be an array (weights, NumPy or on the GPU), an object with ``assign`` (a variable), or an
    optimizer, whose learning rate is set: Keras 2's ``K.set_value(model.optimizer.lr, 1e-4)`` is spelled
    ``K.set_value(model.optimizer, 1e-4)`` or ``model.optimizer.learning_rate = 1e-4`` here.
    A plain Python number is immutable, so there is nothing to change and a TypeError says so.

    Args:
        x: an array (NumPy, or CuPy on the GPU), a variable, or an optimizer.
        value: the new value (an array's shape, or a single number to fill it with).

    Raises:
        ValueError: if an array's new value has another shape.
        TypeError: if ``x`` cannot be changed in place (a number).

    Example:

    >>> w = np.zeros(3, dtype="float32")
    >>> tinyconv.backend.set_value(w, [1, 2, 3]); w
    array([1., 2., 3.], dtype=float32)
    >>> optimizer = tinyconv.optimizers.SGD(learning_rate=0.1)
    >>> tinyconv.backend.set_value(optimizer, 0.05); optimizer.learning_rate
    0.05
    """
    if _is_optimizer(x):
        x.learning_rate = float(value)
    elif hasattr(x, "assign"):
        x.assign(value)
    elif isinstance(x, np.ndarray) or devices.is_device_array(x):
        value = value if devices.is_device_array(value) else np.asarray(value)
        if value.shape != x.shape and value.size != 1:
            raise ValueError(f"set_value: the array has shape {x.shape}, the new value shape {value.shape}")
        devices.assign(x, value)   # in place, on x's device (a host value is copied to a GPU array)
    else:
        raise TypeError(f"set_value: cannot change a {type(x).__name__} in place. To change a learning rate, "
                        "pass the optimizer itself: K.set_value(model.optimizer, 1e-4), or assign "
                        "model.optimizer.learning_rate = 1e-4")


# --- device: CPU (NumPy) or GPU (CuPy) ------------------------------------------------------------------------

def set_device(name: str, array_module: ModuleType | None = None) -> None:
    """Compute on ``'cpu'`` (NumPy, the compiled kernels) or ``'gpu'`` (CuPy, ``kernels/gpu``).

    Selecting the GPU without CuPy or without a CUDA device raises RuntimeError and leaves the
    CPU device active.  Selecting the CPU puts the GPU kernel set back on NumPy arrays (how the tests
    run it without a GPU).  Existing models move with ``model.to_device(name)``.

    Args:
        name: 'cpu' or 'gpu'.
        array_module: for 'gpu', a module with CuPy's interface to use instead of CuPy itself
            (the test suite's strict stand-in, ``tests/gpu/standin_cupy.py``); None imports CuPy.

    Raises:
        ValueError: for an unknown device name.
        RuntimeError: for 'gpu' without CuPy or a CUDA device.

    Example:

    >>> tinyconv.backend.set_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: tinyconv: unknown device 'tpu'; choose one of ['cpu', 'gpu']
    """
    if name not in devices.DEVICES:
        raise ValueError(f"tinyconv: unknown device {name!r}; choose one of {list(devices.DEVICES)}")
    if name == "gpu":
        cupy = devices.find_cupy() if array_module is None else array_module  # raises before anything changes
        dispatch.set_kernels("gpu", array_module=cupy)
        devices.select("gpu", cupy)
        return
    if dispatch.active_kernels() == "gpu":
        dispatch.set_kernels("cpu" if dispatch.compiled_kernels_available() else "reference")
    gpu_kernels = sys.modules.get(dispatch.KERNEL_SETS["gpu"])
    if gpu_kernels is not None:   # back to NumPy, the GPU kernel set's array module while the CPU is the device
        gpu_kernels.use_array_module(np)
    devices.select("cpu")


# The kernel set, for a whole program or a block (see tinyconv.dispatch).
set_kernels = dispatch.set_kernels
use_kernels = dispatch.use_kernels
active_kernels = dispatch.active_kernels


def get_device() -> str:
    """The active device: 'cpu' or 'gpu'.

    Example:

    >>> tinyconv.backend.get_device() in ("cpu", "gpu")   # 'cpu' unless set_device("gpu") ran
    True
    """
    return devices.get_device()


def _device_from_environment() -> None:
    """Honour ``TINYCONV_DEVICE=gpu`` at import; a missing GPU warns (importing must not fail)."""
    wanted = os.environ.get("TINYCONV_DEVICE", "").strip().lower()
    if wanted in ("", "cpu"):
        return
    try:
        set_device(wanted)
    except (RuntimeError, ValueError) as error:
        warnings.warn(f"TINYCONV_DEVICE={wanted!r} ignored, computing on the CPU: {error}", RuntimeWarning,
                      stacklevel=2)


_device_from_environment()
