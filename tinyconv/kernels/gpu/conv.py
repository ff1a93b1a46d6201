"""2-D convolution for the GPU backend: im2col gathers + one (batched) matrix product.

Same maths and signatures as ``kernels/reference/conv.py``:

    y[n, i, j, f] = b[f] + sum_{p,q,c} x_pad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] * k[p, q, c, f]

How it is computed (every step is a whole-array operation, so under CuPy each is one or a few
kernel launches):

1. im2col as a gather: ``patches[n, i, j, p, q, c] = x_pad[n, rows[i, p], cols[j, q], c]`` with the
   index tables ``rows[i, p] = i*sh + p*dh`` (and the same for columns) built once on the host;
2. the sum over (p, q, c) is a matrix product ``(N*OH*OW, KH*KW*Cg) @ (KH*KW*Cg, Fg)``, batched
   over the groups: ``xp.matmul`` (cuBLAS under CuPy);
3. backward: ``dkernel = patches^T @ dy``, ``dpatches = dy @ kernel^T``, and col2im - adding each
   patch gradient back to the input cell it came from - as a *gather per input cell* over the
   (output, tap) pairs that read it (``_common.receivers``), one image axis at a time.

Verified against the reference kernels with ``xp = numpy`` in tests/gpu; with ``xp = cupy`` only
on a machine with an NVIDIA GPU (tests/gpu/test_gpu_device.py).
"""
import numpy as np

from ..reference.conv import validate_conv2d_args
from ._common import check_arrays, device_table, receivers, shape_proxy, xp


def _validate(where, x, kernel, bias, strides, pads, dilation, groups):
    check_arrays(where, x=x, kernel=kernel, bias=bias)
    _, _, _, out_hw = validate_conv2d_args(shape_proxy(x), shape_proxy(kernel), shape_proxy(bias), strides, pads,
                                           dilation, groups)
    (top, bottom), (left, right) = (tuple(int(p) for p in side) for side in pads)
    return tuple(int(s) for s in strides), ((top, bottom), (left, right)), tuple(int(d) for d in dilation), \
        int(groups), out_hw


def _tap_positions(out_size, kernel, stride, dilation):
    """positions[o, k] = o*stride + k*dilation: the padded input row (or column) output o, tap k reads."""
    return (np.arange(out_size)[:, None] * stride + np.arange(kernel)[None, :] * dilation).astype(np.int64)


def im2col(x_pad, kernel_hw, strides, dilation, out_hw):
    """(N, Hp, Wp, C) -> patches (N, OH, OW, KH, KW, C): every window the kernel sees, side by side."""
    rows = device_table(_tap_positions, out_hw[0], kernel_hw[0], strides[0], dilation[0])   # (OH, KH)
    cols = device_table(_tap_positions, out_hw[1], kernel_hw[1], strides[1], dilation[1])   # (OW, KW)
    # Two adjacent advanced indices broadcast to (OH, OW, KH, KW) and replace axes 1 and 2.
    return x_pad[:, rows[:, None, :, None], cols[None, :, None, :], :]


def col2im(dpatches, input_hw, kernel_hw, strides, pads, dilation):
    """Adjoint of im2col, cropped to the real image: dx[n, h, w, c] = sum of dpatches over every
    (i, p, j, q) with i*sh + p*dh - top == h and j*sw + q*dw - left == w.

    The sum separates into rows then columns, so it is two gathers along one axis each.
    """
    module = xp()
    n, oh, ow, kh, kw, c = dpatches.shape
    # (N, OH*KH, OW*KW, C), one zero row and column appended for the readers tables' sentinel.
    flat = dpatches.transpose(0, 1, 3, 2, 4, 5).reshape(n, oh * kh, ow * kw, c)
    flat = module.pad(flat, ((0, 0), (0, 1), (0, 1), (0, 0)))
    row_src = device_table(_reader_slots, input_hw[0], oh, kh, strides[0], dilation[0], pads[0][0])  # (H, T)
    col_src = device_table(_reader_slots, input_hw[1], ow, kw, strides[1], dilation[1], pads[1][0])  # (W, U)
    by_rows = flat[:, row_src].sum(axis=2)          # (N, H, OW*KW + 1, C)
    return by_rows[:, :, col_src].sum(axis=3)       # (N, H, W, C)


