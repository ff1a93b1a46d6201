# %% [markdown]
# # Lab 02: output sizes, padding, stride, dilation and receptive fields
#
# How big is a layer's output, and how much of the input does one of its cells see? Both follow from
# four numbers per axis: the input size N, the kernel size F, the stride S and the padding P (plus
# the dilation D). The course's formula, in `tinyconv/geometry.py`:
#
#     out = floor((N + P_before + P_after - D*(F - 1) - 1) / S) + 1
#
# With no dilation and the same padding P on both sides that is the slides' `(N + 2P - F) / S + 1`.
# In this lab you write that formula, check it against the decks' numbers and against real layers,
# see Keras's `padding="same"`, dilated kernels and receptive fields, and replace pooling by a
# strided convolution.

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import geometry, layers
from tinyconv.kernels.reference.conv import conv2d_forward
from tinyconv.teaching import conv_cost, receptive_field

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run
np.set_printoptions(precision=3, suppress=True)


def correlate(image, kernel, stride=1, padding=0, dilation=1):
    """One 2-D image through the reference conv2d kernel (cross-correlation, as Conv2D computes)."""
    x = np.asarray(image, dtype=np.float64)[None, :, :, None]
    k = np.asarray(kernel, dtype=np.float64)[:, :, None, None]
    pads = ((padding, padding), (padding, padding))
    return conv2d_forward(x, k, None, (stride, stride), pads, (dilation, dilation), 1)[0, :, :, 0]


# %% [markdown]
# ## 1. Stride: the lecture's numbers
#
# CIS 5190 (lecture 16, "Stride") pads a 4x4 input with one ring of zeros and slides the 2x2 filter
# `[[1, 0], [0, 0.5]]` over it. With stride 1 the window stops at 6 - 2 + 1 = 5 places per axis; with
# stride 2 it skips every other place, 3 per axis.

# %%
stride_input = np.array([[1, 0, 0.5, 0.5],
                         [0, 0.5, 1, 0],
                         [0, 1, 0.5, 1],
                         [1, 0.5, 0.5, 1]])
stride_filter = np.array([[1, 0], [0, 0.5]])
print("stride 1:\n", correlate(stride_input, stride_filter, stride=1, padding=1))
print("stride 2 (the slide: 0.5 0.25 0 / 0 0.75 0 / 0 0.5 1):\n",
      correlate(stride_input, stride_filter, stride=2, padding=1))

# %% [markdown]
# ## Exercise: the output-size formula
#
# Write `conv_output_size(n, kernel, stride, padding, dilation)` for one axis, with `padding` zeros
# on both sides. A dilated kernel spans `dilation * (kernel - 1) + 1` cells. Round down: a window
# that would run off the edge is not computed.

# %%
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    # BEGIN SOLUTION
    span = dilation * (kernel - 1) + 1
    return (n + 2 * padding - span) // stride + 1
    # END SOLUTION


# %% [markdown]
# Checked against the decks' worked numbers and against `tinyconv.geometry.output_size` on every
# combination of small sizes:
#
# * COSC2779's 7x7 image with a 3x3 kernel: 5 (valid), 7 (padding 1), 3 (stride 2);
# * CIS 5190's stride example above: 5 and 3;
# * Goodfellow et al.'s edge detector: a 2x1 kernel on a 320x280 image gives 319x280;
# * CE 40717's 2x2 max pooling with stride 2 on a 7x7 map: 3 (pooling is a window like a kernel).

# %%
deck_numbers = [((7, 3, 1, 0), 5), ((7, 3, 1, 1), 7), ((7, 3, 2, 0), 3), ((6, 2, 1, 0), 5), ((6, 2, 2, 0), 3),
                ((320, 2, 1, 0), 319), ((280, 1, 1, 0), 280), ((7, 2, 2, 0), 3)]
for (n, kernel, stride, padding), expected in deck_numbers:
    got = conv_output_size(n, kernel, stride, padding)
    assert got == expected, f"conv_output_size({n}, {kernel}, {stride}, {padding}) = {got}, the deck says {expected}"

for n in range(1, 12):
    for kernel in range(1, 5):
        for stride in range(1, 4):
            for padding in range(0, 3):
                for dilation in range(1, 3):
                    expected = geometry.output_size(n, kernel, stride, padding, padding, dilation)
                    if expected < 1:
                        continue  # the kernel does not fit at all
                    got = conv_output_size(n, kernel, stride, padding, dilation)
                    assert got == expected, (f"conv_output_size({n}, {kernel}, {stride}, {padding}, {dilation}) "
                                             f"= {got}, expected {expected}")
