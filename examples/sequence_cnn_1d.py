"""A 1-D CNN that tells sine, square and sawtooth waves apart, whatever their frequency, phase and noise.

What it teaches: convolution along one axis (time).  ``Conv1D`` slides a short kernel along the sequence,
so the same detector of "a jump", "a ramp" or "a smooth bend" fires wherever it occurs; ``MaxPooling1D``
halves the sequence; ``GlobalMaxPooling1D`` keeps, per channel, the strongest response anywhere in the
sequence - so the answer does not depend on where in time the telling shape appears (the phase), and the
model accepts sequences of any length.  The input layout is (batch, steps, channels), channels last.

The data is made on the fly: one wave per sequence with a random frequency (2-6 periods), phase and
amplitude, plus Gaussian noise; the label is the wave's kind.

What it prints: the model summary, the test accuracy (chance is 1/3) and the confusion matrix.  Pictures
(with matplotlib): a few example sequences with their true and predicted kinds, under --out.

    python examples/sequence_cnn_1d.py [--train 900] [--steps 128] [--noise 0.3] [--epochs 8] [--out DIR]
"""
import argparse
import pathlib
import time

import numpy as np

import tinyconv as keras
from tinyconv import layers

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "output" / "sequence_cnn_1d"
KINDS = ("sine", "square", "sawtooth")


def wave(kind, phase_in_periods):
    """One period-normalised wave in [-1, 1]; ``phase_in_periods`` is time measured in periods."""
    fraction = phase_in_periods % 1.0
    if kind == "sine":
        return np.sin(2 * np.pi * fraction)
    if kind == "square":
        return np.where(fraction < 0.5, 1.0, -1.0)
    return 2.0 * fraction - 1.0  # sawtooth: a ramp up, then a jump down


def make_sequences(count, steps, noise, rng):
    """``count`` sequences (steps, 1) float32 and their labels (index into KINDS)."""
    labels = rng.integers(0, len(KINDS), count)
    t = np.linspace(0.0, 1.0, steps, endpoint=False)
    x = np.empty((count, steps, 1), dtype="float32")
    for i, label in enumerate(labels):
        periods = rng.uniform(2, 6)
        phase = rng.uniform(0, 1)
        amplitude = rng.uniform(0.5, 1.5)
        x[i, :, 0] = amplitude * wave(KINDS[label], periods * t + phase) + rng.normal(0, noise, steps)
    return x, labels.astype("uint8")


def sequence_cnn(steps):
    return keras.Sequential([
        keras.Input(shape=(steps, 1)),
        layers.Conv1D(16, 7, padding="same", activation="relu"),
        layers.MaxPooling1D(2),
        layers.Conv1D(32, 5, padding="same", activation="relu"),
        layers.MaxPooling1D(2),
        layers.Conv1D(32, 5, padding="same", activation="relu"),
        layers.GlobalMaxPooling1D(),       # strongest response anywhere in time: phase does not matter
        layers.Dense(len(KINDS), activation="softmax"),
    ], name="sequence_cnn")


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_examples(x, truth, predicted, path, count=6):
    import matplotlib

    matplotlib.use("Agg")  # draw to files, no window needed
    import matplotlib.pyplot as plt

    count = min(count, len(x))
    figure, axes = plt.subplots(count, 1, figsize=(7, 1.3 * count), squeeze=False, sharex=True)
    for i, axis in enumerate(axes[:, 0]):
        axis.plot(x[i, :, 0], linewidth=1)
        verdict = "right" if truth[i] == predicted[i] else "WRONG"
        axis.set_title(f"true {KINDS[truth[i]]}, predicted {KINDS[predicted[i]]} ({verdict})", fontsize=8)
        axis.set_yticks([])
    axes[-1, 0].set_xlabel("time step")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=900, help="training sequences")
    parser.add_argument("--test", type=int, default=300, help="held-out sequences")
    parser.add_argument("--steps", type=int, default=128, help="length of each sequence")
    parser.add_argument("--noise", type=float, default=0.3, help="standard deviation of the added noise")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=["cpu", "reference"], default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="folder for the pictures")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    keras.backend.set_kernels(args.kernels)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_sequences(args.train, args.steps, args.noise, rng)
    x_test, y_test = make_sequences(args.test, args.steps, args.noise, rng)

    model = sequence_cnn(args.steps)
    model.summary()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - start
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    accuracy = float(np.mean(predicted == y_test))
    print(f"{args.epochs} epochs on {args.train} sequences in {seconds:.1f}s")
    print(f"Test accuracy: {accuracy:.4f} on {args.test} sequences (chance: {1 / len(KINDS):.3f})")

    from tinyconv.teaching import confusion_matrix

    counts = confusion_matrix(y_test, predicted, len(KINDS))
    print("Confusion matrix (rows: true kind, columns: predicted kind)")
    print(" " * 10 + "".join(f"{kind:>10}" for kind in KINDS))
    for kind, row in zip(KINDS, counts):
        print(f"{kind:<10}" + "".join(f"{count:>10}" for count in row))

    pictures = []
    if matplotlib_available():
        args.out.mkdir(parents=True, exist_ok=True)
        pictures = [save_examples(x_test, y_test, predicted, args.out / "sequences.png")]
        print(f"Pictures saved under {args.out}")
    else:
        print("Pictures skipped: matplotlib is not installed (pip install 'tinyconv[viz]')")
    return {"accuracy": accuracy, "confusion": counts.tolist(), "params": model.count_params(),
            "pictures": [str(p) for p in pictures]}


if __name__ == "__main__":
    main()
