"""Every worked number of the five course decks, recomputed with tinyconv, side by side with the deck's.

What it teaches: the decks' examples are runnable. Each convolution walk-through, stride and padding example,
pooling example, parameter count and FLOP count is computed by real tinyconv layers (Conv2D with the deck's
kernel set as its weights, MaxPooling2D, Dense, whole architectures), and printed next to what the slide says.
Where they differ, the note says why (the deck's rounding, a true convolution against a cross-correlation,
a well-known slip in the original paper, a formula that rounds the other way).

What it prints: one table per deck: slide, quantity, the deck's number, tinyconv's number, and whether they
agree; then the notes. tests/course/ checks the same numbers, one test file per deck.

    python examples/course_worked_examples.py [--deck dl1|cosc2779|ce40717|cis5190|goodfellow] [--no-large-models]
"""
import argparse
import functools
import math

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import receptive_field
from tinyconv.teaching.architectures import googlenet, weight_layer_depth
from tinyconv.teaching.flops import layer_flops, matrix_vs_convolution, model_cost

DECKS = {
    "dl1": "Deep Learning 1, lecture 8 (lecture-dl1-cnn.txt)",
    "cosc2779": "COSC2779 (lecture-cosc2779-cnn.txt)",
    "ce40717": "CE 40717 (lecture-ce40717-cnn.txt)",
    "cis5190": "CIS 4190/5190, lecture 16 (lecture-cis5190-cnn.txt)",
    "goodfellow": "after Goodfellow et al. ch. 9 (lecture-goodfellow-ch9-cnn.txt)",
}
SAME, ROUNDED, DIFFERS = "same", "same (deck rounds)", "differs, see note"
COMPUTED = "not on the slide: tinyconv's answer"


class Row:
    """One worked number: where it is, what the deck says, what tinyconv computes, and whether they agree."""

    def __init__(self, deck, slide, quantity, deck_value, tinyconv_value, status, note=""):
        self.deck, self.slide, self.quantity = deck, slide, quantity
        self.deck_value, self.tinyconv_value, self.status, self.note = deck_value, tinyconv_value, status, note


def text(value):
    """A number or matrix as one short line: 1,234 / 0.25 / [[4 3 4] [2 4 3] [2 3 4]]."""
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.ndim == 0:
        number = array.item()
        if float(number).is_integer():
            return f"{int(number):,}"
        return f"{number:.4g}"
    if np.allclose(array, np.round(array)):
        array = np.round(array).astype(int)
    else:
        array = np.round(array, 2)
    return np.array2string(array, separator=" ", max_line_width=10_000).replace("\n", "")


def agree(deck_value, tinyconv_value, atol=0.0):
    if isinstance(deck_value, str) or isinstance(tinyconv_value, str):
        return SAME if deck_value == tinyconv_value else DIFFERS
    deck_value, tinyconv_value = np.asarray(deck_value, float), np.asarray(tinyconv_value, float)
    if deck_value.shape == tinyconv_value.shape and np.array_equal(deck_value, tinyconv_value):
        return SAME
    if atol and deck_value.shape == tinyconv_value.shape and np.allclose(deck_value, tinyconv_value, atol=atol):
        return ROUNDED
    return DIFFERS


# ---------------------------------------------------------------------------------- tinyconv, as a student runs it
def as_batch(image):
    return np.asarray(image, dtype=np.float64)[None, :, :, None]


def conv2d(image, kernel, strides=1, padding="valid"):
    """A one-channel image through a Conv2D whose kernel is ``kernel`` (no bias): a cross-correlation."""
    kernel = np.asarray(kernel, dtype=np.float64)
    layer = layers.Conv2D(1, kernel.shape, strides=strides, padding=padding, use_bias=False, dtype="float64")
    x = as_batch(image)
    layer(x)
    layer.set_weights([kernel[:, :, None, None]])
    return np.asarray(layer(x))[0, :, :, 0]


def max_pool(image, size, strides=None):
    return np.asarray(layers.MaxPooling2D(size, strides=strides, dtype="float64")(as_batch(image)))[0, :, :, 0]


def params(layer, input_shape):
    layer(np.zeros((1,) + tuple(input_shape), "float32"))
    return layer.count_params()


