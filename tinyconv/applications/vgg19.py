"""``keras.applications.vgg19``: VGG19, 16 convolutions and 3 dense layers (143,667,240 weights with the top)."""
from . import imagenet_utils
from ._vgg import build_vgg

# The md5 sums Keras publishes for its two VGG19 files (with the top, without).
WEIGHTS_MD5 = ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """The VGG19 network, with Keras's layer names and weight order: VGG16 with a fourth convolution in
    blocks 3, 4 and 5.

    Args:
        include_top: whether to end with the three fully connected layers (``fc1``, ``fc2``, ``predictions``).
        weights: None (random initialization), ``"imagenet"`` (Keras's published file, looked for in Keras's
            cache ``~/.keras/models`` and downloaded when missing) or the path of a weights file.
        input_tensor: a symbolic tensor (from ``tinyconv.Input``) to build the network on.
        input_shape: ``(rows, cols, 3)``, rows and cols at least 32; with the top and ImageNet weights it must
            be ``(224, 224, 3)``.
        pooling: without the top: None, ``"avg"`` or ``"max"``.
        classes: the number of classes of the top (1000 with ImageNet weights).
        classifier_activation: the top's activation; None gives the logits.
        name: the model's name.

    Returns:
        A functional ``tinyconv.Model``.

    Raises:
        ValueError: for arguments Keras refuses.
        FileNotFoundError: ``weights="imagenet"`` offline with no cached copy.

    Example:

    >>> VGG19(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="max").output_shape
    (None, 512)
    """
    return build_vgg((2, 2, 4, 4, 4), "vgg19", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name, WEIGHTS_MD5)


def preprocess_input(x, data_format=None):
    """VGG19's input: RGB -> BGR, minus the ImageNet channel means, no scaling (``"caffe"`` mode).

    Example:

    >>> preprocess_input(np.full((1, 1, 3), 255.0))[0, 0].round(3)
    array([151.061, 138.221, 131.32 ])
    """
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]
