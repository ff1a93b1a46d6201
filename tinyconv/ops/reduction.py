"""Reductions: ops that combine many elements into fewer (``sum``, ``mean``, ``max``, ``norm``, ...),
and the ops that sort or rank elements along an axis (``sort``, ``argmax``, ``top_k``, ``quantile``).

Every backward here answers one question: *how much did each input element move the result?*

* ``sum``: each element counted once, so g is copied back to every element of the reduced axes;
  ``mean`` divides that copy by the number of elements.
* ``max`` / ``min``: only the winners moved the result, so g goes to the elements equal to the max.
  Ties share g **evenly** (k tied winners get g / k each) - the rule of PyTorch autograd's ``amax``
  and of ``torch.max`` over a whole tensor, which is what Keras's torch backend runs.
* ``sort``, ``quantile``, ``top_k``: outputs are input elements in another order (or a mix of two
  neighbours, for an interpolated quantile), so g goes back to the position each came from.
* ``prod``: dy/dx_i is the product of all the *other* elements; computed from products to the left and
  to the right of i, so a zero among the inputs is no division by zero.

Keras's dtypes: ``mean``, ``std``, ``var``, ``median``, ``quantile`` and ``norm`` of integers are
float32; ``sum`` and ``prod`` of booleans and of integers narrower than 32 bits are int32; ``argmax``,
``argsort`` and ``count_nonzero`` return int32.  ``axis`` is None (every axis), an int or a tuple of ints.
The ``nan*`` versions skip NaN elements (they get gradient 0).
"""
import warnings

import numpy as np

from .. import backend
from .operation import operation, xp
from .shaping import _array, _axes, _axis

__all__ = [
    # sums and means
    "sum", "mean", "average", "prod", "cumsum", "cumprod", "logsumexp", "count_nonzero",
    # spread
    "var", "std", "ptp",
    # extremes
    "max", "min", "amax", "amin", "all", "any", "argmax", "argmin",
    # order statistics and sorting
    "sort", "argsort", "argpartition", "top_k", "in_top_k", "median", "quantile", "percentile",
    # norms
    "norm",
    # the same, skipping NaNs
    "nansum", "nanmean", "nanprod", "nancumsum", "nancumprod", "nanvar", "nanstd", "nanmax", "nanmin",
    "nanargmax", "nanargmin", "nanmedian", "nanquantile", "nanpercentile",
]


# ================================================================ helpers
def _float(x):
    """``x`` as a float array (integers and bools become Keras's default float, float32)."""
    x = _array(x)
    return x if x.dtype.kind in "fc" else x.astype(backend.floatx())


def _tensor(value):
    """A 0-d array for a NumPy scalar: NumPy reductions over every axis give ``np.float64(3.0)``;
    the ops return arrays, as Keras's return tensors."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def _reduced(x, axis, op):
    """The reduced axes as a tuple of non-negative ints (None: every axis)."""
    if axis is None:
        return tuple(range(x.ndim))
    return _axes(axis, x.ndim, op)


def _keep(value, shape, axes):
    """``value`` (a reduced result) with its reduced axes put back as size-1 axes, so that it
    broadcasts against the input of shape ``shape``."""
    return value.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _spread(g, x, axes):
    """g copied back over the reduced axes: the backward of every sum."""
    return xp(g).broadcast_to(_keep(g, x.shape, axes), x.shape)


def _float_grad(gradient, x):
    """The gradient in ``x``'s dtype; None for integer and boolean inputs (they get no gradient)."""
    if x.dtype.kind not in "fc":
        return None
    return gradient if gradient.dtype == x.dtype else gradient.astype(x.dtype)


def _sum_dtype(dtype):
    """Keras's accumulator for sums and products: int32 for booleans and narrow integers."""
    dtype = np.dtype(dtype)
    if dtype == bool or (dtype.kind in "iu" and dtype.itemsize < 4):
        return np.dtype(np.int32)
    return dtype


def _route_to_winners(g, x, out, axes):
    """g sent to the elements of x equal to ``out`` (the max or min), split evenly among ties."""
    module = xp(x)
    best = _keep(out, x.shape, axes)
    winners = (x == best) | (module.isnan(x) & module.isnan(best))
    count = winners.sum(axis=axes, keepdims=True)
    return _keep(g, x.shape, axes) * winners / module.maximum(count, 1)


def _to_last(x, axes):
    """x with the reduced axes moved to the end and merged into one: shape (kept..., n)."""
    kept = [i for i in range(x.ndim) if i not in axes]
    moved = xp(x).transpose(x, kept + list(axes))
    n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    return moved.reshape(moved.shape[:len(kept)] + (n,)), kept


def _from_last(flat, x_shape, axes):
    """The inverse of ``_to_last``: an array of shape (kept..., n) back to ``x_shape``."""
    kept = [i for i in range(len(x_shape)) if i not in axes]
    order = kept + list(axes)
    moved = flat.reshape(tuple(x_shape[i] for i in order))
    return xp(flat).transpose(moved, list(np.argsort(order)))


# ================================================================ sums and means
@operation(differentiable=("x",))
def sum(x, axis=None, keepdims=False):
    """y = sum_i x_i over ``axis``;  dy/dx_i = 1 (g is copied back to every summed element).

    Args:
        x: Input tensor.
        axis: Axis or axes to sum over (None: all).
        keepdims: Whether to keep the summed axes with size 1.

    Returns:
        The sums (booleans and integers narrower than 32 bits sum in int32).

    Example:

    >>> sum(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([4., 6.])
    """
    x = _array(x)
    return _tensor(xp(x).sum(x, axis=_reduced(x, axis, "sum"), keepdims=keepdims, dtype=_sum_dtype(x.dtype)))


@sum.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    return _float_grad(_spread(g, x, _reduced(x, axis, "sum")), x)


@operation(differentiable=("x",))
def mean(x, axis=None, keepdims=False):
    """y = (1/n) sum_i x_i over ``axis``;  dy/dx_i = 1/n.

    Args:
        x: Input tensor.
        axis: Axis or axes to average over (None: all).
        keepdims: Whether to keep the averaged axes with size 1.

    Returns:
        The means (integers give float32).

    Example:

    >>> mean(np.array([[1, 2], [3, 4]], dtype="int32"), axis=1)
    array([1.5, 3.5], dtype=float32)
    """
    x = _float(x)
    return _tensor(xp(x).mean(x, axis=_reduced(x, axis, "mean"), keepdims=keepdims))


@mean.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    axes = _reduced(x, axis, "mean")
    n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    return _float_grad(_spread(g, x, axes) / n, x)


