# %% [markdown]
# # Lab 04: backpropagation through convolution and pooling
#
# A convolution is a linear map, `y = W x`, with local connections and shared weights (CIS 5190,
# lecture 16: "Can we back-propagate through a convolution? Yes!"). So its backward pass is the
# transpose, and every weight collects a gradient from every position it was used at (CE 40717:
# "each weight contributes to every position in the map"). Max pooling is a switch: the gradient
# goes back to the cell that won the max and nowhere else.
#
# You write `conv2d_backward`, `max_pool2d_forward` and `max_pool2d_backward`, then build the
# convolution's matrix W to see that `W^T` is both the backward pass and the transposed
# convolution, and check that convolution commutes with shifts. The formulas (the docstring of
# `tinyconv/kernels/reference/conv.py`):
#
#     dbias[f]         = sum over n, i, j of dy[n, i, j, f]
#     dkernel[p,q,c,f] = sum over n, i, j of x_pad[n, i*sh + p, j*sw + q, c] * dy[n, i, j, f]
#     dx_pad[n, i*sh + p, j*sw + q, c] += sum over f of kernel[p, q, c, f] * dy[n, i, j, f]
#
# and for max pooling (CE 40717, "Backpropagation maxout", `tinyconv/kernels/reference/pooling.py`):
# `dx` at a window's argmax receives that window's `dy`; every other cell receives 0.

# %%
import os

import numpy as np

from tinyconv import layers
from tinyconv.kernels.reference.conv import conv2d_forward as reference_conv2d
from tinyconv.teaching.exercises import check, exercise_signature

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run
np.set_printoptions(precision=3, suppress=True)


def conv(x, kernel, stride=(1, 1), padding=(0, 0)):
    """The reference forward pass (no bias), with the exercises' (stride, padding) arguments."""
    (ph, pw) = padding
    return reference_conv2d(x, kernel, None, stride, ((ph, ph), (pw, pw)), (1, 1), 1)


# %% [markdown]
# ## Exercise: `conv2d_backward`
#
# Visit the same windows as the forward pass. For output cell (i, j) the window is
# `x_pad[:, i*sh : i*sh + KH, j*sw : j*sw + KW, :]`; it gets `kernel @ dy[:, i, j, :]` added into
# `dx_pad` (windows overlap: add, do not assign), and the kernel gets `window * dy` summed over the
# batch. Cut the padding off `dx_pad` at the end.

# %%
print(exercise_signature("conv2d_backward"))


# %%
def conv2d_backward(dy, x, kernel, stride, padding):
    # BEGIN SOLUTION
    kh, kw = kernel.shape[:2]
    (sh, sw), (ph, pw) = stride, padding
    x_pad = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    dx_pad = np.zeros_like(x_pad)
    dkernel = np.zeros_like(kernel)
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            upstream = dy[:, i, j, :]                                               # (N, F)
            dkernel += np.tensordot(x_pad[:, rows, cols, :], upstream, axes=([0], [0]))  # (KH, KW, C, F)
            dx_pad[:, rows, cols, :] += np.tensordot(upstream, kernel, axes=([1], [3]))  # (N, KH, KW, C)
    dx = dx_pad[:, ph:ph + x.shape[1], pw:pw + x.shape[2], :]
    return dx, dkernel, dy.sum(axis=(0, 1, 2))
    # END SOLUTION


# %%
result = check("conv2d_backward", conv2d_backward)
assert result.passed, "conv2d_backward is not right yet: the checker's report above says where"

# %% [markdown]
# The checker compares with the reference kernels. Without a checker, compare with numbers: nudge
# one weight by ±h and see how much the loss `L = sum(y * dy)` moves (a central difference); that
# slope is `dkernel` at that weight.

# %%
rng = np.random.default_rng(1)
x = rng.standard_normal((2, 5, 6, 3))
kernel = rng.standard_normal((3, 2, 3, 4))
dy = rng.standard_normal(conv(x, kernel, (2, 1), (1, 0)).shape)
_, dkernel, _ = conv2d_backward(dy, x, kernel, (2, 1), (1, 0))
h, where = 1e-6, (1, 0, 2, 3)
plus, minus = kernel.copy(), kernel.copy()
plus[where] += h
minus[where] -= h
numeric = (np.sum(conv(x, plus, (2, 1), (1, 0)) * dy) - np.sum(conv(x, minus, (2, 1), (1, 0)) * dy)) / (2 * h)
print(f"dkernel{list(where)}: yours {dkernel[where]:.8f}, central difference {numeric:.8f}")
assert abs(dkernel[where] - numeric) < 1e-6

# %% [markdown]
# ## Exercise: max pooling, forward and backward
#
# Forward: the max of each window (no padding, Keras's `"valid"`). Backward: find each window's max
# again and send the window's gradient to it. With overlapping windows (stride < pool size) one cell
# can win several windows: it gets the sum.

# %%
print(exercise_signature("max_pool2d_forward"))
print(exercise_signature("max_pool2d_backward"))


# %%
def max_pool2d_forward(x, pool_size, stride):
    # BEGIN SOLUTION
    (ph, pw), (sh, sw) = pool_size, stride
    out_h, out_w = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            y[:, i, j, :] = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].max(axis=(1, 2))
    return y
    # END SOLUTION


