"""``tinyconv.ops`` neural-network ops (Keras's ``keras.ops.nn``): activations, normalisation, attention.

Each op is its formula, forward and backward side by side.  The ops that have a kernel call the same
dispatch functions as the layers (``tinyconv/dispatch.py``), so ``ops.relu`` and a ``Dense`` layer
with ``activation="relu"`` compute the very same bits:

* ``relu`` and ``sigmoid`` run ``dispatch.activation_forward`` / ``activation_backward`` on float32 and
  float64 arrays (the kernels take no other dtype; other dtypes use the formula, here);
* convolutions and pooling live in ``nn_conv.py`` (``dispatch.conv2d_forward``, ``max_pool2d_forward``, ...);
* losses and one-hot encodings in ``nn_losses.py``.

This module exports all three families (its ``__all__``), as ``keras.ops.nn`` does.

Dtypes follow Keras: integer inputs of the smooth activations give float32; ``relu``, ``relu6`` and
``hard_tanh`` keep integers; float16 stays float16.
"""
import math

import numpy as np

from .. import dispatch
from .nn_conv import *  # noqa: F401,F403
from .nn_conv import __all__ as _conv_names
from .nn_losses import *  # noqa: F401,F403
from .nn_losses import __all__ as _loss_names
from .. import devices
from .operation import operation, unbroadcast, xp

