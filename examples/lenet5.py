"""LeNet-5 (LeCun et al., 1998) as the course writes it in Keras, on the digits and on MNIST.

What it teaches: the classic layer pattern conv(5x5) -> pool -> conv(5x5) -> pool -> dense 120 -> dense 84
-> softmax, with the tanh activations and average pooling of the original, on 32x32 inputs.  LeNet-5 was
drawn for 32x32 images, so the inputs are brought to that size first:

* scikit-learn's 8x8 digits are enlarged 4 times by repeating each pixel (nearest neighbour), so every
  pixel becomes a 4x4 block and the network's 5x5 kernels see strokes of a few blocks;
* MNIST's 28x28 digits get a 2-pixel border of zeros, as in the 1998 paper.

The shapes then follow the paper: 32 -> C1 28x28x6 -> S2 14x14x6 -> C3 10x10x16 -> S4 5x5x16 -> 120 -> 84 -> 10.

What it prints: the model summary, the test accuracy on the digits (about 97%), then (only when
Keras's mnist.npz can be found) the test accuracy on a subset of MNIST; when MNIST is absent it says so
and skips that part.  Pictures (with matplotlib): training curves, the 6 learned C1 filters and the
confusion matrix, under --out.

    python examples/lenet5.py [--epochs 10] [--mnist-train 6000] [--mnist-epochs 3] [--out DIR]
"""
import argparse
import pathlib
import time

import numpy as np

import tinyconv as keras
from tinyconv import layers

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "output" / "lenet5"


def lenet5(name="lenet5"):
    """The course's Keras LeNet-5 (tanh, average pooling, valid 5x5 convolutions) for 32x32 grey images."""
    return keras.Sequential([
        keras.Input(shape=(32, 32, 1)),
        layers.Conv2D(6, kernel_size=(5, 5), strides=(1, 1), activation="tanh", padding="valid", name="C1"),
        layers.AveragePooling2D(pool_size=(2, 2), strides=(2, 2), padding="valid", name="S2"),
        layers.Conv2D(16, kernel_size=(5, 5), strides=(1, 1), activation="tanh", padding="valid", name="C3"),
        layers.AveragePooling2D(pool_size=(2, 2), strides=(2, 2), padding="valid", name="S4"),
        layers.Flatten(),
        layers.Dense(120, activation="tanh", name="C5"),
        layers.Dense(84, activation="tanh", name="F6"),
        layers.Dense(10, activation="softmax", name="output"),
    ], name=name)


def digits_as_32x32(limit=None):
    """The 8x8 digits scaled to [0, 1] and enlarged to 32x32 by repeating each pixel 4x4 times."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()

    def enlarge(images):
        images = (images / 16.0).astype("float32")
        return images.repeat(4, axis=1).repeat(4, axis=2)[..., None]

    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return (enlarge(x_train), y_train), (enlarge(x_test), y_test)


def mnist_as_32x32(train_size, test_size):
    """A subset of MNIST, scaled to [0, 1] and padded with 2 zero pixels on each side (28 -> 32).

    Raises whatever ``mnist.load_data()`` raises when the file is absent (the caller skips MNIST)."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()

    def pad(images):
        images = (images / 255.0).astype("float32")
        return np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None]

    return (pad(x_train[:train_size]), y_train[:train_size]), (pad(x_test[:test_size]), y_test[:test_size])


def train_and_test(model, train, test, epochs, batch_size, verbose):
    """Compile with Adam, fit, evaluate: returns (History, test accuracy, seconds)."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(*train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(*test, verbose=0)
    return history, float(accuracy), seconds


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_pictures(model, history, x_test, y_test, out):
    """Training curves, the C1 filters and the confusion matrix; returns the paths written."""
    from tinyconv import teaching

    out.mkdir(parents=True, exist_ok=True)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    paths = [out / "digits_history.png", out / "c1_filters.png", out / "digits_confusion.png"]
    teaching.plot_history(history, paths[0])
    teaching.plot_filters(model.get_layer("C1"), paths[1])
    teaching.plot_confusion_matrix(y_test, predicted, paths[2], class_names=[str(d) for d in range(10)])
    return paths


def run_mnist(args):
    """LeNet-5 on a subset of MNIST, or None (with a message) when the data cannot be found."""
    if args.mnist_train <= 0:
        print("MNIST part skipped (--mnist-train 0)")
        return None
    try:
        train, test = mnist_as_32x32(args.mnist_train, args.mnist_test)
    except (OSError, ValueError) as error:  # not found / no network / bad file
        print(f"MNIST part skipped: the data is not available here ({type(error).__name__}: "
              f"{str(error).splitlines()[0]})")
        return None
    model = lenet5(name="lenet5_mnist")
    _, accuracy, seconds = train_and_test(model, train, test, args.mnist_epochs, args.batch_size, args.verbose)
    print(f"MNIST: {len(train[0])} training images, {args.mnist_epochs} epochs in {seconds:.1f}s -> "
          f"test accuracy {accuracy:.4f} on {len(test[0])} images")
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs on the digits")
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training digits")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mnist-train", type=int, default=6000, help="MNIST training images (0 skips MNIST)")
    parser.add_argument("--mnist-test", type=int, default=2000)
    parser.add_argument("--mnist-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=["cpu", "reference"], default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="folder for the pictures")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    keras.backend.set_kernels(args.kernels)
    train, test = digits_as_32x32(args.train_limit)
    model = lenet5()
    model.summary()
    history, accuracy, seconds = train_and_test(model, train, test, args.epochs, args.batch_size, args.verbose)
    print(f"Digits (8x8 enlarged to 32x32): {len(train[0])} training images, {args.epochs} epochs in "
          f"{seconds:.1f}s -> test accuracy {accuracy:.4f} on {len(test[0])} images")

    pictures = []
    if matplotlib_available():
        pictures = save_pictures(model, history, *test, args.out)
        print(f"Pictures saved under {args.out}")
    else:
        print("Pictures skipped: matplotlib is not installed (pip install 'tinyconv[viz]')")

    mnist_accuracy = run_mnist(args)
    return {"digits_accuracy": accuracy, "mnist_accuracy": mnist_accuracy, "params": model.count_params(),
            "pictures": [str(p) for p in pictures]}


if __name__ == "__main__":
    main()
