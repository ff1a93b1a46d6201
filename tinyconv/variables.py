"""``Variable``: one named weight of a layer, as Keras's ``keras.Variable``.

A variable owns an array (NumPy, or CuPy on the GPU device) and says whether the optimizer may
change it.  Updates are made *in place* - ``assign``, ``assign_add``, the optimizer's step - so
everything that holds the array (a layer's ``self.kernel``, the optimizer's per-weight state) keeps
seeing the current value.

Arithmetic on a variable (``x @ w + b``) is the matching ``tinyconv.ops`` function (see
``ops/operators.py``): on plain arrays it is plain NumPy, and inside a layer being recorded on a
tape the variable is a leaf whose gradient the tape computes.

This module imports only ``devices`` (it sits below the layers and the ops).
"""
import numpy as np

from . import devices

_PROBING = [False]  # set by ``shape_probe()``: a call run only to learn output shapes changes no variable


class shape_probe:
    """Inside ``with shape_probe():`` assignments to variables are ignored.

    A custom layer without ``compute_output_shape`` is run once on a small dummy batch to learn its
    output shape (Keras traces it symbolically instead); a layer that counts or accumulates in
    ``call`` (``self.total.assign_add(...)``) must not count that dummy batch.
    """

    def __enter__(self):
        self._previous = _PROBING[0]
        _PROBING[0] = True
        return self

    def __exit__(self, *exc):
        _PROBING[0] = self._previous
        return False


def probing():
    """True while a shape probe runs (variables and added losses ignore what happens then)."""
    return _PROBING[0]


class Variable:
    """A named, optionally trainable array: a layer's weight.

    Args:
        initializer: an initial value (array or number), or an initializer called as
            ``initializer(shape, dtype=dtype)``.
        shape: the shape (needed when ``initializer`` is a callable).
        dtype: the dtype (default: that of the initial value, else float32).
        trainable: whether the optimizer updates it.
        name: its name (``kernel``, ``bias``, ...).

    Example:

    >>> v = Variable(np.zeros(3), name="total")
    >>> v.assign_add(np.ones(3)).numpy()
    array([1., 1., 1.])
    >>> v.shape, v.dtype
    ((3,), dtype('float64'))
    """

    __slots__ = ("name", "value", "trainable", "path", "constraint", "regularizer", "__weakref__")

    def __init__(self, initializer=None, shape=None, dtype=None, trainable=True, name=None):
        if callable(initializer):
            if shape is None:
                raise ValueError(f"Variable '{name}': a callable initializer needs a shape")
            value = initializer(tuple(shape), dtype=dtype or "float32")
        else:
            value = initializer
        if value is None:
            raise ValueError(f"Variable '{name}': give an initial value or an initializer")
        if devices.is_numpy(value) or not devices.is_device_array(value):
            value = np.array(value, dtype=dtype, copy=True)
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise ValueError(f"Variable '{name}': initial value has shape {tuple(value.shape)}, "
                             f"expected {tuple(shape)}")
        self.value = value
        self.name = name or "variable"
        self.path = self.name
        self.trainable = bool(trainable)
        self.constraint = None
        self.regularizer = None

    # ------------------------------------------------------------ what an array has
    def __getattr__(self, name):
        # Anything else an array has (copy, sum, reshape, tobytes, ...) is the value's: earlier versions
        # handed out the bare arrays, and scripts use them that way.
        if name == "value":
            raise AttributeError(name)
        return getattr(self.value, name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy functions on a variable: on its value, unless a tape is recording (see ``ops/operators.py``:
        there ``np.exp(w)`` would escape the tape, so it is sent to the op of that name or refused)."""
        if _ufunc_on_tape[0] is not None:
            result = _ufunc_on_tape[0](ufunc, method, inputs, kwargs)
            if result is not NotImplemented:
                return result
        inputs = tuple(unwrap(value) for value in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(unwrap(value) for value in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def size(self):
        return self.value.size

    @property
    def nbytes(self):
        return self.value.nbytes

    def __len__(self):
        return len(self.value)

    def __array__(self, dtype=None, copy=None):
        array = devices.to_host(self.value)
        if dtype is not None and array.dtype != dtype:
            return array.astype(dtype)
        return array.copy() if copy else array

    def numpy(self):
        """A NumPy copy of the value."""
        return devices.host_copy(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __bool__(self):
        return bool(self.value)

    def __repr__(self):
        return (f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype.name}, "
                f"value={devices.to_host(self.value)!r}>")

    # ------------------------------------------------------------ updates, all in place
    def assign(self, value):
        """Set the value (in place; same shape).  Returns the variable."""
        if probing():
            return self
        value = value.value if isinstance(value, Variable) else getattr(value, "value", value)
        new_shape = np.shape(value)
        if new_shape not in ((), self.shape):
            raise ValueError(f"Variable '{self.path}': cannot assign a value of shape {tuple(new_shape)} "
                             f"to a variable of shape {self.shape}")
        devices.assign(self.value, value)  # a host value is copied up to a GPU variable
        return self

    def assign_add(self, delta):
        """Add ``delta`` in place.  Returns the variable."""
        if probing():
            return self
        delta = getattr(delta, "value", delta)
        self.value += devices.array_module_of(self.value).asarray(delta, dtype=self.dtype)
        return self

    def assign_sub(self, delta):
        """Subtract ``delta`` in place.  Returns the variable."""
        if probing():
            return self
        delta = getattr(delta, "value", delta)
        self.value -= devices.array_module_of(self.value).asarray(delta, dtype=self.dtype)
        return self

    def __setitem__(self, index, value):
        self.value[index] = getattr(value, "value", value)


# Set by tinyconv.ops.operators: what a NumPy ufunc on a variable does while a tape records (this module
# sits below the ops and cannot import them).
_ufunc_on_tape = [None]


def unwrap(value):
    """The array inside a Variable (anything else unchanged)."""
    return value.value if isinstance(value, Variable) else value
