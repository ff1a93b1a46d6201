"""Tiled convolution and locally connected 2-D layers for the GPU backend: im2col + one batched matmul.

Same signatures and results as ``kernels/reference/tiled.py`` and ``kernels/reference/local.py``.
Output position (i, j) of a tiled convolution uses kernel K[i % th, j % tw]:

    y[n, i, j, f] = b[f] + sum_{p,q,c} x_pad[n, i*sh + p, j*sw + q, c] * K[i % th, j % tw, p, q, c, f]

Positions that share a tile share a matrix, so after im2col the positions are regrouped by tile
and the whole layer is ONE batched matrix product over the th*tw tiles:

    (TH*TW, N*U*V, KH*KW*C) @ (TH*TW, KH*KW*C, F),   U = ceil(OH / th), V = ceil(OW / tw)

(the output grid is padded with zero rows up to whole tiles, which adds nothing to any sum).
A locally connected layer is the tiled convolution whose tile is the whole output (th, tw) = (OH, OW)
with no padding: its (OH*OW, KH*KW*C, F) kernel is exactly that tiled kernel reshaped, and only
its bias differs (one per position, (OH, OW, F)).
"""
from ..checks.local import check_local_args, check_local_gradient
from ..checks.tiled import check_tiled_args, check_tiled_gradient
from ._common import check_arrays, shape_proxy, xp
from ._windows import col2im, im2col, pad_spatial


def _tiles_count(out_hw, tile):
    return -(-out_hw[0] // tile[0]), -(-out_hw[1] // tile[1])


def _by_tile(rows, tile):
    """(N, OH, OW, X) -> (TH*TW, N*U*V, X): the positions of each tile side by side."""
    n, oh, ow, width = rows.shape
    (th, tw), (u, v) = tile, _tiles_count((oh, ow), tile)
    rows = xp().pad(rows, ((0, 0), (0, u * th - oh), (0, v * tw - ow), (0, 0)))
    # Position i = a + th*k has tile row a = i % th.
    rows = rows.reshape(n, u, th, v, tw, width).transpose(2, 4, 0, 1, 3, 5)
    return rows.reshape(th * tw, n * u * v, width)


def _from_tiles(tiled, n, out_hw, tile):
    """Inverse of ``_by_tile``, cropped back to (N, OH, OW, X)."""
    (th, tw), (u, v) = tile, _tiles_count(out_hw, tile)
    width = tiled.shape[-1]
    rows = tiled.reshape(th, tw, n, u, v, width).transpose(2, 3, 0, 4, 1, 5).reshape(n, u * th, v * tw, width)
    return rows[:, :out_hw[0], :out_hw[1]]


def _patches(x, kernel_hw, strides, pads, out_hw):
    """(N, OH, OW, KH*KW*C): every window flattened in (p, q, c) order."""
    n = x.shape[0]
    windows = im2col(pad_spatial(x, pads), kernel_hw, strides, (1, 1), out_hw)
    return windows.reshape(n, out_hw[0], out_hw[1], -1)


def _tiled_forward(x, kernel, strides, pads, out_hw):
    """y without bias; kernel (TH, TW, KH, KW, C, F)."""
    th, tw, kh, kw, c, f = kernel.shape
    patches = _by_tile(_patches(x, (kh, kw), strides, pads, out_hw), (th, tw))
    y = xp().matmul(patches, kernel.reshape(th * tw, kh * kw * c, f))         # (TH*TW, N*U*V, F)
    return _from_tiles(y, x.shape[0], out_hw, (th, tw))


def _tiled_backward(dy, x, kernel, strides, pads, out_hw):
    """(dx, dkernel): the kernel gradient of a tile sums over all positions of that tile."""
    module = xp()
    th, tw, kh, kw, c, f = kernel.shape
    patches = _by_tile(_patches(x, (kh, kw), strides, pads, out_hw), (th, tw))
    dy_tiles = _by_tile(dy, (th, tw))                                          # zero rows for padded positions
    dkernel = module.matmul(patches.transpose(0, 2, 1), dy_tiles).reshape(kernel.shape)
    dpatches = module.matmul(dy_tiles, kernel.reshape(th * tw, kh * kw * c, f).transpose(0, 2, 1))
    dpatches = _from_tiles(dpatches, x.shape[0], out_hw, (th, tw)).reshape(x.shape[0], *out_hw, kh, kw, c)
    dx = col2im(dpatches, x.shape[1:3], (kh, kw), strides, pads, (1, 1))
    return dx.astype(x.dtype, copy=False), dkernel.astype(x.dtype, copy=False)


def _plain_geometry(strides, pads, out_hw):
    return tuple(int(s) for s in strides), tuple((int(b), int(a)) for b, a in pads), tuple(int(o) for o in out_hw)


def tiled_conv2d_forward(x, kernel, bias, strides, pads):
    """y[n, i, j, :] = patch(n, i, j) @ K[i % th, j % tw] + b, all positions in one batched matmul."""
    check_arrays("gpu tiled_conv2d_forward", x=x, kernel=kernel, bias=bias)
    *_, strides, pads, out_hw = check_tiled_args(shape_proxy(x), shape_proxy(kernel), shape_proxy(bias), strides,
                                                 pads)
    y = _tiled_forward(x, kernel, *_plain_geometry(strides, pads, out_hw))
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False)


