# %% [markdown]
# # Lab 06: classic architectures
#
# The decks compare the networks that won ImageNet year after year (CIS 5190, "Example architectures"):
#
# | network | year | the deck says |
# | --- | --- | --- |
# | LeNet-5 | 1998 | the Keras `Sequential` of COSC2779 |
# | AlexNet | 2012 | 8 layers, ~60M params (Goodfellow: 650,000 units, 60,000,000 params) |
# | VGG | 2014 | 19 layers, ~140M params |
# | GoogLeNet | 2014 | 22 layers, ~5M params |
# | ResNet | 2015 | 152 layers, "back to 60M params", less computation than VGG |
#
# In this lab you build each one at full size (nothing is trained: building allocates the weights, which
# takes a few seconds for the big ones), read its summary, and find where the parameters and the
# multiplications go. Then two ideas that make networks cheaper: GoogLeNet's 1x1 bottleneck and
# MobileNet's depthwise separable convolution.
#
# "N layers" counts the layers with weights (convolutions and dense layers) on the longest path through
# the network: `weight_layer_depth(model)`. Costs are counted as in the lectures: a k x k convolution from
# M to N channels has k*k*M*N weights (biases aside) and does that many multiply-adds per output cell.

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.applications import MobileNet
from tinyconv.teaching import conv_cost, layer_flops
from tinyconv.teaching.architectures import (alexnet, googlenet, inception_bottleneck_saving, inception_module,
                                             lenet5, mobilenet_cost, multiply_adds, resnet, units_per_layer, vgg16,
                                             weight_layer_depth)

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run

# %% [markdown]
# ## 1. LeNet-5, as the deck writes it
#
# COSC2779's slide "LeNet" gives the network in Keras. With `import tinyconv as keras` the same lines run
# unchanged (the deck's `input_shape=` argument on the first layer included).

# %%
from tinyconv.layers import AveragePooling2D, Conv2D, Dense, Flatten  # noqa: E402  (the deck's imports)

input_shape = (32, 32, 1)
model = keras.Sequential()
model.add(Conv2D(6, kernel_size=(5, 5), strides=(1, 1), activation='tanh', input_shape=input_shape, padding="valid"))
model.add(AveragePooling2D(pool_size=(2, 2), strides=(2, 2), padding='valid'))
model.add(Conv2D(16, kernel_size=(5, 5), strides=(1, 1), activation='tanh', padding='valid'))
model.add(AveragePooling2D(pool_size=(2, 2), strides=(2, 2), padding='valid'))
model.add(Flatten())
model.add(Dense(120, activation='tanh'))
model.add(Dense(84, activation='tanh'))
model.add(Dense(10, activation='softmax'))
model.summary()
print("same as tinyconv.teaching.architectures.lenet5():", model.count_params() == lenet5().count_params())

# %% [markdown]
# LeNet-5 was drawn for 32x32 images; the 8x8 digits are enlarged 4 times (each pixel becomes a 4x4
# block) so that its 5x5 kernels see whole strokes.

# %%
(x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
enlarge = lambda images: (images / 16.0).astype("float32").repeat(4, axis=1).repeat(4, axis=2)[..., None]  # noqa: E731
x_train32, x_test32 = enlarge(x_train), enlarge(x_test)
if QUICK:
    x_train32, y_train32 = x_train32[:300], y_train[:300]
else:
    y_train32 = y_train
keras.utils.set_random_seed(0)
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train32, y_train32, epochs=2 if QUICK else 10, batch_size=32, verbose=0)
print(f"LeNet-5 test accuracy on the digits: {model.evaluate(x_test32, y_test, verbose=0)[1]:.3f}")

# %% [markdown]
# ## Exercise 1: parameters by hand
#
# Write the number of parameters of a convolution (`kernel x kernel` window, `c_in` channels in, `c_out`
# filters, one bias per filter; with `groups`, each filter sees only `c_in / groups` channels) and of a
# dense layer. The checks use the decks' numbers: CE 40717's "Example-2" (ten 5x5 filters on a 32x32x3
# volume: 760 parameters), CIS 5190's filter bank (two 3x3x3 filters: 56) and LeNet's layers.

