"""COSC2779, Convolutional Neural Networks (lecture-cosc2779-cnn.txt): its worked numbers, computed with tinyconv.

The deck's text has no slide numbers; each test names the slide by its title (or section)."""
import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPool2D
from tinyconv.teaching import receptive_field
from tinyconv.teaching.flops import layer_cost

from .helpers import as_batch, built_params, conv2d, pool2d

# "2D Convolution in Traditional Computer Vision": the 6x6 image patch and the Sobel kernel.
PATCH_6X6 = np.array([[0.8, 0.74, 0.6, 0.5, 0.47, 0.55],
                      [0.81, 0.73, 0.58, 0.45, 0.41, 0.46],
                      [0.81, 0.73, 0.58, 0.43, 0.35, 0.38],
                      [0.81, 0.73, 0.58, 0.43, 0.31, 0.31],
                      [0.82, 0.73, 0.61, 0.44, 0.29, 0.27],
                      [0.83, 0.75, 0.62, 0.44, 0.27, 0.25]])
SOBEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
# The deck's 4x4 output, as printed on the third slide of that title.
SOBEL_OUTPUT = np.array([[-0.89, -1.09, -0.71, 0.02],
                         [-0.92, -1.18, -0.91, -0.2],
                         [-0.9, -1.2, -1.11, -0.44],
                         [-0.87, -1.21, -1.26, -0.63]])
# The pixels are printed rounded to 2 decimals (+-0.005 each); |weights| sum to 8, so each printed output may
# differ from the one the rounded pixels give by up to 8 * 0.005 = 0.04.
ROUNDING = 8 * 0.005

# "2D Convolution", "Padding", "Stride", "2D Pooling": the 7x7 image.
IMAGE_7X7 = np.array([[1, 6, 2, 8, 1, 2, 7],
                      [1, 6, 2, 8, 1, 2, 5],
                      [0, 5, 8, 1, 5, 7, 1],
                      [1, 7, 1, 3, 5, 8, 0],
                      [5, 2, 4, 4, 5, 8, 4],
                      [8, 2, 3, 7, 3, 8, 2],
                      [1, 2, 3, 6, 5, 9, 6]])
ONES_3X3 = np.ones((3, 3))


def test_sobel_patch_is_a_true_convolution():
    """lecture-cosc2779-cnn.txt, "2D Convolution in Traditional Computer Vision": the Sobel kernel on the 6x6
    patch gives -0.89 -1.09 -0.71 0.02 / ... / -0.87 -1.21 -1.26 -0.63. The slide's formula
    I_o(i, j) = sum w_{p,q} I_in(i - p, j - q) is a true convolution: Conv2D (a cross-correlation) gives it
    with the kernel flipped, and the same numbers with the opposite sign with the kernel as printed."""
    flipped = conv2d(PATCH_6X6, SOBEL[::-1, ::-1])
    as_printed = conv2d(PATCH_6X6, SOBEL)
    np.testing.assert_allclose(flipped, SOBEL_OUTPUT, atol=ROUNDING)
    np.testing.assert_allclose(as_printed, -SOBEL_OUTPUT, atol=ROUNDING)
    assert round(float(flipped[0, 0]), 2) == -0.89 and round(float(flipped[1, 1]), 2) == -1.18
    # The same with tinyconv's hand-designed initializer, cross-correlating as Conv2D does.
    layer = Conv2D(1, 3, use_bias=False, kernel_initializer="sobel_x", dtype="float64")
    np.testing.assert_allclose(np.abs(layer(as_batch(PATCH_6X6))[0, :, :, 0]), np.abs(SOBEL_OUTPUT), atol=ROUNDING)


def test_six_weights_and_two_biases_against_a_fully_connected_network():
    """lecture-cosc2779-cnn.txt, "Parameter Sharing" (last slide): two stacked convolutions over 5 neurons
    (kernel 3) have 6 weights and 2 biases, against (25 + 5) + (25 + 5) in a fully connected network with the
    same number of neurons."""
    conv = keras.Sequential([keras.Input((5, 1)), layers.Conv1D(1, 3, padding="same"),
                             layers.Conv1D(1, 3, padding="same")])
    dense = keras.Sequential([keras.Input((5,)), layers.Dense(5), layers.Dense(5)])
    assert conv.output_shape == (None, 5, 1)
    assert sum(w.size for w in conv.get_weights() if w.ndim == 3) == 6 and conv.count_params() == 8
    assert dense.count_params() == (25 + 5) + (25 + 5) == 60


def test_all_ones_kernel_on_the_7x7_image():
    """lecture-cosc2779-cnn.txt, "2D Convolution": all weights 1, the first outputs are 31 46 36."""
    output = conv2d(IMAGE_7X7, ONES_3X3)
    assert output.shape == (5, 5)
    np.testing.assert_array_equal(output[0, :3], [31, 46, 36])


def test_zero_padding_keeps_the_size():
    """lecture-cosc2779-cnn.txt, "Padding": with one ring of zeros the output is 7x7 like the input; its corner
    is 14 and the next row begins 31 46 36 one cell in."""
    output = conv2d(IMAGE_7X7, ONES_3X3, padding="same")
    assert output.shape == (7, 7)
    assert output[0, 0] == 14
    np.testing.assert_array_equal(output[1, 1:4], [31, 46, 36])
    padded = layers.ZeroPadding2D(1, dtype="float64")(as_batch(IMAGE_7X7))[0, :, :, 0]
    assert padded.shape == (9, 9)  # the slide's padded grid prints 10 columns: an extra column of zeros
    np.testing.assert_array_equal(conv2d(padded, ONES_3X3), output)


