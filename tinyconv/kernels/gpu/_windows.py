"""Sliding windows over any number of spatial axes: the gather every window kernel starts from.

An array (N, S_1, ..., S_d, C) has d spatial axes (d = 2 for images, 3 for volumes).  A window
kernel (convolution, pooling, ...) looks at K_1 x ... x K_d cells for each output cell (o_1, ..., o_d).
Along axis a, output o with tap k reads position ``table_a[o, k]``, a small host-built index table.
Two operations cover every kernel in this package:

* ``gather`` (im2col, vol2col): ``windows[n, o..., k..., c] = x[n, table_1[o_1, k_1], ..., c]``;
* ``col2im``, its adjoint: every input cell *collects* the window entries that read it, one axis
  at a time, with the (output, tap) reader tables of ``_common.receivers`` - a gather per input
  cell instead of a scatter per window, so no two threads write one cell and no atomics are needed.

Each operation comes twice.  ``*_arrays`` is the array-module version: whole-array operations on
NumPy or CuPy (whichever its arguments live in), the readable one and the test oracle.  The plain
name is what the kernels call: for images (d = 2) it runs the raw CUDA kernel of ``raw/windows.py``
or ``raw/pooling.py`` through ``fused.run`` (one launch, no padded copy, no window array for
pooling), and the ``*_arrays`` twin wherever CUDA is absent, for volumes, and for arrays too large
for 32-bit indices.
"""
import functools

import numpy as np

from ... import devices
from . import fused
from ._common import device_table, receivers
from .raw import pooling as raw_pooling, windows as raw_windows


def tap_positions(out_size, kernel, stride, dilation):
    """positions[o, k] = o*stride + k*dilation: the (padded) input position output o, tap k reads."""
    return (np.arange(out_size)[:, None] * stride + np.arange(kernel)[None, :] * dilation).astype(np.int64)


def clamped_positions(out_size, kernel, stride, pad_before, in_size):
    """Pooling windows on the unpadded input: o*stride + k - pad_before, clamped into [0, in_size).

    A clamped padding cell repeats the real cell next to it, so it never changes a max or a min.
    """
    positions = np.arange(out_size)[:, None] * stride + np.arange(kernel)[None, :] - pad_before
    return np.clip(positions, 0, in_size - 1).astype(np.int64)


@functools.lru_cache(maxsize=256)
def _host_table(builder, key):
    table = builder(*key)
    table.setflags(write=False)  # shared by every caller
    return table


def table_like(array, builder, *key):
    """``builder(*key)`` (a host index table) in ``array``'s memory: NumPy for a NumPy array, else
    the device copy cached by ``device_table``.  The twins run on NumPy data inside the stand-in's
    ``launch_twin`` while the kernels' array module is a device module, so they ask the array."""
    if devices.array_module_of(array) is np:
        return _host_table(builder, key)
    return device_table(builder, *key)


def _plain(pads=None, **geometry):
    """Geometry as plain ints: tuples of ints, and pads as ((before, after), ...)."""
    plain = {name: tuple(int(v) for v in values) for name, values in geometry.items()}
    if pads is not None:
        plain["pads"] = tuple((int(b), int(a)) for b, a in pads)
    return plain


def pad_spatial(x, pads, value=0.0):
    """Pad the spatial axes of (N, S..., C) with ``value``; ``pads`` is one (before, after) per axis.

    No pad at all returns ``x`` itself (no copy): callers only read the result.
    """
    if all(int(b) == 0 and int(a) == 0 for b, a in pads):
        return x
    widths = ((0, 0),) + tuple((int(b), int(a)) for b, a in pads) + ((0, 0),)
    return devices.array_module_of(x).pad(x, widths, constant_values=value)


def gather(x, tables):
    """(N, S_1..S_d, C) -> (N, O_1..O_d, K_1..K_d, C) with windows[.., o_a, .., k_a, ..] = x[.., tables[a][o_a, k_a], ..].

    Each table becomes an index array shaped to broadcast over (O_1..O_d, K_1..K_d); adjacent
    advanced indices replace the d spatial axes by that broadcast shape.
    """
    d = len(tables)
    index = []
    for axis, table in enumerate(tables):
        shape = [1] * (2 * d)
        shape[axis], shape[d + axis] = table.shape
        index.append(table.reshape(shape))
    return x[(slice(None), *index, slice(None))]


# ----------------------------------------------------------------------------------------------
# im2col and col2im
# ----------------------------------------------------------------------------------------------
def padded_im2col_arrays(x, pads, kernel, strides, dilation, out, fill=0.0):
    """Twin of ``padded_im2col``: pad with ``fill``, then gather every window.

    The result is C-contiguous, as the raw kernel writes it (advanced indexing returns the window
    axes in a permuted layout, and a later reshape would copy it).
    """
    tables = [table_like(x, tap_positions, *geometry) for geometry in zip(out, kernel, strides, dilation)]
    return devices.array_module_of(x).ascontiguousarray(gather(pad_spatial(x, pads, fill), tables))


