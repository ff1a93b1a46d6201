"""Hand-designed kernels, saliency, confusion matrix, FGSM, freezing, and the pictures."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import initializers, layers
from tinyconv.teaching import (Gabor, Gaussian, Laplacian, Sobel, confusion_matrix, fgsm, freeze, saliency_map,
                               unfreeze)


# ------------------------------------------------------------------ kernels
def test_sobel_by_name_responds_to_a_rightward_ramp():
    conv = layers.Conv2D(1, 3, kernel_initializer="sobel", use_bias=False)
    ramp = np.tile(np.arange(6, dtype="float32"), (6, 1))[None, :, :, None]  # brightness grows to the right
    np.testing.assert_allclose(conv(ramp), 8.0)  # (x+1 - (x-1)) * (1 + 2 + 1)
    vertical = layers.Conv2D(1, 3, kernel_initializer="sobel_y", use_bias=False)
    np.testing.assert_allclose(vertical(ramp), 0.0)
    assert initializers.get({"class_name": "Sobel", "config": {"direction": "y"}}).direction == "y"


def test_kernel_shapes_sums_and_banks():
    k = Sobel()((3, 3, 2, 4))
    assert k.shape == (3, 3, 2, 4) and np.all(k == k[:, :, :1, :1])
    assert Laplacian()((3, 3, 1, 1)).sum() == 0
    g = Gaussian(1.5)((5, 5, 1, 1))[..., 0, 0]
    assert g.sum() == pytest.approx(1.0) and g.argmax() == 12 and np.allclose(g, g.T)
    bank = Gabor(sigma=2, theta=0, lambd=4, gamma=0.5)((7, 7, 1, 4))
    np.testing.assert_allclose(bank[:, :, 0, 2], bank[:, :, 0, 0].T, atol=1e-6)  # theta + pi/2 is the transpose
    assert bank[3, 3, 0, 0] == pytest.approx(1.0)  # the centre of a cosine Gabor with psi = 0
    with pytest.raises(ValueError, match="3x3"):
        Sobel()((5, 5, 1, 1))
    with pytest.raises(ValueError, match="direction"):
        Sobel("z")


# ------------------------------------------------------------------ confusion and saliency
def test_confusion_matrix_counts():
    counts = confusion_matrix([0, 1, 2, 2, 1], np.eye(3)[[0, 2, 2, 1, 1]])
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [0, 1, 1]])
    assert confusion_matrix([0], [0], num_classes=4).shape == (4, 4)


def test_saliency_is_the_logit_gradient_not_the_softmax_one():
    model = keras.Sequential([keras.Input((4, 4, 2)), layers.Flatten(),
                              layers.Dense(3, activation="softmax", dtype="float32")])
    kernel = model.layers[1].kernel
    image = np.random.default_rng(0).random((4, 4, 2)).astype("float32")
    raw = saliency_map(model, image, 2, raw=True)
    np.testing.assert_allclose(raw, kernel[:, 2].reshape(4, 4, 2), rtol=1e-6)  # d z_2 / dx = W[:, 2]
    np.testing.assert_allclose(saliency_map(model, image, 2), np.abs(raw).max(axis=-1))
    assert saliency_map(model, image[None].repeat(3, 0), 1).shape == (3, 4, 4)


# ------------------------------------------------------------------ adversarial examples
def bars(n, seed):
    """Class 0: a bright vertical bar, class 1: a horizontal one, on noise; values in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1)) * 0.3
    y = rng.integers(0, 2, n)
    for i, label in enumerate(y):
        position = rng.integers(1, 7)
        if label == 0:
            x[i, :, position, 0] += 0.6
        else:
            x[i, position, :, 0] += 0.6
    return x.astype("float32"), y


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = bars(256, 1)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    return model


