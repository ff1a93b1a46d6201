"""Plain against residual: the same deep network with and without skip connections.

What it teaches: the residual block of ResNet (He et al., 2015), built with the functional API,

    x -> Conv 3x3 -> BatchNorm -> ReLU -> Conv 3x3 -> BatchNorm -> (+ x) -> ReLU

where ``layers.add([x, f(x)])`` lets the block learn only a correction f(x) to its input and gives the
gradient a short path back to the early layers.  Two networks with exactly the same layers and parameter
count are trained the same way (same seed, optimizer, epochs); the only difference is the ``add``.  The
deeper the stack, the more the plain one lags behind.

What it prints: the residual model's summary, the training loss of both after each epoch, and their final
training loss and test accuracy on the digits.  Pictures (with matplotlib): both training curves
(``plot_history``) and one figure with the two loss curves together, under --out.

    python examples/resnet_plain_vs_residual.py [--blocks 6] [--width 12] [--epochs 8] [--out DIR]
"""
import argparse
import pathlib
import time

import tinyconv as keras
from tinyconv import layers

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "output" / "resnet_plain_vs_residual"


def conv_bn(x, width, name):
    """3x3 'same' convolution followed by batch normalisation (no bias: BN's beta plays that role).

    momentum=0.9 instead of Keras's 0.99: with only a few hundred training steps the moving mean and
    variance used at test time must follow the changing weights quickly, or test accuracy lags far
    behind training accuracy."""
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)


def block(x, width, name, residual):
    """Two conv-BN layers; with ``residual`` the block's input is added back before the last ReLU."""
    y = conv_bn(x, width, f"{name}_a")
    y = layers.Activation("relu", name=f"{name}_a_relu")(y)
    y = conv_bn(y, width, f"{name}_b")
    if residual:
        y = layers.add([x, y], name=f"{name}_add")  # the skip connection: output = x + f(x)
    return layers.Activation("relu", name=f"{name}_out")(y)


def deep_network(blocks, width, residual, input_shape=(8, 8, 1)):
    """A stem convolution, ``blocks`` blocks (2 convolutions each), global average pooling, softmax."""
    kind = "residual" if residual else "plain"
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Activation("relu", name="stem_relu")(conv_bn(inputs, width, "stem"))
    for b in range(1, blocks + 1):
        x = block(x, width, f"block{b}", residual)
    x = layers.GlobalAveragePooling2D(name="average")(x)
    outputs = layers.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=f"{kind}_{2 * blocks + 1}_conv")


def load_digits(limit=None):
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    scale = lambda images: (images / 16.0).astype("float32")[..., None]  # noqa: E731
    return (scale(x_train), y_train), (scale(x_test), y_test)


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_pictures(histories, out):
    """plot_history for each network, and both training losses on one set of axes."""
    import matplotlib

    matplotlib.use("Agg")  # draw to files, no window needed
    import matplotlib.pyplot as plt

    from tinyconv import teaching

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, history in histories.items():
        paths.append(out / f"{kind}_history.png")
        teaching.plot_history(history, paths[-1])
    figure, axis = plt.subplots(figsize=(5, 3.2))
    for kind, history in histories.items():
        losses = history.history["loss"]
        axis.plot(range(1, len(losses) + 1), losses, marker="o", label=kind)
    axis.set_xlabel("epoch")
    axis.set_ylabel("training loss")
    axis.set_title("same layers, with and without the skip connections")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "plain_vs_residual_loss.png")
    plt.close(figure)
    return paths + [out / "plain_vs_residual_loss.png"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=6, help="blocks of two convolutions")
    parser.add_argument("--width", type=int, default=12, help="channels of every convolution")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=["cpu", "reference"], default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="folder for the pictures")
    args = parser.parse_args(argv)

    keras.backend.set_kernels(args.kernels)
    train, test = load_digits(args.train_limit)
    histories, results = {}, {}
    for residual in (False, True):
        kind = "residual" if residual else "plain"
        keras.utils.set_random_seed(args.seed)  # the same initial weights for both networks
        model = deep_network(args.blocks, args.width, residual)
        if residual:
            model.summary()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(*train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(*test, verbose=0)
        histories[kind] = history
        results[kind] = {"params": model.count_params(), "accuracy": float(accuracy),
                         "loss": [float(v) for v in history.history["loss"]], "seconds": seconds}
        curve = " ".join(f"{v:.3f}" for v in history.history["loss"])
        print(f"{model.name}: training loss per epoch: {curve}")

    print(f"\n{'network':<10}{'# params':>10}{'final train loss':>18}{'test accuracy':>15}{'train s':>9}")
    for kind, row in results.items():
        print(f"{kind:<10}{row['params']:>10,}{row['loss'][-1]:>18.4f}{row['accuracy']:>14.1%}"
              f"{row['seconds']:>9.1f}")

    pictures = []
    if matplotlib_available():
        pictures = save_pictures(histories, args.out)
        print(f"Pictures saved under {args.out}")
    else:
        print("Pictures skipped: matplotlib is not installed (pip install 'tinyconv[viz]')")
    return {**results, "pictures": [str(p) for p in pictures]}


if __name__ == "__main__":
    main()
