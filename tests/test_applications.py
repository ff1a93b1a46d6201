"""``tinyconv.applications`` against Keras 3's ``keras.applications`` (torch backend) as the oracle.

For each network: the same parameter count, layer names, weight shapes (in order) and model name for
several configurations; weights Keras saved from the same architecture (random, perturbed so that every
array matters) load, in Keras 3's ``.weights.h5`` layout and in Keras 2's ``.h5`` layout (the layout of
Keras's published ImageNet files), and give Keras's predictions; ``preprocess_input`` equals Keras's.
``weights="imagenet"`` is exercised offline with a fake Keras cache (``KERAS_HOME``).
"""
import doctest
import hashlib
import importlib
import json
import os
import urllib.error
from pathlib import Path

import h5py
import numpy as np
import pytest

import tinyconv
from tinyconv import applications
from tinyconv.applications import _files, imagenet_utils

os.environ.setdefault("KERAS_BACKEND", "torch")

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    module = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
    if module.backend.backend() != "torch":  # pragma: no cover
        pytest.skip(f"expects KERAS_BACKEND=torch, got {module.backend.backend()!r}")
    return module


def both(keras, name, **kwargs):
    """The same application built by Keras and by tinyconv, each from a fresh naming session."""
    keras.backend.clear_session()
    tinyconv.backend.clear_session()
    return (getattr(keras.applications, name)(weights=None, **kwargs),
            getattr(applications, name)(weights=None, **kwargs))


# (network, arguments): every family, with and without the top, several input shapes, poolings and classes.
ARCHITECTURES = [
    ("VGG16", dict(include_top=False, input_shape=(32, 32, 3))),
    ("VGG16", dict(input_shape=(32, 32, 3), classes=7, classifier_activation=None)),
    ("VGG19", dict(include_top=False, pooling="avg")),
    ("VGG19", dict(input_shape=(48, 40, 3), classes=3)),
    ("ResNet50", dict()),
    ("ResNet50", dict(include_top=False, input_shape=(33, 35, 3), pooling="max")),
    ("ResNet101", dict(include_top=False, pooling="avg")),
    ("ResNet152", dict(include_top=False)),
    ("MobileNet", dict()),
    ("MobileNet", dict(alpha=0.25, depth_multiplier=2, input_shape=(32, 32, 3), classes=10)),
    ("MobileNet", dict(alpha=0.5, include_top=False, input_shape=(128, 128, 3), pooling="max")),
    ("MobileNetV2", dict()),
    ("MobileNetV2", dict(alpha=1.4, include_top=False, input_shape=(33, 47, 3))),
    ("MobileNetV2", dict(alpha=0.35, input_shape=(96, 96, 3), classes=5)),
    ("DenseNet121", dict()),
    ("DenseNet121", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    ("DenseNet169", dict(include_top=False)),
    ("DenseNet201", dict(include_top=False, pooling="max")),
]


@pytest.mark.parametrize("name, kwargs", ARCHITECTURES, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={w}" for k, w in v.items()) or "defaults")
def test_architecture_equals_keras(keras, name, kwargs):
    ours_keras, ours = both(keras, name, **kwargs)
    assert ours.count_params() == ours_keras.count_params()
    assert ours.name == ours_keras.name
    assert [layer.name for layer in ours.layers] == [layer.name for layer in ours_keras.layers]
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in ours_keras.layers]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in ours_keras.weights]
    assert ours.output_shape == tuple(ours_keras.output.shape)
    assert len(ours.trainable_weights) == len(ours_keras.trainable_weights)


def test_vgg16_with_its_top_has_kerass_138_million_weights():
    # Keras's documented count (keras.io/api/applications); building Keras's copy too would double the time.
    assert applications.VGG16(weights=None).count_params() == 138_357_544


