"""The preprocessing layers: Rescaling, Normalization, Resizing, CenterCrop, RandomCrop, RandomFlip,
RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness.

Deterministic layers (and the random ones in degenerate settings, where Keras draws a constant: a factor
pair (a, a)) are compared with Keras 3 forward and backward; the sampling kernels with their loop
references; gradients numerically; the random ones statistically, for seeding, and for being the
identity at inference."""
import numpy as np
import pytest

import tinyconv
from tinyconv import layers
from tinyconv.utils import resample

from ..gradcheck import check_layer_gradients
from .oracles import keras_forward_backward, keras_module

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, (3, 7, 9, 2)).astype(np.float32)


def _compare_with_keras(ours, keras_layer, x, atol=1e-4, gradients=True):
    """Our forward and dL/dx for L = sum(y * r) against Keras's (torch autograd); ``gradients=False`` for a
    Keras layer that works in place on its input (RandomBrightness), which autograd refuses."""
    y = ours(x)
    r = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx = ours.backward(r)
    if gradients:
        y_k, dx_k, _ = keras_forward_backward(keras_layer, x, r)
        np.testing.assert_allclose(dx, dx_k, rtol=1e-4, atol=atol)
    else:
        y_k = np.asarray(keras_layer(x.copy()))
    assert y.shape == y_k.shape
    np.testing.assert_allclose(y, y_k, rtol=1e-5, atol=atol)
    assert ours.compute_output_shape((None,) + x.shape[1:]) == (None,) + y_k.shape[1:]


# ------------------------------------------------------------------ deterministic layers vs Keras
DETERMINISTIC = [
    ("Rescaling", dict(scale=1 / 255.0)),
    ("Rescaling", dict(scale=1 / 127.5, offset=-1.0)),
    ("Rescaling", dict(scale=[0.5, 2.0], offset=[1.0, -3.0])),
    ("Resizing", dict(height=4, width=5)),
    ("Resizing", dict(height=14, width=18)),                       # whole factors: the compiled kernel
    ("Resizing", dict(height=14, width=27, interpolation="nearest")),
    ("Resizing", dict(height=11, width=4)),
    ("Resizing", dict(height=5, width=6, interpolation="nearest")),
    ("Resizing", dict(height=4, width=4, crop_to_aspect_ratio=True)),
    ("Resizing", dict(height=6, width=3, crop_to_aspect_ratio=True)),
    ("Resizing", dict(height=5, width=4, pad_to_aspect_ratio=True, fill_value=3.0)),
    ("Resizing", dict(height=3, width=8, pad_to_aspect_ratio=True)),
    ("CenterCrop", dict(height=3, width=5)),
    ("CenterCrop", dict(height=9, width=4)),                        # taller than the image: smart resize
    ("CenterCrop", dict(height=10, width=12)),
]


@pytest.mark.parametrize("name, kwargs", DETERMINISTIC, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DETERMINISTIC)])
def test_deterministic_layers_match_keras(name, kwargs, fresh_names):
    keras = keras_module()
    _compare_with_keras(getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs), IMAGES)


def test_channels_first_matches_keras(fresh_names):
    keras = keras_module()
    x = np.ascontiguousarray(IMAGES.transpose(0, 3, 1, 2))
    for name, kwargs in [("Resizing", dict(height=4, width=6)), ("CenterCrop", dict(height=3, width=4)),
                         ("Resizing", dict(height=4, width=4, pad_to_aspect_ratio=True))]:
        _compare_with_keras(getattr(layers, name)(data_format="channels_first", **kwargs),
                            getattr(keras.layers, name)(data_format="channels_first", **kwargs), x)


@pytest.mark.parametrize("kwargs", [dict(), dict(axis=None), dict(axis=(1, 2)), dict(invert=True),
                                    dict(mean=[1.0, 2.0], variance=[4.0, 0.0]),
                                    dict(mean=3.0, variance=2.0, invert=True)])
