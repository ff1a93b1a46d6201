"""The classic architectures against the course decks' figures, the papers' tables and Keras.

The decks' numbers are copied here with their source (file under the course folder, slide title), so the tests
need no course files:

* CIS5190 (lecture-cis5190-cnn.txt), slide "Example architectures": AlexNet 8 layers ~60M params; VGG 19 layers
  ~140M params; GoogleNet 22 layers ~5M params; ResNet 152 layers "back to 60M params", "less computation in
  forward pass than VGGNet"; slide "Residual block designs": basic block on 56x56 maps, bottleneck block for
  ResNet-50/101/152.
* Goodfellow ch. 9 (lecture-goodfellow-ch9-cnn.txt), slide "AlexNet": 7 hidden layers, 650,000 units,
  60,000,000 params.
* DL1 (lecture-dl1-cnn.txt), slide "Case Study: AlexNet": neurons per layer 253,440-186,624-64,896-64,896-43,264-
  4096-4096-1000.
* COSC2779 (lecture-cosc2779-cnn.txt), slide "LeNet": the Keras Sequential LeNet-5.
* CE40717 (lecture-ce40717-cnn.txt), slide "Power of small filters": weights counted without biases.
"""
import doctest
import math

import numpy as np
import pytest

import tinyconv
from tinyconv import layers
from tinyconv.layers import BatchNormalization, Conv2D, Dense, DepthwiseConv2D, SeparableConv2D
from tinyconv.teaching import architecture_costs, architectures
from tinyconv.teaching.architectures import (alexnet, basic_block, bottleneck_block, bottleneck_block_cost,
                                             dense_block, googlenet, inception_bottleneck_saving, inception_module,
                                             lenet5, mobilenet_cost, multiply_adds, resnet, small_googlenet,
                                             small_resnet, unet, units_per_layer, vgg16, vgg19, weight_layer_depth)

MILLION = 1_000_000


def kernel_weights(model):
    """Weights of the convolution and dense kernels only (no biases, no batch norm): the decks' count."""
    return sum(int(np.size(layer.kernel)) for layer in model.layers if isinstance(layer, (Conv2D, Dense)))


def block_model(block, input_shape, *args, **kwargs):
    inputs = tinyconv.Input(input_shape)
    return tinyconv.Model(inputs, block(inputs, *args, **kwargs))


# ------------------------------------------------------------------ the decks' figures
@pytest.fixture(scope="module")
def alexnet_model():
    return alexnet()


def test_alexnet_has_the_decks_60_million_parameters_and_8_layers(alexnet_model):
    # By hand, from the paper's layer table (conv2, conv4, conv5 see half the channels: groups=2).
    by_hand = ((11 * 11 * 3 * 96 + 96) + (5 * 5 * 48 * 256 + 256) + (3 * 3 * 256 * 384 + 384)
               + (3 * 3 * 192 * 384 + 384) + (3 * 3 * 192 * 256 + 256)
               + (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000))
    assert alexnet_model.count_params() == by_hand == 60_965_224
    # CIS5190 "Example architectures": ~60M; Goodfellow "AlexNet": 60,000,000 params.
    assert round(alexnet_model.count_params() / MILLION) == 61 and abs(alexnet_model.count_params() - 60e6) < 1e6
    # CIS5190: "AlexNet, 8 layers"; Goodfellow: "7 hidden layers" (+ the output layer).
    assert weight_layer_depth(alexnet_model) == 8
    # One tower: more weights, as the paper's split saved.
    assert alexnet(groups=1, local_response_norm=False).count_params() == 62_378_344


def test_alexnet_units_per_layer_match_the_dl1_deck_and_total_the_goodfellow_decks_650000(alexnet_model):
    units = [count for _, count in units_per_layer(alexnet_model)]
    deck_dl1 = [253_440, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]   # DL1 "Case Study: AlexNet"
    assert units[1:] == deck_dl1[1:]
    assert units[0] == 55 * 55 * 96 == 290_400   # the paper's first figure, 253,440, is not 55x55x96
    assert abs(sum(units) - 650_000) / 650_000 < 0.02   # Goodfellow "AlexNet": 650,000 units
    assert [name for name, _ in units_per_layer(alexnet_model)] == ["conv1", "conv2", "conv3", "conv4", "conv5",
                                                                     "fc6", "fc7", "fc8"]


@pytest.fixture(scope="module")
def vgg19_model():
    return vgg19()