def padded_im2col(x, pads, kernel, strides, dilation, out, fill=0.0):
    """Every window a (dilated) kernel sees in x padded with ``fill``: (N, O..., K..., C).

    The same as ``im2col(pad_spatial(x, pads, fill), ...)``, but for images one raw kernel that
    reads ``fill`` where a window leaves x: no padded copy of x.
    """
    geometry = _plain(pads=pads, kernel=kernel, strides=strides, dilation=dilation, out=out)
    if len(geometry["kernel"]) == 2 and raw_windows.fits(x.shape, geometry["out"], geometry["kernel"]):
        return fused.run("im2col_2d", padded_im2col_arrays, raw_windows.build_im2col_2d, x, fill=float(fill),
                         **geometry)
    return padded_im2col_arrays(x, fill=fill, **geometry)


def im2col(x_pad, kernel, strides, dilation, out):
    """Every window a (dilated) kernel sees in the padded input: (N, O..., K..., C)."""
    return padded_im2col(x_pad, ((0, 0),) * len(kernel), kernel, strides, dilation, out)


def reader_slots(in_size, out_size, kernel, stride, dilation, offset):
    """For col2im: the flat slot o*kernel + k of every (output, tap) that reads each input position;
    the sentinel slot out_size*kernel points at an appended zero."""
    out_index, tap = receivers(in_size, out_size, kernel, stride, dilation, offset)
    slots = out_index * kernel + tap
    slots[out_index == out_size] = out_size * kernel
    return slots


def col2im_arrays(dpatches, input_size, kernel, strides, pads, dilation):
    """Twin of ``col2im``: the sum separates by axis, so it is d gathers along one axis each."""
    module = devices.array_module_of(dpatches)
    d = len(input_size)
    n, c = dpatches.shape[0], dpatches.shape[-1]
    out = dpatches.shape[1:1 + d]
    # (N, O_1, K_1, ..., O_d, K_d, C) -> (N, O_1*K_1, ..., O_d*K_d, C): flat slot o*K + k per axis.
    order = [0] + [axis for a in range(d) for axis in (1 + a, 1 + d + a)] + [1 + 2 * d]
    flat = dpatches.transpose(order).reshape((n,) + tuple(o * k for o, k in zip(out, kernel)) + (c,))
    flat = module.pad(flat, ((0, 0),) + ((0, 1),) * d + ((0, 0),))      # the sentinel zero per axis
    for a in range(d):
        slots = table_like(dpatches, reader_slots, input_size[a], out[a], kernel[a], strides[a], dilation[a],
                           pads[a][0])
        flat = module.take(flat, slots, axis=1 + a).sum(axis=2 + a)     # (.., S_a, readers, ..) -> (.., S_a, ..)
    return flat


def col2im(dpatches, input_size, kernel, strides, pads, dilation):
    """Adjoint of ``im2col`` cropped to the real input: dx[n, s..., c] = sum of dpatches over every
    (o, k) with o_a*stride_a + k_a*dilation_a - before_a == s_a on every axis a.

    For images one raw kernel: each input cell sums the window entries that read it.
    """
    geometry = _plain(pads=pads, input_size=input_size, kernel=kernel, strides=strides, dilation=dilation)
    n, c = dpatches.shape[0], dpatches.shape[-1]
    if len(geometry["input_size"]) == 2 and raw_windows.fits((n, *geometry["input_size"], c),
                                                             dpatches.shape[1:3], geometry["kernel"]):
        return fused.run("col2im_2d", col2im_arrays, raw_windows.build_col2im_2d, dpatches, **geometry)
    return col2im_arrays(dpatches, **geometry)


# ----------------------------------------------------------------------------------------------
# pooling windows
# ----------------------------------------------------------------------------------------------
def window_counts(out, pool, strides, pads, input_size):
    """count[o...]: how many real (unpadded) cells each pooling window covers, as float64."""
    counts = np.ones((), dtype=np.float64)
    for o, k, s, (before, _), size in zip(out, pool, strides, pads, input_size):
        start = np.arange(o) * s - before
        per_axis = np.minimum(start + k, size) - np.maximum(start, 0)
        counts = np.multiply.outer(counts, per_axis)
    return counts


def cell_numbers(input_size):
    """(1, S..., 1) image holding each cell's flat index s_1*S_2*..*S_d + ... + s_d."""
    return np.arange(int(np.prod(input_size)), dtype=np.int64).reshape((1, *input_size, 1))


