"""Linear algebra ops: products (``matmul``, ``dot``, ``einsum``, ...) and ``keras.ops.linalg``.

Like Keras, ``tinyconv.ops.linalg`` is also a namespace of its own: ``ops.linalg.det(x)`` and
``ops.det(x)`` are the same op (``norm`` and ``jvp`` of ``keras.ops.linalg`` live with the
reductions and the core ops; ``ops.linalg.norm`` finds them there).

Every product's backward is again a product - the one rule behind all of them:

    C = A B   =>   dL/dA = g B^T,   dL/dB = A^T g          (g = dL/dC)

``dot``, ``tensordot``, ``inner`` and ``einsum`` are that rule with other axes contracted.  The matrix
functions (``inv``, ``det``, ``solve``, ``cholesky``, ...) have the textbook backward formulas of matrix
calculus (Giles, "An extended collection of matrix derivative results", 2008), each written in its
docstring.  All of them work on stacks of matrices (``(..., M, N)``).

Forward-only on purpose: ``eig`` (complex eigenvectors), ``svd``, ``qr`` and ``lu_factor`` (their
gradients are long and rarely needed in a CNN course) and the integer-valued ``matrix_rank``.  They are
declared with no differentiable argument: on a tape their results are constants, through which no
gradient flows (``NOT_DIFFERENTIABLE`` lists them).
"""
import string
from collections import Counter

import numpy as np

from .operation import operation, unbroadcast, xp
from .shaping import _array, _axis, _cast_like, _result_dtype

__all__ = [
    # products
    "matmul", "dot", "tensordot", "einsum", "inner", "outer", "vdot", "kron", "cross", "trace",
    # matrix functions (keras.ops.linalg, also at the top of keras.ops)
    "det", "inv", "solve", "solve_triangular", "lstsq", "pinv", "cholesky", "cholesky_inverse", "logdet",
    "slogdet", "eig", "eigh", "qr", "svd", "lu_factor", "matrix_rank",
]

# Forward-only by design (see the module docstring); the tests check that every other op has a backward.
NOT_DIFFERENTIABLE = ("eig", "qr", "svd", "lu_factor", "matrix_rank")


# ================================================================ helpers
def _T(a):
    """The transpose of each matrix of a stack: swap the last two axes."""
    return xp(a).swapaxes(a, -1, -2)


def _product_dtype(a, b):
    """Keras's promotion (``shape._result_dtype``: int32 with float32 is float32), except that
    int8 x int8 products accumulate in int32 (as Keras's matmul and einsum do, so that 100 * 100
    does not wrap around)."""
    if a.dtype == np.int8 and b.dtype == np.int8:
        return np.dtype(np.int32)
    return _result_dtype(a, b)


def _same_dtype(x1, x2):
    """Both operands as arrays of their common dtype (Keras's promotion)."""
    a, b = _array(x1), _array(x2)
    dtype = _result_dtype(a, b)
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def _matrices(x, op, square=False):
    """``x`` as a float stack of matrices: at least 2-D, square when asked; integers become float32
    (the linear-algebra routines compute in floating point)."""
    x = _array(x)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float32)
    if x.ndim < 2:
        raise ValueError(f"ops.{op}: expected a matrix or a stack of matrices (..., M, N), got shape {tuple(x.shape)}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.{op}: expected square matrices (..., M, M), got shape {tuple(x.shape)}")
    return x


def _column_vectors(a, b):
    """Keras's rule for the right-hand side of ``solve``: ``b`` of one dimension less than ``a`` is a
    (stack of) vector(s); make it a column so that one code path handles both.  Returns (b, was_vector)."""
    vector = b.ndim == a.ndim - 1
    return (b[..., None] if vector else b), vector


def _scale(g, y):
    """``g * y`` for a stack of scalars g (shape (...)) and matrices y (shape (..., M, N))."""
    return g[..., None, None] * y


# ================================================================ products
@operation(differentiable=("x1", "x2"))
def matmul(x1, x2):
    """Matrix product ``x1 @ x2``, by NumPy's rules (stacks of matrices broadcast; a 1-D operand is a
    row vector on the left and a column vector on the right, its axis removed from the result).

    Backward: ``C = A B``  =>  ``dL/dA = g B^T``, ``dL/dB = A^T g``, each summed over the batch axes
    its operand was broadcast along.  1-D operands are first made matrices (``a -> a[None, :]``,
    ``b -> b[:, None]``), so one formula covers every case.

    Args:
        x1: First tensor (at least 1-D).
        x2: Second tensor (at least 1-D).

    Returns:
        The product (int8 x int8 gives int32, as in Keras).

    Example:

    >>> matmul(np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]]))
    array([[11.]])
    """
    a, b = _array(x1), _array(x2)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"ops.matmul: operands must be at least 1-D, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    dtype = _product_dtype(a, b)
    if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
        raise ValueError(f"ops.matmul: inner dimensions differ: shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return xp(a, b).matmul(a.astype(dtype, copy=False), b.astype(dtype, copy=False))


@matmul.defbackward
def _(g, out, x1, x2):
    a, b = _array(x1), _array(x2)
    module = xp(g)
    a2 = a[None, :] if a.ndim == 1 else a                # a row vector
    b2 = b[:, None] if b.ndim == 1 else b                # a column vector
    g2 = g
    if a.ndim == 1:
        g2 = module.expand_dims(g2, -1 if b.ndim == 1 else -2)   # put back the row axis of a2
    if b.ndim == 1:
        g2 = module.expand_dims(g2, -1)                  # and the column axis of b2
    da = unbroadcast(module.matmul(g2, _T(b2)), a2).reshape(a.shape)
    db = unbroadcast(module.matmul(_T(a2), g2), b2).reshape(b.shape)
    return _cast_like(da, a), _cast_like(db, b)


def _tensordot_axes(a_ndim, b_ndim, axes, op):
    """``axes`` as two equal-length lists of non-negative axes (a's and b's contracted pairs)."""
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if not 0 <= n <= min(a_ndim, b_ndim):
            raise ValueError(f"ops.{op}: axes={n} needs both operands to have at least {n} dimensions, got "
                             f"{a_ndim} and {b_ndim}")
        return list(range(a_ndim - n, a_ndim)), list(range(n))
    if len(axes) != 2:
        raise ValueError(f"ops.{op}: axes must be an int or a pair (axes of x1, axes of x2), got {axes!r}")
    a_axes, b_axes = ([a] if isinstance(a, (int, np.integer)) else list(a) for a in axes)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"ops.{op}: the two lists of axes must have the same length, got {axes!r}")
    return [_axis(i, a_ndim, op) for i in a_axes], [_axis(i, b_ndim, op) for i in b_axes]


