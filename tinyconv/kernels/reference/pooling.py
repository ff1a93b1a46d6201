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

from ..checks.pooling import check_avg_pool_backward, check_max_pool_backward, check_pool_forward


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
    pool, strides, pads, out_hw = check_pool_forward(x, pool_size, strides, pads)
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
    input_shape = check_max_pool_backward(dy, argmax, input_shape)
    return route_gradient_to_max_winners(dy, argmax, input_shape)


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------
def avg_pool2d_forward(x, pool_size, strides, pads):
    """y = sum of the real cells in each window / how many there are (padding not counted)."""
    pool, strides, pads, out_hw = check_pool_forward(x, pool_size, strides, pads)
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
    input_shape, pool, strides, pads, out_hw = check_avg_pool_backward(dy, input_shape, pool_size, strides, pads)
    return spread_gradient_over_windows(dy, input_shape, pool, strides, pads, out_hw)