def _weights_like(x, weights, axis, op):
    """``weights`` shaped to broadcast against x: a 1-D weight vector lies along ``axis``."""
    w = xp(x).asarray(_array(weights, xp(x)))
    if w.shape == x.shape:
        return w
    if axis is None or w.ndim != 1:
        raise ValueError(f"ops.{op}: weights must have the shape of x {x.shape}, or be 1-D along axis; got "
                         f"weights of shape {w.shape} with axis={axis!r}")
    a = _axis(axis, x.ndim, op)
    if w.shape[0] != x.shape[a]:
        raise ValueError(f"ops.{op}: 1-D weights must have the length of axis {axis} ({x.shape[a]}), got "
                         f"{w.shape[0]}")
    return w.reshape(tuple(-1 if i == a else 1 for i in range(x.ndim)))


@operation(differentiable=("x", "weights"))
def average(x, axis=None, weights=None):
    """y = sum_i w_i x_i / sum_i w_i;  dy/dx_i = w_i / sum w, dy/dw_i = (x_i - y) / sum w.

    Args:
        x: Input tensor.
        axis: The axis to average over (None: all; with 1-D weights an axis is needed).
        weights: Weights of x's shape, or 1-D along ``axis``; None is the plain mean.

    Returns:
        The weighted averages (integers give float32).

    Example:

    >>> average(np.array([1.0, 2.0, 4.0]), weights=np.array([1.0, 1.0, 2.0]))
    array(2.75)
    """
    x = _float(x)
    module = xp(x)
    if weights is None:
        return _tensor(module.mean(x, axis=axis))
    w = _weights_like(x, weights, axis, "average").astype(x.dtype, copy=False)
    total_weight = module.sum(w * module.ones_like(x), axis=axis)
    return _tensor((module.sum(x * w, axis=axis) / total_weight).astype(x.dtype, copy=False))


@average.defbackward
def _(g, out, x, axis, weights):
    x = _array(x)
    module = xp(x)
    axes = _reduced(x, axis, "average")
    if weights is None:
        n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
        return _float_grad(_spread(g, x, axes) / n, x), None
    w = _weights_like(x, weights, axis, "average")
    total = _keep(module.sum(w * module.ones_like(x), axis=axes), x.shape, axes)
    gk = _keep(g, x.shape, axes)
    dx = gk * w / total
    dw = gk * (x - _keep(out, x.shape, axes)) / total
    dw = dw if w.shape == x.shape else dw.sum(axis=tuple(i for i in range(x.ndim) if w.shape[i] == 1)).reshape(-1)
    return _float_grad(dx, x), _float_grad(dw, module.asarray(_array(weights, module)))


@operation(differentiable=("x",))
def prod(x, axis=None, keepdims=False, dtype=None):
    """y = prod_i x_i over ``axis``;  dy/dx_i = prod_{j != i} x_j (the product of all the others).

    The backward multiplies the products to the left and to the right of i (exclusive cumulative
    products), so a zero among the inputs causes no division by zero.

    Args:
        x: Input tensor.
        axis: Axis or axes to multiply over (None: all).
        keepdims: Whether to keep the reduced axes with size 1.
        dtype: Result dtype (default: booleans and narrow integers give int32, others keep theirs).

    Returns:
        The products.

    Example:

    >>> prod(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([ 2., 12.])
    """
    x = _array(x)
    dtype = _sum_dtype(x.dtype) if dtype is None else np.dtype(dtype)
    return _tensor(xp(x).prod(x, axis=_reduced(x, axis, "prod"), keepdims=keepdims, dtype=dtype))


@prod.defbackward
def _(g, out, x, axis, keepdims, dtype):
    x = _array(x)
    module = xp(x)
    axes = _reduced(x, axis, "prod")
    flat, _ = _to_last(x, axes)
    ones = module.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
    left = module.cumprod(module.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)   # x_0 ... x_(i-1)
    right = module.cumprod(module.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]  # x_(i+1) ...
    others = _from_last(left * right, x.shape, axes)
    return _float_grad(_keep(g, x.shape, axes) * others, x)


def _scan_axis(x, axis, op):
    """(array, axis) for a cumulative op: axis None means the flattened array, as in NumPy."""
    x = _array(x)
    if axis is None:
        return x.reshape(-1), 0
    return x, _axis(axis, x.ndim, op)


@operation(differentiable=("x",))
def cumsum(x, axis=None, dtype=None):
    """y_i = x_0 + ... + x_i along ``axis``;  dL/dx_i = g_i + ... + g_(n-1) (a reversed cumsum of g).

    Args:
        x: Input tensor.
        axis: The axis to accumulate along (None: the flattened tensor).
        dtype: Result dtype (default: x's; booleans give int32).

    Returns:
        The running sums.

    Example:

    >>> cumsum(np.array([1.0, 2.0, 3.0]))
    array([1., 3., 6.])
    """
    x, a = _scan_axis(x, axis, "cumsum")
    dtype = (np.dtype(np.int32) if x.dtype == bool else x.dtype) if dtype is None else np.dtype(dtype)
    return _tensor(xp(x).cumsum(x, axis=a, dtype=dtype))


@cumsum.defbackward
def _(g, out, x, axis, dtype):
    x = _array(x)
    flat, a = _scan_axis(x, axis, "cumsum")
    module = xp(g)
    reversed_sum = module.flip(module.cumsum(module.flip(g, axis=a), axis=a), axis=a)
    return _float_grad(reversed_sum.reshape(x.shape), x)


@operation(differentiable=("x",))
def cumprod(x, axis=None, dtype=None):
    """y_i = x_0 * ... * x_i along ``axis``;  dL/dx_i = sum_{j >= i} g_j * y_j / x_i.

    The division by x_i is used where no x along the axis is 0; where one is, the sum is formed from
    the products of the other factors (exact, slower: a loop over the axis).

    Args:
        x: Input tensor.
        axis: The axis to accumulate along (None: the flattened tensor).
        dtype: Result dtype (default: x's; booleans give int32).

    Returns:
        The running products.

    Example:

    >>> cumprod(np.array([1.0, 2.0, 3.0]))
    array([1., 2., 6.])
    """
    x, a = _scan_axis(x, axis, "cumprod")
    dtype = (np.dtype(np.int32) if x.dtype == bool else x.dtype) if dtype is None else np.dtype(dtype)
    return _tensor(xp(x).cumprod(x, axis=a, dtype=dtype))


