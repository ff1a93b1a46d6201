# %% [markdown]
# # Lab 01: convolution by hand
#
# A convolutional layer slides a small kernel over the image and, at every position, takes the dot
# product of the kernel with the patch under it. In this lab you
#
# 1. compute the lecture's 5x5 example by hand, one sliding dot product at a time;
# 2. see why deep learning's "convolution" is a cross-correlation (no kernel flip);
# 3. set kernels by hand (an edge detector, Sobel) and watch what they respond to;
# 4. write the full multi-channel `conv2d_forward` yourself and let the checker compare it with
#    tinyconv's reference kernel, `tinyconv/kernels/reference/conv.py`.
#
# The formula (NHWC images, Keras's kernel layout `(KH, KW, C, F)`):
#
#     y[n, i, j, f] = bias[f] + sum over p, q, c of x_pad[n, i*sh + p, j*sw + q, c] * kernel[p, q, c, f]

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.kernels.reference.flip import convolve2d, cross_correlate2d
from tinyconv.teaching.exercises import check, exercise_signature

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. One output cell is one dot product
#
# The numbers of the lecture's "Numerical Example" (Deep Learning 1, lecture 8): a 5x5 input and a
# 3x3 weight. The top-left output cell multiplies the top-left 3x3 patch by the weight, entry by
# entry, and adds everything up.

# %%
image = np.array([[3, 3, 2, 1, 0],
                  [0, 0, 1, 3, 1],
                  [3, 1, 2, 2, 3],
                  [2, 0, 0, 2, 2],
                  [2, 0, 0, 0, 1]], dtype=np.float64)
weight = np.array([[0, 1, 2],
                   [2, 2, 0],
                   [0, 1, 2]], dtype=np.float64)

patch = image[0:3, 0:3]
print("patch * weight =\n", patch * weight)
print("top-left output:", np.sum(patch * weight))  # the slide's 12


# %% [markdown]
# Slide the window one step at a time: a 5x5 input and a 3x3 kernel leave 5 - 3 + 1 = 3 positions
# per axis, so the output is 3x3.

# %%
def correlate_one_channel(image, kernel):
    """Every output cell: the dot product of the kernel with the patch under it ('valid' positions)."""
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out


feature_map = correlate_one_channel(image, weight)
print(feature_map)  # the slide: 12 12 17 / 10 17 19 / 9 6 14
assert np.array_equal(feature_map, [[12, 12, 17], [10, 17, 19], [9, 6, 14]])

# %% [markdown]
# ## 2. Cross-correlation versus convolution
#
# The mathematical convolution runs the kernel backwards, `(x * w)(t) = sum x(tau) w(t - tau)`; in
# 2-D that is the cross-correlation with the kernel flipped upside down and left to right. Deep
# learning frameworks compute the cross-correlation (`x ⋆ w`, no flip) and call it convolution: when
# the kernel is learnt, the flip does not matter. See `tinyconv/kernels/reference/flip.py`.
#
# COSC2779's Sobel example writes the flipped form, `I_o(i, j) = sum w[p, q] I_in(i - p, j - q)`, and
# gets -0.89 at the first position (the slide prints -1.09 for the second; the exact value is -1.10).
# The cross-correlation gives the same numbers with the opposite sign, because flipping this Sobel
# kernel negates it.

# %%
grey = np.array([[0.80, 0.74, 0.60, 0.50, 0.47, 0.55],
                 [0.81, 0.73, 0.58, 0.45, 0.41, 0.46],
                 [0.81, 0.73, 0.58, 0.43, 0.35, 0.38],
                 [0.81, 0.73, 0.58, 0.43, 0.31, 0.31],
                 [0.82, 0.73, 0.61, 0.44, 0.29, 0.27],
                 [0.83, 0.75, 0.62, 0.44, 0.27, 0.25]])
sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
print("true convolution (the slide's formula):\n", convolve2d(grey, sobel))
print("cross-correlation (what Conv2D computes):\n", cross_correlate2d(grey, sobel))
print("flipped Sobel kernel:\n", sobel[::-1, ::-1])

# %% [markdown]
# ## 3. Kernels set by hand
#
# Before anything is learnt, a kernel is a pattern detector: the output is large where the patch
# looks like the kernel. A vertical edge detector `[1, 0, -1]` (three rows of it) on an image that is
# bright (10) on the left and dark (0) on the right answers 30 where its window straddles the edge
# and 0 on flat ground.

