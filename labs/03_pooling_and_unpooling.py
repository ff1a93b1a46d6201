# %% [markdown]
# # Lab 03: pooling and unpooling
#
# A pooling layer replaces each window of a feature map by one summary number: its max, its average
# (or its min). It has no weights, works on every channel separately, and shrinks the map. In this
# lab you pool the lecture's 7x7 matrix, measure how max pooling makes a map tolerant to small
# shifts, write average pooling as a convolution, and go back up again: nearest-neighbour,
# bilinear, bed-of-nails and max-unpooling.
#
# The references: `tinyconv/kernels/reference/pooling.py` (max and average pooling, and the
# argmax a max-pooling layer remembers) and `tinyconv/kernels/reference/upsampling.py`. For a
# window of PH x PW cells moved by (sh, sw), with no padding:
#
#     y[n, i, j, c] = max (or mean) of x[n, i*sh : i*sh + PH, j*sw : j*sw + PW, c]
#     OH = (H - PH) // sh + 1

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.kernels.reference.conv import conv2d_forward
from tinyconv.kernels.reference.pooling import avg_pool2d_forward, max_pool2d_forward

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run
np.set_printoptions(precision=3, suppress=True)
NO_PADDING = ((0, 0), (0, 0))


def as_batch(matrix):
    """A 2-D matrix as a batch of one single-channel NHWC image (float32, what layers expect)."""
    return np.asarray(matrix, dtype="float32")[None, :, :, None]


# %% [markdown]
# ## 1. Max, average, min and global pooling
#
# COSC2779's "2D Pooling" slide: the 7x7 matrix, 2x2 max pooling with stride 2. The output is 3x3
# (the last row and column fit no full window and are dropped) and starts `6 8 2 / 7 ...`.

# %%
deck_7x7 = np.array([[1, 6, 2, 8, 1, 2, 7],
                     [1, 6, 2, 8, 1, 2, 5],
                     [0, 5, 8, 1, 5, 7, 1],
                     [1, 7, 1, 3, 5, 8, 0],
                     [5, 2, 4, 4, 5, 8, 4],
                     [8, 2, 3, 7, 3, 8, 2],
                     [1, 2, 3, 6, 5, 9, 6]])
image = as_batch(deck_7x7)
for layer in [layers.MaxPool2D(2), layers.AveragePooling2D(2), layers.MinPooling2D(2)]:
    print(f"{type(layer).__name__}:\n{layer(image)[0, :, :, 0]}")
print("global max, global average:", layers.GlobalMaxPooling2D()(image)[0], layers.GlobalAveragePooling2D()(image)[0])

# %% [markdown]
# CE 40717 notes which summary suits which picture: max pooling keeps bright strokes on a dark
# background, min pooling dark strokes on a light one, average pooling smooths. Global pooling
# keeps one number per channel: it turns a feature map of any size into a vector (GoogLeNet and
# ResNet end that way instead of a large Flatten + Dense).

# %% [markdown]
# ## 2. Local invariance of max pooling
#
# A convolution is *equivariant* to shifts: shift the image and the feature map shifts with it. Max
# pooling adds some *invariance*: if the largest value of a window moves but stays inside that
# window, the pooled number does not change. Deep Learning 1 (lecture 8) shows a top-left output
# that stays the same when the input moves one step. First that toy case:

# %%
toy = np.zeros((4, 4))
toy[0, 0] = 1.0  # one bright pixel in the top-left window
shifted = np.roll(toy, 1, axis=1)  # one step right: still in the same 2x2 window
for name, picture in [("original", toy), ("shifted", shifted)]:
    pooled, _ = max_pool2d_forward(as_batch(picture).astype(np.float64), (2, 2), (2, 2), NO_PADDING)
    print(f"{name}: pooled {pooled[0, :, :, 0].ravel()}")

# %% [markdown]
# Now on real feature maps: the Sobel edge maps (ReLU) of handwritten digits, blown up to 16x16, and
# the same digits shifted one pixel to the right. How much of each map changes?

