"""``keras.applications.resnet``: ResNet50, ResNet101, ResNet152 (He et al., 2015), Keras's "v1" networks.

A 7x7 stride-2 stem and a 3x3 max pool, then four stages of bottleneck blocks: 1x1 (reduce), 3x3, 1x1
(expand to 4x the width), batch normalisation after each, and the block's input added back before the last
ReLU.  The first block of a stage has a 1x1 projection on its shortcut (and the stride).  Layer names are
Keras's (``conv1_conv``, ``conv2_block1_0_conv``, ..., ``conv5_block3_out``, ``avg_pool``, ``predictions``).
"""
from ..layers import Activation, Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D
from ..layers import ZeroPadding2D
from . import _base, _files, imagenet_utils

BN_EPSILON = 1.001e-5
# The md5 sums Keras publishes for each network's file (with the top, without).
WEIGHTS_MD5 = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}
# Blocks per stage; the stages have 64, 128, 256 and 512 bottleneck filters.
STAGES = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}


def bottleneck_block(x, filters, stride, project, name):
    """One bottleneck block: 1x1 -> 3x3 -> 1x1 (4 * filters), plus the shortcut, then ReLU."""
    if project:  # the first block of a stage changes the width (and the size): project the shortcut too
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def stage(x, filters, blocks, stride, name):
    x = bottleneck_block(x, filters, stride, True, f"{name}_block1")
    for block in range(2, blocks + 1):
        x = bottleneck_block(x, filters, 1, False, f"{name}_block{block}")
    return x


def build_resnet(family, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                 name):
    title = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"}[family]
    _base.check_weights(weights, title)
    _base.check_classes(weights, include_top, classes, title)
    _base.check_pooling(pooling, title)
    input_shape = _base.input_shape_for(_base.tensor_input_shape(input_shape, input_tensor), 224, 32,
                                        include_top, weights, title)
    x, inputs = _base.image_input(input_shape, input_tensor, title)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = BatchNormalization(epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for index, (filters, blocks) in enumerate(zip((64, 128, 256, 512), STAGES[family])):
        x = stage(x, filters, blocks, 1 if index == 0 else 2, f"conv{index + 2}")
    if include_top:
        _base.check_activation(classifier_activation, weights, title)
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling, avg_name="avg_pool", max_name="max_pool")
    file_name = f"{family}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    published = (file_name, f"{_files.KERAS_APPLICATIONS_URL}resnet/{file_name}",
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


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet50"):
    return build_resnet("resnet50", include_top, weights, input_tensor, input_shape, pooling, classes,
                        classifier_activation, name)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet101"):
    return build_resnet("resnet101", include_top, weights, input_tensor, input_shape, pooling, classes,
                        classifier_activation, name)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet152"):
    return build_resnet("resnet152", include_top, weights, input_tensor, input_shape, pooling, classes,
                        classifier_activation, name)


ResNet50.__doc__ = """The ResNet50 network (3, 4, 6 and 3 bottleneck blocks), with Keras's names and weight order.
""" + _ARGS_DOC + """
    Example:

    >>> model = ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output_shape, model.count_params()
    ((None, 2048), 23587712)
"""
ResNet101.__doc__ = """The ResNet101 network (3, 4, 23 and 3 bottleneck blocks), with Keras's names and weight order.
""" + _ARGS_DOC + """
    Example:

    >>> ResNet101(weights=None, include_top=False, pooling="max").output_shape
    (None, 2048)
"""
ResNet152.__doc__ = """The ResNet152 network (3, 8, 36 and 3 bottleneck blocks), with Keras's names and weight order.
""" + _ARGS_DOC + """
    Example:

    >>> ResNet152(weights=None, include_top=False).output_shape
    (None, None, None, 2048)
"""


def preprocess_input(x, data_format=None):
    """ResNet's input: RGB -> BGR, minus the ImageNet channel means, no scaling (``"caffe"`` mode).

    Example:

    >>> preprocess_input(np.zeros((1, 1, 3)))[0, 0].round(3)
    array([-103.939, -116.779, -123.68 ])
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["ResNet50", "ResNet101", "ResNet152", "decode_predictions", "preprocess_input"]
