"""Transfer learning with a Keras application: a MobileNetV2 backbone, frozen under a new head, then fine-tuned.

What it teaches: the course's transfer-learning lecture with a real ImageNet architecture from
``keras.applications``, in the order of Keras's transfer-learning guide:
1. the backbone without its classifier (``include_top=False, pooling="avg"``) and the family's own
   input scaling (``mobilenet_v2.preprocess_input``: pixels to [-1, 1]);
2. freeze it (``trainable = False`` on the model and on every layer: a frozen batch-norm layer keeps its
   moving statistics) and train only a new head on a few labelled samples;
3. unfreeze the last few layers (batch norm stays frozen), compile again with a small learning rate,
   and fine-tune.
The backbone's weights are ImageNet's when Keras's file is in Keras's cache (``~/.keras/models``; or
``--weights imagenet`` downloads it).  Offline and uncached, the backbone first learns digits 0-4 itself
(the source task, as in ``examples/transfer_learning.py``, which shows the same recipe on a network small
enough to read: start there), with its batch-norm momentum lowered from 0.999 to 0.9 for that short run, or
its moving statistics would still be the initial ones after a few dozen steps.
The target task is digits 5-9 from a few samples per digit.  What it prints: which weights the backbone
has, the trainable / frozen parameter counts of each phase, the test accuracy on digits 5-9 after training
the head and after fine-tuning, and a check that the frozen layers did not change.  Data: scikit-learn's
8x8 digits enlarged to 32x32 RGB (the smallest input MobileNetV2 takes).

    python examples/transfer_learning_applications.py [--weights auto|imagenet|none] [--per-class 10]
"""
import argparse

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.applications import _files, mobilenet_v2

ALPHA = 0.35
IMAGENET_FILE = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{ALPHA}_224_no_top.h5"


def cached_imagenet_file():
    """Keras's ImageNet file for this backbone when it is in Keras's cache, else None."""
    for folder in _files.keras_models_dirs():
        if (folder / IMAGENET_FILE).is_file():
            return folder / IMAGENET_FILE
    return None


def as_rgb(images):
    """8x8 digits (0..16) -> 32x32 RGB in [0, 255]: each pixel a 4x4 block, grey in all three channels."""
    big = np.kron(images / 16.0 * 255.0, np.ones((4, 4)))
    return np.repeat(big[..., None], 3, axis=-1).astype("float32")


