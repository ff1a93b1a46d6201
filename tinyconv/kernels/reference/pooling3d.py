"""3-D max and average pooling in plain NumPy (NDHWC), the oracle for ``kernels/cpu/pooling3d.pyx``.

The 2-D pooling of ``pooling.py`` with one more spatial axis (depth).  One output cell pools
one box of the input volume, for every sample and channel at once:

    box(od, oh, ow) = depths  od*sd - front ... od*sd - front + pd - 1
                      rows    oh*sh - top   ... oh*sh - top   + ph - 1
                      columns ow*sw - left  ... ow*sw - left  + pw - 1

    max pooling:      y[n, od, oh, ow, c] = max  of x[n, d, h, w, c] over the box
    average pooling:  y[n, od, oh, ow, c] = mean of x[n, d, h, w, c] over the box

As in 2-D, padding never takes part: each box is clipped to the real input (a padded cell
could never win a max; the mean divides by the number of real cells, as Keras does).

``argmax`` is the flat index ``d*H*W + h*W + w`` of the winning cell in the unpadded
(D, H, W) volume of one sample and channel (PyTorch's MaxUnpool3d convention); on a tie the
first cell in (d, h, w) order wins.
"""
import numpy as np

from ..checks.pooling import check_avg_pool3d_backward, check_max_pool3d_backward, check_pool3d_forward
from .pooling import window_bounds


# --------------------------------------------------------------------------------------------
# The boxes
# --------------------------------------------------------------------------------------------
def boxes(input_dhw, out_dhw, pool, strides, pads):
    """Yield ((od, oh, ow), (depths, rows, cols)): each output cell and the slices it pools."""
    for out_index in np.ndindex(*out_dhw):
        spans = [window_bounds(o, s, p[0], k, n)
                 for o, s, p, k, n in zip(out_index, strides, pads, pool, input_dhw)]
        yield out_index, tuple(slice(start, stop) for start, stop in spans)


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------
def max_pool3d_forward(x, pool_size, strides, pads):
    """y = max over each box; also returns argmax, the flat d*H*W + h*W + w of each winner."""
    pool, strides, pads, out_dhw = check_pool3d_forward(x, pool_size, strides, pads)
    n, depth, height, width, channels = x.shape
    y = np.empty((n, *out_dhw, channels), dtype=x.dtype)
    argmax = np.empty((n, *out_dhw, channels), dtype=np.int64)
    for (od, oh, ow), (depths, rows, cols) in boxes((depth, height, width), out_dhw, pool, strides, pads):
        box = x[:, depths, rows, cols, :]                     # (N, bd, bh, bw, C)
        box_d, box_h, box_w = box.shape[1:4]
        cells = box.reshape(n, box_d * box_h * box_w, channels)  # cells in (d, h, w) order
        best = cells.argmax(axis=1)                            # (N, C): first winner on ties
        y[:, od, oh, ow, :] = np.take_along_axis(cells, best[:, None, :], axis=1)[:, 0, :]
        # From "cell k of this box" back to the input's depth, row and column.
        d = depths.start + best // (box_h * box_w)
        h = rows.start + (best // box_w) % box_h
        w = cols.start + best % box_w
        argmax[:, od, oh, ow, :] = (d * height + h) * width + w
    return y, argmax


def max_pool3d_backward(dy, argmax, input_shape):
    """dL/dx: each upstream gradient goes to the cell that won its box's max; overlaps add up."""
    input_shape = check_max_pool3d_backward(dy, argmax, input_shape)
    n, depth, height, width, channels = input_shape
    dx_volumes = np.zeros((n, depth * height * width, channels), dtype=dy.dtype)
    sample = np.arange(n)[:, None, None, None, None]
    channel = np.arange(channels)[None, None, None, None, :]
    # np.add.at adds every contribution when one cell won several overlapping boxes.
    np.add.at(dx_volumes, (sample, argmax, channel), dy)
    return dx_volumes.reshape(input_shape)


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------
def avg_pool3d_forward(x, pool_size, strides, pads):
    """y = sum of the real cells in each box / how many there are (padding not counted)."""
    pool, strides, pads, out_dhw = check_pool3d_forward(x, pool_size, strides, pads)
    n, depth, height, width, channels = x.shape
    y = np.empty((n, *out_dhw, channels), dtype=x.dtype)
    for (od, oh, ow), (depths, rows, cols) in boxes((depth, height, width), out_dhw, pool, strides, pads):
        box = x[:, depths, rows, cols, :]
        count = box.shape[1] * box.shape[2] * box.shape[3]
        y[:, od, oh, ow, :] = box.sum(axis=(1, 2, 3)) / count
    return y


def avg_pool3d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx: each real cell of a box gets dy/count (d mean / d cell = 1/count); overlaps add up."""
    input_shape, pool, strides, pads, out_dhw = check_avg_pool3d_backward(dy, input_shape, pool_size, strides, pads)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    for (od, oh, ow), (depths, rows, cols) in boxes(input_shape[1:4], out_dhw, pool, strides, pads):
        count = (depths.stop - depths.start) * (rows.stop - rows.start) * (cols.stop - cols.start)
        dx[:, depths, rows, cols, :] += (dy[:, od, oh, ow, :] / count)[:, None, None, None, :]
    return dx
