"""ImageDataGenerator: exact flips, whole-pixel shifts and quarter turns, normalisation, flow() batching,
and parity with Keras's own implementation (its legacy copy, which calls scipy.ndimage) where installed."""
import warnings

import numpy as np
import pytest

import tinyconv
from tinyconv.preprocessing.image import ImageDataGenerator, apply_affine_transform


def _image(h=5, w=6, c=2, seed=0):
    return np.random.default_rng(seed).normal(size=(h, w, c)).astype("float32")


# --- exact geometric transforms ----------------------------------------------------------------------------------

def test_flips_are_exact():
    x = _image()
    gen = ImageDataGenerator()
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_horizontal": True}), x[:, ::-1])
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_vertical": True}), x[::-1])
    flipper = ImageDataGenerator(horizontal_flip=True)
    outcomes = {bool(np.array_equal(flipper.random_transform(x, seed=s), x[:, ::-1])) for s in range(20)}
    assert outcomes == {True, False}  # flipped about half of the time, otherwise untouched


@pytest.mark.parametrize("order", [0, 1])
def test_whole_pixel_shifts_are_exact(order):
    x = _image()
    gen = ImageDataGenerator(fill_mode="constant", cval=-7.0, interpolation_order=order)
    right = gen.apply_transform(x, {"tx": 2})  # reads column c + 2: the picture moves 2 columns left
    np.testing.assert_array_equal(right[:, :-2], x[:, 2:])
    assert np.all(right[:, -2:] == -7.0)
    down = gen.apply_transform(x, {"ty": -1})  # reads row r - 1: the picture moves 1 row down
    np.testing.assert_array_equal(down[1:], x[:-1])
    assert np.all(down[0] == -7.0)
    nearest = ImageDataGenerator(fill_mode="nearest").apply_transform(x, {"tx": 2})
    np.testing.assert_array_equal(nearest[:, -2:], np.repeat(x[:, -1:], 2, axis=1))


def test_height_shift_range_moves_rows_and_width_shift_range_columns():
    x = _image(6, 7, 1)
    for seed in range(5):
        vertical = ImageDataGenerator(height_shift_range=[3], fill_mode="constant", cval=-9.0)
        out = vertical.random_transform(x, seed=seed)
        assert np.all(out[:3] == -9.0) or np.all(out[-3:] == -9.0)
        rows_kept = out[3:] if np.all(out[:3] == -9.0) else out[:-3]
        assert any(np.array_equal(rows_kept, part) for part in (x[:-3], x[3:]))
        horizontal = ImageDataGenerator(width_shift_range=[3], fill_mode="constant", cval=-9.0)
        out = horizontal.random_transform(x, seed=seed)
        assert np.all(out[:, :3] == -9.0) or np.all(out[:, -3:] == -9.0)


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
def test_quarter_turn_is_exact_with_nearest_interpolation(fill_mode):
    x = _image(6, 6, 3)
    gen = ImageDataGenerator(interpolation_order=0, fill_mode=fill_mode)
    np.testing.assert_array_equal(gen.apply_transform(x, {"theta": 90}), np.rot90(x, 1))
    np.testing.assert_array_equal(gen.apply_transform(x, {"theta": -90}), np.rot90(x, -1))
    if fill_mode in ("nearest", "reflect"):
        # sin(pi) is 1.2e-16, not 0: a few source points land a hair outside the image, where 'constant'
        # and 'wrap' fill them (as Keras does); 'nearest' and 'reflect' read the edge pixel anyway.
        np.testing.assert_array_equal(gen.apply_transform(x, {"theta": 180}), np.rot90(x, 2))
    bilinear = ImageDataGenerator(fill_mode="nearest").apply_transform(x, {"theta": 90})
    np.testing.assert_allclose(bilinear, np.rot90(x, 1), atol=1e-5)


def test_channels_first_transforms_the_spatial_axes():
    x = _image(4, 4, 3)
    gen = ImageDataGenerator(data_format="channels_first", interpolation_order=0)
    chw = np.transpose(x, (2, 0, 1))
    out = gen.apply_transform(chw, {"theta": 90, "flip_horizontal": True})
    np.testing.assert_array_equal(np.transpose(out, (1, 2, 0)), np.rot90(x, 1)[:, ::-1])