def load_tasks(per_class, seed):
    """Source task: digits 0-4 (train and test).  Target task: ``per_class`` samples of each digit 5-9
    (relabelled 0-4) to train on, every test image of 5-9 to test on.  Images preprocessed for MobileNetV2."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    x_train, x_test = mobilenet_v2.preprocess_input(as_rgb(x_train)), mobilenet_v2.preprocess_input(as_rgb(x_test))
    source_train, source_test = y_train < 5, y_test < 5
    order = np.random.default_rng(seed).permutation(int((~source_train).sum()))
    x_target, y_target = x_train[~source_train][order], y_train[~source_train][order] - 5
    few = np.concatenate([np.flatnonzero(y_target == digit)[:per_class] for digit in range(5)])
    return {"source": ((x_train[source_train], y_train[source_train]), (x_test[source_test], y_test[source_test])),
            "target": ((x_target[few], y_target[few]), (x_test[~source_test], y_test[~source_test] - 5))}


def with_head(backbone, name):
    inputs = keras.Input(shape=(32, 32, 3))
    features = backbone(inputs, training=False)
    outputs = layers.Dense(5, activation="softmax", name=f"{name}_head")(layers.Dropout(0.2)(features))
    return keras.Model(inputs, outputs, name=name)


def compile_model(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def count(weights):
    return int(sum(np.size(w) for w in weights))


def layer_weights(layer_list):
    return [np.array(w) for layer in layer_list for w in layer.get_weights()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", choices=["auto", "imagenet", "none"], default="auto",
                        help="auto: ImageNet weights if Keras's file is cached, else learn digits 0-4 first")
    parser.add_argument("--source-epochs", type=int, default=4, help="epochs on digits 0-4 (no ImageNet weights)")
    parser.add_argument("--source-limit", type=int, default=None, help="use only this many source images")
    parser.add_argument("--per-class", type=int, default=10, help="labelled target samples per digit (5-9)")
    parser.add_argument("--head-epochs", type=int, default=15)
    parser.add_argument("--fine-tune-epochs", type=int, default=5)
    parser.add_argument("--fine-tune-layers", type=int, default=12, help="how many of the last layers to unfreeze")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    weights = {"auto": "imagenet" if cached_imagenet_file() else None, "imagenet": "imagenet", "none": None}
    weights = weights[args.weights]
    tasks = load_tasks(args.per_class, args.seed)
    (x_source, y_source), source_test = tasks["source"]
    (x_few, y_few), (x_test, y_test) = tasks["target"]

    # 1. The backbone: MobileNetV2 without its ImageNet classifier, one 1280-vector per image.
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=ALPHA, include_top=False,
                                              weights=weights, pooling="avg")
    print(f"backbone {backbone.name}: {len(backbone.layers)} layers, {backbone.count_params():,} weights, "
          f"{'ImageNet weights (Keras file ' + IMAGENET_FILE + ')' if weights else 'random weights'}")
    source_accuracy = None
    if weights is None:  # no ImageNet: the backbone learns a source task itself
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = 0.9
        limit = args.source_limit or len(y_source)
        source_model = compile_model(with_head(backbone, "source"), 3e-3)
        source_model.fit(x_source[:limit], y_source[:limit], batch_size=32, epochs=args.source_epochs,
                         verbose=args.verbose)
        source_accuracy = source_model.evaluate(*source_test, verbose=0)[1]
        print(f"source task (digits 0-4): {min(limit, len(y_source))} training images, {args.source_epochs} "
              f"epochs, test accuracy {source_accuracy:.4f} on {len(source_test[1])} images")

    # 2. Freeze the backbone - the model and every layer - and train a new head on the few target samples.
    backbone.trainable = False
    for layer in backbone.layers:
        layer.trainable = False
    model = compile_model(with_head(backbone, "digits_5_to_9"), 1e-2)
    frozen_before = layer_weights(backbone.layers)
    head_params = (count(model.trainable_weights), count(model.non_trainable_weights))
    print(f"target task (digits 5-9): {len(y_few)} training images ({args.per_class} per digit), "
          f"{len(y_test)} test images")
    print(f"phase 1, new head only: {head_params[0]:,} trainable, {head_params[1]:,} frozen parameters")
    model.fit(x_few, y_few, batch_size=16, epochs=args.head_epochs, verbose=args.verbose)
    head_accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    head_unchanged = all(np.array_equal(a, b) for a, b in zip(frozen_before, layer_weights(backbone.layers)))
    print(f"  test accuracy {head_accuracy:.4f}; backbone unchanged: {head_unchanged}")

    # 3. Unfreeze the last layers (batch norm stays frozen), compile again, fine-tune with a small step.
    for layer in backbone.layers[-args.fine_tune_layers:]:
        layer.trainable = not isinstance(layer, layers.BatchNormalization)
    backbone.trainable = True
    frozen = [layer for layer in backbone.layers if not layer.trainable]
    frozen_before = layer_weights(frozen)
    compile_model(model, 1e-4)
    tune_params = (count(model.trainable_weights), count(model.non_trainable_weights))
    print(f"phase 2, fine-tuning the last {args.fine_tune_layers} layers: {tune_params[0]:,} trainable, "
          f"{tune_params[1]:,} frozen parameters")
    model.fit(x_few, y_few, batch_size=16, epochs=args.fine_tune_epochs, verbose=args.verbose)
    tuned_accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    frozen_unchanged = all(np.array_equal(a, b) for a, b in zip(frozen_before, layer_weights(frozen)))
    print(f"  test accuracy {tuned_accuracy:.4f}; frozen layers unchanged: {frozen_unchanged}")
    return {"weights": weights, "source_accuracy": source_accuracy, "head_accuracy": head_accuracy,
            "fine_tuned_accuracy": tuned_accuracy, "head_params": head_params, "fine_tune_params": tune_params,
            "backbone_unchanged_in_phase_1": head_unchanged, "frozen_unchanged_in_phase_2": frozen_unchanged}


if __name__ == "__main__":
    main()
