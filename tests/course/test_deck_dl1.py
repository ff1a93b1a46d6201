"""Deep Learning 1, lecture 8 (lecture-dl1-cnn.txt): its worked numbers, computed with tinyconv.

The deck's text has no slide numbers; each test names the slide by its title."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers

from .helpers import alexnet, as_batch, built_params, conv2d

# "Numerical Example": the 5x5 input (read from the right-hand panel, where no weights are overlaid),
# the 3x3 weight W and the 3x3 output, all copied from the slide (Dumoulin & Visin's example).
INPUT_5X5 = np.array([[3, 3, 2, 1, 0],
                      [0, 0, 1, 3, 1],
                      [3, 1, 2, 2, 3],
                      [2, 0, 0, 2, 2],
                      [2, 0, 0, 0, 1]])
WEIGHT_3X3 = np.array([[0, 1, 2],
                       [2, 2, 0],
                       [0, 1, 2]])
OUTPUT_3X3 = np.array([[12.0, 12.0, 17.0],
                       [10.0, 17.0, 19.0],
                       [9.0, 6.0, 14.0]])


def test_numerical_example_conv_output(kernel_set):
    """lecture-dl1-cnn.txt, "Numerical Example": W (k = 3) on the 5x5 input gives
    [[12, 12, 17], [10, 17, 19], [9, 6, 14]], with the compiled and with the reference kernels."""
    np.testing.assert_array_equal(conv2d(INPUT_5X5, WEIGHT_3X3), OUTPUT_3X3)


def test_numerical_example_two_shaded_locations():
    """lecture-dl1-cnn.txt, "Numerical Example": the weight overlaid on the top-left window (subscripts
    0 1 2 / 2 2 0 / 0 1 2) gives 12; on the bottom-right window it gives 14."""
    top_left = np.sum(INPUT_5X5[:3, :3] * WEIGHT_3X3)
    bottom_right = np.sum(INPUT_5X5[2:, 2:] * WEIGHT_3X3)
    output = conv2d(INPUT_5X5, WEIGHT_3X3)
    assert top_left == output[0, 0] == 12
    assert bottom_right == output[2, 2] == 14


def test_output_size_relationship():
    """lecture-dl1-cnn.txt, "Two-Dimensional Discrete Convolution": stride 1, no padding,
    h_out = w_out = h_in - k + 1 (5 - 3 + 1 = 3 in the numerical example)."""
    for h_in, k in [(5, 3), (7, 3), (32, 5), (6, 6)]:
        layer = layers.Conv2D(2, k)
        assert layer(np.zeros((1, h_in, h_in, 1), "float32")).shape == (1, h_in - k + 1, h_in - k + 1, 2)


def test_conv_with_d_out_two_repeats_the_process():
    """lecture-dl1-cnn.txt, "Discrete Convolution when d_out > 1": d_out = 2 is the d_out = 1 process twice,
    concatenated (stride 1, no padding). The second filter here is W flipped, an arbitrary choice."""
    second = WEIGHT_3X3[::-1, ::-1]
    layer = layers.Conv2D(2, 3, use_bias=False, dtype="float64")
    x = as_batch(INPUT_5X5)
    layer(x)
    layer.set_weights([np.stack([WEIGHT_3X3, second], axis=-1)[:, :, None, :].astype(float)])
    both = layer(x)[0]
    np.testing.assert_array_equal(both[:, :, 0], OUTPUT_3X3)
    np.testing.assert_array_equal(both[:, :, 1], conv2d(INPUT_5X5, second))


def test_mlp_on_a_flattened_image_needs_mn_plus_n_parameters():
    """lecture-dl1-cnn.txt, "Could we use MLPs for Images?": a 3-color 32x32 image is a vector in R^3072;
    a first layer of n neurons has mn + n parameters (m = 3072). n = 100 as in the CE 40717 deck's 100x3072."""
    m, n = 3072, 100
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Flatten(), layers.Dense(n)])
    assert model.layers[0].output_shape == (None, 3072)
    assert model.count_params() == m * n + n == 307_300


def test_average_pooling_is_a_convolution_with_constant_weights():
    """lecture-dl1-cnn.txt, "Pooling Layer", footnote 1: average pooling is a convolution with constant weight
    W = 1/k^2 and no bias (k = stride = 2 on the slide)."""
    pooled = np.asarray(layers.AveragePooling2D(2, dtype="float64")(as_batch(INPUT_5X5[:4, :4])))[0, :, :, 0]
    as_conv = conv2d(INPUT_5X5[:4, :4], np.full((2, 2), 1 / 2 ** 2), strides=2)
    np.testing.assert_allclose(pooled, as_conv)
    np.testing.assert_allclose(pooled, [[1.5, 1.75], [1.5, 1.5]])  # e.g. (3 + 3 + 0 + 0) / 4


def test_alexnet_neuron_counts():
    """lecture-dl1-cnn.txt, "Case Study: AlexNet" (the paper's Figure 2 caption): input 150,528-dimensional;
    neurons 253,440-186,624-64,896-64,896-43,264-4096-4096-1000.

    150,528 = 224 x 224 x 3, but the layer sizes need a 227 x 227 input (with 224, conv1 gives 54 x 54).
    The first number is the paper's well-known inconsistency: conv1 has 55 x 55 x 96 = 290,400 neurons, not
    253,440. The other seven match."""
    assert 224 * 224 * 3 == 150_528
    model = alexnet()
    counts = [int(np.prod(model.get_layer(name).output_shape[1:]))
              for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]]
    assert counts[1:] == [186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert counts[0] == 290_400 != 253_440
    assert keras.Sequential([keras.Input((224, 224, 3)), layers.Conv2D(96, 11, strides=4)]).output_shape == \
        (None, 54, 54, 96)


@pytest.mark.parametrize("shift", [(0, 0), (1, -1)])
def test_residual_connection_adds_the_input(shift):
    """lecture-dl1-cnn.txt, "Residual Connections": x_{l+1} = x_l + NN_l(x_l; theta_l), with NN_l a 3x3
    convolution ('same' padding keeps the shape) on the numerical example's input, shifted by ``shift``."""
    x = as_batch(np.roll(INPUT_5X5, shift, axis=(0, 1)))
    inputs = keras.Input((5, 5, 1), dtype="float64")
    block = layers.Conv2D(1, 3, padding="same", dtype="float64")
    model = keras.Model(inputs, layers.Add(dtype="float64")([inputs, block(inputs)]))
    np.testing.assert_allclose(model.predict(x, verbose=0), x + block(x))


def test_lenet5_parameter_count():
    """lecture-dl1-cnn.txt, "Case Study: LeNet-5" shows the architecture as a figure only; built here as
    COSC2779's Keras code builds it on LeNet's 32x32 input: 61,706 parameters
    (156 + 2,416 + 48,120 + 10,164 + 850)."""
    model = keras.Sequential([
        keras.Input((32, 32, 1)),
        layers.Conv2D(6, 5, activation="tanh"), layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"), layers.AveragePooling2D(2),
        layers.Flatten(), layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"),
        layers.Dense(10, activation="softmax"),
    ])
    assert [layer.count_params() for layer in model.layers if layer.count_params()] == [156, 2416, 48120, 10164, 850]
    assert model.count_params() == 61_706
    assert built_params(layers.Conv2D(6, 5), (32, 32, 1)) == 5 * 5 * 1 * 6 + 6
