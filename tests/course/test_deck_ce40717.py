"""CE 40717, Machine Learning: CNNs (lecture-ce40717-cnn.txt): its worked numbers, computed with tinyconv.

The deck's text has no slide numbers; each test names the slide by its title (the deck numbers some titles,
"Convolution process (2)" ... "(10)")."""
import math

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import conv_cost, receptive_field

from .helpers import as_batch, built_params, conv2d, pool2d

# "Convolution process (1)" - "(10)": the filter, the 5x5 image and the convolved feature, step by step.
FILTER = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
IMAGE_5X5 = np.array([[1, 1, 1, 0, 0],
                      [0, 1, 1, 1, 0],
                      [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0],
                      [0, 1, 1, 0, 0]])
CONVOLVED_FEATURE = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_convolution_process_output():
    """lecture-ce40717-cnn.txt, "Convolution process (10)": the 5x5x1 image with the 3x3x1 kernel gives the
    3x3x1 convolved feature 4 3 4 / 2 4 3 / 2 3 4."""
    np.testing.assert_array_equal(conv2d(IMAGE_5X5, FILTER), CONVOLVED_FEATURE)


@pytest.mark.parametrize("step", range(9))
def test_convolution_process_step_by_step(step):
    """lecture-ce40717-cnn.txt, "Convolution process (2)" - "(10)": slide 2 + step fills cell ``step`` of the
    convolved feature (raster order) with sum_{a,b} I(i + a, j + b) K(a, b) over the highlighted window."""
    i, j = divmod(step, 3)
    by_formula = sum(IMAGE_5X5[i + a, j + b] * FILTER[a, b] for a in range(3) for b in range(3))
    assert by_formula == CONVOLVED_FEATURE[i, j] == conv2d(IMAGE_5X5, FILTER)[i, j]


def test_activation_map_size():
    """lecture-ce40717-cnn.txt, "Convolution outlook (1)": an n x m x b image and an n' x m' x b filter give an
    (n - n' + 1) x (m - m' + 1) x 1 activation map per filter."""
    n, m, b, n_, m_ = 9, 7, 3, 4, 2
    layer = layers.Conv2D(1, (n_, m_))
    assert layer(np.zeros((1, n, m, b), "float32")).shape == (1, n - n_ + 1, m - m_ + 1, 1)
    assert layer.kernel.shape == (n_, m_, b, 1)


@pytest.mark.parametrize("stride, deck_size, tinyconv_size", [(1, 5, 5), (2, 3, 3), (3, 7 / 3, 2)])
def test_strides_formula(stride, deck_size, tinyconv_size):
    """lecture-ce40717-cnn.txt, "Strides Formula": N = 7, F = 3: stride 1 -> 5, stride 2 -> 3,
    stride 3 -> (7 - 3) / 3 + 1 = 2.33 "!!!". Keras (and tinyconv) floor it: the last column does not fit."""
    assert (7 - 3) / stride + 1 == pytest.approx(deck_size)
    output = conv2d(np.ones((7, 7)), np.ones((3, 3)), strides=stride)
    assert output.shape == (tinyconv_size, tinyconv_size) == (math.floor(deck_size),) * 2


def test_stride_three_leaves_the_last_column_unused():
    """lecture-ce40717-cnn.txt, "Strides Formula": with stride 3 the windows start at 0 and 3, so column 6
    never enters the output: changing it changes nothing."""
    image = np.arange(49.0).reshape(7, 7)
    changed = image.copy()
    changed[:, 6] += 100
    changed[6, :] += 100
    ones = np.ones((3, 3))
    np.testing.assert_array_equal(conv2d(image, ones, strides=3), conv2d(changed, ones, strides=3))


