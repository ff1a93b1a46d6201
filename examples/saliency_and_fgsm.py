"""Saliency maps and FGSM adversarial examples on a small digits CNN.

What it teaches: the same gradient that trains a network, taken with respect to the *input*,
says which pixels matter (saliency: |d class score / d pixel|) and how to fool the network
(FGSM: move every pixel by eps in the sign of d loss / d pixel).  Tiny, structured changes
flip predictions that random noise of the same size leaves alone.
What it prints: the test accuracy, the saliency of one image as numbers, and for each eps the
accuracy on adversarial images, the flip rate (predictions that changed) and, for comparison,
the flip rate of random +-eps noise.  Pictures: saliency.png (images beside their saliency maps)
and fgsm_examples.png (one image at each eps with its prediction).

    python examples/saliency_and_fgsm.py [--epochs 15] [--eps 0 0.05 0.1 0.2] [--out examples/output/saliency_and_fgsm]
"""
import argparse
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import fgsm, saliency_map


def load_digits(train_size):
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    scale = lambda images: (images / 16.0).astype("float32")[..., None]  # 0..16 -> [0, 1], add channel axis
    return (scale(x_train)[:train_size], y_train[:train_size]), (scale(x_test), y_test)


def build_model():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ], name="digits_cnn")


def attack(model, x, y, eps_values, seed):
    """Accuracy and flip rate of FGSM and of random +-eps noise at every eps."""
    clean = model.predict(x, verbose=0).argmax(axis=1)
    rng = np.random.default_rng(seed)
    rows = []
    for eps in eps_values:
        adversarial = fgsm(model, x, y, eps)  # x + eps * sign(dLoss/dx), clipped to [0, 1]
        fooled = model.predict(adversarial, verbose=0).argmax(axis=1)
        noise = np.clip(x + eps * rng.choice([-1.0, 1.0], size=x.shape), 0, 1).astype(x.dtype)
        noisy = model.predict(noise, verbose=0).argmax(axis=1)
        rows.append({"eps": eps, "accuracy": float(np.mean(fooled == y)), "flip_rate": float(np.mean(fooled != clean)),
                     "noise_flip_rate": float(np.mean(noisy != clean)), "adversarial": adversarial,
                     "predictions": fooled})
    return clean, rows


def save_pictures(out_dir, model, x, y, clean, rows, count=4):
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: skipping the pictures (pip install 'tinyconv[viz]')")
        return []
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    # Saliency: image above its map, for a few test images and their true class.
    figure, axes = plt.subplots(2, count, figsize=(1.8 * count, 3.8), squeeze=False)
    for i in range(count):
        axes[0, i].imshow(x[i, :, :, 0], cmap="gray", interpolation="nearest")
        axes[0, i].set_title(f"digit {y[i]}", fontsize=8)
        axes[1, i].imshow(saliency_map(model, x[i], int(y[i])), cmap="hot", interpolation="nearest")
        axes[1, i].set_title("saliency", fontsize=8)
    for axis in axes.ravel():
        axis.axis("off")
    figure.tight_layout()
    saliency_path = os.path.join(out_dir, "saliency.png")
    figure.savefig(saliency_path, dpi=80)
    plt.close(figure)

    # FGSM: the first image the largest eps fools, at every eps.
    fooled = np.flatnonzero(rows[-1]["predictions"] != clean)
    index = int(fooled[0]) if fooled.size else 0
    figure, axes = plt.subplots(1, len(rows), figsize=(1.8 * len(rows), 2.2), squeeze=False)
    for axis, row in zip(axes[0], rows):
        axis.imshow(row["adversarial"][index, :, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axis.set_title(f"eps {row['eps']:g}: says {row['predictions'][index]}", fontsize=8)
        axis.axis("off")
    figure.suptitle(f"FGSM on a test digit {y[index]}", fontsize=9)
    figure.tight_layout()
    fgsm_path = os.path.join(out_dir, "fgsm_examples.png")
    figure.savefig(fgsm_path, dpi=80)
    plt.close(figure)
    for path in (saliency_path, fgsm_path):
        print(f"saved {path}")
    return [saliency_path, fgsm_path]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train-size", type=int, default=1437, help="how many training images (all: 1437)")
    parser.add_argument("--test-size", type=int, default=360, help="how many test images to attack (the split has 359)")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("examples", "output", "saliency_and_fgsm"))
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_digits(args.train_size)
    x_test, y_test = x_test[:args.test_size], y_test[:args.test_size]
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=args.verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy on {len(x_test)} clean digits: {accuracy:.4f}")

    saliency = saliency_map(model, x_test[0], int(y_test[0]))
    print(f"\nsaliency of class {y_test[0]} for the first test image, max |d logit / d pixel| (x100):")
    for row in saliency:
        print("  " + " ".join(f"{100 * v:5.1f}" for v in row))

    clean, rows = attack(model, x_test, y_test, args.eps, args.seed)
    print("\nFGSM: x_adv = clip(x + eps * sign(dLoss/dx), 0, 1)")
    print(f"  {'eps':>5}  {'accuracy':>8}  {'flip rate':>9}  {'random +-eps flip rate':>22}")
    for row in rows:
        print(f"  {row['eps']:5.2f}  {row['accuracy']:8.3f}  {row['flip_rate']:9.3f}  {row['noise_flip_rate']:22.3f}")
    print()
    pictures = save_pictures(args.out, model, x_test, y_test, clean, rows)
    return {"accuracy": accuracy, "saliency": saliency,
            "attacks": [{k: v for k, v in row.items() if k not in ("adversarial", "predictions")} for row in rows],
            "pictures": pictures}


if __name__ == "__main__":
    main()
