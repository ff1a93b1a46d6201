# %% [markdown]
# # Lab 05: batch normalisation, its relatives, and a training step by hand
#
# Gradient descent works best when every input to a layer has a similar scale (Goodfellow et al.,
# chapter 9, "Gradient descent after scaling variables"). Batch normalisation rescales each channel
# with the batch's own statistics, then lets the network learn the scale it wants:
#
#     mean  = 1/M sum_i x_i              var = 1/M sum_i (x_i - mean)^2     (biased, as Keras)
#     xhat  = (x - mean) / sqrt(var + epsilon)
#     y     = gamma * xhat + beta
#
# per channel, over the M values of that channel in the batch (every axis but the last: N, H and W
# for images). You write the forward and the backward pass (the reference and the derivation are
# in `tinyconv/kernels/reference/normalization.py`), compare batch, layer, instance and group norm
# (`tinyconv/kernels/reference/norms.py`), and finally write one whole training step of a small
# network and train it with your own step.

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.kernels.reference.norms import group_norm_forward, layer_norm_forward
from tinyconv.teaching.exercises import check, exercise_signature

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## Exercise: `batch_norm_forward`
#
# Training mode: the statistics come from `x` itself. Reshape `x` to `(M, C)` rows first and the
# same code serves a Dense layer's `(N, C)` output and a Conv2D's `(N, H, W, C)`.

# %%
print(exercise_signature("batch_norm_forward"))


# %%
def batch_norm_forward(x, gamma, beta, epsilon):
    # BEGIN SOLUTION
    rows = x.reshape(-1, x.shape[-1])
    mean = rows.mean(axis=0)
    var = ((rows - mean) ** 2).mean(axis=0)
    xhat = (rows - mean) / np.sqrt(var + epsilon)
    return (gamma * xhat + beta).reshape(x.shape)
    # END SOLUTION


# %%
assert check("batch_norm_forward", batch_norm_forward).passed, "batch_norm_forward: see the report above"

# %% [markdown]
# With gamma = 1 and beta = 0 every channel comes out with mean 0 and standard deviation 1, whatever
# scale and offset it came in with:

# %%
rng = np.random.default_rng(0)
activations = rng.standard_normal((64, 3)) * np.array([0.1, 5.0, 40.0]) + np.array([3.0, -7.0, 100.0])
normalised = batch_norm_forward(activations, np.ones(3), np.zeros(3), 1e-5)
print("before: mean", activations.mean(axis=0), "std", activations.std(axis=0))
print("after:  mean", normalised.mean(axis=0), "std", normalised.std(axis=0))

# %% [markdown]
# ## Exercise: `batch_norm_backward`
#
# `mean` and `var` depend on every x, so each x_j reaches the loss three ways: directly through its
# own `xhat_j`, through the mean and through the variance. The chain rule adds the three up; with
# `dxhat = gamma * dy` and sums over the M rows of each channel:
#
#     dbeta  = sum dy                 dgamma = sum dy * xhat
#     dx     = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
#
# Recompute `mean`, `var` and `xhat` from `x` inside your function.

# %%
print(exercise_signature("batch_norm_backward"))


# %%
def batch_norm_backward(dy, x, gamma, epsilon):
    # BEGIN SOLUTION
    rows, dy_rows = x.reshape(-1, x.shape[-1]), dy.reshape(-1, x.shape[-1])
    inv_std = 1.0 / np.sqrt(rows.var(axis=0) + epsilon)
    xhat = (rows - rows.mean(axis=0)) * inv_std
    dxhat = gamma * dy_rows
    dx = inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
    return dx.reshape(x.shape), (dy_rows * xhat).sum(axis=0), dy_rows.sum(axis=0)
    # END SOLUTION


# %%
assert check("batch_norm_backward", batch_norm_backward).passed, "batch_norm_backward: see the report above"

# %% [markdown]
# ## Batch, layer, instance and group norm: the same formula over different axes
#
# Goodfellow et al.'s four pictures, for an image batch `(N, H, W, C)`:
#
# | norm | statistics over | one mean per |
# | --- | --- | --- |
# | batch norm | N, H, W | channel |
# | layer norm | H, W, C | sample |
# | instance norm | H, W | sample and channel |
# | group norm (G groups) | H, W and the C/G channels of a group | sample and group |
#
# Group norm spans the other two: G = 1 is layer norm, G = C is instance norm. Layer, instance and
# group norm never mix samples, so they behave the same in training and inference and with a batch
# of one.