@pytest.mark.parametrize("size", [1, 2, 3])
def test_pixel_utilization(size):
    """lecture-ce40717-cnn.txt, "Problem (1)": pixel utilization for convolutions of size 1x1, 2x2 and 3x3
    (the figure's image size is lost; 7x7 here, the deck's stride examples' size). How often a pixel is used is
    dL/dx of the sum of the outputs with a kernel of ones: borders are used least, corners once, the middle
    size^2 times; per axis, min(i + 1, F, N - i, N - F + 1)."""
    n = 7
    layer = layers.Conv2D(1, size, use_bias=False, kernel_initializer="ones", dtype="float64")
    x = np.ones((1, n, n, 1))
    layer(x)
    used = layer.backward(np.ones_like(layer.forward(x, training=True)))[0, :, :, 0]
    per_axis = np.array([min(i + 1, size, n - i, n - size + 1) for i in range(n)])
    np.testing.assert_array_equal(used, np.outer(per_axis, per_axis))
    assert used[0, 0] == 1 and used[n // 2, n // 2] == size ** 2


def test_padding_formula_examples():
    """lecture-ce40717-cnn.txt, "Example-1": input 32x32x3, 10 5x5 filters, stride 1, pad 2:
    (32 + 2 x 2 - 5) / 1 + 1 = 32, so 32x32x10. "Example-2": 5*5*3 + 1 = 76 parameters per filter, 760 in all."""
    layer = layers.Conv2D(10, 5, strides=1, padding=2)
    assert layer(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 32, 32, 10)
    assert (32 + 2 * 2 - 5) // 1 + 1 == 32
    assert layer.count_params() == 760 == 76 * 10


@pytest.mark.parametrize("f, s, p", [(3, 1, 1), (5, 1, 2), (1, 1, 0)])
def test_common_settings_keep_the_size(f, s, p):
    """lecture-ce40717-cnn.txt, "Parameter setting (1)": the common settings F = 3, S = 1, P = 1; F = 5, S = 1,
    P = 2; F = 1, S = 1, P = 0 keep W2 = (W1 - F + 2P) / S + 1 = W1, and D2 = K."""
    w1, k = 13, 32
    layer = layers.Conv2D(k, f, strides=s, padding=p)
    assert layer(np.zeros((1, w1, w1, 3), "float32")).shape == (1, (w1 - f + 2 * p) // s + 1, w1, k)


def test_parameters_per_layer():
    """lecture-ce40717-cnn.txt, "Parameter setting (2)": (F * F * D1) * K weights and K biases."""
    f, d1, k = 5, 3, 10
    layer = layers.Conv2D(k, f)
    layer(np.zeros((1, 9, 9, d1), "float32"))
    assert layer.kernel.size == f * f * d1 * k and layer.bias.size == k


@pytest.mark.parametrize("n, s", [(7, 2), (8, 3), (5, 5), (10, 4)])
def test_same_padding_gives_ceil_n_over_s(n, s):
    """lecture-ce40717-cnn.txt, "Padding (2)": for stride > 1, padding makes the output ceil(N / S), with
    P = S * ceil(N / S) - N. That P is right when the filter is as wide as the stride (F = S); in general
    'same' (Keras, tinyconv) pads (ceil(N / S) - 1) * S + F - N, which is the deck's P + (F - S)."""
    out = math.ceil(n / s)
    deck_p = s * out - n
    image = np.arange(n * n, dtype=float).reshape(n, n)
    for f in sorted({s, 3}):
        needed = max(deck_p + f - s, 0)  # = (ceil(N / S) - 1) * S + F - N
        output = conv2d(image, np.ones((f, f)), strides=s, padding="same")
        assert output.shape == (out, out)
        padded = layers.ZeroPadding2D(((needed // 2, needed - needed // 2),) * 2, dtype="float64")(as_batch(image))
        np.testing.assert_array_equal(output, conv2d(padded[0, :, :, 0], np.ones((f, f)), strides=s))
    assert max(deck_p + s - s, 0) == deck_p  # F = S: the deck's P is what 'same' pads
    # The counter-example: N = 7, S = 2, F = 3: the deck's P = 1 gives (7 + 1 - 3) // 2 + 1 = 3, not ceil(7/2) = 4.
    assert (7 + 1 - 3) // 2 + 1 == 3 != math.ceil(7 / 2)


@pytest.mark.parametrize("f", [2, 3, 4, 5])
def test_same_padding_split_for_odd_and_even_filters(f):
    """lecture-ce40717-cnn.txt, "Padding (2)": odd F pads (F - 1) / 2 on both sides; even F pads F / 2 on one
    side and F / 2 - 1 on the other (Keras and tinyconv: the extra one after); the padded width is N + F - 1."""
    n = 6
    before, after = ((f - 1) // 2, (f - 1) // 2) if f % 2 else (f // 2 - 1, f // 2)
    assert n + before + after == n + f - 1
    image = np.arange(n * n, dtype=float).reshape(n, n)
    kernel = np.arange(f * f, dtype=float).reshape(f, f)
    padded = layers.ZeroPadding2D(((before, after), (before, after)), dtype="float64")(as_batch(image))[0, :, :, 0]
    np.testing.assert_allclose(conv2d(image, kernel, padding="same"), conv2d(padded, kernel))


def test_pooling_output_size_and_parameters():
    """lecture-ce40717-cnn.txt, pooling "Parameter setting (1)" and "(2)": the deck gives ceil((N - P) / S) + 1
    on one slide and (W1 - F) / S + 1 on the next; Keras (and tinyconv) floor, so 7x7 with 2x2, stride 2 gives
    3x3 (as COSC2779's pooling slide shows), where the ceiling would give 4. Zero parameters; D2 = D1."""
    layer = layers.MaxPooling2D(2, strides=2)
    assert layer(np.zeros((1, 7, 7, 5), "float32")).shape == (1, 3, 3, 5)
    assert (7 - 2) // 2 + 1 == 3 and math.ceil((7 - 2) / 2) + 1 == 4
    assert layer.count_params() == 0
    assert layers.MaxPooling2D(2, strides=2, padding="same")(np.zeros((1, 7, 7, 5), "float32")).shape == (1, 4, 4, 5)


def test_min_max_average_pooling():
    """lecture-ce40717-cnn.txt, "Pooling type (1)": max, min and average of each patch (2x2, stride 2), here on
    the convolution-process image's top-left 4x4."""
    image = IMAGE_5X5[:4, :4].astype(float)
    assert pool2d(layers.MaxPooling2D(2, dtype="float64"), image).tolist() == [[1, 1], [0, 1]]
    assert pool2d(layers.MinPooling2D(2, dtype="float64"), image).tolist() == [[0, 0], [0, 1]]
    assert pool2d(layers.AveragePooling2D(2, dtype="float64"), image).tolist() == [[0.75, 0.75], [0, 1]]


def test_upsampling_four_ways():
    """lecture-ce40717-cnn.txt, "Nearest Neighbors", "Bi-Linear Interpolation", "Bed Of Nails",
    "Max-Unpooling": the figures' numbers are lost; on [[1, 2], [3, 4]] (and a 4x4 for max-unpooling)."""
    x = as_batch([[1, 2], [3, 4]])
    nearest = layers.UpSampling2D(2, dtype="float64")(x)[0, :, :, 0]
    np.testing.assert_array_equal(nearest, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    bilinear = layers.UpSampling2D(2, interpolation="bilinear", dtype="float64")(x)[0, :, :, 0]
    assert bilinear[0, 0] == 1 and bilinear[-1, -1] == 4 and 1 < bilinear[1, 1] < 4
    nails = layers.BedOfNailsUnpooling2D(2, dtype="float64")(x)[0, :, :, 0]
    np.testing.assert_array_equal(nails, [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
    pool = layers.MaxPooling2D(2, dtype="float64")
    features = as_batch([[1, 5, 2, 0], [3, 0, 0, 7], [0, 0, 6, 0], [4, 0, 0, 0]])
    unpooled = layers.MaxUnpooling2D(pool, dtype="float64")(pool(features))[0, :, :, 0]
    np.testing.assert_array_equal(unpooled, [[0, 5, 0, 0], [0, 0, 0, 7], [0, 0, 6, 0], [4, 0, 0, 0]])


def test_receptive_field_question():
    """lecture-ce40717-cnn.txt, "Question" / "Answer": three layers, K = 3, S = 1: 1 + (3 - 1) = 3, 3 + 2 = 5,
    5 + 2 = 7; "Receptive field (2)": 1 + L * (K - 1)."""
    rows = receptive_field([(3, 1)] * 3).as_dict()["layers"]
    assert [row["receptive_field"] for row in rows] == [3, 5, 7]
    model = keras.Sequential([keras.Input((16, 16, 1))] + [layers.Conv2D(1, 5) for _ in range(3)])
    assert keras.teaching.receptive_field_of(model).size == (1 + 3 * (5 - 1),) * 2


def test_power_of_small_filters():
    """lecture-ce40717-cnn.txt, "Power of small filters": one 7x7 layer has C x (7 x 7 x C) = 49 C^2 weights,
    three 3x3 layers 3 x C x (3 x 3 x C) = 27 C^2, for the same receptive field 7."""
    c = 16
    one = keras.Sequential([keras.Input((20, 20, c)), layers.Conv2D(c, 7, padding="same", use_bias=False)])
    three = keras.Sequential([keras.Input((20, 20, c))] +
                             [layers.Conv2D(c, 3, padding="same", use_bias=False) for _ in range(3)])
    assert one.count_params() == 49 * c ** 2 == conv_cost(7, c)
    assert three.count_params() == 27 * c ** 2 == conv_cost(3, c, layers=3)
    assert keras.teaching.receptive_field_of(one).size == keras.teaching.receptive_field_of(three).size == (7, 7)


def test_fully_connected_weights_on_a_flattened_image():
    """lecture-ce40717-cnn.txt, "FCNs on images": a 32x32x3 image reshaped to a vector, and a 100 x 3072
    weight matrix (one input-sized weight vector per hidden neuron)."""
    dense = layers.Dense(100, use_bias=False)
    dense(np.zeros((1, 32 * 32 * 3), "float32"))
    assert dense.kernel.shape == (3072, 100)  # Keras stores W^T: (inputs, units)


def test_backprop_through_max_pooling_routes_to_the_max():
    """lecture-ce40717-cnn.txt, "Backpropagation maxout (2)": dDiv/dY(k, l) = dDiv/dU(i, j) if (k, l) is the
    argmax P(i, j) of window (i, j), else 0."""
    y = as_batch([[1, 5, 2, 0], [3, 0, 0, 7], [0, 0, 6, 0], [4, 0, 0, 1]])
    pool = layers.MaxPooling2D(2, dtype="float64")
    pool(y)
    pool.forward(y, training=True)
    upstream = as_batch([[10, 20], [30, 40]])
    np.testing.assert_array_equal(pool.backward(upstream)[0, :, :, 0],
                                  [[0, 10, 0, 0], [0, 0, 0, 20], [0, 0, 40, 0], [30, 0, 0, 0]])


def test_backprop_shared_weights_sums_over_every_position():
    """lecture-ce40717-cnn.txt, "Backpropagation weights": each weight contributes to every output position,
    so dDiv/dw(k, l) = sum_{i,j} dDiv/dz(i, j) U(i + k, j + l); with dDiv/dz = 1, the window sums of the
    convolution-process image."""
    layer = layers.Conv2D(1, 3, use_bias=False, dtype="float64")
    x = as_batch(IMAGE_5X5)
    layer(x)
    layer.backward(np.ones_like(layer.forward(x, training=True)))
    expected = [[IMAGE_5X5[k:k + 3, l:l + 3].sum() for l in range(3)] for k in range(3)]
    np.testing.assert_array_equal(layer.grads["kernel"][:, :, 0, 0], expected)
    assert built_params(layers.Conv2D(1, 3, use_bias=False), (5, 5, 1)) == 9  # 9 weights for 9 positions