@functools.lru_cache(maxsize=1)
def alexnet():
    """AlexNet as published: 227x227 input (the paper says 224), conv2/4/5 split over two GPUs (groups=2).
    Built once (60M weights), then shared by the three decks that count it."""
    return keras.Sequential([
        keras.Input((227, 227, 3)),
        layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1"), layers.MaxPooling2D(3, strides=2),
        layers.Conv2D(256, 5, padding="same", groups=2, activation="relu", name="conv2"),
        layers.MaxPooling2D(3, strides=2),
        layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3"),
        layers.Conv2D(384, 3, padding="same", groups=2, activation="relu", name="conv4"),
        layers.Conv2D(256, 3, padding="same", groups=2, activation="relu", name="conv5"),
        layers.MaxPooling2D(3, strides=2), layers.Flatten(),
        layers.Dense(4096, activation="relu", name="fc6"), layers.Dense(4096, activation="relu", name="fc7"),
        layers.Dense(1000, activation="softmax", name="fc8"),
    ])


def lenet():
    """COSC2779's LeNet code, on LeNet's 32x32x1 input."""
    return keras.Sequential([
        keras.Input((32, 32, 1)),
        layers.Conv2D(6, 5, activation="tanh"), layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"), layers.AveragePooling2D(2), layers.Flatten(),
        layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"),
        layers.Dense(10, activation="softmax"),
    ])


def units(layer):
    return int(np.prod(layer.output_shape[1:]))