def tiled_conv2d_backward(dy, x, kernel, strides, pads):
    """(dx, dkernel, dbias) given dL/dy, as in the reference kernel."""
    check_arrays("gpu tiled_conv2d_backward", dy=dy, x=x, kernel=kernel)
    *_, strides, pads, out_hw = check_tiled_args(shape_proxy(x), shape_proxy(kernel), None, strides, pads)
    check_tiled_gradient(shape_proxy(dy), shape_proxy(x), shape_proxy(kernel), out_hw)
    dx, dkernel = _tiled_backward(dy, x, kernel, *_plain_geometry(strides, pads, out_hw))
    return dx, dkernel, dy.sum(axis=(0, 1, 2))


def _as_tiled_kernel(kernel, kernel_size, channels, out_hw):
    """(OH*OW, KH*KW*C, F) -> (OH, OW, KH, KW, C, F): one tile per output position."""
    return kernel.reshape(out_hw[0], out_hw[1], kernel_size[0], kernel_size[1], channels, kernel.shape[2])


def locally_connected2d_forward(x, kernel, bias, kernel_size, strides, out_hw):
    """y[n, i, j, :] = patch(n, i, j) @ K[i*OW + j] + b[i, j]: a tiled convolution with one tile per position."""
    check_arrays("gpu locally_connected2d_forward", x=x, kernel=kernel, bias=bias)
    *_, kernel_size, strides, out_hw = check_local_args(shape_proxy(x), shape_proxy(kernel), shape_proxy(bias),
                                                        kernel_size, strides, out_hw)
    tiled = _as_tiled_kernel(kernel, kernel_size, x.shape[3], out_hw)
    y = _tiled_forward(x, tiled, *_plain_geometry(strides, ((0, 0), (0, 0)), out_hw))
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False)


def locally_connected2d_backward(dy, x, kernel, kernel_size, strides, out_hw):
    """(dx, dkernel, dbias) given dL/dy; dbias has shape (OH, OW, F)."""
    check_arrays("gpu locally_connected2d_backward", dy=dy, x=x, kernel=kernel)
    *_, kernel_size, strides, out_hw = check_local_args(shape_proxy(x), shape_proxy(kernel), None, kernel_size,
                                                        strides, out_hw)
    check_local_gradient(shape_proxy(dy), shape_proxy(x), shape_proxy(kernel), out_hw)
    tiled = _as_tiled_kernel(kernel, kernel_size, x.shape[3], out_hw)
    dx, dkernel = _tiled_backward(dy, x, tiled, *_plain_geometry(strides, ((0, 0), (0, 0)), out_hw))
    return dx, dkernel.reshape(kernel.shape), dy.sum(axis=0)
