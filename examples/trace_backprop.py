"""Follow backpropagation through a small CNN, then check it numerically.

What it teaches: one training step layer by layer - what each layer receives and returns,
what it keeps from forward for backward (the input for Conv2D and Dense, the argmax for max
pooling), the size of every gradient - and how to *know* a backward pass is right: compare it
with central differences (L(w + eps) - L(w - eps)) / (2 eps) in float64.  A deliberately broken
layer (a Dense that averages its bias gradient over the batch instead of summing it, a classic
slip) is caught at once, and only in the tensor that is wrong.
What it prints: the ``trace_step`` table of one step (shapes, kept arrays, gradient norms,
FLOPs, parameters), the gradient-check table of the correct model (relative errors ~1e-10), the
same check on the raw digits whose zero background puts ReLUs on their kink and pooling windows
in ties (where no derivative exists, so the check fails without any bug: a lesson in itself),
and the table of the broken model (only the broken bias gradient marked FAIL).

    python examples/trace_backprop.py [--batch-size 4] [--filters 4]
"""
import argparse

import numpy as np

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import gradient_check, trace_step


class BrokenDense(layers.Dense):
    """A Dense layer with a bug in its backward: the bias gradient is the *mean* of dL/dz over the
    batch, but the loss already divides by N, so the right gradient is the *sum*."""

    def backward_from_preactivation(self, dz):
        dx = super().backward_from_preactivation(dz)
        if self.use_bias:
            self.grads["bias"] = dz.reshape(-1, self.units).mean(axis=0)  # the bug: should be .sum(axis=0)
        return dx


def build_model(filters, dense_class=layers.Dense):
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(filters, 3, activation="relu", name="conv"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flatten"),
        dense_class(10, activation="softmax", name="classifier"),
    ], name="small_cnn")


def compiled(model):
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--filters", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (x_train, y_train), _ = keras.datasets.digits.load_data()
    raw = (x_train[:args.batch_size] / 16.0)[..., None]
    # The digits' background is exactly 0, so with zero biases many ReLU inputs sit exactly on the
    # kink at 0 and many pooling windows tie: there the loss has no derivative and central
    # differences disagree with any backward.  A little noise moves the check off those points.
    x = raw + 0.01 * np.random.default_rng(args.seed).standard_normal(raw.shape)
    y = y_train[:args.batch_size]

    previous = keras.backend.floatx()
    keras.backend.set_floatx("float64")  # central differences need float64's 16 digits
    try:
        keras.utils.set_random_seed(args.seed)
        model = compiled(build_model(args.filters))
        trace = trace_step(model, x, y)
        print(trace)
        print("\nReading the table: Conv2D keeps its input (dkernel = input (x) dy needs it); MaxPooling2D keeps\n"
              "the argmax of each window (its backward routes dy to the winners); the classifier receives\n"
              "(softmax - onehot) / N directly, the fused softmax + cross-entropy gradient.\n")

        report = gradient_check(model, x, y)
        print(report)
        at_kinks = gradient_check(model, raw, y)
        print("\nThe same check on the raw digits (background exactly 0: ReLU kinks and pooling ties):")
        print(at_kinks)

        keras.utils.set_random_seed(args.seed)
        broken = compiled(build_model(args.filters, BrokenDense))
        broken.set_weights(model.get_weights())
        broken_report = gradient_check(broken, x, y)
        print("\nThe same check with a deliberately broken classifier backward (bias gradient averaged):")
        print(broken_report)
        wrong = [row["name"] for row in broken_report.rows if not row["passed"]]
        print(f"flagged: {', '.join(wrong) or 'nothing'}")
    finally:
        keras.backend.set_floatx(previous)
    return {"trace": trace.as_dict(), "correct": report.as_dict(), "correct_passed": report.passed, "at_kinks_passed": at_kinks.passed,
            "broken": broken_report.as_dict(), "broken_passed": broken_report.passed, "flagged": wrong}


if __name__ == "__main__":
    main()