# %%
(x_train, _), _ = keras.datasets.digits.load_data()
count = 50 if QUICK else 500
digits = np.repeat(np.repeat(x_train[:count] / 16.0, 2, axis=1), 2, axis=2)[..., None]  # (count, 16, 16, 1)
moved = np.zeros_like(digits)
moved[:, :, 1:] = digits[:, :, :-1]
sobel = np.concatenate([keras.initializers.get("sobel_x")((3, 3, 1, 1)),
                        keras.initializers.get("sobel_y")((3, 3, 1, 1))], axis=-1).astype(np.float64)


def edge_maps(images):
    return np.maximum(conv2d_forward(images, sobel, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1), 0.0)


def relative_change(before, after):
    return np.abs(before - after).mean() / np.abs(before).mean()


before, after = edge_maps(digits), edge_maps(moved)
print(f"feature maps:           {relative_change(before, after):.0%} changed")
for size in (2, 4):
    pooled_before, _ = max_pool2d_forward(before, (size, size), (size, size), NO_PADDING)
    pooled_after, _ = max_pool2d_forward(after, (size, size), (size, size), NO_PADDING)
    print(f"after {size}x{size} max pooling: {relative_change(pooled_before, pooled_after):.0%} changed")

# %% [markdown]
# ## Exercise: average pooling is a convolution
#
# Deep Learning 1 (lecture 8): "one can express the average pooling using convolution with constant
# weight W = 1/k^2 and no bias". Build that kernel for `channels` channels: shape
# `(k, k, channels, channels)`, where output channel c averages input channel c only (the pooling
# works on each channel separately). A convolution with it and stride k is then average pooling.

# %%
def average_pooling_kernel(k, channels):
    # BEGIN SOLUTION
    kernel = np.zeros((k, k, channels, channels))
    for c in range(channels):
        kernel[:, :, c, c] = 1.0 / (k * k)
    return kernel
    # END SOLUTION


# %%
rng = np.random.default_rng(0)
feature_maps = rng.standard_normal((2, 6, 6, 3))
for k in (2, 3):
    kernel = average_pooling_kernel(k, 3)
    assert kernel.shape == (k, k, 3, 3), f"average_pooling_kernel({k}, 3): shape {kernel.shape}, not {(k, k, 3, 3)}"
    as_convolution = conv2d_forward(feature_maps, kernel, None, (k, k), NO_PADDING, (1, 1), 1)
    as_pooling = avg_pool2d_forward(feature_maps, (k, k), (k, k), NO_PADDING)
    assert np.allclose(as_convolution, as_pooling), f"{k}x{k}: the convolution does not average each channel"
print("average pooling == convolution with 1/k^2 on each channel's own kernel slice, stride k")

# %% [markdown]
# ## 3. Going back up: unpooling and upsampling
#
# An encoder-decoder (a U-Net, a segmentation network) has to grow the map again. CE 40717's four
# ways, on a 2x2 map:
#
# * nearest neighbour: copy each value into a 2x2 block (`UpSampling2D`);
# * bilinear interpolation: a weighted average of the four nearest values
#   (`UpSampling2D(interpolation="bilinear")`);
# * bed of nails: the value in the block's top-left cell, zeros elsewhere;
# * max-unpooling: the value goes back where the max came from (the pooling layer saved the
#   argmax), zeros elsewhere.

# %%
small = as_batch([[1, 2], [3, 4]])
print("nearest:\n", layers.UpSampling2D(2)(small)[0, :, :, 0])
print("bilinear:\n", layers.UpSampling2D(2, interpolation="bilinear")(small)[0, :, :, 0])
nails = np.zeros((1, 4, 4, 1), dtype="float32")
nails[:, ::2, ::2] = small
print("bed of nails:\n", nails[0, :, :, 0])

# %% [markdown]
# Max-unpooling needs the positions. `max_pool2d_forward` returns, for each output cell, the flat
# index `h * W + w` of the winning input cell (PyTorch's `MaxUnpool2d` convention): put each pooled
# value back there.

# %%
top_left = deck_7x7[:4, :4].astype(np.float64)
pooled, argmax = max_pool2d_forward(top_left[None, :, :, None], (2, 2), (2, 2), NO_PADDING)
unpooled = np.zeros(16)
unpooled[argmax[0, :, :, 0].ravel()] = pooled[0, :, :, 0].ravel()
print("the 7x7 matrix's top-left 4x4:\n", top_left)
print("max pooled:\n", pooled[0, :, :, 0])
print("max-unpooled (each max back in its place):\n", unpooled.reshape(4, 4))