def _tensordot_backward(g, a, b, a_axes, b_axes):
    """dL/da and dL/db of ``C = tensordot(a, b, (a_axes, b_axes))``: contract ``g`` with the other
    operand over that operand's free axes, then put the axes back in the operand's order.

    C's axes are a's free axes then b's free axes.  ``tensordot(g, b, (b's part of g, b_free))`` has
    a's free axes then b's contracted axes in b's order, each standing for its partner in a_axes.
    """
    module = xp(g)
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [i for i in range(b.ndim) if i not in b_axes]
    na = len(a_free)
    # dL/da: labels of the axes we get, in a's numbering; argsort turns them into a's order.
    da = module.tensordot(g, b, (list(range(na, g.ndim)), b_free))
    labels = a_free + [a_axes[b_axes.index(j)] for j in sorted(b_axes)]
    da = module.transpose(da, np.argsort(labels).tolist())
    db = module.tensordot(a, g, (a_free, list(range(na))))
    labels = [b_axes[a_axes.index(i)] for i in sorted(a_axes)] + b_free
    db = module.transpose(db, np.argsort(labels).tolist())
    return _cast_like(da, a), _cast_like(db, b)


@operation(differentiable=("x1", "x2"))
def tensordot(x1, x2, axes=2):
    """Sum of products over the axes paired by ``axes`` (NumPy's ``tensordot``).

    Backward: ``C[free_a, free_b] = sum_k A[free_a, k] B[k, free_b]`` is a matrix product once the
    axes are grouped, so ``dA = g . B`` over B's free axes and ``dB = A . g`` over A's free axes, with
    the axes put back in each operand's order.

    Args:
        x1: First tensor.
        x2: Second tensor.
        axes: An int N (the last N axes of ``x1`` with the first N of ``x2``), or a pair of axis lists.

    Returns:
        The contracted tensor: ``x1``'s free axes, then ``x2``'s.

    Example:

    >>> tensordot(np.ones((2, 3, 4)), np.ones((4, 3)), axes=([1, 2], [1, 0]))
    array([12., 12.])
    """
    a, b = _array(x1), _array(x2)
    a_axes, b_axes = _tensordot_axes(a.ndim, b.ndim, axes, "tensordot")
    for i, j in zip(a_axes, b_axes):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"ops.tensordot: axis {i} of x1 (size {a.shape[i]}) and axis {j} of x2 (size "
                             f"{b.shape[j]}) are paired but differ in size")
    dtype = _result_dtype(a, b)
    return xp(a, b).tensordot(a.astype(dtype, copy=False), b.astype(dtype, copy=False), (a_axes, b_axes))


@tensordot.defbackward
def _(g, out, x1, x2, axes=2):
    a, b = _array(x1), _array(x2)
    return _tensordot_backward(g, a, b, *_tensordot_axes(a.ndim, b.ndim, axes, "tensordot"))


def _dot_axes(a, b):
    """``dot`` contracts a's last axis with b's second-to-last (its only one when b is 1-D)."""
    return [a.ndim - 1], [max(b.ndim - 2, 0)]


@operation(differentiable=("x1", "x2"))
def dot(x1, x2):
    """NumPy's ``dot``: a scalar times a tensor, the inner product of vectors, the matrix product of
    matrices, and for N-D the sum over ``x1``'s last axis and ``x2``'s second-to-last.

    Backward: a ``tensordot`` over those two axes (see ``tensordot``); with a scalar operand it is
    the product rule, ``d x1 = sum(g * x2)``.

    Args:
        x1: First tensor.
        x2: Second tensor.

    Returns:
        The product.

    Example:

    >>> dot(np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 3.0]]))
    array([1., 6.])
    """
    a, b = _array(x1), _array(x2)
    dtype = _result_dtype(a, b)
    if a.ndim and b.ndim and a.shape[-1] != b.shape[max(b.ndim - 2, 0)]:
        raise ValueError(f"ops.dot: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned")
    return xp(a, b).asarray(xp(a, b).dot(a.astype(dtype, copy=False), b.astype(dtype, copy=False)))


@dot.defbackward
def _(g, out, x1, x2):
    a, b = _array(x1), _array(x2)
    if a.ndim == 0 or b.ndim == 0:
        return _cast_like(unbroadcast(g * b, a), a), _cast_like(unbroadcast(g * a, b), b)
    return _tensordot_backward(g, a, b, *_dot_axes(a, b))


@operation(differentiable=("x1", "x2"))
def inner(x1, x2):
    """Sum of products over the last axes: ``out[i..., j...] = sum_k x1[i..., k] x2[j..., k]``.

    Backward: a ``tensordot`` over the two last axes (see ``tensordot``); with a scalar operand it is
    the product rule.

    Args:
        x1: First tensor.
        x2: Second tensor.

    Returns:
        ``x1``'s leading axes, then ``x2``'s.

    Example:

    >>> inner(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0]))
    array(2.)
    """
    a, b = _array(x1), _array(x2)
    if a.ndim and b.ndim and a.shape[-1] != b.shape[-1]:
        raise ValueError(f"ops.inner: last dimensions differ: shapes {tuple(a.shape)} and {tuple(b.shape)}")
    dtype = _result_dtype(a, b)
    return xp(a, b).asarray(xp(a, b).inner(a.astype(dtype, copy=False), b.astype(dtype, copy=False)))


