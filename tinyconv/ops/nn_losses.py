"""Losses, encodings and statistics of ``keras.ops.nn``: cross-entropies, one-hot, normalisation, PSNR.

Cross-entropies are written the way the course derives them.  Probabilities are clipped to
[eps, 1 - eps] (eps = ``tinyconv.backend.epsilon()``, 1e-7) before the log, so a zero never gives
-inf; the clipped cells get no gradient, exactly as a clip's derivative says.  With
``from_logits=True`` the log-softmax (log-sigmoid) is computed stably from the logits and its
gradient takes the famous short form  softmax(z) * sum(t) - t  (sigmoid(z) - t).

Normalisation ops: ``moments``, ``batch_normalization`` (with given statistics, as at inference),
``layer_normalization``, ``rms_normalization`` and ``normalize`` (L_p), each with its backward.
"""
import math

import numpy as np

from .operation import operation, unbroadcast, xp

__all__ = ["one_hot", "multi_hot", "categorical_crossentropy", "sparse_categorical_crossentropy",
           "binary_crossentropy", "psnr", "moments", "batch_normalization", "layer_normalization",
           "rms_normalization", "normalize"]


# ================================================================ helpers
def _array(x):
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    array = np.asarray(x)
    if array.dtype == np.int64:
        return array.astype(np.int32)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    return array