print("conv_output_size agrees with the decks and with tinyconv.geometry.output_size")

# %% [markdown]
# ## 2. Keras's `padding="same"`
#
# `"same"` chooses the padding that makes `out = ceil(N / S)`. The total may be odd; then, as in
# TensorFlow, the extra zero goes at the end (bottom, right). A 6-wide input, a 3-wide kernel and
# stride 2 need one zero in total: none before, one after.

# %%
for n, kernel, stride in [(7, 3, 1), (6, 3, 2), (7, 3, 2), (8, 5, 3)]:
    before, after = geometry.same_padding(n, kernel, stride)
    out = geometry.output_size(n, kernel, stride, before, after)
    layer_out = layers.Conv2D(1, kernel, strides=stride, padding="same").compute_output_shape((None, n, n, 1))[1]
    print(f"N={n} F={kernel} S={stride}: pads (before, after) = ({before}, {after}), out = {out} = ceil({n}/{stride}),"
          f" Conv2D says {layer_out}")
    assert out == layer_out == -(-n // stride)

# %% [markdown]
# ## 3. Dilation: a wider view for the same weights
#
# A 3x3 kernel with dilation 2 skips every other pixel: it spans 5x5 cells with 9 weights. Below it
# sees the four corners and the edge midpoints of each 5x5 patch.

# %%
dilated = layers.Conv2D(1, 3, dilation_rate=2)
print("7x7 input, 3x3 kernel, dilation 2 ->", dilated.compute_output_shape((None, 7, 7, 1))[1:3],
      "= conv_output_size(7, 3, dilation=2) =", conv_output_size(7, 3, dilation=2))
probe = np.zeros((5, 5))
probe[::2, ::2] = 1.0  # the cells a dilated 3x3 kernel touches
print("the cells it reads in one 5x5 window:\n", probe)
ramp = np.arange(25.0).reshape(5, 5)
assert correlate(ramp, np.ones((3, 3)), dilation=2)[0, 0] == (probe * ramp).sum()

# %% [markdown]
# ## 4. Receptive fields
#
# One output cell of a 3x3 convolution sees 3x3 inputs; stack another 3x3 on top and each of its cells
# sees 3x3 cells that each saw 3x3: 5x5. CE 40717: "each successive convolution adds K - 1 to the
# receptive field size. With L layers, the receptive field size is 1 + L(K - 1)", so three layers
# see 7, like one 7x7 layer, for 27 C^2 weights instead of 49 C^2 (`tinyconv.teaching.receptive_field`).

# %%
three = receptive_field([(3, 1), (3, 1), (3, 1)])
three.explain()  # prints every step of the sums
assert three.size == 1 + 3 * (3 - 1) == 7
print("weights per C^2: one 7x7 =", conv_cost(7, 1), " three 3x3 =", conv_cost(3, 1, layers=3))

# %% [markdown]
# A stride (or a pooling layer) multiplies every later step: after a stride-2 layer, each further
# kernel cell is two input pixels apart (the "jump"). That is how a few layers come to see the whole
# image.

# %%
print(receptive_field([(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)]))

# %% [markdown]
# ## 5. A strided convolution instead of pooling
#
# COSC2779 and CE 40717: "convolution + pooling can be replaced by a strided convolution". Both
# halve the feature map; the strided convolution computes only the cells it keeps (a quarter of the
# work) and learns how to downsample. Both are trained briefly on the digits below.

# %%
(x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
x_train, x_test = (x_train / 16.0)[..., None].astype("float32"), (x_test / 16.0)[..., None].astype("float32")
if QUICK:
    x_train, y_train = x_train[:300], y_train[:300]


def small_net(downsample):
    keras.utils.set_random_seed(0)
    if downsample == "pool":
        body = [layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPool2D(2)]
    else:
        body = [layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")]
    model = keras.Sequential([keras.Input((8, 8, 1)), *body, layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


for downsample in ("pool", "stride"):
    model = small_net(downsample)
    model.fit(x_train, y_train, epochs=2 if QUICK else 15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    feature_shape = model.layers[-3].output_shape
    print(f"{downsample:>6}: feature map {feature_shape[1:]}, {model.count_params()} parameters, "
          f"test accuracy {accuracy:.3f}")
