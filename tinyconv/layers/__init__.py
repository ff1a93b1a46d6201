"""``keras.layers``: the layers, under Keras's names (and its aliases)."""
from .. import serialization
from .base import Layer
from .conv import Conv1D, Conv2D, Conv3D, Convolution1D, Convolution2D, Convolution3D
from .conv_transpose import (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, Convolution1DTranspose,
                             Convolution2DTranspose, Convolution3DTranspose)
from .depthwise_separable import DepthwiseConv2D, SeparableConv2D, SeparableConvolution2D
from .locally_connected import LocallyConnected1D, LocallyConnected2D, TiledConv2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, ReLU
from .merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                    maximum, minimum, multiply, subtract)
from .normalization import (BatchNormalization, GroupNormalization, LayerNormalization,
                            LocalResponseNormalization)
from .activation_layers import ELU, LeakyReLU, Maxout, PReLU, Softmax
from .noise import GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from .reshaping import Permute, RepeatVector, Reshape
from .embedding import Embedding
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D,
                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .lambda_layer import Lambda
from . import op_layer  # noqa: F401  (ops on symbolic tensors become graph nodes)
from .pooling_variants import LogSumExpPooling2D, LpPooling2D, MinPooling2D, WeightedPooling2D
from .resizing import (BedOfNailsUnpooling2D, Cropping1D, Cropping2D, Cropping3D, MaxUnpooling2D, UpSampling1D,
                       UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .preprocessing import (CenterCrop, Normalization, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                            RandomRotation, RandomTranslation, RandomZoom, Rescaling, Resizing)


# Every layer class exported here, under each of its names (aliases too), is what layer configs may name.
serialization.register("layers", {name: value for name, value in list(globals().items())
                                  if isinstance(value, type) and issubclass(value, Layer)})


def serialize(layer):
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` dict of a layer."""
    return serialization.serialize(layer)


def deserialize(config, custom_objects=None):
    """A layer from ``serialize``'s dict (or Keras's)."""
    return serialization.deserialize(config, custom_objects)
