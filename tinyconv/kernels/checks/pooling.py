"""Checks of the max and average pooling kernels, 2-D (NHWC) and 3-D (NDHWC).

One set of checks serves both: ``who`` names the kernel in the messages and ``axis_names``
lists the spatial axes, ``AXES_2D`` or ``AXES_3D``.  The pooling variants (``pooling_variants``)
use the 2-D checks too.
"""
import numpy as np

from ...geometry import output_size

FLOAT_DTYPES = (np.float32, np.float64)
AXES_2D = ("height", "width")
AXES_3D = ("depth", "height", "width")
_PAD_SIDES = {"depth": "(front, back)", "height": "(top, bottom)", "width": "(left, right)"}
_COUNT_WORDS = {2: "two", 3: "three"}


def _layout(axis_names, prefix=""):
    """'(N, H, W, C)' for ('height', 'width'); prefix 'O' gives the output's '(N, OH, OW, C)'."""
    return "(N, " + ", ".join(prefix + name[0].upper() for name in axis_names) + ", C)"


def _positive_ints(who, value, what, axis_names):
    values = tuple(int(v) for v in value)
    if len(values) != len(axis_names) or min(values) < 1:
        raise ValueError(f"{who}: expected {what} as {_COUNT_WORDS[len(axis_names)]} positive ints "
                         f"({', '.join(axis_names)}), got {value!r}")
    return values


# --------------------------------------------------------------------------------------------
# The pieces, for any number of spatial axes
# --------------------------------------------------------------------------------------------
def check_pool_geometry(who, axis_names, input_shape, pool_size, strides, pads):
    """Validate the pooling geometry; return (pool, strides, pads, output spatial sizes) as plain ints."""
    rank = len(axis_names)
    if len(input_shape) != rank + 2:
        raise ValueError(f"{who}: expected a {rank + 2}-D input {_layout(axis_names)}, got shape {tuple(input_shape)}")
    pool = _positive_ints(who, pool_size, "pool_size", axis_names)
    strides = _positive_ints(who, strides, "strides", axis_names)
    pads = tuple(tuple(int(p) for p in side) for side in pads)
    if len(pads) != rank or any(len(side) != 2 for side in pads):
        sides = ", ".join(_PAD_SIDES[name] for name in axis_names)
        raise ValueError(f"{who}: expected pads ({sides}), got {pads!r}")
    for name, side, size in zip(axis_names, pads, pool):
        # A pad as wide as the pool would let a window lie entirely in the padding:
        # a max over nothing, an average of zero cells.
        if min(side) < 0 or max(side) >= size:
            raise ValueError(f"{who}: expected {name} pads in [0, {size - 1}] (smaller than the pool size {size}), "
                             f"got {side}")
    spatial = tuple(input_shape[1:rank + 1])
    out = tuple(output_size(n, k, s, p[0], p[1]) for n, k, s, p in zip(spatial, pool, strides, pads))
    if min(out) < 1:
        raise ValueError(f"{who}: expected pool {pool} (strides {strides}, pads {pads}) to fit the input's "
                         f"({', '.join(axis_names)}) {spatial} at least once, got an output of {out}")
    return pool, strides, pads, out


def check_float_array(array, what):
    if not isinstance(array, np.ndarray) or array.dtype not in FLOAT_DTYPES:
        got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise TypeError(f"pooling: expected {what} as a float32 or float64 NumPy array, got {got}")


def check_pooled_gradient_shape(who, dy, input_shape, out):
    """dy must have the forward output's shape (N, *out, C)."""
    expected = (input_shape[0], *out, input_shape[-1])
    if dy.shape != expected:
        raise ValueError(f"{who} backward: expected dy of shape {expected} (the forward output), got {dy.shape}")


def check_pooled_input_shape(who, axis_names, input_shape):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != len(axis_names) + 2 or min(shape) < 1:
        raise ValueError(f"{who} backward: expected input_shape {_layout(axis_names)} of positive ints, "
                         f"got {input_shape!r}")
    return shape


def check_argmax(who, axis_names, dy, argmax, input_shape):
    """dy and argmax must come from a max-pooling forward pass over an input of (checked) input_shape."""
    n, c = input_shape[0], input_shape[-1]
    if dy.ndim != len(axis_names) + 2 or dy.shape[0] != n or dy.shape[-1] != c:
        raise ValueError(f"{who}: expected dy {_layout(axis_names, 'O')} with N={n}, C={c} (from input_shape), "
                         f"got {dy.shape}")
    if not isinstance(argmax, np.ndarray) or argmax.shape != dy.shape or argmax.dtype != np.int64:
        got = (argmax.shape, argmax.dtype) if isinstance(argmax, np.ndarray) else type(argmax).__name__
        raise ValueError(f"{who}: expected argmax int64 of shape {dy.shape}, got {got}")
    cells = int(np.prod(input_shape[1:-1]))  # the (H, W) plane or (D, H, W) volume argmax indexes
    # The compiled backward writes where argmax points, so a bad index must be stopped here.
    if argmax.size and (argmax.min() < 0 or argmax.max() >= cells):
        raise ValueError(f"{who}: expected argmax values in [0, {cells}), got values outside")


