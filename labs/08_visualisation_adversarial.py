# %% [markdown]
# # Lab 08: what a CNN learns, and how to fool it
#
# The decks look inside trained networks (DL1 "What features do CNNs learn?", CIS 5190 "Visualizing and
# Understanding CNNs", after Zeiler & Fergus) and then break them (DL1 "Shortcoming of CNNs: Vulnerable to
# Noise in Input": the panda that becomes a gibbon). On a small CNN trained on the 8x8 digits you will
#
# 1. look at the first layer's filters and at the feature maps of one digit;
# 2. find, for each filter, the input patches that activate it most (Zeiler & Fergus's "top 9");
# 3. learn filters without labels, by k-means on whitened patches (Goodfellow ch. 9, "Initialization of
#    Kernels: ... learned with an unsupervised criterion: K-means clustering"), and train with them;
# 4. ask which pixels matter for a class (saliency) and move them to change the answer (FGSM).
#
# Pictures need matplotlib (`pip install 'tinyconv[viz]'`); every cell also prints numbers.

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import feature_maps, fgsm, receptive_field_of, saliency_map
from tinyconv.teaching.adversarial import input_gradient
from tinyconv.teaching.patches import kmeans_filters, top_activating_patches

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run
try:
    import matplotlib  # noqa: F401
    from tinyconv.teaching import plot_feature_maps, plot_filters, plot_saliency
except ImportError:  # no pictures, the numbers still print
    matplotlib = None

(x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
x_train, x_test = (x_train / 16.0)[..., None].astype("float32"), (x_test / 16.0)[..., None].astype("float32")
if QUICK:
    x_train, y_train = x_train[:500], y_train[:500]


def digits_cnn(first_layer_trainable=True):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1", trainable=first_layer_trainable),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(10, activation="softmax", name="classes"),
    ], name="digits_cnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


model = digits_cnn()
model.fit(x_train, y_train, epochs=4 if QUICK else 15, batch_size=32, verbose=0)
print(f"test accuracy: {model.evaluate(x_test, y_test, verbose=0)[1]:.3f}")

# %% [markdown]
# ## 1. Filters and feature maps
#
# The first layer's eight 3x3 filters, as numbers (and as pictures). Many look like the edge detectors of
# lab 01: a positive side and a negative side.

# %%
kernel = model.get_layer("conv1").get_weights()[0]   # (3, 3, 1, 8)
for f in range(2):
    print(f"filter {f}:\n{np.round(kernel[:, :, 0, f], 2)}")
plot_filters(model.get_layer("conv1")) if matplotlib else None   # a notebook shows the cell's last value

# %%
maps = feature_maps(model, x_test[0])
for name, activation in maps.items():
    print(f"{name:>8}: {activation.shape}")
plot_feature_maps(model, x_test[0], max_channels=8) if matplotlib else None

# %% [markdown]
# ## 2. Top activating patches
#
# A cell of a feature map sees only part of the image, its receptive field. Run every test digit through
# the network, and for each filter keep the digits where it responds most, with the patch its strongest
# cell sees: that is what the filter detects. conv1's cells see 3x3 pixels; after a pool and another 3x3
# convolution, conv2's see 8x8 (here: the whole digit, minus what falls on the padding).

# %%
print(receptive_field_of(model))
top1 = top_activating_patches(model, "conv1", x_test, k=9)
top2 = top_activating_patches(model, "conv2", x_test, k=9)
print(top1, top2, sep="\n")
print("filter 0 of conv1, its 3 strongest patches:\n", np.round(top1.patches[0, :3, :, :, 0], 2))
top1.plot() if matplotlib else None

# %% [markdown]
# ## Exercise 1: from a cell to its patch
#
# For conv2, cell (i, j) is centred on input pixel `start + i * jump` (per axis) and sees `r` pixels:
# rows `start + i * jump - (r - 1) / 2` to that plus `r` (exclusive). Write `field_box(i, j, r, jump,
# start)` returning `(top, left, bottom, right)` and check it against the boxes `top_activating_patches`
# found.

# %%
def field_box(i, j, r, jump, start):
    # BEGIN SOLUTION
    top = int(round(start + i * jump - (r - 1) / 2))
    left = int(round(start + j * jump - (r - 1) / 2))
    return top, left, top + r, left + r
    # END SOLUTION


sub = keras.Model(model.inputs, model.get_layer("conv2").output)
field = receptive_field_of(sub)
r, jump, start = field.size[0], field.jump[0], field.start[0]
for f in range(top2.locations.shape[0]):
    for rank in range(top2.locations.shape[1]):
        _, i, j = top2.locations[f, rank]
        assert field_box(i, j, r, jump, start) == tuple(top2.boxes[f, rank]), (f, rank)
