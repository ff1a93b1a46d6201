"""``keras.applications``: classic ImageNet networks with Keras's layer names, layer order and weight order.

``VGG16``, ``VGG19``, ``ResNet50``, ``ResNet101``, ``ResNet152``, ``MobileNet``, ``MobileNetV2``,
``DenseNet121``, ``DenseNet169`` and ``DenseNet201`` take Keras's arguments (``include_top``, ``weights``,
``input_tensor``, ``input_shape``, ``pooling``, ``classes``, ``classifier_activation``) and build the
same graph as Keras, so:

* ``weights="imagenet"`` loads Keras's own published ``.h5`` files, found in Keras's cache
  (``$KERAS_HOME/models`` or ``~/.keras/models``) or downloaded from Keras's address when online;
* any weights Keras 3 saved from the same architecture (``.weights.h5``, ``.h5``, ``.keras``) load too.

Each family module (``vgg16``, ``resnet50``, ``mobilenet_v2``, ``densenet``, ...) has the family's
``preprocess_input`` (the input scaling its weights were trained with) and ``decode_predictions``.

Example:

>>> backbone = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None, pooling="avg")
>>> backbone.output_shape
(None, 1280)
"""
from . import densenet, imagenet_utils, mobilenet, mobilenet_v2, resnet, resnet50, vgg16, vgg19
from .densenet import DenseNet121, DenseNet169, DenseNet201
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .resnet import ResNet50, ResNet101, ResNet152
from .vgg16 import VGG16
from .vgg19 import VGG19

__all__ = [
    "DenseNet121", "DenseNet169", "DenseNet201", "MobileNet", "MobileNetV2", "ResNet50", "ResNet101", "ResNet152",
    "VGG16", "VGG19", "densenet", "imagenet_utils", "mobilenet", "mobilenet_v2", "resnet", "resnet50", "vgg16",
    "vgg19",
]