def test_stride_two():
    """lecture-cosc2779-cnn.txt, stride slide ("The stride of 2 will be used"): the first row is 31 36."""
    output = conv2d(IMAGE_7X7, ONES_3X3, strides=2)
    assert output.shape == (3, 3)
    np.testing.assert_array_equal(output[0, :2], [31, 36])


def test_max_pooling_2x2_stride_2():
    """lecture-cosc2779-cnn.txt, "2D Pooling": 2x2 pooling with stride 2 on the 7x7 image: 6 8 2 / 7 ...
    (the last row and column do not fill a window and are dropped: a 3x3 output)."""
    output = pool2d(MaxPool2D(pool_size=(2, 2), strides=None, padding="valid", data_format=None, dtype="float64"),
                    IMAGE_7X7)
    assert output.shape == (3, 3)
    np.testing.assert_array_equal(output[0], [6, 8, 2])
    assert output[1, 0] == 7


def test_conv2d_signature_as_printed():
    """lecture-cosc2779-cnn.txt, "Multiple Layers": tf.keras.layers.Conv2D(filters, kernel_size, strides=(1, 1),
    padding='valid', data_format=None, dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
    kernel_initializer='glorot_uniform', bias_initializer='zeros', kernel_regularizer=None, bias_regularizer=None,
    activity_regularizer=None, kernel_constraint=None, bias_constraint=None) runs as printed and those are
    tinyconv's defaults; [B, H1, W1, C1] -> [B, H1, W1, C2] with 'same' padding."""
    printed = Conv2D(8, 3, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1), groups=1,
                     activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                     kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                     bias_constraint=None)
    defaults = Conv2D(8, 3)
    without_name = [{k: v for k, v in layer.get_config().items() if k != "name"} for layer in (printed, defaults)]
    assert without_name[0] == without_name[1]
    same = Conv2D(16, 3, padding="same")
    assert same(np.zeros((4, 10, 12, 3), "float32")).shape == (4, 10, 12, 16)
    pool = MaxPool2D(pool_size=(2, 2), strides=None, padding="valid", data_format=None)
    assert pool.get_config()["strides"] == (2, 2)  # strides=None means the pool size


def test_lenet_as_printed():
    """lecture-cosc2779-cnn.txt, the LeNet slide: the Keras code as printed (tf.keras -> tinyconv), on LeNet's
    32x32x1 input (``input_shape`` is not defined on the slide): 61,706 parameters, 10 softmax outputs."""
    input_shape = (32, 32, 1)
    model = keras.Sequential()
    model.add(Conv2D(6, kernel_size=(5, 5), strides=(1, 1), activation='tanh', input_shape=input_shape,
                     padding="valid"))
    model.add(AveragePooling2D(pool_size=(2, 2), strides=(2, 2), padding='valid'))
    model.add(Conv2D(16, kernel_size=(5, 5), strides=(1, 1), activation='tanh', padding='valid'))
    model.add(AveragePooling2D(pool_size=(2, 2), strides=(2, 2), padding='valid'))
    model.add(Flatten())
    model.add(Dense(120, activation='tanh'))
    model.add(Dense(84, activation='tanh'))
    model.add(Dense(10, activation='softmax'))
    assert model.count_params() == 61_706
    assert [layer.output_shape for layer in model.layers][:5] == [(None, 28, 28, 6), (None, 14, 14, 6),
                                                                 (None, 10, 10, 16), (None, 5, 5, 16), (None, 400)]
    probabilities = model.predict(np.zeros((2,) + input_shape, "float32"), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_receptive_field_grows_with_depth_and_with_dilation():
    """lecture-cosc2779-cnn.txt, "Variants of the Basic Convolution": with 3x3 convolutions the receptive
    field grows with depth (3, 5, 7); a dilated convolution "delivers a wider field of view at the same
    computational cost"."""
    field = receptive_field([(3, 1, 1, 0)] * 3)
    assert [row["receptive_field"] for row in field.as_dict()["layers"]] == [3, 5, 7]
    assert receptive_field([(3, 1, 2, 0)]).size == 5
    plain, dilated = Conv2D(4, 3, padding="same"), Conv2D(4, 3, padding="same", dilation_rate=2)
    for layer in (plain, dilated):
        layer(np.zeros((1, 9, 9, 2), "float32"))
    assert plain.count_params() == dilated.count_params() == built_params(Conv2D(4, 3), (9, 9, 2))
    assert layer_cost(plain) == layer_cost(dilated)


def test_strided_convolution_replaces_convolution_and_pooling():
    """lecture-cosc2779-cnn.txt, "Variants of the Basic Convolution": strided convolutions can replace
    convolution + pooling (the same output size); transposed convolution goes back up."""
    with_pool = keras.Sequential([keras.Input((8, 8, 1)), Conv2D(4, 3, padding="same"), MaxPool2D(2)])
    strided = keras.Sequential([keras.Input((8, 8, 1)), Conv2D(4, 3, strides=2, padding="same")])
    assert with_pool.output_shape == strided.output_shape == (None, 4, 4, 4)
    up = keras.Sequential([keras.Input((4, 4, 4)), layers.Conv2DTranspose(1, 3, strides=2, padding="same")])
    assert up.output_shape == (None, 8, 8, 1)
