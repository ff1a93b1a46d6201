"""A small U-Net that segments synthetic shapes: one yes/no answer per pixel.

What it teaches: segmentation with an encoder-decoder (Ronneberger et al., 2015).  The encoder (3x3
convolutions and 2x2 max pooling) shrinks the image while it collects context; the decoder grows it back
with *transposed convolutions* (``Conv2DTranspose`` with kernel 2, stride 2: each pixel becomes a learned
2x2 patch) and *skip connections* (``layers.concatenate``) that hand the encoder's sharp, full-resolution
feature maps to the decoder so that the edges come out in the right place.  The last layer is a 1x1
convolution with a sigmoid: a probability per pixel, trained with binary cross-entropy against the mask.

The data is made on the fly: circles and squares of random size, place and brightness on a noisy,
unevenly lit background; the mask is 1 inside a shape and 0 elsewhere.

What it prints: the model summary, the training loss per epoch, and the intersection over union (IoU =
|predicted AND true| / |predicted OR true|, pixels with probability > 0.5 counted as shape) on held-out
images, next to the IoU of the best single brightness threshold as a baseline.  Pictures (with
matplotlib): input, true mask and predicted mask for a few test images, under --out.

    python examples/unet_shapes.py [--train 512] [--epochs 8] [--size 32] [--out DIR]
"""
import argparse
import pathlib
import time

import numpy as np

import tinyconv as keras
from tinyconv import layers

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "output" / "unet_shapes"


def draw_shapes(count, size, rng, noise=0.35):
    """``count`` images (size, size, 1) of 1-3 circles/squares on noise, and their masks (size, size, 1)."""
    rows, cols = np.mgrid[0:size, 0:size]
    images = np.empty((count, size, size, 1), dtype="float32")
    masks = np.zeros((count, size, size, 1), dtype="float32")
    for i in range(count):
        # Uneven lighting: a random linear ramp, so one global threshold cannot separate shape from background.
        tilt = rng.uniform(-0.5, 0.5, 2)
        image = 0.5 * (tilt[0] * (rows / size - 0.5) + tilt[1] * (cols / size - 0.5))
        mask = np.zeros((size, size), dtype=bool)
        for _ in range(rng.integers(1, 4)):
            radius = rng.uniform(size / 10, size / 5)
            centre_r, centre_c = rng.uniform(radius, size - radius, 2)
            if rng.random() < 0.5:
                inside = (rows - centre_r) ** 2 + (cols - centre_c) ** 2 <= radius ** 2
            else:
                inside = (np.abs(rows - centre_r) <= radius) & (np.abs(cols - centre_c) <= radius)
            mask |= inside
        image = image + mask * rng.uniform(0.6, 1.0) + rng.normal(0.0, noise, (size, size))
        images[i, ..., 0] = image
        masks[i, ..., 0] = mask
    return images, masks


def conv_pair(x, width, name):
    """Two 3x3 'same' convolutions with ReLU: the U-Net's basic unit."""
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{name}_conv1")(x)
    return layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{name}_conv2")(x)


def unet(size, width=8):
    """Encoder 2 levels deep, bottleneck, decoder with transposed convolutions and skip connections."""
    inputs = keras.Input(shape=(size, size, 1), name="image")
    skip1 = conv_pair(inputs, width, "down1")                                   # size
    skip2 = conv_pair(layers.MaxPooling2D(2, name="pool1")(skip1), 2 * width, "down2")  # size / 2
    bottom = conv_pair(layers.MaxPooling2D(2, name="pool2")(skip2), 4 * width, "bottom")  # size / 4

    up2 = layers.Conv2DTranspose(2 * width, 2, strides=2, name="up2")(bottom)    # back to size / 2
    x = conv_pair(layers.concatenate([up2, skip2], name="skip2"), 2 * width, "dec2")
    up1 = layers.Conv2DTranspose(width, 2, strides=2, name="up1")(x)             # back to size
    x = conv_pair(layers.concatenate([up1, skip1], name="skip1"), width, "dec1")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)          # P(pixel is in a shape)
    return keras.Model(inputs, outputs, name="unet_small")


def iou(predicted, truth):
    """Intersection over union of two boolean masks, over the whole set of images."""
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def best_threshold_iou(images, masks):
    """The baseline: the best IoU any single brightness threshold reaches (chosen with the truth)."""
    return max(iou(images > t, masks > 0.5) for t in np.linspace(images.min(), images.max(), 41))


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_examples(images, masks, predictions, path, count=4):
    """A grid: one row per test image with its input, true mask and predicted probability."""
    import matplotlib

    matplotlib.use("Agg")  # draw to files, no window needed
    import matplotlib.pyplot as plt

    count = min(count, len(images))
    figure, axes = plt.subplots(count, 3, figsize=(6, 2 * count), squeeze=False)
    for row, (image, mask, prediction) in enumerate(zip(images, masks, predictions)):
        if row == count:
            break
        panels = [(image, "input", "gray"), (mask, "true mask", "gray"), (prediction, "predicted P(shape)", "viridis")]
        for axis, (picture, title, cmap) in zip(axes[row], panels):
            axis.imshow(picture[..., 0], cmap=cmap, interpolation="nearest")
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=512, help="training images")
    parser.add_argument("--test", type=int, default=128, help="held-out images")
    parser.add_argument("--size", type=int, default=32, help="image side (a multiple of 4)")
    parser.add_argument("--width", type=int, default=8, help="channels of the first level (doubled per level)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=["cpu", "reference"], default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="folder for the pictures")
    args = parser.parse_args(argv)
    if args.size % 4:
        parser.error(f"--size must be a multiple of 4 (two 2x2 poolings), got {args.size}")

    keras.utils.set_random_seed(args.seed)
    keras.backend.set_kernels(args.kernels)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = draw_shapes(args.train, args.size, rng)
    x_test, y_test = draw_shapes(args.test, args.size, rng)

    model = unet(args.size, args.width)
    model.summary()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="binary_crossentropy")
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - start
    print("Training loss per epoch: " + " ".join(f"{v:.3f}" for v in history.history["loss"]))

    predictions = model.predict(x_test, verbose=0)
    unet_iou = iou(predictions > 0.5, y_test > 0.5)
    baseline = best_threshold_iou(x_test, y_test)
    print(f"{args.epochs} epochs on {args.train} images in {seconds:.1f}s")
    print(f"Test IoU of the U-Net: {unet_iou:.3f}   (best single brightness threshold: {baseline:.3f})")

    pictures = []
    if matplotlib_available():
        args.out.mkdir(parents=True, exist_ok=True)
        pictures = [save_examples(x_test, y_test, predictions, args.out / "unet_predictions.png")]
        print(f"Pictures saved under {args.out}")
    else:
        print("Pictures skipped: matplotlib is not installed (pip install 'tinyconv[viz]')")
    return {"iou": unet_iou, "threshold_iou": baseline, "loss": [float(v) for v in history.history["loss"]],
            "params": model.count_params(), "pictures": [str(p) for p in pictures]}


if __name__ == "__main__":
    main()
