"""CIS 4190/5190, lecture 16: CNNs (lecture-cis5190-cnn.txt): its worked numbers, computed with tinyconv.

The deck's text has no slide numbers; each test names the slide by its title."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching.flops import model_cost

from .helpers import alexnet, as_batch, conv2d

# "Stride": the 2x2 filter, the input as printed (its border of zeros included) and both outputs.
STRIDE_FILTER = np.array([[1, 0], [0, 0.5]])
STRIDE_INPUT = np.array([[0, 0, 0, 0, 0, 0],
                         [0, 1, 0, 0.5, 0.5, 0],
                         [0, 0, 0.5, 1, 0, 0],
                         [0, 0, 1, 0.5, 1, 0],
                         [0, 1, 0.5, 0.5, 1, 0],
                         [0, 0, 0, 0, 0, 0]])
OUTPUT_STRIDE_1 = np.array([[0.5, 0, 0.25, 0.25, 0],
                            [0, 1.25, 0.5, 0.5, 0.5],
                            [0, 0.5, 0.75, 1.5, 0],
                            [0.5, 0.25, 1.25, 1, 1],
                            [0, 1, 0.5, 0.5, 1]])
OUTPUT_STRIDE_2 = np.array([[0.50, 0.25, 0.00],
                            [0.00, 0.75, 0.00],
                            [0.00, 0.50, 1.00]])

# "A Convolution Exercise": the image and the two filters.
AXES_IMAGE = np.array([[0, 1, 0, 1],
                       [0, 1, 0, 1],
                       [1, 1, 1, 1],
                       [0, -2, 0, -2]])
VERTICAL_LINES = np.array([[-0.5, 1, -0.5]] * 3)
HORIZONTAL_LINES = VERTICAL_LINES.T
# The deck's answer for the first filter (last "A Convolution Exercise" slide).
VERTICAL_OUTPUT = np.array([[2, -2], [-1, 1]])


def test_stride_one_and_two(kernel_set):
    """lecture-cis5190-cnn.txt, "Stride": the filter [[1, 0], [0, 0.5]] on the zero-bordered input gives the
    printed 5x5 output with stride 1 and 0.50 0.25 0.00 / 0.00 0.75 0.00 / 0.00 0.50 1.00 with stride 2."""
    np.testing.assert_allclose(conv2d(STRIDE_INPUT, STRIDE_FILTER), OUTPUT_STRIDE_1)
    np.testing.assert_allclose(conv2d(STRIDE_INPUT, STRIDE_FILTER, strides=2), OUTPUT_STRIDE_2)


def test_stride_example_as_zero_padding_of_the_inner_4x4():
    """lecture-cis5190-cnn.txt, "Stride" and "Zero-Padding": the printed input is a 4x4 image with one ring of
    zero padding; ZeroPadding2D(1) then the filter gives the same outputs."""
    padded = layers.ZeroPadding2D(1, dtype="float64")(as_batch(STRIDE_INPUT[1:-1, 1:-1]))[0, :, :, 0]
    np.testing.assert_array_equal(padded, STRIDE_INPUT)
    np.testing.assert_allclose(conv2d(STRIDE_INPUT[1:-1, 1:-1], STRIDE_FILTER, padding=1, strides=2), OUTPUT_STRIDE_2)


def test_filter_bank_parameters():
    """lecture-cis5190-cnn.txt, "Convolution Filter Bank Demo": 3 inputs, 2 outputs, 3x3x3 kernels, one bias
    each, stride 2, zero-padding 1: (3 x 3 x 3 + 1) x 2 = 56 parameters (on the demo's 5x5x3 input: 3x3x2)."""
    bank = layers.Conv2D(2, 3, strides=2, padding=1)
    assert bank(np.zeros((1, 5, 5, 3), "float32")).shape == (1, 3, 3, 2)
    assert bank.count_params() == (3 * 3 * 3 + 1) * 2 == 56


def test_cartesian_axes_exercise():
    """lecture-cis5190-cnn.txt, "A Convolution Exercise": no padding, stride 1; the first filter's output is
    [[2, -2], [-1, 1]] (the deck's answer). The second filter's answer slide is a lost figure; tinyconv gives
    [[-1, -0.5], [3.5, 4]]. "What happens if we run max-pooling on the filter outputs?": 2 and 4, both
    positive: the image holds a vertical and a horizontal line."""
    bank = layers.Conv2D(2, 3, use_bias=False, dtype="float64")
    x = as_batch(AXES_IMAGE)
    bank(x)
    bank.set_weights([np.stack([VERTICAL_LINES, HORIZONTAL_LINES], axis=-1)[:, :, None, :]])
    maps = bank(x)[0]
    np.testing.assert_array_equal(maps[:, :, 0], VERTICAL_OUTPUT)
    np.testing.assert_array_equal(maps[:, :, 1], [[-1, -0.5], [3.5, 4]])
    first_window = AXES_IMAGE[:3, :3] * VERTICAL_LINES  # the worked sum on the slide: 1 + 1 + 1 - 1/2 - 1/2 = 2
    assert first_window.sum() == 2
    pooled = layers.MaxPooling2D(2, dtype="float64")(maps[None])[0, 0, 0]
    np.testing.assert_array_equal(pooled, [2, 4])


def test_conv_batchnorm_pool_relu_orders_agree():
    """lecture-cis5190-cnn.txt, "Modern variants": Conv-BatchNorm-Maxpool-ReLU or Conv-BatchNorm-ReLU-Maxpool.
    ReLU is increasing, so it commutes with max pooling: the two blocks compute the same thing."""
    def block(order):
        conv = layers.Conv2D(4, 3, padding="same", kernel_initializer="he_normal", dtype="float64")
        parts = {"pool": layers.MaxPooling2D(2, dtype="float64"), "relu": layers.ReLU(dtype="float64")}
        return keras.Sequential([keras.Input((8, 8, 2), dtype="float64"), conv,
                                 layers.BatchNormalization(dtype="float64")] + [parts[name] for name in order])
    first, second = block(["pool", "relu"]), block(["relu", "pool"])
    second.set_weights(first.get_weights())
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 2))
    np.testing.assert_allclose(first(x, training=True), second(x, training=True), atol=1e-12)
    assert np.any(first(x, training=True) == 0)  # the ReLU does clip something


