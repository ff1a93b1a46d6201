"""Feature visualisation: what a small CNN learns on the 8x8 digits, in pictures.

What it teaches: the first layer's learned 3x3 filters look like the edge and blob detectors
people used to design by hand (Sobel, Prewitt, Laplacian, Gaussian, Gabor); deeper layers turn
one image into more and more abstract maps; the confusion matrix shows which digits get mixed
up; the training curves show how learning went.
What it prints: the test accuracy, each learned filter's closest engineered kernel (cosine
similarity after removing the mean), the feature-map shapes at each layer, the confusion matrix,
and the paths of the pictures it saved (learned_vs_engineered.png, learned_filters.png,
gabor_bank.png, feature_maps.png, confusion_matrix.png, training_curves.png).

    python examples/feature_visualisation.py [--epochs 15] [--out examples/output/feature_visualisation]
"""
import argparse
import os

import numpy as np

import tinyconv as keras
from tinyconv import initializers, layers
from tinyconv.teaching import (Gabor, confusion_matrix, feature_maps, plot_confusion_matrix, plot_feature_maps,
                               plot_filters, plot_history)

# The hand-designed 3x3 kernels, by initializer name.
ENGINEERED = {
    "sobel_x": initializers.get("sobel_x"), "sobel_y": initializers.get("sobel_y"),
    "prewitt_x": initializers.get("prewitt_x"), "prewitt_y": initializers.get("prewitt_y"),
    "laplacian": initializers.get("laplacian"), "gaussian": initializers.get("gaussian"),
    "gabor 0": Gabor(sigma=1.0, lambd=3.0, theta=0.0), "gabor 90": Gabor(sigma=1.0, lambd=3.0, theta=np.pi / 2),
}


def load_digits(train_size):
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    scale = lambda images: (images / 16.0).astype("float32")[..., None]  # 0..16 -> [0, 1], add channel axis
    return (scale(x_train)[:train_size], y_train[:train_size]), (scale(x_test), y_test)


def build_model(filters):
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(2 * filters, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(10, activation="softmax", name="classifier"),
    ], name="digits_cnn")


def engineered_kernels():
    """{name: 3x3 kernel} from the hand-designed initializers."""
    return {name: init((3, 3, 1, 1), dtype="float64")[:, :, 0, 0] for name, init in ENGINEERED.items()}


def closest_engineered(learned, engineered):
    """For each learned filter: (best engineered name, |cosine similarity|) after removing means.
    The sign is ignored: a filter and its negative detect the same edge (with ReLU, the opposite side)."""
    def unit(kernel):
        centred = kernel - kernel.mean()
        return centred.ravel() / max(np.linalg.norm(centred), 1e-12)

    names = [n for n in engineered if n != "gaussian"]  # a blur is all-positive: no shape left after centring
    matches = []
    for f in range(learned.shape[-1]):
        scores = {n: abs(float(unit(learned[:, :, f]) @ unit(engineered[n]))) for n in names}
        best = max(scores, key=scores.get)
        matches.append((best, scores[best]))
    return matches


def plot_learned_vs_engineered(learned, engineered, path):
    import matplotlib

    matplotlib.use("Agg")  # draw to files, no window needed
    import matplotlib.pyplot as plt

    columns = max(learned.shape[-1], len(engineered))
    figure, axes = plt.subplots(2, columns, figsize=(1.2 * columns, 2.8), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for f in range(learned.shape[-1]):
        axes[0, f].imshow(learned[:, :, f], cmap="gray", interpolation="nearest")
        axes[0, f].set_title(f"learned {f}", fontsize=7)
    for c, (name, kernel) in enumerate(engineered.items()):
        axes[1, c].imshow(kernel, cmap="gray", interpolation="nearest")
        axes[1, c].set_title(name, fontsize=7)
    figure.suptitle("first-layer filters: learned (top) and engineered (bottom)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def save_pictures(out_dir, model, history, x_test, y_test, predictions, learned, engineered):
    try:
        import matplotlib  # noqa: F401  (optional extra)
    except ImportError:
        print("matplotlib is not installed: skipping the pictures (pip install 'tinyconv[viz]')")
        return []
    gabor_layer = layers.Conv2D(8, 5, kernel_initializer=Gabor(sigma=1.5, lambd=4.0), name="gabor_bank")
    gabor_layer(np.zeros((1, 8, 8, 1), dtype="float32"))  # calling it builds its kernel
    names = ["learned_vs_engineered.png", "learned_filters.png", "gabor_bank.png", "feature_maps.png",
             "confusion_matrix.png", "training_curves.png"]
    paths = [os.path.join(out_dir, name) for name in names]
    plot_learned_vs_engineered(learned, engineered, paths[0])
    plot_filters(model.get_layer("conv1"), paths[1])
    plot_filters(gabor_layer, paths[2])
    plot_feature_maps(model, x_test[0], paths[3], max_channels=8)
    plot_confusion_matrix(y_test, predictions, paths[4], class_names=[str(d) for d in range(10)])
    plot_history(history, paths[5])
    for path in paths:
        print(f"saved {path}")
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=1437, help="how many training images (all: 1437)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("examples", "output", "feature_visualisation"))
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_digits(args.train_size)
    model = build_model(args.filters)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_split=0.1,
                        verbose=args.verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy after {args.epochs} epochs: {accuracy:.4f} (loss {loss:.4f})")

    learned = np.asarray(model.get_layer("conv1").kernel)[:, :, 0, :]  # (3, 3, filters): one input channel
    engineered = engineered_kernels()
    matches = closest_engineered(learned, engineered)
    print("\nclosest engineered kernel to each learned first-layer filter (|cosine| after removing the mean):")
    for f, (name, score) in enumerate(matches):
        print(f"  filter {f}: {name:<10} {score:.2f}")

    print("\nfeature maps of the first test image, layer by layer:")
    maps = feature_maps(model, x_test[0])
    for name, activation in maps.items():
        print(f"  {name:<10} {str(activation.shape):<12} mean {activation.mean():.3f}")

    predictions = model.predict(x_test, verbose=0).argmax(axis=1)
    counts = confusion_matrix(y_test, predictions, 10)
    print("\nconfusion matrix (row: true digit, column: predicted):")
    print("      " + " ".join(f"{d:3d}" for d in range(10)))
    for digit, row in enumerate(counts):
        print(f"  {digit:2d}  " + " ".join(f"{v:3d}" for v in row))
    print()
    pictures = save_pictures(args.out, model, history, x_test, y_test, predictions, learned, engineered)
    return {"accuracy": accuracy, "history": history.history, "matches": matches, "confusion": counts,
            "feature_map_shapes": {name: a.shape for name, a in maps.items()}, "pictures": pictures}


if __name__ == "__main__":
    main()
