"""A DenseNet-style block: every layer sees the feature maps of all the layers before it.

What it teaches: DenseNet's connection pattern (Huang et al., 2017), built with the functional API.
Inside a dense block each layer is BatchNorm -> ReLU -> Conv 3x3 producing ``growth`` new channels, and
``layers.concatenate([x, new])`` appends them to its input along the channel axis, so the channel count
grows by ``growth`` per layer: k0, k0 + k, k0 + 2k, ...  (ResNet *adds* the input back; DenseNet
*concatenates* it.)  A transition layer (1x1 convolution + 2x2 average pooling) then shrinks the channels
and the image before the next block.

What it prints: the model summary, the channel count after every concatenation (checked against
k0 + i * k), and the test accuracy on the digits.  Pictures (with matplotlib): the training curves, under
--out.

    python examples/densenet_block.py [--layers 4] [--growth 8] [--epochs 10] [--out DIR]
"""
import argparse
import pathlib
import time

import tinyconv as keras
from tinyconv import layers

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "output" / "densenet_block"


def dense_block(x, n_layers, growth, name):
    """``n_layers`` BN-ReLU-Conv(growth) layers, each output concatenated to everything before it."""
    for i in range(1, n_layers + 1):
        new = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        new = layers.Activation("relu", name=f"{name}_relu{i}")(new)
        new = layers.Conv2D(growth, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(new)
        x = layers.concatenate([x, new], name=f"{name}_concat{i}")  # channels: previous + growth
    return x


def transition(x, channels, name):
    """1x1 convolution to fewer channels, then 2x2 average pooling to halve the image."""
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, name=f"{name}_pool")(x)


def densenet_small(n_layers, growth, stem_channels=16, input_shape=(8, 8, 1)):
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(stem_channels, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = dense_block(x, n_layers, growth, "dense1")
    x = transition(x, (stem_channels + n_layers * growth) // 2, "transition1")
    x = dense_block(x, n_layers, growth, "dense2")
    x = layers.BatchNormalization(momentum=0.9, name="final_bn")(x)
    x = layers.Activation("relu", name="final_relu")(x)
    x = layers.GlobalAveragePooling2D(name="average")(x)
    outputs = layers.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="densenet_small")


def concatenation_channels(model):
    """[(layer name, output channels)] for every Concatenate layer, in order."""
    return [(layer.name, layer.output_shape[-1]) for layer in model.layers
            if isinstance(layer, layers.Concatenate)]


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4, help="layers per dense block")
    parser.add_argument("--growth", type=int, default=8, help="growth rate k: new channels per layer")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=["cpu", "reference"], default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="folder for the pictures")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    keras.backend.set_kernels(args.kernels)
    train, test = load_digits(args.train_limit)
    model = densenet_small(args.layers, args.growth)
    model.summary()

    print("Channels after each concatenation (block input k0, growth k):")
    channels = concatenation_channels(model)
    for name, count in channels:
        print(f"  {name:<16} {count:>3} channels")
    block_inputs = {"dense1": 16, "dense2": (16 + args.layers * args.growth) // 2}
    for block, k0 in block_inputs.items():
        expected = [k0 + i * args.growth for i in range(1, args.layers + 1)]
        found = [count for name, count in channels if name.startswith(block)]
        print(f"  {block}: k0 = {k0}, k0 + i*k = {expected} -> {'matches' if found == expected else 'DIFFERS'}")

    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(*train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(*test, verbose=0)
    print(f"{model.count_params():,} parameters, {args.epochs} epochs in {seconds:.1f}s -> "
          f"test accuracy {accuracy:.4f} on {len(test[0])} digits")

    pictures = []
    if matplotlib_available():
        from tinyconv import teaching

        args.out.mkdir(parents=True, exist_ok=True)
        pictures = [args.out / "densenet_history.png"]
        teaching.plot_history(history, pictures[0])
        print(f"Pictures saved under {args.out}")
    else:
        print("Pictures skipped: matplotlib is not installed (pip install 'tinyconv[viz]')")
    return {"accuracy": float(accuracy), "params": model.count_params(), "channels": channels,
            "pictures": [str(p) for p in pictures]}


if __name__ == "__main__":
    main()
