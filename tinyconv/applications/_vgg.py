"""The VGG networks (Simonyan & Zisserman, 2015): blocks of 3x3 "same" convolutions, each closed by a 2x2 pool.

VGG16 and VGG19 differ only in how many convolutions blocks 3 to 5 hold (3 or 4).  Layer names are
Keras's (``block1_conv1`` ... ``block5_pool``, ``flatten``, ``fc1``, ``fc2``, ``predictions``), so Keras's
weight files load by name or by order.
"""
from ..layers import Conv2D, Dense, Flatten, MaxPooling2D
from . import _base, _files

FILTERS = (64, 128, 256, 512, 512)


def build_vgg(convs_per_block, family, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name, hashes):
    """A VGG ``Model``; ``convs_per_block`` is (2, 2, 3, 3, 3) for VGG16, (2, 2, 4, 4, 4) for VGG19."""
    title = family.upper()
    _base.check_weights(weights, title)
    _base.check_classes(weights, include_top, classes, title)
    _base.check_pooling(pooling, title)
    input_shape = _base.input_shape_for(_base.tensor_input_shape(input_shape, input_tensor), 224, 32,
                                        include_top, weights, title)
    x, inputs = _base.image_input(input_shape, input_tensor, title)
    for block, (filters, convs) in enumerate(zip(FILTERS, convs_per_block), start=1):
        for conv in range(1, convs + 1):
            x = Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{conv}")(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        _base.check_activation(classifier_activation, weights, title)
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling)
    file_name = f"{family}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    published = (file_name, f"{_files.KERAS_APPLICATIONS_URL}{family}/{file_name}", hashes[0 if include_top else 1])
    return _base.finish(inputs, x, name, weights, published)
