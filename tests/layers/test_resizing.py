"""UpSampling1D/2D/3D, BedOfNailsUnpooling2D, MaxUnpooling2D, ZeroPadding1D/2D/3D, Cropping1D/2D/3D."""
import numpy as np
import pytest

import tinyconv
from tinyconv import layers

from ..gradcheck import check_layer_gradients
from .oracles import keras_forward_backward, keras_module, torch_forward_backward, train_loss_decreases

KERAS_CASES = [
    ("UpSampling1D", dict(size=3), (2, 4, 3)),
    ("UpSampling2D", dict(size=(2, 3)), (2, 3, 4, 2)),
    ("UpSampling2D", dict(size=(3, 2), interpolation="bilinear"), (2, 3, 4, 2)),
    ("UpSampling2D", dict(size=2, interpolation="bilinear", data_format="channels_first"), (1, 2, 3, 5)),
    ("UpSampling3D", dict(size=(2, 1, 3)), (1, 2, 3, 2, 2)),
    ("UpSampling3D", dict(data_format="channels_first"), (1, 2, 2, 3, 2)),
    ("ZeroPadding1D", dict(padding=(2, 1)), (2, 4, 3)),
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 3))), (2, 3, 4, 2)),
    ("ZeroPadding2D", dict(padding=(2, 1), data_format="channels_first"), (2, 2, 3, 4)),
    ("ZeroPadding3D", dict(padding=1), (1, 2, 3, 2, 2)),
    ("Cropping1D", dict(cropping=(1, 2)), (2, 6, 3)),
    ("Cropping2D", dict(cropping=((1, 0), (2, 1))), (2, 4, 5, 2)),
    ("Cropping2D", dict(cropping=1, data_format="channels_first"), (2, 2, 4, 5)),
    ("Cropping3D", dict(cropping=((1, 0), (0, 1), (1, 1))), (1, 3, 3, 4, 2)),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(KERAS_CASES)]


@pytest.mark.parametrize("name, kwargs, shape", KERAS_CASES, ids=IDS)
def test_matches_keras_forward_and_backward(name, kwargs, shape, fresh_names):
    keras = keras_module()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours = getattr(layers, name)(**kwargs)
    y = ours(x)
    upstream = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx = ours.backward(upstream)
    y_k, dx_k, _ = keras_forward_backward(getattr(keras.layers, name)(**kwargs), x, upstream)
    assert y.shape == y_k.shape and ours.compute_output_shape((None,) + shape[1:]) == (None,) + y_k.shape[1:]
    np.testing.assert_allclose(y, y_k, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, dx_k, rtol=1e-5, atol=1e-5)


GRAD_CASES = [(getattr(layers, name), kwargs, shape) for name, kwargs, shape in KERAS_CASES] + [
    (layers.BedOfNailsUnpooling2D, dict(size=(2, 3)), (2, 3, 2, 2)),
    (layers.BedOfNailsUnpooling2D, dict(data_format="channels_first"), (1, 2, 3, 2)),
]


@pytest.mark.parametrize("cls, kwargs, shape", GRAD_CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in
                                                                 enumerate(GRAD_CASES)])
def test_gradients_numerically(cls, kwargs, shape, kernel_set, fresh_names):
    check_layer_gradients(cls(dtype="float64", **kwargs), np.random.default_rng(2).standard_normal(shape))


def test_upsampling_matches_torch_interpolate(fresh_names):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 2))
    upstream = np.random.default_rng(4).standard_normal((2, 6, 12, 2))
    for mode, extra in (("nearest", {}), ("bilinear", {"align_corners": False})):
        layer = layers.UpSampling2D((2, 3), interpolation=mode, dtype="float64")
        y = layer(x)
        dx = layer.backward(upstream)

        def interpolate(t, mode=mode, extra=extra):
            return torch.nn.functional.interpolate(t.permute(0, 3, 1, 2), scale_factor=(2, 3), mode=mode,
                                                   **extra).permute(0, 2, 3, 1)

        y_t, (dx_t,) = torch_forward_backward(interpolate, x, upstream)
        np.testing.assert_allclose(y, y_t, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dx, dx_t, rtol=1e-12, atol=1e-13)