print(f"field_box agrees with every box (r = {r}, jump = {jump}, start = {start})")

# %% [markdown]
# ## 3. Filters learned without labels: k-means on whitened patches
#
# Cut thousands of 3x3 patches out of the training digits, normalise each (mean 0, variance 1), whiten
# them (neighbouring pixels are strongly correlated; whitening removes that, so that k-means finds edges
# rather than blurs), and cluster them with k-means: each centroid is a filter.

# %%
learned = kmeans_filters(x_train[..., 0], n_filters=8, size=3, n_patches=2000 if QUICK else 20000, seed=0)
print("k-means filter 0 (whitened space):\n", np.round(learned[:, :, 0, 0], 2))
bank = layers.Conv2D(8, 3, name="kmeans_filters")
bank(np.zeros((1, 8, 8, 1), "float32"))   # calling it builds its kernel
bank.set_weights([learned.astype("float32"), np.zeros(8, "float32")])
plot_filters(bank) if matplotlib else None

# %% [markdown]
# Do they help? Freeze the first layer with three different kernels - k-means filters (folded back to act on
# unwhitened images: `space="input"`), random ones, and the ones the network learned itself above - and
# train the rest of the network on a few hundred digits. The Goodfellow deck: "Random filters often work
# surprisingly well".

# %%
few = 200 if QUICK else 500
kmeans_input = kmeans_filters(x_train[..., 0], n_filters=8, size=3, n_patches=2000 if QUICK else 20000, seed=0,
                              space="input")
rng = np.random.default_rng(0)
candidates = {"k-means": kmeans_input, "random": rng.normal(size=kmeans_input.shape),
              "learned (all data)": kernel}
for name, first in candidates.items():
    frozen = digits_cnn(first_layer_trainable=False)
    scale = np.abs(kernel).sum() / np.abs(first).sum()          # the same overall size as the learned kernel
    frozen.get_layer("conv1").set_weights([(first * scale).astype("float32"), np.zeros(8, "float32")])
    frozen.fit(x_train[:few], y_train[:few], epochs=5 if QUICK else 20, batch_size=32, verbose=0)
    print(f"first layer {name:<19} frozen: test accuracy {frozen.evaluate(x_test, y_test, verbose=0)[1]:.3f}")

# %% [markdown]
# ## 4. Saliency: which pixels matter?
#
# The gradient of the class score (the logit, before the softmax) with respect to each input pixel:
# `saliency = |d z_c / d x|` (Simonyan et al.). Large where changing the pixel would change the score most.

# %%
image, label = x_test[0], int(y_test[0])
saliency = saliency_map(model, image, label)
print(f"saliency of class {label} (x100):\n", np.round(100 * saliency, 1))
plot_saliency(model, image, label) if matplotlib else None

# %% [markdown]
# ## 5. Adversarial examples: the fast gradient sign method
#
# DL1's panda: `x + 0.007 * sign(grad_x J(theta, x, y))` is a gibbon with 99.3% confidence. Every pixel
# moves by the same small eps, in the direction that increases the loss most.
#
# ## Exercise 2: write the FGSM step
#
# Given the gradient of the loss with respect to the input, return `clip(x + eps * sign(gradient), 0, 1)`.

# %%
def fgsm_step(x, gradient, eps):
    # BEGIN SOLUTION
    return np.clip(x + eps * np.sign(gradient), 0.0, 1.0)
    # END SOLUTION


batch, labels = x_test[:100], y_test[:100]
gradient = input_gradient(model, batch, labels)
np.testing.assert_allclose(fgsm_step(batch, gradient, 0.1), fgsm(model, batch, labels, 0.1), atol=1e-6)
print("fgsm_step agrees with tinyconv.teaching.fgsm")

# %% [markdown]
# Accuracy under attack, against random +-eps noise of the same size: the attack's direction is what
# matters, not its size.

# %%
clean = model.predict(x_test, verbose=0).argmax(axis=1)
noise_rng = np.random.default_rng(1)
print(f"{'eps':>5}{'FGSM accuracy':>15}{'random-noise accuracy':>23}")
for eps in (0.0, 0.05, 0.1, 0.2):
    attacked = model.predict(fgsm(model, x_test, y_test, eps), verbose=0).argmax(axis=1)
    noisy = np.clip(x_test + eps * noise_rng.choice([-1.0, 1.0], size=x_test.shape), 0, 1).astype("float32")
    noised = model.predict(noisy, verbose=0).argmax(axis=1)
    print(f"{eps:5.2f}{np.mean(attacked == y_test):15.3f}{np.mean(noised == y_test):23.3f}")