def test_vgg_has_the_decks_19_layers_and_140_million_parameters(vgg19_model):
    model = vgg19_model
    assert weight_layer_depth(model) == 19            # CIS5190 "Example architectures": VGG, 19 layers
    assert model.count_params() == 143_667_240
    assert round(model.count_params() / (10 * MILLION)) == 14   # ~140M params
    # The two 4096-unit dense layers hold most of it (7 * 7 * 512 inputs).
    assert model.get_layer("fc1").count_params() == 7 * 7 * 512 * 4096 + 4096


def test_vgg16_is_the_keras_application_with_fresh_weights():
    model = vgg16(include_top=False, input_shape=(32, 32, 3))
    assert model.name == "vgg16" and model.count_params() == 14_714_688
    assert weight_layer_depth(model) == 13            # 13 convolutions + the 3 dense layers of the top = 16


def test_googlenet_has_22_layers_and_many_times_fewer_parameters_than_alexnet(alexnet_model):
    model = googlenet()
    assert weight_layer_depth(model) == 22            # CIS5190 "Example architectures": GoogleNet, 22 layers
    assert model.count_params() == 6_998_552
    # The deck's ~5M is the paper's "12 times fewer than AlexNet"; counted exactly it is 8.7 times fewer.
    assert alexnet_model.count_params() / model.count_params() > 8
    # Output sizes of the paper's Table 1 (Szegedy et al., 2015).
    expected = {"inception_3a_output": (28, 28, 256), "inception_3b_output": (28, 28, 480),
                "inception_4a_output": (14, 14, 512), "inception_4e_output": (14, 14, 832),
                "inception_5b_output": (7, 7, 1024)}
    for name, shape in expected.items():
        assert model.get_layer(name).output_shape[1:] == shape
    # The paper's "1.5 billion multiply-adds at inference time".
    assert round(multiply_adds(model) / 1e8) == 16


def test_resnet152_is_back_to_60_million_parameters_with_less_computation_than_vgg(vgg19_model):
    model = resnet(152)
    assert weight_layer_depth(model) == 152           # CIS5190: ResNet, 152 layers
    assert model.count_params() == 60_419_944         # "back to 60M params"
    assert abs(model.count_params() - 60e6) < 0.01 * 60e6
    # "Less computation in forward pass than VGGNet!": He et al. give 11.3 and 19.6 billion multiply-adds.
    assert round(multiply_adds(model) / 1e8) == 113
    assert multiply_adds(model) < multiply_adds(vgg19_model) / 1.5
    for depth in (18, 34, 50, 101):
        assert weight_layer_depth(resnet(depth, input_shape=(64, 64, 3), classes=10)) == depth


def test_lenet5_is_the_cosc2779_decks_keras_sequential():
    model = lenet5()
    # COSC2779 "LeNet": Conv2D(6, 5x5) -> AveragePooling2D -> Conv2D(16, 5x5) -> AveragePooling2D -> Dense 120, 84, 10
    assert model.count_params() == (25 + 1) * 6 + (25 * 6 + 1) * 16 + (400 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    assert model.count_params() == 61_706 and weight_layer_depth(model) == 5
    assert [layer.output_shape[1:] for layer in model.layers[:4]] == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)]


# ------------------------------------------------------------------ blocks and their costs
def test_basic_and_bottleneck_blocks_hold_the_weights_the_cost_table_counts():
    cost = bottleneck_block_cost()   # CIS5190 "Residual block designs": 56x56 maps, 64 vs 256 channels
    basic = block_model(basic_block, (56, 56, 64), 64, name="b")
    bottleneck = block_model(bottleneck_block, (56, 56, 256), 64, name="n")
    assert kernel_weights(basic) == cost["basic block"]["weights"] == 2 * 3 * 3 * 64 * 64 == 73_728
    assert kernel_weights(bottleneck) == cost["bottleneck block"]["weights"] == 256 * 64 + 9 * 64 * 64 + 64 * 256
    assert cost["bottleneck block"]["weights"] == 69_632
    assert cost["basic block"]["multiplications"] == 56 * 56 * 73_728
    assert basic.output_shape == (None, 56, 56, 64) and bottleneck.output_shape == (None, 56, 56, 256)
    # The shortcut is the identity (an Add of the input) when nothing changes, a 1x1 projection otherwise.
    assert "b_0_conv" not in [layer.name for layer in basic.layers]
    strided = block_model(basic_block, (56, 56, 64), 128, stride=2, name="s")
    assert strided.get_layer("s_0_conv").kernel.shape == (1, 1, 64, 128) and strided.output_shape == (None, 28, 28, 128)
    assert "CostComparison" in type(cost).__name__ and "bottleneck block" in str(cost)


