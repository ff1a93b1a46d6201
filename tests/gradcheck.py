"""Central-difference gradient checks for layers (float64)."""
import numpy as np


def numerical_gradient(f, array, eps=1e-6):
    """d f / d array by central differences, perturbing ``array`` in place (and restoring it)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = f()
        array[index] = original - eps
        minus = f()
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def numerical_gradient_of(f, x, eps=1e-6):
    """d f(x) / d x by central differences, for an f that takes the (perturbed) array itself."""
    return numerical_gradient(lambda: f(x), x, eps)


def relative_error(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)) + np.max(np.abs(b)), 1e-12)


def check_layer_gradients(layer, x, training=True, seed=0, tol=1e-6):
    """Compare layer.backward with numerical gradients of L = sum(y * r) for a random r."""
    # A seed of its own: r must not be correlated with test inputs drawn from the same seed.
    rng = np.random.default_rng(seed + 7919)
    y = layer(x, training=training)
    r = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(layer.forward(x, training=training) * r))

    layer.forward(x, training=training)
    dx = layer.backward(r.copy())
    errors = {"input": relative_error(dx, numerical_gradient(loss, x))}
    for slot in layer._weights:
        if slot.trainable and layer.trainable:
            analytic = layer.grads[slot.name]
            errors[slot.name] = relative_error(analytic, numerical_gradient(loss, slot.value))
    bad = {name: err for name, err in errors.items() if not err < tol}
    assert not bad, f"{layer.describe()}: gradient mismatch {bad}"
    return errors