# --------------------------------------------------------------------------------------------
# 2-D pooling
# --------------------------------------------------------------------------------------------
def check_pool_arguments(input_shape, pool_size, strides, pads):
    """Validate the 2-D pooling geometry; return (pool, strides, pads, (OH, OW)) as plain ints."""
    return check_pool_geometry("pooling", AXES_2D, input_shape, pool_size, strides, pads)


def check_gradient_shape(dy, input_shape, out_hw):
    check_pooled_gradient_shape("pooling", dy, input_shape, out_hw)


def check_input_shape(input_shape):
    return check_pooled_input_shape("pooling", AXES_2D, input_shape)


# The compiled max and min poolings number a window's winning cell with an int32 while they scan
# (pool_order.pxd's take_larger): an image of more cells than that is refused, not wrapped around.
MAX_NUMBERED_CELLS = 2**31 - 1


def check_cells_numbered(who, x, spatial_axes):
    """ValueError when x's images have more cells than an int32 numbers."""
    cells = int(np.prod(x.shape[1:1 + spatial_axes], dtype=np.int64))
    if cells > MAX_NUMBERED_CELLS:
        raise ValueError(f"{who}: expected at most {MAX_NUMBERED_CELLS} cells per image, got "
                         f"{' x '.join(str(n) for n in x.shape[1:1 + spatial_axes])}")


def check_pool_forward(x, pool_size, strides, pads):
    """A 2-D pooling forward's arguments; return (pool, strides, pads, (OH, OW))."""
    check_float_array(x, "x")
    return check_pool_arguments(x.shape, pool_size, strides, pads)


def check_max_pool_backward(dy, argmax, input_shape):
    """dy and argmax must come from the forward pass over an input of input_shape."""
    check_float_array(dy, "dy")
    input_shape = check_input_shape(input_shape)
    check_argmax("max_pool2d_backward", AXES_2D, dy, argmax, input_shape)
    return input_shape


def check_avg_pool_backward(dy, input_shape, pool_size, strides, pads):
    """dy must be the forward output's gradient; return (input_shape, pool, strides, pads, (OH, OW))."""
    check_float_array(dy, "dy")
    input_shape = check_input_shape(input_shape)
    pool, strides, pads, out_hw = check_pool_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape(dy, input_shape, out_hw)
    return input_shape, pool, strides, pads, out_hw


# --------------------------------------------------------------------------------------------
# 3-D pooling
# --------------------------------------------------------------------------------------------
def check_pool3d_arguments(input_shape, pool_size, strides, pads):
    """Validate the 3-D pooling geometry; return (pool, strides, pads, (OD, OH, OW)) as plain ints."""
    return check_pool_geometry("pooling3d", AXES_3D, input_shape, pool_size, strides, pads)


def check_input_shape3d(input_shape):
    return check_pooled_input_shape("pooling3d", AXES_3D, input_shape)


def check_gradient_shape3d(dy, input_shape, out_dhw):
    check_pooled_gradient_shape("pooling3d", dy, input_shape, out_dhw)


def check_pool3d_forward(x, pool_size, strides, pads):
    """A 3-D pooling forward's arguments; return (pool, strides, pads, (OD, OH, OW))."""
    check_float_array(x, "x")
    return check_pool3d_arguments(x.shape, pool_size, strides, pads)


def check_max_pool3d_backward(dy, argmax, input_shape):
    """dy and argmax must come from the forward pass over an input of input_shape."""
    check_float_array(dy, "dy")
    input_shape = check_input_shape3d(input_shape)
    check_argmax("max_pool3d_backward", AXES_3D, dy, argmax, input_shape)
    return input_shape


def check_avg_pool3d_backward(dy, input_shape, pool_size, strides, pads):
    """dy must be the forward output's gradient; return (input_shape, pool, strides, pads, (OD, OH, OW))."""
    check_float_array(dy, "dy")
    input_shape = check_input_shape3d(input_shape)
    pool, strides, pads, out_dhw = check_pool3d_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape3d(dy, input_shape, out_dhw)
    return input_shape, pool, strides, pads, out_dhw