def test_inception_module_with_and_without_its_1x1_bottlenecks():
    saving = inception_bottleneck_saving()   # GoogLeNet's inception (3a), 5x5 branch
    with_reduce = block_model(inception_module, (28, 28, 192), 64, 96, 128, 16, 32, 32, name="m")
    naive = block_model(inception_module, (28, 28, 192), 64, None, 128, None, 32, None, name="m")
    assert with_reduce.output_shape == (None, 28, 28, 64 + 128 + 32 + 32)
    assert naive.output_shape == (None, 28, 28, 64 + 128 + 32 + 192)   # the pool branch passes all 192 channels
    five = naive.get_layer("m_5x5")
    assert np.size(five.kernel) == saving["5x5, 192 -> 32"]["weights"] == 5 * 5 * 192 * 32
    reduced = np.size(with_reduce.get_layer("m_5x5_reduce").kernel) + np.size(with_reduce.get_layer("m_5x5").kernel)
    assert reduced == saving["1x1 reduce then 5x5"]["weights"] == 192 * 16 + 25 * 16 * 32
    assert saving["5x5, 192 -> 32"]["multiplications"] == 28 * 28 * 5 * 5 * 192 * 32 == 120_422_400
    assert saving["1x1 reduce then 5x5"]["multiplications"] == 12_443_648
    assert 9.5 < saving.times_fewer_multiplications < 9.8
    assert kernel_weights(with_reduce) < kernel_weights(naive) / 2


def test_mobilenet_cost_matches_the_paper_and_the_layers():
    cost = mobilenet_cost()   # MobileNet paper, Table 3: 14x14x512, 3x3, 512 filters
    assert round(cost["standard 3x3, 512 -> 512"]["weights"] / 1e4) == 236             # 2.36 million
    assert round(cost["standard 3x3, 512 -> 512"]["multiplications"] / 1e6) == 462     # 462 million
    assert round(cost["depthwise separable"]["weights"] / 1e4) == 27                   # 0.27 million
    assert round(cost["depthwise separable"]["multiplications"] / 1e5) == 523          # 52.3 million
    assert cost.times_fewer_multiplications == pytest.approx(1 / (1 / 512 + 1 / 9))
    # The same counts from the layers themselves (no biases: MobileNet's convolutions have none).
    x = tinyconv.Input((14, 14, 512))
    separable = SeparableConv2D(512, 3, padding="same", use_bias=False)
    depthwise, pointwise = DepthwiseConv2D(3, padding="same", use_bias=False), Conv2D(512, 1, use_bias=False)
    separable(x), pointwise(depthwise(x))
    assert separable.count_params() == depthwise.count_params() + pointwise.count_params() == 266_752
    strided = mobilenet_cost(input_size=15, in_channels=8, out_channels=16, stride=2)
    assert strided["depthwise separable"]["multiplications"] == 8 * 8 * (9 * 8 + 8 * 16)   # ceil(15 / 2) = 8


def test_mobilenet_application_has_the_papers_569_million_multiply_adds():
    from tinyconv.applications import MobileNet

    model = MobileNet(weights=None)
    assert round(multiply_adds(model) / MILLION) == 569          # MobileNet paper, Table 8: 569 million
    assert round(sum(np.size(w) for w in model.trainable_weights) / 1e5) == 42   # 4.2 million parameters


def test_dense_block_grows_by_the_growth_rate():
    model = block_model(dense_block, (8, 8, 16), 4, 8, name="d")
    concatenations = [layer.output_shape[-1] for layer in model.layers if isinstance(layer, layers.Concatenate)]
    assert concatenations == [24, 32, 40, 48]
    narrow = block_model(dense_block, (8, 8, 16), 2, 8, name="e", bottleneck=True)
    assert narrow.get_layer("e_layer2_reduce_conv").kernel.shape == (1, 1, 24, 32)
    assert narrow.output_shape == (None, 8, 8, 32)


def test_unet_shapes_follow_the_paper():
    model = unet()   # Ronneberger et al., Figure 1: 572x572 in, 388x388 out, 23 convolutional layers
    assert model.output_shape == (None, 388, 388, 2)
    assert weight_layer_depth(model) == 23
    shapes = {name: model.get_layer(name).output_shape[1:] for name in
              ("down1_conv2", "down4_conv2", "bottom_conv2", "up4_upconv", "up4_crop", "up1_conv2")}
    assert shapes == {"down1_conv2": (568, 568, 64), "down4_conv2": (64, 64, 512), "bottom_conv2": (28, 28, 1024),
                      "up4_upconv": (56, 56, 512), "up4_crop": (56, 56, 512), "up1_conv2": (388, 388, 64)}
    same = unet(input_shape=(32, 32, 3), classes=4, filters=4, depth=2, padding="same")
    assert same.output_shape == (None, 32, 32, 4)
    assert "up1_crop" not in [layer.name for layer in same.layers]


