# %% [markdown]
# # Lab 10: convolution in one and three dimensions
#
# The Goodfellow ch. 9 deck: "CNNs are used to process data that has grid-like topology - 1-D: regularly
# sampled time-series data; 2-D: images; 3-D: volume data, video". The sliding dot product is the same in
# every dimension; only the number of axes the window slides along changes:
#
#     1-D  y[n, t, f]       = b[f] + sum over k, c       of x[n, t*s + k, c]                 w[k, c, f]
#     3-D  y[n, d, i, j, f] = b[f] + sum over p, q, r, c of x[n, d*s + p, i*s + q, j*s + r, c] w[p, q, r, c, f]
#
# Layouts are channels last: `(batch, steps, channels)` for `Conv1D`, `(batch, depth, rows, cols,
# channels)` for `Conv3D`.

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import confusion_matrix

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run

# %% [markdown]
# ## 1. Local connectivity and weight sharing, counted
#
# The deck's slides "CNN: Local Connectivity" and "CNN: Weight Sharing": 7 input units, 3 hidden units.
# Fully connected: 3 x 7 = 21 weights. Local connectivity (each hidden unit sees 3 inputs): 3 x 3 = 9.
# With weight sharing (the same 3 weights everywhere): 3. In layers: `Dense`, `LocallyConnected1D` (a
# different kernel at every position), `Conv1D`.

# %%
x = keras.Input((7, 1))
dense = layers.Dense(3, use_bias=False)
local = layers.LocallyConnected1D(1, 3, strides=2, use_bias=False)
shared = layers.Conv1D(1, 3, strides=2, use_bias=False)
dense(layers.Flatten()(x)), local(x), shared(x)
print(f"global connectivity: {dense.count_params()}, local: {local.count_params()}, "
      f"local + shared: {shared.count_params()}")
assert (dense.count_params(), local.count_params(), shared.count_params()) == (21, 9, 3)

# %% [markdown]
# ## Exercise 1: 1-D convolution by hand
#
# Write `conv1d_forward(x, kernel, bias, stride)` for "valid" padding: `x` is `(batch, steps, channels)`,
# `kernel` is `(kernel_size, channels, filters)` (Keras's layout), and the output has
# `(steps - kernel_size) // stride + 1` steps.

# %%
def conv1d_forward(x, kernel, bias, stride=1):
    # BEGIN SOLUTION
    size, _, filters = kernel.shape
    steps = (x.shape[1] - size) // stride + 1
    y = np.empty((x.shape[0], steps, filters))
    for t in range(steps):
        window = x[:, t * stride:t * stride + size, :]                 # (batch, size, channels)
        y[:, t, :] = np.tensordot(window, kernel, axes=([1, 2], [0, 1])) + bias
    return y
    # END SOLUTION


rng = np.random.default_rng(0)
for steps, size, channels, filters, stride in [(10, 3, 1, 2, 1), (11, 4, 3, 5, 2), (7, 7, 2, 1, 1), (20, 5, 4, 3, 3)]:
    signal = rng.normal(size=(2, steps, channels))
    layer = layers.Conv1D(filters, size, strides=stride, dtype="float64")
    expected = layer(signal)
    weights = layer.get_weights()
    np.testing.assert_allclose(conv1d_forward(signal, *weights, stride=stride), expected, rtol=1e-10, atol=1e-12)
print("conv1d_forward agrees with layers.Conv1D")

# %% [markdown]
# ## 2. Sequences: which wave is it?
#
# Sine, square or sawtooth, at a random frequency, phase and amplitude, with noise. A `Conv1D` kernel
# detects a local shape (a jump, a ramp, a smooth bend) wherever it occurs; `GlobalMaxPooling1D` keeps each
# channel's strongest response anywhere in time, so the answer does not depend on the phase.

# %%
KINDS = ("sine", "square", "sawtooth")


def waves(count, steps, rng, noise=0.3):
    labels = rng.integers(0, 3, count)
    t = np.linspace(0.0, 1.0, steps, endpoint=False)
    x = np.empty((count, steps, 1), dtype="float32")
    for i, label in enumerate(labels):
        phase = (rng.uniform(2, 6) * t + rng.uniform(0, 1)) % 1.0
        shape = [np.sin(2 * np.pi * phase), np.where(phase < 0.5, 1.0, -1.0), 2.0 * phase - 1.0][label]
        x[i, :, 0] = rng.uniform(0.5, 1.5) * shape + rng.normal(0, noise, steps)
    return x, labels