@inner.defbackward
def _(g, out, x1, x2):
    a, b = _array(x1), _array(x2)
    if a.ndim == 0 or b.ndim == 0:
        return _cast_like(unbroadcast(g * b, a), a), _cast_like(unbroadcast(g * a, b), b)
    return _tensordot_backward(g, a, b, [a.ndim - 1], [b.ndim - 1])


@operation(differentiable=("x1", "x2"))
def outer(x1, x2):
    """``out[i, j] = x1.ravel()[i] * x2.ravel()[j]``.

    Backward: ``d x1[i] = sum_j g[i, j] x2[j]`` (``g @ x2``) and ``d x2[j] = sum_i x1[i] g[i, j]``
    (``x1 @ g``), reshaped to the operands' shapes.

    Args:
        x1: First tensor (flattened).
        x2: Second tensor (flattened).

    Returns:
        A matrix of shape ``(x1.size, x2.size)``.

    Example:

    >>> outer(np.array([1, 2]), np.array([1, 10, 100]))
    array([[  1,  10, 100],
           [  2,  20, 200]])
    """
    a, b = _same_dtype(x1, x2)
    return xp(a, b).outer(a, b)


@outer.defbackward
def _(g, out, x1, x2):
    a, b = _array(x1), _array(x2)
    module = xp(g)
    da = module.matmul(g, b.reshape(-1).astype(g.dtype)).reshape(a.shape)
    db = module.matmul(a.reshape(-1).astype(g.dtype), g).reshape(b.shape)
    return _cast_like(da, a), _cast_like(db, b)


