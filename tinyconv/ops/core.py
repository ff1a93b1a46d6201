"""Core ops: conversion and casting, stopping gradients, asking a tensor's shape, control flow, and
``custom_gradient``.

* **Conversion.** tinyconv's tensors are NumPy arrays (CuPy arrays on the GPU device).
  ``convert_to_tensor`` gives Python values Keras's dtypes (int -> int32, float -> float32);
  ``cast`` and ``convert_to_tensor(x, dtype)`` are differentiable between float types: the backward
  casts g back, dL/dx = cast(g, x.dtype).
* **Stopping gradients.** ``stop_gradient`` returns the bare array: it is never recorded, so for the
  tape the result is a constant.
* **Queries.** ``shape``, ``ndim``, ``size``, ``dtype`` and ``is_tensor`` read a tensor's description
  and compute nothing; they are plain functions, not ops (they also answer for symbolic tensors).
* **Control flow** (``cond``, ``switch``, ``fori_loop``, ``while_loop``, ``scan``, ``map``, ...) runs
  eagerly as Python control flow: the ops the branches and bodies call are recorded one by one, so
  the tape differentiates through the path actually taken, as PyTorch does.
* **custom_gradient** lets the user write the backward of a function: the function runs on bare
  arrays and the tape records *one* step whose backward is the user's.
"""
import builtins

import numpy as np

from .. import devices, graph
from ..variables import Variable
from .operation import _on_tape, operation, xp
from .shaping import _array, moveaxis, stack
from .tape import TapedTensor, active_tape, value_of

__all__ = [
    # conversion and casting
    "convert_to_tensor", "convert_to_numpy", "cast", "saturate_cast", "copy", "view",
    # stopping gradients and custom gradients
    "stop_gradient", "custom_gradient",
    # queries
    "shape", "ndim", "size", "dtype", "is_tensor", "unravel_index",
    # control flow
    "cond", "switch", "fori_loop", "while_loop", "scan", "associative_scan", "map", "vectorized_map",
    "vectorize",
]


