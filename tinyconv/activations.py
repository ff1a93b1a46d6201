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

from .devices import array_module_of, companion_module, is_device_array
from .devices import asarray as _asarray  # keeps a GPU (CuPy) array on the GPU


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0), with Keras's optional leak, cap and threshold.

    Args:
        x: an array.
        negative_slope: the slope below ``threshold`` (0: plain ReLU).
        max_value: if set, the output is capped at this value.
        threshold: where the function turns on; below it the output is ``negative_slope * (x - threshold)``.

    Returns:
        An array like ``x``.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.relu(x), tinyconv.activations.relu(x, negative_slope=0.1, max_value=1.0)
    (array([0., 0., 2.], dtype=float32), array([-0.1,  0. ,  1. ], dtype=float32))
    """
    x = _asarray(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return np.maximum(x, 0)
    out = np.where(x >= threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        out = np.minimum(out, max_value)
    return out.astype(x.dtype, copy=False)


def tanh(x):
    """The hyperbolic tangent, (e^x - e^-x) / (e^x + e^-x), in (-1, 1).

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.tanh(x).round(4)
    array([-0.7616,  0.    ,  0.964 ], dtype=float32)
    """
    return np.tanh(x)


def sigmoid(x):
    """1 / (1 + e^-x), computed without overflow for large |x|.

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.sigmoid(x).round(4)
    array([0.2689, 0.5   , 0.8808], dtype=float32)
    """
    x = _asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def softmax(x, axis=-1):
    """e^x_i / sum_j e^x_j; the max is subtracted first so exp never overflows.

    Args:
        x: an array.
        axis: the axis that sums to 1.

    Example:

    >>> tinyconv.activations.softmax(np.array([[1.0, 2.0, 3.0]])).round(4)
    array([[0.09  , 0.2447, 0.6652]])
    """
    if _fused_softmax_applies(x, axis):   # a GPU array: one kernel instead of five launches
        from .kernels.gpu.raw import softmax as raw_softmax
        return raw_softmax.softmax(x)
    shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def _fused_softmax_applies(x, axis):
    """A device array of floats, normalised over its last axis (the raw kernel's case)."""
    if not is_device_array(x) or x.ndim == 0 or x.dtype not in (np.float32, np.float64):
        return False
    return isinstance(axis, (int, np.integer)) and axis in (-1, x.ndim - 1) and x.shape[-1] > 0


def linear(x):
    """The identity: ``x`` itself (what ``activation=None`` means).

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.linear(x)
    array([-1.,  0.,  2.], dtype=float32)
    """
    return x


# ---- More of Keras 3's activations.  Names, arguments and defaults are Keras's.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def leaky_relu(x, negative_slope=0.2):
    """x if x > 0 else negative_slope * x: a small slope keeps negative units learning.

    Args:
        x: an array.
        negative_slope: the slope for x <= 0.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.leaky_relu(x)
    array([-0.2,  0. ,  2. ], dtype=float32)
    """
    x = _asarray(x)
    return np.where(x > 0, x, negative_slope * x).astype(x.dtype, copy=False)


def relu6(x):
    """min(max(x, 0), 6).

    Args:
        x: an array.

    Example:

    >>> tinyconv.activations.relu6(np.array([-1.0, 3.0, 8.0]))
    array([0., 3., 6.])
    """
    return np.clip(x, 0, 6)


def elu(x, alpha=1.0):
    """x if x > 0 else alpha * (e^x - 1): smooth, and negative outputs push mean activations to 0.

    Args:
        x: an array.
        alpha: the value the output approaches as x -> -inf is ``-alpha``.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.elu(x).round(4)
    array([-0.6321,  0.    ,  2.    ], dtype=float32)
    """
    x = _asarray(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def selu(x):
    """SELU_SCALE * elu(x, SELU_ALPHA): the constants keep activations self-normalising.

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.selu(x).round(4)
    array([-1.1113,  0.    ,  2.1014], dtype=float32)
    """
    return (SELU_SCALE * elu(x, SELU_ALPHA)).astype(_asarray(x).dtype, copy=False)


def _erf(x):
    """The error function, elementwise, on ``x``'s device: SciPy's on the host (a dependency of
    tinyconv), ``cupyx.scipy.special.erf`` on the GPU (one kernel, no host copy)."""
    special = companion_module(array_module_of(x), "cupyx.scipy.special")
    if special is None:
        from scipy.special import erf  # imported here: SciPy is slow to import and only gelu needs it
        return erf(x)
    return special.erf(x)


def gelu(x, approximate=False):
    """x * Phi(x), Phi the standard normal CDF: Phi(x) = (1 + erf(x / sqrt 2)) / 2.

    approximate=True uses the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    Args:
        x: an array.
        approximate: use the tanh form.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.gelu(x).round(4)
    array([-0.1587,  0.    ,  1.9545], dtype=float32)
    """
    x = _asarray(x)
    if approximate:
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1 + _erf(x / np.sqrt(2)))).astype(x.dtype, copy=False)


