"""``keras.layers``: the layers, under Keras's names (and its aliases)."""
from .base import Layer
from .conv import Conv2D, Convolution2D
from .conv_nd import Conv1D, Conv3D, Convolution1D, Convolution3D
from .conv_transpose import (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, Convolution1DTranspose,
                             Convolution2DTranspose, Convolution3DTranspose)
from .conv_variants import (DepthwiseConv2D, LocallyConnected1D, LocallyConnected2D, SeparableConv2D,
                            SeparableConvolution2D, TiledConv2D)
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, ReLU
from .merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                    maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization
from .normalization_more import GroupNormalization, LayerNormalization, LocalResponseNormalization
from .activation_layers import ELU, LeakyReLU, Maxout, PReLU, Softmax
from .noise import GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from .reshaping import Permute, RepeatVector, Reshape
from .embedding import Embedding
from .pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D
from .pooling_nd import (AveragePooling1D, AveragePooling3D, AvgPool1D, AvgPool3D, GlobalAveragePooling1D,
                         GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D, GlobalAvgPool2D,
                         GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D, GlobalMaxPooling1D,
                         GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool3D, MaxPooling1D, MaxPooling3D)
from .pooling_variants import LogSumExpPooling2D, LpPooling2D, MinPooling2D, WeightedPooling2D
from .resizing import (BedOfNailsUnpooling2D, Cropping1D, Cropping2D, Cropping3D, MaxUnpooling2D, UpSampling1D,
                       UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)


def serialize(layer):
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` dict of a layer."""
    from ..saving.serialization import serialize as _serialize

    return _serialize(layer)


def deserialize(config, custom_objects=None):
    """A layer from ``serialize``'s dict (or Keras's)."""
    from ..saving.serialization import deserialize as _deserialize

    return _deserialize(config, custom_objects)
