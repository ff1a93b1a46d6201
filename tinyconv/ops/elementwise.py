"""Elementwise ops: arithmetic, powers and logarithms, trigonometry, comparisons, rounding, bits.

Each output element depends on the input elements at the same position only, so every backward is
one line of school calculus applied elementwise: dL/dx = g * dy/dx, where ``g = dL/dy``.  The docstring
of each op starts with that derivative.  Two rules come on top:

* **broadcasting**: where an operand was stretched to the output's shape (a ``(3,)`` bias added to a
  ``(2, 3)`` batch), each of its elements was used several times, so its gradient is summed over the
  copies (``unbroadcast``);
* **dtypes** (Keras 3's rules): integers with a float give that float (int32 + float32 is float32, not
  NumPy's float64); a Python number never widens an array (float16 + 0.5 stays float16); ops whose
  result is fractional (``divide``, ``exp``, ``sqrt``, ...) turn integers into float32.  Integer and
  boolean arguments get no gradient (None), as in Keras.

Ops with no useful gradient - comparisons, logical and bitwise ops, rounding, ``sign`` - are declared
without differentiable arguments: on a tape their results are constants.

Where Keras's result for equal values is a choice (``maximum(x, x)``, ``abs`` at 0, ``clip`` at its
bounds), the choice is PyTorch autograd's, documented at each op.
"""
import math

import numpy as np

from .. import backend, devices
from .operation import operation, unbroadcast, xp
from .shaping import _array, _result_dtype

__all__ = [
    # arithmetic
    "add", "subtract", "multiply", "divide", "true_divide", "divide_no_nan", "floor_divide", "mod", "fmod",
    "power", "negative", "positive", "absolute", "abs", "fabs", "square", "sqrt", "rsqrt", "cbrt",
    "reciprocal", "sign", "signbit", "ldexp",
    # exponentials and logarithms
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "logaddexp", "logaddexp2",
    # trigonometric and hyperbolic
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "deg2rad", "rad2deg", "sinc", "hypot",
    # special functions
    "erf", "erfc", "erfinv", "i0",
    # choosing and limiting
    "maximum", "minimum", "fmax", "fmin", "clip", "nan_to_num", "heaviside",
    # rounding
    "round", "floor", "ceil", "trunc",
    # comparisons and tests
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "isclose", "allclose",
    "isnan", "isinf", "isfinite", "isneginf", "isposinf", "isreal", "nextafter",
    # logical
    "logical_and", "logical_or", "logical_xor", "logical_not",
    # bitwise and integer
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert", "bitwise_left_shift",
    "bitwise_right_shift", "left_shift", "right_shift", "gcd", "lcm",
    # complex parts (tinyconv computes on real numbers; these keep Keras scripts running)
    "real", "imag", "conj", "conjugate", "angle",
]


# ================================================================ helpers
def _floatx():
    return np.dtype(backend.floatx())


