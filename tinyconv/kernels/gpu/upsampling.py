"""Up-sampling (nearest, bilinear) for the GPU backend: repeats, block sums and matrix products.

Same signatures and results as ``kernels/reference/upsampling.py``.

* nearest: forward repeats every pixel into an sh x sw block; backward sums each block (a reshape
  and a reduction), so there is nothing to scatter;
* bilinear: forward gathers the 4 neighbours of every output pixel and blends them with the
  weights (1 - a, a) x (1 - b, b) of ``source_coordinates``, as the reference does; backward is the
  blend's transpose as two gathers (along the columns, then the rows): every input pixel collects
  the outputs that read it, through a table of readers, so no atomics are needed.  (Dense
  interpolation matrices would be two cuBLAS calls, but their zeros turn one inf into NaN across
  a whole row: 0 * inf.)
"""
import numpy as np

from ..checks.upsampling import check_backward_arguments, check_size
from ..reference.upsampling import source_coordinates
from ._common import check_arrays, device_table, shape_proxy, xp


def _check_input(where, x):
    check_arrays(where, x=x)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected a 4-D x (N, H, W, C), got shape {x.shape}")


def upsample2d_nearest_forward(x, size):
    """y[n, i, j, c] = x[n, i // sh, j // sw, c]."""
    _check_input("gpu upsample2d_nearest_forward", x)
    sh, sw = check_size(size)
    return x.repeat(sh, axis=1).repeat(sw, axis=2)


def upsample2d_nearest_backward(dy, input_shape):
    """dL/dx: each input pixel sums the gradients of its block."""
    check_arrays("gpu upsample2d_nearest_backward", dy=dy)
    (n, height, width, channels), (sh, sw) = check_backward_arguments(shape_proxy(dy), input_shape)
    return dy.reshape(n, height, sh, width, sw, channels).sum(axis=(2, 4))


def _neighbours(out_size, in_size, which):
    """One of ``source_coordinates``'s tables: 'low', 'high' (the two input neighbours of every
    output index) or 'weight' (the weight of 'high')."""
    low, high, weight = source_coordinates(out_size, in_size)
    return {"low": low, "high": high, "weight": weight}[which]


def _readers(out_size, in_size, which):
    """The backward's gather table along one axis: for every input index, the output indices that
    blend it ('index', padded with ``out_size``, which points at an appended zero) and their
    weights ('weight', 0 in the padding)."""
    low, high, weight = source_coordinates(out_size, in_size)
    readers = [[] for _ in range(in_size)]
    for i in range(out_size):
        readers[low[i]].append((i, 1 - weight[i]))
        readers[high[i]].append((i, weight[i]))
    width = max(1, max(len(pairs) for pairs in readers))
    index = np.full((in_size, width), out_size, dtype=np.int64)
    weights = np.zeros((in_size, width))
    for position, pairs in enumerate(readers):
        for t, (i, w) in enumerate(pairs):
            index[position, t], weights[position, t] = i, w
    return index if which == "index" else weights


def _collect(values, axis, out_size, in_size):
    """Along ``axis`` (of size out_size): result[k] = sum over t of weight[k, t] * values[index[k, t]],
    every input index gathering the outputs that blended it - the transpose of the blend, no atomics."""
    module = xp()
    index = device_table(_readers, out_size, in_size, "index")
    weights = device_table(_readers, out_size, in_size, "weight").astype(values.dtype, copy=False)
    zero_shape = values.shape[:axis] + (1,) + values.shape[axis + 1:]
    padded = module.concatenate([values, module.zeros(zero_shape, dtype=values.dtype)], axis=axis)
    gathered = module.take(padded, index, axis=axis)                  # the axis becomes (in_size, T)
    weights = weights.reshape((1,) * axis + weights.shape + (1,) * (values.ndim - axis - 1))
    return (gathered * weights).sum(axis=axis + 1)


def upsample2d_bilinear_forward(x, size):
    """y = the bilinear blend of the 4 nearest input pixels (half-pixel centres), gathered as the
    reference does: one inf stays in the outputs that blend it."""
    _check_input("gpu upsample2d_bilinear_forward", x)
    sh, sw = check_size(size)
    _, height, width, _ = x.shape
    h0, h1, w0, w1 = (device_table(_neighbours, out, size_in, which)
                      for out, size_in, which in ((height * sh, height, "low"), (height * sh, height, "high"),
                                                  (width * sw, width, "low"), (width * sw, width, "high")))
    a = device_table(_neighbours, height * sh, height, "weight").astype(x.dtype)[None, :, None, None]
    b = device_table(_neighbours, width * sw, width, "weight").astype(x.dtype)[None, None, :, None]
    top = (1 - b) * x[:, h0][:, :, w0] + b * x[:, h0][:, :, w1]       # blend along the row h0
    bottom = (1 - b) * x[:, h1][:, :, w0] + b * x[:, h1][:, :, w1]    # ... and along row h1
    return ((1 - a) * top + a * bottom).astype(x.dtype, copy=False)


def upsample2d_bilinear_backward(dy, input_shape):
    """dL/dx: each output gradient flows back to its 4 neighbours with the blend's weights, as two
    gathers (columns, then rows): every input pixel collects from the outputs that read it."""
    check_arrays("gpu upsample2d_bilinear_backward", dy=dy)
    (_, height, width, _), _ = check_backward_arguments(shape_proxy(dy), input_shape)
    along_w = _collect(dy, 2, dy.shape[2], width)
    return _collect(along_w, 1, dy.shape[1], height).astype(dy.dtype, copy=False)
