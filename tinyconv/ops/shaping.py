"""Shape ops: moving, copying and picking array elements without arithmetic on them.

Every op here only *moves* numbers: reshaping, permuting axes, joining, splitting, tiling, padding,
indexing, gathering and scattering.  So every backward is the same idea in a different costume:
**send each output gradient back to the input element it was copied from, and add where one input
element was copied to several places.**  Concretely:

* a pure rearrangement (reshape, transpose, flip, roll, ...) is undone by the inverse rearrangement
  of ``g``;
* a copy to several places (broadcast_to, tile, repeat, take with repeated indices, ...) sums ``g``
  over the copies (``np.add.at`` where the same index can appear twice);
* a choice (where, select, slice_update, ...) sends ``g`` to the chosen operand and zero elsewhere.

Keras's argument names and defaults are kept exactly (``stack(x, axis=0)``, ``rot90(array, ...)``,
``slice(inputs, start_indices, shape)``).  Integer and boolean index arguments get no gradient.
"""
import builtins

import numpy as np

from .. import devices
from .operation import operation, unbroadcast, xp

__all__ = [
    # indexing
    "get_item", "slice", "slice_update", "take", "take_along_axis", "scatter", "scatter_update",
    # reshaping and permuting axes
    "reshape", "ravel", "expand_dims", "squeeze", "transpose", "moveaxis", "swapaxes", "broadcast_to",
    # joining and splitting
    "concatenate", "append", "stack", "hstack", "vstack", "dstack", "split", "array_split", "hsplit",
    "vsplit", "dsplit", "unstack",
    # copying and reordering
    "tile", "repeat", "flip", "fliplr", "flipud", "roll", "rot90", "pad",
    # choosing
    "where", "select",
    # segment reductions
    "segment_sum", "segment_max", "segment_min", "segment_prod",
]


# ================================================================ helpers
def _array(value, module=None):
    """``value`` as an array, with Keras's dtypes for Python values (int -> int32, float -> float32).

    Arrays pass unchanged (NumPy or CuPy); Python numbers and (nested) lists become arrays of the
    array module of ``module`` (numpy by default), as ``keras.ops.convert_to_tensor`` makes them.
    """
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if module is not None and module is not np and xp(value) is np:
            return module.asarray(value)  # a NumPy index array used with CuPy data
        return value
    array = np.asarray(value)
    if array.dtype == np.int64:
        array = array.astype(np.int32)
    elif array.dtype == np.float64:
        array = array.astype(np.float32)
    return array if module is None or module is np else module.asarray(array)


def _scalar_or_array(value, module):
    """A Python number stays a Python number (NumPy 2 promotes it "weakly": float32 + 0.5 is float32,
    as in Keras); anything else becomes an array."""
    if isinstance(value, (bool, int, float)):
        return value
    return _array(value, module)


def _result_dtype(*values):
    """The dtype Keras gives a mix of arrays and Python numbers.

    Keras's rule differs from NumPy's in one place that matters: mixing integers with a float
    keeps that float (int32 with float32 is float32; NumPy widens it to float64).  So: the
    promotion of the float arrays if there are any; else float32 if a Python float takes part
    (Keras's default float); else the promotion of the integer arrays; else int32 for a Python int;
    else bool.  Python numbers never widen an array's dtype (float16 array + 0.5 stays float16).
    """
    dtypes = [np.dtype(v.dtype) for v in values if hasattr(v, "dtype")]
    numbers = [v for v in values if not hasattr(v, "dtype")]
    floats = [d for d in dtypes if d.kind in "fc"]
    if floats:
        return np.result_type(*floats)
    if any(isinstance(v, float) for v in numbers):
        return np.dtype(np.float32)
    integers = [d for d in dtypes if d.kind in "iu"]
    if integers:
        return np.result_type(*integers)
    if any(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
        return np.dtype(np.int32)
    return np.dtype(bool)


def _axis(axis, ndim, op):
    """``axis`` as a non-negative int, or a ValueError naming the op."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"ops.{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"ops.{op}: axis {axis} is out of range for an array with {ndim} dimensions")
    return int(axis) % ndim


def _axes(axis, ndim, op):
    """An int or a tuple of ints as a tuple of non-negative ints."""
    if isinstance(axis, (list, tuple)):
        return tuple(_axis(a, ndim, op) for a in axis)
    return (_axis(axis, ndim, op),)


def _cast_like(gradient, like):
    """The gradient in the dtype of the argument it is for (a float32 operand of a float64 result gets
    a float32 gradient).  Python numbers keep the gradient as it is: they are never on a tape."""
    dtype = getattr(like, "dtype", None)
    return gradient if dtype is None or gradient.dtype == dtype else gradient.astype(dtype)


def _scatter_add(target, index, values):
    """``target[index] += values``, adding (not overwriting) where ``index`` repeats an element.

    ``np.add.at`` is the unbuffered form of ``+=`` that the backward of every gather needs;
    CuPy's name for it is ``cupyx.scatter_add``.
    """
    return devices.scatter_add(target, index, values)


def _scatter_ufunc(name, target, index, values):
    """``target[index] = name(target[index], values)`` element by element, repeated indices included
    (``np.maximum.at`` and friends; ``cupyx.scatter_max`` / ``scatter_min`` on the GPU)."""
    if xp(target) is np:
        getattr(np, name).at(target, index, values)
    elif name in ("maximum", "minimum"):
        scatter = {"maximum": "scatter_max", "minimum": "scatter_min"}[name]
        getattr(devices.companion_module(xp(target)), scatter)(target, index, values)
    elif name == "add":
        devices.companion_module(xp(target)).scatter_add(target, index, values)
    else:
        # CuPy has no scatter-multiply; products are rare enough to do on the host.
        cupy = xp(target)
        host = cupy.asnumpy(target)
        np.multiply.at(host, tuple(cupy.asnumpy(i) for i in index), cupy.asnumpy(values))
        target[...] = cupy.asarray(host)
    return target


def _is_basic_key(key):
    """True for keys made only of ints, slices, None and Ellipsis (each element picked at most once)."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(part, (int, np.integer, builtins.slice, type(None), type(Ellipsis)))
               and not isinstance(part, bool) for part in parts)


# ================================================================ indexing
@operation(differentiable=("x",))
def get_item(x, key):
    """``x[key]``: NumPy indexing (the op behind the ``[]`` operator on tensors).

    Backward: each output element is one element of ``x``, so ``g`` goes back to the position it was
    read from, in zeros of ``x``'s shape: ``dx[key] += g``.  Integer-array keys can read an element
    twice (``x[[0, 0]]``); its gradients are then added (``np.add.at``), not overwritten.

    Args:
        x: Input tensor.
        key: An int, slice, ``None``, ``Ellipsis``, integer or boolean array, or a tuple of those.

    Returns:
        ``x[key]`` (always an array, 0-d for a single element).

    Example:

    >>> x = np.arange(6.0).reshape(2, 3)
    >>> get_item(x, (Ellipsis, 1))
    array([1., 4.])
    """
    x = _array(x)
    if isinstance(key, list):
        key = np.asarray(key)  # x[[0, 2]] means the integer array [0, 2], as in NumPy
    return xp(x).asarray(x[key])


@get_item.defbackward
def _(g, out, x, key):
    if isinstance(key, list):
        key = np.asarray(key)
    grad = xp(g).zeros(x.shape, dtype=g.dtype)
    if _is_basic_key(key):
        grad[key] = g  # ints and slices read each element at most once: plain assignment suffices
        return grad
    return _scatter_add(grad, key, g)


def _slices(start_indices, shape):
    return tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, shape))


