"""Small AlexNet-style and VGG-style networks on the digits enlarged to 16x16 (or 32x32).

What it teaches: the two design ideas the course contrasts.

* AlexNet (2012): a large first kernel with a stride (here 7x7, stride 2) to shrink the image fast,
  ReLU, local response normalisation (LRN, AlexNet's k=2, n=5, alpha=1e-4, beta=0.75) after the first two
  convolutions, *overlapping* max pooling (3x3 windows moved by 2), three 3x3 convolutions, and two
  dropout-regularised dense layers (rate 0.25 here, 0.5 in AlexNet, so that it converges in 10 epochs).
* VGG (2014): only 3x3 convolutions, stacked two at a time before each 2x2 max pooling, channels doubling
  after each pooling.  Two stacked 3x3 layers see 5x5 of the input with 2*9*C^2 weights instead of 25*C^2.

Both are scaled down (tens of thousands of parameters instead of 60M / 138M) so they train in seconds.
The 8x8 digits are enlarged (twice by default, --size 32 for four times) by repeating pixels, to give the
big first kernel room; 32x32 is closer to the real networks' inputs and takes about four times longer.

What it prints: each model's summary, its receptive field per layer, then a table of parameters and test
accuracy (both reach 90% or more).  Pictures (with matplotlib): each model's training curves and first-layer
filters, under --out.

    python examples/alexnet_vgg_small.py [--epochs 10] [--size 16|32] [--out DIR]
"""
import argparse
import pathlib
import time

import tinyconv as keras
from tinyconv import layers, teaching

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "output" / "alexnet_vgg_small"


def alexnet_small(size=16):
    """AlexNet's layer pattern with small channel counts.  Uses LRN when tinyconv has it.

    The pools use 'same' padding so that small images halve exactly (16 -> 8 -> 4 -> 2 -> 1)."""
    lrn = getattr(layers, "LocalResponseNormalization", None)

    def normalise(name):
        if lrn is None:  # older tinyconv: leave the normalisation out, the rest is unchanged
            return []
        return [lrn(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, name=name)]  # window n = 2*2+1 = 5

    return keras.Sequential([
        keras.Input(shape=(size, size, 1)),
        layers.Conv2D(16, 7, strides=2, padding="same", activation="relu", name="conv1_7x7_s2"),
        *normalise("lrn1"),
        layers.MaxPooling2D(pool_size=3, strides=2, padding="same", name="overlap_pool1"),  # 3x3 windows, stride 2
        layers.Conv2D(32, 5, padding="same", activation="relu", name="conv2_5x5"),
        *normalise("lrn2"),
        layers.MaxPooling2D(pool_size=3, strides=2, padding="same", name="overlap_pool2"),
        layers.Conv2D(48, 3, padding="same", activation="relu", name="conv3"),
        layers.Conv2D(48, 3, padding="same", activation="relu", name="conv4"),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv5"),
        layers.MaxPooling2D(pool_size=3, strides=2, padding="same", name="overlap_pool3"),
        layers.Flatten(),
        layers.Dense(128, activation="relu", name="fc6"),
        layers.Dropout(0.25),  # AlexNet had 0.5; 0.25 converges within 10 short epochs
        layers.Dense(128, activation="relu", name="fc7"),
        layers.Dropout(0.25),
        layers.Dense(10, activation="softmax", name="fc8"),
    ], name="alexnet_small")


def vgg_small(size=16, widths=(8, 16, 32)):
    """VGG's pattern: blocks of two 3x3 'same' convolutions, then 2x2 max pooling; widths double."""
    stack = [keras.Input(shape=(size, size, 1))]
    for block, width in enumerate(widths, start=1):
        stack += [layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv1"),
                  layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv2"),
                  layers.MaxPooling2D(2, name=f"block{block}_pool")]
    stack += [layers.Flatten(),
              layers.Dense(64, activation="relu", name="fc1"),
              layers.Dropout(0.5),
              layers.Dense(10, activation="softmax", name="predictions")]
    return keras.Sequential(stack, name="vgg_small")


def enlarged_digits(size, limit=None):
    """The 8x8 digits scaled to [0, 1] and enlarged to size x size by repeating each pixel."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    factor = size // 8

    def enlarge(images):
        return (images / 16.0).astype("float32").repeat(factor, axis=1).repeat(factor, axis=2)[..., None]

    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return (enlarge(x_train), y_train), (enlarge(x_test), y_test)


def matplotlib_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=16, help="image side: 16 or 32 (the 8x8 digits enlarged)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=["cpu", "reference"], default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="folder for the pictures")
    args = parser.parse_args(argv)
    if args.size not in (16, 24, 32):
        parser.error(f"--size must be 16, 24 or 32, got {args.size}")

    keras.backend.set_kernels(args.kernels)
    train, test = enlarged_digits(args.size, args.train_limit)
    draw = matplotlib_available()
    if draw:
        args.out.mkdir(parents=True, exist_ok=True)

    rows, pictures = [], []
    for build in (alexnet_small, vgg_small):
        keras.utils.set_random_seed(args.seed)
        model = build(args.size)
        teaching.summary(model, flops=False)  # model.summary() plus each layer's receptive field
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(*train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(*test, verbose=0)
        rows.append({"model": model.name, "params": model.count_params(), "accuracy": float(accuracy),
                     "seconds": seconds})
        if draw:
            pictures += [args.out / f"{model.name}_history.png", args.out / f"{model.name}_first_filters.png"]
            teaching.plot_history(history, pictures[-2])
            teaching.plot_filters(model.layers[0], pictures[-1])

    print(f"\n{'model':<15}{'# params':>10}{'test accuracy':>15}{'train s':>9}")
    for row in rows:
        print(f"{row['model']:<15}{row['params']:>10,}{row['accuracy']:>14.1%}{row['seconds']:>9.1f}")
    if draw:
        print(f"Pictures saved under {args.out}")
    else:
        print("Pictures skipped: matplotlib is not installed (pip install 'tinyconv[viz]')")
    return {"rows": rows, "has_lrn": hasattr(layers, "LocalResponseNormalization"),
            "pictures": [str(p) for p in pictures]}


if __name__ == "__main__":
    main()
