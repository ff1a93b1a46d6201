"""``keras.utils.plot_model``: a picture of a model's layers and how they connect.

With pydot and Graphviz installed the picture is drawn the way Keras draws it (a dot graph, one table per
layer). Without them it is drawn with matplotlib instead, so a student always gets the picture: one box per
layer (name, class, shapes, parameter count), one arrow per connection, the functional graph's branches
laid out in layers (each layer one rank below the longest path that reaches it, ranks ordered to keep
arrows short).

The graph is read from the model without importing the model classes: a functional model's nodes (each
node's input tensors name the layers that made them), a Sequential's chain of layers.
"""
import importlib
import shutil

import numpy as np

RANKDIRS = ("TB", "LR")


# ------------------------------------------------------------------ the graph of a model
class Graph:
    """Boxes (``vertices``: key -> layer) and arrows (``edges``: (from key, to key)), plus the keys where a
    nested use of the model enters (``entries``) and leaves (``exits``).

    ``model_graph`` builds one; ``draw_model``, ``model_to_dot`` and ``plot_model`` draw it.

    Example:

    >>> graph = Graph()
    >>> graph.add_edge("input", "dense")
    >>> graph.add_edge("input", "dense")   # an arrow is drawn once
    >>> graph.edges
    [('input', 'dense')]
    """

    def __init__(self):
        self.vertices, self.edges, self.entries, self.exits = {}, [], [], []

    def add_edge(self, source, target):
        """Add the arrow ``source -> target`` unless it is there already.

        Args:
            source: the key of the box the arrow leaves.
            target: the key of the box it enters.
        """
        if (source, target) not in self.edges:
            self.edges.append((source, target))


def _is_model(layer):
    return hasattr(layer, "layers") and hasattr(layer, "compile")


def _key(layer, prefix):
    return f"{prefix}{layer.name}"


def model_graph(model, expand_nested=False, prefix=""):
    """The ``Graph`` of ``model``; nested models are one box, or their own graph with ``expand_nested``.

    Args:
        model: a Sequential or functional model.
        expand_nested: replace each nested model's box by its own layers (keys ``"outer/inner"``).
        prefix: prepended to every key (used for nested models).

    Returns:
        A ``Graph`` whose keys are layer names.

    Example:

    >>> import tinyconv
    >>> x = tinyconv.Input((4,), name="x")
    >>> a, b = tinyconv.layers.Dense(2, name="a")(x), tinyconv.layers.Dense(2, name="b")(x)
    >>> model = tinyconv.Model(x, tinyconv.layers.Add(name="sum")([a, b]))
    >>> sorted(model_graph(model).edges)
    [('a', 'sum'), ('b', 'sum'), ('x', 'a'), ('x', 'b')]
    """
    graph = Graph()
    if hasattr(model, "_nodes") and hasattr(model, "_inputs"):       # functional
        for tensor in model._inputs:
            graph.vertices[_key(tensor.producer, prefix)] = tensor.producer
            graph.entries.append(_key(tensor.producer, prefix))
        links = [(t.producer, node.layer) for node in model._nodes for t in node.inputs]
        for node in model._nodes:
            graph.vertices[_key(node.layer, prefix)] = node.layer
        graph.exits = [_key(t.producer, prefix) for t in model._outputs]
    else:                                                            # Sequential: a chain
        chain = list(getattr(model, "layers", []))
        input_layer = getattr(model, "_input_layer", None)
        if input_layer is not None and input_layer not in chain:
            chain.insert(0, input_layer)
        for layer in chain:
            graph.vertices[_key(layer, prefix)] = layer
        links = list(zip(chain, chain[1:]))
        graph.entries, graph.exits = [_key(chain[0], prefix)] if chain else [], [_key(chain[-1], prefix)] if chain else []
    for source, target in links:
        graph.add_edge(_key(source, prefix), _key(target, prefix))
    if expand_nested:
        graph = _expand(graph, prefix)
    return graph