def test_convolution_is_shift_equivariant_and_pooling_shift_invariant():
    """lecture-cis5190-cnn.txt, "Convolve -> activation function -> pool -> normalize" (max pooling slide):
    convolution provides equivariance to shift, pooling invariance to (small) shifts."""
    image = np.zeros((8, 8))
    image[2, 2] = 1.0
    kernel = np.arange(9.0).reshape(3, 3)
    shifted = np.roll(image, (1, 1), axis=(0, 1))
    np.testing.assert_allclose(conv2d(shifted, kernel), np.roll(conv2d(image, kernel), (1, 1), axis=(0, 1)))
    pool = layers.MaxPooling2D(4, dtype="float64")
    np.testing.assert_array_equal(pool(as_batch(image)), pool(as_batch(shifted)))


def test_example_architectures_parameters_and_computation():
    """lecture-cis5190-cnn.txt, "Example architectures": AlexNet, 8 layers, ~60M params; VGG, 19 layers,
    ~140M params; ResNet, 152 layers, "Less computation in forward pass than VGGNet!", "Back to 60M params".
    (GoogleNet, 22 layers, ~5M params: tests/teaching/test_architectures.py checks teaching.googlenet - 22
    weight layers, 6,998,552 parameters, the paper's "12 times fewer than AlexNet" counted as 8.7.)"""
    alex = alexnet()
    weighted = [layer for layer in alex.layers if layer.count_params()]
    assert len(weighted) == 8 and [type(layer).__name__ for layer in weighted].count("Conv2D") == 5
    assert round(alex.count_params() / 1e6) == 61 and 60e6 < alex.count_params() < 61e6  # 60,965,224
    vgg19 = keras.applications.VGG19(weights=None)
    resnet152 = keras.applications.ResNet152(weights=None)
    assert vgg19.count_params() == 143_667_240 and round(vgg19.count_params(), -7) == 140_000_000
    assert resnet152.count_params() == 60_419_944 and round(resnet152.count_params(), -7) == 60_000_000
    vgg_macs, resnet_macs = model_cost(vgg19).total("macs"), model_cost(resnet152).total("macs")
    assert resnet_macs < 0.6 * vgg_macs  # 11.3 G against 19.6 G multiply-adds per 224x224 image


def test_bottleneck_block_saves_parameters():
    """lecture-cis5190-cnn.txt, "Residual block designs" (He et al.'s Figure 5, on 56x56 feature maps; the
    figure's widths, lost in the text, are 64-d for the basic block and 256-d for the bottleneck):
    1x1 (256 -> 64), 3x3 (64 -> 64), 1x1 (64 -> 256) has 69,632 weights, against 73,728 for two 3x3 64 -> 64
    layers and 1,179,648 for two 3x3 layers at 256-d."""
    def weights(channels_in, convs):
        model = keras.Sequential([keras.Input((56, 56, channels_in))] +
                                 [layers.Conv2D(c, k, padding="same", use_bias=False) for k, c in convs])
        assert model.output_shape[1:3] == (56, 56)  # zero-padded stride-1 convolutions keep the map size
        return model.count_params()
    assert weights(256, [(1, 64), (3, 64), (1, 256)]) == 69_632
    assert weights(64, [(3, 64), (3, 64)]) == 73_728
    assert weights(256, [(3, 256), (3, 256)]) == 1_179_648


@pytest.mark.parametrize("steps", [5])
def test_the_pytorch_training_loop_in_tinyconv(steps):
    """lecture-cis5190-cnn.txt, "Pytorch Training Loop": zero_grad / output = model(data) / loss / loss.backward()
    / optimizer.step(), in tinyconv's public names (examples/handwritten_training_loop.py spells it out)."""
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    rng = np.random.default_rng(0)
    data, target = rng.standard_normal((12, 6, 6, 1)).astype("float32"), rng.integers(0, 3, 12)
    losses = []
    for _ in range(steps):
        output = model(data, training=True)
        losses.append(loss_fn(target, output))
        model.backward(loss_fn.gradient(target, output))
        optimizer.apply(model.trainable_gradients(), model.trainable_weights)
    assert losses[-1] < losses[0]