# ------------------------------------------------------------------ weights saved by Keras
def perturb(keras, model, rng):
    """Random values for every array Keras initialises to a constant (biases, BN statistics), so a weight
    loaded into the wrong slot changes the predictions."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
        elif layer.weights:
            layer.set_weights([w if w.ndim > 1 else rng.normal(0, 0.1, w.shape) for w in layer.get_weights()])


def save_keras2_weights(model, path):
    """Keras 2's weights-only layout (layer_names, weight_names), as in Keras's published ImageNet files."""
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)


PREDICTION_CASES = [
    ("VGG16", dict(include_top=False, input_shape=(32, 32, 3))),
    ("ResNet50", dict(include_top=False, input_shape=(32, 32, 3))),
    ("MobileNet", dict(alpha=0.25, input_shape=(32, 32, 3), classes=10)),
    ("MobileNetV2", dict(alpha=0.35, input_shape=(33, 35, 3), classes=5)),
    ("DenseNet121", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
]


@pytest.mark.parametrize("name, kwargs", PREDICTION_CASES, ids=[case[0] for case in PREDICTION_CASES])
def test_weights_saved_by_keras_give_kerass_predictions(keras, tmp_path, name, kwargs):
    rng = np.random.default_rng(0)
    keras.backend.clear_session()
    reference = getattr(keras.applications, name)(weights=None, **kwargs)
    perturb(keras, reference, rng)
    x = rng.uniform(0, 1, (2,) + tuple(reference.input.shape[1:])).astype("float32")
    expected = np.asarray(reference.predict(x, verbose=0))
    scale = np.max(np.abs(expected))
    keras3, keras2 = tmp_path / "keras3.weights.h5", tmp_path / "keras2.h5"
    reference.save_weights(keras3)
    save_keras2_weights(reference, keras2)
    for path in (keras3, keras2):
        tinyconv.backend.clear_session()
        model = getattr(applications, name)(weights=str(path), **kwargs)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4 * scale,
                                   err_msg=f"{name} from {path.name}")
    # the loaded weights are really Keras's, array for array
    for ours, theirs in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(ours, np.asarray(theirs))


# ------------------------------------------------------------------ preprocess_input
FAMILIES = {"vgg16": "caffe", "vgg19": "caffe", "resnet50": "caffe", "resnet": "caffe", "mobilenet": "tf",
            "mobilenet_v2": "tf", "densenet": "torch"}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_preprocess_input_equals_kerass(keras, family):
    ours = getattr(applications, family)
    theirs = importlib.import_module(f"keras.applications.{family}")
    rng = np.random.default_rng(1)
    for images, data_format in [(rng.uniform(0, 255, (2, 5, 4, 3)).astype("float32"), None),
                                (rng.uniform(0, 255, (5, 4, 3)), "channels_last"),
                                (rng.integers(0, 256, (2, 3, 5, 4)).astype("uint8"), "channels_first"),
                                (rng.uniform(0, 255, (3, 5, 4)).astype("float32"), "channels_first")]:
        original = images.copy()
        result = ours.preprocess_input(images, data_format=data_format)
        np.testing.assert_array_equal(images, original)  # the input is left alone
        expected = theirs.preprocess_input(images.copy(), data_format=data_format)
        assert result.dtype == expected.dtype
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-5)
    assert applications.imagenet_utils.preprocess_input(np.zeros((1, 1, 3)), mode=FAMILIES[family]).shape == (1, 1, 3)


def test_preprocess_input_refuses_bad_arguments():
    with pytest.raises(ValueError, match="mode must be 'caffe', 'tf' or 'torch', got mode='keras'"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="keras")
    with pytest.raises(ValueError, match="data_format must be"):
        applications.vgg16.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="nhwc")
    with pytest.raises(ValueError, match=r"got shape \(1, 2, 2, 4\)"):
        applications.densenet.preprocess_input(np.zeros((1, 2, 2, 4)))


# ------------------------------------------------------------------ weights="imagenet" and the class index
@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, and no network: every download fails as it does offline."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(_files, "keras_models_dirs", lambda: [tmp_path / "keras_home" / "models"])

    def offline(url, target, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(_files.dataset_files, "download", offline)
    models = tmp_path / "keras_home" / "models"
    models.mkdir(parents=True)
    return models


def test_imagenet_weights_are_read_from_kerass_cache(keras_home):
    reference = applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), include_top=False, weights=None)
    rng = np.random.default_rng(2)
    reference.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") for w in reference.get_weights()])
    # Keras's published name for these weights; Keras 2's layout, as Keras publishes them
    reference.save_weights(keras_home / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5")
    model = applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), include_top=False, weights="imagenet")
    for ours, theirs in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_imagenet_weights_with_a_published_checksum(keras_home, monkeypatch):
    reference = applications.VGG16(include_top=False, input_shape=(32, 32, 3), weights=None)
    path = keras_home / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    reference.save_weights(path)
    with pytest.raises(FileNotFoundError, match="do not match the published checksum 6d6bbae143d8"):
        applications.VGG16(include_top=False, input_shape=(32, 32, 3), weights="imagenet")
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setattr(applications.vgg16, "WEIGHTS_MD5", (applications.vgg16.WEIGHTS_MD5[0], digest))
    model = applications.VGG16(include_top=False, input_shape=(32, 32, 3), weights="imagenet")
    np.testing.assert_array_equal(model.get_weights()[-1], reference.get_weights()[-1])


def test_imagenet_weights_offline_say_which_file_to_put_where(keras_home):
    with pytest.raises(FileNotFoundError) as raised:
        applications.ResNet50(weights="imagenet")
    message = str(raised.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" in message
    assert str(keras_home) in message and "URLError" in message
    with pytest.raises(FileNotFoundError, match="mobilenet_1_0_224_tf_no_top.h5"):
        applications.MobileNet(include_top=False, weights="imagenet")


def test_decode_predictions_reads_kerass_class_index(keras_home, monkeypatch):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    path = keras_home / "imagenet_class_index.json"
    path.write_text(json.dumps(index))
    monkeypatch.setattr(_files, "CLASS_INDEX_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    preds = np.zeros((2, 1000), dtype="float32")
    preds[0, [7, 3, 500]] = [0.5, 0.3, 0.2]
    preds[1, 999] = 1.0
    decoded = applications.resnet50.decode_predictions(preds, top=3)
    assert decoded[0] == [("n00000007", "class_7", 0.5), ("n00000003", "class_3", np.float32(0.3)),
                          ("n00000500", "class_500", np.float32(0.2))]
    assert decoded[1][0] == ("n00000999", "class_999", 1.0) and len(decoded[1]) == 3


def test_decode_predictions_offline_names_the_file(keras_home, monkeypatch):
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    with pytest.raises(FileNotFoundError, match="imagenet_class_index.json"):
        applications.vgg16.decode_predictions(np.zeros((1, 1000)))
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\), got shape \(1000,\)"):
        applications.vgg16.decode_predictions(np.zeros(1000))


# ------------------------------------------------------------------ arguments
def test_kerass_refusals(tmp_path):
    with pytest.raises(ValueError, match="weights must be None"):
        applications.VGG16(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="classes must be 1000"):
        applications.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="pooling must be None, 'avg' or 'max'"):
        applications.DenseNet121(weights=None, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="at least 32x32"):
        applications.MobileNetV2(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"input_shape must be \(224, 224, 3\)"):
        applications.DenseNet121(weights="imagenet", input_shape=(128, 128, 3))
    with pytest.raises(ValueError, match="classifier_activation must be None or 'softmax'"):
        applications.VGG19(weights="imagenet", include_top=True, classifier_activation="sigmoid")
    with pytest.raises(ValueError, match="alpha 0.25, 0.5, 0.75 and 1.0 only"):
        applications.MobileNet(weights="imagenet", alpha=0.3)
    with pytest.raises(ValueError, match="depth_multiplier=1 only"):
        applications.MobileNet(weights="imagenet", depth_multiplier=2)
    with pytest.raises(ValueError, match="fully known"):
        applications.ResNet50(weights=None, input_shape=(None, None, 3))
    with pytest.raises(TypeError, match="input_tensor must be a symbolic tensor"):
        applications.MobileNet(weights=None, input_tensor=np.zeros((1, 32, 32, 3)))


def test_input_tensor_builds_on_the_callers_graph():
    images = tinyconv.Input(shape=(40, 40, 3))
    scaled = tinyconv.layers.Activation("linear", name="scale")(images)
    backbone = applications.MobileNetV2(input_tensor=scaled, alpha=0.35, include_top=False, weights=None,
                                        pooling="avg")
    assert backbone.inputs[0] is images
    assert backbone.layers[1].name == "scale" and backbone.output_shape == (None, 1280)
    out = backbone.predict(np.ones((2, 40, 40, 3), dtype="float32"), verbose=0)
    assert out.shape == (2, 1280) and np.all(np.isfinite(out))


def test_a_headless_backbone_fine_tunes_with_a_new_head():
    backbone = applications.MobileNet(alpha=0.25, include_top=False, input_shape=(32, 32, 3), weights=None,
                                      pooling="avg")
    backbone.trainable = False
    for layer in backbone.layers:  # frozen batch norm keeps its moving statistics too
        layer.trainable = False
    inputs = tinyconv.Input(shape=(32, 32, 3))
    outputs = tinyconv.layers.Dense(2, activation="softmax")(backbone(inputs, training=False))
    model = tinyconv.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = [w.copy() for w in backbone.get_weights()]
    rng = np.random.default_rng(3)
    model.fit(rng.uniform(0, 1, (8, 32, 32, 3)).astype("float32"), rng.integers(0, 2, 8), epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(frozen, backbone.get_weights()))
    assert len(model.trainable_weights) == 2


@pytest.mark.parametrize("module", [applications, applications.vgg16, applications.vgg19, applications.resnet,
                                    applications.mobilenet, applications.mobilenet_v2, applications.densenet,
                                    imagenet_utils], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"np": np, "tinyconv": tinyconv},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_kerass_cache_folders_follow_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    assert _files.keras_models_dirs()[0] == tmp_path / "home" / "models"
    monkeypatch.delenv("KERAS_HOME")
    assert _files.keras_models_dirs()[0] == Path.home() / ".keras" / "models"
    assert Path("/tmp/.keras/models") in _files.keras_models_dirs()  # Keras's fallback when home is read-only