def test_zoom_out_by_two_reads_every_other_pixel():
    x = np.arange(25, dtype="float32").reshape(5, 5, 1)
    out = apply_affine_transform(x, zx=2, zy=2, row_axis=0, col_axis=1, channel_axis=2, order=0,
                                 fill_mode="constant", cval=-1)
    np.testing.assert_array_equal(out[1:4, 1:4, 0], x[0:5:2, 0:5:2, 0])
    assert np.all(out[0] == -1) and np.all(out[:, 4] == -1)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="validation_split"):
        ImageDataGenerator(validation_split=1.5)
    with pytest.raises(ValueError, match="zoom_range"):
        ImageDataGenerator(zoom_range=(0.5, 1.0, 2.0))
    with pytest.raises(ValueError, match="4 dimensions"):
        ImageDataGenerator().flow(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="same length"):
        ImageDataGenerator().flow(np.zeros((3, 4, 4, 1)), np.zeros(2))
    with pytest.raises(ValueError, match="3 dimensions"):
        apply_affine_transform(np.zeros((4, 4)), theta=10)


# --- normalisation -----------------------------------------------------------------------------------------------

def test_rescale_and_samplewise():
    x = _image() * 10 + 3
    np.testing.assert_allclose(ImageDataGenerator(rescale=0.5).standardize(x.copy()), x * 0.5, rtol=1e-6)
    out = ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True).standardize(x.copy())
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-4


def test_featurewise_statistics_from_fit():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(40, 5, 5, 3)) * [1, 2, 3] + [10, -5, 0]).astype("float32")
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, rescale=0.5)
    with pytest.warns(UserWarning, match="fit"):
        gen.standardize(x[0].copy())
    before = x.copy()
    gen.fit(x)
    np.testing.assert_array_equal(x, before)  # fit works on a copy
    assert gen.mean.shape == (1, 1, 3) and gen.std.shape == (1, 1, 3)
    np.testing.assert_allclose(gen.mean.ravel(), (x * 0.5).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gen.std.ravel(), (x * 0.5).std(axis=(0, 1, 2)), rtol=1e-4)
    out = np.stack([gen.standardize(image.copy()) for image in x])
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_zca_whitening_decorrelates():
    rng = np.random.default_rng(2)
    mix = rng.normal(size=(4, 4))
    features = rng.normal(size=(500, 4)) @ mix
    features -= features.mean(axis=0)  # every pixel's mean equal (0), as the per-channel centring assumes
    x = features.reshape(500, 2, 2, 1)
    gen = ImageDataGenerator(zca_whitening=True, dtype="float64")
    gen.fit(x)
    white = gen.standardize(x.copy()).reshape(500, 4)
    np.testing.assert_allclose(np.cov(white, rowvar=False, bias=True), np.eye(4), atol=1e-3)


# --- flow ----------------------------------------------------------------------------------------------------

def _numbered(n=10):
    """Images whose every pixel holds the sample's number, and labels equal to it."""
    x = np.repeat(np.arange(n, dtype="float32"), 4 * 4).reshape(n, 4, 4, 1)
    return x, np.arange(n)


def test_flow_batches_in_order_without_shuffle():
    x, y = _numbered(10)
    it = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=False)
    assert isinstance(it, tinyconv.utils.Sequence) and len(it) == 3
    sizes = []
    for k in range(3):
        batch_x, batch_y = it[k]
        sizes.append(len(batch_x))
        assert batch_x.dtype == np.float32 and batch_x.shape[1:] == (4, 4, 1)
        np.testing.assert_array_equal(batch_x[:, 0, 0, 0], batch_y)
    assert sizes == [4, 4, 2]
    np.testing.assert_array_equal(next(it)[1], [0, 1, 2, 3])
    with pytest.raises(IndexError):
        it[3]
    only_x = ImageDataGenerator().flow(x, batch_size=5, shuffle=False)[1]
    np.testing.assert_array_equal(only_x[:, 0, 0, 0], [5, 6, 7, 8, 9])


