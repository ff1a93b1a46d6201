"""2-D convolution for the GPU backend: im2col gathers + one (batched) matrix product.

Same maths and signatures as ``kernels/reference/conv.py``:

    y[n, i, j, f] = b[f] + sum_{p,q,c} x_pad[n, i*sh + p*dh, j*sw + q*dw, g*Cg + c] * k[p, q, c, f]

How it is computed (every step is a whole-array operation, so under CuPy each is one or a few
kernel launches):

1. im2col as a gather: ``patches[n, i, j, p, q, c] = x_pad[n, rows[i, p], cols[j, q], c]`` with the
   index tables ``rows[i, p] = i*sh + p*dh`` (and the same for columns) built once on the host
   (on a GPU one raw kernel that reads zeros outside x: no padded copy of x is made);
2. the sum over (p, q, c) is a matrix product ``(N*OH*OW, KH*KW*Cg) @ (KH*KW*Cg, Fg)``, batched
   over the groups: ``xp.matmul`` (cuBLAS under CuPy);
3. backward: ``dbias = ones @ dy`` (one matrix-vector product), ``dkernel = patches^T @ dy``,
   ``dpatches = dy @ kernel^T``, and col2im - adding each patch gradient back to the input cell it
   came from - as a *gather per input cell* over the (output, tap) pairs that read it
   (``_common.receivers``), one image axis at a time.

The gathers live in ``_windows.py`` and work for any number of spatial axes, so ``conv_forward``
and ``conv_backward`` here serve 3-D convolution (``conv3d.py``) unchanged.

In training a layer hands both calls one ``dispatch.KernelCache``: the forward keeps its patches
there and the backward's ``dkernel = patches^T @ dy`` reuses them instead of gathering them again
(one launch fewer per layer).  The price is memory: the patches, KH*KW times the size of x, stay on
the GPU from the forward until the backward has used them (the backward then lets them go).

Verified against the reference kernels with ``xp = numpy`` in tests/gpu; with ``xp = cupy`` only
on a machine with an NVIDIA GPU (tests/gpu/test_gpu_device.py).
"""
import numpy as np

from ..checks.conv import validate_conv2d_args
from ._common import check_arrays, column_sums, shape_proxy, xp
from ._windows import col2im, padded_im2col


def _validate(where, x, kernel, bias, strides, pads, dilation, groups):
    check_arrays(where, x=x, kernel=kernel, bias=bias)
    _, _, _, out_hw = validate_conv2d_args(shape_proxy(x), shape_proxy(kernel), shape_proxy(bias), strides, pads,
                                           dilation, groups)
    return _plain(strides, pads, dilation, groups, out_hw)


def _plain(strides, pads, dilation, groups, out):
    """The geometry as plain ints (hashable, for the cached index tables)."""
    return (tuple(int(s) for s in strides), tuple((int(b), int(a)) for b, a in pads),
            tuple(int(d) for d in dilation), int(groups), tuple(out))


def _grouped(patches, groups):
    """(M, K..., C) patches -> (G, M, K*Cg): one matrix per group for a batched matmul."""
    m, cg = patches.shape[0], patches.shape[-1] // groups
    return patches.reshape(m, -1, groups, cg).transpose(2, 0, 1, 3).reshape(groups, m, -1)


