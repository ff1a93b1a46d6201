"""The ``Layer`` contract: build, forward, backward, weights.

A layer is a function with parameters.  Training needs three things from it:

* ``forward(x, training)``: compute the output and keep what backward will need;
* ``backward(dy)``: given dL/dy, store dL/dw for each weight in ``self.grads`` and return
  dL/dx.  Gradients are *overwritten* by each backward pass, never accumulated across
  steps (the model sums them only where one tensor feeds several layers);
* ``build(input_shape)``: create the weights once the input shape is known (lazily, on the
  first call, as Keras does).

Shapes include the batch axis as ``None``: ``(None, 28, 28, 1)``.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Self, TypeAlias

import numpy as np
import numpy.typing as npt

from .. import activations, backend, constraints, devices, dispatch, graph, initializers, naming, regularizers, serialization
from ..constraints import Constraint
from ..devices import DeviceArray
from ..regularizers import Regularizer
from ..variables import Variable
from . import taped


# A layer's weight is a ``Variable`` (Keras's name); ``Weight`` is the name earlier versions used.
Weight = Variable

# A batch shape: the batch axis (and any size not known yet) is None, as in ``(None, 28, 28, 1)``.
Shape: TypeAlias = tuple[int | None, ...]
# A shape as a caller may give it (a tuple or a list), or a list of shapes for a layer with several inputs.
ShapeLike: TypeAlias = Sequence[int | None] | Sequence[Sequence[int | None]]
# Keras's "a name or an object" arguments: ``"he_normal"`` or ``initializers.HeNormal()``; a config dict;
# a function ``(shape, dtype) -> array`` (an initializer), ``w -> penalty`` (a regularizer) or
# ``w -> projected w`` (a constraint).
InitializerLike: TypeAlias = str | initializers.Initializer | dict[str, Any] | Callable[..., Any]
RegularizerLike: TypeAlias = str | Regularizer | dict[str, Any] | Callable[..., Any]
ConstraintLike: TypeAlias = str | Constraint | dict[str, Any] | Callable[..., Any]


def _regularizer_property(weight_name: str) -> property:
    """Keras's attribute for the penalty on one weight (kept in ``layer.regularizers`` by weight name)."""
    def get(self: Layer) -> Regularizer | None:
        return self.__dict__.get("regularizers", {}).get(weight_name)

    def put(self: Layer, value: RegularizerLike | None) -> None:
        found = regularizers.get(value)
        table = self.__dict__.setdefault("regularizers", {})
        if found is None:
            table.pop(weight_name, None)
        else:
            table[weight_name] = found
    return property(get, put, doc=f"The penalty on the layer's ``{weight_name}`` (None without one).")


