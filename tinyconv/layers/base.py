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
import functools
import inspect

import numpy as np

from .. import activations, backend, devices, dispatch, graph, initializers, naming, regularizers


class Weight:
    """One named parameter array of a layer, and whether the optimizer may change it."""

    __slots__ = ("name", "value", "trainable")

    def __init__(self, name, value, trainable):
        self.name = name
        self.value = value
        self.trainable = trainable


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
    expected_ndim = None
    # True for layers whose array maths follow the active array module (see tinyconv.devices).
    runs_on_gpu = False
    _CONSTRUCTOR_KEYS = ("name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size",
                         "input_dim", "kernel_regularizer", "bias_regularizer", "activity_regularizer")

    def __init__(self, name=None, trainable=True, dtype=None, **kwargs):
        unknown = set(kwargs) - set(self._CONSTRUCTOR_KEYS)
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

    # ---------------------------------------------------------------- identity
    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"

    def describe(self):
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
    def output(self):
        node = self._single_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    @property
    def input(self):
        node = self._single_node("input")
        return node.inputs[0] if len(node.inputs) == 1 else node.inputs

    # ---------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="zeros", trainable=True):
        init = initializers.get(initializer)
        value = np.asarray(init(tuple(shape), dtype=self.dtype), dtype=self.dtype)
        value = devices.to_device(value)  # on the active device (unchanged on the CPU)
        self._weights.append(Weight(name, value, trainable))
        return value

    def _weight(self, name):
        for w in self._weights:
            if w.name == name:
                return w.value
        raise KeyError(f"{self.describe()} has no weight named {name!r}")

    @property
    def weights(self):
        """All weight arrays, in Keras's ``get_weights()`` order."""
        return [w.value for w in self._weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w.value for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w.value for w in self._weights if not w.trainable]

    def trainable_gradients(self):
        """Gradients aligned with ``trainable_weights`` (after a backward pass), each with its weight's
        regularizer gradient added: d(loss + R(w))/dw = grads[w] + dR/dw."""
        if not self.trainable:
            return []
        missing = [w.name for w in self._weights if w.trainable and w.name not in self.grads]
        if missing:
            raise RuntimeError(f"{self.describe()}: no gradient for {missing}; run backward() first")
        return [self._regularized_gradient(w) for w in self._weights if w.trainable]

    def _regularized_gradient(self, weight):
        regularizer = self.regularizers.get(weight.name) if hasattr(self, "regularizers") else None
        if regularizer is None:
            return self.grads[weight.name]
        return self.grads[weight.name] + regularizer.gradient(weight.value)  # a new array: grads stay pure

    def regularization_losses(self):
        """Sum of the regularizer penalties on this layer's trainable weights (0.0 without regularizers)."""
        if not self.trainable or not getattr(self, "regularizers", None):
            return 0.0
        return float(sum(self.regularizers[w.name](w.value) for w in self._weights
                         if w.trainable and w.name in self.regularizers))

    def get_weights(self):
        return [devices.host_copy(w.value) for w in self._weights]  # NumPy, wherever the weights live

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f"{self.describe()}: set_weights expected a list of {len(self._weights)} arrays "
                f"({[w.name for w in self._weights]}), got {len(weights)}"
            )
        for slot, new in zip(self._weights, weights):
            new = devices.to_host(new)
            if new.shape != slot.value.shape:
                raise ValueError(
                    f"{self.describe()}: weight '{slot.name}' has shape {slot.value.shape}, "
                    f"got an array of shape {new.shape}"
                )
        for slot, new in zip(self._weights, weights):
            # in place: optimizer state keyed on the array stays valid
            slot.value[...] = new if devices.is_numpy(slot.value) else devices.array_module_of(slot.value).asarray(new)

    def count_params(self):
        return int(sum(w.value.size for w in self._weights))

    # ---------------------------------------------------------------- shapes
    def build(self, input_shape):
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def build_for(self, input_shape):
        """Check ``input_shape``, build if needed and record input/output shapes."""
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
        self.input_shape = input_shape
        self.output_shape = tuple(self.compute_output_shape(input_shape))
        return self.output_shape

    def _check_rank(self, shape):
        if self.expected_ndim is not None and len(shape) != self.expected_ndim:
            raise ValueError(
                f"{self.describe()}: expected input of rank {self.expected_ndim} "
                f"{self._rank_hint()}, got shape {tuple(shape)}"
            )

    def _rank_hint(self):
        return {4: "(batch, height, width, channels)", 2: "(batch, features)"}.get(self.expected_ndim, "")

    def check_input(self, x):
        """Validate an input array against the built layer (called once per batch)."""
        self._check_rank(x.shape)
        if x.shape[0] == 0:
            raise ValueError(f"{self.describe()}: got an empty batch (shape {x.shape})")

    # ---------------------------------------------------------------- compute
    def forward(self, x, training=False):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def backward(self, dy, need_input_gradient=True):
        """Store dL/dw in ``self.grads`` and return dL/dx.  ``need_input_gradient=False``: the
        caller will not read dL/dx (a model's first layer in a training step), so a layer may skip
        computing it and return None."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def __call__(self, x, training=False):
        """Run the layer on an array (building it on first use), as ``layer(x)`` in Keras.

        Called on symbolic tensors (``Input(...)`` and what layers return from them) it records
        the call in a functional graph instead, and returns the symbolic output.
        """
        if graph.is_symbolic(x):
            return graph.call_layer_on_symbols(self, x)
        x = devices.asarray(x)
        if not np.issubdtype(x.dtype, np.floating) or x.dtype != self.dtype:
            x = x.astype(self.dtype)
        self.build_for((None,) + x.shape[1:])
        self.check_input(x)
        return self.forward(x, training=training)

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        for weight_name, regularizer in getattr(self, "regularizers", {}).items():
            config[f"{weight_name}_regularizer"] = regularizers.serialize(regularizer)
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def run_backward(layer, dy, need_input_gradient=True):
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

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        raise NotImplementedError

    def backward(self, dy, need_input_gradient=True):
        name = getattr(self.activation, "__name__", None)
        if name in activations.KERNEL_ACTIVATIONS:
            dz = dispatch.activation_backward(dy, self._output, name)
        else:
            dz = activations.backward(self.activation, dy, self._output, z=self._preactivation)
        if need_input_gradient:   # (the plain call: a method replaced by a test or a student still works)
            return self.backward_from_preactivation(dz)
        return self.backward_from_preactivation(dz, need_input_gradient=False)

