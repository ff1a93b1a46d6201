"""to_categorical, seeding, naming and the kernel dispatch."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import naming, dispatch


def test_to_categorical():
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    one_hot = keras.utils.to_categorical(np.array([[3], [0]]), num_classes=5)
    assert one_hot.shape == (2, 5) and one_hot.dtype == np.float32 and one_hot[0, 3] == 1
    with pytest.raises(ValueError, match="out of range for num_classes=3"):
        keras.utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="non-negative integers"):
        keras.utils.to_categorical([0.5, 1])


def test_set_random_seed_repeats_initial_weights():
    keras.utils.set_random_seed(42)
    first = keras.layers.Conv2D(4, 3)
    first.build_for((None, 5, 5, 2))
    keras.utils.set_random_seed(42)
    second = keras.layers.Conv2D(4, 3)
    second.build_for((None, 5, 5, 2))
    np.testing.assert_array_equal(first.kernel, second.kernel)
    with pytest.raises(ValueError, match="non-negative integer seed"):
        keras.utils.set_random_seed(-1)


def test_keras_automatic_names():
    assert naming.to_snake_case("MaxPooling2D") == "max_pooling2d"
    assert naming.to_snake_case("BatchNormalization") == "batch_normalization"
    assert naming.to_snake_case("ReLU") == "re_lu"
    keras.backend.clear_session()
    names = [keras.layers.Dense(1).name, keras.layers.Dense(1).name, keras.layers.ReLU().name]
    assert names == ["dense", "dense_1", "re_lu"]
    keras.backend.clear_session()
    assert keras.layers.Dense(1).name == "dense"


def test_kernel_sets_can_be_switched():
    assert dispatch.active_kernels() == "cpu"
    with dispatch.use_kernels("reference"):
        assert dispatch.active_kernels() == "reference"
    assert dispatch.active_kernels() == "cpu"
    with pytest.raises(ValueError, match="unknown kernel set"):
        dispatch.set_kernels("fortran")


def test_missing_compiled_kernels_fall_back_to_the_reference_with_a_warning(monkeypatch):
    real_load = dispatch._load

    def load_without_compiled(name):
        if name == "cpu":
            raise ImportError("no compiled kernels in this test")
        return real_load(name)

    monkeypatch.setattr(dispatch, "_load", load_without_compiled)
    monkeypatch.setattr(dispatch, "_active", None)
    monkeypatch.setattr(dispatch, "_active_name", None)
    x = np.random.default_rng(0).random((1, 4, 4, 1)).astype("float32")
    with pytest.warns(RuntimeWarning, match="NumPy reference kernels"):
        y = keras.layers.MaxPooling2D(2)(x)
    assert dispatch.active_kernels() == "reference"
    assert y.shape == (1, 2, 2, 1)
    monkeypatch.undo()
    dispatch.set_kernels("cpu")
