"""``keras.applications.densenet``: DenseNet121, DenseNet169, DenseNet201 (Huang et al., 2017).

Inside a dense block every layer sees the concatenation of all the feature maps before it and adds 32 new
channels (the growth rate): BN-ReLU-1x1 conv (128 filters, the bottleneck) then BN-ReLU-3x3 conv (32).
Between blocks a transition halves the channels (BN-ReLU-1x1 conv) and the size (2x2 average pool).
Layer names are Keras's (``conv1_conv``, ``conv2_block1_0_bn``, ..., ``pool2_conv``, ``bn``,
``avg_pool``, ``predictions``); the two stem paddings are named automatically, as in Keras.
"""
from ..layers import (Activation, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Dense,
                      GlobalAveragePooling2D, MaxPooling2D, ZeroPadding2D)
from . import _base, _files, imagenet_utils

BN_EPSILON = 1.001e-5
GROWTH_RATE = 32
# Layers per dense block, and the md5 sums Keras publishes for each network's file (with the top, without).
BLOCKS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}
WEIGHTS_MD5 = {
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}


def _bn_relu(x, name):
    x = BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return Activation("relu", name=f"{name}_relu")(x)


def dense_layer(x, name):
    """BN-ReLU-1x1 (4 * growth) then BN-ReLU-3x3 (growth), concatenated onto everything before it."""
    new = _bn_relu(x, f"{name}_0")
    new = Conv2D(4 * GROWTH_RATE, 1, use_bias=False, name=f"{name}_1_conv")(new)
    new = _bn_relu(new, f"{name}_1")
    new = Conv2D(GROWTH_RATE, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(new)
    return Concatenate(axis=3, name=f"{name}_concat")([x, new])


def transition(x, name):
    """Halve the channels (1x1 conv) and the image (2x2 average pool)."""
    x = _bn_relu(x, name)
    x = Conv2D(int(x.shape[-1] * 0.5), 1, use_bias=False, name=f"{name}_conv")(x)
    return AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def build_densenet(family, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                   name):
    title = {"densenet121": "DenseNet121", "densenet169": "DenseNet169", "densenet201": "DenseNet201"}[family]
    _base.check_weights(weights, title)
    _base.check_classes(weights, include_top, classes, title)
    _base.check_pooling(pooling, title)
    input_shape = _base.input_shape_for(_base.tensor_input_shape(input_shape, input_tensor), 224, 32,
                                        include_top, weights, title)
    x, inputs = _base.image_input(input_shape, input_tensor, title)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)))(x)
    x = Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, "conv1")
    x = ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    blocks = BLOCKS[family]
    for index, layers_in_block in enumerate(blocks):
        for layer in range(1, layers_in_block + 1):
            x = dense_layer(x, f"conv{index + 2}_block{layer}")
        if index < len(blocks) - 1:
            x = transition(x, f"pool{index + 2}")
    x = BatchNormalization(epsilon=BN_EPSILON, name="bn")(x)
    x = Activation("relu", name="relu")(x)
    if include_top:
        _base.check_activation(classifier_activation, weights, title)
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling, avg_name="avg_pool", max_name="max_pool")
    file_name = f"{family}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    published = (file_name, f"{_files.KERAS_APPLICATIONS_URL}densenet/{file_name}",
                 WEIGHTS_MD5[family][0 if include_top else 1])
    return _base.finish(inputs, x, name, weights, published)


_ARGS_DOC = """
    Args:
        include_top: whether to end with global average pooling and the ``predictions`` Dense layer.
        weights: None (random initialization), ``"imagenet"`` (Keras's published file, looked for in Keras's
            cache ``~/.keras/models`` and downloaded when missing) or the path of a weights file.
        input_tensor: a symbolic tensor (from ``tinyconv.Input``) to build the network on.
        input_shape: ``(rows, cols, 3)``, rows and cols at least 32; with the top and ImageNet weights it must
            be ``(224, 224, 3)``.  Default: that with the top, ``(None, None, 3)`` without.
        pooling: without the top: None (a 4D feature map), ``"avg"`` or ``"max"`` (global pooling).
        classes: the number of classes of the top (1000 with ImageNet weights).
        classifier_activation: the top's activation; None gives the logits.
        name: the model's name.

    Returns:
        A functional ``tinyconv.Model``.

    Raises:
        ValueError: for arguments Keras refuses (a missing weights file, ``classes != 1000`` with ImageNet
            weights and the top, an input smaller than 32x32, ...).
        FileNotFoundError: ``weights="imagenet"`` offline with no cached copy (the message names the file
            and the folder to put it in).
"""


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet121"):
    return build_densenet("densenet121", include_top, weights, input_tensor, input_shape, pooling, classes,
                          classifier_activation, name)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet169"):
    return build_densenet("densenet169", include_top, weights, input_tensor, input_shape, pooling, classes,
                          classifier_activation, name)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet201"):
    return build_densenet("densenet201", include_top, weights, input_tensor, input_shape, pooling, classes,
                          classifier_activation, name)


DenseNet121.__doc__ = """The DenseNet121 network (dense blocks of 6, 12, 24 and 16 layers), with Keras's names
and weight order.
""" + _ARGS_DOC + """
    Example:

    >>> model = DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output_shape, model.count_params()
    ((None, 1024), 7037504)
"""
DenseNet169.__doc__ = """The DenseNet169 network (dense blocks of 6, 12, 32 and 32 layers), with Keras's names
and weight order.
""" + _ARGS_DOC + """
    Example:

    >>> DenseNet169(weights=None, include_top=False, pooling="avg").output_shape
    (None, 1664)
"""
DenseNet201.__doc__ = """The DenseNet201 network (dense blocks of 6, 12, 48 and 32 layers), with Keras's names
and weight order.
""" + _ARGS_DOC + """
    Example:

    >>> DenseNet201(weights=None, include_top=False, pooling="avg").output_shape
    (None, 1920)
"""


def preprocess_input(x, data_format=None):
    """DenseNet's input: pixels scaled to [0, 1], then each channel standardised with the ImageNet mean and
    standard deviation (``"torch"`` mode).

    Example:

    >>> preprocess_input(np.full((1, 1, 3), 255.0)).round(3)
    array([[[2.249, 2.429, 2.64 ]]])
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "decode_predictions", "preprocess_input"]
