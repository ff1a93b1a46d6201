"""FLOP counts say which convention they use: multiply-adds, 2 x multiply-adds, or multiplications + additions."""
import doctest

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import flops, layer_flops, trace_step
from tinyconv.teaching.flops import layer_cost, matrix_vs_convolution, model_cost


def built(layer, input_shape):
    layer(np.zeros((1,) + input_shape, "float32"))
    return layer


def test_conv2d_in_the_three_conventions():
    layer = built(layers.Conv2D(5, (3, 2), strides=(2, 1)), (9, 8, 3))
    _, oh, ow, _ = layer.output_shape
    outputs, products = oh * ow * 5, 3 * 2 * 3
    cost = layer_cost(layer)
    assert cost.macs == outputs * products
    assert cost.flops == 2 * outputs * products == layer_flops(layer)  # the default stays 2 x MACs
    # products - 1 additions to sum them, + 1 for the bias: 2 * products per output
    assert cost.muls_adds == outputs * (products + products - 1 + 1)
    assert cost.exact
    no_bias = built(layers.Conv2D(5, (3, 2), strides=(2, 1), use_bias=False), (9, 8, 3))
    assert layer_flops(no_bias, convention="muls_adds") == outputs * (2 * products - 1)


def test_goodfellow_edge_detector_costs_two_multiplications_and_one_addition_per_output():
    """lecture-goodfellow-ch9-cnn.txt, "Efficiency of Convolution": a 2x1 kernel on 320 x 280 gives
    319 x 280 outputs; float muls or adds 319*280*3 = 267,960."""
    edge = built(layers.Conv2D(1, (1, 2), use_bias=False), (280, 320, 1))
    assert edge.output_shape == (None, 280, 319, 1)
    assert layer_flops(edge, convention="muls_adds") == 267_960
    assert layer_flops(edge, convention="macs") == 178_640
    assert layer_flops(edge) == 357_280


def test_depthwise_separable_and_transposed():
    separable = built(layers.SeparableConv2D(4, 3, depth_multiplier=2), (6, 6, 3))
    cells = 4 * 4
    depthwise_macs, pointwise_macs = cells * 6 * 9, cells * 4 * 6
    cost = layer_cost(separable)
    assert cost.macs == depthwise_macs + pointwise_macs
    # depthwise outputs carry no bias; the pointwise ones do
    assert cost.muls_adds == (2 * depthwise_macs - cells * 6) + (2 * pointwise_macs - cells * 4 + cells * 4)
    depthwise = built(layers.DepthwiseConv2D(3, depth_multiplier=2), (6, 6, 3))
    assert layer_cost(depthwise).muls_adds == 2 * depthwise_macs  # with its bias
    transposed = built(layers.Conv2DTranspose(2, 3, strides=2, use_bias=False), (4, 4, 3))
    _, oh, ow, _ = transposed.output_shape
    macs = 4 * 4 * 9 * 3 * 2
    assert layer_cost(transposed) == (macs, 2 * macs, 2 * macs - oh * ow * 2, True)


def test_layers_without_multiply_adds_are_estimates():
    pool = built(layers.MaxPooling2D(2), (6, 6, 3))
    assert layer_cost(pool) == (0, 3 * 3 * 3 * 4, 3 * 3 * 3 * 4, False)
    relu = built(layers.ReLU(), (5,))
    assert layer_cost(relu) == (0, 5, 5, False)
    assert layer_flops(built(layers.Flatten(), (2, 3)), convention="macs") == 0


def test_bad_convention_and_unbuilt_layer_are_named():
    dense = built(layers.Dense(3), (4,))
    with pytest.raises(ValueError,
                       match="layer_flops: convention must be one of 'flops', 'macs', 'muls_adds', got 'gflops'"):
        layer_flops(dense, convention="gflops")
    with pytest.raises(ValueError, match="layer_cost: .*not built"):
        layer_cost(layers.Dense(3))


def test_model_cost_totals_and_table():
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, name="conv"), layers.MaxPooling2D(2),
                              layers.Flatten(), layers.Dense(10, name="head")])
    cost = model_cost(model)
    conv_macs, head_macs = 6 * 6 * 4 * 9, 3 * 3 * 4 * 10
    assert cost.total("macs") == conv_macs + head_macs
    assert cost.total("flops") == 2 * (conv_macs + head_macs) + 3 * 3 * 4 * 4  # + the pooling's compares
    text = str(cost)
    assert "MACs" in text and "Muls + adds" in text and f"{conv_macs:,}" in text and "estimate" in text
    with pytest.raises(ValueError, match="ModelCost.total: convention"):
        cost.total("teraflops")


def test_existing_callers_see_the_same_numbers():
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3, name="conv"), layers.Flatten(),
                              layers.Dense(2, activation="softmax", name="head")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    trace = trace_step(model, np.ones((2, 6, 6, 2), "float32"), np.array([0, 1]))
    assert trace["conv"]["flops"] == 2 * 4 * 4 * 3 * 9 * 2
    assert trace["head"]["flops"] == 2 * 48 * 2
    lines = []
    keras.teaching.summary(model, receptive_field=False, print_fn=lines.append)
    assert any(f"{2 * 4 * 4 * 3 * 9 * 2:,}" in line for line in lines)


def test_matrix_vs_convolution_reproduces_goodfellows_table():
    """lecture-goodfellow-ch9-cnn.txt, "Efficiency of Convolution" table: stored floats 2 / > 8e9 / 178,640;
    float muls or adds 267,960 / > 16e9 / 267,960."""
    costs = matrix_vs_convolution((280, 320), (1, 2))
    assert costs["output size"] == (280, 319)
    assert costs["convolution"] == {"stored floats": 2, "operations": 267_960}
    assert costs["dense matrix"]["stored floats"] == 319 * 280 * 320 * 280 > 8e9
    assert costs["dense matrix"]["operations"] > 16e9
    assert costs["sparse matrix"] == {"stored floats": 178_640, "operations": 267_960}
    with pytest.raises(ValueError, match="matrix_vs_convolution: the kernel"):
        matrix_vs_convolution((3, 3), (4, 1))


def test_docstring_examples_run():
    result = doctest.testmod(flops, extraglobs={"np": np, "tinyconv": keras, "layers": layers},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
