"""The course's worked convolution examples, with hand-set kernels and every number printed.

What it teaches: what a convolution computes before anything is learned.
  1. The vertical-edge detector [[1, 0, -1]] x 3 rows on the 6x6 image of 10s and 0s: a 4x4
     output whose middle columns are 30 (the edge) and whose outer columns are 0 (flat).
  2. Sobel edge detection on a handwritten digit, through a Conv2D whose kernel is the "sobel"
     initializer (saved as a picture).
  3. Stride and padding on the lecture's 7x7 matrix with an all-ones 3x3 kernel: output sizes
     (N + 2P - F) / S + 1 = 5, 7 and 3, and the lecture's numbers 31 46 36, 14 and 31 36.
  4. Convolution vs cross-correlation: the true convolution flips the kernel.
  5. A dilated 3x3 kernel (dilation 2) sees a 5x5 patch with 9 weights.
  6. Three stacked 3x3 layers see 7x7, like one 7x7 layer, for 27 C^2 weights against 49 C^2.
  7. The Sobel kernel is separable (a column times a row): 6 multiplications per pixel instead of 9.
What it prints: each input, kernel and output matrix, and the sizes and costs.

    python examples/course_kernels.py [--out examples/output/course_kernels]
"""
import argparse
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.kernels.reference.conv import conv2d_forward
from tinyconv.kernels.reference.flip import convolve2d, cross_correlate2d, flip_kernel
from tinyconv.kernels.reference.separable import factor_kernel, separable_conv2d, separable_cost
from tinyconv.teaching import conv_cost, receptive_field

# The lecture's 7x7 image (cosc2779, "2D Convolution", "Padding", "Stride").
LECTURE_7X7 = np.array([
    [1, 6, 2, 8, 1, 2, 7],
    [1, 6, 2, 8, 1, 2, 5],
    [0, 5, 8, 1, 5, 7, 1],
    [1, 7, 1, 3, 5, 8, 0],
    [5, 2, 4, 4, 5, 8, 4],
    [8, 2, 3, 7, 3, 8, 2],
    [1, 2, 3, 6, 5, 9, 6],
], dtype=np.float64)

# Bright on the left (10), dark on the right (0): one vertical edge down the middle.
EDGE_6X6 = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=np.float64)
VERTICAL_EDGE = np.array([[1, 0, -1]] * 3, dtype=np.float64)


def show(title, matrix):
    """Print a matrix as a small table of integers (or short decimals)."""
    matrix = np.asarray(matrix)
    print(f"{title} ({matrix.shape[0]}x{matrix.shape[1]}):")
    whole = np.allclose(matrix, np.round(matrix))
    for row in matrix:
        print("  " + " ".join(f"{int(round(v)):4d}" if whole else f"{v:6.2f}" for v in row))


def conv_2d(image, kernel, stride=1, padding=0, dilation=1):
    """One 2-D image through the reference conv2d kernel (cross-correlation, as Conv2D computes)."""
    x = np.asarray(image, dtype=np.float64)[None, :, :, None]
    w = np.asarray(kernel, dtype=np.float64)[:, :, None, None]
    pads = ((padding, padding), (padding, padding))
    return conv2d_forward(x, w, None, (stride, stride), pads, (dilation, dilation), 1)[0, :, :, 0]


def output_size(n, f, stride, padding):
    """The lecture's formula (N + 2P - F) / S + 1 (floored)."""
    return (n + 2 * padding - f) // stride + 1


def vertical_edge_detector():
    print("\n== 1. Vertical-edge detector on the 6x6 image of 10s and 0s ==")
    show("image", EDGE_6X6)
    show("kernel", VERTICAL_EDGE)
    output = conv_2d(EDGE_6X6, VERTICAL_EDGE)
    show("output: 30 where the window straddles the edge, 0 on flat ground", output)
    return output


def sobel_on_digit(out_dir):
    print("\n== 2. Sobel edge detection on a handwritten digit ==")
    (x_train, y_train), _ = keras.datasets.digits.load_data()
    digit = (x_train[0] / 16.0).astype("float32")
    # Two filters, each a hand-designed initializer: the x derivative and the y derivative.
    detector = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(1, 3, padding="same", use_bias=False, kernel_initializer="sobel_x", name="sobel_x"),
    ])
    detector_y = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(1, 3, padding="same", use_bias=False, kernel_initializer="sobel_y", name="sobel_y"),
    ])
    gx = detector.predict(digit[None, :, :, None], verbose=0)[0, :, :, 0]
    gy = detector_y.predict(digit[None, :, :, None], verbose=0)[0, :, :, 0]
    magnitude = np.sqrt(gx ** 2 + gy ** 2)
    show("Sobel x kernel (Conv2D kernel_initializer='sobel_x')", detector.layers[0].kernel[:, :, 0, 0])
    show(f"digit {int(y_train[0])} (pixels x 16)", digit * 16)
    show("edge magnitude sqrt(gx^2 + gy^2)", magnitude)
    picture = save_sobel_picture(out_dir, digit, gx, gy, magnitude)
    return {"digit": digit, "gx": gx, "gy": gy, "magnitude": magnitude, "picture": picture}


