"""One training step drawn as a graph: micrograd's picture at the scale of a CNN.

``step_graph(model, x, y)`` runs one step the way ``fit`` does (forward in training mode, the loss, backward;
the weights are not updated) and returns a ``StepGraph``:

* one node for the input, one per layer call, one for the loss, with an edge wherever an array went from
  one to the next (a residual ``Add`` has two incoming edges);
* on each node: the shapes, a summary of the value it made (mean, std, min, max) and of the gradient that
  came back to it (dL/d its output: norm and largest magnitude), and its weights' gradient norms;
* for a layer that defines only ``call`` (its backward comes from the tape), the ops the tape recorded
  inside it, each with its value and gradient, as in ``tape_step``.

Three renderings: ``str(graph)`` (text, one line per node), ``graph.to_dot()`` (Graphviz source; paste it
into any Graphviz viewer, nothing to install here) and ``graph.draw()`` (a matplotlib ``Figure``, drawn on
its own Figure object: pyplot and its global backend are never touched).
"""
import numpy as np

from .backprop import forward_backward, prepare, require_loss
from .hooks import leaf_layers, recording
from .table import shape_text
from .trace import _row as trace_row


# ------------------------------------------------------------------ summaries of values and gradients
def value_summary(array):
    """What a node made, in four numbers.

    Args:
        array: an array, a list of arrays (summarised as one), a single number, or None.

    Returns:
        {"mean", "std", "min", "max"}; {"value"} for a single number; None for None.

    Example:

    >>> from tinyconv.teaching.graph_picture import value_summary
    >>> value_summary(np.array([1.0, 3.0]))
    {'mean': 2.0, 'std': 1.0, 'min': 1.0, 'max': 3.0}
    """
    if array is None:
        return None
    if isinstance(array, (list, tuple)):
        array = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in array])
    array = np.asarray(array, dtype=np.float64)
    if array.size == 1:
        return {"value": float(array.reshape(-1)[0])}
    return {"mean": float(array.mean()), "std": float(array.std()), "min": float(array.min()),
            "max": float(array.max())}


def gradient_summary(array):
    """The gradient that came back to a node, in two numbers.

    Args:
        array: a gradient, a list of gradients (summarised as one; Nones skipped), or None.

    Returns:
        {"norm": its Euclidean norm, "max_abs": its largest magnitude}, or None.

    Example:

    >>> from tinyconv.teaching.graph_picture import gradient_summary
    >>> gradient_summary(np.array([3.0, -4.0]))
    {'norm': 5.0, 'max_abs': 4.0}
    """
    if array is None:
        return None
    if isinstance(array, (list, tuple)):
        arrays = [a for a in array if a is not None]
        if not arrays:
            return None
        array = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays])
    array = np.asarray(array, dtype=np.float64)
    return {"norm": float(np.linalg.norm(array)), "max_abs": float(np.abs(array).max()) if array.size else 0.0}


def value_text(summary):
    if summary is None:
        return "-"
    if "value" in summary:
        return f"{summary['value']:.4g}"
    return f"mean {summary['mean']:.3g} std {summary['std']:.3g} [{summary['min']:.3g}, {summary['max']:.3g}]"


def gradient_text(summary):
    if summary is None:
        return "-"
    return f"norm {summary['norm']:.3g} max|.| {summary['max_abs']:.3g}"


