"""Max and average pooling for the GPU backend: window gathers and reductions.

Same signatures and results as ``kernels/reference/pooling.py`` (padding never takes part;
``argmax`` is the flat index h*W + w in the unpadded plane, the first maximum in row-major window
order wins).

* forward: gather every window into (N, OH, OW, PH, PW, C) with index tables built on the host,
  then reduce over the window axes (``_windows.extreme_pool`` / ``average_pool``, shared with
  3-D pooling);
* backward: for average pooling each input cell *gathers* from the windows that contain it
  (``_windows.col2im``), so there are no atomics; max pooling's backward scatters each window's
  gradient to its winning cell (its signature carries no geometry to gather with).

Max pooling clamps window indices into the image instead of padding with -inf: a clamped
top/left padding cell is a copy of the real cell it is clamped to and comes just before it in
row-major order, so ties, -inf and NaN resolve exactly as in the reference.

Verified against the reference kernels with ``xp = numpy`` in tests/gpu; with ``xp = cupy`` only
on a machine with an NVIDIA GPU.
"""
import numpy as np

from ..checks.pooling import check_gradient_shape, check_input_shape, check_pool_arguments
from ._common import check_arrays
from ._windows import average_pool, average_pool_backward, extreme_pool
from .raw import pooling as raw_pooling


def max_pool2d_forward(x, pool_size, strides, pads):
    """(y, argmax): the max of each window and the flat index h*W + w of the cell it came from."""
    check_arrays("gpu max_pool2d_forward", x=x)
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    y, argmax = extreme_pool(x, pool, strides, pads, out_hw, "argmax")
    return y, argmax.astype(np.int64, copy=False)


def max_pool2d_backward(dy, argmax, input_shape):
    """dL/dx: each window's gradient goes to the cell that won its max; overlapping winners add up.

    The signature carries no pool geometry (as in the reference), so this is a scatter: on a GPU one raw
    kernel (``raw/pooling.py``: a zeroed dx, then each window adds its dy into the winning cell, atomically,
    since overlapping windows (stride < pool) may share a winner, so the order of those float additions
    may vary between runs); elsewhere its twin, ``bincount`` over the flat cell index
    ((n*H*W + argmax)*C + c) with dy as weights (exact and ordered on NumPy).
    """
    check_arrays("gpu max_pool2d_backward", dy=dy)
    input_shape = check_input_shape(input_shape)
    n, _, _, channels = input_shape
    if dy.ndim != 4 or dy.shape[0] != n or dy.shape[3] != channels or tuple(argmax.shape) != dy.shape:
        raise ValueError(f"gpu max_pool2d_backward: expected dy and argmax (N, OH, OW, C) with N={n}, "
                         f"C={channels}, got {dy.shape} and {tuple(argmax.shape)}")
    return raw_pooling.max_pool_backward(dy, argmax, input_shape)


def avg_pool2d_forward(x, pool_size, strides, pads):
    """y = mean of the real cells of each window (zero padding added, then divided by the real count)."""
    check_arrays("gpu avg_pool2d_forward", x=x)
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    return average_pool(x, pool, strides, pads, out_hw)


def avg_pool2d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx: each input cell collects dy / count from every window that covers it."""
    check_arrays("gpu avg_pool2d_backward", dy=dy)
    input_shape = check_input_shape(input_shape)
    pool, strides, pads, out_hw = check_pool_arguments(input_shape, pool_size, strides, pads)
    check_gradient_shape(dy, input_shape, out_hw)
    return average_pool_backward(dy, input_shape[1:3], pool, strides, pads)