def _expand(graph, prefix):
    """Replace every box that is a model by its inner graph, rewiring the arrows to its entries and exits."""
    for key, layer in list(graph.vertices.items()):
        if not _is_model(layer):
            continue
        inner = model_graph(layer, expand_nested=True, prefix=f"{prefix}{layer.name}/")
        del graph.vertices[key]
        graph.vertices.update(inner.vertices)
        edges = []
        for source, target in graph.edges:
            sources = inner.exits if source == key else [source]
            targets = inner.entries if target == key else [target]
            edges += [(s, t) for s in sources for t in targets]
        graph.edges = edges + inner.edges
        graph.entries = [e for k in graph.entries for e in (inner.entries if k == key else [k])]
        graph.exits = [e for k in graph.exits for e in (inner.exits if k == key else [k])]
    return graph


# ------------------------------------------------------------------ what a box says
def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _shapes(layer):
    """(input shape, output shape) the layer was built with, as far as it knows them."""
    if hasattr(layer, "batch_shape"):  # an InputLayer
        return layer.batch_shape, layer.batch_shape
    return getattr(layer, "input_shape", None), getattr(layer, "output_shape", None)


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", None) or type(activation).__name__


def layer_lines(layer, show_shapes=False, show_dtype=False, show_layer_names=False,
                show_layer_activations=False, show_trainable=False):
    """The text lines of one box.

    Args:
        layer: the layer the box stands for.
        show_shapes: show the input and output shapes in the box, as ``plot_model``.
        show_dtype: show the layer's dtype in the box.
        show_layer_names: show the layer's name beside its class in the box.
        show_layer_activations: show the activation of a layer that has one.
        show_trainable: show whether the layer is trainable.

    Returns:
        A list of strings, the first the layer's class (and name); the parameter count last.

    Example:

    >>> import tinyconv
    >>> model = tinyconv.Sequential([tinyconv.Input((4,)), tinyconv.layers.Dense(2, name="out")])
    >>> layer_lines(model.layers[0], show_shapes=True, show_layer_names=True)
    ['out (Dense)', 'Input shape: (None, 4)', 'Output shape: (None, 2)', 'Params: 10']
    """
    class_name = type(layer).__name__
    lines = [f"{layer.name} ({class_name})" if show_layer_names else class_name]
    if show_layer_activations and _activation_name(layer):
        lines.append(f"Activation: {_activation_name(layer)}")
    if show_shapes:
        in_shape, out_shape = _shapes(layer)
        lines.append(f"Input shape: {_shape_text(in_shape)}")
        lines.append(f"Output shape: {_shape_text(out_shape)}")
    if show_dtype:
        lines.append(f"dtype: {getattr(layer, 'dtype', '?')}")
    if show_trainable:
        lines.append(f"Trainable: {'yes' if getattr(layer, 'trainable', True) else 'no'}")
    try:
        params = int(layer.count_params()) if getattr(layer, "built", True) else 0
    except (AttributeError, ValueError, RuntimeError):
        params = 0
    if params:
        lines.append(f"Params: {params:,}")
    return lines


# ------------------------------------------------------------------ layout
def layered_layout(graph):
    """{key: (rank, position)}: rank = longest path from a source; positions ordered by the mean position of
    each box's parents (one barycentre sweep), so branches sit side by side and arrows stay short.

    Args:
        graph: a ``Graph``.

    Returns:
        A dict from each key to ``(rank, position)``; positions of a rank are centred on 0.

    Example:

    >>> graph = Graph()
    >>> graph.vertices = {"x": None, "a": None, "b": None, "sum": None}
    >>> for edge in (("x", "a"), ("x", "b"), ("a", "sum"), ("b", "sum")):
    ...     graph.add_edge(*edge)
    >>> layered_layout(graph)
    {'x': (0, 0.0), 'a': (1, -0.5), 'b': (1, 0.5), 'sum': (2, 0.0)}
    """
    parents = {key: [] for key in graph.vertices}
    for source, target in graph.edges:
        parents[target].append(source)
    rank = {}

    def rank_of(key, seen=()):
        if key not in rank:
            if key in seen:  # a cycle cannot happen in a model; guard anyway
                return 0
            rank[key] = 1 + max((rank_of(p, seen + (key,)) for p in parents[key]), default=-1)
        return rank[key]

    for key in graph.vertices:
        rank_of(key)
    position, layout = {}, {}
    order = list(graph.vertices)
    for level in range(max(rank.values(), default=-1) + 1):
        keys = [k for k in order if rank[k] == level]
        keys.sort(key=lambda k: (np.mean([position[p] for p in parents[k]]) if parents[k] else order.index(k)))
        for index, key in enumerate(keys):
            position[key] = index - (len(keys) - 1) / 2.0
            layout[key] = (level, position[key])
    return layout


