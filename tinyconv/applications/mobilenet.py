"""``keras.applications.mobilenet``: MobileNet (Howard et al., 2017), depthwise separable convolutions.

Each block is a 3x3 depthwise convolution (one filter per channel: where to look) and a 1x1 pointwise
convolution (how to mix the channels), each followed by batch normalisation and ReLU6.  ``alpha`` thins
every layer, ``depth_multiplier`` multiplies the depthwise outputs.  Layer names are Keras's (``conv1``,
``conv_dw_1``, ``conv_pw_1_bn``, ..., ``conv_preds``, ``predictions``).
"""
import logging

from ..layers import (BatchNormalization, Conv2D, DepthwiseConv2D, Dropout, GlobalAveragePooling2D, ReLU, Reshape,
                      Activation, ZeroPadding2D)
from . import _base, _files, imagenet_utils

logger = logging.getLogger(__name__)  # under the "tinyconv" logger

# (pointwise filters, stride) of the 13 depthwise separable blocks.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))
IMAGENET_ALPHAS = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
IMAGENET_SIZES = (128, 160, 192, 224)


def separable_block(x, filters, alpha, depth_multiplier, stride, block_id):
    """Depthwise 3x3 (stride 1 "same", or stride 2 after a bottom-right pad) then pointwise 1x1."""
    if stride == 2:
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                        strides=(stride, stride), use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = BatchNormalization(name=f"conv_dw_{block_id}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
               name=f"conv_pw_{block_id}")(x)
    x = BatchNormalization(name=f"conv_pw_{block_id}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights="imagenet",
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """The MobileNet network, with Keras's layer names and weight order.

    Args:
        input_shape: ``(rows, cols, 3)``, rows and cols at least 32.  Default: ``(224, 224, 3)`` with the top,
            ``(None, None, 3)`` without.  ImageNet weights exist for square inputs of 128, 160, 192 and 224
            (any other size loads the 224 weights).
        alpha: the width multiplier: every layer has ``alpha`` times the filters (0.25, 0.5, 0.75 or 1.0 with
            ImageNet weights).
        depth_multiplier: depthwise outputs per input channel (1 with ImageNet weights).
        dropout: the dropout rate before the classifier.
        include_top: whether to end with the classifier (a 1x1 convolution ``conv_preds`` on the pooled
            features).
        weights: None (random initialization), ``"imagenet"`` (Keras's published file, looked for in Keras's
            cache ``~/.keras/models`` and downloaded when missing) or the path of a weights file.
        input_tensor: a symbolic tensor (from ``tinyconv.Input``) to build the network on.
        pooling: without the top: None (a 4D feature map), ``"avg"`` or ``"max"`` (global pooling).
        classes: the number of classes of the top (1000 with ImageNet weights).
        classifier_activation: the top's activation; None gives the logits.
        name: the model's name; default ``mobilenet_{alpha:0.2f}_{rows}``.

    Returns:
        A functional ``tinyconv.Model``.

    Raises:
        ValueError: for arguments Keras refuses (an ``alpha`` or ``depth_multiplier`` without ImageNet weights
            when asking for them, ``classes != 1000`` with ImageNet weights and the top, ...).
        FileNotFoundError: ``weights="imagenet"`` offline with no cached copy (the message names the file
            and the folder to put it in).

    Example:

    >>> model = MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=10)
    >>> model.name, model.output_shape, model.count_params()
    ('mobilenet_0.25_32', (None, 10), 221114)
    """
    _base.check_weights(weights, "MobileNet")
    _base.check_classes(weights, include_top, classes, "MobileNet")
    _base.check_pooling(pooling, "MobileNet")
    input_shape = _base.tensor_input_shape(input_shape, input_tensor)
    # the default size (and the ImageNet file) follows a square input of a size Keras publishes weights for
    default_size = 224
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] == input_shape[1] \
            and input_shape[0] in IMAGENET_SIZES:
        default_size = input_shape[0]
    input_shape = _base.input_shape_for(input_shape, default_size, 32, include_top, weights, "MobileNet")
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(f"MobileNet: ImageNet weights exist for depth_multiplier=1 only, got "
                             f"depth_multiplier={depth_multiplier}")
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError(f"MobileNet: ImageNet weights exist for alpha 0.25, 0.5, 0.75 and 1.0 only, got "
                             f"alpha={alpha}")
        if rows != cols or rows not in IMAGENET_SIZES:
            logger.warning("MobileNet: ImageNet weights exist for square inputs of 128, 160, 192, 224; loading the "
                           "224x224 weights for input_shape %s", input_shape)
            rows = 224  # as Keras: the 224 weights serve every other size
    x, inputs = _base.image_input(input_shape, input_tensor, "MobileNet")
    x = Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1")(x)
    x = BatchNormalization(name="conv1_bn")(x)
    x = ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = separable_block(x, filters, alpha, depth_multiplier, stride, block_id)
    if include_top:
        _base.check_activation(classifier_activation, weights, "MobileNet")
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        x = Activation(classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    published = None
    if weights == "imagenet":
        file_name = f"mobilenet_{IMAGENET_ALPHAS[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
        published = (file_name, f"{_files.KERAS_APPLICATIONS_URL}mobilenet/{file_name}", None)
    return _base.finish(inputs, x, name, weights, published)


def preprocess_input(x, data_format=None):
    """MobileNet's input: pixels scaled to [-1, 1] (``x / 127.5 - 1``, ``"tf"`` mode).

    Example:

    >>> preprocess_input(np.array([[[0.0, 127.5, 255.0]]]))
    array([[[-1.,  0.,  1.]]])
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["MobileNet", "decode_predictions", "preprocess_input"]
