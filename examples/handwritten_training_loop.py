"""A training loop written by hand, on public names only: forward, loss, its gradient, backward, update.

What it teaches: what ``model.fit`` does with every batch. CIS 4190/5190's PyTorch training loop, line by
line, in tinyconv:

    PyTorch                              tinyconv
    optimizer.zero_grad()                (nothing: each backward pass overwrites the gradients)
    output = model(data)                 y_pred = model(x_batch, training=True)
    loss = F.nll_loss(output, target)    loss = loss_fn(y_batch, y_pred)
    loss.backward()                      model.backward(loss_fn.gradient(y_batch, y_pred))
    optimizer.step()                     optimizer.apply(model.trainable_gradients(), model.trainable_weights)

``loss_fn.gradient`` is dL/d(y_pred), where backpropagation starts; ``model.backward`` runs every layer's
backward pass from the last to the first, leaving each weight's gradient on its layer (and returning
dL/d(input)); ``model.trainable_gradients()`` lists them in the order of ``model.trainable_weights``.

Then it checks the claim: the same steps taken by ``model.fit`` (plain SGD, batches in order, no shuffling)
end with the same weights, up to float32 rounding (fit folds softmax into the cross-entropy's gradient,
the loop here goes through softmax's own backward: the same derivative, rounded differently).

What it prints: the mean loss of each epoch, the test accuracy, and the largest difference between the
weights the loop reached and the weights fit reached.

    python examples/handwritten_training_loop.py [--epochs 5] [--batch-size 32] [--train-size 1000]
"""
import argparse

import numpy as np

import tinyconv as keras
from tinyconv import layers


def load_digits(train_size):
    """The 8x8 digits scaled to [0, 1], as (x_train, y_train), (x_test, y_test)."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    scale = lambda images: (images[..., None] / 16.0).astype("float32")  # noqa: E731
    return (scale(x_train[:train_size]), y_train[:train_size]), (scale(x_test), y_test)


def build_model(seed=0):
    """A small CNN; the same seed gives the same initial weights."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(8, 3, activation="relu", name="conv"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(10, activation="softmax", name="classifier"),
    ])


def batches(x, y, batch_size):
    """The batches in order (the last one may be smaller), as fit(shuffle=False) takes them."""
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]


def train_by_hand(model, x, y, epochs, batch_size, learning_rate, log=print):
    """Train ``model`` with the five steps of the loop; returns each epoch's loss, averaged over the samples
    (as fit reports it: a smaller last batch counts for less)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    history = []
    for epoch in range(1, epochs + 1):
        total, seen = 0.0, 0
        for x_batch, y_batch in batches(x, y, batch_size):
            y_pred = model(x_batch, training=True)                  # forward (keeps what backward needs)
            loss = loss_fn(y_batch, y_pred)                         # the loss, a float
            model.backward(loss_fn.gradient(y_batch, y_pred))       # backward: fills every weight's gradient
            optimizer.apply(model.trainable_gradients(), model.trainable_weights)  # w <- w - lr * dL/dw
            total, seen = total + loss * len(x_batch), seen + len(x_batch)
        history.append(total / seen)
        log(f"epoch {epoch}: mean loss {history[-1]:.4f}")
    return history


def train_with_fit(model, x, y, epochs, batch_size, learning_rate):
    """The same training with ``fit``; returns fit's History."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy")
    return model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_digits(args.train_size)

    print(f"== the loop by hand: {len(x_train)} digits, batches of {args.batch_size}, SGD({args.learning_rate}) ==")
    by_hand = build_model(seed=0)
    history = train_by_hand(by_hand, x_train, y_train, args.epochs, args.batch_size, args.learning_rate)
    test_accuracy = accuracy(by_hand, x_test, y_test)
    print(f"test accuracy {test_accuracy:.3f}")

    print("\n== the same steps with model.fit(shuffle=False) ==")
    with_fit = build_model(seed=0)
    fit_history = train_with_fit(with_fit, x_train, y_train, args.epochs, args.batch_size, args.learning_rate)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(by_hand.get_weights(), with_fit.get_weights()))
    print(f"fit's mean loss per epoch: {', '.join(f'{v:.4f}' for v in fit_history.history['loss'])}")
    print(f"largest difference between the two sets of weights: {difference:.2g} (float32 rounding)")
    return {"history": history, "fit_history": fit_history.history["loss"], "test_accuracy": test_accuracy,
            "max_weight_difference": difference, "by_hand": by_hand, "with_fit": with_fit}


if __name__ == "__main__":
    main()