@cumprod.defbackward
def _(g, out, x, axis, dtype):
    x = _array(x)
    flat, a = _scan_axis(x, axis, "cumprod")
    module = xp(g)
    f = module.moveaxis(flat, a, -1)
    gy = module.moveaxis(g * out, a, -1)
    if not bool(module.any(f == 0)):
        grad = module.flip(module.cumsum(module.flip(gy, axis=-1), axis=-1), axis=-1) / f
    else:
        gm = module.moveaxis(g, a, -1)
        grad = module.zeros_like(gm)
        n = f.shape[-1]
        for i in range(n):
            # dy_j/dx_i = (x_0 ... x_(i-1)) * (x_(i+1) ... x_j) for j >= i
            before = module.prod(f[..., :i], axis=-1, keepdims=True)
            after = module.cumprod(module.concatenate([module.ones_like(f[..., :1]), f[..., i + 1:]], axis=-1), axis=-1)
            grad[..., i] = module.sum(gm[..., i:] * before * after, axis=-1)
    return _float_grad(module.moveaxis(grad, -1, a).reshape(x.shape), x)


@operation(differentiable=("x",))
def logsumexp(x, axis=None, keepdims=False):
    """y = ln sum_i e^(x_i);  dy/dx_i = e^(x_i - y) (the softmax of x).

    Computed as m + ln sum_i e^(x_i - m) with m = max x, so that large x never overflows.

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The log of the sum of exponentials (integers give float32).

    Example:

    >>> logsumexp(np.array([1000.0, 1000.0]))
    array(1000.69314718)
    """
    x = _float(x)
    module = xp(x)
    axes = _reduced(x, axis, "logsumexp")
    m = module.max(x, axis=axes, keepdims=True) if x.size else module.zeros((1,) * x.ndim, x.dtype)
    m = module.where(module.isfinite(m), m, module.zeros_like(m))  # all -inf (or inf): no shift
    out = module.log(module.sum(module.exp(x - m), axis=axes, keepdims=True)) + m
    return _tensor(out if keepdims else out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes)))


@logsumexp.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    axes = _reduced(x, axis, "logsumexp")
    return _float_grad(_keep(g, x.shape, axes) * xp(g).exp(_float(x) - _keep(out, x.shape, axes)), x)


@operation()
def count_nonzero(x, axis=None):
    """y = the number of elements != 0 over ``axis`` (an integer: not differentiable).

    Args:
        x: Input tensor.
        axis: Axis or axes to count over (None: all).

    Returns:
        The counts (int32).

    Example:

    >>> count_nonzero(np.array([[0, 1], [2, 3]]), axis=1)
    array([1, 2], dtype=int32)
    """
    x = _array(x)
    module = xp(x)
    return _tensor(module.asarray(module.count_nonzero(x, axis=_reduced(x, axis, "count_nonzero"))).astype(np.int32))


# ================================================================ spread
@operation(differentiable=("x",))
def var(x, axis=None, keepdims=False):
    """y = (1/n) sum_i (x_i - mean)^2 (the population variance);  dy/dx_i = 2 (x_i - mean) / n.

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The variances (integers give float32).

    Example:

    >>> var(np.array([1.0, 2.0, 3.0, 4.0]))
    array(1.25)
    """
    x = _float(x)
    return _tensor(xp(x).var(x, axis=_reduced(x, axis, "var"), keepdims=keepdims))


@var.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    axes = _reduced(x, axis, "var")
    f = _float(x)
    n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    centred = f - xp(f).mean(f, axis=axes, keepdims=True)
    return _float_grad(_keep(g, x.shape, axes) * 2 * centred / n, x)


@operation(differentiable=("x",))
def std(x, axis=None, keepdims=False):
    """y = sqrt(var(x));  dy/dx_i = (x_i - mean) / (n y) (taken as 0 where y = 0, a constant input).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The population standard deviations (integers give float32).

    Example:

    >>> std(np.array([1.0, 3.0]))
    array(1.)
    """
    x = _float(x)
    return _tensor(xp(x).std(x, axis=_reduced(x, axis, "std"), keepdims=keepdims))


@std.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    module = xp(g)
    axes = _reduced(x, axis, "std")
    f = _float(x)
    n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    y = _keep(out, x.shape, axes)
    centred = f - module.mean(f, axis=axes, keepdims=True)
    safe = module.where(y == 0, module.ones_like(y), y)
    return _float_grad(module.where(y == 0, 0, _keep(g, x.shape, axes) * centred / (n * safe)), x)


@operation(differentiable=("x",))
def ptp(x, axis=None, keepdims=False):
    """y = max(x) - min(x) ("peak to peak");  g goes to the max elements and -g to the min elements
    (ties share evenly, as in ``max``).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The ranges, in x's dtype.

    Example:

    >>> ptp(np.array([[1.0, 5.0], [2.0, 2.0]]), axis=1)
    array([4., 0.])
    """
    x = _array(x)
    return _tensor(xp(x).ptp(x, axis=_reduced(x, axis, "ptp"), keepdims=keepdims))


@ptp.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    module = xp(x)
    axes = _reduced(x, axis, "ptp")
    high = module.max(x, axis=axes)
    low = module.min(x, axis=axes)
    return _float_grad(_route_to_winners(g, x, high, axes) - _route_to_winners(g, x, low, axes), x)


# ================================================================ extremes
def _extreme(name, x, axis, keepdims, initial):
    x = _array(x)
    module = xp(x)
    axes = _reduced(x, axis, name)
    reduce = module.max if name in ("max", "amax") else module.min
    out = reduce(x, axis=axes, keepdims=keepdims)
    if initial is not None:
        out = (module.maximum if reduce is module.max else module.minimum)(out, module.asarray(initial, dtype=x.dtype))
    return out


def _extreme_backward(name, g, out, x, axis):
    x = _array(x)
    axes = _reduced(x, axis, name)
    return _float_grad(_route_to_winners(g, x, out, axes), x)


@operation(differentiable=("x",))
def max(x, axis=None, keepdims=False, initial=None):
    """y = max_i x_i over ``axis``;  dy/dx_i = 1 for the winners, split evenly among ties (1/k each).

    The even split is PyTorch autograd's rule for ``amax`` (and Keras's torch backend); TensorFlow's
    ``reduce_max`` splits ties the same way.  Where ``initial`` wins, x gets no gradient.

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.
        initial: A lower bound of the result (the max of an empty axis).

    Returns:
        The maxima, in x's dtype.

    Example:

    >>> max(np.array([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    array([5., 7.])
    """
    return _tensor(_extreme("max", x, axis, keepdims, initial))


@max.defbackward
def _(g, out, x, axis, keepdims, initial):
    return _extreme_backward("max", g, out, x, axis)