wave_rng = np.random.default_rng(0)
x_train, y_train = waves(300 if QUICK else 900, 64, wave_rng)
x_test, y_test = waves(150, 64, wave_rng)
keras.utils.set_random_seed(0)
sequence_model = keras.Sequential([
    keras.Input((64, 1)),
    layers.Conv1D(16, 7, padding="same", activation="relu"),
    layers.MaxPooling1D(2),
    layers.Conv1D(32, 5, padding="same", activation="relu"),
    layers.GlobalMaxPooling1D(),
    layers.Dense(3, activation="softmax"),
], name="wave_classifier")
sequence_model.summary()
sequence_model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
sequence_model.fit(x_train, y_train, epochs=4 if QUICK else 10, batch_size=32, verbose=0)
predicted = sequence_model.predict(x_test, verbose=0).argmax(axis=1)
print(f"test accuracy {np.mean(predicted == y_test):.3f} (chance 0.333)")
print("confusion matrix (rows: true sine/square/sawtooth):\n", confusion_matrix(y_test, predicted, 3))

# %% [markdown]
# Shift every test sequence in time (a circular roll of 17 steps): the convolutions move with it
# (equivariance), the global max does not care where (invariance), so the predictions hardly change.

# %%
rolled = sequence_model.predict(np.roll(x_test, 17, axis=1), verbose=0).argmax(axis=1)
print(f"predictions unchanged by the shift: {np.mean(rolled == predicted):.1%}")

# %% [markdown]
# ## 3. Volumes and video: `Conv3D`
#
# A `Conv3D` kernel is a small box, `(depth, rows, cols, channels in, filters)`. On a video the depth axis
# is time, so one kernel can respond to *motion*: a pattern here now and one pixel to the right next frame.
#
# ## Exercise 2: parameters of a 3-D convolution
#
# Write `conv3d_params(kernel, c_in, c_out)` for a cubic `kernel x kernel x kernel` window with a bias per
# filter.

# %%
def conv3d_params(kernel, c_in, c_out):
    # BEGIN SOLUTION
    return kernel ** 3 * c_in * c_out + c_out
    # END SOLUTION


for kernel, c_in, c_out in [(3, 1, 8), (3, 8, 16), (5, 3, 4), (1, 16, 2)]:
    layer = layers.Conv3D(c_out, kernel)
    layer.build((None, 8, 8, 8, c_in))
    assert conv3d_params(kernel, c_in, c_out) == layer.count_params(), (kernel, c_in, c_out)
print("conv3d_params agrees with layers.Conv3D; a 3x3x3 kernel on 8 channels to 16:", conv3d_params(3, 8, 16))

# %% [markdown]
# The task: tiny videos (8 frames of 12x12) of a dot moving left or right. Every single frame, and the
# average of all frames, looks the same for both directions; only the order of the frames tells them apart.
# A 2-D CNN on the average frame is left guessing; a 3-D CNN on the whole clip sees the motion.

# %%
def moving_dots(count, rng, frames=8, size=12):
    direction = rng.integers(0, 2, count)               # 0: left to right, 1: right to left
    clips = rng.normal(0, 0.1, (count, frames, size, size, 1)).astype("float32")
    for i in range(count):
        row, start = rng.integers(1, size - 1), rng.integers(0, size - frames + 1)
        for f in range(frames):
            col = start + (f if direction[i] == 0 else frames - 1 - f)
            clips[i, f, row - 1:row + 1, col, 0] += 1.0
    return clips, direction


video_rng = np.random.default_rng(0)
v_train, d_train = moving_dots(200 if QUICK else 800, video_rng)
v_test, d_test = moving_dots(200, video_rng)

keras.utils.set_random_seed(0)
video_model = keras.Sequential([
    keras.Input((8, 12, 12, 1)),
    layers.Conv3D(8, 3, padding="same", activation="relu"),
    layers.MaxPooling3D(2),
    layers.Conv3D(16, 3, padding="same", activation="relu"),
    layers.GlobalMaxPooling3D(),
    layers.Dense(2, activation="softmax"),
], name="conv3d_video")
video_model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
video_model.fit(v_train, d_train, epochs=4 if QUICK else 10, batch_size=32, verbose=0)

keras.utils.set_random_seed(0)
frame_model = keras.Sequential([
    keras.Input((12, 12, 1)),
    layers.Conv2D(8, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.Conv2D(16, 3, padding="same", activation="relu"),
    layers.GlobalMaxPooling2D(),
    layers.Dense(2, activation="softmax"),
], name="conv2d_average_frame")
frame_model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
frame_model.fit(v_train.mean(axis=1), d_train, epochs=4 if QUICK else 10, batch_size=32, verbose=0)

print(f"3-D CNN on the clips:        test accuracy {video_model.evaluate(v_test, d_test, verbose=0)[1]:.3f}")
print(f"2-D CNN on the average frame: test accuracy "
      f"{frame_model.evaluate(v_test.mean(axis=1), d_test, verbose=0)[1]:.3f} (chance 0.5)")