# ------------------------------------------------------------------ the graph
class GraphNode:
    """One box of the picture.

    Args:
        key: a short identifier ("x0", "n3", "n3_op2", "loss").
        kind: "input", "layer", "op" (recorded on a taped layer's tape) or "loss".
        name: the layer's (or op's, or loss's) name.
        cls: its class name.
        shapes: {"input": shape or list of shapes, "output": shape}.
        value: ``value_summary`` of what the node made.
        gradient: ``gradient_summary`` of dL/d(what the node made).
        gradient_label: what ``gradient`` is, e.g. "dL/dy" or "dL/dz (softmax folded into the loss)".
        weight_grads: {weight name: gradient norm}.
        flops: forward FLOPs per sample (layers only).
        parent: for an op, the key of the layer whose tape recorded it.
        reads: for an op, the names of the values it read (x, a weight's name, t1, ...).

    Example:

    >>> node = tinyconv.teaching.graph_picture.GraphNode("n1", "layer", "dense", "Dense",
    ...                                                  shapes={"input": (None, 3), "output": (None, 2)})
    >>> node.lines()[:2]
    ['dense (Dense)', '(None, 3) -> (None, 2)']
    """

    def __init__(self, key, kind, name, cls="", shapes=None, value=None, gradient=None, gradient_label="dL/dy",
                 weight_grads=None, flops=None, parent=None, reads=None):
        self.key, self.kind, self.name, self.cls = key, kind, name, cls
        self.shapes = shapes or {}
        self.value, self.gradient, self.gradient_label = value, gradient, gradient_label
        self.weight_grads = weight_grads or {}
        self.flops, self.parent, self.reads = flops, parent, reads or []

    def title(self):
        """"name (Class)", or the name alone."""
        return f"{self.name} ({self.cls})" if self.cls else self.name

    def lines(self):
        """The node's text, one fact a line: title, shapes, value, gradient, weight gradients."""
        lines = [self.title()]
        if self.kind == "op" and self.reads:
            lines.append("reads " + ", ".join(self.reads))
        if "output" in self.shapes:
            inputs = self.shapes.get("input")
            arrow = shape_text(inputs) + " -> " if inputs is not None else ""
            lines.append(arrow + shape_text(self.shapes["output"]))
        lines.append("value " + value_text(self.value))
        lines.append(f"{self.gradient_label} " + gradient_text(self.gradient))
        if self.weight_grads:
            lines.append(", ".join(f"d{name} |{norm:.3g}|" for name, norm in self.weight_grads.items()))
        return lines

    def as_dict(self):
        """The node as plain Python values (for JSON)."""
        return {"key": self.key, "kind": self.kind, "name": self.name, "class": self.cls, "shapes": self.shapes,
                "value": self.value, "gradient": self.gradient, "gradient_label": self.gradient_label,
                "weight_grads": dict(self.weight_grads), "flops": self.flops, "parent": self.parent,
                "reads": list(self.reads)}


