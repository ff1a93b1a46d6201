"""``layer.build(shape)`` then ``layer(x)``: built once, as in Keras 3 (its build() marks the layer built)."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers

CASES = [
    (lambda: layers.Dense(3), (None, 4), 2),
    (lambda: layers.Conv2D(2, 3), (None, 5, 5, 2), 2),
    (lambda: layers.Conv2DTranspose(2, 3), (None, 5, 5, 2), 2),
    (lambda: layers.BatchNormalization(), (None, 5, 5, 2), 4),
    (lambda: layers.LayerNormalization(), (None, 6), 2),
]


@pytest.mark.parametrize("make, shape, weight_count", CASES)
def test_build_then_call_keeps_one_set_of_weights(make, shape, weight_count):
    layer = make()
    layer.build(shape)
    assert layer.built and len(layer.weights) == weight_count
    kernel_before = [w.numpy().copy() for w in layer.weights]
    y = layer(np.ones((2,) + shape[1:], np.float32))
    assert y.shape[0] == 2
    assert len(layer.weights) == weight_count
    for got, want in zip(layer.weights, kernel_before):
        np.testing.assert_array_equal(got.numpy(), want)  # not rebuilt with fresh initial values


def test_a_custom_layer_build_marks_it_built_and_super_build_still_works():
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            super().build(input_shape)

        def call(self, x):
            return x * self.scale

    layer = Scale()
    layer.build((None, 3))
    assert layer.built
    np.testing.assert_allclose(layer(np.full((1, 3), 2.0, np.float32)), [[2.0, 2.0, 2.0]])
    assert len(layer.weights) == 1


def test_a_build_that_fails_leaves_the_layer_unbuilt():
    class Picky(keras.layers.Layer):
        def build(self, input_shape):
            raise ValueError("Picky: expected 3 features")

    layer = Picky()
    with pytest.raises(ValueError, match="expected 3 features"):
        layer.build((None, 4))
    assert not layer.built
