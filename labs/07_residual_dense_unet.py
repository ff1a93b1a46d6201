# %% [markdown]
# # Lab 07: residual blocks, dense blocks, U-Net
#
# Three ways of wiring layers that are not a plain chain:
#
# 1. **ResNet** adds a block's input to its output: `x_{l+1} = x_l + NN_l(x_l)` (DL1, "Residual
#    Connections"). The gradient gets a short path back to the early layers, and very deep networks train.
# 2. **DenseNet** concatenates instead of adding: every layer sees the feature maps of all the layers before
#    it (Goodfellow ch. 9, "DenseNet: feature reuse, high parameter efficiency").
# 3. **U-Net** shrinks the image on a contracting path and grows it back on an expanding path, handing the
#    contracting path's maps across with skip connections (DL1, "Image Segmentation: U-net").
#
# All three are built with the functional API: `layers.add([a, b])`, `layers.concatenate([a, b])`.

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.applications import DenseNet121
from tinyconv.teaching import trace_step
from tinyconv.teaching.architectures import (basic_block, bottleneck_block, bottleneck_block_cost, dense_block,
                                             multiply_adds, resnet, small_resnet, unet, vgg19, weight_layer_depth)

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run

(x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
x_train, x_test = (x_train / 16.0)[..., None].astype("float32"), (x_test / 16.0)[..., None].astype("float32")
if QUICK:
    x_train, y_train = x_train[:400], y_train[:400]

# %% [markdown]
# ## 1. Why residual connections: the gradient of a deep stack
#
# Two networks with exactly the same layers - a stem and 10 blocks of two 3x3 convolutions - one plain, one
# with the block's input added back. One training step, traced (`trace_step`): how large is the gradient
# of the first convolution's kernel? In the plain stack it has to pass through 20 layers; in the residual
# one the additions give it a short cut.

# %%
def deep_network(blocks, residual, width=8):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(inputs)
    for b in range(blocks):
        y = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{b}_a")(x)
        y = layers.Conv2D(width, 3, padding="same", name=f"block{b}_b")(y)
        x = layers.Activation("relu")(layers.add([x, y]) if residual else y)
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs, name="residual" if residual else "plain")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


for residual in (False, True):
    model = deep_network(10, residual)
    trace = trace_step(model, x_train[:64], y_train[:64])
    first, last = trace["stem"]["weight_grads"]["kernel"]["norm"], trace["block9_b"]["weight_grads"]["kernel"]["norm"]
    print(f"{model.name:>8}: |dL/d stem kernel| = {first:.2e}, |dL/d last kernel| = {last:.2e}, "
          f"ratio first/last {first / last:.3f}, {model.count_params():,} parameters")

# %% [markdown]
# And after a little training (the DL1 deck's table: at 34 layers the plain network is worse than at 18,
# the residual one better; the same effect, in small):

# %%
for residual in (False, True):
    model = deep_network(10, residual)
    history = model.fit(x_train, y_train, epochs=4 if QUICK else 10, batch_size=32, verbose=0)
    print(f"{model.name:>8}: training loss per epoch " + " ".join(f"{v:.3f}" for v in history.history["loss"])
          + f", test accuracy {model.evaluate(x_test, y_test, verbose=0)[1]:.3f}")

# %% [markdown]
# ## 2. The basic block and the bottleneck block
#
# ResNet-18/34 use the *basic* block: two 3x3 convolutions with batch normalisation, the input added back
# before the last ReLU. ResNet-50/101/152 use the *bottleneck* block: a 1x1 convolution reduces the
# channels four times, a 3x3 works on the narrow maps, a 1x1 expands them again (CIS 5190, "Residual block
# designs"). The decks' Figure 5 compares them on 56x56 maps:

# %%
print(bottleneck_block_cost())

# %%
inputs = keras.Input((56, 56, 256))
block = keras.Model(inputs, bottleneck_block(inputs, 64, name="conv2_block2"), name="bottleneck_block")
block.summary()

# %% [markdown]
# ## Exercise 1: write the basic block
#
# With the functional API, write `residual_block(x, filters)`: Conv2D 3x3 "same" -> BatchNormalization ->
# ReLU -> Conv2D 3x3 "same" -> BatchNormalization, then add `x` and apply ReLU. (Same number of filters as
# `x` has channels, stride 1: the shortcut is `x` itself.)
#
# Two checks: it has exactly the parameters of `basic_block`; and when both convolutions' kernels and biases
# are zero, the block must output `relu(x)`: the residual branch gives 0, and what is left is the shortcut.

# %%
def residual_block(x, filters):
    # BEGIN SOLUTION
    y = layers.Conv2D(filters, 3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    y = layers.BatchNormalization()(y)
    return layers.Activation("relu")(layers.add([x, y]))
    # END SOLUTION


inputs = keras.Input((8, 8, 16))
mine = keras.Model(inputs, residual_block(inputs, 16))
reference = keras.Model(inputs, basic_block(inputs, 16))
assert mine.count_params() == reference.count_params(), (mine.count_params(), reference.count_params())
for layer in mine.layers:
    if isinstance(layer, layers.Conv2D):
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
probe = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype("float32")
np.testing.assert_allclose(mine.predict(probe, verbose=0), np.maximum(probe, 0), atol=1e-5)
print("residual_block: the parameters of basic_block, and relu(x) when its branch is zero")

# %% [markdown]
# ## 3. ResNets at full size
#
# Stack the blocks in four stages (64, 128, 256, 512 filters; each new stage halves the image). The deck:
# "ResNet, 152 layers ... back to 60M params", and less computation than VGG (VGG19: 19 layers, 143,667,240
# parameters, 19.6 billion multiply-adds per image; building it allocates 575 MB, skipped in the quick run).

# %%
networks = [(f"ResNet-{d}", resnet(d)) for d in (18, 34, 50, 152)]
if not QUICK:
    networks.insert(0, ("VGG19", vgg19()))
print(f"{'network':<11}{'layers':>7}{'parameters':>14}{'multiply-adds':>16}")
for name, network in networks:
    print(f"{name:<11}{weight_layer_depth(network):>7}{network.count_params():>14,}{multiply_adds(network):>16,}")

# %% [markdown]
# A small ResNet of each kind trains on the digits in seconds:

# %%
for kind in ("basic", "bottleneck"):
    keras.utils.set_random_seed(0)
    model = small_resnet(block=kind)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=3 if QUICK else 10, batch_size=32, verbose=0)
    print(f"{model.name}: {model.count_params():,} parameters, "
          f"test accuracy {model.evaluate(x_test, y_test, verbose=0)[1]:.3f}")

