"""docs/keras_compatibility.md is generated from Keras and tinyconv: it must match what the code says now.

The table is regenerated in memory by tools/keras_compat_table.py; a difference means a public name was
added, removed or changed without regenerating (``python tools/keras_compat_table.py``).
"""
import importlib.util
import inspect
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "keras_compatibility.md"

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch", reason="the table is generated with Keras on its torch backend (pip install torch)")
keras = pytest.importorskip("keras", reason="the table compares tinyconv with Keras 3 (pip install keras)")


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("keras_compat_table", ROOT / "tools" / "keras_compat_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_is_up_to_date(tool):
    written = TABLE.read_text()
    recorded = tool.recorded_keras_version(written)
    if recorded != keras.__version__:
        pytest.skip(f"{TABLE.name} was generated from keras {recorded}, keras {keras.__version__} is installed: "
                    "the table can only be checked against the version it was made from")
    generated = tool.generate()
    if generated != written:
        changed = [f"  file: {old}\n  now:  {new}" for old, new in zip(written.splitlines(), generated.splitlines())
                   if old != new][:5]
        pytest.fail(f"{TABLE} is stale: run `python tools/keras_compat_table.py` and commit the result. First "
                    f"differences:\n" + "\n".join(changed))


def test_every_keras_namespace_of_the_issue_is_listed(tool):
    written = TABLE.read_text()
    for section in tool.SECTIONS:
        title = f"keras.{section}" if section else "keras (top level)"
        assert f"## `{title}`" in written
    assert "| `VGG16` | function |" in written and "| `TensorBoard` | class |" in written


def test_signature_differences_are_found(tool):
    def keras_like(units, activation=None, strides=(1, 1), use_bias=True, **kwargs):
        pass

    def ours_same(units, activation=None, strides=1, use_bias=True, **kwargs):  # (1, 1) and 1 mean the same
        pass

    def ours_different(units, activation="relu", seed=None, **kwargs):
        pass

    assert tool.signature_differences(keras_like, ours_same) == []
    notes = tool.signature_differences(keras_like, ours_different)
    assert notes == ["parameters not in tinyconv's signature: strides, use_bias (tinyconv takes **kwargs)",
                     "extra parameters: seed",
                     "defaults differ: activation=None in Keras, 'relu' here"]


def test_statuses_and_reasons(tool):
    class Namespace:
        Dense = staticmethod(lambda units, activation=None: None)

    class Root:
        layers = Namespace

    assert tool.status("layers", "Dense", lambda units, activation=None: None, Namespace, Root) == ("same", "")
    assert tool.status("layers", "Conv9D", inspect.signature, Namespace, Root) == ("missing", "not yet implemented")
    state, note = tool.status("", "mixed_precision", inspect, None, Root)
    assert state == "missing" and "float32 or float64" in note  # a reason from MISSING
    state, note = tool.status("", "Dense", lambda units, activation=None: None, None, Root)
    assert state == "missing" and note == "not at the top level yet; available as tinyconv.layers.Dense"