# %%
def conv_params(kernel, c_in, c_out, groups=1, bias=True):
    # BEGIN SOLUTION
    return kernel * kernel * (c_in // groups) * c_out + (c_out if bias else 0)
    # END SOLUTION


def dense_params(n_in, n_out, bias=True):
    # BEGIN SOLUTION
    return n_in * n_out + (n_out if bias else 0)
    # END SOLUTION


assert conv_params(5, 3, 10) == 760, "CE 40717, Example-2: 10 filters of 5*5*3 + 1 = 76 parameters each"
assert conv_params(3, 3, 2) == 56, "CIS 5190, filter bank: (3*3*3 + 1) * 2"
lenet_layers = [l for l in lenet5().layers if l.count_params()]
assert [conv_params(5, 1, 6), conv_params(5, 6, 16), dense_params(400, 120), dense_params(120, 84),
        dense_params(84, 10)] == [l.count_params() for l in lenet_layers]
print("conv_params and dense_params agree with the decks and with LeNet's layers")

# %% [markdown]
# ## 2. AlexNet, full size
#
# Five convolutions (the first 11x11 with stride 4), overlapping 3x3 max pooling, local response
# normalisation, and three dense layers. The paper split conv2, conv4 and conv5 over two GPUs, each half
# seeing half the channels: `groups=2`. An 11x11 stride-4 kernel fits 227 pixels exactly
# ((227 - 11) / 4 + 1 = 55), so the input is 227x227x3.

# %%
net = alexnet()
net.summary()
print(f"AlexNet: {weight_layer_depth(net)} layers, {net.count_params():,} parameters "
      "(CIS 5190: ~60M; Goodfellow: 60,000,000)")
print(f"one tower (groups=1): {alexnet(groups=1, local_response_norm=False).count_params():,}")

# %% [markdown]
# The DL1 deck quotes the paper: "the number of neurons in the network's remaining layers is given by
# 253,440-186,624-64,896-64,896-43,264-4096-4096-1000". Count the outputs of each layer with weights:

# %%
deck_units = [253_440, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
units = units_per_layer(net)
for (name, count), deck in zip(units, deck_units):
    print(f"{name:>6}: {count:>8,}   the deck: {deck:>8,}  {'same' if count == deck else 'DIFFERENT'}")
print(f"total {sum(c for _, c in units):,} units (Goodfellow: 650,000)")

# %% [markdown]
# All agree but the first: conv1 makes 55 x 55 x 96 = 290,400 outputs, and 253,440 is not a multiple of
# 96 * 55 at all: a slip in the paper that everybody copies. Where are the parameters?

# %%
share = {layer.name: layer.count_params() / net.count_params() for layer in net.layers if layer.count_params()}
work = {layer.name: layer_flops(layer) // 2 for layer in net.layers if layer.count_params()}  # multiply-adds
for name, fraction in share.items():
    print(f"{name:>6}: {fraction:6.1%} of the parameters, {work[name] / sum(work.values()):6.1%} of the multiply-adds")
print(f"{multiply_adds(net) / 1e6:,.0f} million multiply-adds per image: the dense layers hold most of the weights, "
      "the convolutions do most of the work")

# %% [markdown]
# ## Exercise 2: AlexNet's 60 million, by hand
#
# With `conv_params` and `dense_params`, count AlexNet layer by layer: conv1 96 11x11 filters on 3
# channels; conv2 256 5x5 on 96 (two groups); conv3 384 3x3 on 256; conv4 384 3x3 on 384 (two groups);
# conv5 256 3x3 on 384 (two groups); fc6 from the 6x6x256 map to 4096; fc7 4096; fc8 1000.

# %%
def alexnet_params_by_hand():
    # BEGIN SOLUTION
    return (conv_params(11, 3, 96) + conv_params(5, 96, 256, groups=2) + conv_params(3, 256, 384)
            + conv_params(3, 384, 384, groups=2) + conv_params(3, 384, 256, groups=2)
            + dense_params(6 * 6 * 256, 4096) + dense_params(4096, 4096) + dense_params(4096, 1000))
    # END SOLUTION


assert alexnet_params_by_hand() == net.count_params(), (alexnet_params_by_hand(), net.count_params())
print(f"by hand: {alexnet_params_by_hand():,} = model.count_params()")

# %% [markdown]
# ## 3. VGG: only 3x3 convolutions
#
# VGG stacks 3x3 "same" convolutions, two to four per block, and halves the image with 2x2 max pooling
# after each block. CE 40717, "Power of small filters": three 3x3 layers see 7x7 like one 7x7 layer, with
# 27 C^2 weights instead of 49 C^2 and three non-linearities instead of one.

# %%
print("one 7x7, C=64:", conv_cost(7, 64), "weights;  three 3x3:", conv_cost(3, 64, layers=3), "weights")
vgg = vgg16()
print(f"VGG16: {weight_layer_depth(vgg)} layers, {vgg.count_params():,} parameters, "
      f"{multiply_adds(vgg) / 1e9:.1f} billion multiply-adds per image")
print(f"fc1 alone (7*7*512 -> 4096): {vgg.get_layer('fc1').count_params():,} parameters")
print("VGG19 (the deck's '19 layers, ~140M'): 3 more convolutions, 143,667,240 parameters")

# %% [markdown]
# ## 4. GoogLeNet: the inception module and its 1x1 bottlenecks
#
# An inception module runs four branches side by side on the same input - 1x1, 3x3, 5x5 convolutions and a
# 3x3 max pool - and concatenates their outputs along the channels. A 5x5 convolution on 192 channels is
# expensive, so a 1x1 convolution first reduces the channels ("reduce", the bottleneck). Here is module 3a
# of the paper, on 28x28x192 maps:

# %%
inputs = keras.Input((28, 28, 192))
outputs = inception_module(inputs, 64, 96, 128, 16, 32, 32, name="inception_3a")
module = keras.Model(inputs, outputs, name="inception_3a")
module.summary()
naive_out = inception_module(inputs, 64, None, 128, None, 32, None, name="naive")
naive = keras.Model(inputs, naive_out, name="naive_inception")
print(f"with the 1x1 reductions: {module.count_params():,} parameters, output {module.output_shape[1:]}")
print(f"without (naive):         {naive.count_params():,} parameters, output {naive.output_shape[1:]}")

# %%
print(inception_bottleneck_saving())

# %% [markdown]
# ## Exercise 3: multiplications of a convolution
#
# Write the number of multiplications of a "same" k x k convolution (stride 1) from `c_in` to `c_out`
# channels on `size` x `size` maps, and check the table above: the 5x5 branch with and without its 1x1.

# %%
def conv_multiplications(size, kernel, c_in, c_out):
    # BEGIN SOLUTION
    return size * size * kernel * kernel * c_in * c_out
    # END SOLUTION


saving = inception_bottleneck_saving()
assert conv_multiplications(28, 5, 192, 32) == saving["5x5, 192 -> 32"]["multiplications"]
assert (conv_multiplications(28, 1, 192, 16) + conv_multiplications(28, 5, 16, 32)
        == saving["1x1 reduce then 5x5"]["multiplications"])
print("conv_multiplications agrees: 120.4 million without the bottleneck, 12.4 million with it")

# %% [markdown]
# The whole network stacks nine such modules:

# %%
goog = googlenet()
print(f"GoogLeNet: {weight_layer_depth(goog)} layers (the deck: 22), {goog.count_params():,} parameters "
      f"(the deck: ~5M, the paper's '12 times fewer than AlexNet'), "
      f"{multiply_adds(goog) / 1e9:.2f} billion multiply-adds (the paper: 1.5 billion)")

# %% [markdown]
# ## 5. MobileNet: depthwise separable convolutions
#
# A standard convolution looks at every channel at every position of its window at once. MobileNet splits
# that: a *depthwise* 3x3 convolution filters each channel on its own (where to look), then a *pointwise*
# 1x1 convolution mixes the channels (what to combine). The cost falls to a fraction 1/N + 1/k^2 of the
# standard one. This is the channel-wise cousin of the separable kernels of the Goodfellow deck
# ("Efficient Convolution Algorithms": a separable d-dimensional kernel costs O(w d) instead of O(w^d)).

# %%
print(mobilenet_cost())   # the MobileNet paper's example layer: 14x14x512, 3x3, 512 filters

# %%
x = keras.Input((14, 14, 512))
standard = layers.Conv2D(512, 3, padding="same", use_bias=False)
separable = layers.SeparableConv2D(512, 3, padding="same", use_bias=False)
standard(x), separable(x)
print(f"Conv2D: {standard.count_params():,} weights;  SeparableConv2D: {separable.count_params():,} weights")
mobile = MobileNet(weights=None)
print(f"MobileNet: {weight_layer_depth(mobile)} layers, {mobile.count_params():,} parameters, "
      f"{multiply_adds(mobile) / 1e6:.0f} million multiply-adds (the paper: 569 million)")

# %% [markdown]
# ## 6. All together
#
# One table: the depth the decks quote, the parameters and the multiply-adds per 224x224 image (227 for
# AlexNet). ResNet-152 is deeper than VGG and has fewer parameters and less computation (CIS 5190: "Less
# computation in forward pass than VGGNet!"); lab 07 builds its blocks.

# %%
rows = [("LeNet-5", lenet5()), ("AlexNet", net), ("VGG16", vgg), ("GoogLeNet", goog),
        ("ResNet-50", resnet(50)), ("ResNet-152", resnet(152)), ("MobileNet", mobile)]
print(f"{'network':<11}{'layers':>7}{'parameters':>14}{'multiply-adds':>16}")
for name, network in rows:
    print(f"{name:<11}{weight_layer_depth(network):>7}{network.count_params():>14,}{multiply_adds(network):>16,}")