# ================================================================ helpers
def _cast_gradient(g, x):
    """dL/dx = g in x's dtype for a float x; None for integer and boolean x (they get no gradient)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or np.dtype(dtype).kind not in "fc":
        return None
    return g if g.dtype == dtype else g.astype(dtype)


def _refuse_symbolic(op, *values):
    for value in values:
        if isinstance(value, graph.SymbolicTensor):
            raise TypeError(f"ops.{op} runs Python control flow eagerly and cannot take a symbolic tensor of the "
                            f"functional API ({value!r}); call it inside a layer's call() instead")


# ================================================================ conversion and casting
@operation(differentiable=("x",))
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """y = x as a tensor (an array on the active device);  dL/dx = g (cast back to x's dtype).

    Python ints become int32 and floats float32 (Keras's dtypes); arrays keep their dtype unless
    ``dtype`` is given.

    Args:
        x: A tensor, array, Python number or (nested) list.
        dtype: The dtype to convert to (default: as described above).
        sparse: Only None or False: tinyconv has no sparse tensors.
        ragged: Only None or False: tinyconv has no ragged tensors.

    Returns:
        The array.

    Raises:
        ValueError: for ``sparse=True`` or ``ragged=True``.

    Example:

    >>> convert_to_tensor([1, 2])
    array([1, 2], dtype=int32)
    >>> convert_to_tensor(np.array([1, 2]), dtype="float32")
    array([1., 2.], dtype=float32)
    """
    for name, flag in (("sparse", sparse), ("ragged", ragged)):
        if flag:
            raise ValueError(f"ops.convert_to_tensor: {name}=True is not supported (tinyconv has only dense "
                             f"tensors), got {name}={flag!r}")
    array = devices.to_device(_array(x))
    return array if dtype is None else array.astype(np.dtype(dtype), copy=False)


@convert_to_tensor.defbackward
def _(g, out, x, dtype, sparse, ragged):
    return _cast_gradient(g, _array(x))


@operation()
def convert_to_numpy(x):
    """y = x as a NumPy array in host memory (a copy off a GPU; not recorded).

    Args:
        x: A tensor.

    Returns:
        A NumPy array.

    Example:

    >>> convert_to_numpy([1.5, 2.5])
    array([1.5, 2.5], dtype=float32)
    """
    return devices.to_host(_array(x))


@operation(differentiable=("x",))
def cast(x, dtype):
    """y = x in ``dtype``;  dL/dx = g cast back to x's dtype (float to float; no gradient for integers).

    Args:
        x: Input tensor.
        dtype: The target dtype (a name such as ``"float32"`` or a NumPy dtype).

    Returns:
        The converted tensor (floats to integers truncate towards zero).

    Example:

    >>> cast(np.array([1.7, -1.7]), "int32")
    array([ 1, -1], dtype=int32)
    """
    x = _array(x)
    return x.astype(np.dtype(dtype))


@cast.defbackward
def _(g, out, x, dtype):
    if out.dtype.kind not in "fc":
        return None  # through an integer result no gradient flows
    return _cast_gradient(g, _array(x))


@operation(differentiable=("x",))
def saturate_cast(x, dtype):
    """y = cast(clip(x, lowest, highest of ``dtype``), dtype);  dL/dx = g where x was in range, else 0.

    A plain cast of 300.0 to uint8 wraps around (to 44); a saturating cast stops at 255.

    Args:
        x: Input tensor.
        dtype: The target dtype.

    Returns:
        The converted tensor, clipped to the target's range.

    Example:

    >>> saturate_cast(np.array([300.0, -5.0, 7.0]), "uint8")
    array([255,   0,   7], dtype=uint8)
    """
    x = _array(x)
    target = np.dtype(dtype)
    low, high = _range_of(target, x.dtype)
    return xp(x).clip(x, low, high).astype(target)


def _range_of(target, source):
    """The lowest and highest numbers of ``target`` that ``source`` can hold, as ``source`` numbers."""
    info = np.iinfo(target) if target.kind in "iu" else (np.finfo(target) if target.kind == "f" else None)
    if info is None or target == bool:
        return None, None
    low, high = info.min, info.max
    if source.kind == "f" and target.kind in "iu":
        # 2^31 - 1 rounds up to 2^31 in float32 (out of int32's range): step down to the float below.
        high_float = np.asarray(high, dtype=source)
        if int(high_float) > high:
            high_float = np.nextafter(high_float, np.asarray(0, dtype=source))
        high, low = high_float, np.asarray(low, dtype=source)
    elif source.kind in "iu" and target.kind in "iu":
        source_info = np.iinfo(source)
        low, high = builtins.max(low, source_info.min), builtins.min(high, source_info.max)
    return low, high


@saturate_cast.defbackward
def _(g, out, x, dtype):
    x = _array(x)
    if out.dtype.kind not in "fc":
        return None
    low, high = _range_of(np.dtype(dtype), x.dtype)
    module = xp(g)
    inside = module.ones(x.shape, dtype=bool) if low is None else (x >= low) & (x <= high)
    return _cast_gradient(g * inside, x)


@operation(differentiable=("x",))
def copy(x):
    """y = a copy of x;  dL/dx = g.

    Args:
        x: Input tensor.

    Returns:
        A new array with the same values.

    Example:

    >>> copy(np.array([1.0, 2.0]))
    array([1., 2.])
    """
    x = _array(x)
    return x.copy()


@copy.defbackward
def _(g, out, x):
    return _cast_gradient(g, _array(x))


@operation()
def view(x, dtype=None):
    """y = x's bytes read as ``dtype`` (no conversion; not differentiable).

    Args:
        x: Input tensor.
        dtype: The dtype to read the bytes as (None: x's own).

    Returns:
        A view of the same memory.

    Example:

    >>> view(np.array([1.0], dtype="float32"), "int32")
    array([1065353216], dtype=int32)
    """
    x = _array(x)
    return x.view(x.dtype if dtype is None else np.dtype(dtype))


# ================================================================ stopping gradients and custom gradients
@operation()
def stop_gradient(variable):
    """y = x, but the tape sees a constant: dL/dx = 0 through this path.

    It is an op with no differentiable argument, so it is never recorded: its result is the bare
    array, and nothing computed from it leads back to ``variable``.

    Args:
        variable: A tensor or variable.

    Returns:
        The same values, as a bare array.

    Example:

    >>> stop_gradient(np.array([1.0, 2.0]))
    array([1., 2.])
    """
    return _array(variable)


def custom_gradient(f):
    """Decorator: a function that returns ``(y, grad_fn)`` gets ``grad_fn`` as its backward.

    ``grad_fn(upstream)`` receives dL/dy and returns dL/d(each argument of f) - one value for one
    argument, a tuple for several.  On a tape the call is recorded as *one* step (the ops inside
    ``f`` run on bare arrays and are not recorded), so ``grad_fn`` replaces the chain rule through
    ``f``: useful for numerically stable gradients, or to see how a backward is plugged in.

    Args:
        f: A function of tensors returning ``(y, grad_fn)``.

    Returns:
        The decorated function; it returns ``y``.

    Example:

    >>> from tinyconv import ops
    >>> @custom_gradient
    ... def log1pexp(x):
    ...     e = ops.exp(x)
    ...     def grad(upstream):
    ...         return ops.multiply(upstream, 1.0 - 1.0 / ops.add(1.0, e))
    ...     return ops.log(1.0 + e), grad
    >>> with ops.Tape() as tape:
    ...     x = tape.watch(np.array([100.0]))
    ...     y = log1pexp(x)
    >>> tape.gradient(y, [x])[0]          # exactly 1: the naive gradient e / (1 + e) would be inf / inf
    array([1.])
    """
    def wrapped(*args):
        _refuse_symbolic("custom_gradient", *args)
        tape = active_tape()
        bare = [value_of(a) for a in args]
        result = f(*bare)
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and callable(result[1])):
            raise TypeError(f"ops.custom_gradient: {getattr(f, '__name__', f)!r} must return (y, grad_fn), got "
                            f"{type(result).__name__}")
        y, grad_fn = result
        y = value_of(y)
        inputs = [_on_tape(tape, a) for a in args] if tape is not None else []
        if not builtins.any(t is not None for t in inputs):
            return y

        def backward(upstream):
            grads = grad_fn(upstream[0])
            grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
            if len(grads) != len(args):
                raise ValueError(f"ops.custom_gradient: grad_fn of {getattr(f, '__name__', f)!r} returned "
                                 f"{len(grads)} gradients for {len(args)} arguments")
            return [None if gr is None else value_of(gr) for gr in grads]

        return tape.record(f"custom_gradient:{getattr(f, '__name__', 'f')}", inputs, y, backward)

    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = f.__doc__
    wrapped.__wrapped__ = f
    return wrapped


# ================================================================ queries (plain functions: they compute nothing)
def shape(x):
    """The shape of ``x`` as a tuple of ints (None for a symbolic tensor's unknown batch size).

    Args:
        x: A tensor, variable, symbolic tensor, number or list.

    Returns:
        A tuple.

    Example:

    >>> shape(np.zeros((2, 3)))
    (2, 3)
    """
    if hasattr(x, "shape"):
        return tuple(x.shape)
    return tuple(np.shape(x))


def ndim(x):
    """The number of axes of ``x``.

    Args:
        x: A tensor, variable, symbolic tensor, number or list.

    Returns:
        An int.

    Example:

    >>> ndim(np.zeros((2, 3)))
    2
    """
    return len(shape(x))


def size(x):
    """The number of elements of ``x``.

    Args:
        x: A tensor, variable, number or list (with a known shape).

    Returns:
        A 0-d int32 array, as Keras returns a tensor.

    Raises:
        ValueError: for a symbolic tensor whose batch size is unknown.

    Example:

    >>> size(np.zeros((2, 3)))
    array(6, dtype=int32)
    """
    dims = shape(x)
    if None in dims:
        raise ValueError(f"ops.size: the shape {dims} has an unknown dimension; size needs a concrete tensor")
    return np.asarray(int(np.prod(dims, dtype=np.int64)), dtype=np.int32)


def dtype(x):
    """The dtype of ``x`` as Keras names it (``"float32"``, ``"int32"``, ``"bool"``, ...).

    Args:
        x: A tensor, variable, symbolic tensor, number or list.

    Returns:
        A string.

    Example:

    >>> dtype(np.zeros(2, dtype="float32"))
    'float32'
    >>> dtype(3)
    'int32'
    """
    if hasattr(x, "dtype"):
        return np.dtype(x.dtype).name
    return _array(x).dtype.name


def is_tensor(x):
    """Whether ``x`` is one of tinyconv's tensors: a NumPy or CuPy array, a value being recorded on a
    tape, or a symbolic tensor of the functional API (not a Python number or list).

    (Keras's torch backend answers True only for torch tensors; tinyconv's tensors are NumPy arrays.)

    Args:
        x: Anything.

    Returns:
        A bool.

    Example:

    >>> is_tensor(np.zeros(2)), is_tensor([0.0, 0.0])
    (True, False)
    """
    return (isinstance(x, (np.ndarray, TapedTensor, graph.SymbolicTensor))
            or devices.is_device_array(x))


@operation()
def unravel_index(indices, shape):
    """The (row, column, ...) coordinates of flat ``indices`` into an array of ``shape`` (integers:
    not differentiable).

    Args:
        indices: Flat indices.
        shape: The array's shape.

    Returns:
        A tuple of int32 arrays, one per axis.

    Example:

    >>> unravel_index(np.array([5, 1]), (2, 3))
    (array([1, 0], dtype=int32), array([2, 1], dtype=int32))
    """
    indices = _array(indices)
    return tuple(xp(indices).asarray(i).astype(np.int32) for i in xp(indices).unravel_index(indices, tuple(shape)))


# ================================================================ control flow (eager Python)
def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()``: the branch taken is run (and recorded on a tape).

    Args:
        pred: A boolean (or a 0-d tensor).
        true_fn: A function of no arguments.
        false_fn: A function of no arguments.

    Returns:
        What the branch taken returns.

    Example:

    >>> cond(np.array(2.0) > 1, lambda: "big", lambda: "small")
    'big'
    """
    _refuse_symbolic("cond", pred)
    return true_fn() if bool(value_of(pred)) else false_fn()


def switch(index, branches, *operands):
    """``branches[index](*operands)``, with ``index`` clipped to the valid range (as Keras does).

    Args:
        index: An int (or a 0-d integer tensor).
        branches: A list of functions.
        *operands: The arguments for the branch.

    Returns:
        What the chosen branch returns.

    Example:

    >>> switch(5, [lambda x: x + 1, lambda x: x * 10], 3)
    30
    """
    _refuse_symbolic("switch", index)
    if not branches:
        raise ValueError("ops.switch: branches must be a non-empty list of functions, got an empty one")
    chosen = builtins.min(builtins.max(int(value_of(index)), 0), len(branches) - 1)
    return branches[chosen](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for i in range(lower, upper); returns the last ``val``.

    Args:
        lower: The first i.
        upper: One past the last i.
        body_fun: A function ``(i, val) -> val``.
        init_val: The first ``val``.

    Returns:
        The final value.

    Example:

    >>> fori_loop(0, 4, lambda i, total: total + i, 0)
    6
    """
    value = init_val
    for i in range(int(value_of(lower)), int(value_of(upper))):
        value = body_fun(i, value)
    return value


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (at most ``maximum_iterations`` times).

    Args:
        cond: A function of the loop variables returning a boolean.
        body: A function of the loop variables returning new ones (same structure).
        loop_vars: A value, or a tuple or list of values.
        maximum_iterations: A bound on the number of iterations (None: none).

    Returns:
        The loop variables after the loop, with the structure of ``loop_vars``.

    Example:

    >>> while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2), (0, 1))
    (3, 8)
    """
    several = isinstance(loop_vars, (tuple, list))
    values = tuple(loop_vars) if several else (loop_vars,)
    count = 0
    while (maximum_iterations is None or count < maximum_iterations) and bool(value_of(cond(*values))):
        values = body(*values)
        values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
        count += 1
    if not several:
        return values[0]
    return type(loop_vars)(values)


def _stack_tree(items):
    """Stack a list of same-structure results (arrays, or tuples/lists/dicts of them, or None) along a
    new first axis with ``ops.stack``, so that the stacking is recorded on a tape too."""
    first = items[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {k: _stack_tree([item[k] for item in items]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack_tree([item[i] for item in items]) for i in range(len(first)))
    return stack(list(items), axis=0)


def _length(tree):
    if isinstance(tree, dict):
        return _length(next(iter(tree.values())))
    if isinstance(tree, (tuple, list)):
        return _length(tree[0])
    return shape(tree)[0]


def _index_tree(tree, i):
    if isinstance(tree, dict):
        return {k: _index_tree(v, i) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_index_tree(v, i) for v in tree)
    return tree[i]


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y_i = f(carry, xs[i])`` for each i; returns the last carry and the stacked y's.

    The loop runs in Python; on a tape each step's ops are recorded, so gradients flow back through
    every step (backpropagation through time, written out).

    Args:
        f: A function ``(carry, x) -> (carry, y)``.
        init: The first carry.
        xs: Tensors (or a tuple/list/dict of them) scanned along their first axis; None with ``length``.
        length: The number of steps when ``xs`` is None.
        reverse: Whether to scan from the last element to the first (the y's keep xs's order).
        unroll: Accepted for Keras's signature (an eager loop needs no unrolling).

    Returns:
        ``(final_carry, stacked_ys)``.

    Example:

    >>> carry, ys = scan(lambda c, x: (c + x, c * x), 0.0, np.array([1.0, 2.0, 3.0]))
    >>> float(carry), ys
    (6.0, array([0., 2., 9.]))
    """
    if xs is None and length is None:
        raise ValueError("ops.scan: give xs, or length when xs is None")
    n = _length(xs) if xs is not None else int(length)
    if xs is not None and length is not None and int(length) != n:
        raise ValueError(f"ops.scan: length={length} does not match the first axis of xs ({n})")
    carry, ys = init, [None] * n
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        carry, ys[i] = f(carry, None if xs is None else _index_tree(xs, i))
    return carry, (_stack_tree(ys) if n else None)


def associative_scan(f, elems, reverse=False, axis=0):
    """The running "sum" under ``f``: out_0 = elems_0, out_i = f(out_(i-1), elems_i) (a cumulative sum for
    ``f = add``, a running max for ``f = maximum``), computed in order along ``axis``.

    Args:
        f: An associative function of two slices (or tuples/lists/dicts of slices).
        elems: A tensor (or a tuple/list/dict of tensors with equal length along ``axis``).
        reverse: Whether to scan from the end.
        axis: The axis to scan along.

    Returns:
        The running results, with the structure and shapes of ``elems``.

    Example:

    >>> from tinyconv import ops
    >>> associative_scan(ops.add, np.array([1.0, 2.0, 3.0]))
    array([1., 3., 6.])
    """
    def move(tree, source, destination):
        if isinstance(tree, dict):
            return {k: move(v, source, destination) for k, v in tree.items()}
        if isinstance(tree, (tuple, list)):
            return type(tree)(move(v, source, destination) for v in tree)
        return moveaxis(tree, source, destination)

    leading = move(elems, axis, 0)
    n = _length(leading)
    order = range(n - 1, -1, -1) if reverse else range(n)
    outs, running = [None] * n, None
    for i in order:
        item = _index_tree(leading, i)
        running = item if running is None else f(running, item)
        outs[i] = running
    return move(_stack_tree(outs), 0, axis)


def map(f, xs):
    """``[f(x) for x in xs]`` along the first axis, stacked (``f`` may return a tuple/list/dict).

    Args:
        f: A function of one slice of ``xs``.
        xs: A tensor (or a tuple/list/dict of tensors) mapped along the first axis.

    Returns:
        The stacked results.

    Example:

    >>> map(lambda row: row * 2, np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[2., 4.],
           [6., 8.]])
    """
    n = _length(xs)
    return _stack_tree([f(_index_tree(xs, i)) for i in range(n)])


def vectorized_map(function, elements):
    """``function`` applied to each slice of ``elements`` along the first axis, results stacked (the same
    as ``map`` here: the ops run eagerly, one slice at a time).

    Args:
        function: A function of one slice.
        elements: A tensor (or a tuple/list/dict of tensors).

    Returns:
        The stacked results.

    Example:

    >>> vectorized_map(lambda row: row.sum(), np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([3., 7.])
    """
    return map(function, elements)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """A version of ``pyfunc`` that loops over array elements (or core sub-arrays given by ``signature``),
    as ``numpy.vectorize``; the calls run on bare arrays and are not recorded on a tape.

    Args:
        pyfunc: A function of scalars (or of core arrays described by ``signature``).
        excluded: Names or positions of arguments passed through unvectorized.
        signature: A generalized-ufunc signature such as ``"(n),(n)->()"``.

    Returns:
        The vectorized function.

    Example:

    >>> vectorize(lambda a, b: a + 2 * b)(np.array([1.0, 2.0]), 1.0)
    array([3., 4.])
    """
    vectorized = np.vectorize(pyfunc, excluded=excluded, signature=signature)

    def call(*args, **kwargs):
        bare = [devices.to_host(value_of(a)) if isinstance(a, (TapedTensor, Variable)) else a for a in args]
        return vectorized(*bare, **kwargs)

    call.__name__ = getattr(pyfunc, "__name__", "vectorized")
    call.__doc__ = pyfunc.__doc__
    return call