def silu(x):
    """x * sigmoid(x), also called swish.

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.silu(x).round(4)
    array([-0.2689,  0.    ,  1.7616], dtype=float32)
    """
    return x * sigmoid(x)


swish = silu  # Keras exports the same function under both names


def softplus(x):
    """log(1 + e^x), computed as logaddexp(0, x) so large x never overflows.

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.softplus(x).round(4)
    array([0.3133, 0.6931, 2.1269], dtype=float32)
    """
    return np.logaddexp(0, x).astype(_asarray(x).dtype, copy=False)


def softsign(x):
    """x / (1 + |x|).

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.softsign(x).round(4)
    array([-0.5   ,  0.    ,  0.6667], dtype=float32)
    """
    return x / (1 + np.abs(x))


def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: relu6(x + 3) / 6 (0 below -3, 1 above 3).

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.hard_sigmoid(x).round(4)
    array([0.3333, 0.5   , 0.8333], dtype=float32)
    """
    return (relu6(_asarray(x) + 3) / 6).astype(_asarray(x).dtype, copy=False)


def exponential(x):
    """e^x.

    Args:
        x: an array.

    Example:

    >>> x = np.array([-1.0, 0.0, 2.0], dtype="float32")
    >>> tinyconv.activations.exponential(x).round(4)
    array([0.3679, 1.    , 7.3891], dtype=float32)
    """
    return np.exp(x)


def _relu_backward(dy, a):
    # A switch, not a product: where a <= 0 the gradient is 0 even for an inf or NaN dy (0 * inf
    # would be NaN), as in PyTorch and the compiled kernel.
    return np.where(a > 0, dy, 0).astype(dy.dtype, copy=False)


def _tanh_backward(dy, a):
    return dy * (1 - a * a)


def _sigmoid_backward(dy, a):
    return dy * a * (1 - a)


def _softmax_backward(dy, a):
    return a * (dy - np.sum(dy * a, axis=-1, keepdims=True))


def _linear_backward(dy, a):
    return dy


# Derivatives written from the output a, as above.
def _leaky_relu_backward(dy, a):
    return dy * np.where(a > 0, 1.0, 0.2).astype(dy.dtype)      # default slope: the function's


def _relu6_backward(dy, a):
    return dy * ((a > 0) & (a < 6))


def _elu_backward(dy, a):
    return dy * np.where(a > 0, 1.0, a + 1.0)                   # alpha e^z = a + alpha, alpha = 1


def _selu_backward(dy, a):
    return dy * np.where(a > 0, SELU_SCALE, a + SELU_SCALE * SELU_ALPHA)


def _softsign_backward(dy, a):
    return dy * (1 - np.abs(a)) ** 2                            # 1 / (1 + |z|)^2 = (1 - |a|)^2


def _hard_sigmoid_backward(dy, a):
    return dy * (((a > 0) & (a < 1)) / 6.0).astype(dy.dtype)


def _exponential_backward(dy, a):
    return dy * a


# These derivatives need the input z (the pre-activation) too: backward(dy, z, a).
#   gelu:     d/dz z Phi(z) = Phi(z) + z phi(z),  phi the standard normal density
#   silu:     d/dz z s(z)   = s(z) (1 + z (1 - s(z))),  s = sigmoid
#   softplus: d/dz log(1 + e^z) = sigmoid(z)
def _gelu_backward(dy, z, a):
    cdf = 0.5 * (1 + _erf(z / np.sqrt(2)))
    density = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return (dy * (cdf + z * density)).astype(dy.dtype, copy=False)


def _silu_backward(dy, z, a):
    s = sigmoid(z)
    return dy * s * (1 + z * (1 - s))


def _softplus_backward(dy, z, a):
    return dy * sigmoid(z)


_BACKWARD = {
    relu: _relu_backward,
    tanh: _tanh_backward,
    sigmoid: _sigmoid_backward,
    softmax: _softmax_backward,
    linear: _linear_backward,
    leaky_relu: _leaky_relu_backward,
    relu6: _relu6_backward,
    elu: _elu_backward,
    selu: _selu_backward,
    softsign: _softsign_backward,
    hard_sigmoid: _hard_sigmoid_backward,
    exponential: _exponential_backward,
}
_BY_NAME = {fn.__name__: fn for fn in _BACKWARD}
_BACKWARD_FROM_INPUT = {  # backward(dy, z, a): the layer passes its pre-activation z too
    gelu: _gelu_backward,
    silu: _silu_backward,
    softplus: _softplus_backward,
}
_BY_NAME.update({fn.__name__: fn for fn in _BACKWARD_FROM_INPUT})
_BY_NAME["swish"] = silu


# The activations every kernel set implements as dispatch.activation_forward / activation_backward.
KERNEL_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")


def _name_from_keras_dict(identifier):
    """The activation name in Keras 3's dict form ``{"module": ..., "class_name": "function", "config":
    "relu", "registered_name": ...}``; anything else a config may hold there is refused with the reason."""
    class_name, config = identifier.get("class_name"), identifier.get("config")
    if class_name == "function" and isinstance(config, str):
        return config
    if class_name == "__lambda__" or "value" in identifier or (isinstance(config, dict) and "value" in config):
        raise ValueError(f"activation {_short(identifier)} is a Python lambda (bytecode) saved by Keras; "
                         "tinyconv never runs code from a file, with or without safe_mode. Use a named "
                         f"activation, one of {sorted(_BY_NAME)}")
    raise ValueError(f"activation {_short(identifier)} is not allowed: tinyconv accepts an activation name or "
                     "Keras's {'class_name': 'function', 'config': NAME} form, NAME one of "
                     f"{sorted(_BY_NAME)}")


def _short(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...}"


def get(identifier):
    """Resolve None, a name ('relu', 'softmax', ...), Keras's dict form of a name, or one of the functions above.

    Args:
        identifier: None (``linear``), a name, ``{"class_name": "function", "config": NAME}``, or an
            activation function (this module's, or one of the same name from another library).

    Returns:
        One of this module's functions.

    Raises:
        ValueError: for an unknown name, a saved lambda, or a function with no known derivative.

    Example:

    >>> tinyconv.activations.get("relu") is tinyconv.activations.relu, tinyconv.activations.get(None).__name__
    (True, 'linear')
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = _name_from_keras_dict(identifier)
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown activation {identifier!r}; available: {sorted(_BY_NAME)}")
        return _BY_NAME[identifier]
    if not callable(identifier):
        raise ValueError(f"activation {_short(identifier)} is not allowed: give a name, one of "
                         f"{sorted(_BY_NAME)}, or one of the functions in tinyconv.activations")
    if identifier in _BACKWARD or identifier in _BACKWARD_FROM_INPUT:
        return identifier
    name = getattr(identifier, "__name__", None)
    if name in _BY_NAME:  # e.g. keras.activations.relu passed in a mixed script
        return _BY_NAME[name]
    raise ValueError(
        f"activation {identifier!r} has no known derivative; use one of {sorted(_BY_NAME)} "
        "(tinyconv needs each activation's backward pass)"
    )


def backward(activation, dy, a, z=None):
    """dL/dz for the activation that produced ``a`` from ``z``, given dL/da = ``dy``.

    Most derivatives need only ``a``; gelu, silu and softplus need ``z`` as well.

    Args:
        activation: one of this module's functions (as ``get`` returns it).
        dy: the upstream gradient dL/da.
        a: the activation's output.
        z: its input (the pre-activation); needed for gelu, silu and softplus.

    Returns:
        dL/dz, an array like ``dy``.

    Raises:
        ValueError: if ``z`` is needed and not given.

    Example:

    >>> a = tinyconv.activations.sigmoid(np.array([0.0]))
    >>> tinyconv.activations.backward(tinyconv.activations.sigmoid, np.array([1.0]), a)   # a (1 - a)
    array([0.25])
    """
    if activation in _BACKWARD_FROM_INPUT:
        if z is None:
            raise ValueError(f"the backward pass of {activation.__name__} needs its input z (the pre-activation)")
        return _BACKWARD_FROM_INPUT[activation](dy, z, a)
    return _BACKWARD[activation](dy, a)


def serialize(activation):
    """An activation's saved form: its name.

    Args:
        activation: one of this module's functions.

    Example:

    >>> tinyconv.activations.serialize(tinyconv.activations.swish)   # swish is silu
    'silu'
    """
    return activation.__name__


def deserialize(config, custom_objects=None):
    """An activation from its saved form: a name or Keras's ``{"class_name": "function", "config": NAME}``.

    Only tinyconv's own activations are found; nothing in a config is ever imported or executed.

    Args:
        config: a name or Keras's dict form.
        custom_objects: accepted for Keras compatibility and not used.

    Raises:
        ValueError: for anything that is not one of tinyconv's activations.

    Example:

    >>> tinyconv.activations.deserialize({"class_name": "function", "config": "tanh"}).__name__
    'tanh'
    """
    return get(config)
