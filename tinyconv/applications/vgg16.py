"""``keras.applications.vgg16``: VGG16, 13 convolutions and 3 dense layers (138,357,544 weights with the top)."""
from . import imagenet_utils
from ._vgg import build_vgg

# The md5 sums Keras publishes for its two VGG16 files (with the top, without).
WEIGHTS_MD5 = ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc")


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """The VGG16 network, with Keras's layer names and weight order.

    Args:
        include_top: whether to end with the three fully connected layers (``fc1``, ``fc2``, ``predictions``).
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

    Example:

    >>> model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    >>> model.output_shape, model.count_params()
    ((None, 1, 1, 512), 14714688)
    """
    return build_vgg((2, 2, 3, 3, 3), "vgg16", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name, WEIGHTS_MD5)


def preprocess_input(x, data_format=None):
    """VGG16's input: RGB -> BGR, minus the ImageNet channel means, no scaling (``"caffe"`` mode).

    Example:

    >>> preprocess_input(np.zeros((1, 1, 3)))[0, 0].round(3)
    array([-103.939, -116.779, -123.68 ])
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["VGG16", "decode_predictions", "preprocess_input"]