@operation(differentiable=("x",))
def min(x, axis=None, keepdims=False, initial=None):
    """y = min_i x_i over ``axis``;  dy/dx_i = 1 for the winners, split evenly among ties (as ``max``).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.
        initial: An upper bound of the result (the min of an empty axis).

    Returns:
        The minima, in x's dtype.

    Example:

    >>> min(np.array([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    array([1., 2.])
    """
    return _tensor(_extreme("min", x, axis, keepdims, initial))


@min.defbackward
def _(g, out, x, axis, keepdims, initial):
    return _extreme_backward("min", g, out, x, axis)


@operation(differentiable=("x",))
def amax(x, axis=None, keepdims=False):
    """y = max_i x_i over ``axis``;  dy/dx_i = 1 for the winners, split evenly among ties (as ``max``).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The maxima, in x's dtype.

    Example:

    >>> amax(np.array([3, 9, 4], dtype="int32"))
    array(9, dtype=int32)
    """
    return _tensor(_extreme("amax", x, axis, keepdims, None))


@amax.defbackward
def _(g, out, x, axis, keepdims):
    return _extreme_backward("amax", g, out, x, axis)


@operation(differentiable=("x",))
def amin(x, axis=None, keepdims=False):
    """y = min_i x_i over ``axis``;  dy/dx_i = 1 for the winners, split evenly among ties (as ``max``).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The minima, in x's dtype.

    Example:

    >>> amin(np.array([3, 9, 4], dtype="int32"))
    array(3, dtype=int32)
    """
    return _tensor(_extreme("amin", x, axis, keepdims, None))


@amin.defbackward
def _(g, out, x, axis, keepdims):
    return _extreme_backward("amin", g, out, x, axis)


@operation()
def all(x, axis=None, keepdims=False):
    """y = (every element over ``axis`` is nonzero): logical AND as a reduction.

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        A boolean tensor.

    Example:

    >>> all(np.array([[True, False], [True, True]]), axis=1)
    array([False,  True])
    """
    x = _array(x)
    return _tensor(xp(x).all(x, axis=_reduced(x, axis, "all"), keepdims=keepdims))


@operation()
def any(x, axis=None, keepdims=False):
    """y = (some element over ``axis`` is nonzero): logical OR as a reduction.

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        A boolean tensor.

    Example:

    >>> any(np.array([[False, False], [True, False]]), axis=1)
    array([False,  True])
    """
    x = _array(x)
    return _tensor(xp(x).any(x, axis=_reduced(x, axis, "any"), keepdims=keepdims))


def _arg_extreme(name, x, axis, keepdims, skip_nan):
    x = _array(x)
    module = xp(x)
    if axis is not None:
        axis = _axis(axis, x.ndim, name)
    if skip_nan and x.dtype.kind in "fc":
        fill = -np.inf if "max" in name else np.inf
        x = module.where(module.isnan(x), module.asarray(fill, dtype=x.dtype), x)
    pick = module.argmax if "max" in name else module.argmin
    return module.asarray(pick(x, axis=axis, keepdims=keepdims)).astype(np.int32)


@operation()
def argmax(x, axis=None, keepdims=False):
    """y = the index of the largest element along ``axis`` (the first one on a tie; an integer: not
    differentiable).

    Args:
        x: Input tensor.
        axis: The axis to search (None: the flattened tensor).
        keepdims: Whether to keep the searched axis with size 1.

    Returns:
        The indices (int32).

    Example:

    >>> argmax(np.array([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    array([1, 0], dtype=int32)
    """
    return _tensor(_arg_extreme("argmax", x, axis, keepdims, skip_nan=False))


@operation()
def argmin(x, axis=None, keepdims=False):
    """y = the index of the smallest element along ``axis`` (the first one on a tie; not differentiable).

    Args:
        x: Input tensor.
        axis: The axis to search (None: the flattened tensor).
        keepdims: Whether to keep the searched axis with size 1.

    Returns:
        The indices (int32).

    Example:

    >>> argmin(np.array([[1.0, 5.0], [7.0, 2.0]]), axis=1)
    array([0, 1], dtype=int32)
    """
    return _tensor(_arg_extreme("argmin", x, axis, keepdims, skip_nan=False))


# ================================================================ order statistics and sorting
@operation(differentiable=("x",))
def sort(x, axis=-1):
    """y = x sorted ascending along ``axis``;  each y_j is some x_i, so g_j goes back to that position i.

    Args:
        x: Input tensor.
        axis: The axis to sort along (None: the flattened tensor).

    Returns:
        The sorted tensor, in x's dtype.

    Example:

    >>> sort(np.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    """
    x, a = _scan_axis(x, axis, "sort")
    return _tensor(xp(x).sort(x, axis=a))


@sort.defbackward
def _(g, out, x, axis):
    x = _array(x)
    flat, a = _scan_axis(x, axis, "sort")
    module = xp(g)
    order = module.argsort(flat, axis=a, kind="stable")          # y = take_along_axis(x, order)
    back = module.argsort(order, axis=a, kind="stable")          # the inverse permutation
    return _float_grad(module.take_along_axis(g, back, axis=a).reshape(x.shape), x)


@operation()
def argsort(x, axis=-1):
    """y = the indices that sort x ascending along ``axis`` (stable: equal elements keep their order;
    integers: not differentiable).

    Args:
        x: Input tensor.
        axis: The axis to sort along (None: the flattened tensor).

    Returns:
        The indices (int32).

    Example:

    >>> argsort(np.array([3.0, 1.0, 2.0]))
    array([1, 2, 0], dtype=int32)
    """
    x, a = _scan_axis(x, axis, "argsort")
    return _tensor(xp(x).argsort(x, axis=a, kind="stable").astype(np.int32))


@operation()
def argpartition(x, kth, axis=-1):
    """y = indices that put the kth element in its sorted place, smaller ones before it and larger ones
    after (each side in no particular order; not differentiable).

    Args:
        x: Input tensor.
        kth: The index (or indices) of the elements to place.
        axis: The axis to partition along.

    Returns:
        The indices (int32).

    Example:

    >>> int(argpartition(np.array([3.0, 1.0, 2.0]), 0)[0])
    1
    """
    x = _array(x)
    return _tensor(xp(x).argpartition(x, kth, axis=_axis(axis, x.ndim, "argpartition")).astype(np.int32))