def _float(x):
    x = _array(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def _floats(*values):
    """The values as floating arrays of one dtype (float64 if any is, float16 only if all are)."""
    arrays = [_float(v) for v in values]
    dtype = np.result_type(*[a.dtype for a in arrays])
    return [a if a.dtype == dtype else a.astype(dtype) for a in arrays]


def _like(g, x):
    x = _float(x)
    return g if g.dtype == x.dtype else g.astype(x.dtype)


def _epsilon():
    from .. import backend  # Keras's fuzz factor, settable with backend.set_epsilon
    return backend.epsilon()


def _same_shape(op, target, output):
    if tuple(target.shape) != tuple(output.shape):
        raise ValueError(f"ops.{op}: target and output must have the same shape, got target.shape="
                         f"{tuple(target.shape)} and output.shape={tuple(output.shape)}")


def _axes(axis, ndim, op):
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise ValueError(f"ops.{op}: axis {axis!r} is not valid for an input of rank {ndim}")
    return tuple(sorted(int(a) % ndim for a in axes))


def _count(x, axes):
    return math.prod(x.shape[a] for a in axes)


# ================================================================ encodings
@operation()
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """y[..., k] = 1 where x == k, else 0 (a new axis of size ``num_classes``); indices outside
    [0, num_classes) give a row of zeros.  Not differentiable (its input is integer labels).

    Args:
        x: integer tensor of class indices.
        num_classes: the size of the new axis.
        axis: where the new axis goes (default -1, last).
        dtype: the result's dtype (default float32).
        sparse: must be False (tinyconv has no sparse tensors).

    Returns:
        The one-hot tensor, of rank ``x.ndim + 1``.

    Example:

    >>> ops.one_hot(np.array([0, 2, -1]), 3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    if sparse:
        raise ValueError("ops.one_hot: sparse=True is not supported (tinyconv has no sparse tensors)")
    x = _array(x)
    m = xp(x)
    if x.dtype.kind == "f":
        x = x.astype(np.int32)
    classes = m.arange(int(num_classes)).reshape((1,) * x.ndim + (-1,))
    encoded = (x[..., None] == classes).astype(dtype or "float32")
    return encoded if axis == -1 else m.moveaxis(encoded, -1, axis)


@operation()
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """y[n, k] = 1 where any label of sample n equals k: the one-hot rows of a sample's labels merged
    by max.  A 1-D input is one sample.  Not differentiable.

    Args:
        inputs: integer tensor of labels, (samples, labels) or (labels,).
        num_classes: the number of classes (``num_tokens``, Keras's old name, is accepted too).
        axis: where the class axis goes (default -1).
        dtype: the result's dtype (default float32).
        sparse: must be False.

    Returns:
        (samples, num_classes) (or (num_classes,) for a 1-D input).

    Example:

    >>> ops.multi_hot(np.array([[0, 2], [1, 1]]), 3)
    array([[1., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    if "num_tokens" in kwargs:
        num_classes = kwargs.pop("num_tokens")
    if kwargs:
        raise TypeError(f"ops.multi_hot: unexpected keyword arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("ops.multi_hot: num_classes must be given, got None")
    inputs = _array(inputs)
    encoded = one_hot.forward(inputs.astype(np.int32), num_classes, axis=axis, dtype=dtype)
    return encoded.max(axis=1 if inputs.ndim > 1 else 0)


# ================================================================ cross-entropies
def _log_probabilities(output, from_logits, axis):
    """(log p, what the backward needs): log-softmax of logits, or the log of clipped, renormalised
    probabilities together with the clip mask."""
    m = xp(output)
    if from_logits:
        shifted = output - m.max(output, axis=axis, keepdims=True)
        return shifted - m.log(m.sum(m.exp(shifted), axis=axis, keepdims=True))
    eps = _epsilon()
    total = m.sum(output, axis=axis, keepdims=True)
    return m.log(m.clip(output / total, eps, 1 - eps))


def _categorical_backward(g, target, output, from_logits, axis):
    """dL/d(output) of L = -sum_k t_k log p_k along ``axis`` (g: dL per sample)."""
    m = xp(output)
    g = m.expand_dims(g, axis)
    if from_logits:
        log_p = _log_probabilities(output, True, axis)
        return g * (m.exp(log_p) * m.sum(target, axis=axis, keepdims=True) - target)
    eps = _epsilon()
    total = m.sum(output, axis=axis, keepdims=True)
    p = output / total
    inside = (p >= eps) & (p <= 1 - eps)                         # the clip passes gradient only here
    dp = m.where(inside, -g * target / m.clip(p, eps, 1 - eps), 0)
    return (dp - m.sum(dp * p, axis=axis, keepdims=True)) / total   # through p = output / sum(output)


@operation(differentiable=("target", "output"))
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """L = -sum_k t_k log p_k along ``axis``, p = softmax(output) or output / sum(output) clipped.

    Backward: from logits, dL/dz = softmax(z) sum(t) - t; from probabilities, through the clip and
    the renormalisation; dL/dt = -log p.

    Args:
        target: probabilities (one-hot rows), the shape of ``output``.
        output: probabilities, or logits with ``from_logits=True``.
        from_logits: whether ``output`` holds logits (default False).
        axis: the class axis (default -1).

    Returns:
        The loss per sample (``axis`` reduced).

    Example:

    >>> float(ops.categorical_crossentropy(np.array([0.0, 1.0]), np.array([0.5, 0.5])))
    0.6931471805599453
    """
    target, output = _floats(target, output)
    _same_shape("categorical_crossentropy", target, output)
    if output.ndim < 1:
        raise ValueError("ops.categorical_crossentropy: target and output must be at least rank 1, got scalars")
    return -xp(output).sum(target * _log_probabilities(output, from_logits, axis), axis=axis)


@categorical_crossentropy.defbackward
def _(g, out, target, output, from_logits=False, axis=-1):
    t, o = _floats(target, output)
    dt = -xp(o).expand_dims(g, axis) * _log_probabilities(o, from_logits, axis)
    return _like(dt, target), _like(_categorical_backward(g, t, o, from_logits, axis), output)


def _sparse_targets(target, output, axis):
    target = _array(target)
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = target[..., 0]
    if output.ndim < 1 or tuple(target.shape) != tuple(output.shape[:-1]):
        raise ValueError("ops.sparse_categorical_crossentropy: target must have the shape of output without its "
                         f"last axis, got target.shape={tuple(target.shape)} and output.shape={tuple(output.shape)}")
    return one_hot.forward(target, output.shape[axis], axis=axis, dtype=output.dtype)


@operation(differentiable=("output",))
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """L = -log p_t along ``axis``: the categorical cross-entropy of integer labels.

    Backward: from logits, dL/dz = softmax(z) - onehot(t); from probabilities, as
    ``categorical_crossentropy``'s.

    Args:
        target: integer labels, ``output``'s shape without the class axis (a trailing 1 is allowed).
        output: probabilities, or logits with ``from_logits=True``.
        from_logits: whether ``output`` holds logits (default False).
        axis: the class axis (default -1).

    Returns:
        The loss per sample.

    Example:

    >>> float(ops.sparse_categorical_crossentropy(np.array(1), np.array([0.5, 0.5])))
    0.6931471805599453
    """
    output = _float(output)
    t = _sparse_targets(target, output, axis)
    return -xp(output).sum(t * _log_probabilities(output, from_logits, axis), axis=axis)


@sparse_categorical_crossentropy.defbackward
def _(g, out, target, output, from_logits=False, axis=-1):
    output = _float(output)
    return _like(_categorical_backward(g, _sparse_targets(target, output, axis), output, from_logits, axis),
                 output)


@operation(differentiable=("target", "output"))
def binary_crossentropy(target, output, from_logits=False):
    """L = -(t log p + (1 - t) log(1 - p)), elementwise; p = sigmoid(output) or output clipped.

    From logits z it is computed stably as max(z, 0) - z t + log(1 + e^{-|z|}), with dL/dz = sigmoid(z) - t
    and dL/dt = -z.  From probabilities: dL/dp = (p - t) / (p (1 - p)) inside the clip, 0 outside;
    dL/dt = log(1 - p) - log p.

    Args:
        target: labels in [0, 1], the shape of ``output``.
        output: probabilities, or logits with ``from_logits=True``.
        from_logits: whether ``output`` holds logits (default False).

    Returns:
        The loss, elementwise (the shape of ``output``).

    Example:

    >>> ops.binary_crossentropy(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    array([0.69314718, 0.69314718])
    """
    target, output = _floats(target, output)
    _same_shape("binary_crossentropy", target, output)
    m = xp(output)
    if from_logits:
        return m.maximum(output, 0) - output * target + m.log1p(m.exp(-m.abs(output)))
    eps = _epsilon()
    p = m.clip(output, eps, 1 - eps)
    return -(target * m.log(p) + (1 - target) * m.log(1 - p))


@binary_crossentropy.defbackward
def _(g, out, target, output, from_logits=False):
    t, o = _floats(target, output)
    m = xp(o)
    if from_logits:
        e = m.exp(-m.abs(o))
        s = m.where(o >= 0, 1 / (1 + e), e / (1 + e))
        return _like(-g * o, target), _like(g * (s - t), output)
    eps = _epsilon()
    p = m.clip(o, eps, 1 - eps)
    inside = (o >= eps) & (o <= 1 - eps)
    dp = m.where(inside, g * (p - t) / (p * (1 - p)), 0)
    return _like(g * (m.log(1 - p) - m.log(p)), target), _like(dp, output)


@operation(differentiable=("x1", "x2"))
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio: PSNR = 20 log10(max_val) - 10 log10(mse), mse = mean((x1 - x2)^2).

    Backward: dPSNR/dx1 = -10 / (ln 10 mse) * 2 (x1 - x2) / n, and the opposite for x2.

    Args:
        x1: an image (any shape).
        x2: an image of the same shape.
        max_val: the largest possible pixel value (1.0 or 255).

    Returns:
        A scalar, in decibels.

    Example:

    >>> float(ops.psnr(np.zeros(4), np.full(4, 0.1), 1.0))
    20.0
    """
    x1, x2 = _floats(x1, x2)
    _same_shape("psnr", x1, x2)
    m = xp(x1)
    mse = m.mean((x1 - x2) ** 2)
    return (20 * m.log10(m.asarray(max_val, dtype=x1.dtype)) - 10 * m.log10(mse)).astype(x1.dtype)


@psnr.defbackward
def _(g, out, x1, x2, max_val):
    a, b = _floats(x1, x2)
    m = xp(a)
    diff = a - b
    d1 = g * (-10 / (math.log(10) * m.mean(diff ** 2))) * 2 * diff / diff.size
    return _like(d1, x1), _like(-d1, x2)


# ================================================================ statistics and normalisation
@operation(differentiable=("x",), multi_output=True)
def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over ``axes``: mu = sum x / n, var = sum (x - mu)^2 / n.

    Backward: dx = g_mu / n + g_var * 2 (x - mu) / n (float16 is computed in float32, as in Keras).

    Args:
        x: input tensor.
        axes: an int or a list of ints.
        keepdims: keep the reduced axes with size 1 (default False).
        synchronized: must be False (there is one device here).

    Returns:
        A list [mean, variance].

    Example:

    >>> [v.tolist() for v in ops.moments(np.array([1.0, 2.0, 3.0, 4.0]), axes=0)]
    [2.5, 1.25]
    """
    if synchronized:
        raise ValueError("ops.moments: synchronized=True needs several devices; tinyconv runs on one")
    x = _float(x)
    compute = np.float32 if x.dtype == np.float16 else x.dtype
    xc = x.astype(compute, copy=False)
    axes_ = _axes(axes, x.ndim, "moments")
    m = xp(x)
    mean = m.mean(xc, axis=axes_, keepdims=True)
    variance = m.mean((xc - mean) ** 2, axis=axes_, keepdims=True)
    if not keepdims:
        mean, variance = m.squeeze(mean, axis=axes_), m.squeeze(variance, axis=axes_)
    return [mean.astype(x.dtype, copy=False), variance.astype(x.dtype, copy=False)]


@moments.defbackward
def _(g, out, x, axes, keepdims=False, synchronized=False):
    x = _float(x)
    axes_ = _axes(axes, x.ndim, "moments")
    m = xp(x)
    g_mean, g_var = g
    if not keepdims:
        g_mean, g_var = m.expand_dims(g_mean, axes_), m.expand_dims(g_var, axes_)
    n = _count(x, axes_)
    centred = x - m.mean(x, axis=axes_, keepdims=True)
    return _like(g_mean / n + g_var * 2 * centred / n, x)


def _channel_shape(x, axis, op):
    axis = _axes(axis, x.ndim, op)[0]
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return tuple(shape), axis


@operation(differentiable=("x", "mean", "variance", "offset", "scale"))
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """y = (x - mu) / sqrt(var + eps) * scale + offset, with the statistics given (per ``axis``).

    With inv = 1 / sqrt(var + eps) and xhat = (x - mu) inv (sums over every axis but ``axis``):
    dx = g scale inv; dmu = -sum(g scale inv); dvar = -sum(g scale (x - mu)) inv^3 / 2;
    doffset = sum(g); dscale = sum(g xhat).

    Args:
        x: input tensor.
        mean: the mean per channel, shape (x.shape[axis],).
        variance: the variance per channel.
        axis: the channel axis.
        offset: beta, added after scaling (default None: 0).
        scale: gamma, the scale (default None: 1).
        epsilon: added to the variance (default 1e-3).

    Returns:
        The normalised tensor.

    Example:

    >>> ops.batch_normalization(np.array([[1.0, 2.0]]), np.array([1.0, 0.0]), np.array([4.0, 1.0]), axis=-1,
    ...                         epsilon=0.0)
    array([[0., 2.]])
    """
    x = _float(x)
    shape, _ = _channel_shape(x, axis, "batch_normalization")
    m = xp(x)
    inv = 1 / m.sqrt(_float(variance).reshape(shape) + epsilon)
    if scale is not None:
        inv = inv * _float(scale).reshape(shape)
    shift = -_float(mean).reshape(shape) * inv
    if offset is not None:
        shift = shift + _float(offset).reshape(shape)
    return (x * inv + shift).astype(np.result_type(x, *[_float(v) for v in (mean, variance, offset, scale)
                                                        if v is not None]), copy=False)


@batch_normalization.defbackward
def _(g, out, x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    x = _float(x)
    shape, channel = _channel_shape(x, axis, "batch_normalization")
    others = tuple(a for a in range(x.ndim) if a != channel)
    m = xp(x)
    inv = 1 / m.sqrt(_float(variance).reshape(shape) + epsilon)
    gamma = 1 if scale is None else _float(scale).reshape(shape)
    centred = x - _float(mean).reshape(shape)

    def per_channel(value, like):
        return _like(m.sum(value, axis=others).reshape(_float(like).shape), like)

    dx = _like(g * gamma * inv, x)
    dmean = per_channel(-g * gamma * inv, mean)
    dvar = per_channel(-0.5 * g * gamma * centred * inv ** 3, variance)
    doffset = None if offset is None else per_channel(g, offset)
    dscale = None if scale is None else per_channel(g * centred * inv, scale)
    return dx, dmean, dvar, doffset, dscale


def _broadcast_weight(w, x, axes):
    """gamma/beta of shape x.shape[axes] reshaped to broadcast against x (Keras's rule)."""
    w = _float(w)
    if w.ndim == x.ndim or axes == (x.ndim - 1,):
        return w
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    return w.reshape(shape)


@operation(differentiable=("x", "gamma", "beta"))
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """y = xhat * gamma + beta, xhat = (x - mu) / sqrt(var + eps), statistics over ``axis`` per sample.

    Backward, with dxhat = g gamma and means over ``axis``:
    dx = inv (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); dgamma = sum(g xhat); dbeta = sum(g).

    Args:
        x: input tensor.
        gamma: scale, the shape of the normalised axes (default None: 1).
        beta: offset (default None: 0).
        axis: an int or a list of ints (default -1).
        epsilon: added to the variance (default None: ``backend.epsilon()``, 1e-7).

    Returns:
        The normalised tensor, x's dtype.

    Example:

    >>> ops.layer_normalization(np.array([[1.0, 3.0]]), epsilon=0.0)
    array([[-1.,  1.]])
    """
    xhat, _ = _layer_norm_parts(x, axis, epsilon, kwargs)
    x = _float(x)
    y = xhat if gamma is None else xhat * _broadcast_weight(gamma, x, _axes(axis, x.ndim, "layer_normalization"))
    if beta is not None:
        y = y + _broadcast_weight(beta, x, _axes(axis, x.ndim, "layer_normalization"))
    return y.astype(x.dtype, copy=False)


def _layer_norm_parts(x, axis, epsilon, kwargs):
    if kwargs.get("rms_scaling"):
        raise ValueError("ops.layer_normalization: rms_scaling=True is Keras's deprecated form; use "
                         "ops.rms_normalization")
    unknown = set(kwargs) - {"rms_scaling"}
    if unknown:
        raise TypeError(f"ops.layer_normalization: unexpected keyword arguments {sorted(unknown)}")
    x = _float(x)
    compute = np.float32 if x.dtype == np.float16 else x.dtype   # at least float32, as Keras
    xc = x.astype(compute, copy=False)
    axes = _axes(axis, x.ndim, "layer_normalization")
    m = xp(x)
    mean = m.mean(xc, axis=axes, keepdims=True)
    inv = 1 / m.sqrt(m.mean((xc - mean) ** 2, axis=axes, keepdims=True) + (_epsilon() if epsilon is None else epsilon))
    return (xc - mean) * inv, inv


@layer_normalization.defbackward
def _(g, out, x, gamma=None, beta=None, axis=-1, epsilon=None, kwargs=None):   # kwargs: the forward's **kwargs
    xhat, inv = _layer_norm_parts(x, axis, epsilon, kwargs or {})
    xf = _float(x)
    axes = _axes(axis, xf.ndim, "layer_normalization")
    m = xp(xhat)
    dxhat = g if gamma is None else g * _broadcast_weight(gamma, xf, axes)
    dx = inv * (dxhat - m.mean(dxhat, axis=axes, keepdims=True)
                - xhat * m.mean(dxhat * xhat, axis=axes, keepdims=True))

    def weight_gradient(value, w):
        return _like(unbroadcast(value, _broadcast_weight(w, xf, axes)).reshape(_float(w).shape), w)

    dgamma = None if gamma is None else weight_gradient(g * xhat, gamma)
    dbeta = None if beta is None else weight_gradient(g, beta)
    return _like(dx, x), dgamma, dbeta


@operation(differentiable=("x", "scale"))
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """y = x / sqrt(mean(x^2) + eps) * scale, the mean over ``axis`` (no centring).

    Backward, with r = 1 / sqrt(mean(x^2) + eps) and dy0 = g scale:
    dx = r dy0 - x r^3 mean(dy0 x); dscale = sum(g x r).

    Args:
        x: input tensor.
        scale: a scale, the shape of the normalised axes (default None: 1).
        axis: an int or a list of ints (default -1).
        epsilon: added to the mean square (default None: ``backend.epsilon()``).

    Returns:
        The normalised tensor, x's dtype.

    Example:

    >>> ops.rms_normalization(np.array([[3.0, 4.0]]), epsilon=0.0) ** 2
    array([[0.72, 1.28]])
    """
    x = _float(x)
    r, xc, axes = _rms_parts(x, axis, epsilon)
    y = xc * r
    if scale is not None:
        y = y * _broadcast_weight(scale, x, axes)
    return y.astype(x.dtype, copy=False)


def _rms_parts(x, axis, epsilon):
    compute = np.float32 if x.dtype == np.float16 else x.dtype
    xc = x.astype(compute, copy=False)
    axes = _axes(axis, x.ndim, "rms_normalization")
    m = xp(x)
    r = 1 / m.sqrt(m.mean(xc * xc, axis=axes, keepdims=True) + (_epsilon() if epsilon is None else epsilon))
    return r, xc, axes


@rms_normalization.defbackward
def _(g, out, x, scale=None, axis=-1, epsilon=None):
    xf = _float(x)
    r, xc, axes = _rms_parts(xf, axis, epsilon)
    m = xp(xc)
    dy0 = g if scale is None else g * _broadcast_weight(scale, xf, axes)
    dx = r * dy0 - xc * r ** 3 * m.mean(dy0 * xc, axis=axes, keepdims=True)
    dscale = None
    if scale is not None:
        dscale = _like(unbroadcast(g * xc * r, _broadcast_weight(scale, xf, axes)).reshape(_float(scale).shape),
                       scale)
    return _like(dx, x), dscale


@operation(differentiable=("x",))
def normalize(x, axis=-1, order=2, epsilon=None):
    """x / ||x||_p along ``axis``, the norm floored at eps.

    order 2 (Keras's form): y = x min(1 / sqrt(sum x^2), 1 / eps); where not floored,
    dx = (g - y sum(g y)) / ||x||.  Other orders: y = x / max(||x||_p, eps), with
    d||x||_p / dx = sign(x) |x|^{p-1} / ||x||_p^{p-1}.

    Args:
        x: input tensor.
        axis: the axis normalised over (default -1).
        order: p, an int >= 1 (default 2).
        epsilon: the floor of the norm (default None: ``backend.epsilon()``).

    Returns:
        A tensor of the same shape with unit p-norm along ``axis``.

    Example:

    >>> ops.normalize(np.array([3.0, 4.0]))
    array([0.6, 0.8])
    """
    x, norm, floor = _norm_parts(x, axis, order, epsilon)
    return x / xp(x).maximum(norm, floor)


def _norm_parts(x, axis, order, epsilon):
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or order < 1:
        raise ValueError(f"ops.normalize: order must be an int >= 1, got {order!r}")
    x = _float(x)
    if x.ndim == 0:
        x = x[None]
    m = xp(x)
    norm = m.sum(m.abs(x) ** order, axis=axis, keepdims=True) ** (1.0 / order)
    return x, norm.astype(x.dtype, copy=False), _epsilon() if epsilon is None else epsilon


@normalize.defbackward
def _(g, out, x, axis=-1, order=2, epsilon=None):
    xf, norm, floor = _norm_parts(x, axis, order, epsilon)
    m = xp(xf)
    g = g.reshape(xf.shape)
    floored = norm <= floor
    safe = m.where(floored, 1, norm)
    dnorm = m.sign(xf) * (m.abs(xf) / safe) ** (order - 1)            # d||x||_p / dx
    dx = g / safe - dnorm * m.sum(g * xf, axis=axis, keepdims=True) / safe ** 2
    dx = m.where(floored, g / floor, dx)
    return _like(dx.reshape(_array(x).shape), x)