# ------------------------------------------------------------------ the matplotlib drawing
def draw_model(model, show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False):
    """The model's picture as a matplotlib figure (boxes have gid ``"layer:<key>"``, arrows
    ``"edge:<from>-><to>"``, so a program can find them).

    Drawn on a ``matplotlib.figure.Figure`` of its own: pyplot's global state is left alone.

    Args:
        model: a Sequential or functional model.
        show_shapes: show the input and output shapes in each box, as ``plot_model``.
        show_dtype: show the layer's dtype in each box.
        show_layer_names: show the layer's name beside its class in each box.
        show_layer_activations: show the activation of a layer that has one.
        show_trainable: show whether the layer is trainable.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"``.
        expand_nested: draw the layers of nested models.
        dpi: the figure's resolution.

    Returns:
        A ``matplotlib.figure.Figure``.

    Raises:
        ImportError: without matplotlib.

    Example:

    >>> import tinyconv
    >>> model = tinyconv.Sequential([tinyconv.Input((4,), name="x"), tinyconv.layers.Dense(2, name="out")])
    >>> figure = draw_model(model)
    >>> sorted(p.get_gid() for p in figure.axes[0].patches if (p.get_gid() or "").startswith("layer:"))
    ['layer:out', 'layer:x']
    """
    try:
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    except ImportError as error:
        raise ImportError("plot_model needs matplotlib (pip install matplotlib) or pydot with Graphviz "
                          "(pip install pydot, and Graphviz from graphviz.org)") from error
    del matplotlib
    if rankdir not in RANKDIRS:
        raise ValueError(f"plot_model: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    graph = model_graph(model, expand_nested)
    layout = layered_layout(graph)
    text = {key: layer_lines(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                             show_trainable) for key, layer in graph.vertices.items()}
    box_w = max((max(len(line) for line in lines) for lines in text.values()), default=10) * 0.09 + 0.3
    box_h = max((len(lines) for lines in text.values()), default=1) * 0.2 + 0.25
    gap_rank, gap_side = box_h + 0.6, box_w + 0.5

    def centre(key):
        level, pos = layout[key]
        return (pos * gap_side, -level * gap_rank) if rankdir == "TB" else (level * (box_w + 0.8), -pos * (box_h + 0.5))

    centres = {key: centre(key) for key in graph.vertices}
    xs = [c[0] for c in centres.values()] or [0]
    ys = [c[1] for c in centres.values()] or [0]
    width = max(xs) - min(xs) + box_w + 1
    height = max(ys) - min(ys) + box_h + 1
    figure = Figure(figsize=(max(width, 2), max(height, 1.5)), dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(min(xs) - box_w / 2 - 0.5, max(xs) + box_w / 2 + 0.5)
    axes.set_ylim(min(ys) - box_h / 2 - 0.5, max(ys) + box_h / 2 + 0.5)
    axes.axis("off")
    for key, (x, y) in centres.items():
        axes.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.02",
                                      facecolor="#f2f2f2", edgecolor="black", linewidth=1, gid=f"layer:{key}"))
        lines = text[key]
        axes.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=10, family="monospace",
                  gid=f"label:{key}")
    for source, target in graph.edges:
        (x0, y0), (x1, y1) = centres[source], centres[target]
        if rankdir == "TB":
            start, end = (x0, y0 - box_h / 2), (x1, y1 + box_h / 2)
        else:
            start, end = (x0 + box_w / 2, y0), (x1 - box_w / 2, y1)
        axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, linewidth=1,
                                       color="black", gid=f"edge:{source}->{target}"))
    return figure


# ------------------------------------------------------------------ the Graphviz drawing (Keras's way)
def _pydot():
    """pydot when it and Graphviz's ``dot`` program are both installed, else None."""
    try:
        pydot = importlib.import_module("pydot")
    except ImportError:
        return None
    return pydot if shutil.which("dot") else None