class StepGraph:
    """The nodes (forward order) and edges (from key, to key) of one training step, and its loss.

    ``str(graph)`` is the text picture, ``to_dot()`` the Graphviz source, ``draw()`` a matplotlib Figure.
    ``graph[key_or_name]`` is the node with that key or name.

    Args:
        model_name: the model's name.
        loss: the step's loss value.
        nodes: the ``GraphNode``s, in forward order.
        edges: (from key, to key) pairs.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> graph = tinyconv.teaching.step_graph(model, np.ones((4, 3)), np.zeros(4))
    >>> [node.kind for node in graph.nodes]
    ['input', 'layer', 'loss']
    """

    def __init__(self, model_name, loss, nodes, edges):
        self.model_name, self.loss = model_name, loss
        self.nodes, self.edges = nodes, edges

    def __getitem__(self, key_or_name):
        for node in self.nodes:
            if key_or_name in (node.key, node.name):
                return node
        raise KeyError(f"StepGraph: no node with key or name {key_or_name!r}")

    def inputs_of(self, key):
        """The nodes that feed a node.

        Args:
            key: a node's key.

        Returns:
            The keys of the nodes with an edge into ``key``, in the order the edges were recorded.
        """
        return [source for source, target in self.edges if target == key]

    def as_dict(self):
        """The graph as plain Python values (for JSON): model, loss, nodes, edges."""
        return {"model": self.model_name, "loss": self.loss, "nodes": [node.as_dict() for node in self.nodes],
                "edges": [list(edge) for edge in self.edges]}

    # ---------------------------------------------------------------- text
    def __str__(self):
        lines = [f"Training step of '{self.model_name}': loss {self.loss:.6g} (weights not updated)"]
        for node in self.nodes:
            sources = ", ".join(self.inputs_of(node.key))
            indent = "      " if node.kind == "op" else ""
            first, *rest = node.lines()
            lines.append(f"{indent}{node.key}: {first}" + (f"  <- {sources}" if sources else ""))
            lines.extend(f"{indent}    {line}" for line in rest)
        return "\n".join(lines)

    __repr__ = __str__

    # ---------------------------------------------------------------- Graphviz
    def to_dot(self):
        """The graph in Graphviz's DOT language (text): ``dot -Tpng step.dot -o step.png`` draws it."""
        styles = {"input": 'shape=box, style="rounded,filled", fillcolor="#eeeeee"',
                  "layer": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"',
                  "op": 'shape=box, style="filled", fillcolor="#fde9c9", fontsize=9',
                  "loss": 'shape=ellipse, style="filled", fillcolor="#f6d5d5"'}
        lines = [f"digraph {_dot_id(self.model_name + '_step')} {{", "  rankdir=TB;",
                 '  node [fontname="Helvetica", fontsize=10];',
                 f"  label={_dot_string(f'one training step of {self.model_name}: loss {self.loss:.6g}')};"]
        children = {}
        for node in self.nodes:
            if node.kind == "op":
                children.setdefault(node.parent, []).append(node)
        for node in self.nodes:
            if node.kind == "op":
                continue
            declaration = f"  {node.key} [label={_dot_string(chr(10).join(node.lines()))}, {styles[node.kind]}];"
            if node.key in children:
                lines.append(f"  subgraph cluster_{node.key} {{")
                lines.append(f"    label={_dot_string(node.name + ': the ops its tape recorded')};")
                lines.append("  " + declaration)
                lines.extend(f"    {op.key} [label={_dot_string(chr(10).join(op.lines()))}, {styles['op']}];"
                             for op in children[node.key])
                lines.append("  }")
            else:
                lines.append(declaration)
        lines.extend(f"  {source} -> {target};" for source, target in self.edges)
        lines.append("}")
        return "\n".join(lines) + "\n"

    # ---------------------------------------------------------------- matplotlib
    def draw(self, figure=None):
        """Draw the graph on a matplotlib ``Figure`` (a new one by default) and return it.

        Main nodes go top to bottom by depth (side by side where branches run in parallel); a taped layer's
        ops go in a row to its right.  Only ``matplotlib.figure.Figure`` is used, never pyplot, so the
        caller's backend and open figures are left alone: ``figure.savefig("step.png")`` saves it.

        Args:
            figure: a matplotlib ``Figure`` to draw on; None: a new one.

        Returns:
            The ``Figure``.
        """
        from matplotlib.figure import Figure

        main = [node for node in self.nodes if node.kind != "op"]
        ops = [node for node in self.nodes if node.kind == "op"]
        where = _layout(main, ops, self.edges)
        width = max(x for x, _ in where.values()) + 1
        height = max(-y for _, y in where.values()) + 1
        if figure is None:
            figure = Figure(figsize=(max(6.0, 3.6 * width), max(3.0, 1.3 * height)))
            figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.94)
        ax = figure.add_subplot(1, 1, 1)
        colours = {"input": "#eeeeee", "layer": "#dbe9f6", "op": "#fde9c9", "loss": "#f6d5d5"}
        boxes = {node.key: ax.text(*where[node.key], "\n".join(node.lines()), ha="center", va="center",
                                   fontsize=6 if node.kind == "op" else 7, family="monospace", zorder=2,
                                   bbox={"boxstyle": "round", "fc": colours[node.kind], "ec": "#777777"})
                 for node in self.nodes}
        for source, target in self.edges:
            (x0, y0), (x1, y1) = where[source], where[target]
            # An edge that jumps over a box in its row or column bends round it (a residual's skip, an op reading x).
            bend = 1.3 if abs(y1 - y0) > 1 else 0.3 if abs(x1 - x0) > 1 and y0 == y1 else 0.0
            # Drawn after the boxes (zorder), so that each box's outline is in place to clip its arrow.
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=3,
                        arrowprops={"arrowstyle": "->", "color": "#555555", "shrinkA": 1, "shrinkB": 1,
                                    "patchA": boxes[source].get_bbox_patch(), "patchB": boxes[target].get_bbox_patch(),
                                    "connectionstyle": f"arc3,rad={bend}"})
        ax.set_xlim(-0.7, width - 0.3)
        ax.set_ylim(-height + 0.5, 0.5)
        ax.set_title(f"one training step of '{self.model_name}': loss {self.loss:.4g}", fontsize=9)
        ax.axis("off")
        return figure


