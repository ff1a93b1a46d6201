"""How an op is defined: its forward on arrays and, right beside it, its backward.

Every function of ``tinyconv.ops`` is written the same way::

    @operation(differentiable=("x1", "x2"))
    def multiply(x1, x2):
        return xp(x1, x2).multiply(x1, x2)

    @multiply.defbackward
    def _(g, out, x1, x2):               # g = dL/d(out); the forward's own arguments follow
        return unbroadcast(g * x2, x1), unbroadcast(g * x1, x2)

``operation`` makes ``multiply`` callable three ways, and the op's author writes neither of them:

* on arrays: the forward runs and its array comes back (NumPy, or CuPy on the GPU device);
* on values being recorded by a ``Tape`` (a custom layer's ``call`` during training): the forward
  runs, and a record with the backward is put on the tape (see ``tape.py``);
* on symbolic tensors of the functional API (``Input(...)`` and what layers return): no arithmetic;
  a node of the graph is recorded, whose layer runs this same forward and backward (``OpLayer``).

The backward receives ``g`` (dL/d(output)), the output and the forward's arguments (bare arrays), and
returns dL/d(argument) for each name in ``differentiable``, in that order (one value when there is
one name; a list for an argument that is a list of arrays, as ``concatenate``'s).
"""
import functools
import inspect

from .. import devices, graph
from ..variables import Variable
from .tape import TapedTensor, active_tape, value_of

REGISTRY = {}  # op name -> Operation: the table the symbolic graph and the file loader look ops up in
_symbolic_handler = []  # set by tinyconv.layers.op_layer (ops sit below the layers and cannot import them)


def set_symbolic_handler(handler):
    """Register ``handler(operation, bound_arguments) -> symbolic output``: what an op does when
    called on symbolic tensors.  The layers package registers it (an op on symbols is a graph node)."""
    _symbolic_handler[:] = [handler]


class Operation:
    """An op: a forward function, its backward, and the names of the arguments it differentiates."""

    def __init__(self, forward, differentiable=(), multi_output=False, name=None, saves=False):
        self.forward = forward
        self.saves = saves  # the forward returns (out, saved); the backward receives saved=saved
        self.name = name or forward.__name__
        self.differentiable = tuple(differentiable)
        self.multi_output = multi_output
        self.signature = inspect.signature(forward)
        self.backward = None
        functools.update_wrapper(self, forward)
        unknown = set(self.differentiable) - set(self.signature.parameters)
        if unknown:
            raise TypeError(f"operation {self.name}: differentiable names {sorted(unknown)} are not parameters")
        REGISTRY[self.name] = self

    def defbackward(self, backward):
        """Decorator: ``backward(g, out, **forward's arguments) -> gradients``, one per differentiable name."""
        self.backward = backward
        return backward

    def __repr__(self):
        return f"<operation {self.name}>"

    # ------------------------------------------------------------ calling
    def bind(self, *args, **kwargs):
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"ops.{self.name}: {error}") from None
        bound.apply_defaults()
        return bound

    def __call__(self, *args, **kwargs):
        bound = self.bind(*args, **kwargs)
        if any(_contains(value, graph.SymbolicTensor) for value in bound.arguments.values()):
            if not _symbolic_handler:
                raise RuntimeError(f"ops.{self.name} was called on a symbolic tensor before tinyconv.layers was "
                                   "imported; import tinyconv first")
            return _symbolic_handler[0](self, bound)
        return self.run(bound)

    def run(self, bound):
        """Run the forward on bare arrays; record it when a tape is recording and an input is on it."""
        tape = active_tape()
        arguments = {name: _bare(value) for name, value in bound.arguments.items()}
        out = self.forward(*_positional(self.signature, arguments), **_keywords(self.signature, arguments))
        saved = None
        if self.saves:  # what the forward kept for its backward (a mask, an argmax, a kernel cache)
            out, saved = out
        if tape is None or not self.differentiable:
            return out
        inputs, layout = [], []
        for name in self.differentiable:
            value = bound.arguments[name]
            if isinstance(value, (list, tuple)):
                layout.append(len(value))
                inputs.extend(_on_tape(tape, item) for item in value)
            else:
                layout.append(None)
                inputs.append(_on_tape(tape, value))
        if all(t is None for t in inputs):
            return out  # computed from constants only: nothing to differentiate
        if self.backward is None:
            raise NotImplementedError(f"ops.{self.name} has no backward yet, so it cannot be used on values "
                                      "being differentiated; wrap it in ops.stop_gradient if no gradient is needed")

        def backward(upstream):
            g = upstream if self.multi_output else upstream[0]
            grads = (self.backward(g, out, saved=saved, **arguments) if self.saves
                     else self.backward(g, out, **arguments))
            if len(self.differentiable) == 1:
                grads = (grads,)
            flat = []
            for gradient, count in zip(grads, layout):
                flat.extend([None] * count if gradient is None and count is not None else
                            gradient if count is not None else [gradient])
            return flat

        return tape.record(self.name, inputs, out, backward, multi_output=self.multi_output)


def operation(differentiable=(), multi_output=False, name=None, saves=False):
    """Decorator turning a forward function on arrays into an op (see the module docstring).

    ``saves=True``: the forward returns ``(out, saved)`` - what its backward needs that is not an
    argument (dropout's mask, max pooling's argmax) - and the backward is called with ``saved=saved``.
    Callers of the op get ``out`` only."""
    def wrap(forward):
        return Operation(forward, differentiable, multi_output, name, saves)
    return wrap


# ---------------------------------------------------------------- helpers for op authors
def xp(*arrays):
    """The array module (numpy or cupy) of the arrays given (numpy for Python numbers)."""
    for array in arrays:
        if hasattr(array, "__array_priority__") or hasattr(array, "shape"):
            if not devices.is_numpy(array) and devices.is_device_array(array):
                return devices.array_module_of(array)
    return __import__("numpy")


def unbroadcast(gradient, like):
    """Sum ``gradient`` down to the shape of ``like``: the backward of NumPy's broadcasting.

    If x of shape (3, 1) was broadcast to (2, 3, 4) in the forward, each x[i, 0] was used 2 x 4
    times, so its gradient is the sum of those 8 gradients.
    """
    shape = tuple(getattr(like, "shape", ()))
    if tuple(gradient.shape) == shape:
        return gradient
    extra = gradient.ndim - len(shape)
    gradient = gradient.sum(axis=tuple(range(extra))) if extra > 0 else gradient
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and gradient.shape[i] != 1)
    if stretched:
        gradient = gradient.sum(axis=stretched, keepdims=True)
    return gradient.reshape(shape)


# ---------------------------------------------------------------- internals
def _contains(value, kind):
    if isinstance(value, kind):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains(item, kind) for item in value)
    return False


def _bare(value):
    if isinstance(value, (TapedTensor, Variable)):
        return value_of(value)
    if isinstance(value, list):
        return [_bare(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_bare(item) for item in value)
    return value


def _on_tape(tape, value):
    if tape.holds(value):
        return value
    if isinstance(value, Variable) and value.trainable:
        return tape.leaf_for(value)
    return None


def _positional(signature, arguments):
    out = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            out.append(arguments[name])
        elif parameter.kind == parameter.VAR_POSITIONAL:
            out.extend(arguments.get(name, ()))
    return out


def _keywords(signature, arguments):
    out = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind == parameter.KEYWORD_ONLY:
            out[name] = arguments[name]
        elif parameter.kind == parameter.VAR_KEYWORD:
            out.update(arguments.get(name, {}))
    return out
