"""Pictures of a network: filters, feature maps, training curves, confusion matrix, saliency.

matplotlib is an optional extra (``pip install 'tinyconv[viz]'``), imported only when a picture
is drawn.  Every function draws on a ``matplotlib.figure.Figure`` of its own, made directly and
not through pyplot, and returns it (a notebook shows it inline); given ``path``, it also saves
the figure there as a PNG.  matplotlib's backend and pyplot's list of open figures are left as
the user set them: a library must not switch a notebook's inline plotting off.
"""
import math

import numpy as np

from .confusion import confusion_matrix
from .hooks import recording
from .saliency import saliency_map


def _new_figure(**figure_options):
    """A Figure outside pyplot: nothing registers it, so nothing has to close it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("tinyconv's plots need matplotlib: pip install 'tinyconv[viz]'") from None
    return Figure(**figure_options)


def _grid(count):
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


def _finish(figure, path):
    """Lay the figure out, save it to ``path`` when one is given, and return it."""
    figure.tight_layout()
    if path is not None:
        # A Figure made without pyplot renders through the canvas that matches the format (Agg for
        # PNG), chosen for this one call: the global backend is not consulted or changed.
        figure.savefig(path, format="png")
    return figure


def _image_panels(images, titles, title):
    rows, columns = _grid(len(images))
    figure = _new_figure(figsize=(1.6 * columns + 0.4, 1.6 * rows + 0.6))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, image, name in zip(axes.ravel(), images, titles):
        axis.imshow(image, cmap="gray", interpolation="nearest")
        axis.set_title(name, fontsize=7)
    figure.suptitle(title, fontsize=9)
    return figure


def plot_filters(layer, path=None):
    """Each filter of a Conv2D's kernel (kh, kw, in, out) as a small grey image (averaged over the
    input channels, or in colour when there are exactly 3 of them).

    Args:
        layer: a built Conv2D layer.
        path: where to save the figure as a PNG; None: not saved.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if the layer has no built 4-D kernel.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(),
    ...                              layers.Dense(2, activation="softmax")])
    >>> fig = tinyconv.teaching.plots.plot_filters(model.layers[0])
    >>> type(fig).__name__
    'Figure'
    """
    kernel = np.asarray(getattr(layer, "kernel", None) if layer.built else None)
    if kernel.ndim != 4:
        raise ValueError(f"plot_filters: {layer.describe()} needs a built 2-D convolution kernel (kh, kw, in, out)")
    images = []
    for f in range(kernel.shape[-1]):
        w = kernel[:, :, :, f]
        if w.shape[-1] == 3:
            images.append((w - w.min()) / max(w.max() - w.min(), 1e-12))  # RGB, scaled to [0, 1]
        else:
            images.append(w.mean(axis=-1))
    return _finish(_image_panels(images, [f"filter {f}" for f in range(len(images))],
                                 f"{layer.name}: {kernel.shape[-1]} filters"), path)


def feature_maps(model, image, layers=None):
    """{layer name: activations (H, W, C) or (units,)} for one image, in forward order.

    Args:
        model: a built model.
        image: one input without the batch axis (or a batch, of which the first is used).
        layers: the layers (or layer names) to keep; None: all of them.

    Returns:
        A dict {layer name: activation array without the batch axis}.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(),
    ...                              layers.Dense(2, activation="softmax")])
    >>> maps = tinyconv.teaching.plots.feature_maps(model, np.ones((6, 6, 1), "float32"))
    >>> [m.shape for m in maps.values()]
    [(4, 4, 2), (32,), (2,)]
    """
    image = np.asarray(image)
    batch = image[None] if image.ndim == len(model.input_shape) - 1 else image[:1]
    with recording(model) as calls:
        model.predict_on_batch(batch)
    wanted = None if layers is None else {getattr(l, "name", l) for l in layers}
    return {call.layer.name: np.asarray(call.output)[0] for call in calls
            if (wanted is None or call.layer.name in wanted) and not isinstance(call.output, list)}


def plot_feature_maps(model, image, path=None, layers=None, max_channels=16):
    """The activations of each layer (or of ``layers``) for one image: one row per layer, up to
    ``max_channels`` channels each; Dense outputs as a bar of values.

    Args:
        model: a built model.
        image: one input without the batch axis.
        path: where to save the figure as a PNG; None: not saved.
        layers: the layers (or layer names) to show; None: all of them.
        max_channels: the most channels shown per layer.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if no layer output is left to show.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(),
    ...                              layers.Dense(2, activation="softmax")])
    >>> fig = tinyconv.teaching.plots.plot_feature_maps(model, np.ones((6, 6, 1), "float32"))
    >>> type(fig).__name__
    'Figure'
    """
    maps = feature_maps(model, image, layers)
    if not maps:
        raise ValueError("plot_feature_maps: no layer output to show")
    columns = max(min(m.shape[-1], max_channels) if m.ndim == 3 else 1 for m in maps.values())
    figure = _new_figure(figsize=(1.4 * columns + 1, 1.4 * len(maps) + 0.5))
    axes = figure.subplots(len(maps), columns, squeeze=False)
    for row, (name, activation) in zip(axes, maps.items()):
        for axis in row:
            axis.axis("off")
        if activation.ndim == 3:
            for c in range(min(activation.shape[-1], max_channels)):
                row[c].imshow(activation[:, :, c], cmap="viridis", interpolation="nearest")
        else:
            row[0].imshow(activation.reshape(1, -1), cmap="viridis", aspect="auto")
        row[0].set_title(name, fontsize=7, loc="left")
    return _finish(figure, path)


def plot_history(history, path=None):
    """Loss and metrics per epoch from ``model.fit``'s History (or its ``history`` dict); each
    val_ curve drawn beside its training curve.

    Args:
        history: a History object, or its ``history`` dict {name: values per epoch}.
        path: where to save the figure as a PNG; None: not saved.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if the history has no values.

    Example:

    >>> fig = tinyconv.teaching.plots.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    >>> type(fig).__name__
    'Figure'
    """
    logs = getattr(history, "history", history)
    names = [name for name in logs if not name.startswith("val_")]
    if not names:
        raise ValueError("plot_history: the history has no values")
    figure = _new_figure(figsize=(4 * len(names), 3))
    axes = figure.subplots(1, len(names), squeeze=False)
    for axis, name in zip(axes[0], names):
        epochs = np.arange(1, len(logs[name]) + 1)
        axis.plot(epochs, logs[name], marker="o", label=name)
        if f"val_{name}" in logs:
            axis.plot(epochs, logs[f"val_{name}"], marker="o", label=f"val_{name}")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.legend()
    return _finish(figure, path)


def plot_confusion_matrix(y_true, y_pred, path=None, class_names=None):
    """The confusion matrix as a heat map with the counts written in the cells.

    Args:
        y_true: the true labels (class indices or one-hot rows).
        y_pred: the predicted labels (class indices, one-hot or probability rows).
        path: where to save the figure as a PNG; None: not saved.
        class_names: the names of the classes; None: their indices.

    Returns:
        The matplotlib ``Figure``.

    Example:

    >>> fig = tinyconv.teaching.plots.plot_confusion_matrix([0, 1, 1], [0, 1, 0], class_names=["cat", "dog"])
    >>> type(fig).__name__
    'Figure'
    """
    counts = confusion_matrix(y_true, y_pred, None if class_names is None else len(class_names))
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(counts))]
    figure = _new_figure(figsize=(1 + 0.6 * len(names), 1 + 0.6 * len(names)))
    axis = figure.subplots()
    axis.imshow(counts, cmap="Blues")
    for t in range(len(counts)):
        for p in range(len(counts)):
            axis.text(p, t, str(counts[t, p]), ha="center", va="center", fontsize=8)
    axis.set_xticks(range(len(names)), names, rotation=45)
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    return _finish(figure, path)


def plot_saliency(model, image, class_index, path=None):
    """The image beside its saliency map for ``class_index``.

    Args:
        model: a built model with one input and one output.
        image: one image (H, W, C) without the batch axis.
        class_index: the class whose saliency is shown.
        path: where to save the figure as a PNG; None: not saved.

    Returns:
        The matplotlib ``Figure``.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(),
    ...                              layers.Dense(2, activation="softmax")])
    >>> fig = tinyconv.teaching.plots.plot_saliency(model, np.ones((6, 6, 1), "float32"), 1)
    >>> type(fig).__name__
    'Figure'
    """
    image = np.asarray(image)
    saliency = saliency_map(model, image, class_index)
    figure = _new_figure(figsize=(6, 3))
    left, right = figure.subplots(1, 2)
    shown = image[..., 0] if image.shape[-1] == 1 else image
    left.imshow(shown, cmap="gray" if shown.ndim == 2 else None)
    left.set_title("image")
    right.imshow(saliency, cmap="hot")
    right.set_title(f"saliency of class {class_index}")
    for axis in (left, right):
        axis.axis("off")
    return _finish(figure, path)