def _layout(main, ops, edges):
    """(x, y) per key: main nodes by depth (longest path from an input), ops to the right of their layer."""
    depth, column = {}, {}
    main_keys = {node.key for node in main}
    for node in main:  # forward order: every source comes before its target
        sources = [s for s, t in edges if t == node.key and s in main_keys]
        depth[node.key] = max((depth[s] + 1 for s in sources), default=0)
    per_depth = {}
    for node in main:
        column[node.key] = per_depth.get(depth[node.key], 0)
        per_depth[depth[node.key]] = column[node.key] + 1
    where = {key: (float(column[key]), -float(depth[key])) for key in depth}
    offset = {}
    for op in ops:
        x, y = where[op.parent]
        offset[op.parent] = offset.get(op.parent, 0) + 1
        where[op.key] = (x + offset[op.parent], y)
    return where


def _dot_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_id(text):
    cleaned = "".join(c if c.isalnum() else "_" for c in text)
    return cleaned if cleaned[:1].isalpha() else "g_" + cleaned


# ------------------------------------------------------------------ building it
class _KeepTapes:
    """For the length of a ``with``: keep the tape of every forward of the layers that define only ``call``
    (their backward clears it from the layer), in call order per layer."""

    def __init__(self, layers):
        self.layers = [layer for layer in layers if layer._runs_call()]
        self.tapes = {id(layer): [] for layer in self.layers}

    def __enter__(self):
        for layer in self.layers:
            original = layer.forward

            def keeping(x, training=False, layer=layer, original=original):
                y = original(x, training=training)
                state = getattr(layer, "_tape_state", None)
                self.tapes[id(layer)].append(None if state is None else state[0])
                return y

            layer.forward = keeping
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            vars(layer).pop("forward", None)
        return False


def _tape_nodes(tape, parent_key):
    """The ops a taped layer's forward recorded: one node each, and the edges between them.

    Returns (nodes, edges): edges go op -> op where one op's value is read by another; an op reading the
    layer's input gets an edge from the layer's own node (the call's entry)."""
    names = {}
    for variable in tape.variables():
        names[id(tape.leaf_for(variable))] = variable.name
    made_by = {}
    nodes, edges = [], []
    for index, record in enumerate(tape.records, 1):
        key = f"{parent_key}_op{index}"
        for tensor in record.outputs:
            names[id(tensor)] = f"t{index}"
            made_by[id(tensor)] = key
        reads = []
        for tensor in record.inputs:
            if tensor is None:
                reads.append("const")
                continue
            name = names.get(id(tensor))
            if name is None:  # a watched input of the call
                name = "x"
                edges.append((parent_key, key))
            elif id(tensor) in made_by:
                edges.append((made_by[id(tensor)], key))
            reads.append(name)
        output = record.outputs[0]
        nodes.append(GraphNode(key, "op", f"t{index} = {record.name}", shapes={"output": tuple(np.shape(output.value))},
                               value=value_summary(output.value),
                               gradient=gradient_summary(tape.last_gradients.get(id(output))),
                               gradient_label=f"dL/dt{index}", parent=parent_key, reads=reads))
    return nodes, list(dict.fromkeys(edges))


