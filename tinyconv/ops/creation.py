"""Creation ops: new tensors from a shape or a rule (``zeros``, ``arange``, ``eye``, ``linspace``, window
functions), and the ops that pick out or build triangles and diagonals (``tril``, ``diag``, ...).

A tensor made from a shape depends on no other tensor, so those ops have no gradient and are never
recorded.  The triangle and diagonal ops *copy* elements of their input, so their backward is the
shape-op rule: **g goes back to the position each element was copied from; positions that were
masked out get 0**.  ``tril``'s backward is ``tril`` of g; ``diagonal``'s puts g back on the diagonal of
zeros.  ``vander`` (powers of x) and ``meshgrid`` (x repeated along new axes) are differentiable too.

New tensors are made on the active device (NumPy arrays, or CuPy arrays on the GPU device); the
``*_like`` ops follow their input.  Keras's dtypes: float32 unless ``dtype`` is given (``arange`` of
ints is int32), ``*_like`` keep their input's dtype.
"""
import numpy as np

from .. import backend, devices
from .operation import operation, xp
from .shaping import _array

__all__ = [
    # from a shape
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "array",
    # ranges and grids
    "arange", "linspace", "logspace", "geomspace", "meshgrid",
    # identity, triangles and diagonals
    "eye", "identity", "tri", "tril", "triu", "diag", "diagflat", "diagonal", "vander",
    # window functions
    "bartlett", "blackman", "hamming", "hanning", "kaiser",
]


# ================================================================ helpers
def _module():
    """The array module of the active device (numpy, or cupy on the GPU)."""
    return devices.array_module()


def _dtype(dtype, default=None):
    """``dtype`` as a NumPy dtype; None gives ``default`` (Keras's default float when not given)."""
    if dtype is None:
        return np.dtype(default if default is not None else backend.floatx())
    return np.dtype(dtype)


def _shape(shape, op):
    """``shape`` as a tuple of non-negative ints (an int means a 1-D shape)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(int(n) for n in (shape.tolist() if hasattr(shape, "tolist") else shape))
    except (TypeError, ValueError):
        raise TypeError(f"ops.{op}: shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(n < 0 for n in dims):
        raise ValueError(f"ops.{op}: shape must not have negative sizes, got {dims}")
    return dims


def _grad(gradient, like):
    """The gradient in ``like``'s dtype; None for integer and boolean tensors (no gradient)."""
    dtype = getattr(like, "dtype", None)
    if dtype is None or np.dtype(dtype).kind not in "fc":
        return None
    return gradient if gradient.dtype == dtype else gradient.astype(dtype)


