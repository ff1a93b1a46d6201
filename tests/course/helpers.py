"""Small helpers shared by the deck tests: a matrix through a real tinyconv layer, as a student would run it."""
import numpy as np

import tinyconv as keras
from tinyconv import layers


def as_batch(image):
    """A 2-D matrix -> a batch of one single-channel image, (1, H, W, 1), in float64."""
    return np.asarray(image, dtype=np.float64)[None, :, :, None]


def conv2d(image, kernel, strides=1, padding="valid", dilation_rate=1):
    """``image`` through a ``Conv2D`` (one filter, no bias) whose kernel is set to ``kernel``: what the layer
    computes, cross-correlation, as every deep-learning framework does."""
    kernel = np.asarray(kernel, dtype=np.float64)
    layer = layers.Conv2D(1, kernel.shape, strides=strides, padding=padding, dilation_rate=dilation_rate,
                          use_bias=False, dtype="float64")
    x = as_batch(image)
    layer(x)  # builds the layer
    layer.set_weights([kernel[:, :, None, None]])
    return layer(x)[0, :, :, 0]


def pool2d(layer, image):
    """``image`` through a pooling layer (float64), back as a 2-D matrix."""
    return np.asarray(layer(as_batch(image)))[0, :, :, 0]


def built_params(layer, input_shape):
    """The parameter count of ``layer`` once built on inputs of ``input_shape`` (without the batch axis)."""
    layer(np.zeros((1,) + tuple(input_shape), "float32"))
    return layer.count_params()


def alexnet(input_size=227, groups=2):
    """AlexNet as in Krizhevsky et al. (conv2, conv4, conv5 split over two GPUs: groups=2)."""
    return keras.Sequential([
        keras.Input((input_size, input_size, 3)),
        layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1"),
        layers.MaxPooling2D(3, strides=2),
        layers.Conv2D(256, 5, padding="same", groups=groups, activation="relu", name="conv2"),
        layers.MaxPooling2D(3, strides=2),
        layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3"),
        layers.Conv2D(384, 3, padding="same", groups=groups, activation="relu", name="conv4"),
        layers.Conv2D(256, 3, padding="same", groups=groups, activation="relu", name="conv5"),
        layers.MaxPooling2D(3, strides=2),
        layers.Flatten(),
        layers.Dense(4096, activation="relu", name="fc6"),
        layers.Dense(4096, activation="relu", name="fc7"),
        layers.Dense(1000, activation="softmax", name="fc8"),
    ])