def test_course_examples_nearest_and_bed_of_nails(fresh_names):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
    nearest = layers.UpSampling2D(dtype="float64")(x)[0, :, :, 0]
    np.testing.assert_array_equal(nearest, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    nails = layers.BedOfNailsUnpooling2D(dtype="float64")(x)[0, :, :, 0]
    np.testing.assert_array_equal(nails, [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])


# --------------------------------------------------------------------------------------------
# Max unpooling
# --------------------------------------------------------------------------------------------
def test_max_unpooling_restores_maxima_in_place_and_zeros_elsewhere(fresh_names):
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)[None, :, :, None]
    pool = layers.MaxPooling2D(2, dtype="float64")
    unpool = layers.MaxUnpooling2D(pool, dtype="float64")
    restored = unpool(pool(x))[0, :, :, 0]
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[2, 0], expected[3, 3] = 6, 8, 3, 4
    np.testing.assert_array_equal(restored, expected)
    # backward reads the gradient at the remembered positions
    dy = np.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(unpool.backward(dy)[0, :, :, 0], [[5, 7], [8, 15]])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_max_unpooling_matches_torch(data_format, kernel_set, fresh_names):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(5)
    x = rng.permutation(2 * 6 * 7 * 3).reshape(2, 6, 7, 3) / 100.0
    pool = layers.MaxPooling2D((2, 3), strides=(2, 3), dtype="float64")
    unpool = layers.MaxUnpooling2D(pool, dtype="float64")
    pooled = pool(x)
    values = rng.standard_normal(pooled.shape)
    y = unpool(values)
    upstream = rng.standard_normal(y.shape)
    dx = unpool.backward(upstream)
    _, indices = torch.nn.functional.max_pool2d(torch.tensor(x.transpose(0, 3, 1, 2)), (2, 3), (2, 3),
                                                return_indices=True)

    def unpool_t(t):
        return torch.nn.functional.max_unpool2d(t.permute(0, 3, 1, 2), indices, (2, 3), (2, 3),
                                                output_size=(6, 7)).permute(0, 2, 3, 1)

    y_t, (dx_t,) = torch_forward_backward(unpool_t, values, upstream)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(dx, dx_t)
    if data_format == "channels_first":  # the same through channels_first layers
        pool_cf = layers.MaxPooling2D((2, 3), data_format="channels_first", dtype="float64")
        unpool_cf = layers.MaxUnpooling2D(pool_cf, dtype="float64")
        pool_cf(x.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(unpool_cf(values.transpose(0, 3, 1, 2)), y_t.transpose(0, 3, 1, 2))


def test_max_unpooling_gradient_and_errors(kernel_set, fresh_names):
    pool = layers.MaxPooling2D(2, dtype="float64")
    unpool = layers.MaxUnpooling2D(pool, dtype="float64")
    with pytest.raises(ValueError, match=r"MaxUnpooling2D 'max_unpooling2d'.*has not run forward yet"):
        unpool(np.zeros((1, 2, 2, 1)))
    pooled = pool(np.random.default_rng(6).permutation(32).reshape(2, 4, 4, 1) / 10.0)
    check_layer_gradients(unpool, np.random.default_rng(7).standard_normal(pooled.shape))
    with pytest.raises(ValueError, match=r"expected input of shape \(2, 2, 2, 1\).*got \(2, 3, 3, 1\)"):
        unpool(np.zeros((2, 3, 3, 1)))
    with pytest.raises(TypeError, match="expected the MaxPooling2D layer"):
        layers.MaxUnpooling2D(layers.AveragePooling2D(2))


def test_encoder_decoder_trains_in_a_sequential_model(fresh_names):
    rng = np.random.default_rng(8)
    pool = layers.MaxPooling2D(2)
    model = tinyconv.Sequential([
        tinyconv.Input(shape=(8, 8, 1)),
        layers.ZeroPadding2D(1),
        layers.Conv2D(4, 3, activation="relu"),
        pool,
        layers.UpSampling2D(interpolation="bilinear"),
        layers.MaxPooling2D(2),
        layers.MaxUnpooling2D(pool),
        layers.BedOfNailsUnpooling2D(1),
        layers.Cropping2D(1),
        layers.Conv2D(1, 1),
    ])
    assert model.layers[-1].output_shape == (None, 6, 6, 1)
    x = rng.standard_normal((8, 8, 8, 1))
    ok, losses = train_loss_decreases(model, x, x[:, 1:-1, 1:-1, :])
    assert ok, losses
    model1d = tinyconv.Sequential([
        tinyconv.Input(shape=(4, 2)), layers.UpSampling1D(2), layers.ZeroPadding1D(1), layers.Cropping1D((0, 2)),
        layers.Flatten(), layers.Dense(1),
    ])
    ok, losses = train_loss_decreases(model1d, rng.standard_normal((8, 4, 2)), rng.standard_normal((8, 1)))
    assert ok, losses


def test_bad_arguments_name_the_layer(fresh_names):
    with pytest.raises(ValueError, match=r"UpSampling2D 'up_sampling2d': interpolation must be one of"):
        layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match=r"Cropping2D 'cropping2d': cropping .* leaves nothing"):
        layers.Cropping2D(((2, 2), (0, 0)))(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"ZeroPadding3D .*padding must be an int, a tuple of 3 ints"):
        layers.ZeroPadding3D((1, 2))
    with pytest.raises(ValueError, match=r"UpSampling3D .*rank 5"):
        layers.UpSampling3D()(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="size must be positive"):
        layers.UpSampling1D(0)