def _reader_slots(in_size, out_size, kernel, stride, dilation, offset):
    """For col2im: the flat slot o*kernel + k of each reader of each input position (sentinel: the
    appended zero at out_size*kernel)."""
    out_index, tap = receivers(in_size, out_size, kernel, stride, dilation, offset)
    slots = out_index * kernel + tap
    slots[out_index == out_size] = out_size * kernel
    return slots


def _grouped(matrix_rows, groups):
    """(M, KH, KW, C) patches -> (G, M, KH*KW*Cg): one matrix per group for a batched matmul."""
    m, kh, kw, c = matrix_rows.shape
    cg = c // groups
    return matrix_rows.reshape(m, kh, kw, groups, cg).transpose(3, 0, 1, 2, 4).reshape(groups, m, kh * kw * cg)


def _grouped_kernel(kernel, groups):
    """(KH, KW, Cg, F) -> (G, KH*KW*Cg, Fg)."""
    kh, kw, cg, f = kernel.shape
    return kernel.reshape(kh * kw * cg, groups, f // groups).transpose(1, 0, 2)


def conv2d_forward(x, kernel, bias, strides, pads, dilation, groups):
    """y = x (*) kernel + bias (NHWC, Keras kernel layout), as im2col + matmul."""
    strides, pads, dilation, groups, (oh, ow) = _validate("gpu conv2d_forward", x, kernel, bias, strides, pads,
                                                          dilation, groups)
    module = xp()
    n, f = x.shape[0], kernel.shape[3]
    kh, kw = kernel.shape[:2]
    x_pad = module.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    patches = im2col(x_pad, (kh, kw), strides, dilation, (oh, ow)).reshape(n * oh * ow, kh, kw, x.shape[3])
    if groups == 1:
        y = patches.reshape(n * oh * ow, -1) @ kernel.reshape(-1, f)
    else:
        y = module.matmul(_grouped(patches, groups), _grouped_kernel(kernel, groups))   # (G, M, Fg)
        y = y.transpose(1, 0, 2).reshape(n * oh * ow, f)
    if bias is not None:
        y += bias
    return y.reshape(n, oh, ow, f)


def conv2d_backward(dy, x, kernel, strides, pads, dilation, groups):
    """(dx, dkernel, dbias) given dL/dy, as in the reference kernel."""
    strides, pads, dilation, groups, (oh, ow) = _validate("gpu conv2d_backward", x, kernel, None, strides, pads,
                                                          dilation, groups)
    check_arrays("gpu conv2d_backward", dy=dy, x=x)
    expected = (x.shape[0], oh, ow, kernel.shape[3])
    if dy.shape != expected or dy.dtype != x.dtype:
        raise ValueError(f"gpu conv2d_backward: expected dy of shape {expected} and dtype {x.dtype}, "
                         f"got {dy.shape} {dy.dtype}")
    module = xp()
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    m = n * oh * ow
    x_pad = module.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    patches = im2col(x_pad, (kh, kw), strides, dilation, (oh, ow)).reshape(m, kh, kw, c)
    dy_rows = dy.reshape(m, f)
    dbias = dy_rows.sum(axis=0)
    if groups == 1:
        dkernel = (patches.reshape(m, -1).T @ dy_rows).reshape(kernel.shape)
        dpatches = dy_rows @ kernel.reshape(-1, f).T                                   # (M, KH*KW*C)
    else:
        dy_groups = dy_rows.reshape(m, groups, f // groups).transpose(1, 0, 2)        # (G, M, Fg)
        dk = module.matmul(_grouped(patches, groups).transpose(0, 2, 1), dy_groups)   # (G, KH*KW*Cg, Fg)
        dkernel = dk.transpose(1, 0, 2).reshape(kernel.shape)
        dp = module.matmul(dy_groups, _grouped_kernel(kernel, groups).transpose(0, 2, 1))  # (G, M, KH*KW*Cg)
        dpatches = dp.reshape(groups, m, kh, kw, cg).transpose(1, 2, 3, 0, 4)          # (M, KH, KW, G, Cg)
    dpatches = dpatches.reshape(n, oh, ow, kh, kw, c)
    dx = col2im(dpatches, (h, w), (kh, kw), strides, pads, dilation)
    return dx.astype(x.dtype, copy=False), dkernel.astype(x.dtype, copy=False), dbias