def test_normalization_matches_keras(kwargs, fresh_names):
    keras = keras_module()
    ours, theirs = layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    if "mean" not in kwargs:
        ours.adapt(IMAGES)
        theirs.adapt(IMAGES)
        for w_ours, w_keras in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(w_ours, w_keras, rtol=1e-5)
    import torch

    x = torch.tensor(IMAGES / 10, requires_grad=True)
    y_k = theirs(x)
    r = np.random.default_rng(1).standard_normal(y_k.shape).astype(np.float32)
    (y_k * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours(IMAGES / 10), y_k.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.backward(r), x.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_normalization_adapts_over_batches_exactly(fresh_names):
    whole, in_batches = layers.Normalization(), layers.Normalization()
    whole.adapt(IMAGES)
    in_batches.adapt([IMAGES[:1], (IMAGES[1:], None)])  # an iterable of batches, (x, y) tuples too
    for a, b in zip(whole.get_weights(), in_batches.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    np.testing.assert_allclose(whole.get_weights()[0], IMAGES.mean(axis=(0, 1, 2)), rtol=1e-5)


# ------------------------------------------------------------------ random layers in degenerate settings
DEGENERATE = [
    ("RandomRotation", dict(factor=(0.1, 0.1))),
    ("RandomRotation", dict(factor=(-0.3, -0.3), fill_mode="constant", fill_value=2.0)),
    ("RandomRotation", dict(factor=(0.2, 0.2), fill_mode="wrap", interpolation="nearest")),
    ("RandomZoom", dict(height_factor=(0.3, 0.3))),
    ("RandomZoom", dict(height_factor=(-0.4, -0.4), width_factor=(0.2, 0.2), fill_mode="nearest")),
    ("RandomTranslation", dict(height_factor=(0.2, 0.2), width_factor=(-0.3, -0.3))),
    ("RandomTranslation", dict(height_factor=(-0.1, -0.1), width_factor=(0.25, 0.25), fill_mode="constant")),
    ("RandomContrast", dict(factor=(-0.4, 0.4))),                   # Keras draws from [1 + 0.4, 1 + 0.4]
    ("RandomBrightness", dict(factor=(0.1, 0.1))),
    ("RandomBrightness", dict(factor=(-0.2, -0.2), value_range=(0, 1))),
    ("RandomCrop", dict(height=7, width=5)),                       # not larger on both sides: centred box
]


@pytest.mark.parametrize("name, kwargs", DEGENERATE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DEGENERATE)])
def test_random_layers_match_keras_when_the_draw_is_fixed(name, kwargs, fresh_names):
    keras = keras_module()
    x = IMAGES / 255.0 if kwargs.get("value_range") == (0, 1) else IMAGES
    _compare_with_keras(getattr(layers, name)(seed=3, **kwargs), getattr(keras.layers, name)(seed=3, **kwargs), x,
                        gradients=name != "RandomBrightness")


def test_factor_zero_is_the_identity_in_training():
    for layer in [layers.RandomRotation(0.0), layers.RandomZoom(0.0), layers.RandomTranslation(0.0, 0.0),
                  layers.RandomBrightness(0.0)]:
        np.testing.assert_array_equal(layer(IMAGES, training=True), IMAGES)
    # (x - mean) * 1 + mean: equal up to float32 rounding, in Keras too
    np.testing.assert_allclose(layers.RandomContrast(0.0)(IMAGES, training=True), IMAGES, atol=1e-4)


