# %% [markdown]
# # Lab 09: transfer learning and sample efficiency
#
# Two questions about data:
#
# 1. **Transfer learning** (CIS 5190, "Transfer learning with CNNs"): "What if your task doesn't have
#    Imagenet-sized data? For tasks close to original task, can make do with small datasets + feature
#    extraction or shallow finetuning." You train a feature extractor on digits 0-4, freeze it, put a new
#    head on it and train only the head on a few examples of digits 5-9; then unfreeze the top and fine-tune.
# 2. **Sample efficiency** (CE 40717, "Inductive bias in CNNs"): "CNNs are more sample-efficient than FCNs
#    due to their inductive biases" - weight sharing and locality. You measure test accuracy against the
#    number of training examples, for an MLP and a CNN, on digits that may sit anywhere on a larger canvas.

# %%
import os

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.applications import MobileNetV2
from tinyconv.teaching import freeze, unfreeze
from tinyconv.teaching.sample_efficiency import accuracy_vs_training_size

QUICK = os.environ.get("TINYCONV_LAB_QUICK") == "1"  # the test suite's fast run
try:
    import matplotlib  # noqa: F401
except ImportError:  # no pictures, the numbers still print
    matplotlib = None

(x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
x_train, x_test = (x_train / 16.0)[..., None].astype("float32"), (x_test / 16.0)[..., None].astype("float32")
source_train, source_test = y_train < 5, y_test < 5
xs, ys = x_train[source_train], y_train[source_train]                  # digits 0-4: the big source task
xs_test, ys_test = x_test[source_test], y_test[source_test]
xt_pool, yt_pool = x_train[~source_train], y_train[~source_train] - 5  # digits 5-9, relabelled 0-4
xt_test, yt_test = x_test[~source_test], y_test[~source_test] - 5

# %% [markdown]
# ## 1. Features from the source task
#
# A small CNN trained on digits 0-4. Its convolutional part (everything up to `Flatten`) is the feature
# extractor; the Dense layer on top is the head, specific to the five source classes.

# %%
def feature_extractor():
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="features"),
    ], name="extractor")


def compiled(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


keras.utils.set_random_seed(0)
base = feature_extractor()
inputs = keras.Input((8, 8, 1))
source_model = compiled(keras.Model(inputs, layers.Dense(5, activation="softmax", name="source_head")(base(inputs))),
                        3e-3)
source_model.fit(xs, ys, epochs=3 if QUICK else 10, batch_size=32, verbose=0)
print(f"source task (digits 0-4): test accuracy {source_model.evaluate(xs_test, ys_test, verbose=0)[1]:.3f}")

# %% [markdown]
# ## Exercise 1: freeze the extractor and give it a new head
#
# Write `with_new_head(base, classes)`: freeze every layer of `base` (`freeze(base)` from
# `tinyconv.teaching`, or `layer.trainable = False` on each), then build with the functional API
# `Input -> base -> Dense(classes, softmax)` and return the (uncompiled) model. Compile *after* freezing:
# the optimizer takes the trainable weights when it is compiled.

# %%
def with_new_head(base, classes):
    # BEGIN SOLUTION
    freeze(base)
    inputs = keras.Input(base.input_shape[1:])
    outputs = layers.Dense(classes, activation="softmax", name="new_head")(base(inputs))
    return keras.Model(inputs, outputs, name="transferred")
    # END SOLUTION


transferred = compiled(with_new_head(base, 5), 1e-2)
head_params = 32 * 2 * 2 * 5 + 5
trainable = sum(np.size(w) for w in transferred.trainable_weights)
assert trainable == head_params, f"only the head should train: {trainable} trainable weights, expected {head_params}"
print(f"{trainable} trainable weights (the head), {sum(np.size(w) for w in transferred.non_trainable_weights)} frozen")

# %% [markdown]
# Five labelled examples per new digit. The frozen features against the same network trained from scratch
# on the same 25 examples:

# %%
rng = np.random.default_rng(0)
few = np.concatenate([rng.permutation(np.flatnonzero(yt_pool == c))[:5] for c in range(5)])
before = [np.array(w) for w in base.get_weights()]
epochs = 20 if QUICK else 40
transferred.fit(xt_pool[few], yt_pool[few], epochs=epochs, batch_size=8, verbose=0)
keras.utils.set_random_seed(0)
scratch_base = feature_extractor()
inputs = keras.Input((8, 8, 1))
scratch = compiled(keras.Model(inputs, layers.Dense(5, activation="softmax")(scratch_base(inputs))), 3e-3)
scratch.fit(xt_pool[few], yt_pool[few], epochs=epochs, batch_size=8, verbose=0)
print(f"frozen features + new head: test accuracy {transferred.evaluate(xt_test, yt_test, verbose=0)[1]:.3f}")
print(f"from scratch:               test accuracy {scratch.evaluate(xt_test, yt_test, verbose=0)[1]:.3f}")
unchanged = all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
assert unchanged, "a frozen weight changed"
print("the frozen extractor's weights did not change")

# %% [markdown]
# Features learnt on 0-4 were never asked to tell a 5 from a 9: on the tiny 8x8 digits a network trained
# from scratch on the same 25 examples does about as well, or better. Transfer pays off when the source task
# is large and broad (ImageNet), so that its features are general.
#
# ## 2. Fine-tuning: unfreeze the top
#
# With more target data, unfreeze the top of the extractor (`unfreeze(base, from_layer="conv2")`), compile
# again with a small learning rate, and train a little more.

# %%
more = np.concatenate([rng.permutation(np.flatnonzero(yt_pool == c))[:30] for c in range(5)])
unfreeze(base, from_layer="conv2")
fine = compiled(transferred, 1e-3)
print(f"fine-tuning {sum(np.size(w) for w in fine.trainable_weights)} weights (conv2 and the head)")
fine.fit(xt_pool[more], yt_pool[more], epochs=5 if QUICK else 20, batch_size=16, verbose=0)
print(f"after fine-tuning on {len(more)} examples: test accuracy {fine.evaluate(xt_test, yt_test, verbose=0)[1]:.3f}")

# %% [markdown]
# The same recipe with a network pre-trained on ImageNet: `weights="imagenet"` downloads Keras's published
# weights (here `weights=None`, so that the lab runs offline; the shapes and the counts are the same).

# %%
backbone = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None, pooling="avg")
backbone.trainable = False
inputs = keras.Input((32, 32, 3))
new_task = keras.Model(inputs, layers.Dense(10, activation="softmax")(backbone(inputs, training=False)))
print(f"MobileNetV2 backbone: {backbone.count_params():,} frozen parameters; "
      f"trainable in the new model: {sum(np.size(w) for w in new_task.trainable_weights):,}")

