"""model.save / load_model / save_weights / load_weights in Keras 3 (.keras, .weights.h5) and Keras 2 (.h5)
formats, atomic writes, and files exchanged with Keras 3 itself."""
import os
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="saving needs h5py")

import tinyconv as keras  # noqa: E402
from tinyconv import layers  # noqa: E402
from tinyconv.models import load_model  # noqa: E402
from tinyconv.saving import h5_weights, legacy_h5  # noqa: E402

RNG = np.random.default_rng(0)
X_IMG = RNG.random((8, 6, 6, 2)).astype("float32")


def _sequential():
    return keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="relu"),
                             layers.BatchNormalization(), layers.MaxPooling2D(2), layers.Flatten(),
                             layers.Dropout(0.25), layers.Dense(3, activation="softmax")])


def _functional():
    """Residual sum, a layer shared by two calls, two outputs."""
    inp = keras.Input((6, 6, 2), name="img")
    x = layers.Conv2D(3, 3, padding="same", activation="relu")(inp)
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    s = layers.Add()([x, shared(shared(x))])
    f = layers.Flatten()(layers.AveragePooling2D(2)(layers.BatchNormalization()(s)))
    return keras.Model(inp, [layers.Dense(3, activation="softmax", name="cls")(f), layers.Dense(1, name="reg")(f)])


def _nested():
    inner = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(2, 3), layers.BatchNormalization()],
                             name="inner")
    inp = keras.Input((6, 6, 2))
    out = layers.Dense(2)(layers.Flatten()(inner(inp)))
    return keras.Model(inp, out)


def _trained(model):
    y_cls = RNG.integers(0, 3, len(X_IMG))
    if len(model.output_names) == 2:
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=["sparse_categorical_crossentropy", "mse"],
                      loss_weights=[1.0, 0.5])
        y = [y_cls, RNG.random((len(X_IMG), 1))]
    elif model.output_shape[-1] == 3:
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        y = y_cls
    else:
        model.compile(optimizer="rmsprop", loss="mse")
        y = RNG.random((len(X_IMG), 2))
    model.fit(X_IMG, y, epochs=2, batch_size=4, verbose=0)
    return model, y


def _outputs(model, x=X_IMG):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def _assert_same_predictions(a, b, x=X_IMG, atol=0.0):
    for left, right in zip(_outputs(a, x), _outputs(b, x)):
        np.testing.assert_allclose(left, right, rtol=0, atol=atol)


# ------------------------------------------------------------------ tinyconv -> tinyconv
@pytest.mark.parametrize("build", [_sequential, _functional, _nested], ids=["sequential", "functional", "nested"])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_load_round_trip(build, suffix, tmp_path, fresh_names):
    model, y = _trained(build())
    path = tmp_path / f"model{suffix}"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    _assert_same_predictions(model, loaded)
    # compile settings come back: the same optimizer class and settings, and training continues
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == pytest.approx(model.optimizer.get_config()) or \
        loaded.optimizer.get_config()["learning_rate"] == pytest.approx(model.optimizer.learning_rate)
    loaded.fit(X_IMG, y, epochs=1, batch_size=4, verbose=0)


def test_keras_file_restores_optimizer_state(tmp_path, fresh_names):
    model, y = _trained(_functional())
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.optimizer.iterations == model.optimizer.iterations
    # one more identical step from identical state gives identical weights
    model.train_on_batch(X_IMG, y)
    loaded.train_on_batch(X_IMG, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_keras_file_layout(tmp_path, fresh_names):
    model, _ = _trained(_functional())
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert set(archive.namelist()) >= {"config.json", "metadata.json", "model.weights.h5"}
        archive.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5") as h5:
        assert h5["vars"].attrs["name"] == model.name
        assert h5["layers/conv2d/vars/0"].shape == (3, 3, 2, 3)            # kernel, then bias
        assert h5["layers/conv2d_1/vars"].attrs["name"] == "shared"        # keyed by class, not by name
        assert [h5[f"layers/batch_normalization/vars/{i}"].shape for i in range(4)] == [(3,)] * 4
        assert "optimizer/vars/0" in h5


def test_load_without_compile(tmp_path, fresh_names):
    model, _ = _trained(_sequential())
    model.save(tmp_path / "m.keras")
    assert not load_model(tmp_path / "m.keras", compile=False).compiled


def test_frozen_layer_stays_frozen(tmp_path, fresh_names):
    model = _sequential()
    model.layers[0].trainable = False
    for suffix in (".keras", ".h5"):
        model.save(tmp_path / f"m{suffix}")
        assert load_model(tmp_path / f"m{suffix}").layers[0].trainable is False


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_save_and_load_weights(suffix, tmp_path, fresh_names):
    model, _ = _trained(_nested())
    path = tmp_path / f"w{suffix}"
    model.save_weights(path)
    other = keras.models.clone_model(model)
    other.load_weights(path)
    _assert_same_predictions(model, other)


def test_legacy_h5_layout(tmp_path, fresh_names):
    model, _ = _trained(_sequential())
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as h5:
        assert {"model_config", "training_config"} <= set(h5.attrs)
        assert h5["model_weights/conv2d/conv2d/kernel:0"].shape == (3, 3, 2, 3)
        names = [n.decode() for n in h5["model_weights/batch_normalization"].attrs["weight_names"]]
        assert names[0] == "batch_normalization/gamma:0" and names[-1] == "batch_normalization/moving_variance:0"


def test_mismatched_weights_name_the_layer_and_shapes(tmp_path, fresh_names):
    small = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="head")])
    small.save_weights(tmp_path / "w.weights.h5")
    small.save_weights(tmp_path / "w.h5")
    big = keras.Sequential([keras.Input((5,)), layers.Dense(3, name="head")])
    before = big.get_weights()
    with pytest.raises(ValueError, match=r"Dense 'head'.*'kernel'.*\(5, 3\).*\(4, 3\)"):
        big.load_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"Dense 'head'.*\(5, 3\).*\(4, 3\)"):
        big.load_weights(tmp_path / "w.h5")
    for a, b in zip(before, big.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing half-loaded
    deeper = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Dense(2)])
    with pytest.raises(ValueError, match="weights for 1 layers"):
        deeper.load_weights(tmp_path / "w.h5")


