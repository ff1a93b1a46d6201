"""Max and average pooling for the GPU backend: window gathers and reductions.

Same signatures and results as ``kernels/reference/pooling.py`` (padding never takes part;
``argmax`` is the flat index h*W + w in the unpadded plane, the first maximum in row-major window
order wins).

* forward: gather every window into (N, OH, OW, PH, PW, C) with index tables built on the host,
  then reduce over the window axes;
* backward: each input cell *gathers* from the windows that contain it (``_common.receivers``)
  instead of windows scattering into cells, so there are no atomics.

Max pooling clamps window indices into the image instead of padding with -inf: a clamped
top/left padding cell is a copy of the real cell it is clamped to and comes just before it in
row-major order, so ties, -inf and NaN resolve exactly as in the reference.

Verified against the reference kernels with ``xp = numpy`` in tests/gpu; with ``xp = cupy`` only
on a machine with an NVIDIA GPU.
"""
import numpy as np

from ..reference.pooling import check_input_shape, check_pool_arguments
from ._common import check_arrays, device_table, receivers, xp


def _window_positions(out_size, pool, stride, pad_before, in_size, clamp):
    """positions[o, k] = o*stride + k - pad_before; clamped into [0, in_size) or, unclamped, shifted
    by pad_before to index the zero-padded input."""
    positions = np.arange(out_size)[:, None] * stride + np.arange(pool)[None, :] - pad_before
    if clamp:
        return np.clip(positions, 0, in_size - 1).astype(np.int64)
    return (positions + pad_before).astype(np.int64)


def _real_cell_counts(out_hw, pool, strides, pads, input_hw):
    """count[i, j]: how many real (unpadded) cells window (i, j) covers - average pooling's divisor."""
    def per_axis(out_size, size, stride, before, in_size):
        start = np.arange(out_size) * stride - before
        return np.minimum(start + size, in_size) - np.maximum(start, 0)
    rows = per_axis(out_hw[0], pool[0], strides[0], pads[0][0], input_hw[0])
    cols = per_axis(out_hw[1], pool[1], strides[1], pads[1][0], input_hw[1])
    return (rows[:, None] * cols[None, :]).astype(np.float64)


def _gather_windows(x, pool, strides, pads, out_hw, clamp):
    """(N, H, W, C) -> (N, OH, OW, PH*PW, C)."""
    rows = device_table(_window_positions, out_hw[0], pool[0], strides[0], pads[0][0], x.shape[1], clamp)
    cols = device_table(_window_positions, out_hw[1], pool[1], strides[1], pads[1][0], x.shape[2], clamp)
    n, c = x.shape[0], x.shape[3]
    windows = x[:, rows[:, None, :, None], cols[None, :, None, :], :]     # (N, OH, OW, PH, PW, C)
    return windows.reshape(n, out_hw[0], out_hw[1], pool[0] * pool[1], c)


def max_pool2d_forward(x, pool_size, strides, pads):
    """(y, argmax): the max of each window and the flat index h*W + w of the cell it came from."""
    check_arrays("gpu max_pool2d_forward", x=x)
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    module = xp()
    cells = _gather_windows(x, pool, strides, pads, out_hw, clamp=True)
    best = cells.argmax(axis=3)                                            # (N, OH, OW, C), first max wins
    y = module.take_along_axis(cells, best[:, :, :, None, :], axis=3)[:, :, :, 0, :]
    rows = device_table(_window_positions, out_hw[0], pool[0], strides[0], pads[0][0], x.shape[1], True)
    cols = device_table(_window_positions, out_hw[1], pool[1], strides[1], pads[1][0], x.shape[2], True)
    # Window cell k = (k // PW, k % PW) of output (i, j) is input (rows[i, k // PW], cols[j, k % PW]).
    i = module.arange(out_hw[0])[None, :, None, None]
    j = module.arange(out_hw[1])[None, None, :, None]
    argmax = rows[i, best // pool[1]] * x.shape[2] + cols[j, best % pool[1]]
    return y, argmax.astype(np.int64, copy=False)


def max_pool2d_backward(dy, argmax, input_shape):
    """dL/dx: each window's gradient goes to the cell that won its max; overlapping winners add up.

    The signature carries no pool geometry (as in the reference), so this is the one scatter in the
    package: ``xp.bincount`` over the flat cell index ((n*H*W + argmax)*C + c) with dy as weights.
    NumPy's bincount is exact and ordered; CuPy's adds with atomics, so with overlapping windows
    (stride < pool) the order of the float additions - not the set of terms - may vary on a GPU.
    """
    check_arrays("gpu max_pool2d_backward", dy=dy)
    input_shape = check_input_shape(input_shape)
    n, height, width, channels = input_shape
    if dy.ndim != 4 or dy.shape[0] != n or dy.shape[3] != channels or tuple(argmax.shape) != dy.shape:
        raise ValueError(f"gpu max_pool2d_backward: expected dy and argmax (N, OH, OW, C) with N={n}, "
                         f"C={channels}, got {dy.shape} and {tuple(argmax.shape)}")
    module = xp()
    plane = height * width
    sample = module.arange(n, dtype=np.int64)[:, None, None, None]
    channel = module.arange(channels, dtype=np.int64)[None, None, None, :]
    cell = (sample * plane + argmax) * channels + channel
    dx = module.bincount(cell.ravel(), weights=dy.ravel(), minlength=n * plane * channels)
    return dx.reshape(input_shape).astype(dy.dtype, copy=False)


def avg_pool2d_forward(x, pool_size, strides, pads):
    """y = mean of the real cells of each window (zero padding added, then divided by the real count)."""
    check_arrays("gpu avg_pool2d_forward", x=x)
    pool, strides, pads, out_hw = check_pool_arguments(x.shape, pool_size, strides, pads)
    module = xp()
    x_pad = module.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    windows = _gather_windows(x_pad, pool, strides, pads, out_hw, clamp=False)
    counts = device_table(_real_cell_counts, out_hw, pool, strides, pads, x.shape[1:3])
    return (windows.sum(axis=3) / counts[None, :, :, None].astype(x.dtype)).astype(x.dtype, copy=False)


def _average_readers(in_size, out_size, pool, stride, pad_before):
    out_index, _ = receivers(in_size, out_size, pool, stride, 1, pad_before)
    return out_index


def avg_pool2d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx: each input cell collects dy / count from every window that covers it."""
    check_arrays("gpu avg_pool2d_backward", dy=dy)
    input_shape = check_input_shape(input_shape)
    pool, strides, pads, out_hw = check_pool_arguments(input_shape, pool_size, strides, pads)
    n, height, width, channels = input_shape
    expected = (n, out_hw[0], out_hw[1], channels)
    if dy.shape != expected:
        raise ValueError(f"gpu avg_pool2d_backward: expected dy of shape {expected} (the forward output), "
                         f"got {dy.shape}")
    module = xp()
    counts = device_table(_real_cell_counts, out_hw, pool, strides, pads, input_shape[1:3])
    share = dy / counts[None, :, :, None].astype(dy.dtype)
    share = module.pad(share, ((0, 0), (0, 1), (0, 1), (0, 0)))            # sentinel zero row/column
    row_src = device_table(_average_readers, height, out_hw[0], pool[0], strides[0], pads[0][0])   # (H, T)
    col_src = device_table(_average_readers, width, out_hw[1], pool[1], strides[1], pads[1][0])    # (W, U)
    by_rows = share[:, row_src].sum(axis=2)                                 # (N, H, OW+1, C)
    return by_rows[:, :, col_src].sum(axis=3).astype(dy.dtype, copy=False)  # (N, H, W, C)
