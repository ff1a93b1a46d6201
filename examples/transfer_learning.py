"""Transfer learning: reuse features learned on digits 0-4 to learn digits 5-9 from a few samples.

What it teaches: the Keras recipe - train a feature extractor on one task, freeze it
(``trainable = False``), put a new head on it with the functional API, and train only the head
on the new task (a few hundred weights instead of thousands).  It also shows that transfer is
no free lunch: on the tiny 8x8 digits a small network trained from scratch on the same few
samples does about as well or better, because features learned for 0-4 only were never asked
to tell a 5 from a 9.  Transfer pays off when the source task is large and broad (ImageNet).
What it prints: the source-task accuracy (0-4), the trainable / frozen parameter counts, the
target-task (5-9) test accuracy of the transferred model and of the model trained from scratch on
the same few samples, and a check that the frozen weights did not change by a single bit.
Picture: transfer_curves.png (validation accuracy per epoch of both models).

    python examples/transfer_learning.py [--per-class 5] [--epochs 30] [--out examples/output/transfer_learning]
"""
import argparse
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import freeze


def load_split():
    """Digits 0-4 (source task) and 5-9 (target task, relabelled 0-4), scaled to [0, 1]."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    scale = lambda images: (images / 16.0).astype("float32")[..., None]
    x_train, x_test = scale(x_train), scale(x_test)
    source = y_train < 5, y_test < 5
    return {
        "source": ((x_train[source[0]], y_train[source[0]]), (x_test[source[1]], y_test[source[1]])),
        "target": ((x_train[~source[0]], y_train[~source[0]] - 5), (x_test[~source[1]], y_test[~source[1]] - 5)),
    }


def few_per_class(x, y, per_class, seed):
    """The first ``per_class`` samples of each class after a seeded shuffle."""
    order = np.random.default_rng(seed).permutation(len(y))
    chosen = np.concatenate([order[y[order] == c][:per_class] for c in np.unique(y)])
    return x[chosen], y[chosen]


def feature_extractor():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),  # the convolutional features: strokes and edges, not digit identities
    ], name="feature_extractor")


def with_head(base, classes, name):
    """The functional API: Input -> base (a whole model used as one layer) -> a new Dense head."""
    inputs = keras.Input(shape=(8, 8, 1))
    features = base(inputs)
    outputs = layers.Dense(classes, activation="softmax", name=f"{name}_head")(features)
    return keras.Model(inputs, outputs, name=name)


def compile_model(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def count(weights):
    return int(sum(np.size(w) for w in weights))


def save_curves(out_dir, transferred, scratch):
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: skipping the picture (pip install 'tinyconv[viz]')")
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3))
    for name, history in (("frozen features + new head", transferred), ("from scratch", scratch)):
        values = history.history["val_accuracy"]
        axis.plot(range(1, len(values) + 1), values, label=name)
    axis.set_xlabel("epoch")
    axis.set_ylabel("test accuracy on digits 5-9")
    axis.legend()
    figure.tight_layout()
    path = os.path.join(out_dir, "transfer_curves.png")
    figure.savefig(path, dpi=80)
    plt.close(figure)
    print(f"saved {path}")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=30, help="epochs on the few target samples")
    parser.add_argument("--per-class", type=int, default=5, help="labelled target samples per digit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("examples", "output", "transfer_learning"))
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    data = load_split()
    (xs_train, ys_train), (xs_test, ys_test) = data["source"]
    (xt_train, yt_train), (xt_test, yt_test) = data["target"]
    xt_few, yt_few = few_per_class(xt_train, yt_train, args.per_class, args.seed)

    # 1. Learn features on the source task (digits 0-4).
    base = feature_extractor()
    source_model = compile_model(with_head(base, 5, "source"), 3e-3)
    source_model.fit(xs_train, ys_train, batch_size=32, epochs=args.source_epochs, verbose=args.verbose)
    source_accuracy = source_model.evaluate(xs_test, ys_test, verbose=0)[1]
    print(f"source task (digits 0-4): test accuracy {source_accuracy:.4f} on {len(ys_test)} images")

    # 2. Freeze the extractor, give it a new head, compile again (the optimizer sees the new weight set).
    freeze(base)        # every layer of the extractor: trainable = False
    base.trainable = False
    before = [np.array(w) for w in base.get_weights()]
    transferred = compile_model(with_head(base, 5, "transferred"), 1e-2)
    print(f"transferred model: {count(transferred.trainable_weights):,} trainable parameters (the head), "
          f"{count(transferred.non_trainable_weights):,} frozen (the extractor)")

    # 3. Train on a few target samples (digits 5-9): the transferred head and a fresh network.
    print(f"target task (digits 5-9): {len(yt_few)} training samples ({args.per_class} per digit), "
          f"{len(yt_test)} test images")
    history_transfer = transferred.fit(xt_few, yt_few, batch_size=16, epochs=args.epochs,
                                       validation_data=(xt_test, yt_test), verbose=args.verbose)
    scratch = compile_model(with_head(feature_extractor(), 5, "scratch"), 3e-3)
    history_scratch = scratch.fit(xt_few, yt_few, batch_size=16, epochs=args.epochs,
                                  validation_data=(xt_test, yt_test), verbose=args.verbose)
    transfer_accuracy = transferred.evaluate(xt_test, yt_test, verbose=0)[1]
    scratch_accuracy = scratch.evaluate(xt_test, yt_test, verbose=0)[1]
    print(f"  frozen features + new head: test accuracy {transfer_accuracy:.4f}")
    print(f"  same network from scratch:  test accuracy {scratch_accuracy:.4f}")

    unchanged = all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, base.get_weights()))
    print(f"frozen extractor weights unchanged after fine-tuning ({len(before)} arrays, bit for bit): {unchanged}")
    picture = save_curves(args.out, history_transfer, history_scratch)
    return {"source_accuracy": source_accuracy, "transfer_accuracy": transfer_accuracy,
            "scratch_accuracy": scratch_accuracy, "frozen_unchanged": unchanged,
            "trainable_params": count(transferred.trainable_weights),
            "frozen_params": count(transferred.non_trainable_weights), "picture": picture}


if __name__ == "__main__":
    main()
