"""The speed-ups of the training path change no numbers.

With the compiled kernels, a training step keeps small im2col columns from Conv2D's forward
for its backward, and skips dL/dx of a Sequential model's first layer (nobody reads it).
The same steps with the reference kernels, which do neither, must give the same weights.
"""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers, dispatch
from tinyconv.kernels.cpu import conv2d as fast
from tinyconv.kernels.cpu.conv2d import route


def small_cnn(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(9, 8, 2)),
        layers.Conv2D(3, 3, padding="same", activation="tanh"),
        layers.MaxPooling2D(2),
        layers.Conv2D(4, 2, activation="relu"),
        layers.Flatten(),
        layers.Dense(5, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy")
    return model


def train(model, kernels, x, y, steps=3):
    with dispatch.use_kernels(kernels):
        for _ in range(steps):
            model.train_on_batch(x, y)
    return model.get_weights()


@pytest.mark.parametrize("kept_bytes", [0, route.KEPT_COLUMNS_BYTES])
def test_compiled_training_steps_match_the_reference(kept_bytes, monkeypatch):
    monkeypatch.setattr(route, "KEPT_COLUMNS_BYTES", kept_bytes)  # 0: columns never kept
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 9, 8, 2)).astype(np.float32)
    y = rng.integers(0, 5, size=6)
    reference_model, compiled_model = small_cnn(1), small_cnn(1)
    compiled_model.set_weights(reference_model.get_weights())
    expected = train(reference_model, "reference", x, y)
    got = train(compiled_model, "cpu", x, y)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_first_layer_input_gradient_is_still_there_outside_training_steps():
    """Only a training step skips it: the model's backward on its own still returns dL/dx."""
    model = small_cnn(2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8, 2)).astype(np.float32)
    out = model._run_forward([x], training=True)[0]
    dx = model._run_backward([rng.standard_normal(out.shape).astype(np.float32)], [False])[0]
    assert dx is not None and dx.shape == x.shape and np.any(dx != 0)


def test_kernel_without_input_gradient_gives_the_same_weight_gradients():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 7, 6, 2))
    kernel = rng.standard_normal((3, 3, 2, 4))
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = rng.standard_normal((3, 7, 6, 4))
    dx, dkernel, dbias = fast.conv2d_backward(dy, x, kernel, *args, input_gradient=False)
    assert dx is None
    _, expected_dkernel, expected_dbias = fast.conv2d_backward(dy, x, kernel, *args)
    np.testing.assert_allclose(dkernel, expected_dkernel, rtol=1e-12)
    np.testing.assert_allclose(dbias, expected_dbias, rtol=1e-12)

