"""Up-sampling (nearest, bilinear) for the GPU backend: repeats, block sums and matrix products.

Same signatures and results as ``kernels/reference/upsampling.py``.

* nearest: forward repeats every pixel into an sh x sw block; backward sums each block (a reshape
  and a reduction), so there is nothing to scatter;
* bilinear: the map is linear and separable, y = A x B^T per sample and channel, with the
  interpolation matrices A (OH, H) and B (OW, W) - two non-zeros per row, the weights
  (1 - a, a) of the neighbours h0, h1 (``source_coordinates``).  Forward is two matrix products;
  backward the transposed products dx = A^T dy B, with no atomics.  Dense A and B cost OH*H and
  OW*W numbers, small for feature maps, and turn the work into cuBLAS calls.
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


def interpolation_matrix(out_size, in_size):
    """A[i, h]: the weight of input row h in output row i (1 - a on h0, a on h1; they add when h0 == h1)."""
    low, high, weight = source_coordinates(out_size, in_size)
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1 - weight)   # on the host, once per geometry
    np.add.at(matrix, (rows, high), weight)
    return matrix


def _matrices(out_hw, in_hw, dtype):
    rows = device_table(interpolation_matrix, out_hw[0], in_hw[0]).astype(dtype, copy=False)   # (OH, H)
    cols = device_table(interpolation_matrix, out_hw[1], in_hw[1]).astype(dtype, copy=False)   # (OW, W)
    return rows, cols


def _separable(x, rows, cols):
    """z[n, i, j, c] = sum_{h, w} rows[i, h] cols[j, w] x[n, h, w, c], as two matrix products."""
    module = xp()
    n, height, width, channels = x.shape
    along_w = module.matmul(cols, x)                                   # (N, H, OW, C): cols @ each x[n, h]
    flat = along_w.reshape(n, height, -1)                              # (N, H, OW*C)
    along_h = module.matmul(rows, flat)                                # (N, OH, OW*C)
    return along_h.reshape(n, rows.shape[0], cols.shape[0], channels)


def upsample2d_bilinear_forward(x, size):
    """y = A x B^T: the bilinear blend of the 4 nearest input pixels (half-pixel centres)."""
    _check_input("gpu upsample2d_bilinear_forward", x)
    sh, sw = check_size(size)
    _, height, width, _ = x.shape
    rows, cols = _matrices((height * sh, width * sw), (height, width), x.dtype)
    return _separable(x, rows, cols).astype(x.dtype, copy=False)


def upsample2d_bilinear_backward(dy, input_shape):
    """dx = A^T dy B: each output gradient flows back to its 4 neighbours with the blend's weights."""
    check_arrays("gpu upsample2d_bilinear_backward", dy=dy)
    (_, height, width, _), _ = check_backward_arguments(shape_proxy(dy), input_shape)
    rows, cols = _matrices(dy.shape[1:3], (height, width), dy.dtype)
    return _separable(dy, rows.T, cols.T).astype(dy.dtype, copy=False)
