"""Top activating patches (Zeiler & Fergus) and k-means filters on whitened patches (Coates, Lee & Ng)."""
import doctest

import numpy as np
import pytest

import tinyconv
from tinyconv import layers
from tinyconv.teaching import patches
from tinyconv.teaching.patches import kmeans, kmeans_filters, top_activating_patches, zca_whitening

CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype="float32")


def cross_detector():
    """One 3x3 filter equal to the cross, no bias: it responds most where the cross is, and more to a brighter one."""
    model = tinyconv.Sequential([tinyconv.Input((10, 10, 1)),
                                 layers.Conv2D(1, 3, use_bias=False, name="cross")])
    model.get_layer("cross").set_weights([CROSS[:, :, None, None]])
    return model


def test_the_top_patches_are_the_crosses_brightest_first():
    rng = np.random.default_rng(0)
    images = np.zeros((6, 10, 10, 1), dtype="float32")
    places = [(1, 2), (5, 5), (0, 7), (7, 0), (3, 3), (6, 1)]
    for n, (r, c) in enumerate(places):
        images[n, r:r + 3, c:c + 3, 0] = (n + 1) * CROSS     # image n holds a cross n + 1 times as bright
    images += 0.01 * rng.random(images.shape).astype("float32")
    top = top_activating_patches(cross_detector(), "cross", images, k=3)
    assert top.receptive_field == (3, 3)
    assert top.locations[0].tolist() == [[5, 6, 1], [4, 3, 3], [3, 7, 0]]   # brightest crosses, at their places
    for rank, n in enumerate((5, 4, 3)):
        r, c = places[n]
        assert top.boxes[0, rank].tolist() == [r, c, r + 3, c + 3]
        np.testing.assert_allclose(top.patches[0, rank, :, :, 0], images[n, r:r + 3, c:c + 3, 0])
        assert top.activations[0, rank] == pytest.approx(float((images[n, r:r + 3, c:c + 3, 0] * CROSS).sum()),
                                                         rel=1e-5)
    assert np.all(np.diff(top.activations[0]) <= 0)


def test_without_one_per_image_the_strongest_cells_may_share_an_image():
    images = np.zeros((2, 10, 10, 1), dtype="float32")
    images[0, 0:3, 0:3, 0] = 5 * CROSS
    images[0, 6:9, 6:9, 0] = 4 * CROSS
    images[1, 3:6, 3:6, 0] = CROSS
    model = cross_detector()
    spread = top_activating_patches(model, "cross", images, k=2, one_per_image=False)
    assert spread.locations[0].tolist() == [[0, 0, 0], [0, 6, 6]]
    assert top_activating_patches(model, "cross", images, k=2).locations[0].tolist() == [[0, 0, 0], [1, 3, 3]]
    maps = model.predict(images, verbose=0)
    np.testing.assert_allclose(spread.activations[0], np.sort(maps.ravel())[::-1][:2])


def influence_box(model, image, cell):
    """Rows and columns of ``image`` that output ``cell`` (i, j, filter) depends on, by backprop of a one-hot."""
    y = model.predict_on_batch(image[None])
    seed = np.zeros_like(y)
    seed[(0,) + tuple(cell)] = 1.0
    dx = model._run_backward([seed], [False])[0][0]
    rows, cols = np.nonzero(np.abs(dx).sum(axis=-1))
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def test_each_patch_is_exactly_the_input_its_cell_depends_on():
    # Positive weights and inputs, average pooling: every pixel of the field reaches the cell, so backprop
    # shows the whole field; the crop must be that box (clipped to the image, padding cells as zeros).
    model = tinyconv.Sequential([
        tinyconv.Input((13, 13, 2)),
        layers.Conv2D(3, 3, padding="same", kernel_initializer="ones", name="c1"),
        layers.AveragePooling2D(2, name="p1"),
        layers.Conv2D(2, 3, strides=2, padding="same", kernel_initializer="ones", name="c2"),
    ])
    images = (np.random.default_rng(1).random((5, 13, 13, 2)) + 0.1).astype("float32")
    top = top_activating_patches(model, "c2", images, k=45, one_per_image=False)   # all 5 x 3 x 3 cells
    assert top.receptive_field == (8, 8)        # 3, then 4 (pool, jump 2), then 4 + 2 * 2
    for f in range(2):
        for rank in range(45):
            n, i, j = top.locations[f, rank]
            r0, r1, c0, c1 = influence_box(model, images[n], (i, j, f))
            top_, left, bottom, right = top.boxes[f, rank]
            assert (max(top_, 0), min(bottom, 13), max(left, 0), min(right, 13)) == (r0, r1, c0, c1)
            inside = top.patches[f, rank, r0 - top_:r1 - top_, c0 - left:c1 - left]
            np.testing.assert_array_equal(inside, images[n, r0:r1, c0:c1])
            assert np.count_nonzero(top.patches[f, rank]) == inside.size     # the padding part is zeros
    assert top.boxes.min() < 0 and top.boxes.max() > 13              # border cells see padding too


