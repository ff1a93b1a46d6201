"""``keras.layers``: the layers, under Keras's names (and its aliases)."""
from .base import Layer
from .conv import Conv2D, Convolution2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, ReLU
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D
