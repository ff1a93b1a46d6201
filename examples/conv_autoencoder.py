"""A convolutional autoencoder on the digits: squeeze each image through a small code and rebuild it.

What it teaches: unsupervised learning with convolutions.  The encoder (convolutions and 2x2 max pooling)
turns an 8x8 digit into a 2x2x``code`` code - fewer numbers than pixels when ``code`` < 16; the decoder
(``Conv2DTranspose`` with stride 2, each doubling the image) rebuilds the 8x8 image from that code alone.
The target is the input itself, so no labels are used; the loss is the mean squared error per pixel.

What it prints: the model summary, the code size against the pixel count, and the test reconstruction
error (mean squared error per pixel, pixels in [0, 1]) next to the error of always answering the mean
training image, the baseline a useful code must beat.  Pictures (with matplotlib): test originals above
their reconstructions, under --out.

    python examples/conv_autoencoder.py [--code 8] [--epochs 20] [--out DIR]
"""
import argparse
import pathlib
import time

import numpy as np

import tinyconv as keras
from tinyconv import layers

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "output" / "conv_autoencoder"


def encoder_layers(code_channels):
    """8x8x1 -> 2x2xcode: convolutions find strokes, pooling halves the image twice."""
    return [
        layers.Conv2D(16, 3, padding="same", activation="relu", name="enc_conv1"),
        layers.MaxPooling2D(2, name="enc_pool1"),                                       # 4x4x16
        layers.Conv2D(32, 3, padding="same", activation="relu", name="enc_conv2"),
        layers.MaxPooling2D(2, name="enc_pool2"),                                       # 2x2x32
        layers.Conv2D(code_channels, 1, activation="relu", name="code"),                # 2x2xcode: the bottleneck
    ]


def decoder_layers():
    """2x2xcode -> 8x8x1: each stride-2 transposed convolution doubles the image."""
    return [
        layers.Conv2DTranspose(32, 2, strides=2, activation="relu", name="dec_up1"),    # 4x4x32
        layers.Conv2D(32, 3, padding="same", activation="relu", name="dec_conv1"),
        layers.Conv2DTranspose(16, 2, strides=2, activation="relu", name="dec_up2"),    # 8x8x16
        layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="pixels"),       # back in [0, 1]
    ]


def autoencoder(code_channels):
    """Encoder and decoder in one Sequential model whose target is its own input."""
    return keras.Sequential([keras.Input(shape=(8, 8, 1)), *encoder_layers(code_channels), *decoder_layers()],
                            name="conv_autoencoder")


def load_digits(limit=None):
    (x_train, _), (x_test, y_test) = keras.datasets.digits.load_data()
    if limit is not None:
        x_train = x_train[:limit]
    scale = lambda images: (images / 16.0).astype("float32")[..., None]  # noqa: E731
    return scale(x_train), scale(x_test), y_test


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_reconstructions(originals, reconstructions, path, count=10):
    """Originals on the top row, their reconstructions below."""
    import matplotlib

    matplotlib.use("Agg")  # draw to files, no window needed
    import matplotlib.pyplot as plt

    count = min(count, len(originals))
    figure, axes = plt.subplots(2, count, figsize=(1.2 * count, 2.8), squeeze=False)
    for column in range(count):
        for row, (images, title) in enumerate(((originals, "original"), (reconstructions, "rebuilt"))):
            axis = axes[row, column]
            axis.imshow(images[column, ..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axis.set_title(title, fontsize=7)
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=int, default=8, help="channels of the 2x2 code (4 * code numbers)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=["cpu", "reference"], default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="folder for the pictures")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    keras.backend.set_kernels(args.kernels)
    x_train, x_test, _ = load_digits(args.train_limit)
    model = autoencoder(args.code)
    model.summary()
    print(f"Each 8x8 image (64 pixels) passes through a code of 2x2x{args.code} = {4 * args.code} numbers")

    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
    start = time.perf_counter()
    history = model.fit(x_train, x_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - start

    reconstructions = model.predict(x_test, verbose=0)
    error = float(np.mean((reconstructions - x_test) ** 2))
    mean_image_error = float(np.mean((x_train.mean(axis=0) - x_test) ** 2))
    print(f"{args.epochs} epochs in {seconds:.1f}s; final training loss {history.history['loss'][-1]:.4f}")
    print(f"Test reconstruction error (MSE per pixel): {error:.4f}   "
          f"(always answering the mean image: {mean_image_error:.4f})")

    pictures = []
    if matplotlib_available():
        args.out.mkdir(parents=True, exist_ok=True)
        pictures = [save_reconstructions(x_test, reconstructions, args.out / "reconstructions.png")]
        print(f"Pictures saved under {args.out}")
    else:
        print("Pictures skipped: matplotlib is not installed (pip install 'tinyconv[viz]')")
    return {"mse": error, "mean_image_mse": mean_image_error, "code_size": 4 * args.code,
            "params": model.count_params(), "pictures": [str(p) for p in pictures]}


if __name__ == "__main__":
    main()