def test_unknown_layer_class_in_file(tmp_path, fresh_names):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members["config.json"] = members["config.json"].replace(b'"Dense"', b'"Frobnicate"')
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="Unknown layer class 'Frobnicate'"):
        load_model(tmp_path / "bad.keras")


def test_bad_extension_and_missing_file(tmp_path, fresh_names):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match=".keras"):
        model.save(tmp_path / "m.pkl")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.keras")
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)


# ------------------------------------------------------------------ atomic writes
def _raise_midway(original, calls_before_failure):
    count = {"n": 0}

    def writer(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls_before_failure:
            raise RuntimeError("disk full (simulated)")
        return original(*args, **kwargs)

    return writer


@pytest.mark.parametrize("filename", ["m.keras", "m.h5", "w.weights.h5", "w.h5"])
def test_failed_save_keeps_the_previous_file(filename, tmp_path, monkeypatch, fresh_names):
    model, _ = _trained(_sequential())
    path = tmp_path / filename
    save = model.save_weights if "w." in filename else model.save
    save(path)
    original_bytes = path.read_bytes()
    monkeypatch.setattr(h5_weights, "_write_vars", _raise_midway(h5_weights._write_vars, 2))
    monkeypatch.setattr(legacy_h5, "legacy_slots", _raise_midway(legacy_h5.legacy_slots, 2))
    model.layers[-1].set_weights([w + 1 for w in model.layers[-1].get_weights()])
    with pytest.raises(RuntimeError, match="simulated"):
        save(path)
    assert path.read_bytes() == original_bytes
    assert sorted(os.listdir(tmp_path)) == [filename]  # no temporary file left behind


# ------------------------------------------------------------------ exchange with Keras 3
@pytest.fixture
def keras3():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="Keras 3 is the oracle for file compatibility")


def _shared_layers_model():
    """Layers both libraries have: Conv2D, BatchNormalization, pooling, Flatten, Dropout, merges, Activation."""
    inp = keras.Input((6, 6, 2), name="img")
    a = layers.Conv2D(4, 3, padding="same")(inp)
    a = layers.Activation("relu")(layers.BatchNormalization()(a))
    b = layers.Conv2D(4, 1)(inp)
    merged = layers.Concatenate()([layers.Add()([a, b]), layers.Multiply()([a, b]), layers.Maximum()([a, b])])
    pooled = layers.MaxPooling2D(2)(merged)
    avg = layers.AveragePooling2D(2)(merged)
    x = layers.Flatten()(layers.Average()([pooled, avg]))
    x = layers.Dropout(0.3)(layers.Dense(5, activation="tanh")(x))
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_loads_tinyconv_files(suffix, keras3, tmp_path, fresh_names):
    model = _shared_layers_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(X_IMG, RNG.integers(0, 3, len(X_IMG)), epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    theirs = keras3.models.load_model(tmp_path / f"m{suffix}")
    np.testing.assert_allclose(np.asarray(theirs.predict(X_IMG, verbose=0)), model.predict(X_IMG, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert type(theirs.optimizer).__name__ == "Adam"
    assert float(theirs.optimizer.learning_rate) == pytest.approx(0.01)


def _keras3_model(keras3):
    kl = keras3.layers
    inp = keras3.Input((6, 6, 2), name="img")
    a = kl.Activation("relu")(kl.BatchNormalization()(kl.Conv2D(4, 3, padding="same")(inp)))
    b = kl.Conv2D(4, 1)(inp)
    merged = kl.Concatenate()([kl.Add()([a, b]), kl.Subtract()([a, b]), kl.Minimum()([a, b])])
    x = kl.Flatten()(kl.MaxPooling2D(2)(merged))
    x = kl.Dropout(0.2)(kl.Dense(5, activation="relu")(x))
    model = keras3.Model(inp, kl.Dense(3, activation="softmax")(x))
    model.compile(optimizer=keras3.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.fit(X_IMG, RNG.integers(0, 3, len(X_IMG)), epochs=2, batch_size=4, verbose=0)  # moves BN statistics
    return model


def test_tinyconv_loads_keras3_files(keras3, tmp_path, fresh_names):
    theirs = _keras3_model(keras3)
    expected = np.asarray(theirs.predict(X_IMG, verbose=0))
    theirs.save(tmp_path / "k.keras")
    theirs.save_weights(tmp_path / "k.weights.h5")
    theirs.save(tmp_path / "k.h5")
    ours = load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(X_IMG, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert type(ours.optimizer).__name__ == "SGD" and ours.optimizer.momentum == pytest.approx(0.9)
    fresh = keras.models.clone_model(ours)
    fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(fresh.predict(X_IMG, verbose=0), expected, rtol=1e-5, atol=1e-6)
    legacy = load_model(tmp_path / "k.h5")
    np.testing.assert_allclose(legacy.predict(X_IMG, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_keras3_sequential_file_loads(keras3, tmp_path, fresh_names):
    theirs = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(3, activation="relu"),
                                keras3.layers.Dense(2)])
    theirs.save(tmp_path / "s.keras")
    x = RNG.random((5, 4)).astype("float32")
    ours = load_model(tmp_path / "s.keras")
    assert isinstance(ours, keras.Sequential)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