RANDOM_LAYERS = [
    lambda: layers.RandomFlip(seed=5), lambda: layers.RandomRotation(0.3, seed=5),
    lambda: layers.RandomZoom(0.3, 0.2, seed=5), lambda: layers.RandomTranslation(0.2, 0.3, seed=5),
    lambda: layers.RandomContrast(0.5, seed=5), lambda: layers.RandomBrightness(0.3, seed=5),
    lambda: layers.RandomCrop(5, 6, seed=5),
]


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=lambda m: type(m()).__name__)
def test_random_layers_are_seeded_identity_at_inference_and_augment_when_called(make):
    a, b = make(), make()
    first, second = a(IMAGES), a(IMAGES)          # called directly: training=True, as in Keras
    np.testing.assert_array_equal(first, b(IMAGES))  # same seed, same sequence of draws
    assert not np.array_equal(first, second)        # a new draw every call
    inference = a(IMAGES, training=False)
    if isinstance(a, layers.RandomCrop):
        # the largest centred 5:6 box (7 x 8 of 7 x 9), resized
        np.testing.assert_array_equal(inference, layers.Resizing(5, 6, crop_to_aspect_ratio=True)(IMAGES))
    else:
        np.testing.assert_array_equal(inference, IMAGES)
        np.testing.assert_array_equal(a.backward(IMAGES), IMAGES)


def test_unseeded_layers_follow_set_random_seed():
    tinyconv.utils.set_random_seed(11)
    first = layers.RandomRotation(0.2)(IMAGES)
    tinyconv.utils.set_random_seed(11)
    np.testing.assert_array_equal(layers.RandomRotation(0.2)(IMAGES), first)