# ---------------------------------------------------------------------------------- the decks
def dl1(large_models):
    deck = "dl1"
    image = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
    weight = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
    printed = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    output = conv2d(image, weight)
    yield Row(deck, "Numerical Example", "W (k=3) on the 5x5 input", printed, output, agree(printed, output))
    yield Row(deck, "Two-Dimensional Discrete Convolution", "h_out = h_in - k + 1", 3, output.shape[0],
              agree(3, output.shape[0]))
    yield Row(deck, "Could we use MLPs for Images?", "a 32x32x3 image as a vector", 3072,
              keras.Sequential([keras.Input((32, 32, 3)), layers.Flatten()]).output_shape[1], SAME)
    corner = np.asarray(image)[:4, :4]
    pooled = np.asarray(layers.AveragePooling2D(2, dtype="float64")(as_batch(corner)))[0, :, :, 0]
    as_conv = conv2d(corner, np.full((2, 2), 1 / 2 ** 2), strides=2)
    verdict = "equal" if np.allclose(pooled, as_conv) else "different"
    yield Row(deck, "Pooling Layer (footnote)", "average pooling vs conv with W = 1/k^2, k = stride = 2", "equal",
              verdict, agree("equal", verdict))
    if large_models:
        model = alexnet()
        counts = [units(model.get_layer(name)) for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6",
                                                            "fc7", "fc8"]]
        printed = [253_440, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
        yield Row(deck, "Case Study: AlexNet", "neurons per layer", printed, counts, agree(printed, counts),
                  "conv1 has 55 x 55 x 96 = 290,400 neurons; 253,440 is the AlexNet paper's own well-known slip "
                  "(copied by the deck). The paper's 224 x 224 input (150,528 = 224*224*3) must be 227 x 227 for "
                  "55 x 55 after an 11x11 stride-4 convolution.")
    yield Row(deck, "Case Study: LeNet-5", "parameters (COSC2779's code, 32x32 input)", "(figure only)",
              lenet().count_params(), COMPUTED, "the DL1 slide shows LeNet-5 as a figure; the count is tinyconv's.")


def cosc2779(large_models):
    deck = "cosc2779"
    patch = [[0.8, 0.74, 0.6, 0.5, 0.47, 0.55], [0.81, 0.73, 0.58, 0.45, 0.41, 0.46],
             [0.81, 0.73, 0.58, 0.43, 0.35, 0.38], [0.81, 0.73, 0.58, 0.43, 0.31, 0.31],
             [0.82, 0.73, 0.61, 0.44, 0.29, 0.27], [0.83, 0.75, 0.62, 0.44, 0.27, 0.25]]
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
    printed = [[-0.89, -1.09, -0.71, 0.02], [-0.92, -1.18, -0.91, -0.2], [-0.9, -1.2, -1.11, -0.44],
               [-0.87, -1.21, -1.26, -0.63]]
    flipped = conv2d(patch, sobel[::-1, ::-1])
    yield Row(deck, "2D Convolution in Traditional Computer Vision", "Sobel on the 6x6 patch (kernel flipped)",
              printed, flipped, agree(printed, flipped, atol=0.04),
              "the slide's formula I(i - p, j - q) is a true convolution: Conv2D (a cross-correlation) gives the "
              "printed numbers with the kernel flipped, their negatives with it as printed; the patch is printed "
              "rounded to 0.01, so outputs may differ by up to 8 x 0.005 = 0.04.")
    image = [[1, 6, 2, 8, 1, 2, 7], [1, 6, 2, 8, 1, 2, 5], [0, 5, 8, 1, 5, 7, 1], [1, 7, 1, 3, 5, 8, 0],
             [5, 2, 4, 4, 5, 8, 4], [8, 2, 3, 7, 3, 8, 2], [1, 2, 3, 6, 5, 9, 6]]
    ones = np.ones((3, 3))
    valid = conv2d(image, ones)
    yield Row(deck, "2D Convolution", "all-ones 3x3 on the 7x7 image, first row", [31, 46, 36], valid[0, :3],
              agree([31, 46, 36], valid[0, :3]))
    same = conv2d(image, ones, padding="same")
    yield Row(deck, "Padding", "corner, then 31 46 36 one cell in", [14, 31, 46, 36],
              [same[0, 0], *same[1, 1:4]], agree([14, 31, 46, 36], [same[0, 0], *same[1, 1:4]]))
    strided = conv2d(image, ones, strides=2)
    yield Row(deck, "Stride (stride of 2)", "first row", [31, 36], strided[0, :2], agree([31, 36], strided[0, :2]))
    pooled = max_pool(image, 2)
    yield Row(deck, "2D Pooling", "2x2 max pool, stride 2: 6 8 2 / 7", [6, 8, 2, 7], [*pooled[0], pooled[1, 0]],
              agree([6, 8, 2, 7], [*pooled[0], pooled[1, 0]]))
    conv = keras.Sequential([keras.Input((5, 1)), layers.Conv1D(1, 3, padding="same"),
                             layers.Conv1D(1, 3, padding="same")])
    dense = keras.Sequential([keras.Input((5,)), layers.Dense(5), layers.Dense(5)])
    yield Row(deck, "Parameter Sharing", "two conv layers: 6 weights + 2 biases", 8, conv.count_params(),
              agree(8, conv.count_params()))
    yield Row(deck, "Parameter Sharing", "fully connected: (25 + 5) + (25 + 5)", 60, dense.count_params(),
              agree(60, dense.count_params()))
    yield Row(deck, "LeNet (Keras code)", "parameters on a 32x32x1 input", "(not printed)", lenet().count_params(),
              COMPUTED, "the slide's code leaves input_shape undefined; LeNet's 32x32x1 is used.")
    field = receptive_field([(3, 1, 1, 0)] * 3).as_dict()["layers"]
    yield Row(deck, "Variants (receptive field)", "3x3 layers: field after 1, 2, 3", "grows with depth",
              [row["receptive_field"] for row in field], COMPUTED, "the slide's figure is lost; each 3x3 layer adds 2.")


def ce40717(large_models):
    deck = "ce40717"
    image = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
    kernel = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    printed = [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    output = conv2d(image, kernel)
    yield Row(deck, "Convolution process (2)-(10)", "5x5x1 image, 3x3x1 kernel", printed, output,
              agree(printed, output))
    for stride, printed in [(1, 5), (2, 3), (3, 2.33)]:
        size = conv2d(np.ones((7, 7)), np.ones((3, 3)), strides=stride).shape[0]
        yield Row(deck, "Strides Formula", f"7x7, 3x3 filter, stride {stride}", printed, size,
                  agree(printed, size), "" if stride < 3 else
                  "(7 - 3) / 3 + 1 = 2.33 is not a size: Keras and tinyconv floor it, the last column is unused.")
    for size in (1, 2, 3):
        used = pixel_utilization(7, size)
        yield Row(deck, "Problem (1): pixel utilization", f"{size}x{size} on 7x7: uses of corner, edge middle, centre",
                  "(figure)", [used[0, 0], used[0, 3], used[3, 3]], COMPUTED,
                  "the figure is lost; computed as dL/dx of sum(conv(x, ones)) on a 7x7 image: the borders are "
                  "used least, the more so the larger the kernel.")
    layer = layers.Conv2D(10, 5, padding=2)
    shape = layer(np.zeros((1, 32, 32, 3), "float32")).shape[1:]
    yield Row(deck, "Example-1", "32x32x3, 10 5x5 filters, stride 1, pad 2", "32x32x10",
              "x".join(map(str, shape)), agree("32x32x10", "x".join(map(str, shape))))
    yield Row(deck, "Example-2", "parameters: 76 per filter, 10 filters", 760, layer.count_params(),
              agree(760, layer.count_params()))
    same = conv2d(np.ones((7, 7)), np.ones((3, 3)), strides=2, padding="same").shape[0]
    yield Row(deck, "Padding (2)", "'same', N = 7, S = 2: ceil(N / S)", 4, same, agree(4, same),
              "the deck's P = S ceil(N/S) - N (= 1 here) is right only when F = S; 'same' pads "
              "(ceil(N/S) - 1) S + F - N = 2 for F = 3.")
    pooled, deck_size = max_pool(np.ones((7, 7)), 2).shape[0], math.ceil((7 - 2) / 2) + 1
    yield Row(deck, "Pooling: Parameter setting (1)", "7x7, 2x2 pool, stride 2: ceil((N - P)/S) + 1",
              deck_size, pooled, agree(deck_size, pooled),
              "Keras and tinyconv floor ((W1 - F)/S + 1, the next slide's formula) unless padding='same'.")
    fields = [row["receptive_field"] for row in receptive_field([(3, 1)] * 3).as_dict()["layers"]]
    yield Row(deck, "Question / Answer (receptive field)", "after layers 1, 2, 3", [3, 5, 7], fields,
              agree([3, 5, 7], fields))
    c = 8
    one = params(layers.Conv2D(c, 7, use_bias=False), (9, 9, c)) // c ** 2
    three = sum(params(layers.Conv2D(c, 3, use_bias=False), (9, 9, c)) for _ in range(3)) // c ** 2
    yield Row(deck, "Power of small filters", "weights / C^2: one 7x7, three 3x3", [49, 27], [one, three],
              agree([49, 27], [one, three]))
    dense = layers.Dense(100, use_bias=False)
    dense(np.zeros((1, 32 * 32 * 3), "float32"))
    weights = "x".join(map(str, dense.kernel.shape[::-1]))  # Keras stores W^T: (inputs, units)
    yield Row(deck, "FCNs on images", "weights of 100 neurons on 32x32x3", "100x3072", weights,
              agree("100x3072", weights))


def pixel_utilization(n, k):
    """How many windows of a k x k valid convolution use each pixel of an n x n image."""
    layer = layers.Conv2D(1, k, use_bias=False, kernel_initializer="ones", dtype="float64")
    x = np.ones((1, n, n, 1))
    layer(x)
    return layer.backward(np.ones_like(layer.forward(x, training=True)))[0, :, :, 0]


def cis5190(large_models):
    deck = "cis5190"
    image = [[0, 0, 0, 0, 0, 0], [0, 1, 0, 0.5, 0.5, 0], [0, 0, 0.5, 1, 0, 0], [0, 0, 1, 0.5, 1, 0],
             [0, 1, 0.5, 0.5, 1, 0], [0, 0, 0, 0, 0, 0]]
    kernel = [[1, 0], [0, 0.5]]
    printed = [[0.5, 0, 0.25, 0.25, 0], [0, 1.25, 0.5, 0.5, 0.5], [0, 0.5, 0.75, 1.5, 0], [0.5, 0.25, 1.25, 1, 1],
               [0, 1, 0.5, 0.5, 1]]
    output = conv2d(image, kernel)
    yield Row(deck, "Stride", "output with stride 1", printed, output, agree(printed, output))
    printed = [[0.5, 0.25, 0], [0, 0.75, 0], [0, 0.5, 1]]
    output = conv2d(image, kernel, strides=2)
    yield Row(deck, "Stride", "output with stride 2", printed, output, agree(printed, output))
    bank = params(layers.Conv2D(2, 3, strides=2, padding=1), (5, 5, 3))
    yield Row(deck, "Convolution Filter Bank Demo", "(3x3x3 + 1) x 2", 56, bank, agree(56, bank))
    axes = [[0, 1, 0, 1], [0, 1, 0, 1], [1, 1, 1, 1], [0, -2, 0, -2]]
    vertical = np.array([[-0.5, 1, -0.5]] * 3)
    first, second = conv2d(axes, vertical), conv2d(axes, vertical.T)
    yield Row(deck, "A Convolution Exercise", "first filter's output", [[2, -2], [-1, 1]], first,
              agree([[2, -2], [-1, 1]], first))
    yield Row(deck, "Convolution Exercise Solution", "second filter's output", "(figure)", second, COMPUTED,
              "the solution slide is a lost figure; this is tinyconv's answer.")
    yield Row(deck, "Convolutional Exercise Solution", "max-pool of each output", "(question)",
              [first.max(), second.max()], COMPUTED, "both positive: a vertical and a horizontal line, Cartesian axes.")
    if large_models:
        vgg, resnet = keras.applications.VGG19(weights=None), keras.applications.ResNet152(weights=None)
        for name, model, printed in [("AlexNet", alexnet(), "~60M"), ("VGG-19", vgg, "~140M"),
                                     ("ResNet-152", resnet, "~60M")]:
            count = model.count_params()
            yield Row(deck, "Example architectures", f"{name} parameters", printed, count,
                      agree(printed, f"~{round(count, -7) // 1_000_000}M"))
        inception = googlenet()
        yield Row(deck, "Example architectures", "GoogLeNet weight layers", 22, weight_layer_depth(inception),
                  agree(22, weight_layer_depth(inception)))
        yield Row(deck, "Example architectures", "GoogLeNet parameters", "~5M", inception.count_params(), DIFFERS,
                  "the paper's Table 1 network counts 7.0M; ~5M is its '12 times fewer than AlexNet' (8.7 counted)")
        vgg_macs, resnet_macs = model_cost(vgg).total("macs"), model_cost(resnet).total("macs")
        yield Row(deck, "Example architectures", "ResNet-152 vs VGG-19 multiply-adds (224x224)",
                  "ResNet less", f"{resnet_macs / 1e9:.1f}G < {vgg_macs / 1e9:.1f}G", SAME if resnet_macs < vgg_macs
                  else DIFFERS)


def goodfellow(large_models):
    deck = "goodfellow"
    first = conv2d([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
                   [[1, 0, 1], [0, 1, 0], [1, 0, 1]])[0, 0]
    yield Row(deck, "Convolution Operation", "first cell of the convolved feature", 4, first, agree(4, first))
    # 7 input units, 3 hidden units: a width-3 window moved by 2 (biases left out, as on the slides)
    for what, layer, printed in [
            ("global connectivity 3 x 7", layers.Dense(3, use_bias=False), 21),
            ("local connectivity 3 x 3", layers.LocallyConnected1D(1, 3, strides=2, use_bias=False), 9),
            ("with weight sharing 3 x 1", layers.Conv1D(1, 3, strides=2, use_bias=False), 3)]:
        count = params(layer, (7,) if isinstance(layer, layers.Dense) else (7, 1))
        yield Row(deck, "CNN: Local Connectivity / Weight Sharing", what, printed, count, agree(printed, count))
    edge = layers.Conv2D(1, (1, 2), use_bias=False)
    edge(np.zeros((1, 280, 320, 1), "float32"))
    table = matrix_vs_convolution((280, 320), (1, 2))
    shape = f"{edge.output_shape[2]} by {edge.output_shape[1]}"
    yield Row(deck, "Efficiency of Convolution", "output size", "319 by 280", shape, agree("319 by 280", shape))
    yield Row(deck, "Efficiency of Convolution", "stored floats: convolution", 2, edge.count_params(),
              agree(2, edge.count_params()))
    yield Row(deck, "Efficiency of Convolution", "stored floats: dense matrix", "> 8e9",
              table["dense matrix"]["stored floats"], SAME if table["dense matrix"]["stored floats"] > 8e9 else DIFFERS)
    yield Row(deck, "Efficiency of Convolution", "stored floats: sparse matrix", 178_640,
              table["sparse matrix"]["stored floats"], agree(178_640, table["sparse matrix"]["stored floats"]))
    ops = layer_flops(edge, convention="muls_adds")
    yield Row(deck, "Efficiency of Convolution", "muls + adds: convolution (2 mults + 1 add per output)", 267_960, ops,
              agree(267_960, ops), f"the same layer is {layer_flops(edge, convention='macs'):,} multiply-adds, "
              f"{layer_flops(edge):,} FLOPs at 2 per multiply-add: say which convention a count uses.")
    yield Row(deck, "Efficiency of Convolution", "muls + adds: dense matrix", "> 16e9",
              table["dense matrix"]["operations"], SAME if table["dense matrix"]["operations"] > 16e9 else DIFFERS)
    head = keras.Sequential([keras.Input((7, 7, 1024)), layers.Conv2D(2 * 5 + 20, 1)])
    yield Row(deck, "YOLO", "S x S x (B x 5 + C) = 7 x 7 x (2 x 5 + 20)", 1470, units(head.layers[-1]),
              agree(1470, units(head.layers[-1])))
    if large_models:
        model = alexnet()
        weighted = [layer for layer in model.layers if layer.count_params()]
        yield Row(deck, "AlexNet", "hidden layers", 7, len(weighted) - 1, agree(7, len(weighted) - 1))
        total_units = sum(units(layer) for layer in weighted)
        yield Row(deck, "AlexNet", "units", "650,000", total_units, ROUNDED if abs(total_units - 650_000) < 15_000
                  else DIFFERS, "the deck rounds; 659,272 counts the outputs of the 8 weighted layers.")
        yield Row(deck, "AlexNet", "parameters", "60,000,000", model.count_params(),
                  ROUNDED if round(model.count_params(), -7) == 60_000_000 else DIFFERS,
                  "with the paper's two-GPU split (groups=2 in conv2, conv4 and conv5); one tower has more.")


EXAMPLES = {"dl1": dl1, "cosc2779": cosc2779, "ce40717": ce40717, "cis5190": cis5190, "goodfellow": goodfellow}


def print_deck(name, rows):
    print(f"\n== {DECKS[name]} ==")
    notes = {}  # note text -> its number (a note shared by several rows is printed once)
    for row in rows:
        marker = ""
        if row.note:
            notes.setdefault(row.note, len(notes) + 1)
            marker = f" [{notes[row.note]}]"
        print(f"- {row.slide}: {row.quantity}\n    deck:     {text(row.deck_value)}\n"
              f"    tinyconv: {text(row.tinyconv_value)}\n    {row.status}{marker}")
    for note, number in notes.items():
        print(f"  [{number}] {note}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deck", choices=sorted(EXAMPLES), action="append",
                        help="only this deck (repeatable); all five by default")
    parser.add_argument("--no-large-models", action="store_true",
                        help="skip the full-size AlexNet, VGG-19 and ResNet-152 (a few seconds and ~1 GB)")
    args = parser.parse_args(argv)
    all_rows = []
    for name in args.deck or list(EXAMPLES):
        rows = list(EXAMPLES[name](not args.no_large_models))
        print_deck(name, rows)
        all_rows.extend(rows)
    counts = {status: sum(row.status == status for row in all_rows) for status in (SAME, ROUNDED, COMPUTED, DIFFERS)}
    print(f"\n{len(all_rows)} worked numbers: {counts[SAME] + counts[ROUNDED]} agree with the deck "
          f"({counts[ROUNDED]} of them up to the deck's rounding), {counts[COMPUTED]} answer what the slide leaves "
          f"open, {counts[DIFFERS]} differ for the reasons noted")
    return all_rows


if __name__ == "__main__":
    main()
