"""The course's classic architectures, built layer by layer: full size (to read their summaries and parameter
counts beside the decks) or small (to train on the digits in seconds).

* LeNet-5 (1998): ``lenet5()``, the Keras ``Sequential`` of COSC2779's slide "LeNet".
* AlexNet (2012): ``alexnet()``.  CIS5190 "Example architectures": 8 layers, ~60M params; Goodfellow ch. 9
  "AlexNet": 650,000 units, 60,000,000 params; DL1 "Case Study: AlexNet": the units of every layer.
* VGG (2014): ``vgg16()``, ``vgg19()`` (``tinyconv.applications``).  CIS5190: 19 layers, ~140M params.
* GoogLeNet (2014): ``inception_module()``, ``googlenet()``, ``small_googlenet()``.  CIS5190: 22 layers, ~5M.
* ResNet (2015): ``basic_block()``, ``bottleneck_block()``, ``resnet()``, ``small_resnet()``.  CIS5190: 152
  layers, "back to 60M params"; "Residual block designs": the bottleneck block of ResNet-50/101/152.
* DenseNet (2017): ``dense_block()``.  Goodfellow ch. 9 "DenseNet": feature reuse, parameter efficiency.
* U-Net (2015): ``unet()``.  DL1 "Image Segmentation: U-net": contracting and expanding paths.

Every builder returns a plain ``tinyconv.Model`` made of Keras layers (``Conv2D``, ``MaxPooling2D``, ``Dense``,
``Concatenate``, ``Add``...), so ``model.summary()``, ``model.count_params()`` and ``model.to_json()`` work,
and Keras rebuilds the same network from that JSON (AlexNet's local response normalisation aside: Keras has
no such layer).  Nothing is trained; weights are freshly initialised.  The "N layers" of the decks count the
layers with weights on the longest path through the network (``weight_layer_depth``); the cost comparisons
(``inception_bottleneck_saving``, ``bottleneck_block_cost``, ``mobilenet_cost``, ``multiply_adds``) live in
``architecture_costs`` and are importable from here too.
"""
from .. import layers
from ..applications import VGG16, VGG19, resnet as keras_resnet
from ..applications.resnet import BN_EPSILON
from ..layers import Input
from ..models import Model, Sequential
from .architecture_costs import (CostComparison, bottleneck_block_cost, inception_bottleneck_saving,  # noqa: F401
                                 mobilenet_cost, multiply_adds, units_per_layer, weight_layer_depth)

# GoogLeNet's nine inception modules (Szegedy et al., 2015, Table 1): #1x1, #3x3 reduce, #3x3, #5x5 reduce,
# #5x5, pool proj.  A max pooling (3x3, stride 2) comes before 4a and before 5a.
GOOGLENET_MODULES = (
    ("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)),
    ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)), ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)), ("4e", (256, 160, 320, 32, 128, 128)),
    ("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128)),
)
# ResNet: blocks per stage, and which block (He et al., 2016, Table 1).  The stages have 64, 128, 256, 512 filters.
RESNET_STAGES = {18: ((2, 2, 2, 2), "basic"), 34: ((3, 4, 6, 3), "basic"), 50: ((3, 4, 6, 3), "bottleneck"),
                 101: ((3, 4, 23, 3), "bottleneck"), 152: ((3, 8, 36, 3), "bottleneck")}


def _positive_int(value, what, function):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{function}: {what} must be a positive int, got {what}={value!r}")
    return value