def extreme_pool_arrays(x, pool, strides, pads, out, pick):
    """Twin of ``extreme_pool``: gather every window with clamped indices, then arg-reduce it.

    Clamped windows keep the reference's order: clamping is monotone, so the first winning
    window entry always maps to the first winning real cell.
    """
    module = devices.array_module_of(x)
    d = x.ndim - 2
    n, c = x.shape[0], x.shape[-1]
    tables = [table_like(x, clamped_positions, o, k, s, p[0], size)
              for o, k, s, p, size in zip(out, pool, strides, pads, x.shape[1:-1])]
    cells = gather(x, tables).reshape((n, *out, -1, c))                  # (N, O..., K, C)
    best = getattr(cells, pick)(axis=1 + d)[..., None, :]               # (N, O..., 1, C)
    y = module.take_along_axis(cells, best, axis=1 + d)[..., 0, :]
    # The same gather over an image of cell numbers says where every window entry came from.
    numbers = gather(table_like(x, cell_numbers, tuple(x.shape[1:-1])), tables).reshape((1, *out, -1, 1))
    index = module.take_along_axis(module.broadcast_to(numbers, cells.shape), best, axis=1 + d)[..., 0, :]
    return y, index


def extreme_pool(x, pool, strides, pads, out, pick):
    """Max (``pick="argmax"``) or min (``"argmin"``) pooling over any number of spatial axes.

    Returns (y, index) with index the int64 flat position of the winning cell in the unpadded
    input of its sample and channel; the first winner in row-major window order wins, as in the
    reference.  For images one raw kernel (a running max per output cell, no window array).
    """
    geometry = _plain(pads=pads, pool=pool, strides=strides, out=out)
    if len(geometry["pool"]) == 2 and raw_pooling.fits_image(x.shape, (x.shape[0], *geometry["out"], x.shape[-1])):
        name = "max_pool_2d" if pick == "argmax" else "min_pool_2d"
        return fused.run(name, extreme_pool_arrays, raw_pooling.build_extreme_pool_2d, x, pick=pick, **geometry)
    return extreme_pool_arrays(x, pick=pick, **geometry)


def average_pool_arrays(x, pool, strides, pads, out):
    """Twin of ``average_pool``: zero-padded windows summed, divided by the real count."""
    d = len(pool)
    windows = padded_im2col_arrays(x, pads, pool, strides, (1,) * d, out)
    counts = table_like(x, window_counts, tuple(out), tuple(pool), tuple(strides), tuple(pads),
                        tuple(x.shape[1:-1]))
    total = windows.sum(axis=tuple(range(1 + d, 1 + 2 * d)))
    mean = (total / counts[(None, ..., None)].astype(x.dtype)).astype(x.dtype, copy=False)
    return devices.array_module_of(x).ascontiguousarray(mean)


def average_pool(x, pool, strides, pads, out):
    """Mean of the real cells of every window (padding not counted); for images one raw kernel."""
    geometry = _plain(pads=pads, pool=pool, strides=strides, out=out)
    if len(geometry["pool"]) == 2 and raw_pooling.fits_image(x.shape, (x.shape[0], *geometry["out"], x.shape[-1])):
        return fused.run("avg_pool_2d", average_pool_arrays, raw_pooling.build_avg_pool_2d, x, **geometry)
    return average_pool_arrays(x, **geometry)


def spread_arrays(per_window, input_size, pool, strides, pads):
    """Twin of ``spread``: col2im of per_window repeated over every tap of its window."""
    d, c = len(pool), per_window.shape[-1]
    module = devices.array_module_of(per_window)
    dpatches = module.broadcast_to(per_window.reshape(per_window.shape[:-1] + (1,) * d + (c,)),
                                   per_window.shape[:-1] + tuple(pool) + (c,))
    return col2im_arrays(dpatches, input_size, pool, strides, pads, (1,) * d)


def spread(per_window, input_size, pool, strides, pads):
    """dx[s] = sum of per_window[o] over every (undilated) window o covering real cell s."""
    d, c = len(pool), per_window.shape[-1]
    dpatches = devices.array_module_of(per_window).broadcast_to(
        per_window.reshape(per_window.shape[:-1] + (1,) * d + (c,)), per_window.shape[:-1] + tuple(pool) + (c,))
    return col2im(dpatches, input_size, pool, strides, pads, (1,) * d)


def average_pool_backward_arrays(dy, input_size, pool, strides, pads):
    """Twin of ``average_pool_backward``: col2im of each window's share dy / count."""
    out = dy.shape[1:-1]
    counts = table_like(dy, window_counts, tuple(out), tuple(pool), tuple(strides), tuple(pads), tuple(input_size))
    share = dy / counts[(None, ..., None)].astype(dy.dtype)
    return spread_arrays(share, input_size, pool, strides, pads).astype(dy.dtype, copy=False)


def average_pool_backward(dy, input_size, pool, strides, pads):
    """Each real cell collects dy / count from every window that covers it; for images one raw kernel."""
    geometry = _plain(pads=pads, input_size=input_size, pool=pool, strides=strides)
    if len(geometry["pool"]) == 2 and raw_pooling.fits_image((dy.shape[0], *geometry["input_size"], dy.shape[-1]),
                                                            dy.shape):
        return fused.run("avg_pool_2d_backward", average_pool_backward_arrays, raw_pooling.build_avg_pool_2d_backward,
                         dy, **geometry)
    return average_pool_backward_arrays(dy, **geometry)