# %%
edge_image = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=np.float64)
vertical_edge = np.array([[1, 0, -1]] * 3, dtype=np.float64)
print(correlate_one_channel(edge_image, vertical_edge))

# %% [markdown]
# The same kernels exist as initializers: `Conv2D(..., kernel_initializer="sobel_x")` builds a layer
# whose kernel is the Sobel x kernel. On a handwritten digit (scikit-learn's 8x8 digits, bundled with
# tinyconv) the two Sobel filters find the vertical and horizontal strokes.

# %%
(x_train, y_train), _ = keras.datasets.digits.load_data()
digit = (x_train[0] / 16.0)[None, :, :, None]  # one image, NHWC
edges = keras.Sequential([
    keras.Input((8, 8, 1)),
    layers.Conv2D(2, 3, padding="same", use_bias=False, name="sobel"),
])
sobel_bank = np.concatenate([keras.initializers.get("sobel_x")((3, 3, 1, 1)),
                             keras.initializers.get("sobel_y")((3, 3, 1, 1))], axis=-1)  # (3, 3, 1, 2)
edges.layers[0].set_weights([sobel_bank])
maps = edges.predict(digit.astype("float32"), verbose=0)[0]
magnitude = np.sqrt(maps[..., 0] ** 2 + maps[..., 1] ** 2)
print(f"digit {y_train[0]}, edge magnitude:\n", magnitude)

try:
    import matplotlib.pyplot as plt
except ImportError:  # the pictures need matplotlib: pip install 'tinyconv[viz]'
    plt = None
if plt is not None:
    figure, axes = plt.subplots(1, 4, figsize=(8, 2.2))
    for axis, picture, title in zip(axes, [digit[0, :, :, 0], maps[..., 0], maps[..., 1], magnitude],
                                    ["digit", "Sobel x", "Sobel y", "magnitude"]):
        axis.imshow(picture, cmap="gray")
        axis.set_title(title)
        axis.axis("off")
    plt.show()

# %% [markdown]
# ## 4. Many channels in, many filters out
#
# A colour image has C = 3 channels, so each filter is a KH x KW x C block and the dot product runs
# over all three axes; F filters give F output channels. CIS 5190's filter-bank demo: 3 input
# channels, two 3x3 filters, one bias each: `(3 * 3 * 3 + 1) * 2 = 56` parameters.

# %%
bank = layers.Conv2D(2, 3, strides=2, padding="same")
bank.build((None, 7, 7, 3))
print("kernel", bank.kernel.shape, "bias", bank.bias.shape, "parameters:", bank.count_params())

# %% [markdown]
# ## Exercise: `conv2d_forward`
#
# Write the whole forward pass: a batch of NHWC images, a Keras-layout kernel, a bias, a stride and a
# zero padding. Pad first (`np.pad`), then for every output cell take the dot product of the window
# with each filter. Two loops over the output rows and columns and one `np.tensordot` (or an
# `einsum`) per cell is plenty; the reference does it differently, one matrix product per kernel
# cell (read `tinyconv/kernels/reference/conv.py` afterwards).

# %%
print(exercise_signature("conv2d_forward"))


# %%
def conv2d_forward(x, kernel, bias, stride, padding):
    # BEGIN SOLUTION
    kh, kw, _, filters = kernel.shape
    (sh, sw), (ph, pw) = stride, padding
    x_pad = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    out_h = (x_pad.shape[1] - kh) // sh + 1
    out_w = (x_pad.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            window = x_pad[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]  # (N, KH, KW, C)
            y[:, i, j, :] = np.tensordot(window, kernel, axes=([1, 2, 3], [0, 1, 2])) + bias
    return y
    # END SOLUTION


# %%
result = check("conv2d_forward", conv2d_forward)
assert result.passed, "conv2d_forward is not right yet: the checker's report above says where"

# %% [markdown]
# ## Your kernel against the library's layer
#
# Your function now computes what `Conv2D` computes. Check it on the digits with the Sobel bank from
# section 3 (`padding="same"` with a 3x3 kernel is a padding of 1 on each side).

# %%
count = 16 if QUICK else 200
batch = (x_train[:count] / 16.0)[..., None]
kernel = edges.layers[0].kernel.astype(np.float64)
mine = conv2d_forward(batch, kernel, np.zeros(2), (1, 1), (1, 1))
library = edges.predict(batch.astype("float32"), verbose=0)
print(f"{count} digits: largest difference from Conv2D {np.abs(mine - library).max():.2e}")
assert np.allclose(mine, library, atol=1e-4)