# ================================================================ from a shape (no gradient: they depend on no tensor)
@operation()
def zeros(shape, dtype=None):
    """y = a tensor of ``shape`` filled with 0.

    Args:
        shape: An int or a tuple of ints.
        dtype: The dtype (default float32).

    Returns:
        The tensor.

    Example:

    >>> zeros((2, 3))
    array([[0., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    return _module().zeros(_shape(shape, "zeros"), dtype=_dtype(dtype))


@operation()
def ones(shape, dtype=None):
    """y = a tensor of ``shape`` filled with 1.

    Args:
        shape: An int or a tuple of ints.
        dtype: The dtype (default float32).

    Returns:
        The tensor.

    Example:

    >>> ones(3, dtype="int32")
    array([1, 1, 1], dtype=int32)
    """
    return _module().ones(_shape(shape, "ones"), dtype=_dtype(dtype))


@operation()
def empty(shape, dtype=None):
    """y = a tensor of ``shape`` whose values are whatever was in memory (fill it before reading).

    Args:
        shape: An int or a tuple of ints.
        dtype: The dtype (default float32).

    Returns:
        The tensor.

    Example:

    >>> empty((2, 2)).shape
    (2, 2)
    """
    return _module().empty(_shape(shape, "empty"), dtype=_dtype(dtype))


@operation()
def full(shape, fill_value, dtype=None):
    """y = a tensor of ``shape`` filled with ``fill_value`` (a number, or a tensor broadcast to ``shape``).

    Args:
        shape: An int or a tuple of ints.
        fill_value: The value.
        dtype: The dtype (default float32, whatever the value's type, as in Keras).

    Returns:
        The tensor.

    Example:

    >>> full((2,), 7)
    array([7., 7.], dtype=float32)
    """
    module = _module()
    value = module.asarray(devices.to_device(_array(fill_value))).astype(_dtype(dtype))
    return module.broadcast_to(value, _shape(shape, "full")).copy()


@operation()
def zeros_like(x, dtype=None):
    """y = zeros of x's shape (and dtype, unless ``dtype`` is given).

    Args:
        x: A tensor.
        dtype: The dtype (default: x's).

    Returns:
        The tensor.

    Example:

    >>> zeros_like(np.array([1, 2], dtype="int32"))
    array([0, 0], dtype=int32)
    """
    x = _array(x)
    return xp(x).zeros(x.shape, dtype=_dtype(dtype, x.dtype))


@operation()
def ones_like(x, dtype=None):
    """y = ones of x's shape (and dtype, unless ``dtype`` is given).

    Args:
        x: A tensor.
        dtype: The dtype (default: x's).

    Returns:
        The tensor.

    Example:

    >>> ones_like(np.zeros((1, 2)), dtype="float32")
    array([[1., 1.]], dtype=float32)
    """
    x = _array(x)
    return xp(x).ones(x.shape, dtype=_dtype(dtype, x.dtype))


@operation()
def empty_like(x, dtype=None):
    """y = an uninitialised tensor of x's shape (and dtype, unless ``dtype`` is given).

    Args:
        x: A tensor.
        dtype: The dtype (default: x's).

    Returns:
        The tensor.

    Example:

    >>> empty_like(np.zeros((2, 3))).shape
    (2, 3)
    """
    x = _array(x)
    return xp(x).empty(x.shape, dtype=_dtype(dtype, x.dtype))


@operation()
def full_like(x, fill_value, dtype=None):
    """y = ``fill_value`` in x's shape (and dtype, unless ``dtype`` is given: 3.5 in an int32 tensor is 3).

    Args:
        x: A tensor.
        fill_value: The value (a number or a tensor broadcast to x's shape).
        dtype: The dtype (default: x's).

    Returns:
        The tensor.

    Example:

    >>> full_like(np.zeros(2), 0.5)
    array([0.5, 0.5])
    """
    x = _array(x)
    module = xp(x)
    value = module.asarray(_array(fill_value, module)).astype(_dtype(dtype, x.dtype))
    return module.broadcast_to(value, x.shape).copy()


@operation(differentiable=("x",))
def array(x, dtype=None):
    """y = a new tensor holding x's values (a copy);  dL/dx = g.

    Args:
        x: A tensor, number or (nested) list (Python ints become int32, floats float32).
        dtype: The dtype (default: x's).

    Returns:
        The tensor.

    Example:

    >>> array([[1, 2], [3, 4]])
    array([[1, 2],
           [3, 4]], dtype=int32)
    """
    value = devices.to_device(_array(x))
    return value.astype(_dtype(dtype, value.dtype), copy=True)


@array.defbackward
def _(g, out, x, dtype):
    return _grad(g, _array(x))


# ================================================================ ranges and grids (no gradient)
@operation()
def arange(start, stop=None, step=None, dtype=None):
    """y = start, start + step, ... (stopping before ``stop``), as Python's ``range`` for numbers.

    Args:
        start: The first value (the stop, from 0, when ``stop`` is None).
        stop: The end (excluded).
        step: The spacing (default 1).
        dtype: The dtype (default: int32 for integer arguments, float32 if any is a float).

    Returns:
        A 1-D tensor.

    Example:

    >>> arange(3)
    array([0, 1, 2], dtype=int32)
    >>> arange(0, 1, 0.25)
    array([0.  , 0.25, 0.5 , 0.75], dtype=float32)
    """
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    numbers = [np.asarray(v) for v in (start, stop, step)]
    if dtype is None:
        dtype = backend.floatx() if any(v.dtype.kind in "fc" for v in numbers) else "int32"
    if float(numbers[2]) == 0:
        raise ValueError("ops.arange: step must not be 0")
    return _module().arange(*(v.item() for v in numbers), dtype=np.dtype(dtype))


def _spaced(op, start, stop, num, endpoint, axis):
    """``num`` evenly spaced points from start to stop (arrays of starts and stops give a grid whose
    new axis is ``axis``), in float64 (the callers cast to the dtype asked for)."""
    module = _module()
    start = module.asarray(devices.to_device(np.asarray(start, dtype=np.float64)))
    stop = module.asarray(devices.to_device(np.asarray(stop, dtype=np.float64)))
    num = int(num)
    if num < 0:
        raise ValueError(f"ops.{op}: num must be >= 0, got {num}")
    points = module.linspace(start, stop, num, endpoint=endpoint, axis=axis)
    return points, start, stop


@operation()
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """y_i = start + i (stop - start) / (num - 1) for i < num (``num`` in place of ``num - 1`` without the
    endpoint).

    Args:
        start: The first value (a number or a tensor: one series per element).
        stop: The last value (included when ``endpoint``).
        num: How many values.
        endpoint: Whether ``stop`` is the last value.
        retstep: Whether to return the spacing too.
        dtype: The dtype (default float32; integer dtypes round down).
        axis: Where the new axis goes when start/stop are tensors.

    Returns:
        The values, and the spacing when ``retstep`` (a tuple).

    Example:

    >>> linspace(0, 1, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    points, start_, stop_ = _spaced("linspace", start, stop, num, endpoint, axis)
    dtype = _dtype(dtype)
    values = (xp(points).floor(points) if dtype.kind in "iu" else points).astype(dtype)
    if not retstep:
        return values
    divisions = (int(num) - 1) if endpoint else int(num)
    step = (stop_ - start_) / divisions if divisions > 0 else xp(points).asarray(np.nan)
    return values, step.astype(dtype if dtype.kind == "f" else backend.floatx())


@operation()
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """y_i = base ^ (linspace(start, stop, num)_i): values evenly spaced on a log scale.

    Args:
        start: ``base ** start`` is the first value.
        stop: ``base ** stop`` is the last value (when ``endpoint``).
        num: How many values.
        endpoint: Whether ``base ** stop`` is included.
        base: The base of the powers.
        dtype: The dtype (default float32).
        axis: Where the new axis goes when start/stop are tensors.

    Returns:
        The values.

    Example:

    >>> logspace(0, 3, 4)
    array([   1.,   10.,  100., 1000.], dtype=float32)
    """
    points, _, _ = _spaced("logspace", start, stop, num, endpoint, axis)
    return xp(points).power(float(base), points).astype(_dtype(dtype))


@operation()
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """y_i = start (stop / start)^(i / (num - 1)): a geometric progression from start to stop.

    Args:
        start: The first value (nonzero).
        stop: The last value (when ``endpoint``; same sign as ``start``).
        num: How many values.
        endpoint: Whether ``stop`` is included.
        dtype: The dtype (default float32).
        axis: Where the new axis goes when start/stop are tensors.

    Returns:
        The values.

    Raises:
        ValueError: if start or stop is 0.

    Example:

    >>> geomspace(1, 1000, 4)
    array([   1.,   10.,  100., 1000.], dtype=float32)
    """
    if np.any(np.asarray(start) == 0) or np.any(np.asarray(stop) == 0):
        raise ValueError(f"ops.geomspace: start and stop must be nonzero, got start={start!r}, stop={stop!r}")
    module = _module()
    start_ = module.asarray(devices.to_device(np.asarray(start, dtype=np.float64)))
    stop_ = module.asarray(devices.to_device(np.asarray(stop, dtype=np.float64)))
    return module.geomspace(start_, stop_, int(num), endpoint=endpoint, axis=axis).astype(_dtype(dtype))


@operation(differentiable=("x",), multi_output=True)
def meshgrid(*x, indexing="xy"):
    """Grids: output j repeats x_j along every other axis;  dL/dx_j = g_j summed over those axes.

    With ``indexing="xy"`` (Cartesian) the first two outputs have shape (len(x_1), len(x_0), ...);
    with ``"ij"`` (matrix) shape (len(x_0), len(x_1), ...).

    Args:
        *x: 1-D tensors.
        indexing: ``"xy"`` or ``"ij"``.

    Returns:
        A list of tensors, one per input.

    Example:

    >>> xs, ys = meshgrid(np.array([1, 2, 3]), np.array([10, 20]))
    >>> xs
    array([[1, 2, 3],
           [1, 2, 3]])
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"ops.meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrays = [_array(v) for v in x]
    module = xp(*arrays)
    return list(module.meshgrid(*[module.asarray(a) for a in arrays], indexing=indexing))


@meshgrid.defbackward
def _(g, out, x, indexing):
    grads = []
    for j, (gradient, value) in enumerate(zip(g, x)):
        value = _array(value)
        along = j
        if indexing == "xy" and len(x) > 1 and j < 2:
            along = 1 - j  # Cartesian indexing swaps the first two axes
        others = tuple(a for a in range(gradient.ndim) if a != along)
        grads.append(_grad(gradient.sum(axis=others).reshape(value.shape), value))
    return grads


# ================================================================ identity, triangles and diagonals
@operation()
def eye(N, M=None, k=0, dtype=None):
    """y_ij = 1 where j - i = k, else 0: the identity matrix (shifted to the k-th diagonal).

    Args:
        N: Number of rows.
        M: Number of columns (default N).
        k: The diagonal: 0 the main one, positive above, negative below.
        dtype: The dtype (default float32).

    Returns:
        An (N, M) tensor.

    Example:

    >>> eye(2, 3, k=1)
    array([[0., 1., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    return _module().eye(int(N), None if M is None else int(M), k=int(k), dtype=_dtype(dtype))


@operation()
def identity(n, dtype=None):
    """y = the n x n identity matrix.

    Args:
        n: Number of rows and columns.
        dtype: The dtype (default float32).

    Returns:
        An (n, n) tensor.

    Example:

    >>> identity(2)
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    """
    return _module().eye(int(n), dtype=_dtype(dtype))


@operation()
def tri(N, M=None, k=0, dtype=None):
    """y_ij = 1 where j - i <= k, else 0: ones on and below the k-th diagonal.

    Args:
        N: Number of rows.
        M: Number of columns (default N).
        k: The diagonal up to which the ones go.
        dtype: The dtype (default float32).

    Returns:
        An (N, M) tensor.

    Example:

    >>> tri(3)
    array([[1., 0., 0.],
           [1., 1., 0.],
           [1., 1., 1.]], dtype=float32)
    """
    return _module().tri(int(N), None if M is None else int(M), k=int(k), dtype=_dtype(dtype))


@operation(differentiable=("x",))
def tril(x, k=0):
    """y = x with the elements above the k-th diagonal set to 0 (of each matrix of a stack);
    dL/dx = tril(g, k): the kept elements pass g, the zeroed ones get 0.

    Args:
        x: A tensor of at least 2 dimensions (the last two are the matrix).
        k: The diagonal above which to zero.

    Returns:
        The lower triangle, in x's dtype.

    Example:

    >>> tril(np.arange(1.0, 10.0).reshape(3, 3))
    array([[1., 0., 0.],
           [4., 5., 0.],
           [7., 8., 9.]])
    """
    x = _array(x)
    return xp(x).tril(x, k=int(k))


@tril.defbackward
def _(g, out, x, k):
    return _grad(xp(g).tril(g, k=int(k)), _array(x))


@operation(differentiable=("x",))
def triu(x, k=0):
    """y = x with the elements below the k-th diagonal set to 0;  dL/dx = triu(g, k).

    Args:
        x: A tensor of at least 2 dimensions (the last two are the matrix).
        k: The diagonal below which to zero.

    Returns:
        The upper triangle, in x's dtype.

    Example:

    >>> triu(np.arange(1.0, 10.0).reshape(3, 3), k=1)
    array([[0., 2., 3.],
           [0., 0., 6.],
           [0., 0., 0.]])
    """
    x = _array(x)
    return xp(x).triu(x, k=int(k))


@triu.defbackward
def _(g, out, x, k):
    return _grad(xp(g).triu(g, k=int(k)), _array(x))


def _diagonal_positions(rows, columns, offset):
    """(row indices, column indices) of the ``offset`` diagonal of a rows x columns matrix."""
    start_row, start_column = (0, offset) if offset >= 0 else (-offset, 0)
    length = max(0, min(rows - start_row, columns - start_column))
    steps = np.arange(length)
    return start_row + steps, start_column + steps


@operation(differentiable=("x",))
def diagonal(x, offset=0, axis1=0, axis2=1):
    """y = the ``offset`` diagonal of the matrices spanned by axis1 and axis2 (as a last axis);
    dL/dx = zeros with g written back on that diagonal.

    Args:
        x: A tensor of at least 2 dimensions.
        offset: The diagonal: 0 the main one, positive above, negative below.
        axis1: The axis of the rows.
        axis2: The axis of the columns.

    Returns:
        The diagonals (the other axes first, the diagonal last).

    Example:

    >>> diagonal(np.arange(9.0).reshape(3, 3), offset=1)
    array([1., 5.])
    """
    x = _array(x)
    if x.ndim < 2:
        raise ValueError(f"ops.diagonal: x must have at least 2 dimensions, got shape {x.shape}")
    return xp(x).diagonal(x, offset=int(offset), axis1=axis1, axis2=axis2).copy()


@diagonal.defbackward
def _(g, out, x, offset, axis1, axis2):
    x = _array(x)
    module = xp(g)
    matrices = module.zeros(module.moveaxis(x, (axis1, axis2), (-2, -1)).shape, dtype=g.dtype)
    rows, columns = _diagonal_positions(matrices.shape[-2], matrices.shape[-1], int(offset))
    matrices[..., module.asarray(rows), module.asarray(columns)] = g
    return _grad(module.moveaxis(matrices, (-2, -1), (axis1, axis2)), x)


@operation(differentiable=("x",))
def diag(x, k=0):
    """For a vector: the matrix with x on its k-th diagonal; for a matrix: its k-th diagonal.
    The backward is the other direction: dL/dx = the k-th diagonal of g, or g put on a k-th diagonal.

    Args:
        x: A 1-D or 2-D tensor.
        k: The diagonal: 0 the main one, positive above, negative below.

    Returns:
        A 2-D tensor (from a vector) or a 1-D tensor (from a matrix).

    Example:

    >>> diag(np.array([1.0, 2.0]))
    array([[1., 0.],
           [0., 2.]])
    """
    x = _array(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"ops.diag: x must be 1-D or 2-D, got shape {x.shape}")
    return xp(x).diag(x, k=int(k))


@diag.defbackward
def _(g, out, x, k):
    x = _array(x)
    module = xp(g)
    if x.ndim == 1:
        return _grad(module.diagonal(g, offset=int(k)).copy(), x)   # the vector was written on that diagonal
    grad = module.zeros(x.shape, dtype=g.dtype)                     # the diagonal was read: write g back
    rows, columns = _diagonal_positions(x.shape[0], x.shape[1], int(k))
    grad[module.asarray(rows), module.asarray(columns)] = g
    return _grad(grad, x)


@operation(differentiable=("x",))
def diagflat(x, k=0):
    """y = the matrix with the flattened x on its k-th diagonal;  dL/dx = the k-th diagonal of g, in x's shape.

    Args:
        x: A tensor (flattened first).
        k: The diagonal.

    Returns:
        A 2-D tensor.

    Example:

    >>> diagflat(np.array([[1, 2]]), k=1)
    array([[0, 1, 0],
           [0, 0, 2],
           [0, 0, 0]])
    """
    x = _array(x)
    return xp(x).diagflat(x, k=int(k))


@diagflat.defbackward
def _(g, out, x, k):
    x = _array(x)
    return _grad(xp(g).diagonal(g, offset=int(k)).reshape(x.shape), x)


@operation(differentiable=("x",))
def vander(x, N=None, increasing=False):
    """y_ij = x_i ^ p_j with powers p = N-1, ..., 1, 0 (0, 1, ..., N-1 when ``increasing``);
    dL/dx_i = sum_j g_ij p_j x_i^(p_j - 1).

    Args:
        x: A 1-D tensor.
        N: Number of columns (default len(x)).
        increasing: Whether the powers increase from left to right.

    Returns:
        The (len(x), N) Vandermonde matrix.

    Example:

    >>> vander(np.array([1.0, 2.0, 3.0]))
    array([[1., 1., 1.],
           [4., 2., 1.],
           [9., 3., 1.]])
    """
    x = _array(x)
    if x.ndim != 1:
        raise ValueError(f"ops.vander: x must be 1-D, got shape {x.shape}")
    columns = len(x) if N is None else int(N)
    powers = xp(x).arange(columns)
    powers = powers if increasing else powers[::-1]
    return x[:, None] ** powers[None, :].astype(x.dtype)


@vander.defbackward
def _(g, out, x, N, increasing):
    x = _array(x)
    module = xp(g)
    columns = g.shape[1]
    powers = module.arange(columns, dtype=g.dtype)
    powers = powers if increasing else powers[::-1]
    lower = module.where(powers > 0, powers - 1, 0)  # x^(p - 1), with the p = 0 column giving 0 below
    return _grad(module.sum(g * powers * x[:, None] ** lower, axis=1), x)


# ================================================================ window functions (no gradient)
def _window_length(x, op):
    length = int(_array(x))
    if length < 0:
        raise ValueError(f"ops.{op}: the window length must be >= 0, got {length}")
    return length


@operation()
def bartlett(x):
    """y_n = 1 - |2n / (M - 1) - 1|: the triangular (Bartlett) window of length M = x.

    Args:
        x: The window length M.

    Returns:
        A float32 tensor of length M.

    Example:

    >>> bartlett(5)
    array([0. , 0.5, 1. , 0.5, 0. ], dtype=float32)
    """
    return _module().bartlett(_window_length(x, "bartlett")).astype(backend.floatx())


@operation()
def blackman(x):
    """y_n = 0.42 - 0.5 cos(2 pi n / (M - 1)) + 0.08 cos(4 pi n / (M - 1)): the Blackman window.

    Args:
        x: The window length M.

    Returns:
        A float32 tensor of length M.

    Example:

    >>> blackman(3).round(4)
    array([-0.,  1., -0.], dtype=float32)
    """
    return _module().blackman(_window_length(x, "blackman")).astype(backend.floatx())


@operation()
def hamming(x):
    """y_n = 0.54 - 0.46 cos(2 pi n / (M - 1)): the Hamming window.

    Args:
        x: The window length M.

    Returns:
        A float32 tensor of length M.

    Example:

    >>> hamming(3)
    array([0.08, 1.  , 0.08], dtype=float32)
    """
    return _module().hamming(_window_length(x, "hamming")).astype(backend.floatx())


@operation()
def hanning(x):
    """y_n = 0.5 - 0.5 cos(2 pi n / (M - 1)): the Hann window.

    Args:
        x: The window length M.

    Returns:
        A float32 tensor of length M.

    Example:

    >>> hanning(3)
    array([0., 1., 0.], dtype=float32)
    """
    return _module().hanning(_window_length(x, "hanning")).astype(backend.floatx())


@operation()
def kaiser(x, beta):
    """y_n = I0(beta sqrt(1 - (2n / (M - 1) - 1)^2)) / I0(beta): the Kaiser window.

    Args:
        x: The window length M.
        beta: The shape parameter (0: rectangular; larger: narrower).

    Returns:
        A float32 tensor of length M.

    Example:

    >>> kaiser(3, 0.0)
    array([1., 1., 1.], dtype=float32)
    """
    return _module().kaiser(_window_length(x, "kaiser"), float(beta)).astype(backend.floatx())