def test_fgsm_flips_most_predictions_and_eps_zero_changes_nothing(trained):
    x, y = bars(64, 2)
    clean = trained.predict(x, verbose=0).argmax(1)
    assert (clean == y).mean() > 0.9
    np.testing.assert_array_equal(fgsm(trained, x, y, 0.0), x)
    adversarial = fgsm(trained, x, y, 0.25)
    assert np.abs(adversarial - x).max() <= 0.25 + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1
    flipped = trained.predict(adversarial, verbose=0).argmax(1) != clean
    assert flipped.mean() > 0.7
    noise = np.clip(x + 0.25 * np.sign(np.random.default_rng(3).standard_normal(x.shape)), 0, 1)
    assert (trained.predict(noise, verbose=0).argmax(1) != clean).mean() < flipped.mean()  # not just any noise


# ------------------------------------------------------------------ transfer learning
def test_frozen_extractor_stays_put_while_the_new_head_learns(trained):
    base = keras.Sequential(trained.layers[:-1])  # conv + flatten: the feature extractor
    frozen = freeze(base)
    assert all(not layer.trainable for layer in frozen)
    inputs = keras.Input((8, 8, 1))
    outputs = layers.Dense(3, activation="softmax")(base(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    before_base, before_head = base.get_weights(), model.layers[-1].get_weights()
    x, _ = bars(64, 4)
    model.fit(x, np.arange(64) % 3, epochs=2, batch_size=16, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before_base, base.get_weights()))
    assert all(not np.array_equal(a, b) for a, b in zip(before_head, model.layers[-1].get_weights()))
    assert len(model.trainable_weights) == 2
    unfreeze(base, from_layer=0)
    assert all(layer.trainable for layer in base.layers)


def test_freeze_until_is_inclusive_and_checks_names():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="a"), layers.Dense(3, name="b"),
                              layers.Dense(2, name="c")])
    assert [l.name for l in freeze(model, until="b")] == ["a", "b"]
    assert model.layers[2].trainable
    with pytest.raises(ValueError, match="no layer named"):
        freeze(model, until="zzz")


# ------------------------------------------------------------------ pictures
PICTURES = ["filters.png", "maps.png", "history.png", "cm.png", "saliency.png"]


def every_plot(model):
    """{file name: a call of one plotting function that takes the path (or None)}."""
    from tinyconv.teaching import (plot_confusion_matrix, plot_feature_maps, plot_filters, plot_history,
                                   plot_saliency)

    x, y = bars(8, 5)
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6]}
    return dict(zip(PICTURES, [
        lambda path: plot_filters(model.layers[0], path),
        lambda path: plot_feature_maps(model, x[0], path),
        lambda path: plot_history(history, path),
        lambda path: plot_confusion_matrix(y, model.predict(x, verbose=0), path, class_names=["|", "-"]),
        lambda path: plot_saliency(model, x[0], 1, path),
    ]))


def test_plots_return_figures_and_write_png_files_when_given_a_path(trained, tmp_path):
    pytest.importorskip("matplotlib", reason="the pictures need matplotlib (pip install 'tinyconv[viz]')")
    from matplotlib.figure import Figure

    for name, draw in every_plot(trained).items():
        assert isinstance(draw(tmp_path / name), Figure), name
        data = (tmp_path / name).read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
        assert isinstance(draw(None), Figure), name  # no path: drawn, nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PICTURES)


def test_plots_leave_the_backend_and_pyplot_alone(trained, tmp_path):
    """A notebook's inline backend, and the user's own pyplot figures, survive every plot."""
    matplotlib = pytest.importorskip("matplotlib", reason="the pictures need matplotlib")
    from matplotlib import pyplot

    users_backend = matplotlib.get_backend()
    matplotlib.use("svg", force=True)  # any backend but Agg, so that a switch to Agg would show
    users_figure = pyplot.figure()
    try:
        fignums = pyplot.get_fignums()
        for name, draw in every_plot(trained).items():
            draw(tmp_path / name)
            assert matplotlib.get_backend() == "svg", name
            assert pyplot.get_fignums() == fignums, name
            assert pyplot.gcf() is users_figure, name
    finally:
        pyplot.close(users_figure)
        matplotlib.use(users_backend, force=True)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    import builtins

    from tinyconv.teaching import plot_history

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'tinyconv\[viz\]'"):
        plot_history({"loss": [1.0]}, "unused.png")
