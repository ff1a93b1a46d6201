"""Functional models: ``Model(inputs, outputs)`` over a graph of layer calls.

Calling a layer on a symbolic tensor (``Input(...)``, or what a layer returned) records a
``Node`` (see ``tinyconv.graph``): this layer, called on these tensors, made these tensors.
``Model(inputs, outputs)`` walks back from the outputs to collect the nodes in topological order.

Forward runs the nodes in that order.  Backward runs them in reverse: each node receives
dL/d(its outputs) and hands dL/d(its inputs) back to the tensors that fed it, and where one
tensor feeds several layers (a residual connection, a shared layer) the gradients arriving
from each use are **summed**, as the multivariate chain rule says.

A layer called more than once (a shared layer) keeps one set of weights but needs one set of
cached values per call: after each call's forward we save what it cached, and put it back
before that call's backward; its weight gradients are the sum over its calls.
"""
from __future__ import annotations

from typing import Any

from .. import devices, serialization
from ..devices import check_layer_runs_here
from ..graph import SymbolicTensor
from ..layers.base import Layer, Shape, ShapeLike, run_backward
from ..layers.core import InputLayer
from .model import GraphEnds, Model, _restore, _snapshot, _sublayers


class Functional(Model):
    """A model over a graph of layer calls, made by ``Model(inputs, outputs)``.

    Forward runs the recorded layer calls in an order where every call comes after those that feed
    it; backward runs them in reverse and sums the gradients where one tensor feeds several layers
    (a residual connection, a shared layer).

    Args:
        inputs: a symbolic tensor from ``layers.Input``, or a list / dict of them.
        outputs: a symbolic tensor computed from the inputs by layer calls, or a list / dict of them.
        name: the model's name.
        trainable: if False, ``fit`` leaves every weight unchanged.

    Raises:
        TypeError: if an input or output is not a symbolic tensor.
        ValueError: if an input does not come straight from ``Input``, an output cannot be computed
            from the inputs (a disconnected graph), or two layers share a name.

    Example:

    >>> inputs = layers.Input(shape=(4,))
    >>> hidden = layers.Dense(4, activation="relu")(inputs)
    >>> outputs = layers.Add()([inputs, hidden])  # a residual connection
    >>> model = tinyconv.Model(inputs, outputs)
    >>> model.predict(np.ones((2, 4)), verbose=0).shape
    (2, 4)
    """
    _inputs: list[SymbolicTensor]
    _outputs: list[SymbolicTensor]
    _output_keys: list[str] | None

    def __init__(self, inputs: GraphEnds, outputs: GraphEnds, name: str | None = None,
                 trainable: bool = True) -> None:
        if getattr(self, "_graph_ready", False):
            return  # Model(inputs, outputs) built this object in Model.__new__; Python calls __init__ again
        self._graph_ready = True
        super().__init__(name=name, trainable=trainable)
        self._inputs = _tensor_list(inputs)
        # Keras 3: outputs given as a dict are named by its keys, and predict() returns a dict.
        self._output_keys = list(outputs) if isinstance(outputs, dict) else None
        self._outputs = _tensor_list(outputs)
        for tensor in self._inputs + self._outputs:
            if not isinstance(tensor, SymbolicTensor):
                raise TypeError(f"Model: inputs and outputs must be symbolic tensors (from Input(...) and "
                                f"layer calls), got {tensor!r}")
        for tensor in self._inputs:
            if not isinstance(tensor.producer, InputLayer):
                raise ValueError(f"Model: each input must come straight from Input(...); {tensor} does not")
        self._nodes = self._collect_nodes()
        self._node_count: dict[int, int] = {}
        for node in self._nodes:
            self._node_count[id(node.layer)] = self._node_count.get(id(node.layer), 0) + 1
        layers = self._layers_in_keras_order()
        names = [layer.name for layer in layers]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"Model: layer names must be unique; {sorted(duplicates)} used more than once")
        self._layers = layers
        self._consumers: dict[int, int] = {}
        for node in self._nodes:
            for tensor in node.inputs:
                self._consumers[id(tensor)] = self._consumers.get(id(tensor), 0) + 1

    def _collect_nodes(self):
        """Nodes between the inputs and the outputs, in an order where every node comes after
        the nodes that feed it (depth-first post-order from the outputs)."""
        input_ids = {id(t) for t in self._inputs}
        ordered, done, active = [], set(), set()
        self._first_visit = {}  # id(layer) -> order in which the walk first met it

        def visit(tensor):
            self._first_visit.setdefault(id(tensor.producer), len(self._first_visit))
            if id(tensor) in input_ids:
                return
            node = tensor.node
            if node is None or not node.inputs:
                raise ValueError(f"Model: graph disconnected: {tensor.producer.describe()} output "
                                 f"{tensor.shape} cannot be computed from the given inputs")
            if id(node) in done:
                return
            if id(node) in active:
                raise ValueError("Model: the graph has a cycle")
            active.add(id(node))
            for parent in node.inputs:
                visit(parent)
            active.discard(id(node))
            done.add(id(node))
            ordered.append(node)

        for tensor in self._outputs:
            visit(tensor)
        return ordered

    def _layers_in_keras_order(self):
        """Keras's order for ``model.layers``: by depth (distance from the outputs, deepest first),
        ties broken by the order a walk back from the outputs first meets each layer."""
        node_depth = {}
        for node in reversed(self._nodes):
            depth = node_depth.setdefault(id(node), 0)
            for tensor in node.inputs:
                parent = tensor.node
                if parent is not None and parent.inputs:
                    node_depth[id(parent)] = max(node_depth.get(id(parent), 0), depth + 1)
        layer_depth, by_id = {}, {}
        for node in self._nodes:
            key = id(node.layer)
            by_id[key] = node.layer
            layer_depth[key] = max(layer_depth.get(key, 0), node_depth[id(node)])
            for tensor in node.inputs:
                if isinstance(tensor.producer, InputLayer):
                    parent_key = id(tensor.producer)
                    by_id[parent_key] = tensor.producer
                    layer_depth[parent_key] = max(layer_depth.get(parent_key, 0), node_depth[id(node)] + 1)
        for tensor in self._inputs:  # inputs no output depends on still belong to the model
            by_id.setdefault(id(tensor.producer), tensor.producer)
            layer_depth.setdefault(id(tensor.producer), 0)
        return sorted(by_id.values(), key=lambda layer: (-layer_depth[id(layer)],
                                                         self._first_visit.get(id(layer), -1)))

    # ------------------------------------------------------------- structure
    @property
    def layers(self) -> list[Layer | Model]:
        """The model's layers, its input layers included, in Keras's order (farthest from the outputs first).

        Example:

        >>> inputs = layers.Input(shape=(3,))
        >>> model = tinyconv.Model(inputs, layers.Dense(1)(layers.Dense(2)(inputs)))
        >>> [type(layer).__name__ for layer in model.layers]
        ['InputLayer', 'Dense', 'Dense']

        Ops called on tensors (``x + y``, ``x[:, 0]``) are nodes of the graph but not layers: as Keras,
        ``summary()`` and the config list them, ``layers`` does not.
        """
        return [layer for layer in self._layers if not getattr(layer, "is_op_node", False)]

    @property
    def inputs(self) -> list[SymbolicTensor]:
        """The symbolic input tensors the model was made with, as a list.

        Example:

        >>> inputs = layers.Input(shape=(3,))
        >>> tinyconv.Model(inputs, layers.Dense(1)(inputs)).inputs[0] is inputs
        True
        """
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The symbolic output tensors the model was made with, as a list.

        Example:

        >>> inputs = layers.Input(shape=(3,))
        >>> [t.shape for t in tinyconv.Model(inputs, layers.Dense(1)(inputs)).outputs]
        [(None, 1)]
        """
        return list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        """The names of the ``Input`` layers, in the order of ``inputs`` (the keys of a dict ``x``).

        Example:

        >>> a, b = layers.Input(shape=(3,), name="a"), layers.Input(shape=(2,), name="b")
        >>> tinyconv.Model([a, b], layers.Concatenate()([a, b])).input_names
        ['a', 'b']
        """
        return [t.producer.name for t in self._inputs]

    @property
    def output_names(self) -> list[str]:
        """The names of the layers producing the outputs (the keys of dict targets, losses and metrics).

        Example:

        >>> inputs = layers.Input(shape=(3,))
        >>> model = tinyconv.Model(inputs, [layers.Dense(1, name="score")(inputs),
        ...                                 layers.Dense(2, name="label")(inputs)])
        >>> model.output_names
        ['score', 'label']
        """
        if self._output_keys is not None:
            return list(self._output_keys)
        return [t.producer.name for t in self._outputs]

    def _output_layers(self):
        return [t.producer for t in self._outputs]

    @property
    def input_shape(self) -> Shape | list[Shape]:
        """The input's batch shape, or a list of them for several inputs.

        Example:

        >>> a, b = layers.Input(shape=(3,)), layers.Input(shape=(2,))
        >>> tinyconv.Model([a, b], layers.Concatenate()([a, b])).input_shape
        [(None, 3), (None, 2)]
        """
        shapes = [t.shape for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Shape | list[Shape]:
        """The output's batch shape, or a list of them for several outputs.

        Example:

        >>> a, b = layers.Input(shape=(3,)), layers.Input(shape=(2,))
        >>> tinyconv.Model([a, b], layers.Concatenate()([a, b])).output_shape
        (None, 5)
        """
        shapes = [t.shape for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def build(self, input_shape: ShapeLike | None = None) -> None:
        """Does nothing: a functional model is built when it is made (its layers were built by their calls).

        Args:
            input_shape: ignored.

        Example:

        >>> inputs = layers.Input(shape=(3,))
        >>> model = tinyconv.Model(inputs, layers.Dense(1)(inputs))
        >>> model.build((None, 3)); model.built
        True
        """

    def build_for(self, input_shape: ShapeLike) -> Shape | list[Shape]:
        """As a layer of another model: the output shape (the model is already built).

        Args:
            input_shape: the batch shape of its input (ignored).

        Returns:
            The output shape, or a list of them for several outputs.

        Example:

        >>> inputs = layers.Input(shape=(3,))
        >>> tinyconv.Model(inputs, layers.Dense(2)(inputs)).build_for((None, 3))
        (None, 2)
        """
        return self.output_shape if len(self._outputs) > 1 else self._outputs[0].shape

    def _can_fuse(self, output_index):
        tensor = self._outputs[output_index]
        return (self._consumers.get(id(tensor), 0) == 0 and self._node_count.get(id(tensor.producer), 0) == 1
                and sum(t is tensor for t in self._outputs) == 1 and not tensor.node.multi_output)

    # ------------------------------------------------------------- forward / backward
    def _check_inputs(self, inputs):
        for tensor, array in zip(self._inputs, inputs):
            expected = tensor.shape
            if array.ndim != len(expected) or any(e is not None and e != got
                                                  for e, got in zip(expected[1:], array.shape[1:])):
                raise ValueError(f"{self.describe()}: input '{tensor.producer.name}' expects shape {expected}, "
                                 f"got {array.shape}")

    def _run_forward(self, inputs, training):
        self._check_inputs(inputs)
        values = {id(t): a for t, a in zip(self._inputs, inputs)}
        uses_left = dict(self._consumers)  # id(tensor) -> how many nodes still have to read it
        kept = {id(t) for t in self._inputs + self._outputs}
        self._snapshots = {}
        self._start_activity_record()
        for node in self._nodes:
            args = [values[id(t)] for t in node.inputs]
            x = args if node.multi_input else args[0]
            del args
            check_layer_runs_here(node.layer)
            node.layer.check_input(x)
            # A call made with training=False (a frozen backbone) stays in inference mode, as in Keras.
            out = node.layer.forward(x, training=training if node.training is None else bool(node.training))
            self._record_activity(id(node), node.layer, out)
            del x
            if training:
                self._release_unneeded_preactivation(node.layer)
            if self._node_count[id(node.layer)] > 1:
                self._snapshots[id(node)] = _snapshot(node.layer)
            for tensor, value in zip(node.outputs, out if node.multi_output else [out]):
                values[id(tensor)] = value
            del out
            # Forget a value once its last reader has run: what backward needs, the layers keep.
            for tensor in node.inputs:
                uses_left[id(tensor)] -= 1
                if uses_left[id(tensor)] == 0 and id(tensor) not in kept:
                    values.pop(id(tensor), None)
        return [values[id(t)] for t in self._outputs]

    def _run_backward(self, output_grads, fused, need_input_gradients=True):
        grads = {}

        def accumulate(tensor, gradient):
            # Where one tensor feeds several layers, the gradients from each path add up.
            key = id(tensor)
            grads[key] = gradient if key not in grads else grads[key] + gradient

        fused_nodes = set()
        for tensor, gradient, is_fused in zip(self._outputs, output_grads, fused):
            if gradient is None:
                continue
            if is_fused:
                fused_nodes.add(id(tensor.node))
            accumulate(tensor, gradient)

        shared_grads = {}  # id(sublayer) -> (sublayer, [grads of each call])
        reached = set()
        model_inputs = {id(t) for t in self._inputs}
        for node in reversed(self._nodes):
            upstream = [grads.get(id(t)) for t in node.outputs]
            if all(g is None for g in upstream):
                continue  # nothing downstream depends on this call
            if any(g is None for g in upstream):  # a multi-output call with some outputs unused
                like = next(g for g in upstream if g is not None)
                zeros = devices.array_module_of(like).zeros   # on the gradients' device
                upstream = [zeros((like.shape[0],) + t.shape[1:], like.dtype) if g is None else g
                            for g, t in zip(upstream, node.outputs)]
            layer = node.layer
            shared = self._node_count[id(layer)] > 1
            if shared:
                _restore(self._snapshots[id(node)])
            # A training step reads no dL/d(model input): a node fed only by inputs may skip it.
            needs_dx = need_input_gradients or any(id(t) not in model_inputs for t in node.inputs)
            if id(node) in fused_nodes:
                dx = layer.backward_from_preactivation(upstream[0]) if needs_dx else \
                    layer.backward_from_preactivation(upstream[0], need_input_gradient=False)
            else:
                upstream = self._add_activity_gradient(id(node), layer, upstream if node.multi_output else upstream[0])
                dx = run_backward(layer, upstream, need_input_gradient=needs_dx)
            reached.add(id(layer))
            if shared:
                for obj in _sublayers(layer):
                    shared_grads.setdefault(id(obj), (obj, []))[1].append(dict(obj.grads))
            # Every use of this node's outputs has sent its gradient (the nodes run in reverse
            # order), so those gradients are done with: free them before the next node runs.
            for tensor in node.outputs:
                grads.pop(id(tensor), None)
            for tensor, gradient in zip(node.inputs, [] if dx is None else dx if node.multi_input else [dx]):
                if gradient is not None:
                    accumulate(tensor, gradient)
            upstream = like = dx = gradient = None

        for obj, per_call in shared_grads.values():
            summed = {}
            for call_grads in per_call:
                for name, value in call_grads.items():
                    summed[name] = value if name not in summed else summed[name] + value
            obj.grads = summed
        for layer in self._layers:
            if id(layer) not in reached:  # no gradient reaches it: its weights get zero gradients
                for obj in _sublayers(layer):
                    obj.grads = {w.name: devices.array_module_of(w.value).zeros_like(w.value)
                                 for w in getattr(obj, "_weights", [])}
        return [grads.get(id(t)) for t in self._inputs]

    # ------------------------------------------------------------- summary / config
    def is_sequential_like(self) -> bool:
        """True when the graph is a single chain (one input, each call feeding only the next, one output):
        ``summary`` then prints the simpler Sequential table.

        Example:

        >>> inputs = layers.Input(shape=(3,))
        >>> tinyconv.Model(inputs, layers.Dense(1)(layers.Dense(2)(inputs))).is_sequential_like()
        True
        >>> tinyconv.Model(inputs, layers.Add()([inputs, layers.Dense(3)(inputs)])).is_sequential_like()
        False
        """
        previous = self._inputs[0] if len(self._inputs) == 1 else None
        for node in self._nodes:
            if previous is None or node.inputs != [previous] or len(node.outputs) != 1:
                return False
            previous = node.outputs[0]
        return len(self._outputs) == 1 and self._outputs[0] is previous

    def summary_rows(self) -> list[tuple[Any, Shape | None, list[str]]]:
        """One row per layer, in the order Keras prints them: ``(layer, output shape, connections)``.

        A connection reads ``name[node][tensor]``: the layer that made the input, which of its calls,
        which of its outputs.

        Example:

        >>> a, b = layers.Input(shape=(3,), name="a"), layers.Input(shape=(2,), name="b")
        >>> model = tinyconv.Model([a, b], layers.Concatenate(name="joined")([a, b]))
        >>> [(shape, connections) for _, shape, connections in model.summary_rows()]
        [((None, 3), ['-']), ((None, 2), ['-']), ((None, 5), ['a[0][0]', 'b[0][0]'])]
        """
        rows = []
        for layer in self._layers:
            nodes = [n for n in getattr(layer, "_inbound_nodes", []) if n in self._nodes] if not isinstance(
                layer, InputLayer) else []
            shape = layer.batch_shape if isinstance(layer, InputLayer) else (
                nodes[0].outputs[0].shape if nodes else None)
            connections = [f"{t.producer.name}[{t.node.index}][{t.index}]" for n in nodes for t in n.inputs]
            rows.append((layer, shape, connections or ["-"]))
        return rows


def _tensor_list(ends: Any) -> list[SymbolicTensor]:
    """The tensors of ``Model(inputs, outputs)``'s argument as a list (a dict's values, in its order); the caller
    checks that each is a symbolic tensor."""
    if isinstance(ends, dict):
        return list(ends.values())
    return list(ends) if isinstance(ends, (list, tuple)) else [ends]


# ``Model(inputs, outputs)`` and configs of class "Functional" (Keras 2 wrote "Model") build a Functional;
# the base class is registered too, so that a subclassed model is still known to be a model.
serialization.register("models", Model)
serialization.register("models", {"Functional": Functional, "Model": Functional},
                       module="keras.src.models.functional", registered_name="Functional")
