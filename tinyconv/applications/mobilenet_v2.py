"""``keras.applications.mobilenet_v2``: MobileNetV2 (Sandler et al., 2018), inverted residual blocks.

Each block expands the channels with a 1x1 convolution (6x), filters them with a 3x3 depthwise
convolution, and projects them back with a linear 1x1 "bottleneck" (no ReLU: a ReLU on few channels
destroys information); when the shapes allow, the block's input is added back.  Batch normalisation uses
epsilon 1e-3 and momentum 0.999 throughout.  Layer names are Keras's (``Conv1``, ``bn_Conv1``,
``expanded_conv_depthwise``, ``block_1_expand``, ..., ``Conv_1``, ``out_relu``, ``predictions``).
"""
import logging

from ..layers import Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, GlobalAveragePooling2D, ReLU
from ..layers import ZeroPadding2D
from . import _base, _files, imagenet_utils

logger = logging.getLogger(__name__)  # under the "tinyconv" logger

# (output filters, stride, expansion) of the 17 inverted residual blocks, block_id 0..16.
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6))
IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)


def make_divisible(value, divisor=8):
    """The nearest multiple of ``divisor`` to ``value`` (at least ``divisor``), never 10% below it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _bn(x, name):
    return BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)(x)


def stride2_padding(size):
    """The zero padding around a "valid" stride-2 3x3 depthwise convolution along one axis: 1 after, and 1
    before only when the size is odd, so the output has ceil(size / 2) rows (Keras's ``correct_pad``; an
    unknown size is padded as an even one)."""
    before = 0 if size is None else size % 2
    return before, 1


def inverted_residual_block(x, filters, alpha, stride, expansion, block_id):
    in_channels = x.shape[-1]
    out_channels = make_divisible(int(filters * alpha), 8)
    inputs = x
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:  # the first block has expansion 1: nothing to expand
        x = Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                   name=f"{prefix}expand")(x)
        x = _bn(x, f"{prefix}expand_BN")
        x = ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = ZeroPadding2D(padding=(stride2_padding(x.shape[1]), stride2_padding(x.shape[2])), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                        padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = _bn(x, f"{prefix}depthwise_BN")
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = Conv2D(out_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
               name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project_BN")  # linear bottleneck: no activation
    if in_channels == out_channels and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    """The MobileNetV2 network, with Keras's layer names and weight order.

    Args:
        input_shape: ``(rows, cols, 3)``, rows and cols at least 32.  Default: ``(224, 224, 3)`` with the top,
            ``(None, None, 3)`` without.  ImageNet weights exist for square inputs of 96, 128, 160, 192 and
            224 (any other size loads the 224 weights).
        alpha: the width multiplier (0.35, 0.5, 0.75, 1.0, 1.3 or 1.4 with ImageNet weights); above 1 it
            also widens the last 1x1 convolution (1280 filters otherwise).
        include_top: whether to end with global average pooling and the ``predictions`` Dense layer.
        weights: None (random initialization), ``"imagenet"`` (Keras's published file, looked for in Keras's
            cache ``~/.keras/models`` and downloaded when missing) or the path of a weights file.
        input_tensor: a symbolic tensor (from ``tinyconv.Input``) to build the network on.
        pooling: without the top: None (a 4D feature map), ``"avg"`` or ``"max"`` (global pooling).
        classes: the number of classes of the top (1000 with ImageNet weights).
        classifier_activation: the top's activation; None gives the logits.
        name: the model's name; default ``mobilenetv2_{alpha:0.2f}_{rows}``.

    Returns:
        A functional ``tinyconv.Model``.

    Raises:
        ValueError: for arguments Keras refuses (an ``alpha`` without ImageNet weights when asking for them,
            ``classes != 1000`` with ImageNet weights and the top, ...).
        FileNotFoundError: ``weights="imagenet"`` offline with no cached copy (the message names the file
            and the folder to put it in).

    Example:

    >>> model = MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None, pooling="avg")
    >>> model.name, model.output_shape, model.count_params()
    ('mobilenetv2_0.35_96', (None, 1280), 410208)
    """
    _base.check_weights(weights, "MobileNetV2")
    _base.check_classes(weights, include_top, classes, "MobileNetV2")
    _base.check_pooling(pooling, "MobileNetV2")
    input_shape = _base.tensor_input_shape(input_shape, input_tensor)
    default_size = 224
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] == input_shape[1] \
            and input_shape[0] in IMAGENET_SIZES:
        default_size = input_shape[0]
    input_shape = _base.input_shape_for(input_shape, default_size, 32, include_top, weights, "MobileNetV2")
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError(f"MobileNetV2: ImageNet weights exist for alpha 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4 "
                             f"only, got alpha={alpha}")
        if rows != cols or rows not in IMAGENET_SIZES:
            logger.warning("MobileNetV2: ImageNet weights exist for square inputs of 96, 128, 160, 192, 224; "
                           "loading the 224x224 weights for input_shape %s", input_shape)
            rows = 224  # as Keras: the 224 weights serve every other size
    x, inputs = _base.image_input(input_shape, input_tensor, "MobileNetV2")
    x = Conv2D(make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
               name="Conv1")(x)
    x = _bn(x, "bn_Conv1")
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = inverted_residual_block(x, filters, alpha, stride, expansion, block_id)
    last_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _bn(x, "Conv_1_bn")
    x = ReLU(6.0, name="out_relu")(x)
    if include_top:
        _base.check_activation(classifier_activation, weights, "MobileNetV2")
        x = GlobalAveragePooling2D()(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    published = None
    if weights == "imagenet":
        file_name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
                     f"{'' if include_top else '_no_top'}.h5")
        published = (file_name, f"{_files.KERAS_APPLICATIONS_URL}mobilenet_v2/{file_name}", None)
    return _base.finish(inputs, x, name, weights, published)


def preprocess_input(x, data_format=None):
    """MobileNetV2's input: pixels scaled to [-1, 1] (``x / 127.5 - 1``, ``"tf"`` mode).

    Example:

    >>> preprocess_input(np.array([[[0.0, 127.5, 255.0]]]))
    array([[[-1.,  0.,  1.]]])
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["MobileNetV2", "decode_predictions", "preprocess_input"]