# %%
images = rng.standard_normal((4, 5, 5, 6)) * 3.0 + 1.0
gamma, beta = np.ones(6), np.zeros(6)
batch = batch_norm_forward(images, gamma, beta, 1e-5)
layer, _, _ = layer_norm_forward(images.reshape(4, -1), np.ones(150), np.zeros(150), 1e-5)
layer = layer.reshape(images.shape)
instance, _, _ = group_norm_forward(images, 6, gamma, beta, 1e-5)
grouped, _, _ = group_norm_forward(images, 2, gamma, beta, 1e-5)
print("batch norm,    mean per channel over (N, H, W):", batch.mean(axis=(0, 1, 2)))
print("layer norm,    mean per sample over (H, W, C): ", layer.mean(axis=(1, 2, 3)))
print("instance norm, std per (sample 0, channel):    ", instance[0].std(axis=(0, 1)))
assert np.allclose(group_norm_forward(images, 1, gamma, beta, 1e-5)[0], layer)  # G = 1: layer norm
one_sample = batch_norm_forward(images[:1], gamma, beta, 1e-5)
print("sample 0 normalised alone vs in its batch: batch norm differs:", not np.allclose(one_sample, batch[:1]),
      "| group norm differs:", not np.allclose(group_norm_forward(images[:1], 2, gamma, beta, 1e-5)[0], grouped[:1]))

# %% [markdown]
# At inference a batch-norm layer cannot rely on the batch (it may hold one image), so during
# training it keeps moving averages of the mean and variance, and uses those afterwards:
# `moving = momentum * moving + (1 - momentum) * batch statistic`.

# %%
bn = layers.BatchNormalization(momentum=0.9)
data = (rng.standard_normal((256, 2)) * np.array([2.0, 0.5]) + np.array([5.0, -1.0])).astype("float32")
for _ in range(5 if QUICK else 50):
    bn(data, training=True)
print("moving mean", bn.moving_mean, "moving variance", bn.moving_variance, "(the data: mean 5, -1; var 4, 0.25)")
print("inference output mean:", np.asarray(bn(data, training=False)).mean(axis=0))

# %% [markdown]
# ## Exercise: one training step
#
# Everything together: forward, loss, backward, update, for `Dense(H, relu) -> Dense(K, softmax)`
# with the batch's mean cross-entropy and plain SGD. The checker runs the same step through
# tinyconv's public API (`Sequential`, `SGD`, `train_on_batch`) and compares the loss and every new
# weight. Softmax and cross-entropy together have the simple gradient `dL/dz = (p - y) / N`.

# %%
print(exercise_signature("training_step"))


# %%
def training_step(weights, x, y, learning_rate):
    # BEGIN SOLUTION
    w1, b1, w2, b2 = weights
    n = x.shape[0]
    pre = x @ w1 + b1
    hidden = np.maximum(pre, 0.0)
    logits = hidden @ w2 + b2
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = exp / exp.sum(axis=1, keepdims=True)
    loss = -np.sum(y * np.log(p)) / n
    dlogits = (p - y) / n
    dhidden = (dlogits @ w2.T) * (pre > 0)
    grads = [x.T @ dhidden, dhidden.sum(axis=0), hidden.T @ dlogits, dlogits.sum(axis=0)]
    return loss, [w - learning_rate * g for w, g in zip(weights, grads)]
    # END SOLUTION


# %%
assert check("training_step", training_step).passed, "training_step: see the report above"

# %% [markdown]
# ## Train with your own step
#
# The 8x8 digits, flattened to 64 numbers, 32 hidden units, 10 classes. The same network built with
# `keras.Sequential` and trained with `train_on_batch` on the same batches ends with the same
# weights: your step is the library's step.

# %%
(x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
x_train, x_test = x_train.reshape(-1, 64) / 16.0, x_test.reshape(-1, 64) / 16.0
targets = np.eye(10)[y_train]
if QUICK:
    x_train, targets = x_train[:256], targets[:256]

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,), dtype="float64"),
                          layers.Dense(32, activation="relu", dtype="float64"),
                          layers.Dense(10, activation="softmax", dtype="float64")])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="categorical_crossentropy")
weights = [w.copy() for w in model.get_weights()]  # both start from the same initial weights

for epoch in range(3 if QUICK else 20):
    for start in range(0, len(x_train), 64):
        batch_x, batch_y = x_train[start:start + 64], targets[start:start + 64]
        loss, weights = training_step(weights, batch_x, batch_y, 0.5)
        model.train_on_batch(batch_x, batch_y)
    hidden = np.maximum(x_test @ weights[0] + weights[1], 0.0)
    accuracy = np.mean((hidden @ weights[2] + weights[3]).argmax(axis=1) == y_test)
    print(f"epoch {epoch + 1}: last batch loss {loss:.4f}, test accuracy {accuracy:.3f}")

largest = max(np.abs(mine - theirs).max() for mine, theirs in zip(weights, model.get_weights()))
print(f"largest difference from the library's weights: {largest:.1e}")
assert largest < 1e-9