def test_mistakes_are_named():
    model = cross_detector()
    images = np.zeros((3, 10, 10, 1), dtype="float32")
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        top_activating_patches(model, "nope", images)
    with pytest.raises(ValueError, match="top_activating_patches: k=9 but there are only 3 images"):
        top_activating_patches(model, "cross", images)
    with pytest.raises(ValueError, match=r"images must be a batch shaped \(n,\) \+ \(10, 10, 1\)"):
        top_activating_patches(model, "cross", np.zeros((3, 8, 8, 1)), k=1)
    dense = tinyconv.Sequential([tinyconv.Input((10, 10, 1)), layers.Flatten(), layers.Dense(2, name="fc")])
    with pytest.raises(ValueError, match="layer 'fc' must output 2-D feature maps"):
        top_activating_patches(dense, "fc", images, k=1)
    inputs = tinyconv.Input((10, 10, 1))
    branching = tinyconv.Model(inputs, layers.add([layers.Conv2D(1, 3, name="a")(inputs),
                                                   layers.Conv2D(1, 3, name="b")(inputs)]))
    with pytest.raises(ValueError, match="branches"):
        top_activating_patches(branching, "a", images, k=1)
    with pytest.raises(TypeError, match="expected a tinyconv Model"):
        top_activating_patches(object(), "a", images)


def test_plot_draws_one_row_per_filter(tmp_path):
    pytest.importorskip("matplotlib")
    images = np.random.default_rng(0).random((4, 10, 10, 1)).astype("float32")
    top = top_activating_patches(cross_detector(), "cross", images, k=3)
    figure = top.plot(tmp_path / "top.png")
    assert (tmp_path / "top.png").stat().st_size > 0 and len(figure.axes) == 3


# ------------------------------------------------------------------ k-means filters
def stripes(count, rng):
    """Images of vertical or horizontal stripes, one pixel wide, at a random phase and contrast."""
    images = np.zeros((count, 12, 12))
    grid = np.add.outer(np.zeros(12), np.arange(12))
    for n in range(count):
        period = (grid.T if n % 2 else grid) + rng.integers(0, 2)
        images[n] = rng.uniform(0.5, 2.0) * (period % 2) + 0.05 * rng.normal(size=(12, 12))
    return images


def test_kmeans_on_whitened_patches_finds_the_four_stripe_patterns():
    # Every 2x2 patch of a stripe image is one of four patterns: vertical or horizontal, either phase.
    prototypes = np.array([[[1, 0], [1, 0]], [[0, 1], [0, 1]], [[1, 1], [0, 0]], [[0, 0], [1, 1]]], dtype=float)
    images = stripes(40, np.random.default_rng(0))
    filters = kmeans_filters(images, n_filters=4, size=2, n_patches=2000, seed=0, space="input")
    assert filters.shape == (2, 2, 1, 4)
    np.testing.assert_allclose(np.linalg.norm(filters.reshape(4, 4), axis=0), 1.0, rtol=1e-6)   # unit filters
    normalised = prototypes.reshape(4, 4) - prototypes.reshape(4, 4).mean(axis=1, keepdims=True)
    responses = normalised @ filters.reshape(4, 4)          # (prototype, filter)
    assert sorted(responses.argmax(axis=1).tolist()) == [0, 1, 2, 3]   # each pattern has a filter of its own
    whitened = kmeans_filters(images, n_filters=4, size=2, n_patches=2000, seed=0)
    np.testing.assert_array_equal(whitened, kmeans_filters(images, n_filters=4, size=2, n_patches=2000, seed=0))


def test_kmeans_finds_well_separated_centres():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = rng.integers(0, 3, 300)
    points = centres[labels] + rng.normal(scale=0.5, size=(300, 2))
    found, assignment = kmeans(points, 3, 50, np.random.default_rng(0))
    matched = [int(np.argmin(((found - centre) ** 2).sum(axis=1))) for centre in centres]
    assert sorted(matched) == [0, 1, 2]
    np.testing.assert_allclose(found[matched], centres, atol=0.2)
    assert all(len(set(assignment[labels == c])) == 1 for c in range(3))   # every cluster pure


def test_zca_whitening_gives_identity_covariance_with_a_symmetric_matrix():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(5000, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.2]])
    mean, whitening = zca_whitening(points, epsilon=1e-9)
    white = (points - mean) @ whitening
    np.testing.assert_allclose(np.cov(white.T, bias=True), np.eye(3), atol=1e-6)
    np.testing.assert_allclose(whitening, whitening.T)


def test_kmeans_filters_mistakes():
    images = np.random.default_rng(0).random((4, 6, 6))
    with pytest.raises(ValueError, match="kmeans_filters: size=7 is larger than the images"):
        kmeans_filters(images, 2, 7)
    with pytest.raises(ValueError, match="kmeans_filters: n_filters must be a positive int"):
        kmeans_filters(images, 0, 3)
    with pytest.raises(ValueError, match="space must be 'whitened' or 'input'"):
        kmeans_filters(images, 2, 3, space="pixels")
    with pytest.raises(ValueError, match="patches have contrast"):
        kmeans_filters(np.zeros((4, 6, 6)), 2, 3, n_patches=100)
    with pytest.raises(ValueError, match=r"images must be \(n, rows, cols\)"):
        kmeans_filters(np.zeros((6, 6)), 2, 3)


def test_examples_in_docstrings_run():
    tinyconv.utils.set_random_seed(0)
    result = doctest.testmod(patches, extraglobs={"np": np, "tinyconv": tinyconv, "layers": layers},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0
