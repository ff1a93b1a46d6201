"""utils.plot_model: a PNG of the model; the matplotlib drawing (used when pydot + Graphviz are missing) has one
box per layer and one arrow per connection, following the functional graph's branches."""
import os

import pytest

import tinyconv
from tinyconv import layers
from tinyconv.utils import plotting

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def branching_model():
    inputs = tinyconv.Input((8, 8, 3), name="image")
    left = layers.Conv2D(4, 3, activation="relu", name="left")(inputs)
    right = layers.Conv2D(4, 3, name="right")(inputs)
    joined = layers.Add(name="join")([left, right])
    outputs = layers.Dense(2, name="scores")(layers.Flatten(name="flat")(joined))
    return tinyconv.Model(inputs, outputs)


def _drawn(figure):
    gids = [p.get_gid() or "" for p in figure.axes[0].patches]
    boxes = sorted(g[len("layer:"):] for g in gids if g.startswith("layer:"))
    arrows = sorted(tuple(g[len("edge:"):].split("->")) for g in gids if g.startswith("edge:"))
    return boxes, arrows


def test_functional_branches_one_box_per_layer_one_arrow_per_connection():
    figure = plotting.draw_model(branching_model(), show_shapes=True, show_layer_names=True)
    boxes, arrows = _drawn(figure)
    assert boxes == ["flat", "image", "join", "left", "right", "scores"]
    assert arrows == [("flat", "scores"), ("image", "left"), ("image", "right"), ("join", "flat"),
                      ("left", "join"), ("right", "join")]
    labels = {t.get_gid(): t.get_text() for t in figure.axes[0].texts}
    assert "left (Conv2D)" in labels["label:left"] and "Output shape: (None, 6, 6, 4)" in labels["label:left"]
    assert "Params: 112" in labels["label:left"]
    assert labels["label:flat"].startswith("flat (Flatten)") and "Params" not in labels["label:flat"]


def test_branches_sit_side_by_side_on_one_rank():
    layout = plotting.layered_layout(plotting.model_graph(branching_model()))
    assert layout["left"][0] == layout["right"][0] == 1 and layout["left"][1] != layout["right"][1]
    assert [layout[k][0] for k in ("image", "join", "flat", "scores")] == [0, 2, 3, 4]
    box = {p.get_gid()[6:]: p for p in plotting.draw_model(branching_model(), rankdir="LR").axes[0].patches
           if (p.get_gid() or "").startswith("layer:")}
    assert box["image"].get_x() < box["left"].get_x() < box["join"].get_x()  # left to right


def test_sequential_chain_and_nested_models(fresh_names):
    inner = tinyconv.Sequential([layers.Dense(3, name="a"), layers.Dense(2, name="b")], name="inner")
    model = tinyconv.Sequential([tinyconv.Input((4,), name="x"), layers.Dense(5, name="first"), inner])
    boxes, arrows = _drawn(plotting.draw_model(model))
    assert boxes == ["first", "inner", "x"] and arrows == [("first", "inner"), ("x", "first")]
    boxes, arrows = _drawn(plotting.draw_model(model, expand_nested=True))
    assert {"inner/a", "inner/b", "first", "x"} <= set(boxes) and "inner" not in boxes
    assert ("inner/a", "inner/b") in arrows and len(arrows) == len(boxes) - 1


def test_plot_model_writes_a_png(tmp_path):
    path = tmp_path / "model.png"
    assert plot_model_returns_nothing_outside_notebooks(path)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000


def plot_model_returns_nothing_outside_notebooks(path):
    return tinyconv.utils.plot_model(branching_model(), to_file=str(path), show_shapes=True, show_dtype=True,
                                     show_layer_activations=True, show_trainable=True, dpi=60) is None


def test_falls_back_to_matplotlib_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(plotting, "_pydot", lambda: None)
    tinyconv.utils.plot_model(branching_model(), to_file=tmp_path / "m.svg")
    assert b"<svg" in (tmp_path / "m.svg").read_bytes()[:400]


def test_without_any_drawing_library_the_error_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(plotting, "_pydot", lambda: None)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match="pip install matplotlib.*pydot"):
        tinyconv.utils.plot_model(branching_model(), to_file=os.devnull)


def test_model_to_dot_has_the_same_graph():
    pydot = pytest.importorskip("pydot", reason="the Graphviz drawing needs pydot")
    dot = tinyconv.utils.model_to_dot(branching_model(), show_shapes=True)
    assert isinstance(dot, pydot.Dot)
    assert sorted(n.get_name().strip('"') for n in dot.get_nodes() if n.get_name() not in ("node", "edge")) == \
        ["flat", "image", "join", "left", "right", "scores"]
    assert len(dot.get_edges()) == 6


def test_bad_arguments():
    with pytest.raises(ValueError, match="rankdir"):
        tinyconv.utils.plot_model(branching_model(), to_file=os.devnull, rankdir="BT-ish")
    with pytest.raises(ValueError, match="layer_range"):
        tinyconv.utils.plot_model(branching_model(), to_file=os.devnull, layer_range=["a", "b"])