def test_random_flip_flips_half_the_images_and_both_axes_together():
    x = np.arange(2000 * 2 * 3, dtype=np.float32).reshape(2000, 2, 3, 1)
    y = layers.RandomFlip(seed=0)(x)
    flipped = np.all(y == x[:, ::-1, ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(y == x, axis=(1, 2, 3)))     # each image: both flips or none
    assert abs(flipped.mean() - 0.5) < 0.04
    y = layers.RandomFlip("horizontal", seed=0)(x)
    assert np.all(np.all(y == x[:, :, ::-1], axis=(1, 2, 3)) | np.all(y == x, axis=(1, 2, 3)))
    y = layers.RandomFlip("vertical", seed=0)(x)
    assert np.all(np.all(y == x[:, ::-1], axis=(1, 2, 3)) | np.all(y == x, axis=(1, 2, 3)))


def test_random_draws_have_keras_distributions():
    n = 4000
    rotation = layers.RandomRotation((-0.1, 0.25), seed=0)
    t = rotation._transforms(n, 8, 8)
    angles = np.degrees(np.arctan2(t[:, 3], t[:, 0]))
    assert -36.0 <= angles.min() < -34 and 88 < angles.max() <= 90.0 and abs(angles.mean() - 27) < 2
    zoom = layers.RandomZoom(0.2, seed=0)._transforms(n, 8, 8)
    assert np.all(zoom[:, 0] == zoom[:, 4]) and 0.8 <= zoom[:, 0].min() < 0.81 and 1.19 < zoom[:, 0].max() <= 1.2
    shift = layers.RandomTranslation(0.25, 0.5, seed=0)._transforms(n, 8, 10)
    assert -2.0 <= shift[:, 5].min() < -1.9 and 4.9 < -shift[:, 2].min() <= 5.0
    contrast = layers.RandomContrast(0.5, seed=0)
    assert contrast.factor == (0.0, 0.5)                               # Keras 3: factors in [1, 1.5]
    contrast(IMAGES.repeat(300, axis=0))
    assert 1.0 <= contrast._factors.min() < 1.01 and 1.49 < contrast._factors.max() <= 1.5
    brightness = layers.RandomBrightness(0.2, value_range=(0, 1), seed=0)
    y = brightness(np.full((n, 1, 1, 1), 0.5, np.float32))
    assert 0.3 <= y.min() < 0.31 and 0.69 < y.max() <= 0.7 and abs(y.mean() - 0.5) < 0.01


# ------------------------------------------------------------------ kernels: reference and fast twin
@pytest.mark.parametrize("size", [(3, 4), (14, 18), (9, 5), (1, 1), (16, 2)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resize_fast_twin_matches_reference_and_backward_is_its_transpose(size, interpolation):
    x = RNG.standard_normal((2, 7, 9, 3))
    y = resample.resize(x, size, interpolation)
    np.testing.assert_allclose(y, resample.resize_reference(x, size, interpolation), atol=1e-12)
    r = RNG.standard_normal(y.shape)
    assert np.isclose(np.sum(y * r), np.sum(x * resample.resize_backward(r, x.shape, interpolation)))


@pytest.mark.parametrize("fill_mode", resample.FILL_MODES)
@pytest.mark.parametrize("interpolation", resample.WARP_INTERPOLATIONS)
def test_affine_warp_fast_twin_matches_reference_and_keras(fill_mode, interpolation):
    x = RNG.standard_normal((2, 6, 7, 2)).astype(np.float32)
    transforms = np.zeros((2, 8))
    transforms[:, :6] = RNG.standard_normal((2, 6)) * [0.4, 0.4, 2, 0.4, 0.4, 2] + [1, 0, 0, 0, 1, 0]
    warp = resample.AffineWarp(transforms, x.shape, interpolation, fill_mode, fill_value=0.5)
    y = warp.forward(x)
    np.testing.assert_allclose(y, resample.affine_warp_reference(x, transforms, interpolation, fill_mode, 0.5),
                               atol=1e-5)
    r = RNG.standard_normal(y.shape).astype(np.float32)
    constant = warp.forward(np.zeros_like(x))                       # the fill alone
    assert np.isclose(np.sum((y - constant) * r), np.sum(x * warp.backward(r)), rtol=1e-4)
    keras = keras_module()
    expected = keras.ops.image.affine_transform(x, transforms.astype(np.float32), interpolation=interpolation,
                                                fill_mode=fill_mode, fill_value=0.5)
    np.testing.assert_allclose(y, np.asarray(expected), atol=1e-4)


def test_reflect_folds_like_keras():
    index = np.arange(-4, 7)  # (a b c | c b a | a b c | c b a), for a 3-pixel row a b c
    np.testing.assert_array_equal(resample.fold_index(index, 3, "reflect"), [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0])
    np.testing.assert_array_equal(resample.fold_index(index, 3, "wrap"), [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(resample.fold_index(np.array([-2, 5]), 3, "nearest"), [0, 2])


# ------------------------------------------------------------------ gradients
class _FixedDraws:
    """The same random draws at every forward pass, so central differences see one function."""

    def __init__(self, layer, seed=4):
        self.layer, self.seed = layer, seed
        layer.rng = lambda: np.random.default_rng(self.seed)


GRADIENT_CASES = [
    lambda: layers.Rescaling([0.5, 2.0], offset=1.0, dtype="float64"),
    lambda: layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], dtype="float64"),
    lambda: layers.Normalization(mean=1.0, variance=4.0, invert=True, dtype="float64"),
    lambda: layers.Resizing(3, 4, dtype="float64"),
    lambda: layers.Resizing(10, 12, crop_to_aspect_ratio=True, dtype="float64"),
    lambda: layers.Resizing(6, 3, pad_to_aspect_ratio=True, dtype="float64"),
    lambda: layers.Resizing(10, 10, interpolation="nearest", dtype="float64"),
    lambda: layers.CenterCrop(3, 3, dtype="float64"),
    lambda: layers.CenterCrop(7, 3, dtype="float64"),
    lambda: layers.RandomCrop(3, 4, dtype="float64"),
    lambda: layers.RandomFlip(dtype="float64"),
    lambda: layers.RandomRotation(0.4, dtype="float64"),
    lambda: layers.RandomRotation(0.4, fill_mode="constant", fill_value=1.0, dtype="float64"),
    lambda: layers.RandomZoom(0.5, 0.3, fill_mode="wrap", dtype="float64"),
    lambda: layers.RandomTranslation(0.3, 0.3, fill_mode="nearest", dtype="float64"),
    lambda: layers.RandomContrast(0.5, value_range=(-100, 100), dtype="float64"),
    lambda: layers.RandomBrightness(0.3, value_range=(-100, 100), dtype="float64"),
]


@pytest.mark.parametrize("make", GRADIENT_CASES, ids=lambda m: type(m()).__name__)
def test_gradients_numerically(make):
    layer = make()
    _FixedDraws(layer)
    x = np.random.default_rng(2).standard_normal((2, 5, 6, 2))
    check_layer_gradients(layer, x, training=True)


def test_clipped_values_get_no_gradient():
    layer = layers.RandomBrightness((0.5, 0.5), value_range=(0, 1))
    x = np.array([0.2, 0.7], np.float32).reshape(1, 1, 2, 1)
    y = layer(x)
    np.testing.assert_allclose(y.ravel(), [0.7, 1.0])
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)).ravel(), [1.0, 0.0])


