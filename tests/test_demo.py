"""The README's main job: the LeNet-style demo on scikit-learn's digits reaches >= 97%."""
import importlib.util
import pathlib

import pytest

DEMO = pathlib.Path(__file__).resolve().parents[1] / "examples" / "lenet_digits.py"


def load_demo():
    spec = importlib.util.spec_from_file_location("lenet_digits", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_reaches_97_percent_on_the_digits(capsys):
    pytest.importorskip("sklearn", reason="the digits come with scikit-learn (pip install 'tinyconv[data]')")
    accuracy = load_demo().main(["--verbose", "0"])
    out = capsys.readouterr().out
    assert "Test accuracy" in out and 'Model: "lenet_digits"' in out
    assert accuracy >= 0.97


def test_digits_loader_layout():
    pytest.importorskip("sklearn", reason="the digits come with scikit-learn")
    import tinyconv

    (x_train, y_train), (x_test, y_test) = tinyconv.datasets.digits.load_data()
    assert x_train.shape[1:] == (8, 8) and x_train.dtype == "uint8" and x_train.max() == 16
    assert len(x_train) + len(x_test) == 1797 and len(x_test) == 359
    assert set(y_train) == set(range(10)) and y_test.shape == (359,)
    with pytest.raises(ValueError, match="test_split"):
        tinyconv.datasets.digits.load_data(test_split=1.5)