@operation(differentiable=("x1", "x2"))
def vdot(x1, x2):
    """The dot product of the flattened operands, ``sum(x1.ravel() * x2.ravel())`` (real inputs).

    Backward: ``d x1 = g * x2``, ``d x2 = g * x1`` (g is a scalar).

    Args:
        x1: First tensor.
        x2: Second tensor (same number of elements).

    Returns:
        A scalar tensor.

    Example:

    >>> vdot(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2)))
    array(10.)
    """
    a, b = _array(x1), _array(x2)
    if a.size != b.size:
        raise ValueError(f"ops.vdot: operands must have the same number of elements, got shapes {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    a, b = _same_dtype(a, b)
    return xp(a, b).asarray(xp(a, b).vdot(a.reshape(-1), b.reshape(-1)))


@vdot.defbackward
def _(g, out, x1, x2):
    a, b = _array(x1), _array(x2)
    return _cast_like((g * b).reshape(a.shape), a), _cast_like((g * a).reshape(b.shape), b)


@operation(differentiable=("x1", "x2"))
def kron(x1, x2):
    """The Kronecker product: block ``(i, j, ...)`` of the result is ``x1[i, j, ...] * x2``.

    Backward: view ``g`` as ``(a0, b0, a1, b1, ...)`` (block index, index inside the block, per
    axis); then ``g`` times the other operand, summed over that operand's indices:
    ``d x1[i] = sum_k g[i, k] x2[k]`` and ``d x2[k] = sum_i g[i, k] x1[i]``.

    Args:
        x1: First tensor.
        x2: Second tensor.

    Returns:
        A tensor of shape ``x1.shape * x2.shape`` (the shorter shape padded with 1s on the left).

    Example:

    >>> kron(np.eye(2, dtype=int), np.array([[1, 2]]))
    array([[1, 2, 0, 0],
           [0, 0, 1, 2]])
    """
    a, b = _same_dtype(x1, x2)
    return xp(a, b).kron(a, b)


@kron.defbackward
def _(g, out, x1, x2):
    a, b = _array(x1), _array(x2)
    ndim = max(a.ndim, b.ndim)
    a_shape = (1,) * (ndim - a.ndim) + tuple(a.shape)
    b_shape = (1,) * (ndim - b.ndim) + tuple(b.shape)
    blocks = g.reshape([n for pair in zip(a_shape, b_shape) for n in pair])
    a_axes, b_axes = tuple(range(0, 2 * ndim, 2)), tuple(range(1, 2 * ndim, 2))
    a_spread = a.reshape([n for m in a_shape for n in (m, 1)])    # x1[i] at (i, k)
    b_spread = b.reshape([n for m in b_shape for n in (1, m)])    # x2[k] at (i, k)
    da = (blocks * b_spread).sum(axis=b_axes).reshape(a.shape)
    db = (blocks * a_spread).sum(axis=a_axes).reshape(b.shape)
    return _cast_like(da, a), _cast_like(db, b)


@operation(differentiable=("x1", "x2"))
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors along the given axes (broadcast over the others).

    Backward: ``g . (a x b) = a . (b x g) = b . (g x a)`` (the scalar triple product is cyclic), so
    ``da = b x g`` and ``db = g x a``.

    Args:
        x1: Tensor of 3-vectors along ``axisa``.
        x2: Tensor of 3-vectors along ``axisb``.
        axisa: The vector axis of ``x1``.
        axisb: The vector axis of ``x2``.
        axisc: The vector axis of the result.
        axis: If given, overrides ``axisa``, ``axisb`` and ``axisc``.

    Returns:
        The cross products.

    Raises:
        ValueError: a vector axis whose size is not 3 (2-vectors are not supported).

    Example:

    >>> cross(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    array([0., 0., 1.])
    """
    a, b = _same_dtype(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    module = xp(a, b)
    a_m, b_m = module.moveaxis(a, axisa, -1), module.moveaxis(b, axisb, -1)
    if a_m.shape[-1] != 3 or b_m.shape[-1] != 3:
        raise ValueError(f"ops.cross: the vector axes must have size 3, got shapes {tuple(a.shape)} (axis {axisa}) "
                         f"and {tuple(b.shape)} (axis {axisb})")
    return module.moveaxis(module.cross(a_m, b_m), -1, axisc)


@cross.defbackward
def _(g, out, x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = _array(x1), _array(x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    module = xp(g)
    a_m, b_m, g_m = module.moveaxis(a, axisa, -1), module.moveaxis(b, axisb, -1), module.moveaxis(g, axisc, -1)
    da = unbroadcast(module.cross(b_m, g_m), a_m)
    db = unbroadcast(module.cross(g_m, a_m), b_m)
    return _cast_like(module.moveaxis(da, -1, axisa), a), _cast_like(module.moveaxis(db, -1, axisb), b)


@operation(differentiable=("x",))
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the diagonal ``x[i, i + offset]`` of the matrices in the plane ``(axis1, axis2)``.

    Backward: ``d trace(X) / dX = I`` (shifted by ``offset``): ``dX = g[..., None, None] * eye``.

    Args:
        x: Input tensor (at least 2-D).
        offset: Diagonal offset (positive: above the main diagonal).
        axis1: First axis of the matrices.
        axis2: Second axis of the matrices.

    Returns:
        The traces (integers narrower than 32 bits and booleans give int32, as in Keras).

    Example:

    >>> trace(np.arange(9).reshape(3, 3))
    array(12)
    """
    x = _array(x)
    if x.ndim < 2:
        raise ValueError(f"ops.trace: expected at least 2 dimensions, got shape {tuple(x.shape)}")
    dtype = np.int32 if x.dtype.kind == "b" or (x.dtype.kind in "iu" and x.dtype.itemsize < 4) else x.dtype
    return xp(x).asarray(xp(x).trace(x, offset=offset, axis1=axis1, axis2=axis2, dtype=dtype))


@trace.defbackward
def _(g, out, x, offset=0, axis1=0, axis2=1):
    module = xp(g)
    axis1, axis2 = _axis(axis1, x.ndim, "trace"), _axis(axis2, x.ndim, "trace")
    diagonal = module.eye(x.shape[axis1], x.shape[axis2], k=offset, dtype=g.dtype)
    grad = _scale(g, diagonal)  # the matrix axes last; move them back to axis1 and axis2
    return module.moveaxis(grad, (-2, -1), (axis1, axis2))


# ---------------------------------------------------------------- einsum
def _einsum_subscripts(subscripts, shapes):
    """Explicit subscripts: a list of input strings and the output string, '...' spelt out in letters.

    ``"...ij,jk"`` on shapes (5, 2, 3), (3, 4) becomes ``["Aij", "jk"]`` and output ``"Aik"``: the
    implicit output (no ``->``) is the broadcast letters, then the letters used once, sorted.
    """
    spec = subscripts.replace(" ", "")
    inputs, output = spec.split("->") if "->" in spec else (spec, None)
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"ops.einsum: subscripts {subscripts!r} name {len(inputs)} operands, got {len(shapes)}")
    spare = (c for c in string.ascii_letters if c not in spec)
    ellipsis_ndim = max([len(shape) - (len(s) - 3) for s, shape in zip(inputs, shapes) if "..." in s] or [0])
    broadcast = "".join(next(spare) for _ in range(ellipsis_ndim))
    explicit = []
    for s, shape in zip(inputs, shapes):
        if "..." in s:
            s = s.replace("...", broadcast[ellipsis_ndim - (len(shape) - (len(s) - 3)):])
        if len(s) != len(shape):
            raise ValueError(f"ops.einsum: subscript {s!r} does not match an operand of shape {tuple(shape)}")
        explicit.append(s)
    if output is None:
        counts = Counter("".join(explicit))
        output = broadcast + "".join(sorted(c for c in counts if counts[c] == 1 and c not in broadcast))
    else:
        output = output.replace("...", broadcast)
    return explicit, output


@operation(differentiable=("operands",))
def einsum(subscripts, *operands, **kwargs):
    """Einstein summation: multiply the operands' elements whose letters agree, and sum over every
    letter that is not in the output (``"ij,jk->ik"`` is ``matmul``).

    Backward, the classic trick: an einsum is linear in each operand, and the derivative of
    ``out = einsum("s1,s2,...->o", X1, X2, ...)`` with respect to ``Xk`` is the same sum with the
    roles of ``o`` and ``sk`` exchanged:

        dL/dXk = einsum("o,s1,...(without sk)...->sk", g, X1, ..., (without Xk))

    (for ``"ij,jk->ik"`` that is ``dA = einsum("ik,jk->ij", g, B) = g B^T``).  Two details: a letter
    that only ``Xk`` has (summed away in the forward) gets no letter on the right, so the result is
    broadcast along it; a letter repeated in ``sk`` (a diagonal, ``"ii->i"``) is spelt with a fresh
    letter and an identity matrix puts the gradient on the diagonal.

    Args:
        subscripts: The subscripts, e.g. ``"bij,bjk->bik"`` (``...`` allowed).
        *operands: The tensors.
        **kwargs: Passed to ``numpy.einsum`` (e.g. ``optimize``).

    Returns:
        The result (int8 operands give int32, as in Keras).

    Example:

    >>> einsum("ij,j->i", np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0]))
    array([3., 7.])
    """
    arrays = [_array(x) for x in operands]
    if not arrays:
        raise ValueError("ops.einsum: needs at least one operand")
    module = xp(*arrays)
    dtype = np.dtype(np.int32) if all(a.dtype == np.int8 for a in arrays) else _result_dtype(*arrays)
    arrays = [a.astype(dtype, copy=False) for a in arrays]
    _einsum_subscripts(subscripts, [a.shape for a in arrays])  # clear errors before NumPy's
    return module.asarray(module.einsum(subscripts, *arrays, **kwargs))


@einsum.defbackward
def _(g, out, subscripts, operands, kwargs):
    module = xp(g)
    arrays = [_array(x) for x in operands]
    inputs, output = _einsum_subscripts(subscripts, [a.shape for a in arrays])
    grads = []
    for k, (sk, xk) in enumerate(zip(inputs, arrays)):
        others = [(s, a) for j, (s, a) in enumerate(zip(inputs, arrays)) if j != k]
        letters = "".join(dict.fromkeys(sk))                      # sk's letters, each once
        reachable = output + "".join(s for s, _ in others)
        kept = "".join(c for c in letters if c in reachable)
        spec = ",".join([output] + [s for s, _ in others]) + "->" + kept
        grad = module.einsum(spec, g, *[a.astype(g.dtype) for _, a in others])
        size = {c: n for c, n in zip(sk, xk.shape)}
        summed = tuple(i for i, c in enumerate(kept) if size[c] == 1 and grad.shape[i] != 1)
        if summed:  # a size-1 axis of Xk was broadcast against the others: its copies add up
            grad = grad.sum(axis=summed, keepdims=True)
        # Letters that only Xk had: the gradient is the same all along them.
        grad = grad.reshape([size[c] if c in kept else 1 for c in letters])
        grad = module.broadcast_to(grad, [size[c] for c in letters])
        # Repeated letters (a diagonal): a fresh letter for each repeat and an identity to join them.
        spare = iter(c for c in string.ascii_letters if c not in subscripts and c not in "".join(inputs))
        spelled, eyes, specs = "", [], [letters]
        for c in sk:
            if c in spelled:
                fresh = next(spare)
                spelled += fresh
                specs.append(c + fresh)
                eyes.append(module.eye(size[c], dtype=g.dtype))
            else:
                spelled += c
        if eyes:
            grad = module.einsum(",".join(specs) + "->" + spelled, grad, *eyes)
        grads.append(_cast_like(module.ascontiguousarray(grad), xk))
    return grads


# ================================================================ matrix functions
@operation(differentiable=("x",))
def inv(x):
    """The inverse ``X^-1`` of each square matrix.

    Backward: from ``d(X^-1) = -X^-1 dX X^-1``:  ``dL/dX = -Y^T g Y^T`` with ``Y = X^-1``.

    Args:
        x: Tensor of shape ``(..., M, M)``.

    Returns:
        The inverses.

    Example:

    >>> inv(np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    return xp(x).linalg.inv(_matrices(x, "inv", square=True))


@inv.defbackward
def _(g, out, x):
    return -_T(out) @ g @ _T(out)


@operation(differentiable=("x",))
def det(x):
    """The determinant of each square matrix.

    Backward (Jacobi's formula): ``d det(X) = det(X) tr(X^-1 dX)``, so
    ``dL/dX = g det(X) X^-T``.  (At a singular matrix the inverse does not exist.)

    Args:
        x: Tensor of shape ``(..., M, M)``.

    Returns:
        The determinants, of shape ``(...)``.

    Example:

    >>> round(float(det(np.array([[1.0, 2.0], [3.0, 4.0]]))), 6)
    -2.0
    """
    x = _matrices(x, "det", square=True)
    return xp(x).asarray(xp(x).linalg.det(x))


@det.defbackward
def _(g, out, x):
    x = _matrices(x, "det", square=True)
    return _scale(g * out, _T(xp(x).linalg.inv(x)))


@operation(differentiable=("x",))
def logdet(x):
    """The natural log of the determinant of each square matrix (NaN where it is negative).

    Backward: ``d log det(X) = tr(X^-1 dX)``, so ``dL/dX = g X^-T``.

    Args:
        x: Tensor of shape ``(..., M, M)``, typically symmetric positive definite.

    Returns:
        The log-determinants, of shape ``(...)``.

    Example:

    >>> round(float(logdet(np.array([[np.e, 0.0], [0.0, 1.0]]))), 6)
    1.0
    """
    x = _matrices(x, "logdet", square=True)
    module = xp(x)
    sign, logabs = module.linalg.slogdet(x)
    return module.asarray(module.where(sign < 0, module.asarray(np.nan, dtype=logabs.dtype), logabs))


@logdet.defbackward
def _(g, out, x):
    x = _matrices(x, "logdet", square=True)
    return _scale(g, _T(xp(x).linalg.inv(x)))


@operation(differentiable=("x",), multi_output=True)
def slogdet(x):
    """The sign and the log of the absolute value of each determinant (``det = sign * exp(logabsdet)``,
    without overflow for large matrices).

    Backward: the sign is piecewise constant (no gradient); ``d log|det X| = tr(X^-1 dX)``, so
    ``dL/dX = g_logabsdet X^-T``.

    Args:
        x: Tensor of shape ``(..., M, M)``.

    Returns:
        A tuple ``(sign, logabsdet)``, each of shape ``(...)``.

    Example:

    >>> sign, logabsdet = slogdet(np.array([[0.0, 2.0], [3.0, 0.0]]))
    >>> float(sign), round(float(logabsdet), 6) == round(float(np.log(6.0)), 6)
    (-1.0, True)
    """
    x = _matrices(x, "slogdet", square=True)
    sign, logabs = xp(x).linalg.slogdet(x)
    return [xp(x).asarray(sign), xp(x).asarray(logabs)]


@slogdet.defbackward
def _(g, out, x):
    x = _matrices(x, "slogdet", square=True)
    return _scale(g[1], _T(xp(x).linalg.inv(x)))


@operation(differentiable=("a", "b"))
def solve(a, b):
    """The solution ``X`` of ``a X = b`` for each square matrix ``a``.

    ``b`` of shape ``(..., M)`` (one dimension less than ``a``) is a stack of vectors; otherwise it is
    ``(..., M, K)``, K right-hand sides.

    Backward: ``X = A^-1 B``, so ``dL/dB = A^-T g`` (one more solve, with ``A^T``) and
    ``dL/dA = -dL/dB X^T``.

    Args:
        a: Tensor of shape ``(..., M, M)``.
        b: Tensor of shape ``(..., M)`` or ``(..., M, K)``.

    Returns:
        ``X``, of ``b``'s shape.

    Example:

    >>> solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    array([1. , 0.5])
    """
    a = _matrices(a, "solve", square=True)
    b = _array(b)
    if b.dtype.kind not in "fc":
        b = b.astype(a.dtype)
    b, vector = _column_vectors(a, b)
    if b.shape[-2] != a.shape[-1]:
        raise ValueError(f"ops.solve: b must have {a.shape[-1]} rows to match a of shape {tuple(a.shape)}, got "
                         f"shape {tuple(b.shape[:-1] if vector else b.shape)}")
    x = xp(a, b).linalg.solve(a, b)
    return x[..., 0] if vector else x


@solve.defbackward
def _(g, out, a, b):
    a = _matrices(a, "solve", square=True)
    b_array = _array(b)
    _, vector = _column_vectors(a, b_array)
    g2, x2 = (g[..., None], out[..., None]) if vector else (g, out)
    db = xp(g).linalg.solve(_T(a), g2)
    da = -(db @ _T(x2))
    db = db[..., 0] if vector else db
    return _cast_like(unbroadcast(da, a), _array(a)), _cast_like(unbroadcast(db, b_array), b_array)


def _triangle(a, lower):
    return xp(a).tril(a) if lower else xp(a).triu(a)


@operation(differentiable=("a", "b"))
def solve_triangular(a, b, lower=False):
    """The solution ``X`` of ``T X = b`` where ``T`` is the lower (or upper) triangle of ``a``; the
    other triangle of ``a`` is ignored.

    Backward: as ``solve``, ``dL/db = T^-T g`` and ``dL/dT = -dL/db X^T``, of which only ``T``'s
    triangle reaches ``a``.

    Args:
        a: Tensor of shape ``(..., M, M)``.
        b: Tensor of shape ``(..., M)`` or ``(..., M, K)``.
        lower: Use the lower triangle (else the upper one).

    Returns:
        ``X``, of ``b``'s shape.

    Example:

    >>> solve_triangular(np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([2.0, 3.0]), lower=True)
    array([1., 2.])
    """
    # General elimination on the triangle: the same answer as back substitution, and it runs on both
    # NumPy (which has no triangular solver) and CuPy.
    return solve.forward(_triangle(_matrices(a, "solve_triangular", square=True), lower), b)


@solve_triangular.defbackward
def _(g, out, a, b, lower=False):
    triangle = _triangle(_matrices(a, "solve_triangular", square=True), lower)
    da, db = solve.backward(g, out, triangle, b)
    return _cast_like(_triangle(da, lower), _array(a)), db


@operation(differentiable=("a", "b"))
def lstsq(a, b, rcond=None):
    """The least-squares solution ``x`` minimising ``||a x - b||`` (a single matrix ``a``).

    Backward, for ``a`` of full column rank (M >= N), where ``x = (A^T A)^-1 A^T b``: with
    ``z = (A^T A)^-1 g`` and the residual ``r = b - A x``,
    ``dL/db = A z`` and ``dL/dA = r z^T - A z x^T``.

    Args:
        a: Matrix of shape ``(M, N)``.
        b: Tensor of shape ``(M,)`` or ``(M, K)``.
        rcond: Cut-off ratio for small singular values (as ``numpy.linalg.lstsq``).

    Returns:
        ``x``, of shape ``(N,)`` or ``(N, K)``.

    Example:

    >>> lstsq(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([1.0, 1.0, 2.0])).round(6)
    array([1., 1.])
    """
    a = _matrices(a, "lstsq")
    if a.ndim != 2:
        raise ValueError(f"ops.lstsq: a must be a single matrix (M, N), got shape {tuple(a.shape)}")
    b = _array(b)
    if b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ValueError(f"ops.lstsq: b must have shape ({a.shape[0]},) or ({a.shape[0]}, K), got {tuple(b.shape)}")
    return xp(a, b).linalg.lstsq(a, b.astype(a.dtype, copy=False), rcond=rcond)[0]


@lstsq.defbackward
def _(g, out, a, b, rcond=None):
    a, b_array = _matrices(a, "lstsq"), _array(b)
    vector = b_array.ndim == 1
    g2, x2, b2 = (g[:, None], out[:, None], b_array[:, None]) if vector else (g, out, b_array)
    z = xp(g).linalg.solve(_T(a) @ a, g2)
    residual = b2 - a @ x2
    da = residual @ _T(z) - a @ z @ _T(x2)
    db = a @ z
    return _cast_like(da, _array(a)), _cast_like(db[:, 0] if vector else db, b_array)


@operation(differentiable=("x",))
def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse ``P = X^+`` of each matrix.

    Backward (Golub and Pereyra, valid where the rank does not change):
    ``dL/dX = -P^T g P^T + (I - X P) g^T P P^T + P^T P g^T (I - P X)``.

    Args:
        x: Tensor of shape ``(..., M, N)``.
        rcond: Cut-off for small singular values, relative to the largest (default: as Keras,
            ``max(M, N) * eps`` of the dtype).

    Returns:
        The pseudo-inverses, of shape ``(..., N, M)``.

    Example:

    >>> pinv(np.array([[1.0], [1.0]])).round(6)
    array([[0.5, 0.5]])
    """
    x = _matrices(x, "pinv")
    if rcond is None:
        rcond = max(x.shape[-2:]) * np.finfo(x.dtype).eps
    return xp(x).linalg.pinv(x, rcond=rcond)


@pinv.defbackward
def _(g, out, x, rcond=None):
    x, p = _matrices(x, "pinv"), out
    module = xp(g)
    left = module.eye(x.shape[-2], dtype=g.dtype) - x @ p     # I - X P (projector onto X's cokernel)
    right = module.eye(x.shape[-1], dtype=g.dtype) - p @ x    # I - P X (projector onto X's kernel)
    gt = _T(g)
    return -_T(p) @ g @ _T(p) + left @ gt @ p @ _T(p) + _T(p) @ p @ gt @ right


def _phi(a):
    """Lower triangle with the diagonal halved: the Cholesky backward's "half of a symmetric matrix"."""
    module = xp(a)
    return module.tril(a) - 0.5 * a * module.eye(a.shape[-1], dtype=a.dtype)


def _symmetric_part(a):
    return 0.5 * (a + _T(a))


@operation(differentiable=("x",))
def cholesky(x, upper=False):
    """The Cholesky factor ``L`` (lower triangular, ``X = L L^T``) of each symmetric positive
    definite matrix; ``upper=True`` returns ``U = L^T`` (``X = U^T U``).

    Backward (Murray, "Differentiation of the Cholesky decomposition", 2016): with
    ``Phi(M)`` = lower triangle of M with its diagonal halved,
    ``S = L^-T Phi(L^T g) L^-1`` and ``dL/dX = (S + S^T) / 2``, the gradient for a symmetric X (as
    PyTorch's).  For ``upper=True`` the gradient of ``U = L^T`` is ``g^T`` for ``L``.

    Args:
        x: Tensor of shape ``(..., M, M)``, symmetric positive definite (only the lower triangle is read).
        upper: Return the upper factor instead.

    Returns:
        The factors.

    Raises:
        ValueError: a matrix that is not positive definite.

    Example:

    >>> cholesky(np.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 0.],
           [1., 1.]])
    """
    x = _matrices(x, "cholesky", square=True)
    try:
        factor = xp(x).linalg.cholesky(x)
    except Exception as error:  # numpy's and cupy's LinAlgError
        raise ValueError(f"ops.cholesky: the matrix is not symmetric positive definite ({error})") from None
    return _T(factor) if upper else factor


@cholesky.defbackward
def _(g, out, x, upper=False):
    module = xp(g)
    low, g_low = (_T(out), _T(g)) if upper else (out, g)
    inv_low = module.linalg.inv(low)
    s = _T(inv_low) @ _phi(_T(low) @ g_low) @ inv_low
    return _symmetric_part(s)


@operation(differentiable=("x",))
def cholesky_inverse(x, upper=False):
    """The inverse of ``A = L L^T`` (``U^T U`` when ``upper``) from its Cholesky factor ``x``.

    Backward: ``Y = A^-1`` gives ``dL/dA = -Y g Y`` (Y is symmetric); then ``A = L L^T`` gives
    ``dL/dL = (G + G^T) L`` with ``G = dL/dA`` (and ``U (G + G^T)`` for ``A = U^T U``).

    Args:
        x: Triangular factor of shape ``(..., M, M)``.
        upper: Whether ``x`` is the upper factor.

    Returns:
        ``A^-1``.

    Example:

    >>> cholesky_inverse(np.array([[2.0, 0.0], [1.0, 1.0]]))
    array([[ 0.5, -0.5],
           [-0.5,  1. ]])
    """
    factor = _matrices(x, "cholesky_inverse", square=True)
    a = _T(factor) @ factor if upper else factor @ _T(factor)
    return xp(a).linalg.inv(a)


@cholesky_inverse.defbackward
def _(g, out, x, upper=False):
    factor = _matrices(x, "cholesky_inverse", square=True)
    g_a = -out @ g @ out
    both = g_a + _T(g_a)
    return factor @ both if upper else both @ factor


@operation(differentiable=("x",), multi_output=True)
def eigh(x):
    """Eigenvalues (ascending) and eigenvectors (columns) of each symmetric matrix.

    Backward (distinct eigenvalues): with ``X = V diag(w) V^T``,
    ``dL/dX = V (diag(g_w) + F * (V^T g_V)) V^T`` where ``F[i, j] = 1 / (w[j] - w[i])`` off the
    diagonal and 0 on it; symmetrised, as the gradient for a symmetric X.

    Args:
        x: Tensor of shape ``(..., M, M)``, symmetric (only the lower triangle is read).

    Returns:
        A tuple ``(eigenvalues, eigenvectors)`` of shapes ``(..., M)`` and ``(..., M, M)``.

    Example:

    >>> w, v = eigh(np.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> w
    array([1., 2.])
    """
    w, v = xp(x).linalg.eigh(_matrices(x, "eigh", square=True))
    return [w, v]


@eigh.defbackward
def _(g, out, x):
    module = xp(out[0])
    w, v = out
    g_w, g_v = g
    gaps = w[..., None, :] - w[..., :, None]                  # gaps[i, j] = w[j] - w[i]
    off_diagonal = ~module.eye(w.shape[-1], dtype=bool)
    f = module.where(off_diagonal, 1.0 / module.where(off_diagonal, gaps, 1.0), 0.0).astype(w.dtype)
    inner = f * (_T(v) @ g_v) + g_w[..., None, :] * module.eye(w.shape[-1], dtype=w.dtype)
    return _symmetric_part(v @ inner @ _T(v))


@operation(multi_output=True)
def eig(x):
    """Eigenvalues and eigenvectors of each square matrix (complex in general).

    Not differentiable here on purpose (its results are constants on a tape): the gradient of a
    general eigendecomposition is complex and beyond this course; use ``eigh`` for symmetric matrices.

    Args:
        x: Tensor of shape ``(..., M, M)``.

    Returns:
        A tuple ``(eigenvalues, eigenvectors)`` (complex dtype).

    Example:

    >>> w, v = eig(np.array([[2.0, 0.0], [0.0, 3.0]]))
    >>> w
    array([2.+0.j, 3.+0.j])
    """
    w, v = xp(x).linalg.eig(_matrices(x, "eig", square=True))
    complex_dtype = np.result_type(w.dtype, np.complex64)
    return [w.astype(complex_dtype), v.astype(complex_dtype)]


_QR_MODES = ("reduced", "complete")


@operation(multi_output=True)
def qr(x, mode="reduced"):
    """The QR decomposition ``x = Q R`` (Q with orthonormal columns, R upper triangular).

    Not differentiable here on purpose: on a tape, ``q`` and ``r`` are constants.

    Args:
        x: Tensor of shape ``(..., M, N)``.
        mode: ``"reduced"`` (Q is M x K, K = min(M, N)) or ``"complete"`` (Q is M x M).

    Returns:
        A tuple ``(q, r)``.

    Example:

    >>> q, r = qr(np.array([[3.0, 0.0], [4.0, 5.0]]))
    >>> np.allclose(q @ r, [[3.0, 0.0], [4.0, 5.0]])
    True
    """
    if mode not in _QR_MODES:
        raise ValueError(f"ops.qr: mode must be one of {_QR_MODES}, got {mode!r}")
    q, r = xp(x).linalg.qr(_matrices(x, "qr"), mode=mode)
    return [q, r]


@operation(multi_output=True)
def svd(x, full_matrices=True, compute_uv=True):
    """The singular value decomposition ``x = U diag(s) V^H`` (Keras returns ``V^H`` as the third item).

    Not differentiable here on purpose: on a tape, its results are constants.

    Args:
        x: Tensor of shape ``(..., M, N)``.
        full_matrices: Square U and V^H (else K = min(M, N) columns / rows).
        compute_uv: Return U and V^H too (else only ``s``).

    Returns:
        ``(u, s, vh)``, or ``s`` alone when ``compute_uv`` is False.

    Example:

    >>> svd(np.array([[3.0, 0.0], [0.0, 4.0]]), compute_uv=False)
    array([4., 3.])
    """
    x = _matrices(x, "svd")
    if not compute_uv:
        return xp(x).linalg.svd(x, compute_uv=False)
    u, s, vh = xp(x).linalg.svd(x, full_matrices=full_matrices)
    return [u, s, vh]


@operation(multi_output=True)
def lu_factor(x):
    """The LU factorisation with partial pivoting, in LAPACK's compact form (as SciPy's ``lu_factor``).

    Gaussian elimination, one column at a time: swap the row with the largest pivot up (rows swapped
    at step k are recorded in ``pivots[k]``), then subtract multiples of the pivot row from the rows
    below; the multipliers are L (below the diagonal, its unit diagonal implied) and what remains is
    U (on and above it).  Not differentiable here on purpose (its results are constants on a tape).

    Args:
        x: Tensor of shape ``(..., M, M)``.

    Returns:
        A tuple ``(lu, pivots)``: ``lu`` holds L and U; ``pivots`` (int32, 0-based) says that row k
        was swapped with row ``pivots[k]`` at step k.

    Example:

    >>> lu, pivots = lu_factor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> lu.round(4), pivots
    (array([[3.    , 4.    ],
           [0.3333, 0.6667]]), array([1, 1], dtype=int32))
    """
    x = _matrices(x, "lu_factor", square=True)
    module = xp(x)
    lu = x.reshape((-1,) + x.shape[-2:]).copy()              # a stack of matrices, factored in place
    n = lu.shape[-1]
    pivots = module.zeros(lu.shape[:-1], dtype=np.int32)
    rows = module.arange(lu.shape[0])
    for k in range(n):
        pivot = k + module.argmax(module.abs(lu[:, k:, k]), axis=1)
        pivots[:, k] = pivot
        top, best = lu[rows, k].copy(), lu[rows, pivot].copy()
        lu[rows, k], lu[rows, pivot] = best, top              # swap row k with the pivot row
        diagonal = lu[:, k, k][:, None]
        safe = module.where(diagonal == 0, 1, diagonal)       # a singular column: nothing to eliminate
        lu[:, k + 1:, k] /= safe
        lu[:, k + 1:, k + 1:] -= lu[:, k + 1:, k][:, :, None] * lu[:, k, k + 1:][:, None, :]
    return [lu.reshape(x.shape), pivots.reshape(x.shape[:-1])]


@operation()
def matrix_rank(x, tol=None):
    """The rank of each matrix: the number of singular values above ``tol``.

    An integer: not differentiable.

    Args:
        x: Tensor of shape ``(..., M, N)``.
        tol: Threshold (default: ``max(M, N) * eps * largest singular value``).

    Returns:
        The ranks (int32).

    Example:

    >>> matrix_rank(np.array([[1.0, 2.0], [2.0, 4.0]]))
    array(1, dtype=int32)
    """
    x = _matrices(x, "matrix_rank")
    return xp(x).asarray(xp(x).linalg.matrix_rank(x, tol=tol)).astype(np.int32)


# ================================================================ keras.ops.linalg namespace
def __getattr__(name):
    """``ops.linalg.norm`` and ``ops.linalg.jvp``: ops of ``keras.ops.linalg`` that live in other
    modules here (with the reductions and the core ops), looked up when first asked for."""
    if name in ("norm", "jvp"):
        from . import core, reduction
        for module in (reduction, core):
            if name in getattr(module, "__all__", ()):
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
