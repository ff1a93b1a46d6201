"""Every script in examples/keras_scripts/ runs unchanged with `keras` / `tensorflow.keras`
aliased to tinyconv, on small synthetic data, for one epoch."""
import pathlib

import numpy as np
import pytest

import tinyconv
from tinyconv import compat

SCRIPTS = sorted((pathlib.Path(__file__).resolve().parents[1] / "examples" / "keras_scripts").glob("*.py"))


def write_small_datasets(folder):
    """MNIST, Fashion-MNIST and CIFAR-10 stand-ins in Keras's npz layout: same shapes and dtypes."""
    rng = np.random.default_rng(0)

    def images(n, shape):
        return rng.integers(0, 256, size=(n,) + shape, dtype=np.uint8)

    for name in ("mnist.npz", "fashion_mnist.npz"):
        np.savez(folder / name, x_train=images(96, (28, 28)), y_train=rng.integers(0, 10, 96).astype(np.uint8),
                 x_test=images(32, (28, 28)), y_test=rng.integers(0, 10, 32).astype(np.uint8))
    np.savez(folder / "cifar10.npz", x_train=images(64, (32, 32, 3)),
             y_train=rng.integers(0, 10, (64, 1)).astype(np.uint8), x_test=images(32, (32, 32, 3)),
             y_test=rng.integers(0, 10, (32, 1)).astype(np.uint8))


def write_small_flower_archive(cache):
    """TensorFlow's flower_photos.tgz stand-in (5 classes of a few small JPEGs), where Keras 3's
    get_file("flower_photos", extract=True) keeps the download, so it is extracted instead of fetched."""
    import io
    import tarfile

    pil_image = pytest.importorskip("PIL.Image", reason="the flowers script reads JPEGs with Pillow")
    rng = np.random.default_rng(1)
    cache.mkdir(parents=True, exist_ok=True)
    with tarfile.open(cache / "flower_photos_archive", "w:gz") as tar:
        for name in ("daisy", "dandelion", "roses", "sunflowers", "tulips"):
            for i in range(3):
                buffer = io.BytesIO()
                pixels = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
                pil_image.fromarray(pixels).save(buffer, format="jpeg")
                info = tarfile.TarInfo(f"flower_photos/{name}/{i}.jpg")
                info.size = buffer.tell()
                buffer.seek(0)
                tar.addfile(info, buffer)


@pytest.fixture
def small_world(tmp_path, monkeypatch, request):
    write_small_datasets(tmp_path)
    monkeypatch.chdir(tmp_path)  # files a script writes (plots, saved models) land in the test's folder
    if "flowers" in request.node.name:
        write_small_flower_archive(tmp_path / "keras_home" / "datasets")
    monkeypatch.setenv("TINYCONV_DATA", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # never the user's cache
    monkeypatch.setenv("TINYCONV_DATASETS_URL", "http://127.0.0.1:9/")  # a missing file fails at once
    original_fit = tinyconv.Model.fit

    def one_epoch_fit(self, *args, **kwargs):
        kwargs["epochs"] = 1
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(tinyconv.Model, "fit", one_epoch_fit)
    tinyconv.backend.clear_session()
    tinyconv.utils.set_random_seed(0)
    return tmp_path


def test_there_are_scripts_in_every_spelling():
    sources = {path.name: path.read_text() for path in SCRIPTS}
    assert len(sources) >= 9
    assert any("from tensorflow import keras" in s for s in sources.values())
    assert any("from tensorflow.keras.layers import" in s for s in sources.values())
    assert any(s.count("import keras") and "tensorflow" not in s for s in sources.values())
    assert not any("tinyconv" in s for s in sources.values())


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_script_runs_unchanged(script, small_world, capsys):
    namespace = compat.run_script(script)
    out = capsys.readouterr().out
    assert "Error" not in out
    models = [value for value in namespace.values() if isinstance(value, tinyconv.Model)]
    assert models, "the script built no model"
    assert all(model.built for model in models)


def test_aliases_are_removed_afterwards():
    import sys

    before = sys.modules.get("keras")
    with compat.keras_aliases():
        import keras

        assert keras is tinyconv
        from tensorflow.keras.layers import Conv2D

        assert Conv2D is tinyconv.layers.Conv2D
    assert sys.modules.get("keras") is before


def test_maxnorm_metrics_script_records_batches_metrics_and_constraints(small_world, capsys):
    script = next(path for path in SCRIPTS if path.stem == "cifar10_maxnorm_metrics")
    namespace = compat.run_script(script)
    assert len(namespace["history"].losses) == 2            # 64 stand-in images, batches of 32, one epoch
    logged = namespace["model"].history.history
    assert {"fn", "precision", "recall", "auc", "val_auc"} <= set(logged)
    assert logged["fn"][0] + logged["tp"][0] == 64            # one positive label per image
    conv = namespace["model"].layers[0]
    assert conv.constraints["kernel"].get_config() == {"max_value": 3, "axis": 0}
