"""The mistakes of a first script get a message that says what to change.

Labels given as class names, images in channels-first layout or without their batch or channel
axis, and a clone whose kernels were never compiled: each names what was expected, what came, and
the line of code (or the command) that fixes it.
"""
import re
import warnings

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import dispatch, layers


def small_cnn(input_shape=(28, 28, 1), data_format=None):
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(2, 3, data_format=data_format),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


IMAGES = np.zeros((4, 28, 28, 1), dtype="float32")
LABELS = np.array([0, 1, 2, 0])


# --- labels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "cat", "bird"]), ["cat", "dog", "cat", "bird"],
                                    np.array(["cat", "dog", "cat", "bird"], dtype=object)],
                         ids=["unicode array", "list", "object array"])
def test_text_labels_ask_for_integer_class_indices(labels):
    with pytest.raises(ValueError, match="integer class indices") as caught:
        small_cnn().fit(IMAGES, labels, verbose=0)
    message = str(caught.value)
    assert "fractional" not in message
    assert "'cat'" in message and "np.unique(labels, return_inverse=True)" in message
    assert message.startswith("fit: ")


def test_text_labels_are_refused_by_evaluate_and_train_on_batch_too():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"^evaluate: .*integer class indices"):
        model.evaluate(IMAGES, np.array(["a", "b", "c", "a"]), verbose=0)
    with pytest.raises(ValueError, match=r"^train_on_batch: .*integer class indices"):
        model.train_on_batch(IMAGES, np.array(["a", "b", "c", "a"]))


def test_the_hinted_mapping_makes_text_labels_train():
    names = np.array(["cat", "dog", "cat", "bird"])
    class_names, y = np.unique(names, return_inverse=True)
    small_cnn().fit(IMAGES, y, verbose=0)
    assert list(class_names) == ["bird", "cat", "dog"]


# --- image layout ---------------------------------------------------------------------------

def test_channels_first_images_get_the_moveaxis_hint():
    channels_first = np.zeros((4, 1, 28, 28), dtype="float32")
    with pytest.raises(ValueError) as caught:
        small_cnn().fit(channels_first, LABELS, verbose=0)
    message = str(caught.value)
    assert "(None, 28, 28, 1)" in message and "(4, 1, 28, 28)" in message
    assert "channels-first" in message and "np.moveaxis(x, 1, -1)" in message
    assert 'data_format="channels_first"' in message and "keras.Input(shape=(1, 28, 28))" in message
    # The hint is right: moving the axis makes the data fit.
    small_cnn().fit(np.moveaxis(channels_first, 1, -1), LABELS, verbose=0)


def test_channels_last_images_into_a_channels_first_model_get_the_reverse_hint():
    model = small_cnn(input_shape=(1, 28, 28), data_format="channels_first")
    with pytest.raises(ValueError, match=re.escape("np.moveaxis(x, -1, 1)")):
        model.predict(IMAGES, verbose=0)
    assert model.predict(np.moveaxis(IMAGES, -1, 1), verbose=0).shape == (4, 3)


def test_one_image_without_the_batch_axis_gets_the_expand_dims_hint():
    model = small_cnn()
    with pytest.raises(ValueError) as caught:
        model.predict(IMAGES[0], verbose=0)
    message = str(caught.value)
    assert "(28, 28, 1)" in message and "batch axis" in message
    assert "x[None]" in message and "np.expand_dims(x, 0)" in message
    assert model.predict(IMAGES[0][None], verbose=0).shape == (1, 3)


def test_missing_channel_axis_gets_its_own_hint():
    model = small_cnn()
    with pytest.raises(ValueError, match=re.escape("x[..., None]")):
        model.predict(IMAGES[..., 0], verbose=0)
    with pytest.raises(ValueError, match=re.escape("x[None, ..., None]")):
        model.predict(IMAGES[0, ..., 0], verbose=0)


def test_a_shape_no_hint_fits_still_names_expected_and_received():
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 28, 28, 1\), got \(4, 20, 20, 1\)$"):
        small_cnn().predict(np.zeros((4, 20, 20, 1), dtype="float32"), verbose=0)


def test_functional_models_name_the_input_and_hint_too():
    image, extra = keras.Input((28, 28, 1), name="image"), keras.Input((3,), name="extra")
    merged = layers.concatenate([layers.Flatten()(image), extra])
    model = keras.Model([image, extra], layers.Dense(2)(merged))
    with pytest.raises(ValueError, match=r"input 'image' expects shape \(None, 28, 28, 1\), got \(4, 1, 28, 28\); "
                                         r"this looks like channels-first"):
        model.predict([np.zeros((4, 1, 28, 28)), np.zeros((4, 3))], verbose=0)


# --- a clone whose kernels were never compiled -----------------------------------------------

def fake_package(root, with_setup_py, with_compiled_kernel):
    package = root / "tinyconv"
    (package / "kernels" / "cpu").mkdir(parents=True)
    if with_setup_py:
        (root / "setup.py").write_text("")
    if with_compiled_kernel:
        (package / "kernels" / "cpu" / "pooling.cpython-311-x86_64-linux-gnu.so").write_text("")
    return str(package)


def test_a_source_folder_without_compiled_kernels_says_to_run_elsewhere_or_build_in_place(tmp_path):
    advice = dispatch.missing_kernels_advice(fake_package(tmp_path, with_setup_py=True, with_compiled_kernel=False))
    assert str(tmp_path) in advice and "source folder" in advice
    assert "another folder" in advice and "pip install -e ." in advice and "make install" in advice


def test_a_source_folder_with_stale_kernels_says_to_rebuild(tmp_path):
    advice = dispatch.missing_kernels_advice(fake_package(tmp_path, with_setup_py=True, with_compiled_kernel=True))
    assert "rebuild" in advice and "pip install -e ." in advice and "another folder" not in advice


def test_an_installed_copy_without_kernels_says_to_reinstall(tmp_path):
    advice = dispatch.missing_kernels_advice(fake_package(tmp_path, with_setup_py=False, with_compiled_kernel=False))
    assert "pip install ." in advice and "C compiler" in advice


def test_the_fallback_warning_carries_the_advice(monkeypatch):
    real_load = dispatch._load

    def compiled_kernels_missing(name):
        if name == "cpu":
            raise ImportError("no module named tinyconv.kernels.cpu.pooling")
        return real_load(name)

    monkeypatch.setattr(dispatch, "_active", None)
    monkeypatch.setattr(dispatch, "_active_name", None)
    monkeypatch.setattr(dispatch, "_load", compiled_kernels_missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dispatch.active_kernels() == "reference"
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and dispatch.missing_kernels_advice() in messages[0]