def test_flow_shuffles_reproducibly_with_a_seed_and_covers_each_sample_once():
    x, y = _numbered(10)
    gen = ImageDataGenerator(rotation_range=20, horizontal_flip=True)

    def epoch(seed):
        it = gen.flow(x, y, batch_size=3, seed=seed)
        return [next(it) for _ in range(len(it))]

    first, again, other = epoch(3), epoch(3), epoch(4)
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    labels = np.concatenate([batch_y for _, batch_y in first])
    assert sorted(labels) == list(range(10)) and list(labels) != list(range(10))
    assert list(labels) != list(np.concatenate([batch_y for _, batch_y in other]))
    for batch_x, batch_y in first:  # rotations keep each image constant, so y still names its image
        np.testing.assert_allclose(batch_x[:, 2, 2, 0], batch_y, atol=1e-5)


def test_flow_passes_sample_weights_through():
    x, y = _numbered(6)
    batch_x, batch_y, weights = ImageDataGenerator().flow(x, y, sample_weight=y * 10.0, shuffle=False)[0]
    np.testing.assert_array_equal(weights, batch_y * 10.0)


def test_validation_split_subsets():
    x, y = _numbered(10)
    y = y % 2  # both classes on both sides of the split
    gen = ImageDataGenerator(validation_split=0.3)
    validation = gen.flow(x, y, batch_size=10, shuffle=False, subset="validation")[0][0]
    training = gen.flow(x, y, batch_size=10, shuffle=False, subset="training")[0][0]
    np.testing.assert_array_equal(validation[:, 0, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(training[:, 0, 0, 0], np.arange(3, 10))
    with pytest.raises(ValueError, match="different classes"):
        gen.flow(x, np.arange(10) // 5, subset="training")
    with pytest.raises(ValueError, match="subset"):
        gen.flow(x, y, subset="test")


# --- parity with Keras -------------------------------------------------------------------------------------------

def _keras_legacy():
    pytest.importorskip("keras", reason="Keras is the oracle for ImageDataGenerator's numbers")
    pytest.importorskip("scipy", reason="Keras's ImageDataGenerator needs scipy")
    from keras.src.legacy.preprocessing import image as keras_image
    return keras_image


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect", "wrap"])
@pytest.mark.parametrize("order", [0, 1])
def test_affine_transform_matches_keras(fill_mode, order):
    keras_image = _keras_legacy()
    rng = np.random.default_rng(3)
    for _ in range(25):
        h, w, c = rng.integers(1, 9), rng.integers(1, 9), rng.choice([1, 3])
        x = rng.normal(size=(h, w, c)).astype("float32")
        params = dict(theta=rng.uniform(-180, 180), tx=rng.uniform(-4, 4), ty=float(rng.integers(-3, 4)),
                      shear=rng.uniform(-30, 30) * (rng.random() < 0.5), zx=rng.uniform(0.5, 1.5),
                      zy=rng.uniform(0.5, 1.5))
        common = dict(row_axis=0, col_axis=1, channel_axis=2, fill_mode=fill_mode, cval=-2.0, order=order)
        np.testing.assert_allclose(apply_affine_transform(x, **params, **common),
                                   keras_image.apply_affine_transform(x, **params, **common), atol=1e-5)


def test_seeded_flow_matches_keras():
    keras_image = _keras_legacy()
    x = np.random.default_rng(0).integers(0, 255, size=(10, 7, 6, 3)).astype("float32")
    y = np.arange(10)
    options = dict(rotation_range=30, zoom_range=0.2, shear_range=10, horizontal_flip=True, vertical_flip=True,
                   rescale=1 / 255.0, channel_shift_range=0.1, featurewise_center=True,
                   featurewise_std_normalization=True)
    ours, theirs = ImageDataGenerator(**options), keras_image.ImageDataGenerator(**options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(x)
        theirs.fit(x)
        our_flow, their_flow = ours.flow(x, y, batch_size=4, seed=3), theirs.flow(x, y, batch_size=4, seed=3)
        for _ in range(5):
            (a, a_y), (b, b_y) = next(our_flow), next(their_flow)
            np.testing.assert_allclose(a, b, atol=1e-5)
            np.testing.assert_array_equal(a_y, b_y)
