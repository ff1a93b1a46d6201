"""examples/transfer_learning_applications.py runs end to end on tiny settings (as tests/test_examples_networks.py
runs the other network examples): head training leaves the frozen backbone untouched, fine-tuning trains more
weights, and ``--weights auto`` takes Keras's ImageNet file when it is in Keras's cache."""
import importlib.util
import pathlib

import pytest

from tinyconv import applications
from tinyconv.applications import _files

pytest.importorskip("sklearn", reason="the digits come with scikit-learn (pip install 'tinyconv[data]')")

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
TINY = ["--source-epochs", "1", "--source-limit", "96", "--per-class", "3", "--head-epochs", "2",
        "--fine-tune-epochs", "1"]


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def empty_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "keras_models_dirs", lambda: [tmp_path / "models"])
    return tmp_path / "models"


def test_head_then_fine_tuning_on_random_weights(empty_keras_cache, capsys):
    results = load_example("transfer_learning_applications").main(["--weights", "auto"] + TINY)
    out = capsys.readouterr().out
    assert results["weights"] is None and "random weights" in out  # nothing cached: auto means random
    assert "source task (digits 0-4): 96 training images" in out and 0 <= results["source_accuracy"] <= 1
    assert results["backbone_unchanged_in_phase_1"] and results["frozen_unchanged_in_phase_2"]
    assert results["head_params"][0] == 1280 * 5 + 5  # phase 1 trains only the new Dense head
    assert results["fine_tune_params"][0] > results["head_params"][0]
    assert sum(results["fine_tune_params"]) == sum(results["head_params"])
    assert 0 <= results["head_accuracy"] <= 1 and 0 <= results["fine_tuned_accuracy"] <= 1


def test_auto_uses_kerass_cached_imagenet_file(empty_keras_cache, capsys):
    example = load_example("transfer_learning_applications")
    published = applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    empty_keras_cache.mkdir()
    published.save_weights(empty_keras_cache / example.IMAGENET_FILE)  # stands in for Keras's download
    results = example.main(["--weights", "auto", "--per-class", "2", "--head-epochs", "1", "--fine-tune-epochs", "1"])
    assert results["weights"] == "imagenet" and results["source_accuracy"] is None  # no source pretraining
    assert "ImageNet weights (Keras file mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5)" \
        in capsys.readouterr().out
