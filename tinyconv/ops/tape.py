"""The tape: reverse-mode differentiation for code that only says ``call()``.

Built-in layers write their backward by hand.  A custom layer that defines only ``call()`` gets one
from the tape, which is the same chain rule done mechanically:

1. **Record.**  While a ``Tape`` is active, every ``tinyconv.ops`` function that receives a taped
   value appends one ``Record`` - *which op, on which values, made which value, and the op's own
   backward* - and returns its result as a ``TapedTensor`` (an array that remembers it is on the
   tape).  Variables (weights) met on the way become leaves of the tape.
2. **Replay backwards.**  ``tape.gradient(y, sources, dy)`` walks the records from the last to the
   first.  Each record receives dL/d(its output) and asks its op's backward for dL/d(each input).
   Where one value feeds several ops (it "fans out"), the gradients arriving from each use are
   **summed** - the multivariate chain rule, exactly as the functional model sums them between layers.

That is all of it: micrograd's idea at array scale.  A built-in layer called inside taped code is
recorded as *one* record whose backward is the layer's own explicit ``backward``.

Gradients are computed fresh for each ``gradient`` call; nothing accumulates across training steps.
"""
import numpy as np

from .. import devices
from ..variables import Variable

_ACTIVE = []  # the tapes now recording, innermost last


