"""Max and average pooling in plain NumPy (NHWC), the oracle for ``kernels/cpu/pooling.pyx``.

One output cell looks at one window of the input plane, for every sample and channel at once:

    window(oh, ow) = rows    oh*sh - top  ... oh*sh - top  + ph - 1
                     columns ow*sw - left ... ow*sw - left + pw - 1

    max pooling:      y[n, oh, ow, c] = max  of x[n, h, w, c] over the window
    average pooling:  y[n, oh, ow, c] = mean of x[n, h, w, c] over the window

Rows or columns that fall outside the input are padding.  Padding never takes part: for max
pooling a padded cell counts as -inf (it can never win), and average pooling divides by the
number of *real* cells in the window (Keras's behaviour for ``padding="same"``).  So both
poolings simply clip each window to the input, which is what the code below does.

The output size per axis is the course's formula, ``tinyconv.geometry.output_size``.
"""
import numpy as np

from ...geometry import output_size

FLOAT_DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------------------------
# Argument checks, shared with the compiled twin (tinyconv.kernels.cpu.pooling)
# --------------------------------------------------------------------------------------------
# One set of checks serves 2-D and 3-D pooling (pooling3d.py): ``who`` names the kernel in the messages
# and ``axis_names`` lists the spatial axes, ("height", "width") or ("depth", "height", "width").
AXES_2D = ("height", "width")
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


def check_pool_arguments(input_shape, pool_size, strides, pads):
    """Validate the 2-D pooling geometry; return (pool, strides, pads, (OH, OW)) as plain ints."""
    return check_pool_geometry("pooling", AXES_2D, input_shape, pool_size, strides, pads)


def check_float_array(array, what):
    if not isinstance(array, np.ndarray) or array.dtype not in FLOAT_DTYPES:
        got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise TypeError(f"pooling: expected {what} as a float32 or float64 NumPy array, got {got}")


def check_pooled_gradient_shape(who, dy, input_shape, out):
    """dy must have the forward output's shape (N, *out, C)."""
    expected = (input_shape[0], *out, input_shape[-1])
    if dy.shape != expected:
        raise ValueError(f"{who} backward: expected dy of shape {expected} (the forward output), got {dy.shape}")


def check_gradient_shape(dy, input_shape, out_hw):
    check_pooled_gradient_shape("pooling", dy, input_shape, out_hw)


def check_pooled_input_shape(who, axis_names, input_shape):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != len(axis_names) + 2 or min(shape) < 1:
        raise ValueError(f"{who} backward: expected input_shape {_layout(axis_names)} of positive ints, "
                         f"got {input_shape!r}")
    return shape


def check_input_shape(input_shape):
    return check_pooled_input_shape("pooling", AXES_2D, input_shape)


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


def check_max_pool_backward_arguments(dy, argmax, input_shape):
    """dy and argmax must come from the forward pass over an input of input_shape."""
    check_float_array(dy, "dy")
    input_shape = check_input_shape(input_shape)
    check_argmax("max_pool2d_backward", AXES_2D, dy, argmax, input_shape)
    return input_shape


# --------------------------------------------------------------------------------------------
# The windows
# --------------------------------------------------------------------------------------------
def window_bounds(out_index, stride, pad_before, pool, size):
    """[start, stop) of one window along one axis, clipped to the real input (padding dropped)."""
    start = out_index * stride - pad_before
    return max(start, 0), min(start + pool, size)


def windows(input_hw, out_hw, pool, strides, pads):
    """Yield (oh, ow, rows, cols): each output cell and the slices of the input it pools."""
    for oh in range(out_hw[0]):
        h0, h1 = window_bounds(oh, strides[0], pads[0][0], pool[0], input_hw[0])
        for ow in range(out_hw[1]):
            w0, w1 = window_bounds(ow, strides[1], pads[1][0], pool[1], input_hw[1])
            yield oh, ow, slice(h0, h1), slice(w0, w1)


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------
def max_pool2d_forward(x, pool_size, strides, pads):
    """y = max over each window; also returns where each max came from.

    ``argmax[n, oh, ow, c]`` is the flat index ``h * W + w`` of the winning cell in the
    *unpadded* (H, W) plane of sample n, channel c (PyTorch's MaxUnpool2d convention).
    On a tie the first cell in row-major window order wins (``np.argmax`` picks the first).
    """
    check_float_array(x, "x")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    n, height, width, channels = x.shape
    y = np.empty((n, *out_hw, channels), dtype=x.dtype)
    argmax = np.empty((n, *out_hw, channels), dtype=np.int64)
    for oh, ow, rows, cols in windows((height, width), out_hw, pool, strides, pads):
        window = x[:, rows, cols, :]                      # (N, wh, ww, C)
        win_h, win_w = window.shape[1:3]
        cells = window.reshape(n, win_h * win_w, channels)  # cells in row-major order
        best = cells.argmax(axis=1)                       # (N, C): position inside the window
        y[:, oh, ow, :] = np.take_along_axis(cells, best[:, None, :], axis=1)[:, 0, :]
        # From "cell k of this window" back to the input row and column.
        row = rows.start + best // win_w
        col = cols.start + best % win_w
        argmax[:, oh, ow, :] = row * width + col
    return y, argmax


def route_gradient_to_max_winners(dy, argmax, input_shape):
    """Each upstream gradient goes to the input cell that won the max; overlaps add up."""
    n, height, width, channels = input_shape
    dx_planes = np.zeros((n, height * width, channels), dtype=dy.dtype)  # flat (H*W) planes
    sample = np.arange(n)[:, None, None, None]
    channel = np.arange(channels)[None, None, None, :]
    # np.add.at (unlike dx[idx] += dy) adds every contribution when an index repeats,
    # i.e. when one input cell won the max in several overlapping windows.
    np.add.at(dx_planes, (sample, argmax, channel), dy)
    return dx_planes.reshape(input_shape)


def max_pool2d_backward(dy, argmax, input_shape):
    """dL/dx: only the winner of each window gets that window's gradient (the max is a switch)."""
    input_shape = check_max_pool_backward_arguments(dy, argmax, input_shape)
    return route_gradient_to_max_winners(dy, argmax, input_shape)


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------
def avg_pool2d_forward(x, pool_size, strides, pads):
    """y = sum of the real cells in each window / how many there are (padding not counted)."""
    check_float_array(x, "x")
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    n, height, width, channels = x.shape
    y = np.empty((n, *out_hw, channels), dtype=x.dtype)
    for oh, ow, rows, cols in windows((height, width), out_hw, pool, strides, pads):
        window = x[:, rows, cols, :]
        count = window.shape[1] * window.shape[2]
        y[:, oh, ow, :] = window.sum(axis=(1, 2)) / count
    return y


def spread_gradient_over_windows(dy, input_shape, pool, strides, pads, out_hw):
    """Each cell of a window gets dy/count (d mean / d cell = 1/count); overlaps add up."""
    dx = np.zeros(input_shape, dtype=dy.dtype)
    for oh, ow, rows, cols in windows(input_shape[1:3], out_hw, pool, strides, pads):
        count = (rows.stop - rows.start) * (cols.stop - cols.start)
        dx[:, rows, cols, :] += (dy[:, oh, ow, :] / count)[:, None, None, :]
    return dx


def avg_pool2d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx for average pooling."""
    check_float_array(dy, "dy")
    input_shape = check_input_shape(input_shape)
    pool, strides, pads, out_hw = check_pool_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape(dy, input_shape, out_hw)
    return spread_gradient_over_windows(dy, input_shape, pool, strides, pads, out_hw)
