"""What a filter responds to, seen through image patches.

* ``top_activating_patches``  the input patches that drive each filter of a layer hardest (Zeiler & Fergus,
  2014: "the top 9 activations ... and the corresponding image patches"; DL1 deck, slide "What features do
  CNNs learn?").  A cell of the layer's output sees only its receptive field, so the patch is the crop of
  the input under that field (``receptive_field.py``: cell i of a layer sees input pixels
  start + i * jump -/+ (r - 1) / 2).
* ``kmeans_filters``          filters learned without labels: k-means on whitened image patches (Coates,
  Lee & Ng, 2011).  The Goodfellow ch. 9 deck, slide "Initialization of Kernels": "learned with an
  unsupervised criterion: K-means clustering".
"""
import numpy as np

from ..models.functional import Functional
from ..models.model import Model
from .receptive_field import receptive_field_of


# ------------------------------------------------------------------ top activating patches
class TopPatches:
    """The result of ``top_activating_patches``.

    Attributes:
        layer_name: the layer whose filters were ranked.
        patches: ``(filters, k, r_rows, r_cols, channels)``: for each filter, the input crops under the
            receptive fields of its ``k`` strongest output cells, strongest first.  Cells near the border see
            padding as well as pixels: those parts of the crop are 0, as the padding was.
        activations: ``(filters, k)``: the activation of each of those cells.
        locations: ``(filters, k, 3)`` ints: image index, row and column of each cell in the layer's output.
        boxes: ``(filters, k, 4)`` ints: top, left, bottom, right (exclusive) of each field in input pixels,
            before clipping to the image.
        receptive_field: ``(r_rows, r_cols)``.

    Args:
        layer_name: the layer whose filters were ranked.
        patches: the input crops, ``(filters, k, r_rows, r_cols, channels)``.
        activations: the activations of the cells, ``(filters, k)``.
        locations: image index, row and column of each cell, ``(filters, k, 3)``.
        boxes: top, left, bottom, right of each field, ``(filters, k, 4)``.
        receptive_field: ``(r_rows, r_cols)``.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3, name="conv")])
    >>> images = np.random.default_rng(0).random((4, 6, 6, 1)).astype("float32")
    >>> top = tinyconv.teaching.top_activating_patches(model, "conv", images, k=3)
    >>> top.patches.shape, top.receptive_field
    ((2, 3, 3, 3, 1), (3, 3))
    """

    def __init__(self, layer_name, patches, activations, locations, boxes, receptive_field):
        self.layer_name, self.patches, self.activations = layer_name, patches, activations
        self.locations, self.boxes, self.receptive_field = locations, boxes, receptive_field

    def __repr__(self):
        filters, k = self.activations.shape
        return (f"<TopPatches layer={self.layer_name!r}: {filters} filters x top {k}, patches "
                f"{self.receptive_field[0]}x{self.receptive_field[1]}>")

    def plot(self, path=None, filters=None):
        """One row per filter (all, or the indices in ``filters``), its top patches left to right, each titled
        with its activation.

        Args:
            path: where to save the figure as a PNG; None: not saved.
            filters: the filter indices to show; None: all of them.

        Returns:
            The matplotlib ``Figure``.
        """
        from .plots import _finish, _new_figure

        chosen = list(range(len(self.patches))) if filters is None else list(filters)
        k = self.patches.shape[1]
        figure = _new_figure(figsize=(1.1 * k + 0.8, 1.1 * len(chosen) + 0.6))
        axes = figure.subplots(len(chosen), k, squeeze=False)
        for row, f in zip(axes, chosen):
            for column, axis in enumerate(row):
                patch = self.patches[f, column]
                shown = patch[..., 0] if patch.shape[-1] != 3 else (patch - patch.min()) / max(np.ptp(patch), 1e-12)
                axis.imshow(shown, cmap="gray", interpolation="nearest")
                axis.set_xticks([])
                axis.set_yticks([])
                axis.set_title(f"{self.activations[f, column]:.2f}", fontsize=6)
            row[0].set_ylabel(f"filter {f}", fontsize=7)
        figure.suptitle(f"{self.layer_name}: input patches that activate each filter most", fontsize=9)
        return _finish(figure, path)


def _layer_output_model(model, layer_name, function):
    if not isinstance(model, Model):
        raise TypeError(f"{function}: expected a tinyconv Model, got {type(model).__name__}")
    layer = model.get_layer(layer_name)
    if isinstance(model, Functional) and not model.is_sequential_like():
        raise ValueError(f"{function}: {model.describe()} branches; receptive fields (and so the patches) are "
                         "computed for chains of layers (Sequential or sequential-like functional models)")
    output = layer.output
    if output is None or len(output.shape) != 4:
        raise ValueError(f"{function}: layer {layer_name!r} must output 2-D feature maps (None, rows, cols, "
                         f"filters), got {None if output is None else output.shape}")
    return Model(model.inputs, output, name=f"{model.name}_to_{layer_name}")