class Layer:
    """Base class of every layer.  Subclasses implement ``build``, ``compute_output_shape``,
    ``forward`` and ``backward``.

    Args:
        name: the layer's name; ``None`` makes a unique one from the class name.
        trainable: if ``False``, training leaves the layer's weights unchanged.
        dtype: the dtype of the weights and outputs (default float32).

    Input shape:
        Whatever the subclass takes.

    Output shape:
        What its ``compute_output_shape`` says.

    Example:

    >>> layer = layers.Dense(3, name="scores")
    >>> layer.name, layer.trainable
    ('scores', True)
    """

    # Rank of the input including the batch axis; None accepts any rank.
    expected_ndim: ClassVar[int | None] = None
    _CONSTRUCTOR_KEYS: ClassVar[tuple[str, ...]] = (
        "name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size", "input_dim",
        "kernel_regularizer", "bias_regularizer", "activity_regularizer")
    # Keras's constraint arguments of the class, each with the weight it projects after every optimizer
    # step: Dense has {"kernel_constraint": "kernel", "bias_constraint": "bias"} (see constraints.py).
    _CONSTRAINT_ARGUMENTS: ClassVar[dict[str, str]] = {}

    # What every layer holds (set in __init__ and by build_for).
    name: str
    dtype: str
    built: bool
    input_shape: Any  # a Shape, or a list of them for several inputs (None until built)
    output_shape: Any  # likewise
    grads: dict[str, Any]  # weight name -> dL/dw of the last backward pass
    regularizers: dict[str, Regularizer]
    activity_regularizer: Regularizer | None
    constraints: dict[str, Constraint]
    _weights: list[Variable]
    _added_losses: list[Any]  # the terms add_loss received in the last call
    _declared_input_shape: Shape | None

    def __init_subclass__(cls, **kwargs):
        # As in Keras 3: a layer's own build() marks it built, so ``layer.build(shape)`` followed by
        # ``layer(x)`` does not build (and add every weight) a second time.
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            @functools.wraps(build)
            def build_and_mark(self, *args, **kwargs):
                result = build(self, *args, **kwargs)
                self.built = True
                return result
            build_and_mark._marks_built = True
            cls.build = build_and_mark

    def __new__(cls, *args, **kwargs):
        # Keras's automatic config: the constructor's arguments, for a user's layer without get_config().
        instance = super().__new__(cls)
        instance.__dict__["_constructor_arguments"] = (args, kwargs)
        return instance

    def __init__(self, name: str | None = None, trainable: bool = True, dtype: npt.DTypeLike | None = None,
                 **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self._CONSTRUCTOR_KEYS) - set(self._CONSTRAINT_ARGUMENTS)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(unknown)}")
        self.name = name if name is not None else naming.unique_name(naming.to_snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = backend.standardize_dtype(dtype)
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self.grads = {}
        self._weights = []
        # Keras 2 style: Dense(10, input_shape=(784,)) on the first layer of a Sequential.
        self._declared_input_shape = None
        if kwargs.get("batch_input_shape") is not None:
            self._declared_input_shape = tuple(kwargs["batch_input_shape"])
        elif kwargs.get("input_shape") is not None:
            self._declared_input_shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
        elif kwargs.get("input_dim") is not None:
            self._declared_input_shape = (kwargs.get("batch_size"), int(kwargs["input_dim"]))
        # Penalties on weights, by weight name: {"kernel": L2(0.01)}; they add to the loss and the gradients.
        self.regularizers = {}
        for weight_name in ("kernel", "bias"):
            regularizer = regularizers.get(kwargs.get(f"{weight_name}_regularizer"))
            if regularizer is not None:
                self.regularizers[weight_name] = regularizer
        # A penalty on the layer's output, divided by the batch size (Keras 3): the model adds it
        # to the loss and its gradient to dL/d(output) (see Model._record_activity).
        self.activity_regularizer = regularizers.get(kwargs.get("activity_regularizer"))
        # Projections after each optimizer step, by weight name: {"kernel": MaxNorm(3)} (the weight's
        # Variable carries it, and Optimizer.apply projects it).
        self.constraints = {}
        for argument, weight_name in self._CONSTRAINT_ARGUMENTS.items():
            constraint = constraints.get(kwargs.get(argument))
            if constraint is not None:
                self.constraints[weight_name] = constraint

    # Keras's attribute names for the weight penalties (kept in ``self.regularizers`` by weight name).
    kernel_regularizer = _regularizer_property("kernel")
    bias_regularizer = _regularizer_property("bias")

    # ---------------------------------------------------------------- device
    @property
    def runs_on_gpu(self) -> bool:
        """Whether the layer computes with the array module of its inputs, so that it runs on the GPU too.

        True for every layer of tinyconv and for a layer written with only ``call`` (its ``tinyconv.ops``
        follow their inputs to the device).  A user's layer with its own ``forward``/``backward`` is
        taken to compute with NumPy: it says otherwise with ``runs_on_gpu = True`` on its class (or on
        the layer), once its maths use ``tinyconv.devices.array_module_of(x)``.
        """
        declared = self.__dict__.get("_runs_on_gpu")
        if declared is not None:
            return declared
        layer_class: type = type(self)  # (a plain class to the type checker: lru_cache takes hashables)
        return self._runs_call() or _computes_in_tinyconv(layer_class)

    @runs_on_gpu.setter
    def runs_on_gpu(self, value: bool) -> None:
        self.__dict__["_runs_on_gpu"] = bool(value)

    # ---------------------------------------------------------------- identity
    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"

    def describe(self) -> str:
        """``Conv2D 'conv2d'``: how error messages name the layer."""
        return f"{type(self).__name__} '{self.name}'"

    # Keras's layer.input / layer.output: the symbolic tensors of the layer's one call in a graph.
    def _single_node(self, what):
        nodes = getattr(self, "_inbound_nodes", [])
        if len(nodes) != 1:
            raise AttributeError(f"{self.describe()} has been called {len(nodes)} times on symbolic tensors, so "
                                 f"it has no single {what}" + ("" if nodes else
                                                               " (call it on Input(...) or add it to a model)"))
        return nodes[0]

    @property
    def output(self) -> graph.SymbolicTensor | list[graph.SymbolicTensor]:
        """The symbolic output of the layer's one call in a graph (a list for several outputs).

        Raises:
            AttributeError: if the layer was called on symbolic tensors other than once.

        Example:

        >>> inputs = tinyconv.Input((3,))
        >>> dense = layers.Dense(2)
        >>> outputs = dense(inputs)
        >>> dense.output is outputs, dense.output.shape
        (True, (None, 2))
        """
        node = self._single_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    @property
    def input(self) -> graph.SymbolicTensor | list[graph.SymbolicTensor]:
        """The symbolic input of the layer's one call in a graph (a list for several inputs).

        Raises:
            AttributeError: if the layer was called on symbolic tensors other than once.
        """
        node = self._single_node("input")
        return node.inputs[0] if len(node.inputs) == 1 else node.inputs

    # ---------------------------------------------------------------- weights
    def _add_array_weight(self, name, shape, initializer="zeros", trainable=True):
        """A weight for a built-in layer, returned as its bare array: the kernels take arrays, and
        ``self.kernel`` stays that very array (updates are in place, so it never goes stale)."""
        return self._track_weight(name, shape, initializer, self.dtype, trainable).value

    def add_weight(self, shape: Sequence[int] | str | None = None, initializer: InitializerLike | None = None,
                   dtype: npt.DTypeLike | None = None, trainable: bool = True, autocast: bool = True,
                   regularizer: RegularizerLike | None = None, constraint: ConstraintLike | None = None,
                   aggregation: str = "none", overwrite_with_gradient: bool = False,
                   name: str | None = None) -> Variable:
        """Create a weight of this layer and return it as a ``Variable`` (Keras 3's ``add_weight``).

        Call it from ``build`` (or ``__init__``); the variable is listed in ``weights``, saved with the
        layer, updated by the optimizer when trainable, and in ``call`` it is used like an array
        (``ops.matmul(inputs, self.w) + self.b``).

        Args:
            shape: the shape (default ``()``).
            initializer: an initializer or its name; default ``"glorot_uniform"`` for float weights.
            dtype: default the layer's dtype.
            trainable: whether the optimizer updates it.
            regularizer: a penalty added to the loss (``"l2"``, ``regularizers.L2(1e-3)``, ...).
            constraint: applied to the weight after each optimizer step, where constraints are supported.
            name: the weight's name, unique within the layer.

        Returns:
            The new ``Variable``.

        Example:

        >>> class Scale(layers.Layer):
        ...     def build(self, input_shape):
        ...         self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="factor")
        ...     def call(self, inputs):
        ...         return inputs * self.factor
        >>> Scale()(np.ones((2, 3))).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
        """
        if isinstance(shape, str):  # Keras 2's add_weight(name, shape, ...) still works
            keras2_shape: Any = initializer if initializer is not None else ()  # (the 2nd positional argument)
            name, shape, initializer = shape, keras2_shape, None
        dims = () if shape is None else tuple(int(n) for n in shape)
        dtype_name = backend.standardize_dtype(dtype if dtype is not None else self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if "float" in dtype_name else "zeros"
        if name is None:
            name = "variable" if not self._weights else f"variable_{len(self._weights)}"
        variable = self._track_weight(name, dims, initializer, dtype_name, trainable)
        if regularizer is not None:
            variable.regularizer = regularizers.get(regularizer)
            self.regularizers[name] = variable.regularizer
        if constraint is not None:
            variable.constraint = constraint
        return variable

    def _track_weight(self, name, shape, initializer, dtype, trainable):
        if any(w.name == name for w in self._weights):
            raise ValueError(f"{self.describe()}: it already has a weight named {name!r}")
        init = initializers.get(initializer)
        value = np.asarray(init(tuple(shape), dtype=dtype), dtype=dtype)
        variable = Variable(devices.to_device(value), trainable=trainable, name=name)  # on the active device
        variable.path = f"{self.name}/{name}"
        variable.constraint = getattr(self, "constraints", {}).get(name)
        self._weights.append(variable)
        return variable

    def _weight(self, name):
        for w in self._weights:
            if w.name == name:
                return w.value
        raise KeyError(f"{self.describe()} has no weight named {name!r}")

    # A layer's own weights first (trainable, then not), then those of the layers it holds, as Keras.
    def _own_weights_in_order(self):
        return [w for w in self._weights if w.trainable] + [w for w in self._weights if not w.trainable]

    def _weight_owners(self):
        """(layer, its own weights) for this layer and every layer inside it, in ``weights`` order."""
        pairs, seen = [], set()

        def visit(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            pairs.append((layer, layer._own_weights_in_order()))
            for inner in getattr(layer, "_tracked_layers", []):
                if isinstance(inner, Layer):
                    visit(inner)
                else:  # a model held by a custom layer: its layers, in its order
                    for sub in inner.layers:
                        visit(sub)

        visit(self)
        return pairs

    @property
    def weights(self) -> list[Variable]:
        """All weight variables: the layer's own (trainable first), then those of the layers it holds."""
        return [w for _, own in self._weight_owners() for w in own]

    @property
    def trainable_weights(self) -> list[Variable]:
        """The weights the optimizer updates (none when the layer is not trainable).

        Example:

        >>> layer = layers.BatchNormalization()
        >>> layer.build((None, 3))
        >>> len(layer.trainable_weights), len(layer.non_trainable_weights)
        (2, 2)
        """
        if not self.trainable:
            return []
        return [w for layer, own in self._weight_owners() if layer.trainable for w in own if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """The weights the optimizer leaves alone (every weight when the layer is not trainable)."""
        if not self.trainable:
            return self.weights
        return [w for layer, own in self._weight_owners() for w in own if not (w.trainable and layer.trainable)]

    # Keras 3's other names for the same lists.
    @property
    def variables(self) -> list[Variable]:
        """Keras 3's name for ``weights``."""
        return self.weights

    @property
    def trainable_variables(self) -> list[Variable]:
        """Keras 3's ``trainable_weights``."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        """Keras 3's ``non_trainable_weights``."""
        return self.non_trainable_weights

    def trainable_gradients(self) -> list[DeviceArray]:
        """Gradients aligned with ``trainable_weights`` (after a backward pass), each with its weight's
        regularizer gradient added: d(loss + R(w))/dw = grads[w] + dR/dw."""
        if not self.trainable:
            return []
        gradients: list[DeviceArray] = []
        for layer, own in self._weight_owners():
            if not layer.trainable:
                continue
            missing = [w.name for w in own if w.trainable and w.name not in layer.grads]
            if missing:
                raise RuntimeError(f"{layer.describe()}: no gradient for {missing}; run backward() first")
            gradients.extend(layer._regularized_gradient(w) for w in own if w.trainable)
        return gradients

    def _regularized_gradient(self, weight):
        regularizer = self.regularizers.get(weight.name) if hasattr(self, "regularizers") else None
        if regularizer is None:
            return self.grads[weight.name]
        return self.grads[weight.name] + regularizer.gradient(weight.value)  # a new array: grads stay pure

    def regularization_losses(self) -> float:
        """Sum of the regularizer penalties on the trainable weights, the held layers' included (0.0 without)."""
        total = 0.0
        for layer, own in self._weight_owners():
            if layer.trainable and getattr(layer, "regularizers", None):
                total += float(sum(layer.regularizers[w.name](w.value) for w in own
                                   if w.trainable and w.name in layer.regularizers))
        return total if self.trainable else 0.0

    def get_weights(self) -> list[npt.NDArray[Any]]:
        """Copies of the layer's weights as NumPy arrays, in the order of ``weights``.

        Example:

        >>> layer = layers.Dense(2)
        >>> layer.build((None, 3))
        >>> [w.shape for w in layer.get_weights()]
        [(3, 2), (2,)]
        """
        return [devices.host_copy(w.value) for w in self.weights]  # NumPy, wherever the weights live

    def set_weights(self, weights: Iterable[npt.ArrayLike | DeviceArray | Variable]) -> None:
        """Replace the layer's weights, in place, in the order of ``weights``.

        Args:
            weights: one array (or variable) per weight, each of that weight's shape.

        Raises:
            ValueError: if the number of arrays or a shape does not match.

        Example:

        >>> layer = layers.Dense(1)
        >>> layer.build((None, 2))
        >>> layer.set_weights([np.ones((2, 1)), np.zeros(1)])
        >>> layer(np.ones((1, 2))).tolist()
        [[2.0]]
        """
        weights, slots = list(weights), self.weights
        if len(weights) != len(slots):
            raise ValueError(
                f"{self.describe()}: set_weights expected a list of {len(slots)} arrays "
                f"({[w.name for w in slots]}), got {len(weights)}"
            )
        for slot, new in zip(slots, weights):
            new = getattr(new, "value", new)
            shape = tuple(new.shape) if hasattr(new, "shape") else np.shape(new)   # no copy of a GPU array
            if shape != slot.value.shape:
                raise ValueError(
                    f"{self.describe()}: weight '{slot.name}' has shape {slot.value.shape}, "
                    f"got an array of shape {shape}"
                )
        for slot, new in zip(slots, weights):
            # in place, on the weight's device: optimizer state keyed on the array stays valid
            devices.assign(slot.value, getattr(new, "value", new))

    def count_params(self) -> int:
        """The number of scalar weights of the layer (the held layers' included).

        Example:

        >>> layer = layers.Dense(2)
        >>> layer.build((None, 3))
        >>> layer.count_params()
        8
        """
        return int(sum(w.value.size for w in self.weights))

    # ---------------------------------------------------------------- shapes
    def build(self, input_shape: ShapeLike) -> None:
        """Create the layer's weights for inputs of ``input_shape`` (batch axis included, usually None).

        Args:
            input_shape: the batch shape of the input (a list of them for several inputs).
        """
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: ShapeLike) -> Any:
        """The batch shape of the output for inputs of ``input_shape`` (a Shape, or a list of them).

        Args:
            input_shape: the batch shape of the input (a list of them for several inputs).

        Example:

        >>> layers.Dense(4).compute_output_shape((None, 3))
        (None, 4)
        """
        return tuple(input_shape)

    def build_for(self, input_shape: ShapeLike) -> Shape | list[Shape]:
        """Check ``input_shape``, build if needed and record input/output shapes."""
        shapes: Any  # one Shape, or a list of them
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple)):
            shapes = [tuple(shape) for shape in input_shape]  # several inputs: a list of shapes
        else:
            shapes = tuple(input_shape)
            self._check_rank(shapes)
        if not self.built:
            self.build(shapes)
            self.built = True
        self.input_shape = shapes
        if self._runs_call() and type(self).compute_output_shape is Layer.compute_output_shape:
            self.output_shape = taped.probe_output_shape(self, shapes)  # Keras traces call() instead
        else:
            self.output_shape = self.compute_output_shape(shapes)
        if not isinstance(self.output_shape, list):
            self.output_shape = tuple(self.output_shape)
        return self.output_shape

    def _check_rank(self, shape):
        if self.expected_ndim is not None and len(shape) != self.expected_ndim:
            raise ValueError(
                f"{self.describe()}: expected input of rank {self.expected_ndim} "
                f"{self._rank_hint()}, got shape {tuple(shape)}"
            )

    def _rank_hint(self):
        return {4: "(batch, height, width, channels)", 2: "(batch, features)"}.get(self.expected_ndim, "")

    def check_input(self, x: DeviceArray) -> None:
        """Validate an input array against the built layer (called once per batch)."""
        self._check_rank(x.shape)
        if x.shape[0] == 0:
            raise ValueError(f"{self.describe()}: got an empty batch (shape {x.shape})")

    # ---------------------------------------------------------------- compute
    def _runs_call(self):
        """True for a layer written Keras's way, with only ``call``: the tape derives its backward."""
        return _defines_call_only(type(self))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Keras's ``call``: the layer's computation.  A custom layer defines it with ``tinyconv.ops``
        (its backward then comes from the tape); a built-in layer's ``call`` is its ``forward``."""
        if self._runs_call():  # (only reached when a subclass calls super().call)
            raise NotImplementedError(f"{type(self).__name__}.call: the base class has no computation")
        return self.forward(inputs, training=bool(training))

    def forward(self, x: DeviceArray, training: bool = False) -> DeviceArray:
        if self._runs_call():
            return taped.forward(self, x, training)
        raise NotImplementedError(f"{type(self).__name__} must implement call() (Keras style: its backward "
                                  "comes from the tape) or forward() and backward() (explicit backprop)")

    def backward(self, dy: DeviceArray, need_input_gradient: bool = True) -> DeviceArray | None:
        """Store dL/dw in ``self.grads`` and return dL/dx.  ``need_input_gradient=False``: the
        caller will not read dL/dx (a model's first layer in a training step), so a layer may skip
        computing it and return None.  A layer with only ``call`` replays its tape."""
        if self._runs_call():
            return taped.backward(self, dy, need_input_gradient)
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the layer on an array (building it on first use), as ``layer(x)`` in Keras.

        Called on symbolic tensors (``Input(...)`` and what layers return from them) it records
        the call in a functional graph instead, and returns the symbolic output.  Called on values
        being recorded by a tape (inside a custom layer's or model's ``call`` in training) it is
        recorded on that tape.
        """
        training = kwargs.pop("training", None)
        if graph.is_symbolic(inputs):
            kwargs.pop("mask", None)
            if args or kwargs:
                raise TypeError(f"{self.describe()}: on symbolic tensors only the inputs (a tensor or a list of "
                                f"them) can be passed, got extra arguments {list(kwargs) or len(args)}")
            return graph.call_layer_on_symbols(self, inputs, training)
        tape = taped.tape_of(inputs) or (taped.tape_of(args) if args else None)
        if tape is not None:
            return taped.call_on_tape(self, inputs, tape, training, args, kwargs)
        if self._runs_call():
            self._added_losses = []
            x = taped.map_structure(self._cast_input, inputs)
            shapes = taped.map_structure(lambda a: (None,) + tuple(np.shape(a))[1:], x) if isinstance(x, list) \
                else (None,) + tuple(np.shape(x))[1:]
            taped.build_if_needed(self, shapes)
            # Off the tape a TapedTensor is its array; a Variable returned by call() stays itself, as in Keras.
            out = taped.map_structure(lambda v: v.value if isinstance(v, taped.TapedTensor) else v,
                                      taped.invoke_call(self, x, bool(training), args, kwargs))
            taped.note_shapes(self, shapes, out)
            return out
        if args or kwargs:
            raise TypeError(f"{self.describe()}: unexpected arguments {list(kwargs) or len(args)} "
                            "(a built-in layer takes its inputs and training=)")
        x = devices.place(inputs)   # a NumPy input is copied to the GPU when that is the active device
        if not np.issubdtype(x.dtype, np.floating) or x.dtype != self.dtype:
            x = x.astype(self.dtype)
        self.build_for((None,) + x.shape[1:])
        self.check_input(x)
        return self.forward(x, training=bool(training))

    def _cast_input(self, value):
        """Keras's autocast for a custom layer: float inputs to the layer's dtype, others unchanged."""
        if taped.is_taped(value):  # a TapedTensor or a Variable: used as it is
            return value
        value = devices.place(value)
        if np.issubdtype(value.dtype, np.floating) and value.dtype != self.dtype:
            value = value.astype(self.dtype)
        return value

    # ---------------------------------------------------------------- losses a layer adds (Keras's add_loss)
    def add_loss(self, loss: Any) -> None:
        """Add a term to the training loss from inside ``call`` (e.g. a penalty on activations).

        The model adds every term added during its forward pass to the loss it minimises, and the
        tape sends the term's gradient back through the ops that computed it.  ``losses`` lists the
        terms of the last call (plus the weight-regularization penalties), as Keras.

        Example:

        >>> class Penalised(layers.Layer):
        ...     def call(self, inputs):
        ...         self.add_loss(0.5 * ops.sum(inputs))
        ...         return inputs
        >>> layer = Penalised()
        >>> _ = layer(np.ones((2, 2)))
        >>> [float(value) for value in layer.losses]
        [2.0]
        """
        from ..variables import probing
        if probing():
            return
        if not hasattr(self, "_added_losses"):
            self._added_losses = []
        self._added_losses.append(loss)
        tape = taped.tape_of(loss)
        if tape is not None:
            tape.added_losses.append(loss)

    @property
    def losses(self) -> list[Any]:
        """The terms added by ``add_loss`` during the last call (this layer's and the held layers'),
        then the weight-regularization penalties."""
        added = [taped.value_of(loss) for layer, _ in self._weight_owners()
                 for loss in getattr(layer, "_added_losses", [])]
        penalties = [devices.asarray(layer.regularizers[w.name](w.value)) for layer, own in self._weight_owners()
                     for w in own if w.name in getattr(layer, "regularizers", {})]
        return added + penalties

    # ---------------------------------------------------------------- layers held by a custom layer
    def __setattr__(self, name: str, value: Any) -> None:
        # Keras tracks the layers a layer holds (self.dense = Dense(...), self.blocks = [...]):
        # their weights are this layer's weights too, and freezing the layer freezes them.
        if name == "trainable":
            for inner in self.__dict__.get("_tracked_layers", []):
                inner.trainable = value
        track_held_layers(self, name, value)
        object.__setattr__(self, name, value)

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments as a dict (no weights): ``from_config`` makes the same layer.

        Example:

        >>> layers.Dense(3, name="scores").get_config()["units"]
        3
        """
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        for weight_name, regularizer in getattr(self, "regularizers", {}).items():
            config[f"{weight_name}_regularizer"] = regularizers.serialize(regularizer)
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        for argument, weight_name in self._CONSTRAINT_ARGUMENTS.items():
            if weight_name in getattr(self, "constraints", {}):
                config[argument] = constraints.serialize(self.constraints[weight_name])
        if type(self).get_config is Layer.get_config and type(self).__init__ is not Layer.__init__:
            config.update(serialization.constructor_config(self))  # a user's layer: its own arguments too
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """A new layer (fresh weights) from ``get_config()``'s dict.

        Args:
            config: the config dict.

        Example:

        >>> layers.Dense.from_config(layers.Dense(3).get_config()).units
        3
        """
        return cls(**config)


@functools.lru_cache(maxsize=None)
def _computes_in_tinyconv(cls):
    """Whether the ``forward`` and ``backward`` a layer class runs are tinyconv's own (asked once per class)."""
    def owner(name):
        return next(c for c in cls.__mro__ if name in c.__dict__)
    return all(owner(name).__module__.startswith("tinyconv.") for name in ("forward", "backward"))


@functools.lru_cache(maxsize=None)
def _defines_call_only(cls):
    """Whether a layer class overrides ``call`` but not ``forward`` (asked once per class)."""
    return cls.call is not Layer.call and cls.forward is Layer.forward


def track_held_layers(holder: object, name: str, value: object) -> None:
    """Keras's tracking: a layer (or list or dict of layers) assigned to a public attribute of a custom
    layer or a subclassed model is one of its layers, in the order first assigned."""
    if not name.startswith("_") and _holds_layers(value):
        tracked = holder.__dict__.setdefault("_tracked_layers", [])
        for layer in _layers_in(value):
            if all(layer is not t for t in tracked):
                tracked.append(layer)


def _holds_layers(value):
    if isinstance(value, (list, tuple)):
        return any(_holds_layers(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_layers(item) for item in value.values())
    return isinstance(value, Layer) or (hasattr(value, "layers") and hasattr(value, "_run_forward"))


def _layers_in(value):
    if isinstance(value, (list, tuple)):
        return [layer for item in value for layer in _layers_in(item)]
    if isinstance(value, dict):
        return [layer for item in value.values() for layer in _layers_in(item)]
    return [value] if _holds_layers(value) else []


def run_backward(layer: Any, dy: Any, need_input_gradient: bool = True) -> Any:
    """``layer.backward(dy)``, telling it when nobody will read dL/dx.  A user's layer whose
    ``backward`` takes only ``dy`` is called that way (and its dL/dx dropped when unneeded)."""
    if need_input_gradient:
        return layer.backward(dy)
    if _takes_input_gradient_flag(type(layer).backward):
        return layer.backward(dy, need_input_gradient=False)
    layer.backward(dy)
    return None


@functools.lru_cache(maxsize=None)
def _takes_input_gradient_flag(method):
    """Whether a ``backward`` accepts ``need_input_gradient`` (asked once per class, not per step)."""
    try:
        return "need_input_gradient" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class ActivationMixin:
    """For layers with an ``activation=`` argument: y = act(z).

    ``backward`` first turns dL/dy into dL/dz; when the model fuses softmax (or sigmoid)
    with the cross-entropy it already has dL/dz and calls ``backward_from_preactivation``.
    """

    # Activations with a kernel in every kernel set (activations.KERNEL_ACTIVATIONS): the
    # compiled one is a single multi-threaded pass.  relu and tanh need only their output for
    # backward and are never fused with a loss, so a layer that owns z (a fresh result of its
    # own kernel) may overwrite z with the output instead of keeping both arrays.
    _IN_PLACE_ACTIVATIONS = ("relu", "tanh")

    # Set by the layer that mixes this in: its activation function, and what the last forward kept.
    activation: Callable[..., Any]
    _output: Any
    _preactivation: Any

    def _activate(self, z, owned=False):
        """y = act(z).  ``owned``: z is this layer's own fresh array, free to be overwritten."""
        name = getattr(self.activation, "__name__", None)
        if name not in activations.KERNEL_ACTIVATIONS:
            self._preactivation = z  # e.g. softmax's logits, for a loss fused with it
            self._output = self.activation(z)
        elif owned and name in self._IN_PLACE_ACTIVATIONS:
            self._preactivation = None
            self._output = dispatch.activation_forward(z, name, out=z)
        else:
            self._preactivation = z  # sigmoid's logits may be fused with binary cross-entropy
            self._output = dispatch.activation_forward(z, name)
        return self._output

    def backward_from_preactivation(self, dz: DeviceArray, need_input_gradient: bool = True) -> DeviceArray | None:
        """Backprop from dL/dz, z the pre-activation (the loss fused with the activation hands dL/dz)."""
        raise NotImplementedError

    def backward(self, dy: DeviceArray, need_input_gradient: bool = True) -> DeviceArray | None:
        name = getattr(self.activation, "__name__", None)
        if name in activations.KERNEL_ACTIVATIONS:
            dz = dispatch.activation_backward(dy, self._output, name)
        else:
            dz = activations.backward(self.activation, dy, self._output, z=self._preactivation)
        if need_input_gradient:   # (the plain call: a method replaced by a test or a student still works)
            return self.backward_from_preactivation(dz)
        return self.backward_from_preactivation(dz, need_input_gradient=False)