def _html(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
                 splines="ortho"):
    """The model as a ``pydot.Dot`` graph: one table-shaped node per layer, one edge per connection.

    Args:
        model: a Sequential or functional model.
        show_shapes: show the input and output shapes in each node, as ``plot_model``.
        show_dtype: show the layer's dtype in each node.
        show_layer_names: show the layer's name beside its class in each node.
        show_layer_activations: show the activation of a layer that has one.
        show_trainable: show whether the layer is trainable.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"``.
        expand_nested: draw the layers of nested models.
        dpi: the resolution of a rendered image.
        splines: Graphviz's edge style.

    Returns:
        A ``pydot.Dot``.

    Raises:
        ImportError: without the ``pydot`` package.

    Example:

    >>> import tinyconv
    >>> model = tinyconv.Sequential([tinyconv.Input((4,), name="x"), tinyconv.layers.Dense(2, name="out")])
    >>> dot = model_to_dot(model)
    >>> [(edge.get_source(), edge.get_destination()) for edge in dot.get_edges()]
    [('"x"', '"out"')]
    """
    pydot = importlib.import_module("pydot")
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, concentrate=True, dpi=dpi, splines=splines)
    dot.set_node_defaults(shape="record")
    graph = model_graph(model, expand_nested)
    for key, layer in graph.vertices.items():
        lines = layer_lines(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                            show_trainable)
        rows = "".join(f'<tr><td bgcolor="{"black" if i == 0 else "white"}"><font color="'
                       f'{"white" if i == 0 else "black"}">{_html(line)}</font></td></tr>'
                       for i, line in enumerate(lines))
        dot.add_node(pydot.Node(f'"{key}"', label=f'<<table border="0" cellborder="1" cellpadding="10">{rows}</table>>',
                                shape="plain"))
    for source, target in graph.edges:
        dot.add_edge(pydot.Edge(f'"{source}"', f'"{target}"'))
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho", **kwargs):
    """Draws the model's graph into an image file (Keras 3's arguments and defaults).

    Args:
        model: a built Sequential or functional model.
        to_file: the image file; its extension picks the format (png, pdf, svg, jpg).
        show_shapes: show each layer's input and output shapes.
        show_dtype: show each layer's dtype.
        show_layer_names: show the layer names (Keras 3's default is False: class names only).
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        expand_nested: draw the layers of nested models instead of one box each.
        dpi: the image resolution.
        show_layer_activations: show the activation of layers that have one.
        show_trainable: show whether each layer is trainable.
        splines: Graphviz's edge style (used only when drawing with Graphviz).
        **kwargs: Keras's ``layer_range`` and other rarely used options are refused with a clear error.

    Returns:
        In a notebook, an ``IPython.display.Image`` of the file (as Keras); otherwise None.

    Raises:
        ImportError: neither matplotlib nor pydot with Graphviz is installed.
        ValueError: an unbuilt model, a bad ``rankdir``, an unsupported option.

    Example:

    >>> import os, tempfile, tinyconv
    >>> model = tinyconv.Sequential([tinyconv.Input((4,)), tinyconv.layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.png")
    >>> _ = plot_model(model, to_file=path, show_shapes=True)
    >>> open(path, "rb").read(8) == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    if kwargs:
        raise ValueError(f"plot_model: unsupported argument(s) {sorted(kwargs)}")
    if not getattr(model, "built", True):
        raise ValueError(f"plot_model: build the model first (call it on data, or start it with keras.Input); "
                         f"{getattr(model, 'name', model)!r} is not built")
    if rankdir not in RANKDIRS:
        raise ValueError(f"plot_model: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    to_file = str(to_file)
    extension = to_file.rsplit(".", 1)[-1].lower() if "." in to_file else "png"
    pydot = _pydot()
    if pydot is not None:
        dot = model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi,
                           show_layer_activations, show_trainable, splines)
        dot.write(to_file, format=extension)
    else:
        figure = draw_model(model, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi,
                            show_layer_activations, show_trainable)
        figure.savefig(to_file, format=extension, dpi=dpi)
    return _notebook_image(to_file, extension)


def _notebook_image(path, extension):
    """Keras shows the picture in a notebook: an IPython Image when running under IPython, else None."""
    if extension == "pdf":
        return None
    try:
        from IPython import get_ipython
        from IPython.display import Image
    except ImportError:
        return None
    return Image(filename=path) if get_ipython() is not None else None