def _check_start_indices(op, inputs, start_indices):
    start = [int(s) for s in (start_indices.tolist() if hasattr(start_indices, "tolist") else start_indices)]
    if len(start) != inputs.ndim:
        raise ValueError(f"ops.{op}: start_indices needs one entry per axis of inputs ({inputs.ndim}), got "
                         f"{len(start)}: {start}")
    return start


@operation(differentiable=("inputs",))
def slice(inputs, start_indices, shape):
    """``inputs[s0:s0 + n0, s1:s1 + n1, ...]`` for ``start_indices = (s0, s1, ...)``, ``shape = (n0, n1, ...)``.

    Backward: ``g`` goes into the same window of zeros of ``inputs``'s shape.

    Args:
        inputs: Input tensor.
        start_indices: One start index per axis.
        shape: The shape of the slice (one size per axis).

    Returns:
        The slice, of shape ``shape``.

    Example:

    >>> slice(np.arange(10.0).reshape(2, 5), (0, 1), (2, 2))
    array([[1., 2.],
           [6., 7.]])
    """
    inputs = _array(inputs)
    start = _check_start_indices("slice", inputs, start_indices)
    sizes = [int(n) for n in (shape.tolist() if hasattr(shape, "tolist") else shape)]
    if len(sizes) != inputs.ndim:
        raise ValueError(f"ops.slice: shape needs one size per axis of inputs ({inputs.ndim}), got {sizes}")
    return inputs[_slices(start, sizes)]


@slice.defbackward
def _(g, out, inputs, start_indices, shape):
    grad = xp(g).zeros(inputs.shape, dtype=g.dtype)
    grad[_slices(_check_start_indices("slice", inputs, start_indices), g.shape)] = g
    return grad


@operation(differentiable=("inputs", "updates"))
def slice_update(inputs, start_indices, updates):
    """A copy of ``inputs`` with the window at ``start_indices`` replaced by ``updates``.

    Backward: the window's gradient goes to ``updates``, the rest of ``g`` to ``inputs`` (whose
    values inside the window were overwritten, so they get zero there).

    Args:
        inputs: Input tensor.
        start_indices: One start index per axis.
        updates: The new values, of the window's shape (cast to ``inputs``'s dtype).

    Returns:
        The updated copy (same shape and dtype as ``inputs``).

    Example:

    >>> slice_update(np.zeros((2, 3)), (1, 1), np.ones((1, 2)))
    array([[0., 0., 0.],
           [0., 1., 1.]])
    """
    inputs, updates = _array(inputs), _array(updates)
    window = _slices(_check_start_indices("slice_update", inputs, start_indices), updates.shape)
    out = inputs.copy()
    out[window] = updates
    return out


@slice_update.defbackward
def _(g, out, inputs, start_indices, updates):
    updates = _array(updates)
    window = _slices(_check_start_indices("slice_update", inputs, start_indices), updates.shape)
    d_inputs = g.copy()
    d_inputs[window] = 0
    return d_inputs, _cast_like(g[window], updates)


def _integer_indices(indices, module, op):
    indices = _array(indices, module)
    if indices.dtype.kind == "f":
        indices = indices.astype(np.int64)  # Keras casts float indices to integers
    elif indices.dtype.kind not in "iu":
        raise TypeError(f"ops.{op}: indices must be integers, got dtype {indices.dtype}")
    return indices


@operation(differentiable=("x",))
def take(x, indices, axis=None):
    """Elements of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` when ``axis`` is None).

    Backward: a gather's backward is a scatter-add.  ``dx[..., indices[j], ...] += g[..., j, ...]``,
    adding where an index repeats (an embedding row used twice gets both gradients).

    Args:
        x: Input tensor.
        indices: Integer indices (negative ones count from the end).
        axis: The axis to take along; None flattens ``x`` first.

    Returns:
        ``x.shape[:axis] + indices.shape + x.shape[axis + 1:]``.

    Example:

    >>> take(np.array([[1.0, 2.0], [3.0, 4.0]]), [1, 1, 0], axis=0)
    array([[3., 4.],
           [3., 4.],
           [1., 2.]])
    """
    x = _array(x)
    module = xp(x)
    indices = _integer_indices(indices, module, "take")
    if axis is None:
        return module.take(x.reshape(-1), indices)
    return module.take(x, indices, axis=_axis(axis, x.ndim, "take"))


@take.defbackward
def _(g, out, x, indices, axis=None):
    module = xp(g)
    indices = _integer_indices(indices, module, "take")
    if axis is None:
        return _scatter_add(module.zeros(x.size, dtype=g.dtype), indices.reshape(-1), g.reshape(-1)).reshape(x.shape)
    axis = _axis(axis, x.ndim, "take")
    # Put the taken axis first, so that the scatter is along axis 0: grad[indices[j]] += g[j].
    gathered = range(axis, axis + indices.ndim)
    g_first = module.moveaxis(g, tuple(gathered), tuple(range(indices.ndim))).reshape(
        (indices.size,) + x.shape[:axis] + x.shape[axis + 1:])
    grad = module.zeros((x.shape[axis],) + x.shape[:axis] + x.shape[axis + 1:], dtype=g.dtype)
    _scatter_add(grad, indices.reshape(-1), g_first)
    return module.moveaxis(grad, 0, axis)


def _along_axis_index(x_shape, indices, axis):
    """The NumPy index tuple that ``take_along_axis`` reads: ``indices`` on ``axis``, and an ``arange``
    broadcast along each other axis (so output position p reads x[p0, ..., indices[p], ..., pn])."""
    module = xp(indices)
    index = []
    for d, size in enumerate(x_shape):
        if d == axis:
            index.append(indices)
        else:
            index.append(module.arange(size).reshape([-1 if k == d else 1 for k in range(len(x_shape))]))
    return tuple(index)


@operation(differentiable=("x",))
def take_along_axis(x, indices, axis=None):
    """``out[..., j, ...] = x[..., indices[..., j, ...], ...]`` along ``axis`` (NumPy's ``take_along_axis``).

    Backward: scatter-add ``g`` back to the positions read, ``np.add.at(dx, index, g)``.

    Args:
        x: Input tensor.
        indices: Integer indices with ``x``'s number of dimensions (other axes broadcast).
        axis: The axis to take along; None flattens ``x`` (and ``indices`` must be 1-D).

    Returns:
        The gathered tensor (the broadcast shape of ``x`` and ``indices``, ``indices``'s size on ``axis``).

    Example:

    >>> x = np.array([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
    >>> take_along_axis(x, np.array([[0], [2]]), axis=1)
    array([[10.],
           [50.]])
    """
    x = _array(x)
    module = xp(x)
    indices = _integer_indices(indices, module, "take_along_axis")
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = _axis(axis, x.ndim, "take_along_axis")
    if indices.ndim != x.ndim:
        raise ValueError(f"ops.take_along_axis: indices must have as many dimensions as x ({x.ndim}), got "
                         f"shape {tuple(indices.shape)}")
    size = x.shape[axis]
    if indices.size and (int(indices.max()) >= size or int(indices.min()) < -size):
        raise ValueError(f"ops.take_along_axis: indices must be in [-{size}, {size}) for axis {axis} of shape "
                         f"{tuple(x.shape)}, got values from {int(indices.min())} to {int(indices.max())}")
    return x[_along_axis_index(x.shape, indices % size, axis)]