def active_tape():
    """The innermost tape now recording, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


class TapedTensor:
    """An array on a tape: its ``value`` and the tape that records what is computed from it.

    It looks enough like an array for layer code (``shape``, ``dtype``, ``ndim``, indexing,
    arithmetic); arithmetic is the ``tinyconv.ops`` function of the same name, so it is recorded too.
    NumPy functions would compute on the bare value and lose the tape, so they are refused with the
    name of the op to use instead.
    """

    __array_ufunc__ = None  # ``array * taped`` becomes ``TapedTensor.__rmul__``, which records

    def __init__(self, value, tape, name=None):
        self.value = value
        self.tape = tape
        self.name = name  # what made it: an op name, "input", a variable's path

    shape = property(lambda self: tuple(self.value.shape))
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        return f"<TapedTensor from={self.name!r}, shape={self.shape}, dtype={self.dtype}>"

    def numpy(self):
        """A NumPy copy of the value (off the tape: gradients do not flow through it)."""
        return devices.host_copy(self.value)

    def __array__(self, dtype=None, copy=None):
        # np.asarray(t) is how a value leaves the tape on purpose (e.g. to print or log it).
        array = devices.to_host(self.value)
        return array.astype(dtype) if dtype is not None else array

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} was called on a value being recorded for backprop; NumPy would "
                        f"compute on the bare array and the tape could not derive its gradient. Use "
                        f"tinyconv.ops.{func.__name__} (keras.ops.{func.__name__}) inside call() instead.")

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __bool__(self):
        return bool(self.value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class Record:
    """One step of the forward pass: ``outputs = op(inputs)``, and how to send gradients back.

    ``backward(output_gradients) -> input_gradients``: one entry per taped input (None where an
    input gets no gradient).  ``output_gradients`` has one entry per output.
    """

    __slots__ = ("name", "inputs", "outputs", "backward", "detail")

    def __init__(self, name, inputs, outputs, backward, detail=None):
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.backward = backward
        self.detail = detail  # e.g. the layer, for a layer call; shown by the teaching printer


class Tape:
    """Records the ops run on taped values; ``gradient`` replays them backwards.

    Example:

    >>> from tinyconv import ops
    >>> with Tape() as tape:
    ...     x = tape.watch(np.array([1.0, 2.0, 3.0]))
    ...     y = ops.sum(x * x)
    >>> tape.gradient(y, [x])[0]
    array([2., 4., 6.])
    """

    def __init__(self):
        self.records = []
        self._leaves = {}  # id(variable) -> (variable, its TapedTensor)
        self.layer_grads = {}  # id(layer) -> (layer, {weight name: summed gradient}), from layer records
        self.last_gradients = {}  # id(TapedTensor) -> gradient, kept by gradient() for the teaching printer
        self.last_contributions = []
        self.added_losses = []  # values given to Layer.add_loss while recording: extra terms of the loss

    def __enter__(self):
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc):
        _ACTIVE.remove(self)
        return False

    # ------------------------------------------------------------ recording
    def watch(self, value, name="input"):
        """Put an array (or a Variable) on the tape as a leaf; returns its TapedTensor."""
        if isinstance(value, Variable):
            return self.leaf_for(value)
        if isinstance(value, TapedTensor):
            return value
        return TapedTensor(devices.asarray(value), self, name)

    def leaf_for(self, variable):
        """The one TapedTensor standing for ``variable`` on this tape (made on first use)."""
        entry = self._leaves.get(id(variable))
        if entry is None:
            entry = (variable, TapedTensor(variable.value, self, variable.path))
            self._leaves[id(variable)] = entry
        return entry[1]

    def holds(self, value):
        """Whether ``value`` is a TapedTensor of this tape."""
        return isinstance(value, TapedTensor) and value.tape is self

    def record(self, name, inputs, output_values, backward, detail=None, multi_output=False):
        """Append one record; returns the output(s) as TapedTensors."""
        values = list(output_values) if multi_output else [output_values]
        outputs = [TapedTensor(v, self, name) for v in values]
        self.records.append(Record(name, list(inputs), outputs, backward, detail))
        return outputs if multi_output else outputs[0]

    # ------------------------------------------------------------ replaying
    def gradient(self, target, sources, output_gradient=None):
        """dL/d(source) for each source, where L is ``target`` (or L = sum(target * output_gradient)).

        ``target`` may be a list of TapedTensors with a list of output gradients (one per target).
        Sources are TapedTensors or Variables; a source the target does not depend on gets None.
        """
        targets = target if isinstance(target, (list, tuple)) else [target]
        if output_gradient is None:
            seeds = [None] * len(targets)
        else:
            seeds = list(output_gradient) if isinstance(target, (list, tuple)) else [output_gradient]
        grads = {}

        def accumulate(tensor, gradient):
            # Where one value feeds several ops, the gradients from each use add up.
            key = id(tensor)
            grads[key] = gradient if key not in grads else grads[key] + gradient

        for tensor, seed in zip(targets, seeds):
            if not self.holds(tensor):
                continue  # an output that does not depend on anything taped
            if seed is None:
                if tensor.size != 1:
                    raise ValueError(f"Tape.gradient: the target has shape {tensor.shape}; give an output gradient "
                                     "of that shape, or reduce the target to one number first")
                seed = devices.array_module_of(tensor.value).ones_like(tensor.value)
            accumulate(tensor, seed)

        self.layer_grads = {}
        self.last_contributions = []  # (record, input, what that record sent it): the teaching printer's rows
        for record in reversed(self.records):
            upstream = [grads.get(id(t)) for t in record.outputs]
            if all(g is None for g in upstream):
                continue  # nothing the target depends on was computed from this record
            upstream = [devices.array_module_of(t.value).zeros_like(t.value) if g is None else g
                        for g, t in zip(upstream, record.outputs)]
            input_grads = record.backward(upstream)
            for tensor, gradient in zip(record.inputs, input_grads):
                if tensor is not None and gradient is not None:
                    accumulate(tensor, gradient)
                    self.last_contributions.append((record, tensor, gradient))
        self.last_gradients = grads
        return [self._gradient_of(source, grads) for source in sources]

    def add_layer_gradients(self, layer):
        """Add ``layer.grads`` (just set by the layer's own backward) to what this tape collected for it:
        a layer called several times on the tape gets the sum over its calls."""
        entry = self.layer_grads.setdefault(id(layer), (layer, {}))
        for name, gradient in layer.grads.items():
            entry[1][name] = gradient if name not in entry[1] else entry[1][name] + gradient

    def gradient_of_variable(self, variable):
        """dL/d(variable) from the last ``gradient`` call (None if it was not reached)."""
        return self._gradient_of(variable, self.last_gradients)

    def _gradient_of(self, source, grads):
        if isinstance(source, Variable):
            # A weight may be reached both as a leaf (used by ops) and inside a built-in layer's own
            # backward (the layer called on the tape): the two gradients add up.
            entry = self._leaves.get(id(source))
            as_leaf = grads.get(id(entry[1])) if entry is not None else None
            in_layers = self._layer_gradient_of(source.value)
            if as_leaf is None or in_layers is None:
                return as_leaf if in_layers is None else in_layers
            return as_leaf + in_layers
        if isinstance(source, TapedTensor):
            return grads.get(id(source))
        return self._layer_gradient_of(source)  # a built-in layer's weight array

    def _layer_gradient_of(self, array):
        for layer, layer_grads in self.layer_grads.values():
            for weight in getattr(layer, "_weights", []):
                if weight.value is array:
                    return layer_grads.get(weight.name)
        return None

    def variables(self):
        """The Variables met while recording, in the order first met."""
        return [variable for variable, _ in self._leaves.values()]


class GradientTape(Tape):
    """TensorFlow's spelling of the tape, for a hand-written training loop (the "write your own fit" lesson).

    Inside ``with GradientTape() as tape:`` a call of a model (or layer) is recorded as one step whose
    backward is the model's own explicit backward pass, and a loss object's call as one step whose
    backward is the loss's ``gradient``.  ``tape.gradient(loss, model.trainable_weights)`` then returns
    d(loss)/d(each weight) - without the weight-regularization terms, as TensorFlow: add
    ``sum(model.losses)`` to the loss inside the tape if you want them.

    Example:

    >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    >>> loss_fn, optimizer = tinyconv.losses.MeanSquaredError(), tinyconv.optimizers.SGD(0.1)
    >>> with GradientTape() as tape:
    ...     loss = loss_fn(np.ones((4, 1)), model(np.ones((4, 3)), training=True))
    >>> grads = tape.gradient(loss, model.trainable_weights)
    >>> [g.shape for g in grads]
    [(3, 1), (1,)]
    >>> optimizer.apply(grads, model.trainable_weights)
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        super().__init__()
        self.persistent = persistent
        self._used = False

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(target)/d(each source); ``sources`` a list (or one source), the weights or watched values."""
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a non-persistent tape "
                               "(use GradientTape(persistent=True) to call it again)")
        self._used = True
        single = not isinstance(sources, (list, tuple))
        sources = [sources] if single else list(sources)
        grads = super().gradient(target, sources, output_gradients)
        if unconnected_gradients == "zero":
            grads = [devices.array_module_of(value_of(s)).zeros_like(value_of(s)) if g is None else g
                     for g, s in zip(grads, sources)]
        return grads[0] if single else grads


class suspended:
    """``with suspended():`` no tape records (a call run only to learn shapes must leave no records)."""

    def __enter__(self):
        self._saved = list(_ACTIVE)
        _ACTIVE.clear()
        return self

    def __exit__(self, *exc):
        _ACTIVE[:] = self._saved
        return False


def value_of(x):
    """The bare array of a TapedTensor or Variable (anything else unchanged)."""
    if isinstance(x, TapedTensor):
        return x.value
    if isinstance(x, Variable):
        return x.value
    return x