def test_small_models_can_learn_a_batch_of_digits_by_heart():
    # The usual first check of a new network: gradients flow through every branch, concatenation and
    # addition, so a few steps on one batch bring its loss well down.
    (x, y), _ = tinyconv.datasets.digits.load_data()
    x, y = (x[:32] / 16.0).astype("float32")[..., None], y[:32]
    for model in (small_googlenet(), small_resnet(), small_resnet(block="bottleneck")):
        model.compile(optimizer=tinyconv.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        losses = [float(np.ravel(model.train_on_batch(x, y))[0]) for _ in range(25)]
        assert np.all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0], (model.name, losses)


# ------------------------------------------------------------------ Keras builds the same networks
KERAS_CASES = {
    "lenet5": lambda: lenet5(),
    "alexnet": lambda: alexnet(local_response_norm=False),
    "googlenet": lambda: googlenet(),
    "small_googlenet": lambda: small_googlenet(),
    "resnet18": lambda: resnet(18),
    "small_resnet_bottleneck": lambda: small_resnet(block="bottleneck", widths=(4, 8), blocks_per_stage=2),
    "unet": lambda: unet(),
    "dense_block": lambda: block_model(dense_block, (8, 8, 16), 3, 4, bottleneck=True),
    "naive_inception": lambda: block_model(inception_module, (28, 28, 192), 64, None, 128, None, 32, None),
}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_rebuilds_the_same_network_with_the_same_counts(case):
    keras = pytest.importorskip("keras")
    model = KERAS_CASES[case]()
    rebuilt = keras.models.model_from_json(model.to_json())
    assert rebuilt.count_params() == model.count_params()
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    for ours, theirs in zip(model.layers, rebuilt.layers):
        assert tuple(theirs.output.shape) == tuple(ours.output_shape), ours.name
        assert sum(math.prod(w.shape) for w in theirs.weights) == ours.count_params(), ours.name


# ------------------------------------------------------------------ mistakes
def test_clear_errors():
    with pytest.raises(ValueError, match="alexnet: groups must be 1"):
        alexnet(groups=3)
    with pytest.raises(ValueError, match="alexnet: rows and cols must be at least 67"):
        alexnet(input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="lenet5: classes must be a positive int"):
        lenet5(classes=0)
    with pytest.raises(ValueError, match="resnet: depth must be one of"):
        resnet(20)
    with pytest.raises(ValueError, match=r"unet: input_shape \(570, 570, 1\) does not halve evenly: at level 2"):
        unet(input_shape=(570, 570, 1))
    with pytest.raises(ValueError, match="unet: padding must be"):
        unet(padding="full")
    flat = tinyconv.Input((10,))
    with pytest.raises(ValueError, match="inception_module 'm': expected a 4-D symbolic tensor"):
        inception_module(flat, 1, 1, 1, 1, 1, 1, name="m")
    with pytest.raises(ValueError, match="filters_3x3 must be a positive int"):
        inception_module(tinyconv.Input((8, 8, 3)), 4, 4, 0, 4, 4, 4)
    with pytest.raises(ValueError, match="without a projection the shortcut must match the output: input 64"):
        bottleneck_block(tinyconv.Input((8, 8, 64)), 64, project=False)
    with pytest.raises(ValueError, match="small_resnet: block must be 'basic' or 'bottleneck'"):
        small_resnet(block="dense")
    with pytest.raises(ValueError, match="mobilenet_cost: kernel_size must be a positive int"):
        mobilenet_cost(kernel_size=0)
    with pytest.raises(KeyError, match="no row 'nothing'"):
        mobilenet_cost()["nothing"]
    with pytest.raises(ValueError, match="weight_layer_depth: expected a built Sequential or functional Model"):
        weight_layer_depth(Dense(3))


def test_batch_norm_is_not_a_layer_of_the_depth_but_nested_models_count():
    inner = tinyconv.Sequential([tinyconv.Input((4,)), Dense(4), BatchNormalization(), Dense(4)])
    inputs = tinyconv.Input((4,))
    outer = tinyconv.Model(inputs, Dense(2)(inner(inputs)))
    assert weight_layer_depth(inner) == 2 and weight_layer_depth(outer) == 3


@pytest.mark.parametrize("module", [architectures, architecture_costs], ids=lambda m: m.__name__)
def test_examples_in_docstrings_run(module):
    tinyconv.utils.set_random_seed(0)
    result = doctest.testmod(module, extraglobs={"np": np, "tinyconv": tinyconv, "layers": layers},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0
