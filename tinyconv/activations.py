"""Activation functions and their derivatives.

Each activation is a pair: ``forward(z) -> a`` and ``backward(dy, a) -> dz``.  Every
derivative used here can be written from the *output* ``a`` alone, so layers only keep
``a`` for backprop:

    relu:    a = max(z, 0)               da/dz = 1 if a > 0 else 0
    tanh:    a = tanh(z)                 da/dz = 1 - a^2
    sigmoid: a = 1 / (1 + e^-z)          da/dz = a (1 - a)
    softmax: a_i = e^z_i / sum_j e^z_j   dz = a * (dy - sum(dy * a))   (Jacobian-vector product)
    linear:  a = z                       da/dz = 1

The functions ``relu(x)``, ``tanh(x)`` ... are Keras's ``keras.activations.*``.
"""
import numpy as np


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0), with Keras's optional leak, cap and threshold."""
    x = np.asarray(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return np.maximum(x, 0)
    out = np.where(x >= threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        out = np.minimum(out, max_value)
    return out.astype(x.dtype, copy=False)


def tanh(x):
    return np.tanh(x)


def sigmoid(x):
    """1 / (1 + e^-x), computed without overflow for large |x|."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def softmax(x, axis=-1):
    """e^x_i / sum_j e^x_j; the max is subtracted first so exp never overflows."""
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def linear(x):
    return x


def _relu_backward(dy, a):
    return dy * (a > 0)


def _tanh_backward(dy, a):
    return dy * (1 - a * a)


def _sigmoid_backward(dy, a):
    return dy * a * (1 - a)


def _softmax_backward(dy, a):
    return a * (dy - np.sum(dy * a, axis=-1, keepdims=True))


def _linear_backward(dy, a):
    return dy


_BACKWARD = {
    relu: _relu_backward,
    tanh: _tanh_backward,
    sigmoid: _sigmoid_backward,
    softmax: _softmax_backward,
    linear: _linear_backward,
}
_BY_NAME = {fn.__name__: fn for fn in _BACKWARD}


def get(identifier):
    """Resolve None, a name ('relu', 'softmax', ...) or one of the functions above."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown activation {identifier!r}; available: {sorted(_BY_NAME)}")
        return _BY_NAME[identifier]
    if identifier in _BACKWARD:
        return identifier
    name = getattr(identifier, "__name__", None)
    if name in _BY_NAME:  # e.g. keras.activations.relu passed in a mixed script
        return _BY_NAME[name]
    raise ValueError(
        f"activation {identifier!r} has no known derivative; use one of {sorted(_BY_NAME)} "
        "(tinyconv needs each activation's backward pass)"
    )


def backward(activation, dy, a):
    """dL/dz for the activation that produced ``a`` from ``z``, given dL/da = ``dy``."""
    return _BACKWARD[activation](dy, a)


def serialize(activation):
    return activation.__name__


def deserialize(name):
    return get(name)