def _field_geometry(submodel, function, layer_name):
    """(size, jump, start) per spatial axis of the chain's last layer, as two-tuples."""
    try:
        field = receptive_field_of(submodel)
    except ValueError as error:
        raise ValueError(f"{function}: no receptive field for layer {layer_name!r}: {error}") from None

    def pair(value):
        return tuple(value) if isinstance(value, tuple) else (value, value)

    return pair(field.size), pair(field.jump), pair(field.start)


def _crop(image, top, left, size):
    """``image[top:top + rows, left:left + cols]``, with zeros where the box leaves the image."""
    rows, cols = size
    patch = np.zeros((rows, cols, image.shape[-1]), dtype=image.dtype)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + rows, image.shape[0]), min(left + cols, image.shape[1])
    if r1 > r0 and c1 > c0:
        patch[r0 - top:r1 - top, c0 - left:c1 - left] = image[r0:r1, c0:c1]
    return patch


def top_activating_patches(model, layer_name, images, k=9, one_per_image=True, batch_size=256):
    """For each filter of ``layer_name``, the ``k`` input patches that activate it most.

    The layer's maps are computed for every image; for each filter the ``k`` strongest output cells are kept
    (with ``one_per_image``, each image's strongest cell only, so that the ``k`` patches come from ``k``
    different images, as in Zeiler & Fergus's figures), and each cell is traced back to the crop of the input
    it sees: for cell (i, j), rows start + i * jump - (r - 1) / 2 onwards, r of them (likewise for columns),
    from the layer's receptive field ``r``, ``jump`` and ``start`` (``receptive_field_of``).

    Args:
        model: a built Sequential (or sequential-like functional) model whose input is images.
        layer_name: a layer with 2-D feature maps (a convolution, a pooling, an activation after them...).
        images: ``(n, rows, cols, channels)`` array, the model's input.
        k: patches per filter.
        one_per_image: at most one patch per image and filter (else the ``k`` strongest cells anywhere).
        batch_size: images per forward pass.

    Returns:
        A ``TopPatches`` (``patches``, ``activations``, ``locations``, ``boxes``, ``receptive_field``,
        ``plot()``).

    Raises:
        ValueError: an unknown layer, a layer without 2-D maps, a branching model, a ``k`` larger than the
            candidates (images with ``one_per_image``, cells otherwise) or images not shaped as the input.
        TypeError: ``model`` is not a tinyconv Model.

    Example:

    >>> model = tinyconv.Sequential([tinyconv.Input((8, 8, 1)), layers.Conv2D(4, 3, name="conv")])
    >>> top = top_activating_patches(model, "conv", np.random.rand(20, 8, 8, 1), k=5)
    >>> top.patches.shape, top.activations.shape
    ((4, 5, 3, 3, 1), (4, 5))
    """
    function = "top_activating_patches"
    submodel = _layer_output_model(model, layer_name, function)
    images = np.asarray(images)
    expected = tuple(model.input_shape[1:])
    if images.ndim != 4 or any(e is not None and e != s for e, s in zip(expected, images.shape[1:])):
        raise ValueError(f"{function}: images must be a batch shaped (n,) + {expected}, got shape {images.shape}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{function}: k must be a positive int, got k={k!r}")
    size, jump, start = _field_geometry(submodel, function, layer_name)
    maps = np.concatenate([np.asarray(submodel.predict_on_batch(images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])   # (n, rows, cols, filters)
    n, rows, cols, filters = maps.shape
    candidates = n if one_per_image else n * rows * cols
    if k > candidates:
        raise ValueError(f"{function}: k={k} but there are only {candidates} "
                         f"{'images' if one_per_image else 'output cells'} to choose from")
    by_filter = maps.transpose(3, 0, 1, 2).reshape(filters, n, rows * cols)
    patches = np.zeros((filters, k, int(size[0]), int(size[1]), images.shape[-1]), dtype=images.dtype)
    activations = np.zeros((filters, k), dtype=maps.dtype)
    locations = np.zeros((filters, k, 3), dtype=np.int64)
    boxes = np.zeros((filters, k, 4), dtype=np.int64)
    for f in range(filters):
        if one_per_image:
            best_cell = by_filter[f].argmax(axis=1)                        # each image's strongest cell
            values = by_filter[f][np.arange(n), best_cell]
            chosen = np.argsort(-values, kind="stable")[:k]
            picks = [(image, best_cell[image]) for image in chosen]
        else:
            flat = by_filter[f].ravel()
            chosen = np.argsort(-flat, kind="stable")[:k]
            picks = [divmod(index, rows * cols) for index in chosen]
        for rank, (image, cell) in enumerate(picks):
            i, j = divmod(int(cell), cols)
            # the field of cell (i, j) is centred on start + i * jump; its first pixel is (r - 1) / 2 before
            top = int(round(start[0] + i * jump[0] - (size[0] - 1) / 2))
            left = int(round(start[1] + j * jump[1] - (size[1] - 1) / 2))
            patches[f, rank] = _crop(images[image], top, left, (int(size[0]), int(size[1])))
            activations[f, rank] = maps[image, i, j, f]
            locations[f, rank] = (image, i, j)
            boxes[f, rank] = (top, left, top + int(size[0]), left + int(size[1]))
    return TopPatches(layer_name, patches, activations, locations, boxes, (int(size[0]), int(size[1])))


# ------------------------------------------------------------------ k-means filters
def random_patches(images, size, count, rng):
    """``count`` patches ``(count, size, size, channels)`` cut at random places of random images.

    Args:
        images: a batch ``(n, rows, cols, channels)``.
        size: the side of a square patch.
        count: how many patches.
        rng: a ``numpy.random.Generator``.

    Returns:
        The patches, ``(count, size, size, channels)``.

    Example:

    >>> from tinyconv.teaching.patches import random_patches
    >>> random_patches(np.zeros((2, 8, 8, 3)), 3, 5, np.random.default_rng(0)).shape
    (5, 3, 3, 3)
    """
    n, rows, cols, _ = images.shape
    which = rng.integers(0, n, count)
    tops = rng.integers(0, rows - size + 1, count)
    lefts = rng.integers(0, cols - size + 1, count)
    return np.stack([images[i, t:t + size, l:l + size] for i, t, l in zip(which, tops, lefts)])


def zca_whitening(points, epsilon):
    """(mean, W): ``(points - mean) @ W`` has (nearly) identity covariance, and W is symmetric.

    W = U diag(1 / sqrt(lambda + epsilon)) U^T from the covariance's eigenvectors U and eigenvalues lambda: the
    rotation back by U^T keeps the whitened patches looking like patches (ZCA, "zero-phase").  ``epsilon``
    keeps directions of tiny variance (pixel noise) from being blown up.

    Args:
        points: ``(n, d)`` samples, one per row.
        epsilon: added to each eigenvalue before the inverse square root.

    Returns:
        (mean ``(d,)``, W ``(d, d)``).

    Example:

    >>> from tinyconv.teaching.patches import zca_whitening
    >>> points = np.random.default_rng(0).normal(size=(500, 3)) * [1.0, 5.0, 0.5]
    >>> mean, w = zca_whitening(points, 1e-8)
    >>> np.allclose(np.cov((points - mean) @ w, rowvar=False, bias=True), np.eye(3), atol=1e-6)
    True
    """
    mean = points.mean(axis=0)
    centred = points - mean
    covariance = centred.T @ centred / len(points)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    whitening = (eigenvectors / np.sqrt(np.maximum(eigenvalues, 0.0) + epsilon)) @ eigenvectors.T
    return mean, whitening


def kmeans(points, n_clusters, iterations, rng):
    """Lloyd's k-means: (centroids ``(n_clusters, d)``, cluster of each point).

    Start from ``n_clusters`` distinct random points; then repeat: give each point to its nearest centroid,
    move each centroid to the mean of its points.  A centroid left with no points restarts at the point
    farthest from its centroid.  Stops early when no point changes cluster.

    Args:
        points: ``(n, d)`` samples, one per row.
        n_clusters: how many centroids (at most n).
        iterations: the most rounds of assign-and-move.
        rng: a ``numpy.random.Generator`` for the starting points.

    Returns:
        (centroids ``(n_clusters, d)``, cluster index of each point ``(n,)``).

    Example:

    >>> from tinyconv.teaching.patches import kmeans
    >>> points = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> centroids, clusters = kmeans(points, 2, 10, np.random.default_rng(0))
    >>> bool(clusters[0] == clusters[1] != clusters[2] == clusters[3])
    True
    """
    chosen = rng.choice(len(points), n_clusters, replace=False)
    centroids = points[chosen].copy()
    assignment = None
    for _ in range(iterations):
        # squared distances |x|^2 - 2 x.c + |c|^2, the |x|^2 term the same for every centroid
        distances = (centroids ** 2).sum(axis=1) - 2.0 * points @ centroids.T
        new_assignment = distances.argmin(axis=1)
        if assignment is not None and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for c in range(n_clusters):
            members = points[assignment == c]
            if len(members):
                centroids[c] = members.mean(axis=0)
            else:
                errors = ((points - centroids[assignment]) ** 2).sum(axis=1)
                farthest = int(errors.argmax())
                centroids[c] = points[farthest]
                assignment[farthest] = c
    distances = (centroids ** 2).sum(axis=1) - 2.0 * points @ centroids.T
    return centroids, distances.argmin(axis=1)


def kmeans_filters(images, n_filters, size, n_patches=10000, iterations=30, whitening_epsilon=0.1, seed=0,
                   space="whitened"):
    """``n_filters`` convolution filters ``size`` x ``size`` learned without labels, by k-means on whitened patches.

    1. cut ``n_patches`` random ``size`` x ``size`` patches from ``images``;
    2. normalise each patch: subtract its mean, divide by its standard deviation (brightness and contrast do
       not matter); patches with almost no contrast (variance under 1% of the average) have no shape to
       cluster and are left out;
    3. ZCA-whiten them (``zca_whitening``): neighbouring pixels are strongly correlated, and without whitening
       k-means would mostly find smooth blobs;
    4. cluster them with k-means (``kmeans``); the centroids are the filters, largest cluster first.

    Args:
        images: ``(n, rows, cols)`` or ``(n, rows, cols, channels)``.
        n_filters: the number of filters (clusters).
        size: the filters' rows and columns.
        n_patches: patches to cut.
        iterations: the most k-means iterations.
        whitening_epsilon: added to the covariance's eigenvalues before whitening (on unit-variance patches).
        seed: the seed of the patch positions and of k-means's start.
        space: ``"whitened"``: the centroids, which respond to whitened patches (what papers show: edge and
            stroke detectors); ``"input"``: the same filters folded through the whitening (W @ centroid, W
            symmetric) so that they respond to normalised, unwhitened patches, as a ``Conv2D`` layer sees them.

    Returns:
        An array ``(size, size, channels, n_filters)``: a ``Conv2D`` kernel, each filter of unit norm.

    Raises:
        ValueError: images not 3-D or 4-D or smaller than ``size``, bad counts, an unknown ``space``, or fewer
            patches with contrast than ``n_filters``.

    Example:

    >>> images = np.random.default_rng(0).random((50, 8, 8))
    >>> kmeans_filters(images, n_filters=6, size=3, n_patches=500).shape
    (3, 3, 1, 6)
    """
    function = "kmeans_filters"
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"{function}: images must be (n, rows, cols) or (n, rows, cols, channels), "
                         f"got shape {images.shape}")
    for what, value in (("n_filters", n_filters), ("size", size), ("n_patches", n_patches),
                        ("iterations", iterations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{function}: {what} must be a positive int, got {what}={value!r}")
    if size > min(images.shape[1:3]):
        raise ValueError(f"{function}: size={size} is larger than the images ({images.shape[1]}x{images.shape[2]})")
    if space not in ("whitened", "input"):
        raise ValueError(f"{function}: space must be 'whitened' or 'input', got space={space!r}")
    if not whitening_epsilon > 0:
        raise ValueError(f"{function}: whitening_epsilon must be > 0, got {whitening_epsilon!r}")
    rng = np.random.default_rng(seed)
    channels = images.shape[-1]
    points = random_patches(images, size, n_patches, rng).reshape(n_patches, -1)
    points = points - points.mean(axis=1, keepdims=True)
    variance = points.var(axis=1)
    contrasted = variance > 0.01 * variance.mean() if variance.mean() > 0 else np.zeros(len(points), bool)
    if contrasted.sum() < n_filters:
        raise ValueError(f"{function}: only {int(contrasted.sum())} of {n_patches} patches have contrast, fewer "
                         f"than n_filters={n_filters}; give more or livelier images")
    points = points[contrasted] / np.sqrt(variance[contrasted])[:, None]
    mean, whitening = zca_whitening(points, whitening_epsilon)
    centroids, assignment = kmeans((points - mean) @ whitening, n_filters, iterations, rng)
    order = np.argsort(-np.bincount(assignment, minlength=n_filters), kind="stable")
    filters = centroids[order]
    if space == "input":
        filters = filters @ whitening     # row c @ W = (W @ c)^T, W symmetric
    filters = filters / np.maximum(np.linalg.norm(filters, axis=1, keepdims=True), 1e-12)
    return filters.reshape(n_filters, size, size, channels).transpose(1, 2, 3, 0)


__all__ = ["TopPatches", "kmeans", "kmeans_filters", "random_patches", "top_activating_patches", "zca_whitening"]
