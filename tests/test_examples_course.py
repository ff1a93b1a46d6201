"""The course examples in examples/ run on tiny settings and print the numbers they promise."""
import importlib.util
import os

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the examples use scikit-learn's digits")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def has_matplotlib():
    return importlib.util.find_spec("matplotlib") is not None


def test_course_kernels_reproduce_the_lecture_numbers(tmp_path, capsys):
    result = load_example("course_kernels").main(["--out", str(tmp_path)])
    expected_edge = np.array([[0, 30, 30, 0]] * 4)
    np.testing.assert_array_equal(result["vertical_edge"], expected_edge)
    outputs = result["stride_padding"]
    assert outputs[(1, 0)].shape == (5, 5) and outputs[(1, 1)].shape == (7, 7)
    assert outputs[(2, 0)].shape == (3, 3) and outputs[(3, 0)].shape == (2, 2)
    np.testing.assert_array_equal(outputs[(1, 0)][0, :3], [31, 46, 36])  # the lecture's red box
    assert outputs[(1, 1)][0, 0] == 14 and outputs[(1, 1)][1, 1] == 31  # padding: corner, then the old origin
    np.testing.assert_array_equal(outputs[(2, 0)][0, :2], [31, 36])  # stride 2 skips 46
    flip = result["flip"]
    assert not np.allclose(flip["correlation"], flip["convolution"]) and flip["symmetric_agree"]
    assert result["dilation"]["receptive_field"] == 5
    assert result["stacked"] == {"receptive_field": 7, "cost_7x7": 49, "cost_3x3x3": 27}
    separable = result["separable"]
    np.testing.assert_allclose(separable["column"], [1, 2, 1])
    np.testing.assert_allclose(separable["row"], [1, 0, -1], atol=1e-12)
    assert separable["same"] and separable["cost"] == {"full": 9, "separable": 6}
    sobel = result["sobel"]
    assert sobel["magnitude"].shape == (8, 8) and sobel["magnitude"].max() > 0
    if has_matplotlib():
        assert os.path.getsize(sobel["picture"]) > 0
    assert "31   46   36" in capsys.readouterr().out


def test_feature_visualisation_writes_its_pictures(tmp_path):
    result = load_example("feature_visualisation").main(
        ["--epochs", "2", "--train-size", "300", "--filters", "4", "--out", str(tmp_path)])
    assert result["history"]["loss"][-1] < result["history"]["loss"][0]  # it learns
    assert result["confusion"].shape == (10, 10) and result["confusion"].sum() == 359
    assert len(result["matches"]) == 4 and all(0 <= score <= 1 + 1e-9 for _, score in result["matches"])
    assert result["feature_map_shapes"]["conv1"] == (8, 8, 4) and result["feature_map_shapes"]["pool2"] == (2, 2, 8)
    if has_matplotlib():
        names = sorted(os.path.basename(p) for p in result["pictures"])
        assert names == sorted(["learned_vs_engineered.png", "learned_filters.png", "gabor_bank.png",
                                "feature_maps.png", "confusion_matrix.png", "training_curves.png"])
        assert all(os.path.getsize(p) > 0 for p in result["pictures"])


def test_fgsm_flips_predictions_only_when_eps_is_positive(tmp_path):
    result = load_example("saliency_and_fgsm").main(
        ["--epochs", "3", "--train-size", "500", "--test-size", "80", "--eps", "0", "0.2", "--out", str(tmp_path)])
    clean, strong = result["attacks"]
    assert clean["eps"] == 0 and clean["flip_rate"] == 0
    assert strong["flip_rate"] > 0 and strong["accuracy"] < result["accuracy"]
    assert strong["flip_rate"] > strong["noise_flip_rate"]  # the gradient's sign beats random signs
    assert result["saliency"].shape == (8, 8) and result["saliency"].max() > 0
    if has_matplotlib():
        assert len(result["pictures"]) == 2


def test_transfer_learning_keeps_frozen_weights(tmp_path):
    result = load_example("transfer_learning").main(
        ["--source-epochs", "2", "--epochs", "3", "--per-class", "2", "--out", str(tmp_path)])
    assert result["frozen_unchanged"] is True
    assert result["trainable_params"] == 128 * 5 + 5  # only the new head trains
    assert result["frozen_params"] > result["trainable_params"]
    assert 0 <= result["transfer_accuracy"] <= 1 and 0 <= result["scratch_accuracy"] <= 1


def test_trace_backprop_catches_the_broken_backward(capsys):
    result = load_example("trace_backprop").main(["--batch-size", "4", "--filters", "4"])
    assert result["correct_passed"] and not result["broken_passed"]
    assert result["flagged"] == ["classifier/bias"]
    assert not result["at_kinks_passed"]  # no derivative at ReLU's kink and pooling ties
    names = [row["name"] for row in result["trace"]["layers"]]
    assert names == ["conv", "pool", "flatten", "classifier"]
    assert "_argmax" in result["trace"]["layers"][1]["cached"]
    assert "Training step of 'small_cnn'" in capsys.readouterr().out