__all__ = [
    # activations
    "relu", "relu6", "sigmoid", "sparse_sigmoid", "softmax", "log_softmax", "sparsemax", "softplus", "softsign",
    "silu", "swish", "gelu", "elu", "selu", "celu", "leaky_relu", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "glu", "log_sigmoid", "sparse_plus", "squareplus", "tanh_shrink", "soft_shrink", "hard_shrink",
    "threshold",
    # normalisation and statistics
    "moments", "batch_normalization", "layer_normalization", "rms_normalization", "normalize",
    # attention
    "dot_product_attention",
] + list(_conv_names) + list(_loss_names)

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # what the activation kernels take
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ================================================================ helpers
def _array(x):
    """``x`` as an array; Python numbers and lists get Keras's dtypes (int32, float32)."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    array = np.asarray(x)
    if array.dtype == np.int64:
        return array.astype(np.int32)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    return array


def _float(x):
    """``x`` as a floating array: integers and booleans become float32 (Keras's default float)."""
    x = _array(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def _on_kernels(x):
    """Whether the activation kernels take ``x`` (float32 or float64)."""
    return x.dtype in _KERNEL_DTYPES


def _like(g, x):
    """The gradient in x's dtype (Keras: the gradient of a float32 input is float32)."""
    return g if g.dtype == x.dtype else g.astype(x.dtype)


def _c(value, x):
    """A constant in x's dtype (a Python float would widen float16 or float32 arrays in a few NumPy ops)."""
    return xp(x).asarray(value, dtype=x.dtype)


def _sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| is at most 1."""
    m = xp(x)
    e = m.exp(-m.abs(x))
    return m.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _erf(x):
    """The error function, elementwise, on NumPy (SciPy when installed) or CuPy arrays."""
    if xp(x) is not np:
        return devices.companion_module(xp(x), "cupyx.scipy.special").erf(x)
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover  (SciPy is installed with tinyconv's extras)
        erf = np.vectorize(math.erf, otypes=[x.dtype])
    return erf(x).astype(x.dtype, copy=False)


def _axis(axis, ndim, op):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"ops.{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"ops.{op}: axis {axis} is out of range for an input of rank {ndim}")
    return int(axis) % ndim


# ================================================================ activations with a kernel
@operation(differentiable=("x",))
def relu(x):
    """Rectified linear unit: y = max(x, 0); dy/dx = 1 where x > 0, else 0.

    float32 and float64 run the activation kernel every layer with ``activation="relu"`` runs
    (``dispatch.activation_forward``), so the op and the layer agree bit for bit.

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape and dtype (integers stay integers, as in Keras).

    Example:

    >>> ops.relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    x = _array(x)
    if _on_kernels(x):
        return dispatch.activation_forward(x, "relu")
    return xp(x).maximum(x, _c(0, x))


@relu.defbackward
def _(g, out, x):
    if _on_kernels(out):
        return dispatch.activation_backward(_like(g, out), out, "relu")
    return _like(xp(g).where(out > 0, g, 0), _float(_array(x)))


@operation(differentiable=("x",))
def sigmoid(x):
    """Logistic sigmoid: s = 1 / (1 + e^-x); ds/dx = s (1 - s).

    float32 and float64 run the layers' activation kernel (``dispatch.activation_forward``).

    Args:
        x: input tensor (integers give float32).

    Returns:
        A tensor of the same shape, values in (0, 1).

    Example:

    >>> ops.sigmoid(np.array([0.0]))
    array([0.5])
    """
    x = _float(x)
    if _on_kernels(x):
        return dispatch.activation_forward(x, "sigmoid")
    return _sigmoid(x)


@sigmoid.defbackward
def _(g, out, x):
    if _on_kernels(out):
        return dispatch.activation_backward(_like(g, out), out, "sigmoid")
    return _like(g * out * (1 - out), out)


# ================================================================ piecewise-linear activations
@operation(differentiable=("x",))
def relu6(x):
    """y = min(max(x, 0), 6); dy/dx = 1 where 0 < x < 6, else 0.

    Args:
        x: input tensor (integers stay integers).

    Returns:
        A tensor of the same shape and dtype.

    Example:

    >>> ops.relu6(np.array([-1.0, 3.0, 8.0]))
    array([0., 3., 6.])
    """
    x = _array(x)
    return xp(x).clip(x, _c(0, x), _c(6, x))


@relu6.defbackward
def _(g, out, x):
    x = _array(x)
    return _like(g * ((x > 0) & (x < 6)), _float(x))


@operation(differentiable=("x",))
def leaky_relu(x, negative_slope=0.2):
    """y = x if x > 0 else negative_slope * x; dy/dx = 1 or negative_slope.

    Args:
        x: input tensor.
        negative_slope: slope for x <= 0 (default 0.2).

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.leaky_relu(np.array([-1.0, 2.0]), negative_slope=0.1)
    array([-0.1,  2. ])
    """
    x = _float(x)
    return xp(x).where(x > 0, x, _c(negative_slope, x) * x)


@leaky_relu.defbackward
def _(g, out, x, negative_slope=0.2):
    x = _float(x)
    return _like(g * xp(x).where(x > 0, _c(1, x), _c(negative_slope, x)), x)


@operation(differentiable=("x",))
def hard_sigmoid(x):
    """y = clip(x / 6 + 1/2, 0, 1); dy/dx = 1/6 where -3 < x < 3, else 0.

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape, values in [0, 1].

    Example:

    >>> ops.hard_sigmoid(np.array([-4.0, 0.0, 4.0]))
    array([0. , 0.5, 1. ])
    """
    x = _float(x)
    return xp(x).clip(x / _c(6, x) + _c(0.5, x), _c(0, x), _c(1, x))


@hard_sigmoid.defbackward
def _(g, out, x):
    x = _float(x)
    return _like(g * ((x > -3) & (x < 3)) / 6, x)


@operation(differentiable=("x",))
def hard_silu(x):
    """y = x * hard_sigmoid(x); dy/dx = hard_sigmoid(x) + x * hard_sigmoid'(x).

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.hard_silu(np.array([-4.0, 0.0, 4.0]))
    array([-0.,  0.,  4.])
    """
    x = _float(x)
    return x * hard_sigmoid.forward(x)


@hard_silu.defbackward
def _(g, out, x):
    x = _float(x)
    slope = ((x > -3) & (x < 3)) / 6
    return _like(g * (hard_sigmoid.forward(x) + x * slope), x)


hard_swish = hard_silu  # Keras's second name for the same op


@operation(differentiable=("x",))
def hard_tanh(x):
    """y = clip(x, -1, 1); dy/dx = 1 where -1 < x < 1, else 0.

    Args:
        x: input tensor (integers stay integers).

    Returns:
        A tensor of the same shape and dtype.

    Example:

    >>> ops.hard_tanh(np.array([-2.0, 0.5, 2.0]))
    array([-1. ,  0.5,  1. ])
    """
    x = _array(x)
    return xp(x).clip(x, _c(-1, x), _c(1, x))


@hard_tanh.defbackward
def _(g, out, x):
    x = _array(x)
    return _like(g * ((x > -1) & (x < 1)), _float(x))


@operation(differentiable=("x",))
def sparse_sigmoid(x):
    """y = 0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 for x >= 1; dy/dx = 1/2 inside, 0 outside.

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape, values in [0, 1].

    Example:

    >>> ops.sparse_sigmoid(np.array([-2.0, 0.0, 0.5, 2.0]))
    array([0.  , 0.5 , 0.75, 1.  ])
    """
    x = _float(x)
    return xp(x).clip((x + 1) / _c(2, x), _c(0, x), _c(1, x))


@sparse_sigmoid.defbackward
def _(g, out, x):
    x = _float(x)
    return _like(g * ((x > -1) & (x < 1)) / 2, x)


@operation(differentiable=("x",))
def sparse_plus(x):
    """y = 0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1; dy/dx = 0, (x + 1) / 2, 1.

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.sparse_plus(np.array([-2.0, 0.0, 2.0]))
    array([0.  , 0.25, 2.  ])
    """
    x = _float(x)
    m = xp(x)
    return m.where(x <= -1, _c(0, x), m.where(x < 1, (x + 1) ** 2 / _c(4, x), x))


@sparse_plus.defbackward
def _(g, out, x):
    x = _float(x)
    m = xp(x)
    return _like(g * m.where(x <= -1, 0, m.where(x < 1, (x + 1) / 2, 1)), x)


@operation(differentiable=("x",))
def soft_shrink(x, threshold=0.5):
    """y = x - t for x > t, x + t for x < -t, else 0; dy/dx = 1 where |x| > t, else 0.

    Args:
        x: input tensor.
        threshold: t (default 0.5).

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.soft_shrink(np.array([-1.0, 0.2, 1.0]))
    array([-0.5,  0. ,  0.5])
    """
    x = _float(x)
    m, t = xp(x), _c(threshold, x)
    return m.where(x > t, x - t, m.where(x < -t, x + t, _c(0, x)))


@soft_shrink.defbackward
def _(g, out, x, threshold=0.5):
    x = _float(x)
    return _like(g * (xp(x).abs(x) > threshold), x)


@operation(differentiable=("x",))
def hard_shrink(x, threshold=0.5):
    """y = x where |x| > t, else 0; dy/dx = 1 where |x| > t, else 0.

    Args:
        x: input tensor.
        threshold: t (default 0.5).

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.hard_shrink(np.array([-1.0, 0.2, 1.0]))
    array([-1.,  0.,  1.])
    """
    x = _float(x)
    return xp(x).where(xp(x).abs(x) > _c(threshold, x), x, _c(0, x))


@hard_shrink.defbackward
def _(g, out, x, threshold=0.5):
    x = _float(x)
    return _like(g * (xp(x).abs(x) > threshold), x)


@operation(differentiable=("x",))
def threshold(x, threshold, default_value):
    """y = x where x > threshold, else default_value; dy/dx = 1 where x > threshold, else 0.

    Args:
        x: input tensor.
        threshold: the value x must exceed to pass.
        default_value: what replaces the values that do not.

    Returns:
        A tensor of the same shape and dtype as ``x``.

    Example:

    >>> ops.threshold(np.array([-1.0, 0.5, 2.0]), 1.0, 0.0)
    array([0., 0., 2.])
    """
    x = _array(x)
    return xp(x).where(x > threshold, x, _c(default_value, x))


@threshold.defbackward
def _(g, out, x, threshold, default_value):
    x = _array(x)
    return _like(g * (x > threshold), _float(x))


# ================================================================ smooth activations
@operation(differentiable=("x",))
def softplus(x):
    """y = log(1 + e^x), computed as logaddexp(x, 0) so large x never overflows; dy/dx = sigmoid(x).

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape, values > 0.

    Example:

    >>> float(ops.softplus(np.array(0.0)))
    0.6931471805599453
    """
    x = _float(x)
    return xp(x).logaddexp(x, _c(0, x))


@softplus.defbackward
def _(g, out, x):
    return _like(g * _sigmoid(_float(x)), _float(x))


@operation(differentiable=("x",))
def softsign(x):
    """y = x / (1 + |x|); dy/dx = 1 / (1 + |x|)^2.

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape, values in (-1, 1).

    Example:

    >>> ops.softsign(np.array([-1.0, 3.0]))
    array([-0.5 ,  0.75])
    """
    x = _float(x)
    return x / (_c(1, x) + xp(x).abs(x))


@softsign.defbackward
def _(g, out, x):
    x = _float(x)
    return _like(g / (1 + xp(x).abs(x)) ** 2, x)


@operation(differentiable=("x",))
def silu(x):
    """Swish: y = x * s(x), s the sigmoid; dy/dx = s (1 + x (1 - s)).

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.silu(np.array([0.0, 1.0])).round(4)
    array([0.    , 0.7311])
    """
    x = _float(x)
    return x * _sigmoid(x)


@silu.defbackward
def _(g, out, x):
    x = _float(x)
    s = _sigmoid(x)
    return _like(g * s * (1 + x * (1 - s)), x)


swish = silu  # Keras's second name for the same op

_GELU_C = math.sqrt(2 / math.pi)  # the tanh approximation's constant


@operation(differentiable=("x",))
def gelu(x, approximate=True):
    """Gaussian error linear unit: y = x Phi(x), Phi the standard normal CDF.

    Exact: Phi(x) = (1 + erf(x / sqrt 2)) / 2, dy/dx = Phi(x) + x phi(x) (phi the normal density).
    ``approximate=True`` (Keras's default): y = x (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3),
    dy/dx = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2, t = tanh(u).

    Args:
        x: input tensor.
        approximate: use the tanh approximation (default True).

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.gelu(np.array([0.0, 1.0]), approximate=False).round(4)
    array([0.    , 0.8413])
    """
    x = _float(x)
    m = xp(x)
    if approximate:
        t = m.tanh(_c(_GELU_C, x) * (x + _c(0.044715, x) * x ** 3))
        return x * (_c(0.5, x) * (_c(1, x) + t))
    return x * (_c(0.5, x) * (_c(1, x) + _erf(x / _c(math.sqrt(2), x))))


@gelu.defbackward
def _(g, out, x, approximate=True):
    x = _float(x)
    m = xp(x)
    if approximate:
        t = m.tanh(_GELU_C * (x + 0.044715 * x ** 3))
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)
    else:
        slope = 0.5 * (1 + _erf(x / math.sqrt(2))) + x * m.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return _like(g * slope, x)


@operation(differentiable=("x",))
def elu(x, alpha=1.0):
    """y = x for x >= 0, alpha (e^x - 1) below; dy/dx = 1, or alpha e^x.

    Args:
        x: input tensor.
        alpha: the scale of the negative part (default 1.0).

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.elu(np.array([-1.0, 2.0])).round(4)
    array([-0.6321,  2.    ])
    """
    x = _float(x)
    m = xp(x)
    return m.where(x >= 0, x, _c(alpha, x) * m.expm1(m.minimum(x, _c(0, x))))


@elu.defbackward
def _(g, out, x, alpha=1.0):
    x = _float(x)
    m = xp(x)
    return _like(g * m.where(x >= 0, 1, alpha * m.exp(m.minimum(x, 0))), x)


@operation(differentiable=("x",))
def selu(x):
    """y = scale * elu(x, alpha), alpha = 1.6732..., scale = 1.0507...; dy/dx = scale * elu'(x, alpha).

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.selu(np.array([0.0, 1.0])).round(4)
    array([0.    , 1.0507])
    """
    x = _float(x)
    return _c(SELU_SCALE, x) * elu.forward(x, SELU_ALPHA)


@selu.defbackward
def _(g, out, x):
    x = _float(x)
    m = xp(x)
    return _like(g * SELU_SCALE * m.where(x >= 0, 1, SELU_ALPHA * m.exp(m.minimum(x, 0))), x)


@operation(differentiable=("x",))
def celu(x, alpha=1.0):
    """y = max(x, 0) + alpha (e^{min(x, 0) / alpha} - 1); dy/dx = 1 for x > 0, else e^{x / alpha}.

    Args:
        x: input tensor.
        alpha: the scale of the negative part (default 1.0).

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.celu(np.array([-1.0, 2.0])).round(4)
    array([-0.6321,  2.    ])
    """
    x = _float(x)
    m, zero, a = xp(x), _c(0, x), _c(alpha, x)
    return m.maximum(x, zero) + a * m.expm1(m.minimum(x, zero) / a)


@celu.defbackward
def _(g, out, x, alpha=1.0):
    x = _float(x)
    m = xp(x)
    return _like(g * m.where(x > 0, 1, m.exp(m.minimum(x, 0) / alpha)), x)


@operation(differentiable=("x",))
def log_sigmoid(x):
    """y = log(sigmoid(x)) = -softplus(-x); dy/dx = 1 - sigmoid(x) = sigmoid(-x).

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape, values < 0.

    Example:

    >>> float(ops.log_sigmoid(np.array(0.0)))
    -0.6931471805599453
    """
    x = _float(x)
    return -xp(x).logaddexp(-x, _c(0, x))


@log_sigmoid.defbackward
def _(g, out, x):
    x = _float(x)
    return _like(g * _sigmoid(-x), x)


@operation(differentiable=("x",))
def squareplus(x, b=4):
    """y = (x + sqrt(x^2 + b)) / 2; dy/dx = (1 + x / sqrt(x^2 + b)) / 2.

    Args:
        x: input tensor.
        b: smoothness (default 4); b = 0 gives relu.

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.squareplus(np.array([0.0, 1.5]))
    array([1., 2.])
    """
    x = _float(x)
    return (x + xp(x).sqrt(x * x + _c(b, x))) / _c(2, x)


@squareplus.defbackward
def _(g, out, x, b=4):
    x = _float(x)
    return _like(g * (1 + x / xp(x).sqrt(x * x + b)) / 2, x)


@operation(differentiable=("x",))
def tanh_shrink(x):
    """y = x - tanh(x); dy/dx = tanh(x)^2.

    Args:
        x: input tensor.

    Returns:
        A tensor of the same shape.

    Example:

    >>> ops.tanh_shrink(np.array([0.0, 1.0])).round(4)
    array([0.    , 0.2384])
    """
    x = _float(x)
    return x - xp(x).tanh(x)


@tanh_shrink.defbackward
def _(g, out, x):
    x = _float(x)
    return _like(g * xp(x).tanh(x) ** 2, x)


@operation(differentiable=("x",))
def glu(x, axis=-1):
    """Gated linear unit: x = [a, b] split in halves along ``axis``, y = a * sigmoid(b).

    da = g * s(b);  db = g * a * s(b) (1 - s(b)).

    Args:
        x: input tensor, its ``axis`` of even size.
        axis: the axis split in two (default -1).

    Returns:
        A tensor with ``axis`` halved.

    Example:

    >>> ops.glu(np.array([[2.0, 0.0]]))
    array([[1.]])
    """
    x = _float(x)
    a, b = _halves(x, axis)
    return a * _sigmoid(b)


def _halves(x, axis):
    axis = _axis(axis, x.ndim, "glu")
    if x.shape[axis] % 2:
        raise ValueError(f"ops.glu: the size of axis {axis} must be even, got x.shape={tuple(x.shape)}")
    return xp(x).split(x, 2, axis=axis)


@glu.defbackward
def _(g, out, x, axis=-1):
    x = _float(x)
    a, b = _halves(x, axis)
    s = _sigmoid(b)
    return _like(xp(x).concatenate([g * s, g * a * s * (1 - s)], axis=_axis(axis, x.ndim, "glu")), x)


# ================================================================ functions of a whole axis
@operation(differentiable=("x",))
def softmax(x, axis=-1):
    """s_i = e^{x_i} / sum_j e^{x_j} along ``axis`` (the max subtracted first: no overflow).

    Backward (the Jacobian-vector product): dx = s * (g - sum(g * s)).

    Args:
        x: input tensor.
        axis: the axis normalised over (an int or a tuple of ints; default -1).

    Returns:
        A tensor of the same shape, summing to 1 along ``axis``.

    Example:

    >>> ops.softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    x = _float(x)
    m = xp(x)
    e = m.exp(x - m.max(x, axis=axis, keepdims=True))
    return e / m.sum(e, axis=axis, keepdims=True)


@softmax.defbackward
def _(g, out, x, axis=-1):
    return _like(out * (g - xp(g).sum(g * out, axis=axis, keepdims=True)), out)


@operation(differentiable=("x",))
def log_softmax(x, axis=-1):
    """y_i = x_i - log sum_j e^{x_j} along ``axis``; dx = g - softmax(x) * sum(g).

    Args:
        x: input tensor.
        axis: the axis normalised over (default -1).

    Returns:
        A tensor of the same shape (log-probabilities).

    Example:

    >>> np.exp(ops.log_softmax(np.array([0.0, np.log(3.0)])))
    array([0.25, 0.75])
    """
    x = _float(x)
    m = xp(x)
    shifted = x - m.max(x, axis=axis, keepdims=True)
    return shifted - m.log(m.sum(m.exp(shifted), axis=axis, keepdims=True))


@log_softmax.defbackward
def _(g, out, x, axis=-1):
    m = xp(g)
    return _like(g - m.exp(out) * m.sum(g, axis=axis, keepdims=True), out)


@operation(differentiable=("x",))
def sparsemax(x, axis=-1):
    """The Euclidean projection of x onto the probability simplex: y = max(x - tau, 0).

    tau is chosen so that y sums to 1: sort x descending into z, take the support
    k = max{j : 1 + j z_j > sum_{i<=j} z_i}, tau = (sum_{i<=k} z_i - 1) / k.
    Backward, with S the support (y > 0): dx = [S] (g - sum_S g / |S|).

    Args:
        x: input tensor.
        axis: the axis projected over (default -1).

    Returns:
        A tensor of the same shape: sparse probabilities along ``axis``.

    Example:

    >>> ops.sparsemax(np.array([1.0, 0.5, -1.0]))
    array([0.75, 0.25, 0.  ])
    """
    x = _float(x)
    m = xp(x)
    axis = _axis(axis, x.ndim, "sparsemax")
    z = -m.sort(-x, axis=axis)                      # descending
    cumulative = m.cumsum(z, axis=axis)
    rank_shape = [1] * x.ndim
    rank_shape[axis] = -1
    j = m.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape(rank_shape)
    in_support = 1 + j * z > cumulative
    k = m.sum(in_support, axis=axis, keepdims=True)
    tau = (m.take_along_axis(cumulative, k - 1, axis=axis) - 1) / k   # (the k-th running sum - 1) / k
    return m.maximum(x - tau.astype(x.dtype), _c(0, x))


@sparsemax.defbackward
def _(g, out, x, axis=-1):
    m = xp(g)
    support = (out > 0).astype(out.dtype)
    mean_on_support = m.sum(g * support, axis=axis, keepdims=True) / m.sum(support, axis=axis, keepdims=True)
    return _like(support * (g - mean_on_support), out)


# ================================================================ attention
def _large_negative(dtype):
    """What masked logits become: far below any real logit, yet finite (so no inf - inf = NaN)."""
    return -0.7 * (65500.0 if np.dtype(dtype) == np.float16 else 3.38953e38)


@operation(differentiable=("query", "key", "value", "bias"), saves=True)
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention over (batch, length, heads, head_dim) tensors.

        logits[b, n, t, s] = scale * sum_h q[b, t, n, h] k[b, s, n, h] + bias    (scale = 1/sqrt(H) by default)
        logits = cap * tanh(logits / cap)              (only with attn_logits_soft_cap)
        p = softmax(logits over s), masked cells (mask False, or s > t with is_causal) left out
        out[b, t, n, h] = sum_s p[b, n, t, s] v[b, s, n, h]

    Backward (the softmax's Jacobian-vector product in the middle):
        dv = p^T g;  dp = g v^T;  dlogits = p (dp - sum_s dp p);  through the soft cap: * (1 - tanh^2);
        dq = scale dlogits k;  dk = scale dlogits^T q;  dbias = dlogits summed to bias's shape.

    Args:
        query: (batch, T, heads, head_dim).
        key: (batch, S, heads, head_dim).
        value: (batch, S, heads, head_dim).
        bias: added to the logits, broadcastable to (batch, heads, T, S) (default None).
        mask: boolean, broadcastable to (batch, heads, T, S); False cells are not attended to.
        scale: the logits' scale (default None: 1 / sqrt(head_dim)).
        is_causal: mask the future (s > t) (default False).
        flash_attention: must be None or False (there is no fused kernel here).
        attn_logits_soft_cap: cap the logits smoothly to (-cap, cap) (default None).

    Returns:
        (batch, T, heads, head_dim).

    Example:

    >>> q = k = np.ones((1, 2, 1, 4)); v = np.arange(8.0).reshape(1, 2, 1, 4)
    >>> ops.dot_product_attention(q, k, v)[0, :, 0]
    array([[2., 3., 4., 5.],
           [2., 3., 4., 5.]])
    """
    if flash_attention:
        raise ValueError("ops.dot_product_attention: flash_attention=True is not supported (no fused kernel here)")
    q, k, v = (_float(a) for a in (query, key, value))
    for name, a in (("query", q), ("key", k), ("value", v)):
        if a.ndim != 4:
            raise ValueError(f"ops.dot_product_attention: expected {name} of rank 4 (batch, length, heads, "
                             f"head_dim), got shape {tuple(a.shape)}")
    dtype = np.result_type(q.dtype, k.dtype, v.dtype)
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
    m = xp(q)
    scale = 1.0 / math.sqrt(k.shape[-1]) if scale is None else scale
    logits = m.einsum("btnh,bsnh->bnts", q, k) * _c(scale, q)
    if bias is not None:
        logits = logits + _float(bias).astype(dtype, copy=False)
    capped = None
    if attn_logits_soft_cap is not None:
        capped = m.tanh(logits / attn_logits_soft_cap)
        logits = attn_logits_soft_cap * capped
    keep = _attention_mask(mask, is_causal, logits.shape, m)
    if keep is not None:
        logits = m.where(keep, logits, _c(_large_negative(dtype), logits))
    p = softmax.forward(logits, axis=-1)
    out = m.einsum("bnts,bsnh->btnh", p, v)
    return out, (q, k, v, p, scale, capped, keep)


def _attention_mask(mask, is_causal, shape, m):
    keep = None if mask is None else m.broadcast_to(m.asarray(mask).astype(bool), shape)
    if is_causal:
        causal = m.tril(m.ones(shape[-2:], dtype=bool))
        keep = causal if keep is None else keep & causal
    return keep


@dot_product_attention.defbackward
def _(g, out, query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None,
      attn_logits_soft_cap=None, *, saved):
    q, k, v, p, scale, capped, keep = saved
    m = xp(q)
    dv = m.einsum("bnts,btnh->bsnh", p, g)
    dp = m.einsum("btnh,bsnh->bnts", g, v)
    dlogits = p * (dp - m.sum(dp * p, axis=-1, keepdims=True))      # softmax's backward
    if keep is not None:
        dlogits = m.where(keep, dlogits, 0)                          # a masked logit was replaced: no gradient
    if capped is not None:
        dlogits = dlogits * (1 - capped ** 2)                       # d(cap tanh(l / cap))/dl
    dq = m.einsum("bnts,bsnh->btnh", dlogits, k) * scale
    dk = m.einsum("bnts,btnh->bsnh", dlogits, q) * scale
    dbias = None if bias is None else _like(unbroadcast(dlogits, _float(bias)), _float(bias))
    return _like(dq, _float(query)), _like(dk, _float(key)), _like(dv, _float(value)), dbias
