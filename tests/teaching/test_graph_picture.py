"""step_graph: one training step as a graph of layer calls (and taped ops), in text, Graphviz and matplotlib."""
import doctest
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers, ops
from tinyconv.teaching import graph_picture, trace_step
from tinyconv.teaching.graph_picture import step_graph

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Scale(layers.Layer):
    """A custom layer with only ``call``: its backward comes from the tape."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return ops.relu(x * self.w) + x


def small_cnn():
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(3, 3, name="conv"),
                              layers.MaxPooling2D(2, name="pool"), layers.Flatten(name="flat"),
                              layers.Dense(4, activation="softmax", name="head")], name="small_cnn")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def residual_model():
    inputs = keras.Input((5, 5, 1))
    conv = layers.Conv2D(2, 3, padding="same", name="conv")(inputs)
    scaled = Scale(name="scale")(conv)
    merged = layers.Add(name="add")([conv, scaled])
    outputs = layers.Dense(3, activation="softmax", name="head")(layers.Flatten(name="flat")(merged))
    model = keras.Model(inputs, outputs, name="residual")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((4,) + shape).astype("float32"), rng.integers(0, 3, 4)


def test_a_chain_of_layers_agrees_with_trace_step():
    model = small_cnn()
    x, y = batch((6, 6, 1))
    before = model.get_weights()
    graph = step_graph(model, x, y)
    trace = trace_step(model, x, y)
    assert [node.name for node in graph.nodes] == ["x", "conv", "pool", "flat", "head", "loss"]
    assert graph.edges == [("x0", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "n4"), ("n4", "loss")]
    assert graph.loss == pytest.approx(trace.loss)
    for name in ["conv", "head"]:
        assert graph[name].weight_grads == pytest.approx({k: v["norm"] for k, v in trace[name]["weight_grads"].items()})
        assert graph[name].flops == trace[name]["flops"]
    assert graph["conv"].shapes == {"input": (4, 6, 6, 1), "output": (4, 4, 4, 3)}
    conv_output = model.layers[0](x)
    assert graph["conv"].value["mean"] == pytest.approx(float(np.mean(conv_output)), rel=1e-5)
    assert graph["conv"].value["max"] == pytest.approx(float(np.max(conv_output)), rel=1e-5)
    # the gradient that reached the pool's input is what conv received from above
    assert graph["conv"].gradient["norm"] == pytest.approx(trace["pool"]["input_grad_norm"], rel=1e-5)
    assert graph["x"].gradient["norm"] == pytest.approx(trace["conv"]["input_grad_norm"], rel=1e-5)
    assert graph["head"].gradient_label.startswith("dL/dz")  # softmax folded into the cross-entropy
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # no update


def test_a_residual_model_with_a_taped_layer():
    model = residual_model()
    x, y = batch((5, 5, 1), seed=1)
    graph = step_graph(model, x, y)
    add, scale = graph["add"], graph["scale"]
    assert sorted(graph.inputs_of(add.key)) == sorted([graph["conv"].key, scale.key])  # the skip connection
    op_nodes = [node for node in graph.nodes if node.parent == scale.key]
    assert [node.name for node in op_nodes] == ["t1 = multiply", "t2 = relu", "t3 = add"]
    assert op_nodes[0].reads == ["x", "w"] and op_nodes[2].reads == ["t2", "x"]
    assert (op_nodes[0].key, op_nodes[1].key) in graph.edges and (scale.key, op_nodes[0].key) in graph.edges
    # the last op made the layer's output: the gradient it got is the one the layer got from above
    assert op_nodes[-1].gradient["norm"] == pytest.approx(scale.gradient["norm"], rel=1e-5)
    assert op_nodes[-1].value == pytest.approx(scale.value)
    assert set(scale.weight_grads) == {"w"} and scale.weight_grads["w"] > 0
    text = str(graph)
    assert "t2 = relu" in text and f"{add.key}: add (Add)" in text and "<- " in text


def test_graphviz_text():
    graph = step_graph(residual_model(), *batch((5, 5, 1)))
    dot = graph.to_dot()
    assert dot.startswith("digraph residual_step {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    for source, target in graph.edges:
        assert f"  {source} -> {target};" in dot
    for node in graph.nodes:
        assert f"{node.key} [label=" in dot
    assert f"subgraph cluster_{graph['scale'].key}" in dot
    assert '\\n' in dot and "\n\n" not in dot.split("{", 1)[1]  # labels keep their line breaks escaped


def test_an_explicit_loss_is_differentiated_on_its_own():
    model = small_cnn()
    x, _ = batch((6, 6, 1))
    graph = step_graph(model, x, np.eye(4, dtype="float32")[[0, 1, 2, 3]], loss="mse")
    assert graph["loss"].cls == "MeanSquaredError"
    assert graph["head"].gradient_label == "dL/dy"


def test_an_uncompiled_model_needs_a_loss():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="compile the model with a loss"):
        step_graph(model, np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(KeyError, match="no node with key or name 'nope'"):
        step_graph(model, np.ones((2, 3)), np.ones((2, 2)), loss="mse")["nope"]


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="drawing needs matplotlib")
def test_draw_returns_a_figure(tmp_path):
    from matplotlib.figure import Figure

    graph = step_graph(residual_model(), *batch((5, 5, 1)))
    figure = graph.draw()
    assert isinstance(figure, Figure)
    texts = [text.get_text() for text in figure.axes[0].texts if text.get_text()]  # (arrows are empty texts)
    assert len(texts) == len(graph.nodes) and any(text.startswith("t2 = relu") for text in texts)
    path = tmp_path / "step.png"
    figure.savefig(path, dpi=50)
    assert path.stat().st_size > 1000
    mine = Figure()
    assert graph.draw(mine) is mine


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="drawing needs matplotlib")
def test_draw_leaves_pyplot_alone(tmp_path):
    script = (
        "import sys, numpy as np, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import tinyconv as keras\n"
        "from tinyconv import layers\n"
        "from tinyconv.teaching.graph_picture import step_graph\n"
        "m = keras.Sequential([keras.Input((3,)), layers.Dense(2)])\n"
        "step_graph(m, np.ones((2, 3)), np.ones((2, 2)), loss='mse').draw().savefig(sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "step.png")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr


def test_docstring_examples_run():
    result = doctest.testmod(graph_picture, extraglobs={"np": np, "tinyconv": keras, "layers": layers},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