# ------------------------------------------------------------------ configs, models, errors
CONFIG_CASES = [
    ("Rescaling", dict(scale=0.5, offset=1.0)), ("Resizing", dict(height=4, width=5, crop_to_aspect_ratio=True)),
    ("CenterCrop", dict(height=3, width=4)), ("RandomCrop", dict(height=3, width=4, seed=2)),
    ("Normalization", dict(axis=-1, mean=[1.0, 2.0], variance=[1.0, 4.0])),
    ("RandomFlip", dict(mode="horizontal", seed=1)), ("RandomRotation", dict(factor=0.2, fill_mode="nearest")),
    ("RandomZoom", dict(height_factor=0.1, width_factor=(-0.2, 0.3))),
    ("RandomTranslation", dict(height_factor=0.1, width_factor=0.2, fill_value=1.0)),
    ("RandomContrast", dict(factor=0.3, seed=4)), ("RandomBrightness", dict(factor=(-0.2, 0.1), value_range=(0, 1))),
]


@pytest.mark.parametrize("name, kwargs", CONFIG_CASES, ids=[n for n, _ in CONFIG_CASES])
def test_config_matches_keras_and_round_trips(name, kwargs, fresh_names):
    keras = keras_module()
    ours = getattr(layers, name)(**kwargs)
    theirs = getattr(keras.layers, name)(**kwargs).get_config()
    config = ours.get_config()
    skip = {"name", "dtype", "trainable"}
    assert set(config) - skip == set(theirs) - skip
    for key in set(theirs) - skip:
        value, expected = config[key], theirs[key]
        assert (list(value) if isinstance(value, tuple) else value) == \
            (list(expected) if isinstance(expected, tuple) else expected), key
    again = layers.deserialize(layers.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == config


def test_augmentation_model_trains_and_predicts_without_augmenting():
    tinyconv.utils.set_random_seed(0)
    augment = tinyconv.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                                   layers.RandomZoom(0.1)])
    model = tinyconv.Sequential([tinyconv.Input((8, 8, 1)), layers.Rescaling(1 / 255.0), augment,
                                 layers.Conv2D(4, 3, activation="relu"), layers.Flatten(), layers.Dense(2)])
    x = RNG.uniform(0, 255, (16, 8, 8, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 127).astype(np.int64)
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_arguments_name_the_layer():
    with pytest.raises(ValueError, match="random_flip.*mode"):
        layers.RandomFlip("diagonal", name="random_flip")
    with pytest.raises(ValueError, match="factor"):
        layers.RandomRotation(2.0)
    with pytest.raises(ValueError, match=r"height_factor.*\(-1.0, 1.0\]"):
        layers.RandomZoom(-1.0)
    with pytest.raises(ValueError, match="fill_mode"):
        layers.RandomTranslation(0.1, 0.1, fill_mode="mirror-ish")
    with pytest.raises(ValueError, match="interpolation"):
        layers.Resizing(2, 2, interpolation="lanczos5")
    with pytest.raises(ValueError, match="only one of"):
        layers.Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="both mean and variance"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="rank 4"):
        layers.CenterCrop(2, 2)(np.ones((4, 4, 3)))


def test_examples_in_docstrings_run():
    import doctest
    import importlib

    for name in ("base", "rescaling", "resizing", "random_geometry", "random_color"):
        module = importlib.import_module(f"tinyconv.layers.preprocessing.{name}")
        tinyconv.utils.set_random_seed(0)
        result = doctest.testmod(module, extraglobs={"np": np, "layers": layers},
                                 optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