def _unpooling_autoencoder(functional):
    import tinyconv as keras

    if not functional:
        pool = layers.MaxPooling2D(2, name="pool")
        return keras.Sequential([keras.Input((4, 4, 2)), layers.Conv2D(3, 3, padding="same", name="encode"), pool,
                                 layers.MaxUnpooling2D(pool, name="unpool"),
                                 layers.Conv2D(2, 3, padding="same", name="decode")])
    inputs = keras.Input((4, 4, 2))
    pool = layers.MaxPooling2D(2, name="pool")
    encoded = pool(layers.Conv2D(3, 3, padding="same", name="encode")(inputs))
    decoded = layers.Conv2D(2, 3, padding="same", name="decode")(layers.MaxUnpooling2D(pool, name="unpool")(encoded))
    return keras.Model(inputs, decoded)


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("suffix", [".keras", ".h5", "json", "clone"])
def test_a_model_with_max_unpooling_saves_and_reloads(tmp_path, fresh_names, functional, suffix):
    """The unpooling layer's config names its pool; rebuilding the model hands it the new pool layer."""
    import tinyconv as keras

    model = _unpooling_autoencoder(functional)
    x = np.random.default_rng(0).standard_normal((3, 4, 4, 2)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    if suffix == "json":
        again = keras.models.model_from_json(model.to_json())
        again.set_weights(model.get_weights())
    elif suffix == "clone":
        again = keras.models.clone_model(model)
        again.set_weights(model.get_weights())
    else:
        path = tmp_path / f"unpool{suffix}"
        model.save(path)
        again = keras.models.load_model(path)
    unpool = again.get_layer("unpool")
    assert unpool.pool is again.get_layer("pool") and unpool.pool is not model.get_layer("pool")
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)


def test_max_unpooling_from_a_config_alone_names_the_missing_pool(fresh_names):
    unpool = layers.MaxUnpooling2D.from_config({"name": "unpool", "pool": "pool"})
    assert unpool.get_config()["pool"] == "pool"
    with pytest.raises(ValueError, match=r"pool layer 'pool' is only a name .*rebuild the whole model"):
        unpool(np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"its pool layer 'pool' must come before it in the model"):
        unpool.resolve_layer_references({"dense": layers.Dense(2)})
    with pytest.raises(TypeError, match="expected the MaxPooling2D layer whose maxima to restore, got Dense"):
        unpool.resolve_layer_references({"pool": layers.Dense(2)})
