"""Python's operators on tinyconv's tensors are ``tinyconv.ops`` functions.

``x + y`` is ``ops.add(x, y)``, ``x[:, 0]`` is ``ops.get_item(x, (slice(None), 0))``, and so on, for the
three kinds of value user code meets:

* ``TapedTensor``: a value being recorded for backprop (inside a custom layer's ``call`` in training);
* ``Variable``: a layer's weight (``self.w`` of a custom layer);
* ``SymbolicTensor``: a tensor of the functional API (``x = x + residual`` between layer calls).

Because each operator *is* the op, it is recorded on the tape or in the graph like any other call.
``==`` and ``!=`` keep Python's meaning (identity), so these objects still work in lists, sets and
dicts; use ``ops.equal`` / ``ops.not_equal`` for elementwise comparison.
"""
from .. import graph
from .. import variables as variables_module
from ..variables import Variable
from .operation import REGISTRY
from .tape import TapedTensor, active_tape

# dunder name -> (op name, whether the operands are swapped: ``2 - x`` is subtract(2, x))
BINARY = {
    "__add__": ("add", False), "__radd__": ("add", True),
    "__sub__": ("subtract", False), "__rsub__": ("subtract", True),
    "__mul__": ("multiply", False), "__rmul__": ("multiply", True),
    "__truediv__": ("divide", False), "__rtruediv__": ("divide", True),
    "__floordiv__": ("floor_divide", False), "__rfloordiv__": ("floor_divide", True),
    "__mod__": ("mod", False), "__rmod__": ("mod", True),
    "__pow__": ("power", False), "__rpow__": ("power", True),
    "__matmul__": ("matmul", False), "__rmatmul__": ("matmul", True),
    "__lt__": ("less", False), "__le__": ("less_equal", False),
    "__gt__": ("greater", False), "__ge__": ("greater_equal", False),
    "__and__": ("logical_and", False), "__rand__": ("logical_and", True),
    "__or__": ("logical_or", False), "__ror__": ("logical_or", True),
    "__xor__": ("logical_xor", False), "__rxor__": ("logical_xor", True),
}
UNARY = {"__neg__": "negative", "__pos__": "positive", "__abs__": "absolute", "__invert__": "logical_not"}


def _binary(op_name, swapped):
    def method(self, other):
        op = REGISTRY[op_name]
        return op(other, self) if swapped else op(self, other)
    method.__name__ = op_name
    method.__doc__ = f"``ops.{op_name}``" + (" with the operands swapped" if swapped else "")
    return method


def _unary(op_name):
    def method(self):
        return REGISTRY[op_name](self)
    method.__name__ = op_name
    method.__doc__ = f"``ops.{op_name}``"
    return method


def _get_item(self, key):
    return REGISTRY["get_item"](self, key)


def _transpose(self):
    return REGISTRY["transpose"](self)


def install(cls):
    """Give ``cls`` the operators of the table above, ``[]`` and ``.T``."""
    for dunder, (op_name, swapped) in BINARY.items():
        setattr(cls, dunder, _binary(op_name, swapped))
    for dunder, op_name in UNARY.items():
        setattr(cls, dunder, _unary(op_name))
    cls.__getitem__ = _get_item
    cls.T = property(_transpose)
    if "__array_ufunc__" not in vars(cls):  # (a Variable keeps its own, below)
        cls.__array_ufunc__ = None  # NumPy defers ``array + tensor`` to the tensor's reflected operator


for _cls in (TapedTensor, Variable, graph.SymbolicTensor):
    install(_cls)


def _variable_ufunc_on_tape(ufunc, method, inputs, kwargs):
    """``np.<ufunc>(..., variable, ...)`` while a tape records: the op of that name, so the variable's
    gradient is not lost; a ufunc with no op is refused.  Without a tape: NotImplemented (plain NumPy)."""
    if active_tape() is None or not any(isinstance(v, Variable) and v.trainable for v in inputs):
        return NotImplemented
    name = {"true_divide": "divide"}.get(ufunc.__name__, ufunc.__name__)
    if method == "__call__" and not kwargs and name in REGISTRY:
        return REGISTRY[name](*inputs)
    raise TypeError(f"numpy.{ufunc.__name__} was called on a weight while a tape records; NumPy would lose "
                    f"its gradient. Use tinyconv.ops (keras.ops) inside call() instead.")


variables_module._ufunc_on_tape[0] = _variable_ufunc_on_tape