# %% [markdown]
# ## 4. Dense blocks
#
# In a dense block each layer (BN -> ReLU -> 3x3 convolution with k filters, the growth rate) concatenates
# its k new channels onto everything before it, so a block fed k0 channels outputs k0 + L k after L layers.

# %%
inputs = keras.Input((8, 8, 16))
dense = keras.Model(inputs, dense_block(inputs, 4, 8, name="dense1"), name="dense_block")
channels = [layer.output_shape[-1] for layer in dense.layers if isinstance(layer, layers.Concatenate)]
print("channels after each concatenation:", channels)

# %% [markdown]
# ## Exercise 2: the channels of a dense block
#
# Write `dense_block_channels(k0, growth, n_layers)`: the list of channel counts after each layer.

# %%
def dense_block_channels(k0, growth, n_layers):
    # BEGIN SOLUTION
    return [k0 + i * growth for i in range(1, n_layers + 1)]
    # END SOLUTION


assert dense_block_channels(16, 8, 4) == channels
inputs = keras.Input((4, 4, 5))
assert dense_block_channels(5, 3, 6) == [layer.output_shape[-1] for layer in
                                          keras.Model(inputs, dense_block(inputs, 6, 3, name="d")).layers
                                          if isinstance(layer, layers.Concatenate)]
print("dense_block_channels agrees with the blocks")

# %% [markdown]
# Reusing every earlier map makes DenseNet frugal: DenseNet-121 has a third of ResNet-50's parameters.

# %%
densenet = DenseNet121(weights=None)
print(f"DenseNet-121: {weight_layer_depth(densenet)} layers, {densenet.count_params():,} parameters; "
      f"ResNet-50: {resnet(50).count_params():,}")

# %% [markdown]
# ## 5. U-Net: the shapes
#
# The paper's U-Net uses "valid" 3x3 convolutions: each takes one pixel off every side, so a pair takes 4
# pixels. A 572x572 tile shrinks to 388x388 by the end; on the way up the contracting path's maps are larger
# than the up-sampled ones and are cropped before the concatenation.

# %%
net = unet()
for layer in net.layers:
    if layer.name.endswith(("conv2", "pool", "upconv", "crop")) or layer.name == "classes":
        print(f"{layer.name:<14}{str(layer.output_shape[1:]):>18}")
print(f"{weight_layer_depth(net)} convolutional layers (the paper: 23), {net.count_params():,} parameters")

# %% [markdown]
# ## Exercise 3: the output size of a U-Net
#
# Write `unet_output_size(n, depth)` for "valid" convolutions: on the way down each level does two 3x3
# convolutions (-4) then a 2x2 pool (/2); the bottom does two convolutions (-4); on the way up each level
# doubles the size (x2) then does two convolutions (-4).

# %%
def unet_output_size(n, depth):
    # BEGIN SOLUTION
    for _ in range(depth):
        n = (n - 4) // 2
    n -= 4
    for _ in range(depth):
        n = 2 * n - 4
    return n
    # END SOLUTION


assert unet_output_size(572, 4) == 388
for n, depth in [(188, 3), (92, 2), (124, 3), (60, 1)]:
    expected = unet(input_shape=(n, n, 1), depth=depth, filters=2).output_shape[1]
    assert unet_output_size(n, depth) == expected, (n, depth, unet_output_size(n, depth), expected)
print("unet_output_size agrees with the built networks")

# %% [markdown]
# With "same" padding the output has the input's size. A small U-Net learns to mark the bright squares of
# noisy images, pixel by pixel:

# %%
rng = np.random.default_rng(0)
count = 192 if QUICK else 512
images = rng.normal(0, 0.3, (count, 16, 16, 1)).astype("float32")
masks = np.zeros((count, 16, 16, 1), dtype="float32")
for i in range(count):
    top, left, side = rng.integers(0, 10), rng.integers(0, 10), rng.integers(3, 7)
    masks[i, top:top + side, left:left + side] = 1.0
images += masks
keras.utils.set_random_seed(0)
small = unet(input_shape=(16, 16, 1), classes=1, filters=4, depth=2, padding="same", activation="sigmoid",
             name="small_unet")   # one class: a probability per pixel
small.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
small.fit(images[: count * 3 // 4], masks[: count * 3 // 4], epochs=6 if QUICK else 15, batch_size=16, verbose=0)
predicted = small.predict(images[count * 3 // 4:], verbose=0) > 0.5
truth = masks[count * 3 // 4:] > 0.5
iou = np.logical_and(predicted, truth).sum() / np.logical_or(predicted, truth).sum()
print(f"intersection over union on held-out images: {iou:.3f}")