@take_along_axis.defbackward
def _(g, out, x, indices, axis=None):
    module = xp(g)
    indices = _integer_indices(indices, module, "take_along_axis")
    shape = (x.size,) if axis is None else x.shape
    axis = 0 if axis is None else _axis(axis, x.ndim, "take_along_axis")
    grad = module.zeros(shape, dtype=g.dtype)
    # A size-1 axis of x broadcast against indices has arange(1) = [0] as its index: the copies add up.
    _scatter_add(grad, _along_axis_index(shape, indices % shape[axis], axis), g)
    return grad.reshape(x.shape)


def _scatter_index(indices, op):
    """Keras's ``(num_updates, k)`` index rows as a NumPy index tuple of k integer arrays."""
    module = xp(indices)
    indices = _integer_indices(indices, module, op)
    if indices.ndim != 2:
        raise ValueError(f"ops.{op}: indices must have shape (num_updates, k), got shape {tuple(indices.shape)}")
    return tuple(indices[:, k] for k in range(indices.shape[1]))


@operation(differentiable=("values",))
def scatter(indices, values, shape):
    """A tensor of zeros of ``shape`` with ``values`` added at ``indices`` (repeated indices add up).

    Backward: each value was added to one output position, so its gradient is ``g`` read there:
    ``d_values = g[indices]``.

    Args:
        indices: Integer tensor of shape ``(num_updates, k)``, ``k <= len(shape)``.
        values: Tensor of shape ``(num_updates,) + shape[k:]``.
        shape: The output shape.

    Returns:
        The scattered tensor, of ``values``'s dtype.

    Example:

    >>> scatter([[0], [2], [0]], np.array([1.0, 2.0, 3.0]), (4,))
    array([4., 0., 2., 0.])
    """
    values = _array(values)
    module = xp(values)
    out = module.zeros(tuple(int(n) for n in shape), dtype=values.dtype)
    return _scatter_add(out, _scatter_index(_array(indices, module), "scatter"), values)


@scatter.defbackward
def _(g, out, indices, values, shape):
    return g[_scatter_index(_array(indices, xp(g)), "scatter")]


_SCATTER_REDUCTIONS = (None, "add", "max", "min", "mul")


@operation(differentiable=("inputs", "updates"))
def scatter_update(inputs, indices, updates, reduction=None):
    """A copy of ``inputs`` with ``updates`` written (or combined, see ``reduction``) at ``indices``.

    Backward, by reduction:

    * None (overwrite): written positions lose their input gradient; ``d_updates = g[indices]``;
    * ``"add"``: ``d_inputs = g``, ``d_updates = g[indices]``;
    * ``"max"`` / ``"min"``: the gradient goes to whichever of the input and the updates won at each
      position (to all of them, equally split, on a tie);
    * ``"mul"``: out = x * prod(u), so ``d_x = g * prod(u)`` and ``d_u = g * out / u`` (updates of
      zero get the product of the others, computed directly).

    Args:
        inputs: Input tensor.
        indices: Integer tensor of shape ``(num_updates, k)``.
        updates: Tensor of shape ``(num_updates,) + inputs.shape[k:]``.
        reduction: None, ``"add"``, ``"max"``, ``"min"`` or ``"mul"``.

    Returns:
        The updated copy (same shape and dtype as ``inputs``).

    Example:

    >>> scatter_update(np.zeros(4), [[0], [0], [1]], np.array([1.0, 1.0, 1.0]), reduction="add")
    array([2., 1., 0., 0.])
    """
    inputs, updates = _array(inputs), _array(updates)
    module = xp(inputs)
    if reduction not in _SCATTER_REDUCTIONS:
        raise ValueError(f"ops.scatter_update: reduction must be one of {_SCATTER_REDUCTIONS}, got {reduction!r}")
    index = _scatter_index(_array(indices, module), "scatter_update")
    updates = updates.astype(inputs.dtype, copy=False)
    out = inputs.copy()
    if reduction is None:
        out[index] = updates
    elif reduction == "add":
        _scatter_add(out, index, updates)
    else:
        _scatter_ufunc({"max": "maximum", "min": "minimum", "mul": "multiply"}[reduction], out, index, updates)
    return out


@scatter_update.defbackward
def _(g, out, inputs, indices, updates, reduction=None):
    module = xp(g)
    index = _scatter_index(_array(indices, module), "scatter_update")
    updates = _array(updates)
    same = updates.astype(inputs.dtype, copy=False)
    if reduction == "add":
        return g, _cast_like(g[index], updates)
    if reduction is None:
        d_inputs = g.copy()
        d_inputs[index] = 0
        return d_inputs, _cast_like(g[index], updates)
    if reduction == "mul":
        # out = x * prod(u at that position), so d_x = g * prod(u); for one u, the product of the rest.
        products = _scatter_ufunc("multiply", module.ones_like(inputs), index, same)
        others = _product_of_others(same, index, inputs.shape, module)
        return g * products, _cast_like(g[index] * inputs[index] * others, updates)
    # max / min: the winners (the input and every update equal to the result) share g equally.
    input_won = inputs == out
    update_won = same == out[index]
    winners = input_won.astype(g.dtype)
    _scatter_add(winners, index, update_won.astype(g.dtype))
    share = g / winners
    return share * input_won, _cast_like(share[index] * update_won, updates)


def _product_of_others(values, index, shape, module):
    """For each value, the product of the *other* values scattered to the same position.

    out / value would divide by zero for a zero value, so count the zeros per position instead:
    with no zero among the others it is (product of non-zeros) / value (or the non-zero product itself
    when value is the one zero); with a zero among the others it is 0.
    """
    nonzero = module.where(values == 0, 1, values)
    nonzero_product = _scatter_ufunc("multiply", module.ones(shape, dtype=values.dtype), index, nonzero)
    zeros = module.zeros(shape, dtype=values.dtype)
    _scatter_add(zeros, index, (values == 0).astype(values.dtype))
    zeros_elsewhere = zeros[index] - (values == 0)
    return module.where(zeros_elsewhere > 0, 0, nonzero_product[index] / nonzero)


# ================================================================ reshaping and permuting axes
def _restore_shape(g, out, x, *args, **kwargs):
    """The backward of every op that only changes the shape: the same numbers, ``x``'s shape."""
    return g.reshape(x.shape)


@operation(differentiable=("x",))
def reshape(x, newshape):
    """The same elements (in C order) in a new shape; one size may be -1 (inferred).

    Backward: reshape ``g`` back to ``x``'s shape.

    Args:
        x: Input tensor.
        newshape: The new shape (an int or a tuple of ints).

    Returns:
        The reshaped tensor.

    Example:

    >>> reshape(np.arange(6), (3, -1)).shape
    (3, 2)
    """
    x = _array(x)
    shape = (newshape,) if isinstance(newshape, (int, np.integer)) else tuple(newshape)
    known = int(np.prod([n for n in shape if n != -1]))
    if (-1 not in shape and known != x.size) or (-1 in shape and (known == 0 or x.size % known)):
        raise ValueError(f"ops.reshape: cannot reshape an array of shape {tuple(x.shape)} ({x.size} elements) "
                         f"into shape {shape}")
    return x.reshape(shape)


reshape.defbackward(_restore_shape)


@operation(differentiable=("x",))
def ravel(x):
    """``x`` flattened to 1-D (C order).

    Backward: reshape ``g`` back to ``x``'s shape.

    Args:
        x: Input tensor.

    Returns:
        A 1-D tensor of ``x.size`` elements.

    Example:

    >>> ravel(np.array([[1, 2], [3, 4]]))
    array([1, 2, 3, 4])
    """
    return _array(x).reshape(-1)


ravel.defbackward(_restore_shape)


