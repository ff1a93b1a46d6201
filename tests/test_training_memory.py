"""Memory of a training step: what the models keep between forward and backward, and what they free.

A training step has to keep, until backward reaches it, what each layer's backward reads (a
convolution's input, batch norm's input, a relu's output).  Everything else should go as soon as
it has been used: the pre-activation z of a layer whose derivative needs only a = act(z), the
functional graph's intermediate values once their last reader has run, and each gradient dL/dy
once the layer that made y has turned it into dL/dx.
"""
import tracemalloc

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers

BATCH, SIDE, CHANNELS = 16, 16, 16
ACTIVATION_BYTES = BATCH * SIDE * SIDE * CHANNELS * 4  # one float32 feature map of the batch: 256 KiB
BLOCKS = 4


def residual_net(activation="relu"):
    """ResNet-like blocks of 1x1 conv -> BN -> act -> 1x1 conv -> BN, added to the block's input.

    1x1 convolutions with stride 1 are plain matrix products (no im2col workspace), so what
    the step holds is made of feature maps alone and can be counted.
    """
    inputs = keras.Input((SIDE, SIDE, CHANNELS))
    x = inputs
    for _ in range(BLOCKS):
        y = layers.Conv2D(CHANNELS, 1, use_bias=False)(x)
        y = layers.Activation(activation)(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(CHANNELS, 1, use_bias=False)(y))
        x = layers.Activation(activation)(layers.add([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    return model


def batch(rng):
    x = rng.standard_normal((BATCH, SIDE, SIDE, CHANNELS)).astype(np.float32)
    return x, rng.integers(0, 10, size=BATCH)


def traced_peak_of_first_step(model, x, y):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        model.train_on_batch(x, y)
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def test_peak_of_a_training_step_is_what_backward_needs_plus_a_few_gradients(fresh_names):
    """Per block, backward needs four feature maps: the first conv's input is the previous
    block's relu output, and then the two BN inputs, the inner relu's output and the block's
    relu output.  Add to that a few feature maps alive at once in backward (dL/dy, dL/dx, the
    gradient waiting at a residual sum, a relu's mask) -- 8 leaves room for them.  Keeping the
    relus' inputs as well (2 more per block), or every gradient until the end of backward
    (about 5 more per block), goes over: the step used to peak at 51 feature maps."""
    model = residual_net()
    x, y = batch(np.random.default_rng(0))
    peak = traced_peak_of_first_step(model, x, y)
    needed = (4 * BLOCKS + 8) * ACTIVATION_BYTES
    assert peak <= needed, f"peak {peak / 2**20:.2f} MiB > {needed / 2**20:.2f} MiB"


def test_relu_layers_drop_their_input_and_the_output_layer_keeps_its_logits(fresh_names):
    model = residual_net()
    x, y = batch(np.random.default_rng(1))
    model.train_on_batch(x, y)
    relus = [layer for layer in model.layers if isinstance(layer, layers.Activation)]
    assert relus and all(layer._preactivation is None and layer._output is not None for layer in relus)
    # The loss fused with the softmax reads the logits: the output layer keeps them.
    assert model.layers[-1]._preactivation is not None


def test_activations_whose_derivative_reads_z_keep_it(fresh_names):
    model = residual_net(activation="gelu")
    x, y = batch(np.random.default_rng(2))
    model.train_on_batch(x, y)
    gelus = [layer for layer in model.layers if isinstance(layer, layers.Activation)]
    assert all(layer._preactivation is not None for layer in gelus)


def test_inference_keeps_the_pre_activation(fresh_names):
    """Only a training forward drops z (the teaching tools may still read it after predict)."""
    model = residual_net()
    x, _ = batch(np.random.default_rng(3))
    model.predict(x, verbose=0)
    assert all(layer._preactivation is not None for layer in model.layers if isinstance(layer, layers.Activation))


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_sequential_training_is_unchanged_by_dropping_z(fresh_names, activation):
    """The weights after a few steps are those that a backward with z kept gives."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 6)).astype(np.float64)
    y = rng.integers(0, 3, size=8)

    def make():
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((6,)), layers.Dense(5, activation=activation, dtype="float64"),
                                  layers.Dense(4, activation=activation, dtype="float64"),
                                  layers.Dense(3, activation="softmax", dtype="float64")])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
        return model

    trained, by_hand = make(), make()
    for _ in range(3):
        trained.train_on_batch(x, y)
        by_hand_step_keeping_z(by_hand, x, y)
    for a, b in zip(trained.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)


def by_hand_step_keeping_z(model, x, y):
    """A training step without the model's memory savings: plain forward, loss, backward, update."""
    h = x
    for layer in model.layers:
        h = layer.forward(h, training=True)
    grads, _ = model._loss_gradients([y], [h], None)
    dy = model.layers[-1].backward_from_preactivation(grads[0])
    for layer in reversed(model.layers[:-1]):
        dy = layer.backward(dy)
    model.optimizer.apply(model.trainable_weights, model.trainable_gradients())


def test_an_intermediate_output_that_also_feeds_a_layer_is_returned(fresh_names):
    """The functional forward forgets a value after its last reader, but never a model output."""
    inputs = keras.Input((4,))
    hidden = layers.Dense(3, activation="relu")(inputs)
    final = layers.Dense(2)(hidden)
    model = keras.Model(inputs, [hidden, final])
    x = np.random.default_rng(5).standard_normal((5, 4)).astype(np.float32)
    got_hidden, got_final = model.predict(x, verbose=0)
    w1, b1, w2, b2 = model.get_weights()
    expected_hidden = np.maximum(x @ w1 + b1, 0)
    np.testing.assert_allclose(got_hidden, expected_hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_final, expected_hidden @ w2 + b2, rtol=1e-5, atol=1e-6)


# --- optimizers: updates a piece at a time ---------------------------------------------------------
from tinyconv import optimizers  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.1),
    "sgd_nesterov": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam_amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True, clipnorm=1.0),
    "adamw": lambda: optimizers.AdamW(0.01, global_clipnorm=0.5),
    "rmsprop_centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True, clipvalue=0.1),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "adamax": lambda: optimizers.Adamax(0.01),
    "nadam": lambda: optimizers.Nadam(0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updating_by_pieces_gives_exactly_the_whole_array_update(name):
    rng = np.random.default_rng(6)
    size = 2 * optimizers.UPDATE_PIECE + 123  # three pieces, the last one short
    start = [rng.standard_normal(size).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32)]
    by_pieces, whole = OPTIMIZERS[name](), OPTIMIZERS[name]()
    whole.elementwise = False  # the rule on whole arrays, as before pieces existed
    params_pieces, params_whole = [p.copy() for p in start], [p.copy() for p in start]
    for _ in range(3):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in start]
        by_pieces.apply(params_pieces, grads)
        whole.apply(params_whole, grads)
    for a, b in zip(params_pieces, params_whole):
        np.testing.assert_array_equal(a, b)


def test_an_optimizer_step_on_a_big_weight_makes_no_weight_sized_temporaries():
    """Adam's rule written on whole arrays makes several temporaries the size of the weight
    (g - m, g * g, sqrt(v) + eps, ...); a piece at a time they are 256 KiB each."""
    rng = np.random.default_rng(7)
    param = rng.standard_normal(2**22).astype(np.float32)  # 16 MiB
    grad = rng.standard_normal(param.shape).astype(np.float32)
    adam = optimizers.Adam(0.001)
    adam.apply([param], [grad])  # creates m and v
    tracemalloc.start()
    try:
        adam.apply([param], [grad])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < param.nbytes / 4, f"peak {peak / 2**20:.2f} MiB for a {param.nbytes / 2**20:.0f} MiB weight"