def step_graph(model, x, y, loss=None, training=True):
    """One training step of ``model`` on the batch (x, y), as a graph of layers (and of taped ops).

    Runs forward (in training mode), the loss and backward exactly as ``fit`` would, without updating the
    weights, and records every layer call (as ``trace_step`` does) and the arrays that flowed between them.

    Args:
        model: a compiled model (or any model, with ``loss=``).
        x: an input batch (a list of arrays for several inputs).
        y: the targets.
        loss: a loss name or object to use instead of the compiled one.
        training: the mode of the forward pass (dropout, batch normalization).

    Returns:
        A ``StepGraph``: ``print`` it, ``.to_dot()`` for Graphviz, ``.draw()`` for a matplotlib Figure.

    Raises:
        ValueError: if the model is not compiled and no ``loss`` is given, or x and y do not fit it.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((4, 4, 1)), layers.Conv2D(2, 3, name="conv"),
    ...                              layers.Flatten(name="flat"), layers.Dense(3, activation="softmax", name="head")])
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> graph = step_graph(model, np.ones((2, 4, 4, 1)), np.array([0, 2]))
    >>> [node.name for node in graph.nodes]
    ['x', 'conv', 'flat', 'head', 'loss']
    >>> graph.edges
    [('x0', 'n1'), ('n1', 'n2'), ('n2', 'n3'), ('n3', 'loss')]
    >>> graph["conv"].shapes["output"], sorted(graph["conv"].weight_grads)
    ((2, 2, 2, 2), ['bias', 'kernel'])
    """
    loss_object = require_loss(model, loss)
    inputs, targets = prepare(model, x, y, "step_graph")
    with _KeepTapes(leaf_layers(model)) as kept, recording(model) as calls:
        value, outputs, input_grads = forward_backward(model, inputs, targets, loss_object, training)
    nodes, edges = [], []
    producer = {}  # id(array) -> key of the node that made it
    for index, (array, gradient) in enumerate(zip(inputs, input_grads)):
        key = f"x{index}"
        name = model.input_names[index] if len(inputs) > 1 else "x"
        nodes.append(GraphNode(key, "input", name, shapes={"output": tuple(array.shape)}, value=value_summary(array),
                               gradient=gradient_summary(gradient), gradient_label="dL/dx"))
        producer[id(array)] = key
    taken = {id(layer): 0 for layer in kept.layers}
    for number, call in enumerate(calls, 1):
        key, row = f"n{number}", trace_row(call)
        node = GraphNode(key, "layer", call.layer.name, row["class"],
                         shapes={"input": row["input_shape"], "output": row["output_shape"]},
                         value=value_summary(call.output), gradient=gradient_summary(call.upstream),
                         gradient_label=("dL/dz (activation folded into the loss)" if call.fused else "dL/dy"),
                         weight_grads={name: grad["norm"] for name, grad in row["weight_grads"].items()},
                         flops=row["flops"])
        nodes.append(node)
        arrays = call.inputs if isinstance(call.inputs, (list, tuple)) else [call.inputs]
        edges.extend((_source_of(array, producer, nodes), key) for array in arrays)
        for output in (call.output if isinstance(call.output, list) else [call.output]):
            producer[id(output)] = key
        if id(call.layer) in kept.tapes:
            tape = kept.tapes[id(call.layer)][taken[id(call.layer)]]
            taken[id(call.layer)] += 1
            if tape is not None:
                op_nodes, op_edges = _tape_nodes(tape, key)
                nodes.extend(op_nodes)
                edges.extend(op_edges)
    last_layer = next((node.key for node in reversed(nodes) if node.kind != "op"), nodes[0].key)
    loss_name = type(loss_object).__name__ if loss_object is not None else _compiled_loss_name(model)
    nodes.append(GraphNode("loss", "loss", "loss", loss_name, value=value_summary(value),
                           gradient=gradient_summary(1.0), gradient_label="dL/dL"))
    edges.extend((producer.get(id(output), last_layer), "loss") for output in outputs)
    return StepGraph(model.name, float(value), nodes, list(dict.fromkeys(edges)))


def _source_of(array, producer, nodes):
    """The node that made ``array``: by identity, else (a copy made on the way) the latest layer or input
    node whose output has its shape."""
    if id(array) in producer:
        return producer[id(array)]
    for node in reversed(nodes[:-1]):
        if node.kind != "op" and node.shapes.get("output") == tuple(np.shape(array)):
            return node.key
    return nodes[0].key


def _compiled_loss_name(model):
    losses = [type(loss).__name__ for loss in model._resolved_losses() if loss is not None]
    return ", ".join(losses)


__all__ = ["GraphNode", "StepGraph", "gradient_summary", "step_graph", "value_summary"]