def _image_shape(input_shape, function, min_size=1):
    """``(rows, cols, channels)`` with positive sizes of at least ``min_size``, or a ValueError."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or \
            any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in input_shape):
        raise ValueError(f"{function}: input_shape must be (rows, cols, channels) of positive ints, "
                         f"got input_shape={input_shape!r}")
    if min(input_shape[:2]) < min_size:
        raise ValueError(f"{function}: rows and cols must be at least {min_size}, got input_shape={tuple(input_shape)}")
    return tuple(input_shape)


# ------------------------------------------------------------------ LeNet-5
def lenet5(input_shape=(32, 32, 1), classes=10, name="lenet5"):
    """LeNet-5 as the COSC2779 deck writes it in Keras (slide "LeNet"): tanh, average pooling, valid 5x5 kernels.

    32x32 -> C1 28x28x6 -> S2 14x14x6 -> C3 10x10x16 -> S4 5x5x16 -> 120 -> 84 -> ``classes``: 61,706 weights
    for 32x32 grey images and 10 classes.

    Args:
        input_shape: ``(rows, cols, channels)``, rows and cols at least 16 (two valid 5x5 convolutions and two
            2x2 poolings must leave at least one cell).
        classes: outputs of the softmax layer.
        name: the model's name.

    Returns:
        A ``Sequential`` model with layers ``C1``, ``S2``, ``C3``, ``S4``, ``flatten``, ``C5``, ``F6``, ``output``.

    Raises:
        ValueError: an ``input_shape`` too small or not three positive ints, or ``classes`` < 1.

    Example:

    >>> lenet5().count_params()
    61706
    """
    input_shape = _image_shape(input_shape, "lenet5", min_size=16)
    _positive_int(classes, "classes", "lenet5")
    return Sequential([
        Input(shape=input_shape),
        layers.Conv2D(6, (5, 5), activation="tanh", name="C1"),
        layers.AveragePooling2D((2, 2), strides=(2, 2), name="S2"),
        layers.Conv2D(16, (5, 5), activation="tanh", name="C3"),
        layers.AveragePooling2D((2, 2), strides=(2, 2), name="S4"),
        layers.Flatten(name="flatten"),
        layers.Dense(120, activation="tanh", name="C5"),
        layers.Dense(84, activation="tanh", name="F6"),
        layers.Dense(classes, activation="softmax", name="output"),
    ], name=name)


# ------------------------------------------------------------------ AlexNet
def alexnet(input_shape=(227, 227, 3), classes=1000, groups=2, local_response_norm=True, dropout=0.5,
            name="alexnet"):
    """AlexNet (Krizhevsky, Sutskever & Hinton, 2012), full size: 5 convolutions and 3 dense layers.

    conv1 96 11x11 stride 4 -> LRN -> 3x3 stride 2 overlapping max pool -> conv2 256 5x5 -> LRN -> pool ->
    conv3 384 3x3 -> conv4 384 3x3 -> conv5 256 3x3 -> pool -> fc6 4096 -> fc7 4096 -> fc8 ``classes``.
    The paper split conv2, conv4 and conv5 over two GPUs, each half seeing only its own half of the channels:
    that is ``groups=2`` here, and it is what makes the paper's (and the decks') 60 million parameters:
    60,965,224 with ``groups=2``, 62,378,344 with ``groups=1``.

    The decks: CIS5190 "Example architectures" (AlexNet, 8 layers, ~60M params); Goodfellow ch. 9 "AlexNet"
    (650,000 units, 60,000,000 params); DL1 "Case Study: AlexNet" (input 150,528 = 224x224x3, then
    253,440-186,624-64,896-64,896-43,264-4096-4096-1000 neurons).  An 11x11 stride-4 kernel fits 224 pixels
    only with padding; with 227 pixels it fits exactly ((227 - 11) / 4 + 1 = 55), so 227 is the default.
    Then every layer matches the deck's counts except the first: 55x55x96 = 290,400, not 253,440 (a known
    slip of the paper); the total, 659,272 units, is the Goodfellow deck's "650,000".

    Args:
        input_shape: ``(rows, cols, channels)``; at least 67x67 so that conv5 keeps one cell.
        classes: outputs of the last layer.
        groups: 2 for the paper's two-GPU split of conv2, conv4 and conv5, 1 for one tower.
        local_response_norm: whether to put AlexNet's LRN (k=2, n=5, alpha=1e-4, beta=0.75) after conv1 and
            conv2.  It has no weights; Keras has no such layer, so leave it out to hand the model to Keras.
        dropout: the dropout rate after fc6 and fc7.
        name: the model's name.

    Returns:
        A ``Sequential`` model: ``conv1``, ``lrn1``, ``pool1``, ``conv2``, ``lrn2``, ``pool2``, ``conv3``, ``conv4``,
        ``conv5``, ``pool5``, ``flatten``, ``fc6``, ``drop6``, ``fc7``, ``drop7``, ``fc8``.

    Raises:
        ValueError: an ``input_shape`` too small, ``groups`` other than 1 or 2, or ``classes`` < 1.

    Example:

    >>> model = alexnet()
    >>> model.count_params(), model.get_layer("pool5").output_shape
    (60965224, (None, 6, 6, 256))
    """
    input_shape = _image_shape(input_shape, "alexnet", min_size=67)
    _positive_int(classes, "classes", "alexnet")
    if groups not in (1, 2):
        raise ValueError(f"alexnet: groups must be 1 (one tower) or 2 (the paper's two GPUs), got groups={groups!r}")

    def lrn(layer_name):
        # the paper's k=2, n=5, alpha=1e-4, beta=0.75 (n = 2 * depth_radius + 1)
        return [layers.LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75,
                                                  name=layer_name)] if local_response_norm else []

    return Sequential([
        Input(shape=input_shape),
        layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1"),
        *lrn("lrn1"),
        layers.MaxPooling2D(3, strides=2, name="pool1"),           # overlapping: windows 3 wide, 2 apart
        layers.Conv2D(256, 5, padding="same", groups=groups, activation="relu", name="conv2"),
        *lrn("lrn2"),
        layers.MaxPooling2D(3, strides=2, name="pool2"),
        layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3"),   # sees both towers
        layers.Conv2D(384, 3, padding="same", groups=groups, activation="relu", name="conv4"),
        layers.Conv2D(256, 3, padding="same", groups=groups, activation="relu", name="conv5"),
        layers.MaxPooling2D(3, strides=2, name="pool5"),
        layers.Flatten(name="flatten"),
        layers.Dense(4096, activation="relu", name="fc6"),
        layers.Dropout(dropout, name="drop6"),
        layers.Dense(4096, activation="relu", name="fc7"),
        layers.Dropout(dropout, name="drop7"),
        layers.Dense(classes, activation="softmax", name="fc8"),
    ], name=name)


# ------------------------------------------------------------------ VGG
def vgg16(input_shape=None, classes=1000, include_top=True):
    """VGG16 (Simonyan & Zisserman, 2015) with fresh weights: ``tinyconv.applications.VGG16(weights=None)``.

    13 3x3 convolutions in 5 blocks and 3 dense layers: 16 weight layers, 138,357,544 parameters with the
    1000-class top (CIS5190 "Example architectures" puts VGG at ~140M; the two dense layers of 4096 hold
    119,545,856 of them).

    Args:
        input_shape: ``(rows, cols, 3)``; default ``(224, 224, 3)`` with the top.
        classes: outputs of the top.
        include_top: whether to end with ``fc1``, ``fc2`` and ``predictions``.

    Returns:
        Keras's VGG16 graph, layer names ``block1_conv1`` ... ``predictions``.

    Raises:
        ValueError: arguments ``keras.applications.VGG16`` refuses.

    Example:

    >>> vgg16(include_top=False, input_shape=(32, 32, 3)).count_params()
    14714688
    """
    return VGG16(include_top=include_top, weights=None, input_shape=input_shape, classes=classes)


def vgg19(input_shape=None, classes=1000, include_top=True):
    """VGG19 with fresh weights: ``tinyconv.applications.VGG19(weights=None)``.

    16 convolutions and 3 dense layers: the "VGG, 19 layers, ~140M params" of CIS5190 "Example architectures"
    (143,667,240 parameters with the 1000-class top).

    Args:
        input_shape: ``(rows, cols, 3)``; default ``(224, 224, 3)`` with the top.
        classes: outputs of the top.
        include_top: whether to end with ``fc1``, ``fc2`` and ``predictions``.

    Returns:
        Keras's VGG19 graph.

    Raises:
        ValueError: arguments ``keras.applications.VGG19`` refuses.

    Example:

    >>> vgg19(include_top=False, input_shape=(32, 32, 3)).count_params()
    20024384
    """
    return VGG19(include_top=include_top, weights=None, input_shape=input_shape, classes=classes)


# ------------------------------------------------------------------ GoogLeNet
def inception_module(x, filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce, filters_5x5,
                     filters_pool_proj, name="inception"):
    """GoogLeNet's inception module: four branches side by side, their outputs concatenated along the channels.

    * 1x1 convolution (``filters_1x1``);
    * 1x1 "reduce" convolution (``filters_3x3_reduce``) then 3x3 convolution (``filters_3x3``);
    * 1x1 "reduce" convolution (``filters_5x5_reduce``) then 5x5 convolution (``filters_5x5``);
    * 3x3 max pooling (stride 1) then 1x1 "pool proj" convolution (``filters_pool_proj``).

    All convolutions are "same" with ReLU, so every branch keeps the image size and the output has
    ``filters_1x1 + filters_3x3 + filters_5x5 + filters_pool_proj`` channels.  The 1x1 reductions are the
    point: a 5x5 convolution on 192 channels costs 25 * 192 weights per filter, on 16 reduced channels 25 * 16
    (``inception_bottleneck_saving`` counts it).  Pass None for a reduce (or the pool proj) to leave that 1x1
    out: all four None give the "naive" module of the paper's Figure 2(a).  CIS5190's "Example architectures"
    slide shows GoogLeNet (22 layers, ~5M params); ``googlenet()`` stacks nine of these modules.

    Args:
        x: a 4-D symbolic tensor ``(None, rows, cols, channels)``.
        filters_1x1: the filters of the 1x1 branch.
        filters_3x3_reduce: the filters of the 1x1 bottleneck before the 3x3 convolution, or None.
        filters_3x3: the filters of the 3x3 branch's main convolution.
        filters_5x5_reduce: the filters of the 1x1 bottleneck before the 5x5 convolution, or None.
        filters_5x5: the filters of the 5x5 branch's main convolution.
        filters_pool_proj: the filters of the 1x1 projection after the pooling branch, or None.
        name: prefix of the layer names (``{name}_1x1``, ``{name}_3x3_reduce``, ``{name}_3x3``, ...,
            ``{name}_pool``, ``{name}_pool_proj``, ``{name}_output``: the BVLC GoogLeNet names).

    Returns:
        The concatenated symbolic tensor.

    Raises:
        ValueError: ``x`` not a 4-D tensor, or a filter count that is not a positive int (or None where allowed).

    Example:

    >>> inputs = tinyconv.Input((28, 28, 192))
    >>> inception_module(inputs, 64, 96, 128, 16, 32, 32, name="inception_3a").shape
    (None, 28, 28, 256)
    """
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"inception_module '{name}': expected a 4-D symbolic tensor (None, rows, cols, channels), "
                         f"got {x!r}")
    for what, value in (("filters_1x1", filters_1x1), ("filters_3x3", filters_3x3), ("filters_5x5", filters_5x5)):
        _positive_int(value, what, f"inception_module '{name}'")
    for what, value in (("filters_3x3_reduce", filters_3x3_reduce), ("filters_5x5_reduce", filters_5x5_reduce),
                        ("filters_pool_proj", filters_pool_proj)):
        if value is not None:
            _positive_int(value, what, f"inception_module '{name}'")

    def conv(tensor, filters, size, suffix):
        return layers.Conv2D(filters, size, padding="same", activation="relu", name=f"{name}_{suffix}")(tensor)

    def reduced(tensor, filters, suffix):
        return tensor if filters is None else conv(tensor, filters, 1, suffix)

    branch_1x1 = conv(x, filters_1x1, 1, "1x1")
    branch_3x3 = conv(reduced(x, filters_3x3_reduce, "3x3_reduce"), filters_3x3, 3, "3x3")
    branch_5x5 = conv(reduced(x, filters_5x5_reduce, "5x5_reduce"), filters_5x5, 5, "5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = reduced(pooled, filters_pool_proj, "pool_proj")
    return layers.Concatenate(axis=-1, name=f"{name}_output")([branch_1x1, branch_3x3, branch_5x5, branch_pool])


def googlenet(input_shape=(224, 224, 3), classes=1000, local_response_norm=False, dropout=0.4, name="googlenet"):
    """GoogLeNet (Szegedy et al., 2015), full size, without the two auxiliary classifiers used only in training.

    conv 7x7/2 (64) -> max pool -> conv 1x1 (64) -> conv 3x3 (192) -> max pool -> inception 3a, 3b -> max pool
    -> 4a ... 4e -> max pool -> 5a, 5b -> global average pool -> dropout -> dense ``classes``.  On the longest
    path that is 22 layers with weights: 3 + 9 * 2 + 1, the "GoogleNet, 22 layers" of CIS5190 "Example
    architectures".  The deck's "~5M params" is the paper's "12 times fewer parameters than AlexNet" (60M / 12);
    counted exactly (biases included, 1000 classes) the network has 6,998,552, still 8.7 times fewer than
    AlexNet, most of them in the inception modules (the 1000-class dense layer holds 1,025,000).

    Args:
        input_shape: ``(rows, cols, channels)``; at least 32x32.
        classes: outputs of the last layer.
        local_response_norm: whether to put LRN after the first pool and after conv 3x3, as the paper did
            (no weights; Keras has no such layer).
        dropout: the rate before the classifier (the paper's 40%).
        name: the model's name.

    Returns:
        A functional ``Model``.

    Raises:
        ValueError: an ``input_shape`` too small, or ``classes`` < 1.

    Example:

    >>> googlenet().count_params()
    6998552
    """
    input_shape = _image_shape(input_shape, "googlenet", min_size=32)
    _positive_int(classes, "classes", "googlenet")
    inputs = Input(shape=input_shape, name="image")
    x = layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1_7x7_s2")(inputs)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    if local_response_norm:
        x = layers.LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=1e-4, beta=0.75, name="pool1_norm1")(x)
    x = layers.Conv2D(64, 1, activation="relu", name="conv2_3x3_reduce")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2_3x3")(x)
    if local_response_norm:
        x = layers.LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=1e-4, beta=0.75, name="conv2_norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)
    for module, filters in GOOGLENET_MODULES:
        if module in ("4a", "5a"):
            # BVLC's names: pool3 after inception 3b, pool4 after 4e
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{int(module[0]) - 1}_3x3_s2")(x)
        x = inception_module(x, *filters, name=f"inception_{module}")
    x = layers.GlobalAveragePooling2D(name="pool5_avg")(x)
    x = layers.Dropout(dropout, name="pool5_drop")(x)
    outputs = layers.Dense(classes, activation="softmax", name="loss3_classifier")(x)
    return Model(inputs, outputs, name=name)


def small_googlenet(input_shape=(8, 8, 1), classes=10, width=8, name="small_googlenet"):
    """A GoogLeNet-style network for small images: a 3x3 stem, two inception modules, a pool, one more module.

    The modules keep GoogLeNet's proportions (1x1 : 3x3 : 5x5 : pool proj = 2 : 4 : 1 : 1 times ``width / 2``
    output channels, the 3x3 and 5x5 branches behind 1x1 reductions) at widths that train on the 8x8 digits in
    seconds.

    Args:
        input_shape: ``(rows, cols, channels)``, at least 2x2.
        classes: outputs of the softmax layer.
        width: scales every layer's filters (``width`` = 8: a few thousand weights).
        name: the model's name.

    Returns:
        A functional ``Model``.

    Raises:
        ValueError: bad ``input_shape``, ``classes`` or ``width``.

    Example:

    >>> small_googlenet().output_shape
    (None, 10)
    """
    input_shape = _image_shape(input_shape, "small_googlenet", min_size=2)
    _positive_int(classes, "classes", "small_googlenet")
    half = max(_positive_int(width, "width", "small_googlenet") // 2, 1)
    inputs = Input(shape=input_shape, name="image")
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="stem")(inputs)
    x = inception_module(x, 2 * half, 2 * half, 4 * half, half, half, half, name="inception_a")
    x = inception_module(x, 2 * half, 2 * half, 4 * half, half, half, half, name="inception_b")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = inception_module(x, 4 * half, 4 * half, 8 * half, half, 2 * half, 2 * half, name="inception_c")
    x = layers.GlobalAveragePooling2D(name="average")(x)
    outputs = layers.Dense(classes, activation="softmax", name="classes")(x)
    return Model(inputs, outputs, name=name)


# ------------------------------------------------------------------ ResNet
def basic_block(x, filters, stride=1, name="block"):
    """ResNet's basic block (ResNet-18/34): two 3x3 convolutions with batch norm, plus the shortcut, then ReLU.

        y = relu(x' + BN(conv3x3(relu(BN(conv3x3(x))))))

    where x' is x itself, or a 1x1 convolution (with the stride) and batch norm when the block changes the
    size or the width ("projection shortcut").  CIS5190 "Residual block designs", left of Figure 5: on 56x56
    maps with 64 filters the two 3x3 convolutions hold 2 * 9 * 64 * 64 = 73,728 weights.

    Args:
        x: a 4-D symbolic tensor.
        filters: the filters of both convolutions (and the block's output channels).
        stride: 1, or 2 to halve the image (the first convolution and the projection take it).
        name: prefix of the layer names, Keras's ResNet scheme: ``{name}_1_conv``, ``{name}_1_bn``,
            ``{name}_1_relu``, ``{name}_2_conv``, ``{name}_2_bn``, ``{name}_0_conv`` / ``{name}_0_bn`` (projection),
            ``{name}_add``, ``{name}_out``.

    Returns:
        The block's output tensor.

    Raises:
        ValueError: ``x`` not a 4-D tensor, ``filters`` or ``stride`` not a positive int.

    Example:

    >>> inputs = tinyconv.Input((56, 56, 64))
    >>> basic_block(inputs, 64).shape
    (None, 56, 56, 64)
    """
    function = f"basic_block '{name}'"
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"{function}: expected a 4-D symbolic tensor (None, rows, cols, channels), got {x!r}")
    _positive_int(filters, "filters", function)
    _positive_int(stride, "stride", function)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_1_conv")(x)
    y = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(y)
    y = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_2_bn")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def bottleneck_block(x, filters, stride=1, name="block", project=None):
    """ResNet's bottleneck block (ResNet-50/101/152): 1x1 (reduce to ``filters``) -> 3x3 -> 1x1 (expand to
    4 * ``filters``), batch norm after each, the shortcut added before the last ReLU.

    CIS5190 "Residual block designs" (He et al., Figure 5, right): on 56x56 maps a 256-channel bottleneck
    block holds 256*64 + 9*64*64 + 64*256 = 69,632 weights, fewer than the basic block's 73,728 on 64 channels,
    while its output is four times as wide: the 1x1 convolutions make the deeper networks affordable
    (``bottleneck_block_cost`` counts both).  This is ``tinyconv.applications.resnet``'s block, with its
    Keras layer names.

    Args:
        x: a 4-D symbolic tensor.
        filters: the filters of the 1x1 reduction and the 3x3 convolution; the block outputs 4 * ``filters``.
        stride: 1, or 2 to halve the image (taken by the first 1x1 and by the projection).
        name: prefix of the layer names (``{name}_1_conv``, ``{name}_2_conv``, ``{name}_3_conv``,
            ``{name}_0_conv`` for the projection, ``{name}_add``, ``{name}_out``).
        project: whether the shortcut is a 1x1 projection; default: when the stride or the width changes.

    Returns:
        The block's output tensor, with 4 * ``filters`` channels.

    Raises:
        ValueError: ``x`` not a 4-D tensor, ``filters`` or ``stride`` not a positive int, or ``project=False``
            where the shapes cannot be added.

    Example:

    >>> inputs = tinyconv.Input((56, 56, 256))
    >>> bottleneck_block(inputs, 64).shape
    (None, 56, 56, 256)
    """
    function = f"bottleneck_block '{name}'"
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"{function}: expected a 4-D symbolic tensor (None, rows, cols, channels), got {x!r}")
    _positive_int(filters, "filters", function)
    _positive_int(stride, "stride", function)
    needs_projection = stride != 1 or x.shape[-1] != 4 * filters
    if project is None:
        project = needs_projection
    elif not project and needs_projection:
        raise ValueError(f"{function}: without a projection the shortcut must match the output: input "
                         f"{x.shape[-1]} channels, output {4 * filters}, stride {stride}")
    return keras_resnet.bottleneck_block(x, filters, stride, bool(project), name)


def resnet(depth=50, input_shape=(224, 224, 3), classes=1000, name=None):
    """A full-size ResNet (He et al., 2016): 18 or 34 layers of basic blocks, 50, 101 or 152 of bottleneck blocks.

    7x7/2 stem (64) -> 3x3/2 max pool -> four stages (64, 128, 256, 512 filters; the first block of stages 2-4
    halves the image) -> global average pool -> dense ``classes``.  Depth 50, 101 and 152 are
    ``tinyconv.applications.ResNet50/101/152(weights=None)`` (Keras's graphs: 25,636,712, 44,707,176 and
    60,419,944 parameters with 1000 classes, the last being CIS5190's "back to 60M params" at 152 layers);
    18 and 34 follow the same scheme with ``basic_block``.

    Args:
        depth: 18, 34, 50, 101 or 152 (layers with weights on the longest path).
        input_shape: ``(rows, cols, channels)``, at least 32x32.
        classes: outputs of the last layer.
        name: the model's name; default ``resnet{depth}``.

    Returns:
        A functional ``Model``.

    Raises:
        ValueError: a ``depth`` not in (18, 34, 50, 101, 152), a bad ``input_shape`` or ``classes``.

    Example:

    >>> resnet(18).count_params()
    11703912
    """
    if depth not in RESNET_STAGES:
        raise ValueError(f"resnet: depth must be one of {sorted(RESNET_STAGES)}, got depth={depth!r}")
    input_shape = _image_shape(input_shape, "resnet", min_size=32)
    _positive_int(classes, "classes", "resnet")
    name = name or f"resnet{depth}"
    stages, block = RESNET_STAGES[depth]
    if block == "bottleneck":
        build = {50: keras_resnet.ResNet50, 101: keras_resnet.ResNet101, 152: keras_resnet.ResNet152}[depth]
        return build(weights=None, input_shape=input_shape, classes=classes, name=name)
    inputs = Input(shape=input_shape, name="input_layer")
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), stages)):
        for index in range(1, blocks + 1):
            stride = 2 if stage > 0 and index == 1 else 1
            x = basic_block(x, filters, stride, name=f"conv{stage + 2}_block{index}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return Model(inputs, outputs, name=name)


def small_resnet(input_shape=(8, 8, 1), classes=10, block="basic", widths=(8, 16), blocks_per_stage=1,
                 bn_momentum=0.9, name=None):
    """A small ResNet for the digits: a 3x3 stem, one stage per entry of ``widths`` (the second and later
    stages halve the image), global average pooling and a softmax layer.

    Its batch normalisation layers use ``bn_momentum`` 0.9 rather than Keras's 0.99: a small data set
    trains for a few hundred steps, and the moving mean and variance used at test time must follow the
    changing weights within them.

    Args:
        input_shape: ``(rows, cols, channels)``.
        classes: outputs of the softmax layer.
        block: ``"basic"`` (two 3x3) or ``"bottleneck"`` (1x1-3x3-1x1; a stage outputs 4 * its width).
        widths: the filters of each stage.
        blocks_per_stage: residual blocks in each stage.
        bn_momentum: the momentum of every batch normalisation's moving statistics.
        name: the model's name; default ``small_resnet_{block}``.

    Returns:
        A functional ``Model``.

    Raises:
        ValueError: an unknown ``block``, empty ``widths`` or non-positive sizes.

    Example:

    >>> small_resnet(block="bottleneck").output_shape
    (None, 10)
    """
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"small_resnet: block must be 'basic' or 'bottleneck', got block={block!r}")
    input_shape = _image_shape(input_shape, "small_resnet")
    _positive_int(classes, "classes", "small_resnet")
    _positive_int(blocks_per_stage, "blocks_per_stage", "small_resnet")
    if not isinstance(widths, (tuple, list)) or not widths:
        raise ValueError(f"small_resnet: widths must be a non-empty tuple of positive ints, got widths={widths!r}")
    for width in widths:
        _positive_int(width, "each of widths", "small_resnet")
    inputs = Input(shape=input_shape, name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    for stage, width in enumerate(widths, start=1):
        for index in range(1, blocks_per_stage + 1):
            stride = 2 if stage > 1 and index == 1 else 1
            block_name = f"stage{stage}_block{index}"
            x = basic_block(x, width, stride, block_name) if block == "basic" else \
                bottleneck_block(x, width, stride, block_name)
    x = layers.GlobalAveragePooling2D(name="average")(x)
    outputs = layers.Dense(classes, activation="softmax", name="classes")(x)
    model = Model(inputs, outputs, name=name or f"small_resnet_{block}")
    if not 0 <= bn_momentum < 1:
        raise ValueError(f"small_resnet: bn_momentum must be in [0, 1), got bn_momentum={bn_momentum!r}")
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = float(bn_momentum)
    return model


# ------------------------------------------------------------------ DenseNet
def dense_block(x, n_layers, growth_rate, name="dense", bottleneck=False):
    """DenseNet's dense block (Huang et al., 2017): every layer sees the concatenation of all the maps before it.

    Each layer is BN -> ReLU -> 3x3 convolution with ``growth_rate`` filters (with ``bottleneck``, a BN -> ReLU ->
    1x1 convolution to 4 * ``growth_rate`` channels first, DenseNet-B), and its output is concatenated onto its
    input: a block fed k0 channels outputs k0 + ``n_layers`` * ``growth_rate``.  The Goodfellow ch. 9 deck,
    slide "DenseNet": feature reuse, high parameter efficiency.

    Args:
        x: a 4-D symbolic tensor.
        n_layers: layers in the block.
        growth_rate: new channels per layer (k).
        name: prefix of the layer names (``{name}_layer{i}_bn``, ``_relu``, ``_conv``, ``_concat``; with the
            bottleneck ``_reduce_bn``, ``_reduce_relu``, ``_reduce_conv`` too).
        bottleneck: whether to put the 1x1 reduction before each 3x3.

    Returns:
        The tensor with k0 + ``n_layers`` * ``growth_rate`` channels.

    Raises:
        ValueError: ``x`` not a 4-D tensor, ``n_layers`` or ``growth_rate`` not a positive int.

    Example:

    >>> inputs = tinyconv.Input((8, 8, 16))
    >>> dense_block(inputs, 4, 8).shape
    (None, 8, 8, 48)
    """
    function = f"dense_block '{name}'"
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"{function}: expected a 4-D symbolic tensor (None, rows, cols, channels), got {x!r}")
    _positive_int(n_layers, "n_layers", function)
    _positive_int(growth_rate, "growth_rate", function)
    for i in range(1, n_layers + 1):
        prefix = f"{name}_layer{i}"
        new = x
        if bottleneck:
            new = layers.BatchNormalization(name=f"{prefix}_reduce_bn")(new)
            new = layers.Activation("relu", name=f"{prefix}_reduce_relu")(new)
            new = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{prefix}_reduce_conv")(new)
        new = layers.BatchNormalization(name=f"{prefix}_bn")(new)
        new = layers.Activation("relu", name=f"{prefix}_relu")(new)
        new = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{prefix}_conv")(new)
        x = layers.Concatenate(axis=-1, name=f"{prefix}_concat")([x, new])
    return x


# ------------------------------------------------------------------ U-Net
def unet(input_shape=(572, 572, 1), classes=2, filters=64, depth=4, padding="valid", activation="softmax",
         name="unet"):
    """U-Net (Ronneberger, Fischer & Brox, 2015): a contracting path, an expanding path, skip connections.

    Contracting: at each of ``depth`` levels two 3x3 convolutions (ReLU) then a 2x2 max pool, the filters
    doubling per level (64, 128, 256, 512, then 1024 at the bottom).  Expanding: a 2x2 stride-2 transposed
    convolution ("up-conv") halves the filters and doubles the size, the contracting path's map of that level
    is concatenated (cropped to the same size first when the convolutions are "valid"), then two 3x3
    convolutions.  A 1x1 convolution with softmax gives each pixel's class probabilities (or, with one class
    and ``activation="sigmoid"``, each pixel's probability of being foreground).  The DL1 deck,
    "Image Segmentation: U-net": "contraction (increase what, reduce where) and expanding paths (precise
    localization)".

    With the paper's "valid" convolutions a 572x572 tile gives a 388x388 map (each pair of convolutions
    takes 4 pixels); with ``padding="same"`` the output has the input's size, which must then divide by
    2 ** ``depth``.

    Args:
        input_shape: ``(rows, cols, channels)``.
        classes: channels of the output (per-pixel softmax).
        filters: the first level's filters.
        depth: poolings on the contracting path.
        padding: ``"valid"`` (the paper) or ``"same"``.
        activation: the output layer's activation.
        name: the model's name.

    Returns:
        A functional ``Model``; layer names ``down{l}_conv1``, ``down{l}_conv2``, ``down{l}_pool``,
        ``bottom_conv1``, ``bottom_conv2``, ``up{l}_upconv``, ``up{l}_crop``, ``up{l}_concat``, ``up{l}_conv1``,
        ``up{l}_conv2``, ``classes``.

    Raises:
        ValueError: bad sizes, an unknown ``padding``, or an input size that does not halve evenly at every
            level (the message names the level and the size there).

    Example:

    >>> unet().output_shape
    (None, 388, 388, 2)
    """
    input_shape = _image_shape(input_shape, "unet")
    _positive_int(classes, "classes", "unet")
    _positive_int(filters, "filters", "unet")
    _positive_int(depth, "depth", "unet")
    if padding not in ("valid", "same"):
        raise ValueError(f"unet: padding must be 'valid' (the paper) or 'same', got padding={padding!r}")
    shrink = 4 if padding == "valid" else 0  # two 3x3 "valid" convolutions take 2 pixels each

    def conv_pair(tensor, width, prefix):
        for i in (1, 2):
            tensor = layers.Conv2D(width, 3, padding=padding, activation="relu", name=f"{prefix}_conv{i}")(tensor)
        return tensor

    inputs = Input(shape=input_shape, name="image")
    x, skips = inputs, []
    for level in range(1, depth + 1):
        rows, cols = x.shape[1] - shrink, x.shape[2] - shrink
        if rows < 2 or cols < 2 or rows % 2 or cols % 2:
            raise ValueError(f"unet: input_shape {input_shape} does not halve evenly: at level {level} the maps are "
                             f"{rows}x{cols} before the 2x2 pool (need even sizes >= 2; 572x572 works for the "
                             "paper's 'valid' U-Net of depth 4)")
        x = conv_pair(x, filters * 2 ** (level - 1), f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    if min(x.shape[1:3]) - shrink < 1:
        raise ValueError(f"unet: input_shape {input_shape} is too small: the bottom maps would be "
                         f"{x.shape[1] - shrink}x{x.shape[2] - shrink}")
    x = conv_pair(x, filters * 2 ** depth, "bottom")
    for level in range(depth, 0, -1):
        width = filters * 2 ** (level - 1)
        x = layers.Conv2DTranspose(width, 2, strides=2, name=f"up{level}_upconv")(x)
        skip = skips[level - 1]
        extra_rows, extra_cols = skip.shape[1] - x.shape[1], skip.shape[2] - x.shape[2]
        if extra_rows or extra_cols:  # "valid" convolutions made the up-sampled map smaller: crop the skip
            skip = layers.Cropping2D(((extra_rows // 2, extra_rows - extra_rows // 2),
                                      (extra_cols // 2, extra_cols - extra_cols // 2)), name=f"up{level}_crop")(skip)
        x = layers.Concatenate(axis=-1, name=f"up{level}_concat")([skip, x])
        x = conv_pair(x, width, f"up{level}")
    outputs = layers.Conv2D(classes, 1, activation=activation, name="classes")(x)
    return Model(inputs, outputs, name=name)


__all__ = ["CostComparison", "alexnet", "basic_block", "bottleneck_block", "bottleneck_block_cost", "dense_block",
           "googlenet", "inception_bottleneck_saving", "inception_module", "lenet5", "mobilenet_cost",
           "multiply_adds", "resnet", "small_googlenet", "small_resnet", "unet", "units_per_layer", "vgg16", "vgg19",
           "weight_layer_depth"]