@operation(differentiable=("x",), multi_output=True)
def top_k(x, k, sorted=True):
    """(values, indices) = the k largest elements along the last axis;  g of each value goes back to
    the position it was taken from (the indices get no gradient).

    Ties: the element with the lower index comes first.

    Args:
        x: Input tensor.
        k: How many elements to take.
        sorted: Accepted for Keras's signature; the values always come largest first.

    Returns:
        A tuple ``(values, indices)``: values in x's dtype, indices int32, both of shape
        ``x.shape[:-1] + (k,)``.

    Example:

    >>> values, indices = top_k(np.array([1.0, 9.0, 3.0, 7.0]), 2)
    >>> values, indices
    (array([9., 7.]), array([1, 3], dtype=int32))
    """
    x = _array(x)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= k <= (x.shape[-1] if x.ndim else 1):
        raise ValueError(f"ops.top_k: k must be an int between 0 and the size of the last axis "
                         f"({x.shape[-1] if x.ndim else 1}), got {k!r}")
    module = xp(x)
    indices = module.argsort(-x if x.dtype != bool else ~x, axis=-1, kind="stable")[..., :k]
    return module.take_along_axis(x, indices, axis=-1), indices.astype(np.int32)


@top_k.defbackward
def _(g, out, x, k, sorted):
    x = _array(x)
    module = xp(x)
    indices = out[1].astype(np.intp)
    n, k = x.shape[-1], indices.shape[-1]
    grad = module.zeros((x.size // n if n else 0, n), dtype=g[0].dtype)   # one row per top_k call
    rows = module.arange(grad.shape[0])[:, None]
    # Each index of a row appears once, so an assignment is enough (no adding needed).
    grad[rows, indices.reshape(-1, k)] = g[0].reshape(-1, k)
    return _float_grad(grad.reshape(x.shape), x)


@operation()
def in_top_k(targets, predictions, k):
    """y_i = (predictions[i, targets[i]] is among the k largest of predictions[i]); a value tied with the
    kth largest counts as in (Keras's rule; a boolean: not differentiable).

    Args:
        targets: Integer class indices, shape ``(batch,)``.
        predictions: Scores, shape ``(batch, classes)``.
        k: How many top scores count.

    Returns:
        A boolean tensor of shape ``(batch,)``.

    Example:

    >>> in_top_k(np.array([1, 0]), np.array([[0.1, 0.9, 0.0], [0.2, 0.5, 0.3]]), 2)
    array([ True, False])
    """
    predictions = _array(predictions)
    module = xp(predictions)
    targets = module.asarray(_array(targets, module))
    if predictions.ndim != 2 or targets.shape != predictions.shape[:1]:
        raise ValueError(f"ops.in_top_k: expected targets of shape (batch,) and predictions of shape "
                         f"(batch, classes), got {targets.shape} and {predictions.shape}")
    kth = module.sort(predictions, axis=-1)[:, -k]
    chosen = module.take_along_axis(predictions, targets.astype(np.intp)[:, None], axis=-1)[:, 0]
    return _tensor(chosen >= kth)


_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_plan(x, q, axis, method, op, skip_nan):
    """Where each quantile lies among the sorted elements, and with which weights.

    For n sorted values s_0 <= ... <= s_(n-1), quantile q sits at position p = q (n - 1); the result is
    w_lo s_floor(p) + w_hi s_ceil(p), with (w_lo, w_hi) = (1 - frac(p), frac(p)) for 'linear', (1, 0)
    for 'lower', (0, 1) for 'higher', (1/2, 1/2) for 'midpoint', and the nearest one for 'nearest'.
    With ``skip_nan``, n counts the non-NaN elements of each row (NaNs sort last).
    """
    if method not in _METHODS:
        raise ValueError(f"ops.{op}: method must be one of {_METHODS}, got {method!r}")
    x = _float(x)
    module = xp(x)
    axes = _reduced(x, axis, op)
    flat, _ = _to_last(x, axes)
    order = module.argsort(flat, axis=-1, kind="stable")
    ranked = module.take_along_axis(flat, order, axis=-1)
    q = module.asarray(_array(q, module)).astype(np.float64)
    if bool(module.any((q < 0) | (q > 1))):
        raise ValueError(f"ops.{op}: quantiles must lie in [0, 1] (percentiles in [0, 100]), got {q}")
    nan = module.isnan(flat)
    n = (flat.shape[-1] - nan.sum(axis=-1)) if skip_nan else module.full(flat.shape[:-1], flat.shape[-1])
    position = q.reshape(q.shape + (1,) * (flat.ndim - 1)) * module.maximum(n - 1, 0)
    if method == "nearest":
        position = module.round(position)  # halves to even, as NumPy and PyTorch
    low = module.floor(position)
    high = module.ceil(position)
    frac = position - low
    weights = {"linear": (1 - frac, frac), "lower": (module.ones_like(frac), 0 * frac),
               "higher": (0 * frac, module.ones_like(frac)), "midpoint": (0.5 + 0 * frac, 0.5 + 0 * frac),
               "nearest": (module.ones_like(frac), 0 * frac)}[method]
    invalid = (n == 0) if skip_nan else module.any(nan, axis=-1)  # an all-NaN row (or any NaN): NaN
    return dict(flat=flat, order=order, ranked=ranked, q=q, axes=axes, low=low.astype(np.intp),
                high=high.astype(np.intp), weights=weights, invalid=invalid, x=x)


def _quantile_forward(x, q, axis, method, keepdims, op, skip_nan):
    plan = _quantile_plan(x, q, axis, method, op, skip_nan)
    module = xp(plan["ranked"])
    ranked = module.broadcast_to(plan["ranked"], plan["low"].shape + plan["ranked"].shape[-1:])
    pick_low = module.take_along_axis(ranked, plan["low"][..., None], axis=-1)[..., 0]
    pick_high = module.take_along_axis(ranked, plan["high"][..., None], axis=-1)[..., 0]
    w_low, w_high = plan["weights"]
    out = w_low * pick_low + w_high * pick_high
    out = module.where(plan["invalid"], np.nan, out).astype(plan["x"].dtype)
    if keepdims:
        shape = plan["x"].shape
        out = out.reshape(plan["q"].shape + tuple(1 if i in plan["axes"] else n for i, n in enumerate(shape)))
    return out


def _quantile_backward(g, x, q, axis, method, keepdims, op, skip_nan):
    """g_q goes to the two sorted neighbours of each quantile with the weights of the forward, then back
    to their places in x (through the inverse of the sorting permutation)."""
    plan = _quantile_plan(x, q, axis, method, op, skip_nan)
    module = xp(g)
    g = g.reshape(plan["low"].shape)
    g = module.where(plan["invalid"], 0, g)
    n = plan["flat"].shape[-1]
    slots = module.arange(n)
    w_low, w_high = plan["weights"]
    to_sorted = ((slots == plan["low"][..., None]) * (g * w_low)[..., None]
                 + (slots == plan["high"][..., None]) * (g * w_high)[..., None])
    to_sorted = to_sorted.reshape((-1,) + plan["flat"].shape).sum(axis=0)  # add up the quantiles
    back = module.argsort(plan["order"], axis=-1, kind="stable")
    grad = module.take_along_axis(to_sorted, back, axis=-1)
    return _float_grad(_from_last(grad, plan["x"].shape, plan["axes"]), _array(x))


@operation(differentiable=("x",))
def quantile(x, q, axis=None, method="linear", keepdims=False):
    """y = the q-th quantile of x: w_lo s_floor(p) + w_hi s_ceil(p) at p = q (n - 1) of the sorted s;
    dy/dx goes to those two elements with the weights w_lo, w_hi.

    Args:
        x: Input tensor.
        q: Quantile(s) in [0, 1]: a number or a 1-D tensor.
        axis: Axis or axes to reduce (None: all).
        method: 'linear', 'lower', 'higher', 'midpoint' or 'nearest'.
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The quantiles (integers give float32); with a 1-D ``q`` its axis comes first.  NaN where the
        reduced elements hold a NaN.

    Example:

    >>> quantile(np.array([1.0, 2.0, 3.0, 4.0]), 0.5)
    array(2.5)
    """
    return _tensor(_quantile_forward(x, q, axis, method, keepdims, "quantile", skip_nan=False))


@quantile.defbackward
def _(g, out, x, q, axis, method, keepdims):
    return _quantile_backward(g, x, q, axis, method, keepdims, "quantile", skip_nan=False)


@operation(differentiable=("x",))
def percentile(x, q, axis=None, method="linear", keepdims=False):
    """y = quantile(x, q / 100);  the same backward as ``quantile``.

    Args:
        x: Input tensor.
        q: Percentile(s) in [0, 100]: a number or a 1-D tensor.
        axis: Axis or axes to reduce (None: all).
        method: 'linear', 'lower', 'higher', 'midpoint' or 'nearest'.
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The percentiles (integers give float32).

    Example:

    >>> percentile(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 25)
    array(2.)
    """
    return _tensor(_quantile_forward(x, _array(q) / 100.0, axis, method, keepdims, "percentile", skip_nan=False))


@percentile.defbackward
def _(g, out, x, q, axis, method, keepdims):
    return _quantile_backward(g, x, _array(q) / 100.0, axis, method, keepdims, "percentile", skip_nan=False)


@operation(differentiable=("x",))
def median(x, axis=None, keepdims=False):
    """y = the middle of the sorted elements (the mean of the two middle ones for an even count);
    g goes to that element (or half of g to each of the two).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The medians (integers give float32).

    Example:

    >>> median(np.array([[3.0, 1.0, 2.0], [4.0, 6.0, 5.0]]), axis=1)
    array([2., 5.])
    """
    return _tensor(_quantile_forward(x, 0.5, axis, "linear", keepdims, "median", skip_nan=False))


@median.defbackward
def _(g, out, x, axis, keepdims):
    return _quantile_backward(g, x, 0.5, axis, "linear", keepdims, "median", skip_nan=False)


# ================================================================ norms
def _norm_kind(x, ord, axis):
    """('vector', axes) or ('matrix', (row axis, column axis)), as ``numpy.linalg.norm`` decides."""
    if axis is None:
        if ord is None:
            return "vector", tuple(range(x.ndim))
        if x.ndim == 1:
            return "vector", (0,)
        if x.ndim == 2:
            return "matrix", (0, 1)
        raise ValueError(f"ops.norm: with ord={ord!r} and axis=None, x must be 1-D or 2-D, got shape {x.shape}")
    axes = _axes(axis, x.ndim, "norm")
    if len(axes) == 1:
        return "vector", axes
    if len(axes) == 2 and axes[0] != axes[1]:
        return "matrix", axes
    raise ValueError(f"ops.norm: axis must be an int or a pair of different ints, got {axis!r}")


@operation(differentiable=("x",))
def norm(x, ord=None, axis=None, keepdims=False):
    """y = ||x||: for vectors (sum_i |x_i|^p)^(1/p), for matrices Frobenius, nuclear, 1, 2, inf;
    dy/dx for the 2-norm and Frobenius is x / y (0 at x = 0; the others at their forward).

    Vector ``ord``: None/2 (Euclidean), 1, inf, -inf, 0 (count of nonzeros: no gradient) or any p.
    Matrix ``ord``: None/'fro', 'nuc', 1, -1 (max/min column sum of |x|), inf, -inf (row sums),
    2, -2 (largest/smallest singular value, whose gradient is u v^T of that singular pair).
    Ties (inf norms, 1 and inf matrix norms) share g evenly, as in ``max``.

    Args:
        x: Input tensor.
        ord: The order of the norm (see above).
        axis: None (all of a vector, or the matrix of a 2-D x), an int (vector norms) or a pair of
            ints (matrix norms).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The norms (integers give float32).

    Example:

    >>> norm(np.array([3.0, 4.0]))
    array(5.)
    """
    x = _float(x)
    module = xp(x)
    kind, axes = _norm_kind(x, ord, axis)
    if kind == "vector" and axis is None:
        out = module.linalg.norm(x.reshape(-1), ord=ord)
        return _tensor(module.asarray(out).reshape((1,) * x.ndim if keepdims else ()).astype(x.dtype))
    return _tensor(module.asarray(module.linalg.norm(x, ord=ord, axis=axes, keepdims=keepdims)).astype(x.dtype))


@norm.defbackward
def _(g, out, x, ord, axis, keepdims):
    x = _array(x)
    module = xp(g)
    kind, axes = _norm_kind(x, ord, axis)
    y = _keep(out, x.shape, axes)
    gk = _keep(g, x.shape, axes)
    safe = module.where(y == 0, module.ones_like(y), y)
    if kind == "vector":
        if ord is None or ord == 2:
            grad = gk * x / safe
        elif ord == 1:
            grad = gk * module.sign(x)
        elif ord in (np.inf, -np.inf):
            grad = _route_to_winners(g, module.abs(x), out, axes) * module.sign(x)
        elif ord == 0:
            grad = module.zeros_like(x)
        else:
            p = float(ord)
            grad = gk * module.sign(x) * module.abs(x) ** (p - 1) / safe ** (p - 1)
    elif ord is None or ord == "fro":
        grad = gk * x / safe
    elif ord in (1, -1, np.inf, -np.inf):
        along = axes[0] if ord in (1, -1) else axes[1]          # 1: column sums (over rows); inf: row sums
        lines = module.sum(module.abs(x), axis=along, keepdims=True)
        winners = lines == y                                    # the winning column (or row), ties included
        count = winners.sum(axis=axes, keepdims=True)
        grad = gk * module.sign(x) * winners / module.maximum(count, 1)
    elif ord in (2, -2, "nuc"):
        a = module.moveaxis(x, axes, (-2, -1))
        u, s, vt = module.linalg.svd(a, full_matrices=False)
        if ord == "nuc":
            direction = u @ vt
        else:
            pair = slice(0, 1) if ord == 2 else slice(-1, None)   # the largest (2) or smallest (-2) value
            direction = u[..., :, pair] @ vt[..., pair, :]
        grad = gk * module.moveaxis(direction, (-2, -1), axes)
    else:
        raise ValueError(f"ops.norm: unsupported matrix ord {ord!r}")
    return _float_grad(grad, x)


# ================================================================ the same, skipping NaNs
def _nan_mask(x):
    return xp(x).isnan(x) if x.dtype.kind in "fc" else xp(x).zeros(x.shape, dtype=bool)


@operation(differentiable=("x",))
def nansum(x, axis=None, keepdims=False):
    """y = sum of the non-NaN elements;  dy/dx_i = 1 (0 for a NaN).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The sums (booleans and narrow integers give int32).

    Example:

    >>> nansum(np.array([1.0, np.nan, 2.0]))
    array(3.)
    """
    x = _array(x)
    return _tensor(xp(x).nansum(x, axis=_reduced(x, axis, "nansum"), keepdims=keepdims, dtype=_sum_dtype(x.dtype)))


@nansum.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    return _float_grad(_spread(g, x, _reduced(x, axis, "nansum")) * ~_nan_mask(x), x)


@operation(differentiable=("x",))
def nanmean(x, axis=None, keepdims=False):
    """y = mean of the non-NaN elements;  dy/dx_i = 1 / (number of non-NaN elements) (0 for a NaN).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The means (integers give float32; NaN where every element is NaN).

    Example:

    >>> nanmean(np.array([1.0, np.nan, 2.0]))
    array(1.5)
    """
    x = _float(x)
    module = xp(x)
    axes = _reduced(x, axis, "nanmean")
    valid = ~module.isnan(x)
    total = module.sum(module.where(valid, x, 0), axis=axes, keepdims=keepdims)
    count = module.sum(valid, axis=axes, keepdims=keepdims)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _tensor((total / count).astype(x.dtype))


@nanmean.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    module = xp(g)
    axes = _reduced(x, axis, "nanmean")
    valid = ~_nan_mask(x)
    count = module.maximum(module.sum(valid, axis=axes, keepdims=True), 1)
    return _float_grad(_spread(g, x, axes) * valid / count, x)


@operation(differentiable=("x",))
def nanprod(x, axis=None, keepdims=False):
    """y = product of the non-NaN elements (NaN counts as 1);  dy/dx_i = the product of the others
    (0 for a NaN).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The products (booleans and narrow integers give int32).

    Example:

    >>> nanprod(np.array([2.0, np.nan, 3.0]))
    array(6.)
    """
    x = _array(x)
    return _tensor(prod.forward(xp(x).where(_nan_mask(x), 1, x).astype(x.dtype, copy=False), axis, keepdims))


@nanprod.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    nan = _nan_mask(x)
    grad = prod.backward(g, out, xp(x).where(nan, 1, x).astype(x.dtype, copy=False), axis, keepdims, None)
    return None if grad is None else grad * ~nan


@operation(differentiable=("x",))
def nancumsum(x, axis=None, dtype=None):
    """y_i = running sum with NaNs counted as 0;  dL/dx_i = g_i + ... + g_(n-1) (0 for a NaN).

    Args:
        x: Input tensor.
        axis: The axis to accumulate along (None: the flattened tensor).
        dtype: Result dtype (default: x's; booleans give int32).

    Returns:
        The running sums.

    Example:

    >>> nancumsum(np.array([1.0, np.nan, 2.0]))
    array([1., 1., 3.])
    """
    x = _array(x)
    return _tensor(cumsum.forward(xp(x).where(_nan_mask(x), 0, x).astype(x.dtype, copy=False), axis, dtype))


@nancumsum.defbackward
def _(g, out, x, axis, dtype):
    x = _array(x)
    grad = cumsum.backward(g, out, x, axis, dtype)
    return None if grad is None else grad * ~_nan_mask(x)


@operation(differentiable=("x",))
def nancumprod(x, axis=None, dtype=None):
    """y_i = running product with NaNs counted as 1;  the backward of ``cumprod`` (0 for a NaN).

    Args:
        x: Input tensor.
        axis: The axis to accumulate along (None: the flattened tensor).
        dtype: Result dtype (default: x's; booleans give int32).

    Returns:
        The running products.

    Example:

    >>> nancumprod(np.array([2.0, np.nan, 3.0]))
    array([2., 2., 6.])
    """
    x = _array(x)
    return _tensor(cumprod.forward(xp(x).where(_nan_mask(x), 1, x).astype(x.dtype, copy=False), axis, dtype))


@nancumprod.defbackward
def _(g, out, x, axis, dtype):
    x = _array(x)
    nan = _nan_mask(x)
    grad = cumprod.backward(g, out, xp(x).where(nan, 1, x).astype(x.dtype, copy=False), axis, dtype)
    return None if grad is None else grad * ~nan


@operation(differentiable=("x",))
def nanvar(x, axis=None, keepdims=False):
    """y = variance of the non-NaN elements;  dy/dx_i = 2 (x_i - mean) / n over them (0 for a NaN).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The population variances (integers give float32).

    Example:

    >>> nanvar(np.array([1.0, np.nan, 3.0]))
    array(1.)
    """
    x = _float(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice gives NaN, as in Keras
        return _tensor(xp(x).nanvar(x, axis=_reduced(x, axis, "nanvar"), keepdims=keepdims).astype(x.dtype))


@nanvar.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    module = xp(g)
    axes = _reduced(x, axis, "nanvar")
    valid = ~_nan_mask(x)
    f = module.where(valid, _float(x), 0)
    count = module.maximum(module.sum(valid, axis=axes, keepdims=True), 1)
    centred = (f - module.sum(f, axis=axes, keepdims=True) / count) * valid
    return _float_grad(_keep(g, x.shape, axes) * 2 * centred / count, x)


@operation(differentiable=("x",))
def nanstd(x, axis=None, keepdims=False):
    """y = sqrt(nanvar(x));  dy/dx_i = (x_i - mean) / (n y) over the non-NaN elements (0 for a NaN).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The population standard deviations (integers give float32).

    Example:

    >>> nanstd(np.array([1.0, np.nan, 3.0]))
    array(1.)
    """
    return _tensor(xp(_array(x)).sqrt(nanvar.forward(x, axis, keepdims)))


@nanstd.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    module = xp(g)
    axes = _reduced(x, axis, "nanstd")
    y = _keep(out, x.shape, axes)
    safe = module.where(y == 0, module.ones_like(y), y)
    gk = module.where(y == 0, 0, _keep(g, x.shape, axes) / (2 * safe))  # d sqrt(v) = dv / (2 sqrt v)
    return nanvar.backward(gk, None, x, axis, keepdims)


def _nan_extreme(name, x, axis, keepdims):
    x = _array(x)
    module = xp(x)
    axes = _reduced(x, axis, name)
    if x.dtype.kind not in "fc":
        return (module.max if name == "nanmax" else module.min)(x, axis=axes, keepdims=keepdims)
    fill = -np.inf if name == "nanmax" else np.inf
    nan = module.isnan(x)
    filled = module.where(nan, module.asarray(fill, dtype=x.dtype), x)
    out = (module.max if name == "nanmax" else module.min)(filled, axis=axes, keepdims=keepdims)
    all_nan = module.all(nan, axis=axes, keepdims=keepdims)
    return module.where(all_nan, module.asarray(np.nan, dtype=x.dtype), out)


@operation(differentiable=("x",))
def nanmax(x, axis=None, keepdims=False):
    """y = max of the non-NaN elements;  g goes to the winners, split evenly among ties (as ``max``).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The maxima (NaN where every element is NaN).

    Example:

    >>> nanmax(np.array([1.0, np.nan, 3.0]))
    array(3.)
    """
    return _tensor(_nan_extreme("nanmax", x, axis, keepdims))


@nanmax.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    axes = _reduced(x, axis, "nanmax")
    return _float_grad(_route_to_winners(g, x, out, axes) * ~_nan_mask(x), x)


@operation(differentiable=("x",))
def nanmin(x, axis=None, keepdims=False):
    """y = min of the non-NaN elements;  g goes to the winners, split evenly among ties (as ``max``).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The minima (NaN where every element is NaN).

    Example:

    >>> nanmin(np.array([1.0, np.nan, 3.0]))
    array(1.)
    """
    return _tensor(_nan_extreme("nanmin", x, axis, keepdims))


@nanmin.defbackward
def _(g, out, x, axis, keepdims):
    x = _array(x)
    axes = _reduced(x, axis, "nanmin")
    return _float_grad(_route_to_winners(g, x, out, axes) * ~_nan_mask(x), x)


@operation()
def nanargmax(x, axis=None, keepdims=False):
    """y = the index of the largest non-NaN element along ``axis`` (not differentiable).

    Args:
        x: Input tensor.
        axis: The axis to search (None: the flattened tensor).
        keepdims: Whether to keep the searched axis with size 1.

    Returns:
        The indices (int32).

    Example:

    >>> nanargmax(np.array([1.0, np.nan, 3.0]))
    array(2, dtype=int32)
    """
    return _tensor(_arg_extreme("nanargmax", x, axis, keepdims, skip_nan=True))


@operation()
def nanargmin(x, axis=None, keepdims=False):
    """y = the index of the smallest non-NaN element along ``axis`` (not differentiable).

    Args:
        x: Input tensor.
        axis: The axis to search (None: the flattened tensor).
        keepdims: Whether to keep the searched axis with size 1.

    Returns:
        The indices (int32).

    Example:

    >>> nanargmin(np.array([np.nan, 2.0, 1.0]))
    array(2, dtype=int32)
    """
    return _tensor(_arg_extreme("nanargmin", x, axis, keepdims, skip_nan=True))


@operation(differentiable=("x",))
def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """y = the q-th quantile of the non-NaN elements;  the backward of ``quantile`` (0 for a NaN).

    Args:
        x: Input tensor.
        q: Quantile(s) in [0, 1]: a number or a 1-D tensor.
        axis: Axis or axes to reduce (None: all).
        method: 'linear', 'lower', 'higher', 'midpoint' or 'nearest'.
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The quantiles (integers give float32; NaN where every element is NaN).

    Example:

    >>> nanquantile(np.array([1.0, np.nan, 3.0]), 0.5)
    array(2.)
    """
    return _tensor(_quantile_forward(x, q, axis, method, keepdims, "nanquantile", skip_nan=True))


@nanquantile.defbackward
def _(g, out, x, q, axis, method, keepdims):
    return _quantile_backward(g, x, q, axis, method, keepdims, "nanquantile", skip_nan=True)


@operation(differentiable=("x",))
def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """y = nanquantile(x, q / 100);  the same backward.

    Args:
        x: Input tensor.
        q: Percentile(s) in [0, 100]: a number or a 1-D tensor.
        axis: Axis or axes to reduce (None: all).
        method: 'linear', 'lower', 'higher', 'midpoint' or 'nearest'.
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The percentiles (integers give float32).

    Example:

    >>> nanpercentile(np.array([1.0, np.nan, 3.0]), 50)
    array(2.)
    """
    return _tensor(_quantile_forward(x, _array(q) / 100.0, axis, method, keepdims, "nanpercentile", skip_nan=True))


@nanpercentile.defbackward
def _(g, out, x, q, axis, method, keepdims):
    return _quantile_backward(g, x, _array(q) / 100.0, axis, method, keepdims, "nanpercentile", skip_nan=True)


@operation(differentiable=("x",))
def nanmedian(x, axis=None, keepdims=False):
    """y = the median of the non-NaN elements;  the backward of ``median`` (0 for a NaN).

    Args:
        x: Input tensor.
        axis: Axis or axes to reduce (None: all).
        keepdims: Whether to keep the reduced axes with size 1.

    Returns:
        The medians (integers give float32; NaN where every element is NaN).

    Example:

    >>> nanmedian(np.array([1.0, np.nan, 3.0, 10.0]))
    array(3.)
    """
    return _tensor(_quantile_forward(x, 0.5, axis, "linear", keepdims, "nanmedian", skip_nan=True))


@nanmedian.defbackward
def _(g, out, x, axis, keepdims):
    return _quantile_backward(g, x, 0.5, axis, "linear", keepdims, "nanmedian", skip_nan=True)