def _as_float(dtype):
    """``dtype`` if it is a float type, else Keras's default float (integers and bools become float32)."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind in "fc" else _floatx()


def _weak(value):
    """Python numbers as they are (they never widen an array's dtype); anything else as an array."""
    return value if isinstance(value, (bool, int, float)) else _array(value)


def _promote(x1, x2, dtype=None):
    """Both operands as arrays of one array module and of ``dtype`` (default: Keras's result dtype)."""
    module = xp(x1, x2)
    x1, x2 = _weak(x1), _weak(x2)
    dtype = _result_dtype(x1, x2) if dtype is None else dtype
    return (module.asarray(_array(x1, module)).astype(dtype, copy=False),
            module.asarray(_array(x2, module)).astype(dtype, copy=False))


def _float_operands(x1, x2):
    """Both operands in the float dtype Keras computes a fractional binary op in."""
    return _promote(x1, x2, _as_float(_result_dtype(_weak(x1), _weak(x2))))


def _float(x):
    """``x`` as an array of a float dtype (integers and bools become float32, as Keras's ``exp`` does)."""
    x = _array(x)
    return x.astype(_as_float(x.dtype), copy=False)


def _grad(gradient, like):
    """dL/d(argument) in the argument's shape and dtype; None for an integer or boolean argument.

    Integers get no gradient in Keras (a step of 1e-6 is not an integer).  Python numbers are never on
    a tape: what is returned for them is ignored.
    """
    dtype = getattr(like, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind not in "fc":
        return None
    gradient = unbroadcast(gradient, like)
    return gradient if dtype is None or gradient.dtype == dtype else gradient.astype(dtype)


def _special(name, x):
    """A function of ``scipy.special`` (``cupyx.scipy.special`` on the GPU), in ``x``'s dtype."""
    if xp(x) is np:
        import scipy.special as special
    else:
        special = devices.companion_module(xp(x), "cupyx.scipy.special")
    return getattr(special, name)(x).astype(x.dtype, copy=False)


def _where_safe(condition, value, module):
    """``value`` where ``condition`` holds, else 0 (for derivatives undefined off the condition)."""
    return module.where(condition, value, module.zeros_like(value))


# ================================================================ arithmetic
@operation(differentiable=("x1", "x2"))
def add(x1, x2):
    """y = x1 + x2;  dy/dx1 = 1, dy/dx2 = 1.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        The elementwise sum.

    Example:

    >>> add(np.array([1.0, 2.0]), np.array([[10.0], [20.0]]))
    array([[11., 12.],
           [21., 22.]])
    """
    a, b = _promote(x1, x2)
    return xp(a).add(a, b)


@add.defbackward
def _(g, out, x1, x2):
    return _grad(g, x1), _grad(g, x2)


@operation(differentiable=("x1", "x2"))
def subtract(x1, x2):
    """y = x1 - x2;  dy/dx1 = 1, dy/dx2 = -1.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        The elementwise difference.

    Example:

    >>> subtract(np.array([5, 7], dtype="int32"), 2)
    array([3, 5], dtype=int32)
    """
    a, b = _promote(x1, x2)
    return xp(a).subtract(a, b)


@subtract.defbackward
def _(g, out, x1, x2):
    return _grad(g, x1), _grad(-g, x2)


@operation(differentiable=("x1", "x2"))
def multiply(x1, x2):
    """y = x1 * x2;  dy/dx1 = x2, dy/dx2 = x1.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        The elementwise product.

    Example:

    >>> multiply(np.array([1.0, 2.0, 3.0], dtype="float32"), 0.5)
    array([0.5, 1. , 1.5], dtype=float32)
    """
    a, b = _promote(x1, x2)
    return xp(a).multiply(a, b)


@multiply.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    return _grad(g * b, x1), _grad(g * a, x2)


@operation(differentiable=("x1", "x2"))
def divide(x1, x2):
    """y = x1 / x2;  dy/dx1 = 1 / x2, dy/dx2 = -x1 / x2^2 = -y / x2.

    Integers are divided as floats (the result is float32), as in Keras.

    Args:
        x1: Numerator.
        x2: Denominator (broadcast against ``x1``).

    Returns:
        The elementwise quotient.

    Example:

    >>> divide(np.array([1, 3], dtype="int32"), 2)
    array([0.5, 1.5], dtype=float32)
    """
    a, b = _float_operands(x1, x2)
    with np.errstate(divide="ignore", invalid="ignore"):  # 1/0 = inf, 0/0 = nan, silently as Keras
        return xp(a).divide(a, b)


@divide.defbackward
def _(g, out, x1, x2):
    a, b = _float_operands(x1, x2)
    return _grad(g / b, x1), _grad(-g * out / b, x2)


true_divide = divide  # Keras's alias: the same op


@operation(differentiable=("x1", "x2"))
def divide_no_nan(x1, x2):
    """y = x1 / x2 where x2 != 0, else 0;  dy/dx1 = 1 / x2, dy/dx2 = -y / x2 (both 0 where x2 = 0).

    Args:
        x1: Numerator.
        x2: Denominator (broadcast against ``x1``).

    Returns:
        The elementwise quotient, with 0 wherever the denominator is 0.

    Example:

    >>> divide_no_nan(np.array([1.0, 1.0]), np.array([0.0, 4.0]))
    array([0.  , 0.25])
    """
    a, b = _float_operands(x1, x2)
    module = xp(a)
    safe = module.where(b == 0, module.ones_like(b), b)
    return _where_safe(b != 0, a / safe, module)


@divide_no_nan.defbackward
def _(g, out, x1, x2):
    a, b = _float_operands(x1, x2)
    module = xp(a)
    safe = module.where(b == 0, module.ones_like(b), b)
    g = _where_safe(module.broadcast_to(b != 0, g.shape), g, module)
    return _grad(g / safe, x1), _grad(-g * out / safe, x2)


@operation()
def floor_divide(x1, x2):
    """y = floor(x1 / x2): a step function, so its gradient is 0 (not recorded).

    Args:
        x1: Numerator.
        x2: Denominator (broadcast against ``x1``).

    Returns:
        The quotient rounded down (integers stay integers).

    Example:

    >>> floor_divide(np.array([7, -7], dtype="int32"), 2)
    array([ 3, -4], dtype=int32)
    """
    a, b = _promote(x1, x2)
    return xp(a).floor_divide(a, b)


@operation(differentiable=("x1", "x2"))
def mod(x1, x2):
    """y = x1 - floor(x1 / x2) * x2 (the sign of x2);  dy/dx1 = 1, dy/dx2 = -floor(x1 / x2).

    Args:
        x1: Dividend.
        x2: Divisor (broadcast against ``x1``).

    Returns:
        The remainder, with the sign of the divisor (Python's ``%``).

    Example:

    >>> mod(np.array([7, -7], dtype="int32"), 3)
    array([1, 2], dtype=int32)
    """
    a, b = _promote(x1, x2)
    return xp(a).mod(a, b)


@mod.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    return _grad(g, x1), _grad(-g * xp(a).floor_divide(a, b), x2)


@operation(differentiable=("x1", "x2"))
def fmod(x1, x2):
    """y = x1 - trunc(x1 / x2) * x2 (the sign of x1);  dy/dx1 = 1, dy/dx2 = -trunc(x1 / x2).

    Args:
        x1: Dividend.
        x2: Divisor (broadcast against ``x1``).

    Returns:
        The remainder, with the sign of the dividend (C's ``fmod``).

    Example:

    >>> fmod(np.array([7, -7], dtype="int32"), 3)
    array([ 1, -1], dtype=int32)
    """
    a, b = _promote(x1, x2)
    return xp(a).fmod(a, b)


@fmod.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    return _grad(g, x1), _grad(-g * xp(a).trunc(a / b), x2)


@operation(differentiable=("x1", "x2"))
def power(x1, x2):
    """y = x1 ^ x2;  dy/dx1 = x2 x1^(x2 - 1), dy/dx2 = y ln(x1).

    As in PyTorch: dy/dx1 is 0 where x2 = 0, and dy/dx2 is 0 where x1 = 0 and x2 >= 0 (NaN for a
    negative base, where ln is undefined).

    Args:
        x1: The base.
        x2: The exponent (broadcast against ``x1``).

    Returns:
        The elementwise power.

    Example:

    >>> power(np.array([2, 3], dtype="int32"), 2)
    array([4, 9], dtype=int32)
    """
    a, b = _promote(x1, x2)
    return xp(a).power(a, b)


@power.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    if a.dtype.kind not in "fc":
        return None, None  # integer powers: integers get no gradient
    module = xp(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_base = _where_safe(b != 0, b * module.power(a, b - 1), module)
        d_exponent = module.where((a == 0) & (b >= 0), module.zeros_like(out), out * module.log(a))
    return _grad(g * d_base, x1), _grad(g * d_exponent, x2)


@operation(differentiable=("x",))
def negative(x):
    """y = -x;  dy/dx = -1.

    Args:
        x: Input tensor.

    Returns:
        The elementwise negation.

    Example:

    >>> negative(np.array([1.0, -2.0]))
    array([-1.,  2.])
    """
    x = _array(x)
    return xp(x).negative(x)


@negative.defbackward
def _(g, out, x):
    return _grad(-g, x)


@operation(differentiable=("x",))
def positive(x):
    """y = +x (a copy);  dy/dx = 1.  (The op behind unary ``+``; NumPy's ``positive``.)

    Args:
        x: Input tensor.

    Returns:
        A copy of ``x``.

    Example:

    >>> positive(np.array([1.0, -2.0]))
    array([ 1., -2.])
    """
    x = _array(x)
    return xp(x).positive(x)


@positive.defbackward
def _(g, out, x):
    return _grad(g, x)


@operation(differentiable=("x",))
def absolute(x):
    """y = |x|;  dy/dx = sign(x) (0 at x = 0, as in PyTorch).

    Args:
        x: Input tensor.

    Returns:
        The elementwise absolute value, in ``x``'s dtype.

    Example:

    >>> absolute(np.array([-1.5, 0.0, 2.0]))
    array([1.5, 0. , 2. ])
    """
    x = _array(x)
    return xp(x).absolute(x)


@absolute.defbackward
def _(g, out, x):
    return _grad(g * xp(g).sign(x), x)


abs = absolute  # Keras's alias: the same op


@operation(differentiable=("x",))
def fabs(x):
    """y = |x| as a float;  dy/dx = sign(x).

    Args:
        x: Input tensor.

    Returns:
        The elementwise absolute value; integers become float32.

    Example:

    >>> fabs(np.array([-2, 3], dtype="int32"))
    array([2., 3.], dtype=float32)
    """
    x = _float(x)
    return xp(x).fabs(x)


@fabs.defbackward
def _(g, out, x):
    return _grad(g * xp(g).sign(x), x)


@operation(differentiable=("x",))
def square(x):
    """y = x^2;  dy/dx = 2x.

    Args:
        x: Input tensor.

    Returns:
        The elementwise square (integers stay integers; booleans become int32).

    Example:

    >>> square(np.array([-3, 2], dtype="int32"))
    array([9, 4], dtype=int32)
    """
    x = _array(x)
    if x.dtype == bool:
        x = x.astype(np.int32)
    return xp(x).square(x)


@square.defbackward
def _(g, out, x):
    return _grad(2 * g * x, x)


@operation(differentiable=("x",))
def sqrt(x):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y).

    Args:
        x: Input tensor (NaN where negative).

    Returns:
        The elementwise square root; integers become float32.

    Example:

    >>> sqrt(np.array([4, 9], dtype="int32"))
    array([2., 3.], dtype=float32)
    """
    x = _float(x)
    return xp(x).sqrt(x)


@sqrt.defbackward
def _(g, out, x):
    return _grad(g / (2 * out), x)


@operation(differentiable=("x",))
def rsqrt(x):
    """y = 1 / sqrt(x);  dy/dx = -x^(-3/2) / 2 = -y^3 / 2.

    Args:
        x: Input tensor.

    Returns:
        The elementwise reciprocal square root; integers become float32.

    Example:

    >>> rsqrt(np.array([4.0, 16.0]))
    array([0.5 , 0.25])
    """
    x = _float(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 / xp(x).sqrt(x)


@rsqrt.defbackward
def _(g, out, x):
    return _grad(-0.5 * g * out ** 3, x)


@operation(differentiable=("x",))
def cbrt(x):
    """y = x^(1/3) (real, also for negative x);  dy/dx = 1 / (3 y^2).

    Args:
        x: Input tensor.

    Returns:
        The elementwise cube root; integers become float32.

    Example:

    >>> cbrt(np.array([-8.0, 27.0]))
    array([-2.,  3.])
    """
    x = _float(x)
    return xp(x).cbrt(x)


@cbrt.defbackward
def _(g, out, x):
    return _grad(g / (3 * out * out), x)


@operation(differentiable=("x",))
def reciprocal(x):
    """y = 1 / x;  dy/dx = -1 / x^2 = -y^2.

    Args:
        x: Input tensor.

    Returns:
        The elementwise reciprocal; integers become float32.

    Example:

    >>> reciprocal(np.array([2.0, -4.0]))
    array([ 0.5 , -0.25])
    """
    x = _float(x)
    with np.errstate(divide="ignore"):
        return 1 / x


@reciprocal.defbackward
def _(g, out, x):
    return _grad(-g * out * out, x)


@operation()
def sign(x):
    """y = -1, 0 or 1 by the sign of x: a step function, gradient 0 (not recorded).

    Args:
        x: Input tensor.

    Returns:
        The sign of each element, in ``x``'s dtype.

    Example:

    >>> sign(np.array([-2.5, 0.0, 3.0]))
    array([-1.,  0.,  1.])
    """
    x = _array(x)
    if x.dtype == bool:
        return x.copy()
    return xp(x).sign(x)


@operation()
def signbit(x):
    """y = (the sign bit of x is set): True for negative numbers and -0.0 (not differentiable).

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor.

    Example:

    >>> signbit(np.array([-1.0, -0.0, 2.0]))
    array([ True,  True, False])
    """
    x = _array(x)
    return xp(x).signbit(x)


@operation(differentiable=("x1",))
def ldexp(x1, x2):
    """y = x1 * 2^x2 (x2 an integer);  dy/dx1 = 2^x2 (x2 gets no gradient: it is an integer).

    Args:
        x1: The mantissas.
        x2: Integer exponents (broadcast against ``x1``).

    Returns:
        ``x1 * 2**x2``; integers become float32.

    Raises:
        TypeError: if ``x2`` is not of an integer type.

    Example:

    >>> ldexp(np.array([1.0, 3.0]), np.array([3, -1]))
    array([8. , 1.5])
    """
    a, b = _array(x1), _array(x2)
    if b.dtype.kind not in "iu":
        raise TypeError(f"ops.ldexp: the exponent x2 must be of an integer type, got dtype {b.dtype}")
    a = a.astype(_as_float(a.dtype), copy=False)
    module = xp(a, b)
    return module.ldexp(module.asarray(a), module.asarray(b))


@ldexp.defbackward
def _(g, out, x1, x2):
    module = xp(g)
    scale = module.ldexp(module.ones((), dtype=g.dtype), module.asarray(_array(x2, module)))
    return _grad(g * scale, x1)


# ================================================================ exponentials and logarithms
@operation(differentiable=("x",))
def exp(x):
    """y = e^x;  dy/dx = e^x = y.

    Args:
        x: Input tensor.

    Returns:
        The elementwise exponential; integers become float32.

    Example:

    >>> exp(np.array([0.0, 1.0]))
    array([1.        , 2.71828183])
    """
    x = _float(x)
    return xp(x).exp(x)


@exp.defbackward
def _(g, out, x):
    return _grad(g * out, x)


@operation(differentiable=("x",))
def exp2(x):
    """y = 2^x;  dy/dx = 2^x ln 2 = y ln 2.

    Args:
        x: Input tensor.

    Returns:
        The elementwise power of two; integers become float32.

    Example:

    >>> exp2(np.array([3, -1], dtype="int32"))
    array([8. , 0.5], dtype=float32)
    """
    x = _float(x)
    return xp(x).exp2(x)


@exp2.defbackward
def _(g, out, x):
    return _grad(g * out * math.log(2.0), x)


@operation(differentiable=("x",))
def expm1(x):
    """y = e^x - 1 (accurate for small x);  dy/dx = e^x = y + 1.

    Args:
        x: Input tensor.

    Returns:
        ``exp(x) - 1`` elementwise; integers become float32.

    Example:

    >>> expm1(np.array([0.0, 1e-10]))
    array([0.e+00, 1.e-10])
    """
    x = _float(x)
    return xp(x).expm1(x)


@expm1.defbackward
def _(g, out, x):
    return _grad(g * (out + 1), x)


@operation(differentiable=("x",))
def log(x):
    """y = ln x;  dy/dx = 1 / x.

    Args:
        x: Input tensor (NaN where negative, -inf at 0).

    Returns:
        The natural logarithm; integers become float32.

    Example:

    >>> log(np.array([1.0, np.e]))
    array([0., 1.])
    """
    x = _float(x)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf and log(-1) = nan, silently as Keras
        return xp(x).log(x)


@log.defbackward
def _(g, out, x):
    return _grad(g / _float(x), x)


@operation(differentiable=("x",))
def log2(x):
    """y = log2 x;  dy/dx = 1 / (x ln 2).

    Args:
        x: Input tensor.

    Returns:
        The base-2 logarithm; integers become float32.

    Example:

    >>> log2(np.array([1, 8], dtype="int32"))
    array([0., 3.], dtype=float32)
    """
    x = _float(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp(x).log2(x)


@log2.defbackward
def _(g, out, x):
    return _grad(g / (_float(x) * math.log(2.0)), x)


@operation(differentiable=("x",))
def log10(x):
    """y = log10 x;  dy/dx = 1 / (x ln 10).

    Args:
        x: Input tensor.

    Returns:
        The base-10 logarithm; integers become float32.

    Example:

    >>> log10(np.array([1.0, 1000.0]))
    array([0., 3.])
    """
    x = _float(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp(x).log10(x)


@log10.defbackward
def _(g, out, x):
    return _grad(g / (_float(x) * math.log(10.0)), x)


@operation(differentiable=("x",))
def log1p(x):
    """y = ln(1 + x) (accurate for small x);  dy/dx = 1 / (1 + x).

    Args:
        x: Input tensor.

    Returns:
        ``log(1 + x)`` elementwise; integers become float32.

    Example:

    >>> log1p(np.array([0.0, 1e-10]))
    array([0.e+00, 1.e-10])
    """
    x = _float(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp(x).log1p(x)


@log1p.defbackward
def _(g, out, x):
    return _grad(g / (1 + _float(x)), x)


@operation(differentiable=("x1", "x2"))
def logaddexp(x1, x2):
    """y = ln(e^x1 + e^x2);  dy/dx1 = e^(x1 - y), dy/dx2 = e^(x2 - y) (a softmax of the two).

    Computed without overflow: max(x1, x2) + ln(1 + e^-|x1 - x2|).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        ``log(exp(x1) + exp(x2))``; integers become float32.

    Example:

    >>> logaddexp(np.array([1000.0]), np.array([1000.0]))
    array([1000.69314718])
    """
    a, b = _float_operands(x1, x2)
    return xp(a).logaddexp(a, b)


@logaddexp.defbackward
def _(g, out, x1, x2):
    a, b = _float_operands(x1, x2)
    module = xp(a)
    return _grad(g * module.exp(a - out), x1), _grad(g * module.exp(b - out), x2)


@operation(differentiable=("x1", "x2"))
def logaddexp2(x1, x2):
    """y = log2(2^x1 + 2^x2);  dy/dx1 = 2^(x1 - y), dy/dx2 = 2^(x2 - y).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        ``log2(2**x1 + 2**x2)``; integers become float32.

    Example:

    >>> logaddexp2(np.array([3.0]), np.array([3.0]))
    array([4.])
    """
    a, b = _float_operands(x1, x2)
    return xp(a).logaddexp2(a, b)


@logaddexp2.defbackward
def _(g, out, x1, x2):
    a, b = _float_operands(x1, x2)
    module = xp(a)
    return _grad(g * module.exp2(a - out), x1), _grad(g * module.exp2(b - out), x2)


# ================================================================ trigonometric and hyperbolic
@operation(differentiable=("x",))
def sin(x):
    """y = sin x;  dy/dx = cos x.

    Args:
        x: Angles in radians.

    Returns:
        The sine; integers become float32.

    Example:

    >>> sin(np.array([0.0, np.pi / 2]))
    array([0., 1.])
    """
    x = _float(x)
    return xp(x).sin(x)


@sin.defbackward
def _(g, out, x):
    return _grad(g * xp(g).cos(_float(x)), x)


@operation(differentiable=("x",))
def cos(x):
    """y = cos x;  dy/dx = -sin x.

    Args:
        x: Angles in radians.

    Returns:
        The cosine; integers become float32.

    Example:

    >>> cos(np.array([0.0, np.pi]))
    array([ 1., -1.])
    """
    x = _float(x)
    return xp(x).cos(x)


@cos.defbackward
def _(g, out, x):
    return _grad(-g * xp(g).sin(_float(x)), x)


@operation(differentiable=("x",))
def tan(x):
    """y = tan x;  dy/dx = 1 / cos^2 x = 1 + y^2.

    Args:
        x: Angles in radians.

    Returns:
        The tangent; integers become float32.

    Example:

    >>> tan(np.array([0.0, np.pi / 4])).round(6)
    array([0., 1.])
    """
    x = _float(x)
    return xp(x).tan(x)


@tan.defbackward
def _(g, out, x):
    return _grad(g * (1 + out * out), x)


@operation(differentiable=("x",))
def arcsin(x):
    """y = arcsin x;  dy/dx = 1 / sqrt(1 - x^2).

    Args:
        x: Input tensor in [-1, 1].

    Returns:
        The inverse sine in radians; integers become float32.

    Example:

    >>> arcsin(np.array([0.0, 1.0]))
    array([0.        , 1.57079633])
    """
    x = _float(x)
    return xp(x).arcsin(x)


@arcsin.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(g / xp(x).sqrt(1 - x * x), x)


@operation(differentiable=("x",))
def arccos(x):
    """y = arccos x;  dy/dx = -1 / sqrt(1 - x^2).

    Args:
        x: Input tensor in [-1, 1].

    Returns:
        The inverse cosine in radians; integers become float32.

    Example:

    >>> arccos(np.array([1.0, 0.0]))
    array([0.        , 1.57079633])
    """
    x = _float(x)
    return xp(x).arccos(x)


@arccos.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(-g / xp(x).sqrt(1 - x * x), x)


@operation(differentiable=("x",))
def arctan(x):
    """y = arctan x;  dy/dx = 1 / (1 + x^2).

    Args:
        x: Input tensor.

    Returns:
        The inverse tangent in radians; integers become float32.

    Example:

    >>> arctan(np.array([0.0, 1.0]))
    array([0.        , 0.78539816])
    """
    x = _float(x)
    return xp(x).arctan(x)


@arctan.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(g / (1 + x * x), x)


@operation(differentiable=("x1", "x2"))
def arctan2(x1, x2):
    """y = the angle of the point (x2, x1);  dy/dx1 = x2 / (x1^2 + x2^2), dy/dx2 = -x1 / (x1^2 + x2^2).

    Args:
        x1: The y coordinates.
        x2: The x coordinates (broadcast against ``x1``).

    Returns:
        Angles in radians in [-pi, pi]; integers become float32.

    Example:

    >>> arctan2(np.array([1.0, -1.0]), np.array([0.0, 0.0]))
    array([ 1.57079633, -1.57079633])
    """
    a, b = _float_operands(x1, x2)
    return xp(a).arctan2(a, b)


@arctan2.defbackward
def _(g, out, x1, x2):
    a, b = _float_operands(x1, x2)
    radius2 = a * a + b * b
    return _grad(g * b / radius2, x1), _grad(-g * a / radius2, x2)


@operation(differentiable=("x",))
def sinh(x):
    """y = sinh x;  dy/dx = cosh x.

    Args:
        x: Input tensor.

    Returns:
        The hyperbolic sine; integers become float32.

    Example:

    >>> sinh(np.array([0.0]))
    array([0.])
    """
    x = _float(x)
    return xp(x).sinh(x)


@sinh.defbackward
def _(g, out, x):
    return _grad(g * xp(g).cosh(_float(x)), x)


@operation(differentiable=("x",))
def cosh(x):
    """y = cosh x;  dy/dx = sinh x.

    Args:
        x: Input tensor.

    Returns:
        The hyperbolic cosine; integers become float32.

    Example:

    >>> cosh(np.array([0.0]))
    array([1.])
    """
    x = _float(x)
    return xp(x).cosh(x)


@cosh.defbackward
def _(g, out, x):
    return _grad(g * xp(g).sinh(_float(x)), x)


@operation(differentiable=("x",))
def tanh(x):
    """y = tanh x;  dy/dx = 1 - tanh^2 x = 1 - y^2.

    Args:
        x: Input tensor.

    Returns:
        The hyperbolic tangent; integers become float32.

    Example:

    >>> tanh(np.array([0.0, 100.0]))
    array([0., 1.])
    """
    x = _float(x)
    return xp(x).tanh(x)


@tanh.defbackward
def _(g, out, x):
    return _grad(g * (1 - out * out), x)


@operation(differentiable=("x",))
def arcsinh(x):
    """y = arcsinh x;  dy/dx = 1 / sqrt(x^2 + 1).

    Args:
        x: Input tensor.

    Returns:
        The inverse hyperbolic sine; integers become float32.

    Example:

    >>> arcsinh(np.array([0.0]))
    array([0.])
    """
    x = _float(x)
    return xp(x).arcsinh(x)


@arcsinh.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(g / xp(x).sqrt(x * x + 1), x)


@operation(differentiable=("x",))
def arccosh(x):
    """y = arccosh x;  dy/dx = 1 / sqrt(x^2 - 1).

    Args:
        x: Input tensor (>= 1).

    Returns:
        The inverse hyperbolic cosine; integers become float32.

    Example:

    >>> arccosh(np.array([1.0]))
    array([0.])
    """
    x = _float(x)
    return xp(x).arccosh(x)


@arccosh.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(g / xp(x).sqrt(x * x - 1), x)


@operation(differentiable=("x",))
def arctanh(x):
    """y = arctanh x;  dy/dx = 1 / (1 - x^2).

    Args:
        x: Input tensor in (-1, 1).

    Returns:
        The inverse hyperbolic tangent; integers become float32.

    Example:

    >>> arctanh(np.array([0.0]))
    array([0.])
    """
    x = _float(x)
    return xp(x).arctanh(x)


@arctanh.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(g / (1 - x * x), x)


@operation(differentiable=("x",))
def deg2rad(x):
    """y = x pi / 180;  dy/dx = pi / 180.

    Args:
        x: Angles in degrees.

    Returns:
        The angles in radians; integers become float32.

    Example:

    >>> deg2rad(np.array([180.0]))
    array([3.14159265])
    """
    x = _float(x)
    return x * (math.pi / 180)


@deg2rad.defbackward
def _(g, out, x):
    return _grad(g * (math.pi / 180), x)


@operation(differentiable=("x",))
def rad2deg(x):
    """y = x 180 / pi;  dy/dx = 180 / pi.

    Args:
        x: Angles in radians.

    Returns:
        The angles in degrees; integers become float32.

    Example:

    >>> rad2deg(np.array([np.pi]))
    array([180.])
    """
    x = _float(x)
    return x * (180 / math.pi)


@rad2deg.defbackward
def _(g, out, x):
    return _grad(g * (180 / math.pi), x)


@operation(differentiable=("x",))
def sinc(x):
    """y = sin(pi x) / (pi x) (1 at 0);  dy/dx = (cos(pi x) - y) / x (0 at x = 0).

    Args:
        x: Input tensor.

    Returns:
        The normalised sinc function; integers become float32.

    Example:

    >>> sinc(np.array([0.0, 0.5]))
    array([1.        , 0.63661977])
    """
    x = _float(x)
    return xp(x).sinc(x)


@sinc.defbackward
def _(g, out, x):
    x = _float(x)
    module = xp(x)
    safe = module.where(x == 0, module.ones_like(x), x)
    return _grad(g * _where_safe(x != 0, (module.cos(math.pi * x) - out) / safe, module), x)


@operation(differentiable=("x1", "x2"))
def hypot(x1, x2):
    """y = sqrt(x1^2 + x2^2);  dy/dx1 = x1 / y, dy/dx2 = x2 / y (0 where y = 0).

    Args:
        x1: First leg.
        x2: Second leg (broadcast against ``x1``).

    Returns:
        The hypotenuse; integers become float32.

    Example:

    >>> hypot(np.array([3.0]), np.array([4.0]))
    array([5.])
    """
    a, b = _float_operands(x1, x2)
    return xp(a).hypot(a, b)


@hypot.defbackward
def _(g, out, x1, x2):
    a, b = _float_operands(x1, x2)
    module = xp(a)
    safe = module.where(out == 0, module.ones_like(out), out)
    return _grad(g * a / safe, x1), _grad(g * b / safe, x2)


# ================================================================ special functions
@operation(differentiable=("x",))
def erf(x):
    """y = (2 / sqrt(pi)) integral_0^x e^(-t^2) dt;  dy/dx = (2 / sqrt(pi)) e^(-x^2).

    Args:
        x: Input tensor.

    Returns:
        The error function; integers become float32.

    Example:

    >>> erf(np.array([0.0, 3.0])).round(6)
    array([0.      , 0.999978])
    """
    return _special("erf", _float(x))


@erf.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(g * (2 / math.sqrt(math.pi)) * xp(x).exp(-x * x), x)


@operation(differentiable=("x",))
def erfc(x):
    """y = 1 - erf(x) (accurate where erf is near 1);  dy/dx = -(2 / sqrt(pi)) e^(-x^2).

    Args:
        x: Input tensor.

    Returns:
        The complementary error function; integers become float32.

    Example:

    >>> erfc(np.array([0.0]))
    array([1.])
    """
    return _special("erfc", _float(x))


@erfc.defbackward
def _(g, out, x):
    x = _float(x)
    return _grad(-g * (2 / math.sqrt(math.pi)) * xp(x).exp(-x * x), x)


@operation(differentiable=("x",))
def erfinv(x):
    """y = erf^-1(x);  dy/dx = (sqrt(pi) / 2) e^(y^2) (the inverse function's derivative).

    Args:
        x: Input tensor in (-1, 1).

    Returns:
        The inverse error function; integers become float32.

    Example:

    >>> erfinv(np.array([0.0, 0.5])).round(6)
    array([0.      , 0.476936])
    """
    return _special("erfinv", _float(x))


@erfinv.defbackward
def _(g, out, x):
    return _grad(g * (math.sqrt(math.pi) / 2) * xp(out).exp(out * out), x)


@operation(differentiable=("x",))
def i0(x):
    """y = I0(x), the modified Bessel function of the first kind of order 0;  dy/dx = I1(x).

    Args:
        x: Input tensor.

    Returns:
        ``I0(x)``; integers become float32.

    Example:

    >>> i0(np.array([0.0]))
    array([1.])
    """
    return _special("i0", _float(x))


@i0.defbackward
def _(g, out, x):
    return _grad(g * _special("i1", _float(x)), x)


# ================================================================ choosing and limiting
@operation(differentiable=("x1", "x2"))
def maximum(x1, x2):
    """y = max(x1, x2);  dy/dx1 = [x1 > x2], dy/dx2 = [x2 > x1]; a tie sends g / 2 to each (PyTorch's choice).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        The elementwise maximum (NaN if either is NaN).

    Example:

    >>> maximum(np.array([1.0, 5.0]), 3.0)
    array([3., 5.])
    """
    a, b = _promote(x1, x2)
    return xp(a).maximum(a, b)


@maximum.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    share = (a > b) + 0.5 * (a == b)  # 1 where x1 wins, 1/2 on a tie, 0 where x2 wins
    return _grad(g * share, x1), _grad(g * (1 - share), x2)


@operation(differentiable=("x1", "x2"))
def minimum(x1, x2):
    """y = min(x1, x2);  dy/dx1 = [x1 < x2], dy/dx2 = [x2 < x1]; a tie sends g / 2 to each (PyTorch's choice).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        The elementwise minimum (NaN if either is NaN).

    Example:

    >>> minimum(np.array([1.0, 5.0]), 3.0)
    array([1., 3.])
    """
    a, b = _promote(x1, x2)
    return xp(a).minimum(a, b)


@minimum.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    share = (a < b) + 0.5 * (a == b)
    return _grad(g * share, x1), _grad(g * (1 - share), x2)


@operation(differentiable=("x1", "x2"))
def fmax(x1, x2):
    """y = max(x1, x2), ignoring a NaN;  g goes to x1 where x1 >= x2 or x2 is NaN, else to x2 (PyTorch's rule).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        The elementwise maximum; where one operand is NaN, the other.

    Example:

    >>> fmax(np.array([1.0, np.nan]), np.array([2.0, 0.0]))
    array([2., 0.])
    """
    a, b = _promote(x1, x2)
    return xp(a).fmax(a, b)


@fmax.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    first = (a >= b) | xp(a).isnan(b)
    return _grad(g * first, x1), _grad(g * ~first, x2)


@operation(differentiable=("x1", "x2"))
def fmin(x1, x2):
    """y = min(x1, x2), ignoring a NaN;  g goes to x1 where x1 <= x2 or x2 is NaN, else to x2 (PyTorch's rule).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        The elementwise minimum; where one operand is NaN, the other.

    Example:

    >>> fmin(np.array([1.0, np.nan]), np.array([2.0, 0.0]))
    array([1., 0.])
    """
    a, b = _promote(x1, x2)
    return xp(a).fmin(a, b)


@fmin.defbackward
def _(g, out, x1, x2):
    a, b = _promote(x1, x2)
    first = (a <= b) | xp(a).isnan(b)
    return _grad(g * first, x1), _grad(g * ~first, x2)


@operation(differentiable=("x", "x_min", "x_max"))
def clip(x, x_min, x_max):
    """y = min(max(x, x_min), x_max);  dy/dx = [x_min <= x <= x_max], dy/dx_min = [x < x_min],
    dy/dx_max = [x > x_max] (PyTorch's ``clamp`` rule: at a bound, g goes to x).

    Args:
        x: Input tensor.
        x_min: Lower bound (number or tensor broadcast against ``x``).
        x_max: Upper bound (number or tensor broadcast against ``x``).

    Returns:
        ``x`` clipped to ``[x_min, x_max]``, in ``x``'s dtype (booleans become int32).

    Example:

    >>> clip(np.array([-2.0, 0.5, 3.0]), 0.0, 1.0)
    array([0. , 0.5, 1. ])
    """
    x = _array(x)
    dtype = np.dtype(np.int32) if x.dtype == bool else x.dtype
    module = xp(x, x_min, x_max)
    low = module.asarray(_array(x_min, module)).astype(dtype, copy=False)
    high = module.asarray(_array(x_max, module)).astype(dtype, copy=False)
    return module.minimum(module.maximum(module.asarray(x).astype(dtype, copy=False), low), high)


@clip.defbackward
def _(g, out, x, x_min, x_max):
    module = xp(g)
    value = module.asarray(_array(x, module))
    low = module.asarray(_array(x_min, module))
    high = module.asarray(_array(x_max, module))
    below, above = value < low, value > high
    inside = ~(below | above)
    return _grad(g * inside, x), _grad(g * below, x_min), _grad(g * above, x_max)


@operation(differentiable=("x",))
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """y = x with NaN and infinities replaced by finite numbers;  dy/dx = 1 where x is finite, else 0.

    Args:
        x: Input tensor.
        nan: The value for NaN.
        posinf: The value for +inf (default: the largest number of the dtype).
        neginf: The value for -inf (default: the lowest number of the dtype).

    Returns:
        The tensor with finite values only.

    Example:

    >>> nan_to_num(np.array([np.nan, np.inf, 1.0]), posinf=9.0)
    array([0., 9., 1.])
    """
    x = _array(x)
    return xp(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


@nan_to_num.defbackward
def _(g, out, x, nan, posinf, neginf):
    return _grad(g * xp(g).isfinite(x), x)


@operation()
def heaviside(x1, x2):
    """y = 0 for x1 < 0, x2 for x1 = 0, 1 for x1 > 0: a step, gradient 0 (not recorded).

    Args:
        x1: Input tensor.
        x2: The value at 0 (broadcast against ``x1``).

    Returns:
        The Heaviside step function; integers become float32.

    Example:

    >>> heaviside(np.array([-1.0, 0.0, 2.0]), 0.5)
    array([0. , 0.5, 1. ])
    """
    a, b = _float_operands(x1, x2)
    return xp(a).heaviside(a, b)


# ================================================================ rounding (steps: gradient 0, not recorded)
@operation()
def round(x, decimals=0):
    """y = x rounded to ``decimals`` places, halves to even (gradient 0: not recorded).

    Args:
        x: Input tensor.
        decimals: Number of decimal places (negative: round to tens, hundreds, ...).

    Returns:
        The rounded tensor, in ``x``'s dtype.

    Example:

    >>> round(np.array([0.5, 1.5, 2.567]), 1)
    array([0.5, 1.5, 2.6])
    """
    x = _array(x)
    return xp(x).round(x, decimals)


@operation()
def floor(x):
    """y = the largest integer <= x (gradient 0: not recorded).

    Args:
        x: Input tensor.

    Returns:
        The floor, as floats; integers become float32.

    Example:

    >>> floor(np.array([-1.5, 1.5]))
    array([-2.,  1.])
    """
    x = _float(x)
    return xp(x).floor(x)


@operation()
def ceil(x):
    """y = the smallest integer >= x (gradient 0: not recorded).

    Args:
        x: Input tensor.

    Returns:
        The ceiling, as floats; integers become float32.

    Example:

    >>> ceil(np.array([-1.5, 1.5]))
    array([-1.,  2.])
    """
    x = _float(x)
    return xp(x).ceil(x)


@operation()
def trunc(x):
    """y = x rounded towards zero (gradient 0: not recorded).

    Args:
        x: Input tensor.

    Returns:
        The truncated tensor, in ``x``'s dtype.

    Example:

    >>> trunc(np.array([-1.7, 1.7]))
    array([-1.,  1.])
    """
    x = _array(x)
    if x.dtype.kind in "biu":
        return x.copy()
    return xp(x).trunc(x)


# ================================================================ comparisons and tests (boolean: not recorded)
def _compare(name, x1, x2):
    a, b = _promote(x1, x2)
    return getattr(xp(a), name)(a, b)


@operation()
def equal(x1, x2):
    """y = (x1 == x2), elementwise.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> equal(np.array([1, 2], dtype="int32"), 2)
    array([False,  True])
    """
    return _compare("equal", x1, x2)


@operation()
def not_equal(x1, x2):
    """y = (x1 != x2), elementwise.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> not_equal(np.array([1, 2], dtype="int32"), 2)
    array([ True, False])
    """
    return _compare("not_equal", x1, x2)


@operation()
def less(x1, x2):
    """y = (x1 < x2), elementwise.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> less(np.array([1.0, 2.0]), 2.0)
    array([ True, False])
    """
    return _compare("less", x1, x2)


@operation()
def less_equal(x1, x2):
    """y = (x1 <= x2), elementwise.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> less_equal(np.array([1.0, 2.0]), 2.0)
    array([ True,  True])
    """
    return _compare("less_equal", x1, x2)


@operation()
def greater(x1, x2):
    """y = (x1 > x2), elementwise.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> greater(np.array([1.0, 3.0]), 2.0)
    array([False,  True])
    """
    return _compare("greater", x1, x2)


@operation()
def greater_equal(x1, x2):
    """y = (x1 >= x2), elementwise.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> greater_equal(np.array([1.0, 2.0]), 2.0)
    array([False,  True])
    """
    return _compare("greater_equal", x1, x2)


@operation()
def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """y = (|x1 - x2| <= atol + rtol |x2|), elementwise.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).
        rtol: Relative tolerance.
        atol: Absolute tolerance.
        equal_nan: Whether two NaNs count as close.

    Returns:
        A boolean tensor.

    Example:

    >>> isclose(np.array([1.0, 1.1]), 1.0)
    array([ True, False])
    """
    a, b = _promote(x1, x2)
    return xp(a).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


@operation()
def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """y = (every element of x1 is close to x2), as ``isclose`` defines close.

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).
        rtol: Relative tolerance.
        atol: Absolute tolerance.
        equal_nan: Whether two NaNs count as close.

    Returns:
        A 0-d boolean tensor.

    Example:

    >>> allclose(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
    array(True)
    """
    a, b = _promote(x1, x2)
    module = xp(a)
    return module.asarray(module.all(module.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)))


@operation()
def isnan(x):
    """y = (x is NaN).

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor (all False for integers).

    Example:

    >>> isnan(np.array([np.nan, 1.0]))
    array([ True, False])
    """
    x = _array(x)
    return xp(x).isnan(x)


@operation()
def isinf(x):
    """y = (x is +inf or -inf).

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor.

    Example:

    >>> isinf(np.array([np.inf, -np.inf, 1.0]))
    array([ True,  True, False])
    """
    x = _array(x)
    return xp(x).isinf(x)


@operation()
def isfinite(x):
    """y = (x is neither NaN nor infinite).

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor.

    Example:

    >>> isfinite(np.array([np.nan, np.inf, 1.0]))
    array([False, False,  True])
    """
    x = _array(x)
    return xp(x).isfinite(x)


@operation()
def isneginf(x):
    """y = (x is -inf).

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor.

    Example:

    >>> isneginf(np.array([-np.inf, np.inf]))
    array([ True, False])
    """
    x = _array(x)
    return xp(x).isneginf(x) if x.dtype.kind in "fc" else xp(x).zeros(x.shape, dtype=bool)


@operation()
def isposinf(x):
    """y = (x is +inf).

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor.

    Example:

    >>> isposinf(np.array([-np.inf, np.inf]))
    array([False,  True])
    """
    x = _array(x)
    return xp(x).isposinf(x) if x.dtype.kind in "fc" else xp(x).zeros(x.shape, dtype=bool)


@operation()
def isreal(x):
    """y = (the imaginary part of x is 0): True everywhere for real tensors.

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor.

    Example:

    >>> isreal(np.array([1.0, 2.0]))
    array([ True,  True])
    """
    x = _array(x)
    return xp(x).isreal(x)


@operation()
def nextafter(x1, x2):
    """y = the next float after x1 in the direction of x2 (not differentiable).

    Args:
        x1: Start values.
        x2: Directions (broadcast against ``x1``).

    Returns:
        The neighbouring floats; integers become float32.

    Example:

    >>> nextafter(np.array([1.0], dtype="float32"), 2.0) - 1.0
    array([1.1920929e-07], dtype=float32)
    """
    a, b = _float_operands(x1, x2)
    return xp(a).nextafter(a, b)


# ================================================================ logical (boolean: not recorded)
@operation()
def logical_and(x1, x2):
    """y = x1 AND x2 (nonzero counts as True).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> logical_and(np.array([True, True]), np.array([True, False]))
    array([ True, False])
    """
    return _compare("logical_and", x1, x2)


@operation()
def logical_or(x1, x2):
    """y = x1 OR x2 (nonzero counts as True).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> logical_or(np.array([False, False]), np.array([True, False]))
    array([ True, False])
    """
    return _compare("logical_or", x1, x2)


@operation()
def logical_xor(x1, x2):
    """y = x1 XOR x2 (nonzero counts as True).

    Args:
        x1: First input tensor.
        x2: Second input tensor (broadcast against ``x1``).

    Returns:
        A boolean tensor.

    Example:

    >>> logical_xor(np.array([True, True]), np.array([True, False]))
    array([False,  True])
    """
    return _compare("logical_xor", x1, x2)


@operation()
def logical_not(x):
    """y = NOT x (nonzero counts as True).  The op behind ``~`` on tensors.

    Args:
        x: Input tensor.

    Returns:
        A boolean tensor.

    Example:

    >>> logical_not(np.array([True, False]))
    array([False,  True])
    """
    x = _array(x)
    return xp(x).logical_not(x)


# ================================================================ bitwise and integer (integers: not recorded)
def _integers(name, x1, x2):
    a, b = _promote(x1, x2)
    if a.dtype.kind not in "biu":
        raise TypeError(f"ops.{name}: expected integer or boolean tensors, got dtype {a.dtype}")
    return a, b


@operation()
def bitwise_and(x, y):
    """z = x AND y, bit by bit.

    Args:
        x: Integer or boolean tensor.
        y: Integer or boolean tensor (broadcast against ``x``).

    Returns:
        The bitwise AND.

    Example:

    >>> bitwise_and(np.array([12], dtype="int32"), 10)
    array([8], dtype=int32)
    """
    a, b = _integers("bitwise_and", x, y)
    return xp(a).bitwise_and(a, b)


@operation()
def bitwise_or(x, y):
    """z = x OR y, bit by bit.

    Args:
        x: Integer or boolean tensor.
        y: Integer or boolean tensor (broadcast against ``x``).

    Returns:
        The bitwise OR.

    Example:

    >>> bitwise_or(np.array([12], dtype="int32"), 10)
    array([14], dtype=int32)
    """
    a, b = _integers("bitwise_or", x, y)
    return xp(a).bitwise_or(a, b)


@operation()
def bitwise_xor(x, y):
    """z = x XOR y, bit by bit.

    Args:
        x: Integer or boolean tensor.
        y: Integer or boolean tensor (broadcast against ``x``).

    Returns:
        The bitwise XOR.

    Example:

    >>> bitwise_xor(np.array([12], dtype="int32"), 10)
    array([6], dtype=int32)
    """
    a, b = _integers("bitwise_xor", x, y)
    return xp(a).bitwise_xor(a, b)


@operation()
def bitwise_invert(x):
    """y = NOT x, bit by bit (two's complement: ~x = -x - 1; for booleans, logical NOT).

    Args:
        x: Integer or boolean tensor.

    Returns:
        The bitwise inversion.

    Example:

    >>> bitwise_invert(np.array([0, 5], dtype="int32"))
    array([-1, -6], dtype=int32)
    """
    x = _array(x)
    if x.dtype.kind not in "biu":
        raise TypeError(f"ops.bitwise_invert: expected an integer or boolean tensor, got dtype {x.dtype}")
    return xp(x).invert(x)


bitwise_not = bitwise_invert  # Keras's alias: the same op


@operation()
def bitwise_left_shift(x, y):
    """z = x << y (x * 2^y for integers).

    Args:
        x: Integer tensor.
        y: Shift amounts (broadcast against ``x``).

    Returns:
        The shifted integers.

    Example:

    >>> bitwise_left_shift(np.array([1, 3], dtype="int32"), 2)
    array([ 4, 12], dtype=int32)
    """
    a, b = _integers("bitwise_left_shift", x, y)
    return xp(a).left_shift(a, b)


left_shift = bitwise_left_shift  # Keras's alias: the same op


@operation()
def bitwise_right_shift(x, y):
    """z = x >> y (floor(x / 2^y) for integers).

    Args:
        x: Integer tensor.
        y: Shift amounts (broadcast against ``x``).

    Returns:
        The shifted integers.

    Example:

    >>> bitwise_right_shift(np.array([8, -8], dtype="int32"), 2)
    array([ 2, -2], dtype=int32)
    """
    a, b = _integers("bitwise_right_shift", x, y)
    return xp(a).right_shift(a, b)


right_shift = bitwise_right_shift  # Keras's alias: the same op


@operation()
def gcd(x1, x2):
    """y = the greatest common divisor of |x1| and |x2|.

    Args:
        x1: Integer tensor.
        x2: Integer tensor (broadcast against ``x1``).

    Returns:
        The greatest common divisors.

    Example:

    >>> gcd(np.array([12, 7], dtype="int32"), 18)
    array([6, 1], dtype=int32)
    """
    a, b = _integers("gcd", x1, x2)
    return xp(a).gcd(a, b)


@operation()
def lcm(x1, x2):
    """y = the least common multiple of |x1| and |x2|.

    Args:
        x1: Integer tensor.
        x2: Integer tensor (broadcast against ``x1``).

    Returns:
        The least common multiples.

    Example:

    >>> lcm(np.array([4, 6], dtype="int32"), 10)
    array([20, 30], dtype=int32)
    """
    a, b = _integers("lcm", x1, x2)
    return xp(a).lcm(a, b)


# ================================================================ complex parts
@operation(differentiable=("x",))
def real(x):
    """y = Re(x) (x itself for real tensors);  dy/dx = 1.

    Args:
        x: Input tensor.

    Returns:
        The real part.

    Example:

    >>> real(np.array([1.5, -2.0]))
    array([ 1.5, -2. ])
    """
    x = _array(x)
    return xp(x).real(x).copy()


@real.defbackward
def _(g, out, x):
    return _grad(g, x)


@operation()
def imag(x):
    """y = Im(x): zeros for real tensors, whose imaginary part is constant (not recorded).

    Args:
        x: Input tensor.

    Returns:
        The imaginary part.

    Example:

    >>> imag(np.array([1.5, -2.0]))
    array([0., 0.])
    """
    x = _array(x)
    return xp(x).imag(x).copy()


@operation(differentiable=("x",))
def conj(x):
    """y = the complex conjugate of x (x itself for real tensors);  dL/dx = conj(g).

    Args:
        x: Input tensor.

    Returns:
        The conjugate.

    Example:

    >>> conj(np.array([1.5, -2.0]))
    array([ 1.5, -2. ])
    """
    x = _array(x)
    return xp(x).conjugate(x)


@conj.defbackward
def _(g, out, x):
    return _grad(xp(g).conjugate(g), x)


conjugate = conj  # Keras's alias: the same op


@operation()
def angle(x):
    """y = the argument of x: 0 for real x >= 0, pi for x < 0 (piecewise constant: not recorded).

    Args:
        x: Input tensor.

    Returns:
        The angles in radians; integers become float32.

    Example:

    >>> angle(np.array([2.0, -2.0]))
    array([0.        , 3.14159265])
    """
    x = _array(x)
    x = x if x.dtype.kind == "c" else x.astype(_as_float(x.dtype), copy=False)
    return xp(x).angle(x)
