"""Shared helpers for the layer tests: run a Keras 3 layer (torch backend) or a torch function
forward and backward, so the tests can compare outputs *and* gradients."""
import numpy as np
import pytest


def keras_module():
    pytest.importorskip("torch", reason="Keras parity tests run Keras on its torch backend (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these parity tests (pip install keras)")
    if keras.backend.backend() != "torch":  # pragma: no cover
        pytest.skip(f"Keras parity tests expect KERAS_BACKEND=torch, got {keras.backend.backend()!r}")
    return keras


def torch_module():
    return pytest.importorskip("torch", reason="PyTorch parity tests need torch")


def keras_forward_backward(keras_layer, x, upstream, weights=None):
    """y = layer(x) and the gradients of sum(y * upstream) for x and each weight (Keras's order)."""
    import torch

    x_t = torch.tensor(x, requires_grad=True)
    keras_layer.build(x.shape)
    if weights is not None:
        keras_layer.set_weights(weights)
    y = keras_layer(x_t)
    (y * torch.tensor(upstream)).sum().backward()
    weight_grads = [w.value.grad.numpy() for w in keras_layer.weights]
    return y.detach().numpy(), x_t.grad.numpy(), weight_grads


def keras_forward_and_gradients(keras_layer, x, r):
    """Forward, dL/dx and dL/dweights of an already built Keras layer for L = sum(y * r) (torch autograd)."""
    import torch

    x_t = torch.tensor(x, requires_grad=True)
    y = keras_layer(x_t)
    (y * torch.tensor(r)).sum().backward()
    grads = [w.value.grad.numpy() for w in keras_layer.trainable_weights]
    return y.detach().numpy(), x_t.grad.numpy(), grads


def assert_conv_matches_keras(layer, keras_layer, x, r):
    """Our (kernel, bias) layer against the Keras one holding the same weights: y, dL/dx, dL/dkernel, dL/dbias
    for L = sum(y * r), to float32 tolerances."""
    y_keras, dx_keras, (dkernel_keras, dbias_keras) = keras_forward_and_gradients(keras_layer, x, r)
    np.testing.assert_allclose(layer(x), y_keras, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.backward(r), dx_keras, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.grads["kernel"], dkernel_keras, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.grads["bias"], dbias_keras, rtol=1e-4, atol=1e-4)


def torch_forward_backward(fn, x, upstream, *params):
    """y = fn(x, *params) and the gradients of sum(y * upstream) for x and each parameter."""
    import torch

    tensors = [torch.tensor(a, requires_grad=True) for a in (x,) + params]
    y = fn(*tensors)
    (y * torch.tensor(upstream)).sum().backward()
    return y.detach().numpy(), [t.grad.numpy() for t in tensors]


def tinyconv_forward_backward(layer, x, upstream, training=True):
    """y = layer(x) and the gradients of sum(y * upstream) for x and each weight (get_weights order)."""
    y = layer(x, training=training)
    dx = layer.backward(upstream.astype(y.dtype))
    return y, dx, [layer.grads[w.name] for w in layer._weights if w.trainable]


def train_loss_decreases(model, x, y, loss="mse", steps=8, optimizer="adam"):
    """Fit a few full-batch steps; True when the last loss is below the first."""
    model.compile(optimizer=optimizer, loss=loss)
    losses = [model.train_on_batch(x, y) for _ in range(steps)]
    losses = [float(np.ravel(value)[0]) for value in losses]
    return losses[-1] < losses[0], losses
