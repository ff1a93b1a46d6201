"""The network examples in examples/ run end to end on tiny settings and report sensible numbers.

Each test calls an example's ``main([...])`` with small data and few epochs, then checks the results it
returns (accuracy above chance, the CNN smaller than the MLP, the U-Net beating chance-level IoU, ...) and,
when matplotlib is importable, that its pictures were written.
"""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the digits come with scikit-learn (pip install 'tinyconv[data]')")

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_pictures(results, count):
    if not HAS_MATPLOTLIB:
        assert results["pictures"] == []
        return
    assert len(results["pictures"]) == count
    for path in results["pictures"]:
        assert pathlib.Path(path).stat().st_size > 1000, f"{path} is missing or empty"


def test_lenet5_on_digits_and_skips_missing_mnist(tmp_path, capsys, monkeypatch):
    lenet5 = load_example("lenet5")

    def no_mnist():
        raise FileNotFoundError("mnist: not found in the test")

    monkeypatch.setattr(lenet5.keras.datasets.mnist, "load_data", no_mnist)
    results = lenet5.main(["--epochs", "3", "--train-limit", "500", "--mnist-train", "100",
                           "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "MNIST part skipped" in out and "FileNotFoundError" in out
    assert results["mnist_accuracy"] is None
    assert results["params"] == 61_706  # the classic LeNet-5 count for 32x32 inputs, 10 classes
    assert results["digits_accuracy"] > 0.3  # chance is 0.1
    check_pictures(results, 3)


def test_lenet5_digits_are_enlarged_to_32x32():
    lenet5 = load_example("lenet5")
    (x_train, _), (x_test, _) = lenet5.digits_as_32x32(limit=5)
    assert x_train.shape == (5, 32, 32, 1) and x_test.shape[1:] == (32, 32, 1)
    # each 8x8 pixel became a constant 4x4 block
    block = x_train[0, 4:8, 8:12, 0]
    assert np.all(block == block[0, 0]) and x_train.max() <= 1.0


def test_mlp_vs_cnn_cnn_has_fewer_parameters(tmp_path, capsys):
    results = load_example("mlp_vs_cnn").main(["--epochs", "3", "--batch-size", "16", "--train-limit", "400",
                                                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "# params" in out and "test accuracy" in out
    rows = {(row["experiment"], row["model"]): row for row in results["rows"]}
    assert set(rows) == {("digits", "MLP"), ("digits", "CNN"), ("shifted", "MLP"), ("shifted", "CNN")}
    for experiment in ("digits", "shifted"):
        assert rows[experiment, "CNN"]["params"] < rows[experiment, "MLP"]["params"]
    # the CNN's parameter count does not depend on the image size; the MLP's grows with it
    assert rows["digits", "CNN"]["params"] == rows["shifted", "CNN"]["params"]
    assert rows["digits", "MLP"]["params"] < rows["shifted", "MLP"]["params"]
    assert rows["digits", "CNN"]["accuracy"] > 0.3 and rows["digits", "MLP"]["accuracy"] > 0.3
    check_pictures(results, 3)


def test_mlp_vs_cnn_pastes_digits_inside_the_canvas():
    example = load_example("mlp_vs_cnn")
    images = np.ones((20, 8, 8, 1), dtype="float32")
    pasted = example.paste_at_random_places(images, 12, np.random.default_rng(0))
    assert pasted.shape == (20, 12, 12, 1)
    assert np.all(pasted.sum(axis=(1, 2, 3)) == 64)  # every pixel of every digit landed on the canvas


def test_alexnet_and_vgg_small(tmp_path, capsys):
    example = load_example("alexnet_vgg_small")
    results = example.main(["--epochs", "3", "--batch-size", "16", "--train-limit", "300", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Receptive field" in out
    names = [row["model"] for row in results["rows"]]
    assert names == ["alexnet_small", "vgg_small"]
    alexnet = example.alexnet_small(16)
    kinds = [type(layer).__name__ for layer in alexnet.layers]
    assert results["has_lrn"] and kinds.count("LocalResponseNormalization") == 2
    first = alexnet.layers[0]
    assert first.kernel_size == (7, 7) and first.strides == (2, 2)
    pools = [layer for layer in alexnet.layers if type(layer).__name__ == "MaxPooling2D"]
    assert all(p.pool_size == (3, 3) and p.strides == (2, 2) for p in pools)  # overlapping pooling
    vgg = example.vgg_small(16)
    convs = [layer for layer in vgg.layers if type(layer).__name__ == "Conv2D"]
    assert all(c.kernel_size == (3, 3) for c in convs) and len(convs) == 6
    vgg_row = results["rows"][1]
    assert vgg_row["accuracy"] > 0.3 and all(np.isfinite(row["accuracy"]) for row in results["rows"])
    check_pictures(results, 4)


def test_plain_and_residual_networks(tmp_path):
    example = load_example("resnet_plain_vs_residual")
    results = example.main(["--blocks", "2", "--width", "8", "--epochs", "4", "--batch-size", "16",
                            "--train-limit", "400",
                            "--out", str(tmp_path)])
    assert results["plain"]["params"] == results["residual"]["params"]  # the skip adds no weights
    for kind in ("plain", "residual"):
        assert results[kind]["accuracy"] > 0.3
        assert results[kind]["loss"][-1] < results[kind]["loss"][0]
    residual = example.deep_network(2, 8, residual=True)
    plain = example.deep_network(2, 8, residual=False)
    assert sum(type(l).__name__ == "Add" for l in residual.layers) == 2
    assert not any(type(l).__name__ == "Add" for l in plain.layers)
    check_pictures(results, 3)


def test_densenet_block_channels_grow_by_the_growth_rate(tmp_path, capsys):
    results = load_example("densenet_block").main(["--layers", "3", "--growth", "4", "--epochs", "4",
                                                   "--batch-size", "16", "--train-limit", "400",
                                                   "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "DIFFERS" not in out and out.count("matches") == 2
    channels = [count for _, count in results["channels"]]
    assert channels == [20, 24, 28, 18, 22, 26]  # 16 + 4i, then (16 + 12) // 2 = 14, 14 + 4i
    assert results["accuracy"] > 0.5
    check_pictures(results, 1)


def test_unet_segments_shapes(tmp_path):
    example = load_example("unet_shapes")
    results = example.main(["--train", "128", "--test", "32", "--size", "16", "--epochs", "5",
                            "--batch-size", "16", "--out", str(tmp_path)])
    assert results["loss"][-1] < results["loss"][0]
    assert results["iou"] > 0.4
    check_pictures(results, 1)


def test_unet_shapes_masks_and_iou():
    example = load_example("unet_shapes")
    images, masks = example.draw_shapes(10, 16, np.random.default_rng(1))
    assert images.shape == masks.shape == (10, 16, 16, 1)
    assert set(np.unique(masks)) <= {0.0, 1.0} and np.all(masks.sum(axis=(1, 2, 3)) > 0)
    truth = masks > 0.5
    assert example.iou(truth, truth) == 1.0
    assert example.iou(truth, ~truth) == 0.0
    model = example.unet(16, width=4)
    assert model.output_shape == (None, 16, 16, 1)
    assert sum(type(l).__name__ == "Conv2DTranspose" for l in model.layers) == 2


def test_conv_autoencoder_beats_the_mean_image(tmp_path):
    results = load_example("conv_autoencoder").main(["--epochs", "6", "--batch-size", "16", "--train-limit", "500",
                                                     "--out", str(tmp_path)])
    assert results["code_size"] == 32
    assert results["mse"] < 0.8 * results["mean_image_mse"]
    check_pictures(results, 1)


def test_sequence_cnn_1d(tmp_path, capsys):
    results = load_example("sequence_cnn_1d").main(["--train", "240", "--test", "60", "--steps", "64",
                                                    "--epochs", "6", "--out", str(tmp_path)])
    assert "Confusion matrix" in capsys.readouterr().out
    assert results["accuracy"] > 0.5  # chance is 1/3
    assert np.sum(results["confusion"]) == 60
    check_pictures(results, 1)


def test_sequence_waves_have_the_right_shapes():
    example = load_example("sequence_cnn_1d")
    t = np.linspace(0, 1, 8, endpoint=False)
    assert np.allclose(example.wave("square", t), [1, 1, 1, 1, -1, -1, -1, -1])
    assert np.allclose(example.wave("sawtooth", t), np.linspace(-1, 1, 8, endpoint=False))
    x, y = example.make_sequences(30, 50, 0.1, np.random.default_rng(0))
    assert x.shape == (30, 50, 1) and x.dtype == np.float32 and set(y) <= {0, 1, 2}


def test_examples_say_pictures_were_skipped_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    results = load_example("sequence_cnn_1d").main(["--train", "30", "--test", "15", "--steps", "32",
                                                    "--epochs", "1", "--out", str(tmp_path / "pics")])
    assert "Pictures skipped: matplotlib is not installed" in capsys.readouterr().out
    assert results["pictures"] == [] and not (tmp_path / "pics").exists()