def max_pool2d_backward(dy, x, pool_size, stride):
    # BEGIN SOLUTION
    (ph, pw), (sh, sw) = pool_size, stride
    dx = np.zeros_like(x)
    samples, channels = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[3]), indexing="ij")
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            window = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].reshape(x.shape[0], ph * pw, x.shape[3])
            winner = window.argmax(axis=1)                  # (N, C): cell k of the window, row-major
            rows, cols = i * sh + winner // pw, j * sw + winner % pw
            dx[samples, rows, cols, channels] += dy[:, i, j, :]
    return dx
    # END SOLUTION


# %%
assert check("max_pool2d_forward", max_pool2d_forward).passed, "max_pool2d_forward: see the report above"
assert check("max_pool2d_backward", max_pool2d_backward).passed, "max_pool2d_backward: see the report above"

# %% [markdown]
# ## Convolution as a matrix
#
# Flatten a single-channel 4x4 image into a vector of 16. A 3x3 kernel (no padding, stride 1) gives
# 2x2 = 4 outputs, each a dot product of the kernel with 9 of the 16 inputs: one row of a 4 x 16
# matrix W with the kernel's 9 numbers in it and zeros elsewhere (a doubly block Toeplitz matrix).
# Then `y = W x`, and the backward pass is `dx = W^T dy`.

# %%
def convolution_matrix(kernel, height, width):
    """W with conv(x) == W @ x.ravel() for one channel, 'valid' padding, stride 1."""
    kh, kw = kernel.shape
    out_h, out_w = height - kh + 1, width - kw + 1
    matrix = np.zeros((out_h * out_w, height * width))
    for i in range(out_h):
        for j in range(out_w):
            cell = np.zeros((height, width))
            cell[i:i + kh, j:j + kw] = kernel  # this output cell's weights, in input position
            matrix[i * out_w + j] = cell.ravel()
    return matrix


small_kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, -2.0], [1.0, 0.0, -1.0]])
W = convolution_matrix(small_kernel, 4, 4)
print("W (4 x 16):\n", W)
image = rng.standard_normal((4, 4))
upstream = rng.standard_normal((2, 2))
x4 = image[None, :, :, None]
k4 = small_kernel[:, :, None, None]
assert np.allclose(W @ image.ravel(), conv(x4, k4).ravel())
dx, _, _ = conv2d_backward(upstream[None, :, :, None], x4, k4, (1, 1), (0, 0))
assert np.allclose(W.T @ upstream.ravel(), dx.ravel())
print("y = W x and dx = W^T dy: both agree with the kernels")

# %% [markdown]
# `W^T` maps 4 numbers to 16: it *grows* the map. That is the transposed convolution
# (`Conv2DTranspose`, sometimes wrongly called deconvolution), the learnable upsampling of decoders:
# its forward pass is a convolution's backward pass.

# %%
transposed = layers.Conv2DTranspose(1, 3, use_bias=False)
small_map = upstream[None, :, :, None].astype("float32")
transposed(small_map)  # the first call builds the layer (its kernel: (3, 3, 1, 1))
transposed.set_weights([k4.astype("float32")])
grown = transposed(small_map)
print("Conv2DTranspose output:\n", grown[0, :, :, 0])
assert np.allclose(grown.ravel(), W.T @ upstream.ravel(), atol=1e-5)

# %% [markdown]
# Why not store W? Goodfellow et al. (chapter 9, "Efficiency of convolution"): a 2x1 edge kernel on a
# 320x280 image gives 319x280 outputs. As a dense matrix W holds 319*280 x 320*280 numbers; the
# convolution stores 2 and computes 319*280*3 multiply-adds.

# %%
outputs, inputs = 319 * 280, 320 * 280
print(f"dense W: {outputs * inputs:,} floats (> 8e9); sparse W: {2 * outputs:,} nonzeros; "
      f"the convolution: 2 floats, {outputs * 3:,} multiply-adds")

# %% [markdown]
# ## Shift equivariance
#
# Shift the image, and the feature map shifts the same way: `conv(shift(x)) == shift(conv(x))` (away
# from the borders, where the shifted-in zeros enter). Max pooling is only equivariant to shifts by a
# multiple of its stride.

# %%
size = 12 if QUICK else 32
picture = rng.standard_normal((1, size, size, 1))
kernel = rng.standard_normal((3, 3, 1, 2))
shift = (2, 3)
moved = np.roll(picture, shift, axis=(1, 2))
maps, moved_maps = conv(picture, kernel), conv(moved, kernel)
inner = (slice(None), slice(shift[0], None), slice(shift[1], None))  # cells whose window saw no wrapped pixel
print("conv(shift(x)) == shift(conv(x)) inside:",
      np.allclose(moved_maps[inner], np.roll(maps, shift, axis=(1, 2))[inner]))
for step in (1, 2):
    pooled = max_pool2d_forward(maps, (2, 2), (2, 2))
    pooled_moved = max_pool2d_forward(np.roll(maps, (step, step), axis=(1, 2)), (2, 2), (2, 2))
    print(f"max pooling, maps shifted by {step}: shifted by {step / 2} cells afterwards, equivariant:",
          np.allclose(pooled_moved[:, 1:, 1:], np.roll(pooled, (step // 2, step // 2), axis=(1, 2))[:, 1:, 1:]))
