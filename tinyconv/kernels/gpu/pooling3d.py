"""3-D max and average pooling for the GPU backend: box gathers and reductions.

Same signatures and results as ``kernels/reference/pooling3d.py`` (padding never takes part;
``argmax`` is the flat index d*H*W + h*W + w in the unpadded volume, the first maximum in
(d, h, w) order wins).  The window helpers of ``_windows.py`` are the 2-D pooling's, run over
three spatial axes.

Max pooling's backward gets only argmax (no geometry): each box's gradient is sent to its winner,
by the 2-D pooling's kernel for any number of spatial axes (``raw/pooling.py``: one launch on CuPy, a
``bincount`` twin elsewhere).  Average pooling's backward is a gather per input cell.
"""
import numpy as np

from ..checks.pooling import check_gradient_shape3d, check_input_shape3d, check_pool3d_arguments
from ._common import check_arrays
from ._windows import average_pool, average_pool_backward, extreme_pool
from .raw import pooling as raw_pooling


def max_pool3d_forward(x, pool_size, strides, pads):
    """(y, argmax): the max of each box and the flat index d*H*W + h*W + w of the cell it came from."""
    check_arrays("gpu max_pool3d_forward", x=x)
    pool, strides, pads, out_dhw = check_pool3d_arguments(x.shape, pool_size, strides, pads)
    y, argmax = extreme_pool(x, pool, strides, pads, out_dhw, "argmax")
    return y, argmax.astype(np.int64, copy=False)


def max_pool3d_backward(dy, argmax, input_shape):
    """dL/dx: each box's gradient goes to the cell that won its max; overlapping winners add up."""
    check_arrays("gpu max_pool3d_backward", dy=dy)
    input_shape = check_input_shape3d(input_shape)
    n, depth, height, width, channels = input_shape
    if dy.ndim != 5 or dy.shape[0] != n or dy.shape[4] != channels or tuple(argmax.shape) != dy.shape:
        raise ValueError(f"gpu max_pool3d_backward: expected dy and argmax (N, OD, OH, OW, C) with N={n}, "
                         f"C={channels}, got {dy.shape} and {tuple(argmax.shape)}")
    volume = depth * height * width
    # The kernel writes where argmax points, so a bad index must be stopped here.  On the GPU only the
    # dtype is checked (reading the values would stop the device each step): argmax is the forward's own.
    if argmax.dtype != np.int64 or (isinstance(argmax, np.ndarray) and argmax.size
                                    and (argmax.min() < 0 or argmax.max() >= volume)):
        raise ValueError(f"gpu max_pool3d_backward: expected int64 argmax values in [0, {volume}), "
                         f"got {argmax.dtype} values outside")
    return raw_pooling.max_pool_backward(dy, argmax, input_shape)


def avg_pool3d_forward(x, pool_size, strides, pads):
    """y = mean of the real cells of each box (padding not counted)."""
    check_arrays("gpu avg_pool3d_forward", x=x)
    pool, strides, pads, out_dhw = check_pool3d_arguments(x.shape, pool_size, strides, pads)
    return average_pool(x, pool, strides, pads, out_dhw)


def avg_pool3d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx: each real cell collects dy / count from every box that covers it."""
    check_arrays("gpu avg_pool3d_backward", dy=dy)
    input_shape = check_input_shape3d(input_shape)
    pool, strides, pads, out_dhw = check_pool3d_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape3d(dy, input_shape, out_dhw)
    return average_pool_backward(dy, input_shape[1:4], pool, strides, pads)