def _grouped_kernel(kernel, groups):
    """(K..., Cg, F) -> (G, K*Cg, Fg)."""
    f = kernel.shape[-1]
    return kernel.reshape(-1, groups, f // groups).transpose(1, 0, 2)


def check_gradient(where, dy, x, kernel, out):
    check_arrays(where, dy=dy)
    expected = (x.shape[0], *out, kernel.shape[-1])
    if dy.shape != expected or dy.dtype != x.dtype:
        raise ValueError(f"{where}: expected dy of shape {expected} and dtype {x.dtype}, got {dy.shape} {dy.dtype}")


class KeptPatches:
    """The im2col patches of one forward call, kept in its ``KernelCache`` for its backward; ``key``
    (x's shape and dtype, the kernel's window and the geometry) guards against a cache of another call."""

    __slots__ = ("key", "patches")

    def __init__(self, key, patches):
        self.key, self.patches = key, patches


def _patches_key(x, kernel, strides, pads, dilation, out):
    return tuple(x.shape), str(x.dtype), tuple(kernel.shape[:-1]), strides, pads, dilation, tuple(out)


def _patches(x, kernel, strides, pads, dilation, out, cache=None):
    """(M, K..., C) im2col patches of x: the ones ``cache`` kept for this x and geometry, else gathered."""
    window = kernel.shape[:-2]
    m = x.shape[0] * int(np.prod(out))
    kept = getattr(cache, "kept", None)
    if isinstance(kept, KeptPatches) and kept.key == _patches_key(x, kernel, strides, pads, dilation, out):
        return kept.patches
    return padded_im2col(x, pads, window, strides, dilation, out).reshape(m, *window, x.shape[-1])


def conv_forward(x, kernel, bias, strides, pads, dilation, groups, out, cache=None):
    """Convolution over any number of spatial axes (x (N, S..., C), kernel (K..., Cg, F)), checked.

    ``cache``: a ``dispatch.KernelCache`` (training) that keeps the patches for ``conv_backward``."""
    module = xp()
    n, f = x.shape[0], kernel.shape[-1]
    m = n * int(np.prod(out))
    patches = _patches(x, kernel, strides, pads, dilation, out)
    if cache is not None:
        cache.kept, cache.spare = KeptPatches(_patches_key(x, kernel, strides, pads, dilation, out), patches), None
    if groups == 1:
        y = patches.reshape(m, -1) @ kernel.reshape(-1, f)
    else:
        y = module.matmul(_grouped(patches, groups), _grouped_kernel(kernel, groups))   # (G, M, Fg)
        y = y.transpose(1, 0, 2).reshape(m, f)
    if bias is not None:
        y += bias
    return y.reshape(n, *out, f)


def conv_backward(dy, x, kernel, strides, pads, dilation, groups, out, input_gradient=True, kernel_gradient=True,
                  bias_gradient=True, cache=None):
    """(dx, dkernel, dbias) of ``conv_forward``, arguments already checked; None for a gradient not asked for.

    ``cache``: the ``KernelCache`` the forward of this x filled: its patches are used, then released."""
    module = xp()
    n, c, f = x.shape[0], x.shape[-1], kernel.shape[-1]
    window, cg = kernel.shape[:-2], kernel.shape[-2]
    m = n * int(np.prod(out))
    dy_rows = dy.reshape(m, f)
    dbias = column_sums(dy_rows) if bias_gradient else None                        # ones @ dy: one GEMV
    patches = _patches(x, kernel, strides, pads, dilation, out, cache) if kernel_gradient else None
    if cache is not None and isinstance(cache.kept, KeptPatches):
        cache.kept = None                                                          # the memory goes back now
    dkernel = dx = None
    if groups == 1:
        if kernel_gradient:
            dkernel = (patches.reshape(m, -1).T @ dy_rows).reshape(kernel.shape)
        if input_gradient:
            dpatches = dy_rows @ kernel.reshape(-1, f).T                               # (M, K*C)
    else:
        dy_groups = dy_rows.reshape(m, groups, f // groups).transpose(1, 0, 2)        # (G, M, Fg)
        if kernel_gradient:
            dk = module.matmul(_grouped(patches, groups).transpose(0, 2, 1), dy_groups)   # (G, K*Cg, Fg)
            dkernel = dk.transpose(1, 0, 2).reshape(kernel.shape)
        if input_gradient:
            dp = module.matmul(dy_groups, _grouped_kernel(kernel, groups).transpose(0, 2, 1))  # (G, M, K*Cg)
            dpatches = dp.reshape(groups, m, -1, cg).transpose(1, 2, 0, 3)            # (M, K, G, Cg)
    if input_gradient:
        dx = col2im(dpatches.reshape(n, *out, *window, c), x.shape[1:-1], window, strides, pads,
                    dilation).astype(x.dtype, copy=False)
    if kernel_gradient:
        dkernel = dkernel.astype(x.dtype, copy=False)
    return dx, dkernel, dbias


def conv2d_forward(x, kernel, bias, strides, pads, dilation, groups, cache=None):
    """y = x (*) kernel + bias (NHWC, Keras kernel layout), as im2col + matmul.

    ``cache``: a ``dispatch.KernelCache`` (training): the patches stay in it for ``conv2d_backward``."""
    geometry = _validate("gpu conv2d_forward", x, kernel, bias, strides, pads, dilation, groups)
    return conv_forward(x, kernel, bias, *geometry, cache=cache)


def conv2d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True,
                    bias_gradient=True, cache=None):
    """(dx, dkernel, dbias) given dL/dy, as in the reference kernel (None for a gradient not asked for).

    ``bias_gradient=False`` (a layer without a bias) skips dbias: one launch fewer.  ``cache``: the
    ``KernelCache`` the forward of this same x filled; its patches spare the backward's im2col."""
    geometry = _validate("gpu conv2d_backward", x, kernel, None, strides, pads, dilation, groups)
    check_gradient("gpu conv2d_backward", dy, x, kernel, geometry[-1])
    return conv_backward(dy, x, kernel, *geometry, input_gradient=input_gradient, kernel_gradient=kernel_gradient,
                         bias_gradient=bias_gradient, cache=cache)