def save_sobel_picture(out_dir, digit, gx, gy, magnitude):
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: skipping the picture (pip install 'tinyconv[viz]')")
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 4, figsize=(8, 2.3))
    panels = [(digit, "digit", "gray"), (gx, "Sobel x (vertical edges)", "RdBu_r"),
              (gy, "Sobel y (horizontal edges)", "RdBu_r"), (magnitude, "edge magnitude", "magma")]
    for axis, (image, title, cmap) in zip(axes, panels):
        limit = np.abs(image).max() or 1.0
        axis.imshow(image, cmap=cmap, interpolation="nearest",
                    vmin=-limit if cmap == "RdBu_r" else None, vmax=limit if cmap == "RdBu_r" else None)
        axis.set_title(title, fontsize=8)
        axis.axis("off")
    figure.tight_layout()
    path = os.path.join(out_dir, "sobel_digit.png")
    figure.savefig(path, dpi=80)
    plt.close(figure)
    print(f"saved {path}")
    return path


def stride_and_padding():
    print("\n== 3. Stride and padding on the lecture's 7x7 matrix, 3x3 kernel of ones ==")
    show("image", LECTURE_7X7)
    ones = np.ones((3, 3))
    results = {}
    for name, stride, padding in [("stride 1, no padding", 1, 0), ("stride 1, padding 1", 1, 1),
                                  ("stride 2, no padding", 2, 0), ("stride 3, no padding", 3, 0)]:
        output = conv_2d(LECTURE_7X7, ones, stride=stride, padding=padding)
        exact = (7 + 2 * padding - 3) / stride + 1
        print(f"\n{name}: (N + 2P - F) / S + 1 = (7 + {2 * padding} - 3) / {stride} + 1 = {exact:g}"
              + ("  -> not a whole number: the last cells do not fit, the output is floored"
                 if exact != int(exact) else ""))
        show(f"output", output)
        results[(stride, padding)] = output
    return results


def flip_example():
    print("\n== 4. Convolution vs cross-correlation ==")
    image = LECTURE_7X7[:4, :4]
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]])
    show("image", image)
    show("kernel w", kernel)
    show("flipped kernel w[kh-1-p, kw-1-q]", flip_kernel(kernel))
    correlation = cross_correlate2d(image, kernel)
    convolution = convolve2d(image, kernel)
    show("cross-correlation (what Conv2D computes)", correlation)
    show("true convolution (= cross-correlation with the flipped kernel)", convolution)
    symmetric = np.ones((3, 3))
    same = np.allclose(cross_correlate2d(image, symmetric), convolve2d(image, symmetric))
    print(f"with a flip-symmetric kernel (all ones) they agree: {same}")
    return {"correlation": correlation, "convolution": convolution, "symmetric_agree": same}


def dilation_example():
    print("\n== 5. A dilated 3x3 kernel (dilation 2) sees 5x5 with 9 weights ==")
    kernel = np.ones((3, 3))
    dilated = conv_2d(LECTURE_7X7, kernel, dilation=2)
    # The same thing spelled out: a 5x5 kernel with zeros between the taps.
    spread = np.zeros((5, 5))
    spread[::2, ::2] = kernel
    show("the 3x3 kernel spread out with holes (dilation 2)", spread)
    by_hand = conv_2d(LECTURE_7X7, spread)
    show("output of the dilated 3x3 on the 7x7 image", dilated)
    field = receptive_field([(3, 1, 2, 0)]).size
    print(f"equals the 5x5 kernel with holes: {np.array_equal(dilated, by_hand)}; receptive field {field}x{field}, "
          f"weights 9 (a dense 5x5 would have 25)")
    return {"output": dilated, "receptive_field": field}


def stacked_receptive_field():
    print("\n== 6. Three stacked 3x3 layers see 7x7 ==")
    field = receptive_field([(3, 1, 1, 0)] * 3)
    field.explain()
    seven = conv_cost(7, 1)
    three_threes = conv_cost(3, 1, layers=3)
    print(f"weights with C channels in and out: one 7x7 layer = {seven} C^2, three 3x3 layers = {three_threes} C^2 "
          f"(C = 64: {conv_cost(7, 64):,} against {conv_cost(3, 64, layers=3):,})")
    return {"receptive_field": field.size, "cost_7x7": seven, "cost_3x3x3": three_threes}


def separable_sobel():
    print("\n== 7. Sobel is separable: a column times a row ==")
    sobel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    column, row = factor_kernel(sobel)
    # The SVD splits the scale evenly between the two; rescale to the textbook's small integers.
    row, column = row * column[0], column / column[0]
    show("Sobel (lecture form)", sobel)
    print(f"column {np.round(column, 4).tolist()} x row {(np.round(row, 4) + 0.0).tolist()} "
          f"(outer product equals Sobel: {np.allclose(np.outer(column, row), sobel)})")
    x = LECTURE_7X7[None, :, :, None]
    two_passes = separable_conv2d(x, column, row)[0, :, :, 0]
    one_pass = conv_2d(LECTURE_7X7, sobel)
    cost = separable_cost(3)
    print(f"two 1-D passes == one 2-D pass on the 7x7 image: {np.allclose(two_passes, one_pass)}")
    print(f"multiplications per output pixel: full {cost['full']}, separable {cost['separable']}")
    return {"column": column, "row": row, "same": bool(np.allclose(two_passes, one_pass)), "cost": cost}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("examples", "output", "course_kernels"))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    np.set_printoptions(precision=3, suppress=True)
    return {
        "vertical_edge": vertical_edge_detector(),
        "sobel": sobel_on_digit(args.out),
        "stride_padding": stride_and_padding(),
        "flip": flip_example(),
        "dilation": dilation_example(),
        "stacked": stacked_receptive_field(),
        "separable": separable_sobel(),
    }


if __name__ == "__main__":
    main()