@operation(differentiable=("x",))
def expand_dims(x, axis):
    """``x`` with a new axis of size 1 inserted at ``axis`` (an int or a tuple of ints).

    Backward: reshape ``g`` back to ``x``'s shape.

    Args:
        x: Input tensor.
        axis: Position(s) of the new axis in the result.

    Returns:
        The tensor with one more dimension per axis given.

    Example:

    >>> expand_dims(np.ones((2, 3)), -1).shape
    (2, 3, 1)
    """
    x = _array(x)
    out_ndim = x.ndim + (len(axis) if isinstance(axis, (list, tuple)) else 1)
    return xp(x).expand_dims(x, _axes(axis, out_ndim, "expand_dims"))


expand_dims.defbackward(_restore_shape)


@operation(differentiable=("x",))
def squeeze(x, axis=None):
    """``x`` without its size-1 axes (only those in ``axis`` when given).

    Backward: reshape ``g`` back to ``x``'s shape.

    Args:
        x: Input tensor.
        axis: None (every size-1 axis), an int or a tuple of ints.

    Returns:
        The squeezed tensor.

    Raises:
        ValueError: an axis given has a size other than 1.

    Example:

    >>> squeeze(np.ones((1, 3, 1))).shape
    (3,)
    """
    x = _array(x)
    if axis is None:
        return x.reshape(tuple(n for n in x.shape if n != 1))
    axes = _axes(axis, x.ndim, "squeeze")
    wrong = [a for a in axes if x.shape[a] != 1]
    if wrong:
        raise ValueError(f"ops.squeeze: can only squeeze axes of size 1; axis {wrong[0]} of shape "
                         f"{tuple(x.shape)} has size {x.shape[wrong[0]]}")
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))


squeeze.defbackward(_restore_shape)


@operation(differentiable=("x",))
def transpose(x, axes=None):
    """``x`` with its axes permuted: output axis i is input axis ``axes[i]`` (reversed when None).

    Backward: permute ``g`` back with the inverse permutation, ``argsort(axes)``.

    Args:
        x: Input tensor.
        axes: A permutation of ``range(x.ndim)``, or None to reverse the axes.

    Returns:
        The transposed tensor.

    Example:

    >>> transpose(np.zeros((2, 3, 4)), (1, 2, 0)).shape
    (3, 4, 2)
    """
    x = _array(x)
    if axes is None:
        return xp(x).transpose(x)
    axes = _axes(axes, x.ndim, "transpose")
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"ops.transpose: axes must be a permutation of {tuple(range(x.ndim))}, got {axes}")
    return xp(x).transpose(x, axes)


@transpose.defbackward
def _(g, out, x, axes=None):
    if axes is None:
        return xp(g).transpose(g)
    inverse = tuple(int(i) for i in np.argsort(_axes(axes, g.ndim, "transpose")))
    return xp(g).transpose(g, inverse)