# %% [markdown]
# ## 3. Accuracy against training-set size: MLP against CNN
#
# Each digit is pasted at a random place on a 16x16 canvas. The MLP gives every pixel its own weights, so it
# must see each digit at each position to learn it; the CNN slides one small kernel everywhere and pools.
# `accuracy_vs_training_size` trains each model on the first n examples of one class-balanced order (a
# larger set contains every smaller one), from the same initial seed, and tests it on the same held-out set.

# %%
def paste_at_random_places(images, canvas, rng):
    out = np.zeros((len(images), canvas, canvas, 1), dtype=images.dtype)
    for i, (r, c) in enumerate(rng.integers(0, canvas - 8 + 1, (len(images), 2))):
        out[i, r:r + 8, c:c + 8] = images[i]
    return out


place_rng = np.random.default_rng(0)
shifted_train = paste_at_random_places(x_train, 16, place_rng)
shifted_test = paste_at_random_places(x_test, 16, place_rng)


def mlp():
    return keras.Sequential([keras.Input((16, 16, 1)), layers.Flatten(), layers.Dense(128, activation="relu"),
                             layers.Dense(10, activation="softmax")], name="mlp")


def cnn():
    return keras.Sequential([keras.Input((16, 16, 1)),
                             layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                             layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                             layers.Conv2D(32, 3, padding="same", activation="relu"),
                             layers.GlobalMaxPooling2D(), layers.Dense(10, activation="softmax")], name="cnn")


def adam(build):
    def compiled_model():
        return compiled(build(), 3e-3)
    return compiled_model


sizes = [50, 200] if QUICK else [20, 50, 100, 200, 500, 1000, 1437]
curves = accuracy_vs_training_size({"MLP": adam(mlp), "CNN": adam(cnn)}, shifted_train, y_train, sizes,
                                   x_test=shifted_test, y_test=y_test, epochs=3 if QUICK else 10,
                                   min_steps=20 if QUICK else 300, batch_size=32)
print(curves)
curves.plot() if matplotlib else None   # a notebook shows the cell's last value

# %% [markdown]
# CE 40717's table (a CNN with 2M parameters: 67.8%, a fully connected network with 9M: 50.6%) makes the same
# point at full scale: the CNN needs fewer parameters *and* fewer examples for the same accuracy.
#
# ## Exercise 2: how many examples does the MLP need?
#
# Write `examples_needed(curves, name, target)`: the smallest training-set size at which model `name`
# reaches test accuracy `target`, or None when it never does.

# %%
def examples_needed(curves, name, target):
    # BEGIN SOLUTION
    for size, accuracy in zip(curves.sizes, curves.accuracy[name]):
        if accuracy >= target:
            return size
    return None
    # END SOLUTION


assert examples_needed(curves, "CNN", 0.0) == curves.sizes[0]
assert examples_needed(curves, "MLP", 1.01) is None
best_mlp = max(curves.accuracy["MLP"])
print(f"the MLP's best accuracy, {best_mlp:.3f}: reached by the MLP at n = {examples_needed(curves, 'MLP', best_mlp)}, "
      f"by the CNN at n = {examples_needed(curves, 'CNN', best_mlp)}")