@operation(differentiable=("x",))
def moveaxis(x, source, destination):
    """``x`` with axis ``source`` moved to position ``destination`` (ints or tuples of ints).

    Backward: move the axes back, ``moveaxis(g, destination, source)``.

    Args:
        x: Input tensor.
        source: Original position(s) of the axes to move.
        destination: Their positions in the result.

    Returns:
        The tensor with its axes moved.

    Example:

    >>> moveaxis(np.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    x = _array(x)
    return xp(x).moveaxis(x, source, destination)


@moveaxis.defbackward
def _(g, out, x, source, destination):
    return xp(g).moveaxis(g, destination, source)


@operation(differentiable=("x",))
def swapaxes(x, axis1, axis2):
    """``x`` with axes ``axis1`` and ``axis2`` exchanged.

    Backward: exchange them again, ``swapaxes(g, axis1, axis2)``.

    Args:
        x: Input tensor.
        axis1: First axis.
        axis2: Second axis.

    Returns:
        The tensor with the two axes swapped.

    Example:

    >>> swapaxes(np.zeros((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    x = _array(x)
    return xp(x).swapaxes(x, _axis(axis1, x.ndim, "swapaxes"), _axis(axis2, x.ndim, "swapaxes"))


@swapaxes.defbackward
def _(g, out, x, axis1, axis2):
    return xp(g).swapaxes(g, axis1, axis2)


@operation(differentiable=("x",))
def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` by NumPy's rules (size-1 axes repeated, new axes on the left).

    Backward: every copy of an element sends its gradient back, so ``g`` is summed over the
    broadcast axes (``unbroadcast``).

    Args:
        x: Input tensor.
        shape: The target shape.

    Returns:
        A tensor of shape ``shape``.

    Example:

    >>> broadcast_to(np.array([1, 2, 3]), (2, 3))
    array([[1, 2, 3],
           [1, 2, 3]])
    """
    x = _array(x)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    try:
        return xp(x).broadcast_to(x, shape)
    except ValueError:
        raise ValueError(f"ops.broadcast_to: cannot broadcast shape {tuple(x.shape)} to {shape}") from None


@broadcast_to.defbackward
def _(g, out, x, shape):
    return unbroadcast(g, _array(x))


# ================================================================ joining and splitting
def _as_arrays(xs, op):
    if not isinstance(xs, (list, tuple)) or not xs:
        raise TypeError(f"ops.{op}: expected a non-empty list of tensors, got {type(xs).__name__}")
    arrays = [_array(x) for x in xs]
    module = xp(*arrays)
    dtype = _result_dtype(*arrays)
    return [module.asarray(a).astype(dtype, copy=False) for a in arrays], module


def _split_back(g, xs, axis, shapes=None):
    """The backward of a join along ``axis``: cut ``g`` into the pieces each input filled."""
    module = xp(g)
    shapes = shapes or [tuple(_array(x).shape) for x in xs]
    sizes = [shape[axis] for shape in shapes]
    pieces = module.split(g, np.cumsum(sizes)[:-1].tolist(), axis=axis)
    return [_cast_like(piece.reshape(_array(x).shape), _array(x)) for piece, x in zip(pieces, xs)]


@operation(differentiable=("xs",))
def concatenate(xs, axis=0):
    """The tensors of ``xs`` joined along ``axis`` (their dtypes promoted to a common one).

    Backward: cut ``g`` along ``axis`` into pieces of each input's size.

    Args:
        xs: A list of tensors, equal in shape except along ``axis``.
        axis: The axis to join along (None flattens each first).

    Returns:
        The joined tensor.

    Example:

    >>> concatenate([np.zeros((1, 2)), np.ones((2, 2))]).shape
    (3, 2)
    """
    arrays, module = _as_arrays(xs, "concatenate")
    if axis is None:
        return module.concatenate([a.reshape(-1) for a in arrays])
    axis = _axis(axis, arrays[0].ndim, "concatenate")
    others = {(a.ndim, a.shape[:axis] + a.shape[axis + 1:]) for a in arrays}  # the shapes off the axis
    if len(others) > 1:
        raise ValueError(f"ops.concatenate: shapes must agree except on axis {axis}, got "
                         f"{[tuple(b.shape) for b in arrays]}")
    return module.concatenate(arrays, axis=axis)


@concatenate.defbackward
def _(g, out, xs, axis=0):
    if axis is None:
        return _split_back(g, xs, 0, [(_array(x).size,) for x in xs])
    return _split_back(g, xs, _axis(axis, g.ndim, "concatenate"))


@operation(differentiable=("x1", "x2"))
def append(x1, x2, axis=None):
    """``x2`` appended to ``x1`` along ``axis`` (both flattened first when ``axis`` is None).

    Backward: cut ``g`` into ``x1``'s part and ``x2``'s part.

    Args:
        x1: First tensor.
        x2: Tensor appended to it.
        axis: The axis to join along, or None.

    Returns:
        The joined tensor.

    Example:

    >>> append(np.array([1, 2]), np.array([[3, 4]]))
    array([1, 2, 3, 4])
    """
    return concatenate.forward([x1, x2], axis=axis)


@append.defbackward
def _(g, out, x1, x2, axis=None):
    return tuple(concatenate.backward(g, out, [x1, x2], axis=axis))


@operation(differentiable=("x",))
def stack(x, axis=0):
    """The tensors of ``x`` (all one shape) stacked along a new axis ``axis``.

    Backward: ``g`` taken apart along that axis, one slice per input.

    Args:
        x: A list of tensors of equal shape.
        axis: Position of the new axis in the result.

    Returns:
        A tensor with one more dimension, of size ``len(x)`` on ``axis``.

    Example:

    >>> stack([np.zeros(3), np.ones(3)], axis=1).shape
    (3, 2)
    """
    arrays, module = _as_arrays(x, "stack")
    if len({tuple(a.shape) for a in arrays}) > 1:
        raise ValueError(f"ops.stack: all tensors must have one shape, got {[tuple(a.shape) for a in arrays]}")
    return module.stack(arrays, axis=_axis(axis, arrays[0].ndim + 1, "stack"))


@stack.defbackward
def _(g, out, x, axis=0):
    axis = _axis(axis, g.ndim, "stack")
    return [_cast_like(xp(g).take(g, i, axis=axis), _array(item)) for i, item in enumerate(x)]


def _joined(xs, op, least_ndim, axis_for):
    """hstack / vstack / dstack: promote each input to at least ``least_ndim`` dimensions (NumPy's
    atleast_1d/2d/3d layouts) and join along the axis the op names."""
    arrays, module = _as_arrays(xs, op)
    promote = {1: module.atleast_1d, 2: module.atleast_2d, 3: module.atleast_3d}[least_ndim]
    promoted = [promote(a) for a in arrays]
    return promoted, axis_for(promoted[0].ndim), module


def _hstack_axis(ndim):
    return 0 if ndim == 1 else 1


@operation(differentiable=("xs",))
def hstack(xs):
    """Join along the second axis (the first for 1-D tensors).

    Backward: cut ``g`` along that axis into each input's part.

    Args:
        xs: A list of tensors.

    Returns:
        The joined tensor.

    Example:

    >>> hstack([np.zeros((2, 1)), np.ones((2, 2))]).shape
    (2, 3)
    """
    arrays, axis, module = _joined(xs, "hstack", 1, _hstack_axis)
    return module.concatenate(arrays, axis=axis)


@hstack.defbackward
def _(g, out, xs):
    shapes = [tuple(xp(g).atleast_1d(_array(x)).shape) for x in xs]
    return _split_back(g, xs, _hstack_axis(g.ndim), shapes)


@operation(differentiable=("xs",))
def vstack(xs):
    """Join along the first axis, 1-D tensors taken as rows.

    Backward: cut ``g`` along axis 0 into each input's rows.

    Args:
        xs: A list of tensors.

    Returns:
        The joined tensor (at least 2-D).

    Example:

    >>> vstack([np.zeros(3), np.ones((2, 3))]).shape
    (3, 3)
    """
    arrays, axis, module = _joined(xs, "vstack", 2, lambda ndim: 0)
    return module.concatenate(arrays, axis=axis)


@vstack.defbackward
def _(g, out, xs):
    return _split_back(g, xs, 0, [tuple(xp(g).atleast_2d(_array(x)).shape) for x in xs])


@operation(differentiable=("xs",))
def dstack(xs):
    """Join along the third axis (1-D ``(n,)`` taken as ``(1, n, 1)``, 2-D ``(m, n)`` as ``(m, n, 1)``).

    Backward: cut ``g`` along axis 2 into each input's part.

    Args:
        xs: A list of tensors.

    Returns:
        The joined tensor (at least 3-D).

    Example:

    >>> dstack([np.zeros((2, 3)), np.ones((2, 3))]).shape
    (2, 3, 2)
    """
    arrays, axis, module = _joined(xs, "dstack", 3, lambda ndim: 2)
    return module.concatenate(arrays, axis=axis)


@dstack.defbackward
def _(g, out, xs):
    return _split_back(g, xs, 2, [tuple(xp(g).atleast_3d(_array(x)).shape) for x in xs])


def _split_forward(x, indices_or_sections, axis, op, equal):
    x = _array(x)
    axis = _axis(axis, x.ndim, op)
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"ops.{op}: the number of sections must be positive, got {sections}")
        if equal and x.shape[axis] % sections:
            raise ValueError(f"ops.{op}: axis {axis} of size {x.shape[axis]} cannot be split into {sections} equal "
                             "sections (use ops.array_split for unequal ones)")
        return list(xp(x).array_split(x, sections, axis=axis))
    return list(xp(x).split(x, [int(i) for i in indices_or_sections], axis=axis))


def _split_backward_along(axis_of):
    """The backward of a split: the pieces ``g`` (one per output, zeros for unused ones) joined again."""
    def backward(g, out, x, indices_or_sections, **axis):
        x = _array(x)
        return _cast_like(xp(*g).concatenate(g, axis=_axis(axis_of(x, **axis), x.ndim, "split")), x)
    return backward


@operation(differentiable=("x",), multi_output=True)
def split(x, indices_or_sections, axis=0):
    """``x`` cut along ``axis`` into equal sections (an int) or at the given indices (a list).

    Backward: the output gradients joined again along ``axis`` (``concatenate``).

    Args:
        x: Input tensor.
        indices_or_sections: The number of equal sections, or the indices to cut at.
        axis: The axis to cut along.

    Returns:
        A list of tensors.

    Raises:
        ValueError: an int that does not divide the axis's size.

    Example:

    >>> [piece.shape for piece in split(np.zeros((4, 2)), [1, 3])]
    [(1, 2), (2, 2), (1, 2)]
    """
    return _split_forward(x, indices_or_sections, axis, "split", equal=True)


split.defbackward(_split_backward_along(lambda x, axis=0: axis))


@operation(differentiable=("x",), multi_output=True)
def array_split(x, indices_or_sections, axis=0):
    """Like ``split``, but an int need not divide the axis: the first sections get one more element.

    Backward: the output gradients joined again along ``axis``.

    Args:
        x: Input tensor.
        indices_or_sections: The number of sections, or the indices to cut at.
        axis: The axis to cut along.

    Returns:
        A list of tensors.

    Example:

    >>> [piece.shape for piece in array_split(np.zeros(5), 2)]
    [(3,), (2,)]
    """
    return _split_forward(x, indices_or_sections, axis, "array_split", equal=False)


array_split.defbackward(_split_backward_along(lambda x, axis=0: axis))


def _hsplit_axis(x):
    return 0 if x.ndim == 1 else 1


@operation(differentiable=("x",), multi_output=True)
def hsplit(x, indices_or_sections):
    """``split`` along the second axis (the first for 1-D tensors).

    Backward: the output gradients joined again along that axis.

    Args:
        x: Input tensor.
        indices_or_sections: The number of equal sections, or the indices to cut at.

    Returns:
        A list of tensors.

    Example:

    >>> [piece.shape for piece in hsplit(np.zeros((2, 4)), 2)]
    [(2, 2), (2, 2)]
    """
    x = _array(x)
    return _split_forward(x, indices_or_sections, _hsplit_axis(x), "hsplit", equal=True)


hsplit.defbackward(_split_backward_along(_hsplit_axis))


def _check_min_ndim(x, ndim, op):
    if x.ndim < ndim:
        raise ValueError(f"ops.{op}: needs a tensor with at least {ndim} dimensions, got shape {tuple(x.shape)}")
    return x


@operation(differentiable=("x",), multi_output=True)
def vsplit(x, indices_or_sections):
    """``split`` along the first axis (``x`` must be at least 2-D).

    Backward: the output gradients joined again along axis 0.

    Args:
        x: Input tensor.
        indices_or_sections: The number of equal sections, or the indices to cut at.

    Returns:
        A list of tensors.

    Example:

    >>> [piece.shape for piece in vsplit(np.zeros((4, 2)), 2)]
    [(2, 2), (2, 2)]
    """
    x = _check_min_ndim(_array(x), 2, "vsplit")
    return _split_forward(x, indices_or_sections, 0, "vsplit", equal=True)


vsplit.defbackward(_split_backward_along(lambda x: 0))


@operation(differentiable=("x",), multi_output=True)
def dsplit(x, indices_or_sections):
    """``split`` along the third axis (``x`` must be at least 3-D).

    Backward: the output gradients joined again along axis 2.

    Args:
        x: Input tensor.
        indices_or_sections: The number of equal sections, or the indices to cut at.

    Returns:
        A list of tensors.

    Example:

    >>> [piece.shape for piece in dsplit(np.zeros((1, 2, 4)), [1])]
    [(1, 2, 1), (1, 2, 3)]
    """
    x = _check_min_ndim(_array(x), 3, "dsplit")
    return _split_forward(x, indices_or_sections, 2, "dsplit", equal=True)


dsplit.defbackward(_split_backward_along(lambda x: 2))


@operation(differentiable=("x",), multi_output=True)
def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list (the inverse of ``stack``).

    Backward: the output gradients stacked again along ``axis``.

    Args:
        x: Input tensor.
        num: The number of slices, if known (it must equal ``x.shape[axis]``).
        axis: The axis to unstack along.

    Returns:
        A list of ``x.shape[axis]`` tensors with that axis removed.

    Example:

    >>> [t.tolist() for t in unstack(np.array([[1, 2], [3, 4]]), axis=1)]
    [[1, 3], [2, 4]]
    """
    x = _array(x)
    axis = _axis(axis, x.ndim, "unstack")
    if num is not None and num != x.shape[axis]:
        raise ValueError(f"ops.unstack: num={num} does not match axis {axis} of shape {tuple(x.shape)}")
    return [xp(x).take(x, i, axis=axis) for i in range(x.shape[axis])]


@unstack.defbackward
def _(g, out, x, num=None, axis=0):
    x = _array(x)
    return _cast_like(xp(*g).stack(g, axis=_axis(axis, x.ndim, "unstack")), x)


# ================================================================ copying and reordering
@operation(differentiable=("x",))
def tile(x, repeats):
    """``x`` repeated ``repeats[i]`` times along axis i (NumPy's ``tile``).

    Backward: view ``g`` as ``(r0, n0, r1, n1, ...)`` (copy index, element index per axis) and sum
    over the copy indices: each element receives the gradients of all its copies.

    Args:
        x: Input tensor.
        repeats: An int or one int per axis (missing axes count as 1 on the left).

    Returns:
        The tiled tensor.

    Example:

    >>> tile(np.array([1, 2]), 2)
    array([1, 2, 1, 2])
    """
    x = _array(x)
    return xp(x).tile(x, repeats)


@tile.defbackward
def _(g, out, x, repeats):
    x = _array(x)
    reps = (repeats,) if isinstance(repeats, (int, np.integer)) else tuple(repeats)
    ndim = max(x.ndim, len(reps))
    reps = (1,) * (ndim - len(reps)) + tuple(int(r) for r in reps)
    shape = (1,) * (ndim - x.ndim) + tuple(x.shape)
    interleaved = [n for pair in zip(reps, shape) for n in pair]
    return g.reshape(interleaved).sum(axis=tuple(range(0, 2 * ndim, 2))).reshape(x.shape)


@operation(differentiable=("x",))
def repeat(x, repeats, axis=None):
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened ``x`` when None).

    Backward: each element's gradient is the sum over its copies: ``np.add.at(dx, source, g)`` with
    ``source = repeat(arange(n), repeats)``, the element each output position copies.

    Args:
        x: Input tensor.
        repeats: An int, or one int per element along ``axis``.
        axis: The axis to repeat along, or None.

    Returns:
        The tensor with repeated elements.

    Example:

    >>> repeat(np.array([[1, 2], [3, 4]]), [1, 2], axis=0)
    array([[1, 2],
           [3, 4],
           [3, 4]])
    """
    x = _array(x)
    module = xp(x)
    if axis is None:
        return module.repeat(x.reshape(-1), _repeats(repeats, module))
    return module.repeat(x, _repeats(repeats, module), axis=_axis(axis, x.ndim, "repeat"))


def _repeats(repeats, module):
    return int(repeats) if isinstance(repeats, (int, np.integer)) else module.asarray(_array(repeats))


@repeat.defbackward
def _(g, out, x, repeats, axis=None):
    module = xp(g)
    flat = axis is None
    axis = 0 if flat else _axis(axis, x.ndim, "repeat")
    length = x.size if flat else x.shape[axis]
    source = module.repeat(module.arange(length), _repeats(repeats, module))
    moved = module.moveaxis(g, axis, 0)
    grad = module.zeros((length,) + moved.shape[1:], dtype=g.dtype)
    _scatter_add(grad, source, moved)
    return grad.reshape(x.shape) if flat else module.moveaxis(grad, 0, axis)


@operation(differentiable=("x",))
def flip(x, axis=None):
    """``x`` with the order of elements reversed along ``axis`` (every axis when None).

    Backward: flip ``g`` the same way (a flip is its own inverse).

    Args:
        x: Input tensor.
        axis: An int, a tuple of ints, or None.

    Returns:
        The flipped tensor.

    Example:

    >>> flip(np.array([1, 2, 3]))
    array([3, 2, 1])
    """
    x = _array(x)
    return xp(x).flip(x, axis=axis)


@flip.defbackward
def _(g, out, x, axis=None):
    return xp(g).flip(g, axis=axis)


@operation(differentiable=("x",))
def fliplr(x):
    """``x`` flipped along axis 1 (left/right); ``x`` must be at least 2-D.

    Backward: flip ``g`` along axis 1.

    Args:
        x: Input tensor.

    Returns:
        The flipped tensor.

    Example:

    >>> fliplr(np.array([[1, 2], [3, 4]]))
    array([[2, 1],
           [4, 3]])
    """
    return xp(x).flip(_check_min_ndim(_array(x), 2, "fliplr"), axis=1)


@fliplr.defbackward
def _(g, out, x):
    return xp(g).flip(g, axis=1)


@operation(differentiable=("x",))
def flipud(x):
    """``x`` flipped along axis 0 (up/down).

    Backward: flip ``g`` along axis 0.

    Args:
        x: Input tensor (at least 1-D).

    Returns:
        The flipped tensor.

    Example:

    >>> flipud(np.array([[1, 2], [3, 4]]))
    array([[3, 4],
           [1, 2]])
    """
    return xp(x).flip(_check_min_ndim(_array(x), 1, "flipud"), axis=0)


@flipud.defbackward
def _(g, out, x):
    return xp(g).flip(g, axis=0)


@operation(differentiable=("x",))
def roll(x, shift, axis=None):
    """``x`` rotated by ``shift`` positions along ``axis`` (of the flattened ``x`` when None).

    Backward: roll ``g`` back by ``-shift``.

    Args:
        x: Input tensor.
        shift: An int, or one int per axis in ``axis``.
        axis: An int, a tuple of ints, or None.

    Returns:
        The rolled tensor.

    Example:

    >>> roll(np.array([1, 2, 3, 4]), 1)
    array([4, 1, 2, 3])
    """
    x = _array(x)
    return xp(x).roll(x, shift, axis=axis)


@roll.defbackward
def _(g, out, x, shift, axis=None):
    back = -int(shift) if isinstance(shift, (int, np.integer)) else tuple(-int(s) for s in shift)
    return xp(g).roll(g, back, axis=axis)


@operation(differentiable=("array",))
def rot90(array, k=1, axes=(0, 1)):
    """``array`` rotated by ``k`` quarter turns in the plane of ``axes`` (from the first axis towards
    the second).

    Backward: rotate ``g`` back, ``k`` quarter turns the other way.

    Args:
        array: Input tensor (at least 2-D).
        k: The number of quarter turns.
        axes: The two axes of the plane.

    Returns:
        The rotated tensor.

    Example:

    >>> rot90(np.array([[1, 2], [3, 4]]))
    array([[2, 4],
           [1, 3]])
    """
    array = _check_min_ndim(_array(array), 2, "rot90")
    axes = _axes(axes, array.ndim, "rot90")
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError(f"ops.rot90: axes must be two different axes, got {axes}")
    return xp(array).rot90(array, int(k), axes)


@rot90.defbackward
def _(g, out, array, k=1, axes=(0, 1)):
    return xp(g).rot90(g, -int(k), _axes(axes, g.ndim, "rot90"))


# Modes that only copy elements of x (so the backward can route gradients back by index).
_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pad_width(pad_width, ndim):
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"ops.pad: pad widths must not be negative, got {np.asarray(pad_width).tolist()}")
    return [tuple(int(n) for n in pair) for pair in widths]


@operation(differentiable=("x",))
def pad(x, pad_width, mode="constant", constant_values=None):
    """``x`` padded with ``pad_width[i] = (before, after)`` elements on each side of axis i.

    Modes (NumPy's meanings): ``"constant"`` (``constant_values``, default 0), ``"edge"`` (repeat
    the border), ``"reflect"`` (mirror without the border: 2 1 | 0 1 2 3 | 2 1), ``"symmetric"``
    (mirror with it: 1 0 | 0 1 2 3 | 3 2), ``"wrap"`` (periodic).

    Backward: for ``"constant"`` the padding is new numbers, so ``dx`` is the centre of ``g``.  The
    other modes copy elements of ``x`` into the border, so ``dx`` also collects the border's
    gradients: pad an array of *element numbers* ``arange(x.size)`` the same way, and it says which
    element each output position copies; then ``dx = bincount(numbers, weights=g)``.

    Args:
        x: Input tensor.
        pad_width: ``((before, after), ...)`` per axis, or one pair / one int for every axis.
        mode: One of ``"constant"``, ``"edge"``, ``"reflect"``, ``"symmetric"``, ``"wrap"``.
        constant_values: The padding value for ``"constant"`` (only allowed with that mode).

    Returns:
        The padded tensor (``x``'s dtype).

    Raises:
        ValueError: an unknown mode, or ``constant_values`` with another mode.

    Example:

    >>> pad(np.array([1, 2, 3]), (1, 2), mode="reflect")
    array([2, 1, 2, 3, 2, 1])
    """
    x = _array(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"ops.pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if constant_values is not None and mode != "constant":
        raise ValueError(f"ops.pad: constant_values can only be given with mode='constant', got mode={mode!r}")
    widths = _pad_width(pad_width, x.ndim)
    if mode == "constant":
        return xp(x).pad(x, widths, mode="constant", constant_values=0 if constant_values is None else constant_values)
    return xp(x).pad(x, widths, mode=mode)


@pad.defbackward
def _(g, out, x, pad_width, mode="constant", constant_values=None):
    module = xp(g)
    widths = _pad_width(pad_width, x.ndim)
    if mode == "constant":
        return g[tuple(builtins.slice(before, n - after) for (before, after), n in zip(widths, g.shape))]
    numbers = module.pad(module.arange(x.size).reshape(x.shape), widths, mode=mode)
    grad = module.bincount(numbers.reshape(-1), weights=g.reshape(-1), minlength=x.size)
    return grad.astype(g.dtype).reshape(x.shape)


# ================================================================ choosing
@operation(differentiable=("x1", "x2"))
def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` is true, else ``x2`` (broadcast together); with neither given, the
    indices of the true elements (like ``nonzero``).

    Backward: ``g`` flows to the operand that was chosen: ``dx1 = g * condition``,
    ``dx2 = g * (not condition)``, each summed to its operand's shape.

    Args:
        condition: Boolean tensor (other dtypes: non-zero is true).
        x1: Values where ``condition`` is true.
        x2: Values where it is false.

    Returns:
        The chosen values (``x1``'s and ``x2``'s dtypes promoted), or a tuple of index arrays.

    Raises:
        ValueError: only one of ``x1`` and ``x2`` given.

    Example:

    >>> where(np.array([True, False, True]), np.array([1.0, 2.0, 3.0]), 0.0)
    array([1., 0., 3.])
    """
    condition = _array(condition)
    module = xp(condition, x1, x2)
    if x1 is None and x2 is None:
        return tuple(i.astype(np.int32) for i in module.nonzero(module.asarray(condition)))
    if x1 is None or x2 is None:
        raise ValueError("ops.where: give both x1 and x2, or neither (then it returns the indices of true "
                         f"elements); got x1={'None' if x1 is None else 'a tensor'}, "
                         f"x2={'None' if x2 is None else 'a tensor'}")
    a, b = _scalar_or_array(x1, module), _scalar_or_array(x2, module)
    dtype = _result_dtype(a, b)
    return module.where(module.asarray(condition).astype(bool), module.asarray(a, dtype=dtype),
                        module.asarray(b, dtype=dtype))


@where.defbackward
def _(g, out, condition, x1=None, x2=None):
    module = xp(g)
    chosen = module.asarray(_array(condition)).astype(bool)
    zero = module.zeros((), dtype=g.dtype)
    d1 = unbroadcast(module.where(chosen, g, zero), _array(x1))
    d2 = unbroadcast(module.where(chosen, zero, g), _array(x2))
    return _cast_like(d1, x1), _cast_like(d2, x2)


@operation(differentiable=("choicelist", "default"))
def select(condlist, choicelist, default=0):
    """Per element, the value from the first choice whose condition holds (``default`` if none does).

    Backward: ``g`` flows to the choice that was picked at each position:
    ``d choice_i = g * (cond_i and no earlier cond)``, ``d default = g * (no cond)``.

    Args:
        condlist: A list of boolean tensors.
        choicelist: A list of tensors (one per condition), broadcastable together.
        default: The value where no condition holds.

    Returns:
        The selected values.

    Example:

    >>> x = np.array([-2.0, 0.0, 3.0])
    >>> select([x < 0, x > 0], [-x, x * 10], default=7.0)
    array([ 2.,  7., 30.])
    """
    if len(condlist) != len(choicelist):
        raise ValueError(f"ops.select: condlist and choicelist must have the same length, got {len(condlist)} "
                         f"and {len(choicelist)}")
    choices, module = _as_arrays(list(choicelist), "select")
    conditions = [module.asarray(_array(c)).astype(bool) for c in condlist]
    default = _scalar_or_array(default, module)
    dtype = _result_dtype(*choices, default)
    return module.select(conditions, [c.astype(dtype) for c in choices], module.asarray(default, dtype=dtype))


@select.defbackward
def _(g, out, condlist, choicelist, default=0):
    module = xp(g)
    taken = module.zeros(g.shape, dtype=bool)  # positions already claimed by an earlier condition
    grads = []
    for condition, choice in zip(condlist, choicelist):
        picked = module.broadcast_to(module.asarray(_array(condition)).astype(bool), g.shape) & ~taken
        grads.append(_cast_like(unbroadcast(g * picked, _array(choice)), _array(choice)))
        taken = taken | picked
    return grads, _cast_like(unbroadcast(g * ~taken, _array(default)), default)


# ================================================================ segment reductions
def _segments(data, segment_ids, num_segments, op):
    """The segment ids (as integers of data's module) and the number of segments."""
    data = _array(data)
    module = xp(data)
    ids = _integer_indices(segment_ids, module, op)
    if tuple(data.shape[:ids.ndim]) != tuple(ids.shape):
        raise ValueError(f"ops.{op}: segment_ids of shape {tuple(ids.shape)} must match the leading axes of data "
                         f"(shape {tuple(data.shape)})")
    if num_segments is None:
        num_segments = int(ids.max()) + 1 if ids.size else 0
    # Rows with an id outside [0, num_segments) belong to no segment; they are dropped.
    keep = (ids >= 0) & (ids < num_segments)
    return data, ids, keep, int(num_segments), module


def _segment_reduce(op, ufunc_name, initial, data, segment_ids, num_segments):
    """out[s] = reduce(data[i] for every i with segment_ids[i] == s), starting from ``initial``."""
    data, ids, keep, count, module = _segments(data, segment_ids, num_segments, op)
    dtype = data.dtype
    if initial in (np.inf, -np.inf) and dtype.kind in "iub":
        start = np.iinfo(dtype).max if initial > 0 else np.iinfo(dtype).min
    else:
        start = initial
    out = module.full((count,) + data.shape[ids.ndim:], start, dtype=dtype)
    return _scatter_ufunc(ufunc_name, out, ids[keep], data[keep])


@operation(differentiable=("data",))
def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    """Sum of the rows of ``data`` in each segment: ``out[s] = sum(data[i] for i with segment_ids[i] == s)``.

    Backward: each row was added into its own segment, so it receives that segment's gradient:
    ``d data[i] = g[segment_ids[i]]`` (zero for ids outside ``[0, num_segments)``).

    Args:
        data: Input tensor.
        segment_ids: Integer tensor matching the leading axes of ``data``.
        num_segments: The number of segments (default: ``max(segment_ids) + 1``).
        sorted: Whether ``segment_ids`` is sorted (accepted for Keras compatibility; not needed here).

    Returns:
        A tensor of shape ``(num_segments,) + data.shape[segment_ids.ndim:]``.

    Example:

    >>> segment_sum(np.array([1.0, 2.0, 3.0]), np.array([0, 0, 2]))
    array([3., 0., 3.])
    """
    return _segment_reduce("segment_sum", "add", 0, data, segment_ids, num_segments)


def _rows_of_segments(g, data, ids, keep):
    """``g[segment_ids]`` broadcast to ``data``'s shape, zero where a row belongs to no segment."""
    module = xp(g)
    picked = g[module.where(keep, ids, 0)]
    return module.where(keep.reshape(keep.shape + (1,) * (data.ndim - ids.ndim)), picked, 0).astype(g.dtype)


@segment_sum.defbackward
def _(g, out, data, segment_ids, num_segments=None, sorted=False):
    data, ids, keep, _, _ = _segments(data, segment_ids, num_segments, "segment_sum")
    return _rows_of_segments(g, data, ids, keep)


def _segment_extreme_backward(op):
    """max / min: the gradient of a segment goes to the rows that attain its extreme (split equally
    among ties, as the subgradient that treats them symmetrically)."""
    def backward(g, out, data, segment_ids, num_segments=None, sorted=False):
        data, ids, keep, count, module = _segments(data, segment_ids, num_segments, op)
        winner = (data == _rows_of_segments(out, data, ids, keep)) & keep.reshape(
            keep.shape + (1,) * (data.ndim - ids.ndim))
        ties = module.zeros(out.shape, dtype=g.dtype)
        _scatter_add(ties, ids[keep], winner[keep].astype(g.dtype))
        share = g / module.maximum(ties, 1)
        return _rows_of_segments(share, data, ids, keep) * winner
    return backward


@operation(differentiable=("data",))
def segment_max(data, segment_ids, num_segments=None, sorted=False):
    """Maximum of the rows of ``data`` in each segment (``-inf`` for an empty float segment, the dtype's
    minimum for integers).

    Backward: a segment's gradient goes to the row(s) holding its maximum, split equally among ties.

    Args:
        data: Input tensor.
        segment_ids: Integer tensor matching the leading axes of ``data``.
        num_segments: The number of segments (default: ``max(segment_ids) + 1``).
        sorted: Whether ``segment_ids`` is sorted (accepted for Keras compatibility; not needed here).

    Returns:
        A tensor of shape ``(num_segments,) + data.shape[segment_ids.ndim:]``.

    Example:

    >>> segment_max(np.array([1.0, 5.0, 3.0]), np.array([0, 0, 1]))
    array([5., 3.])
    """
    return _segment_reduce("segment_max", "maximum", -np.inf, data, segment_ids, num_segments)
segment_max.defbackward(_segment_extreme_backward("segment_max"))

@operation(differentiable=("data",))
def segment_min(data, segment_ids, num_segments=None, sorted=False):
    """Minimum of the rows of ``data`` in each segment (``inf`` for an empty float segment).

    Backward: a segment's gradient goes to the row(s) holding its minimum, split equally among ties.

    Args:
        data: Input tensor.
        segment_ids: Integer tensor matching the leading axes of ``data``.
        num_segments: The number of segments (default: ``max(segment_ids) + 1``).
        sorted: Whether ``segment_ids`` is sorted (accepted for Keras compatibility; not needed here).

    Returns:
        A tensor of shape ``(num_segments,) + data.shape[segment_ids.ndim:]``.

    Example:

    >>> segment_min(np.array([1.0, 5.0, 3.0]), np.array([0, 0, 1]))
    array([1., 3.])
    """
    return _segment_reduce("segment_min", "minimum", np.inf, data, segment_ids, num_segments)
segment_min.defbackward(_segment_extreme_backward("segment_min"))

@operation(differentiable=("data",))
def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    """Product of the rows of ``data`` in each segment (1 for an empty segment).

    Backward: d out[s] / d data[i] is the product of the *other* rows of the segment, computed without
    dividing by data[i] (which may be zero): see ``_product_of_others``.

    Args:
        data: Input tensor.
        segment_ids: Integer tensor matching the leading axes of ``data``.
        num_segments: The number of segments (default: ``max(segment_ids) + 1``).
        sorted: Whether ``segment_ids`` is sorted (accepted for Keras compatibility; not needed here).

    Returns:
        A tensor of shape ``(num_segments,) + data.shape[segment_ids.ndim:]``.

    Example:

    >>> segment_prod(np.array([2.0, 5.0, 3.0]), np.array([0, 0, 1]))
    array([10.,  3.])
    """
    return _segment_reduce("segment_prod", "multiply", 1, data, segment_ids, num_segments)


@segment_prod.defbackward
def _(g, out, data, segment_ids, num_segments=None, sorted=False):
    data, ids, keep, count, module = _segments(data, segment_ids, num_segments, "segment_prod")
    rows = data[keep]
    others = _product_of_others(rows, (ids[keep],), (count,) + data.shape[ids.ndim:], module)
    grad = module.zeros(data.shape, dtype=g.dtype)
    grad[keep] = g[ids[keep]] * others
    return grad
