"""Convolution and pooling ops (``keras.ops.conv``, ``max_pool``, ...): the layers' kernels, called as ops.

Every op here calls the very dispatch functions the layers call, with the same geometry
(``tinyconv/geometry.py``), for its forward and for its backward - so ``ops.conv(x, kernel)`` and a
``Conv2D`` layer without bias holding that kernel agree bit for bit, and so do their gradients:

    op                     forward                           backward
    conv (1-D, 2-D)        dispatch.conv2d_forward           dispatch.conv2d_backward
    conv (3-D)             dispatch.conv3d_forward           dispatch.conv3d_backward
    depthwise_conv         conv2d with groups = channels     conv2d_backward, kernel reshaped back
    separable_conv         depthwise_conv, then a 1x1 conv   the two backwards in reverse order
    conv_transpose         conv*_backward's dx (the stamp)   conv*_forward (dx), conv*_backward (dkernel)
    max_pool / avg_pool    dispatch.max_pool2d_forward ...   dispatch.max_pool2d_backward ...

A 1-D op is the 2-D one on a sequence seen as an image one row high, as Conv1D and MaxPooling1D do.
The kernels work channels-last in float32 or float64: ``data_format="channels_first"`` moves the
channel axis at the op's edges; other dtypes are computed in float32 and cast back.

Ops without a kernel of their own - adaptive pooling, ``unfold`` / ``fold`` (im2col and col2im),
``depth_to_space`` / ``space_to_depth`` - are written here in NumPy (CuPy on the GPU), each the
other's backward where they are a pair.
"""
import itertools

import numpy as np

from .. import dispatch, geometry
from .operation import operation, xp
from .tape import active_tape

__all__ = ["conv", "depthwise_conv", "separable_conv", "conv_transpose", "max_pool", "average_pool",
           "adaptive_max_pool", "adaptive_average_pool", "unfold", "fold", "depth_to_space", "space_to_depth"]

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ================================================================ argument helpers
def _array(x):
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    array = np.asarray(x)
    return array.astype(np.float32) if array.dtype == np.float64 else array


def _compute_dtype(op, *arrays):
    """(the dtype the kernels compute in, the dtype of the result): float64 if any input is,
    else float32; the result keeps a float16 input's dtype, integers give float32."""
    floats = [a.dtype for a in arrays if a is not None and a.dtype.kind == "f"]
    result = np.result_type(*floats) if floats else np.dtype(np.float32)
    return (result if result in _KERNEL_DTYPES else np.dtype(np.float32)), result


def _data_format(data_format, op):
    if data_format is None:
        from .. import backend  # the global image_data_format, as Keras's ops read it
        data_format = backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"ops.{op}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format


def _padding(padding, op):
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"ops.{op}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def _tuple(value, rank, what, op, minimum=1):
    values = (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != rank or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in values):
        raise ValueError(f"ops.{op}: {what} must be an int >= {minimum} or a tuple of {rank} such ints, "
                         f"got {value!r}")
    return tuple(int(v) for v in values)


def _rank(inputs, op, ranks=(1, 2, 3)):
    rank = inputs.ndim - 2
    if rank not in ranks:
        spatial = " or ".join(str(r) for r in ranks)
        raise ValueError(f"ops.{op}: expected inputs with {spatial} spatial axes (rank "
                         f"{' or '.join(str(r + 2) for r in ranks)}, batch and channels included), "
                         f"got shape {tuple(inputs.shape)}")
    return rank


def _to_last(x, data_format, dtype):
    """channels_first -> channels_last, contiguous, in the kernels' dtype."""
    m = xp(x)
    if data_format == "channels_first":
        x = m.moveaxis(x, 1, -1)
    return m.ascontiguousarray(x, dtype=dtype)


def _from_last(x, data_format, dtype=None):
    if data_format == "channels_first":
        x = xp(x).moveaxis(x, -1, 1)
    return x if dtype is None or x.dtype == dtype else x.astype(dtype)


def _same_or_valid_pads(padding, spatial, window, strides, dilation):
    """(before, after) per spatial axis: none for 'valid', Keras's split for 'same'."""
    if padding == "valid":
        return tuple((0, 0) for _ in spatial)
    return tuple(geometry.same_padding(n, k, s, d) for n, k, s, d in zip(spatial, window, strides, dilation))


def _check_output(op, spatial, window, strides, pads, dilation):
    out = geometry.output_hw(spatial, window, strides, pads, dilation)
    if min(out) < 1:
        raise ValueError(f"ops.{op}: inputs of spatial size {tuple(spatial)} are too small for the window "
                         f"{tuple(window)} (dilation {tuple(dilation)}, padding {pads}): output {out}")


# ================================================================ convolution through the dispatch
def _as_2d(strides, pads, dilation):
    """A 1-D geometry as the 2-D one of a sequence one row high."""
    return (1,) + tuple(strides), ((0, 0),) + tuple(pads), (1,) + tuple(dilation)


def _conv_forward(x, kernel, strides, pads, dilation, groups, cache=None):
    """y = x (*) kernel on channels-last arrays of 1, 2 or 3 spatial axes, through the layers' kernels."""
    rank = x.ndim - 2
    if rank == 1:
        s, p, d = _as_2d(strides, pads, dilation)
        return dispatch.conv2d_forward(x[:, None], kernel[None], None, s, p, d, groups, cache=cache)[:, 0]
    if rank == 2:
        return dispatch.conv2d_forward(x, kernel, None, strides, pads, dilation, groups, cache=cache)
    return dispatch.conv3d_forward(x, kernel, None, strides, pads, dilation, groups)


def _conv_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True,
                   cache=None):
    """(dx, dkernel) of ``_conv_forward``; a gradient not asked for is None."""
    rank = x.ndim - 2
    if rank == 1:
        s, p, d = _as_2d(strides, pads, dilation)
        dx, dk, _ = dispatch.conv2d_backward(dy[:, None], x[:, None], kernel[None], s, p, d, groups,
                                             input_gradient=input_gradient, kernel_gradient=kernel_gradient,
                                             cache=cache)
        return (None if dx is None else dx[:, 0]), (None if dk is None else dk[0])
    if rank == 2:
        dx, dk, _ = dispatch.conv2d_backward(dy, x, kernel, strides, pads, dilation, groups,
                                             input_gradient=input_gradient, kernel_gradient=kernel_gradient,
                                             cache=cache)
        return dx, dk
    dx, dk, _ = dispatch.conv3d_backward(dy, x, kernel, strides, pads, dilation, groups,
                                         input_gradient=input_gradient, kernel_gradient=kernel_gradient)
    return dx, dk


def _kernel_cache():
    """A KernelCache while a tape records (the compiled conv2d keeps work for its backward, as the
    layer does in training); None otherwise, so an op outside training keeps nothing."""
    return dispatch.KernelCache() if active_tape() is not None else None


def _conv_setup(op, inputs, kernel, strides, padding, data_format, dilation_rate, ranks=(1, 2, 3)):
    inputs, kernel = _array(inputs), _array(kernel)
    rank = _rank(inputs, op, ranks)
    if kernel.ndim != rank + 2:
        raise ValueError(f"ops.{op}: expected a kernel of rank {rank + 2} for inputs of shape "
                         f"{tuple(inputs.shape)}, got kernel shape {tuple(kernel.shape)}")
    data_format = _data_format(data_format, op)
    compute, result = _compute_dtype(op, inputs, kernel)
    x = _to_last(inputs, data_format, compute)
    strides = _tuple(strides, rank, "strides", op)
    dilation = _tuple(dilation_rate, rank, "dilation_rate", op)
    window = tuple(kernel.shape[:rank])
    pads = _same_or_valid_pads(_padding(padding, op), x.shape[1:-1], window, strides, dilation)
    _check_output(op, x.shape[1:-1], window, strides, pads, dilation)
    return x, xp(x).ascontiguousarray(kernel, dtype=compute), strides, pads, dilation, data_format, result


@operation(differentiable=("inputs", "kernel"), saves=True)
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (cross-correlation), as Conv1D/Conv2D/Conv3D without bias compute it.

        y[n, i, j, f] = sum_{p, q, c} x[n, i*s_h + p*d_h, j*s_w + q*d_w, g(f)*C_g + c] * W[p, q, c, f]

    with C_g = kernel.shape[-2] input channels per group (groups = channels / C_g).  Backward:
    dx and dW from ``dispatch.conv2d_backward`` (``conv3d_backward`` for volumes).

    Args:
        inputs: tensor of rank 3, 4 or 5: (batch, *spatial, channels), or channels first.
        kernel: (*kernel_size, channels / groups, filters).
        strides: an int or a tuple of ints, one per spatial axis (default 1).
        padding: ``"valid"`` (default) or ``"same"`` (Keras's split: the odd cell at the end).
        data_format: ``"channels_last"`` or ``"channels_first"``; None reads
            ``tinyconv.backend.image_data_format()``.
        dilation_rate: an int or a tuple of ints (default 1).

    Returns:
        The convolved tensor, (batch, *out_spatial, filters) channels-last.

    Example:

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> ops.conv(x, np.ones((2, 2, 1, 1)))[0, :, :, 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    x, k, strides, pads, dilation, data_format, result = _conv_setup(
        "conv", inputs, kernel, strides, padding, data_format, dilation_rate)
    if x.shape[-1] % k.shape[-2]:
        raise ValueError(f"ops.conv: the input's {x.shape[-1]} channels are not a multiple of the kernel's "
                         f"{k.shape[-2]} (kernel shape {tuple(k.shape)})")
    groups = x.shape[-1] // k.shape[-2]
    cache = _kernel_cache()
    y = _conv_forward(x, k, strides, pads, dilation, groups, cache)
    return _from_last(y, data_format, result), (x, k, strides, pads, dilation, groups, cache)


@conv.defbackward
def _(g, out, inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, *, saved):
    x, k, strides, pads, dilation, groups, cache = saved
    dy = _to_last(g, _data_format(data_format, "conv"), x.dtype)
    dx, dk = _conv_backward(dy, x, k, strides, pads, dilation, groups, cache=cache)
    return _from_last(dx, data_format, _array(inputs).dtype), dk.astype(_array(kernel).dtype, copy=False)


def _as_grouped(depthwise_kernel):
    """Depthwise kernel (*k, C, M) -> grouped conv kernel (*k, 1, C*M): group c sees channel c only
    and owns filters c*M ... c*M + M - 1 (``layers.DepthwiseConv2D`` runs the same reshape)."""
    return depthwise_kernel.reshape(depthwise_kernel.shape[:-2] + (1, -1))


@operation(differentiable=("inputs", "kernel"), saves=True)
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Each input channel convolved with its own ``M`` filters, no sum across channels.

        y[n, i, j, c*M + m] = sum_{p, q} x[n, i*s_h + p*d_h, j*s_w + q*d_w, c] * K[p, q, c, m]

    A grouped convolution with one group per channel (the kernel of ``DepthwiseConv2D``).

    Args:
        inputs: tensor of rank 3 or 4 (1 or 2 spatial axes).
        kernel: (*kernel_size, channels, depth_multiplier).
        strides: an int or a tuple (default 1).
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the global default).
        dilation_rate: an int or a tuple (default 1).

    Returns:
        (batch, *out_spatial, channels * depth_multiplier).

    Example:

    >>> x = np.ones((1, 3, 3, 2))
    >>> kernel = np.ones((2, 2, 2, 1)) * np.array([1.0, 2.0])[:, None]   # channel 0 times 1, channel 1 times 2
    >>> ops.depthwise_conv(x, kernel)[0, 0, 0]
    array([4., 8.])
    """
    x, k, strides, pads, dilation, data_format, result = _conv_setup(
        "depthwise_conv", inputs, kernel, strides, padding, data_format, dilation_rate, ranks=(1, 2))
    if k.shape[-2] != x.shape[-1]:
        raise ValueError(f"ops.depthwise_conv: expected a kernel with {x.shape[-1]} channels in axis -2 (the "
                         f"input's), got kernel shape {tuple(k.shape)}")
    grouped = _as_grouped(k)
    y = _conv_forward(x, grouped, strides, pads, dilation, x.shape[-1])
    return _from_last(y, data_format, result), (x, grouped, strides, pads, dilation)


@depthwise_conv.defbackward
def _(g, out, inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, *, saved):
    x, grouped, strides, pads, dilation = saved
    dy = _to_last(g, _data_format(data_format, "depthwise_conv"), x.dtype)
    dx, dgrouped = _conv_backward(dy, x, grouped, strides, pads, dilation, x.shape[-1])
    kernel = _array(kernel)
    return _from_last(dx, data_format, _array(inputs).dtype), dgrouped.reshape(kernel.shape).astype(kernel.dtype)


@operation(differentiable=("inputs", "depthwise_kernel", "pointwise_kernel"), saves=True)
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """A depthwise convolution (space, channel by channel) then a 1x1 convolution (mixing channels).

        u = depthwise_conv(x, depthwise_kernel)          strides, padding, dilation apply here
        y[n, i, j, f] = sum_k u[n, i, j, k] * pointwise_kernel[0, 0, k, f]

    Backward: the pointwise convolution's backward, then the depthwise one's (``SeparableConv2D``'s).

    Args:
        inputs: tensor of rank 3 or 4.
        depthwise_kernel: (*kernel_size, channels, depth_multiplier).
        pointwise_kernel: (*ones, channels * depth_multiplier, filters).
        strides: an int or a tuple (default 1).
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the global default).
        dilation_rate: an int or a tuple (default 1).

    Returns:
        (batch, *out_spatial, filters).

    Example:

    >>> ops.separable_conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 2)), np.ones((1, 1, 6, 4))).shape
    (1, 3, 3, 4)
    """
    x, k, strides, pads, dilation, data_format, result = _conv_setup(
        "separable_conv", inputs, depthwise_kernel, strides, padding, data_format, dilation_rate, ranks=(1, 2))
    pointwise = xp(x).ascontiguousarray(_array(pointwise_kernel), dtype=x.dtype)
    if k.shape[-2] != x.shape[-1] or pointwise.shape[:-2] != (1,) * (x.ndim - 2) or \
            pointwise.shape[-2] != k.shape[-2] * k.shape[-1]:
        raise ValueError(f"ops.separable_conv: for inputs of shape {tuple(inputs.shape)} expected a depthwise "
                         f"kernel (*k, {x.shape[-1]}, M) and a pointwise kernel {(1,) * (x.ndim - 2)} + "
                         f"(C*M, filters); got {tuple(k.shape)} and {tuple(pointwise.shape)}")
    grouped = _as_grouped(k)
    ones, no_pads = (1,) * (x.ndim - 2), ((0, 0),) * (x.ndim - 2)
    u = _conv_forward(x, grouped, strides, pads, dilation, x.shape[-1])
    y = _conv_forward(u, pointwise, ones, no_pads, ones, 1)
    return _from_last(y, data_format, result), (x, grouped, pointwise, u, strides, pads, dilation)


@separable_conv.defbackward
def _(g, out, inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
      dilation_rate=1, *, saved):
    x, grouped, pointwise, u, strides, pads, dilation = saved
    ones, no_pads = (1,) * (x.ndim - 2), ((0, 0),) * (x.ndim - 2)
    dy = _to_last(g, _data_format(data_format, "separable_conv"), x.dtype)
    du, dpointwise = _conv_backward(dy, u, pointwise, ones, no_pads, ones, 1)
    dx, dgrouped = _conv_backward(du, x, grouped, strides, pads, dilation, x.shape[-1])
    depthwise_kernel, pointwise_kernel = _array(depthwise_kernel), _array(pointwise_kernel)
    return (_from_last(dx, data_format, _array(inputs).dtype),
            dgrouped.reshape(depthwise_kernel.shape).astype(depthwise_kernel.dtype),
            dpointwise.astype(pointwise_kernel.dtype))


# ================================================================ transposed convolution
@operation(differentiable=("inputs", "kernel"), saves=True)
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """The transposed convolution: the input-gradient of a convolution, used to up-sample.

        y[n, i*s + p*d, j*s + q*d, f] += sum_c x[n, i, j, c] * W[p, q, f, c]

    Each input cell stamps the kernel, scaled by its value, onto the output.  That is what
    ``dispatch.conv2d_backward`` computes as dx, so (exactly as ``Conv2DTranspose`` does):
    forward = conv_backward's dx; backward: dx = conv_forward(g, W), dW = conv_backward's dkernel with
    x and g in the roles of dy and x.  Sizes per axis (K = d*(k-1)+1): (N-1)*S + K (+ output_padding)
    for ``"valid"``, N*S for ``"same"`` (``geometry.transpose_axis_geometry``).

    Args:
        inputs: tensor of rank 3, 4 or 5.
        kernel: (*kernel_size, filters, channels) - Keras's transposed layout.
        strides: an int or a tuple (default 1).
        padding: ``"valid"`` (default) or ``"same"``.
        output_padding: extra cells at the end of each spatial axis, each < its stride (default None).
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the global default).
        dilation_rate: an int or a tuple (default 1).

    Returns:
        (batch, *out_spatial, filters).

    Example:

    >>> ops.conv_transpose(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)), strides=2)[0, :, :, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """
    inputs_, kernel_ = _array(inputs), _array(kernel)
    rank = _rank(inputs_, "conv_transpose")
    data_format = _data_format(data_format, "conv_transpose")
    compute, result = _compute_dtype("conv_transpose", inputs_, kernel_)
    x = _to_last(inputs_, data_format, compute)
    m = xp(x)
    k = m.ascontiguousarray(kernel_, dtype=compute)
    if k.ndim != rank + 2 or k.shape[-1] != x.shape[-1]:
        raise ValueError(f"ops.conv_transpose: expected a kernel (*kernel_size, filters, {x.shape[-1]}) of rank "
                         f"{rank + 2} for inputs of shape {tuple(inputs_.shape)}, got {tuple(k.shape)}")
    strides = _tuple(strides, rank, "strides", "conv_transpose")
    dilation = _tuple(dilation_rate, rank, "dilation_rate", "conv_transpose")
    mode = _padding(padding, "conv_transpose")
    extra = (None,) * rank if output_padding is None else _tuple(output_padding, rank, "output_padding",
                                                                  "conv_transpose", minimum=0)
    axes = [geometry.transpose_axis_geometry(n, kk, s, d, mode, op)
            for n, kk, s, d, op in zip(x.shape[1:-1], k.shape[:rank], strides, dilation, extra)]
    if min(a[0] for a in axes) < 1:
        raise ValueError(f"ops.conv_transpose: inputs of shape {tuple(inputs_.shape)} give an empty output "
                         f"{tuple(a[0] for a in axes)}")
    conv_pads = tuple(a[1] for a in axes)
    unreached = tuple(a[2] for a in axes)   # output cells no stamp reaches (zeros here: there is no bias)
    reached_shape = (x.shape[0],) + tuple(a[0] - sum(a[2]) for a in axes) + (k.shape[-2],)
    stamped, _ = _conv_backward(x, m.zeros(reached_shape, dtype=compute), k, strides, conv_pads, dilation, 1,
                                kernel_gradient=False)
    y = m.pad(stamped, ((0, 0),) + unreached + ((0, 0),))
    return _from_last(y, data_format, result), (x, k, strides, conv_pads, dilation, unreached)


@conv_transpose.defbackward
def _(g, out, inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None, dilation_rate=1,
      *, saved):
    x, k, strides, conv_pads, dilation, unreached = saved
    dy = _to_last(g, _data_format(data_format, "conv_transpose"), x.dtype)
    reached = (slice(None),) + tuple(slice(before, n - after) for (before, after), n
                                     in zip(unreached, dy.shape[1:-1])) + (slice(None),)
    dy = xp(dy).ascontiguousarray(dy[reached])
    dx = _conv_forward(dy, k, strides, conv_pads, dilation, 1)          # the convolution run forwards
    _, dk = _conv_backward(x, dy, k, strides, conv_pads, dilation, 1, input_gradient=False)
    return _from_last(dx, data_format, _array(inputs).dtype), dk.astype(_array(kernel).dtype, copy=False)


# ================================================================ pooling through the dispatch
def _pool_setup(op, inputs, pool_size, strides, padding, data_format):
    inputs = _array(inputs)
    rank = _rank(inputs, op)
    data_format = _data_format(data_format, op)
    compute, result = _compute_dtype(op, inputs)
    x = _to_last(inputs, data_format, compute)
    window = _tuple(pool_size, rank, "pool_size", op)
    strides = window if strides is None else _tuple(strides, rank, "strides", op)
    pads = _same_or_valid_pads(_padding(padding, op), x.shape[1:-1], window, strides, (1,) * rank)
    _check_output(op, x.shape[1:-1], window, strides, pads, (1,) * rank)
    if rank == 1:   # a sequence is an image one row high, as MaxPooling1D sees it
        strides, pads, _ = _as_2d(strides, pads, (1,))
        return x[:, None], (1,) + window, strides, pads, data_format, result
    return x, window, strides, pads, data_format, result


def _squeezed(y, rank):
    return y[:, 0] if rank == 1 else y


@operation(differentiable=("inputs",), saves=True)
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling: y = the largest value of every window, per channel.

    Backward: route each upstream gradient to the input cell that won its window's max (and add
    where windows overlap) - ``dispatch.max_pool2d_backward`` with the argmax the forward kept.

    Args:
        inputs: tensor of rank 3, 4 or 5.
        pool_size: an int or a tuple, one per spatial axis.
        strides: an int or a tuple; None (default) uses ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the global default).

    Returns:
        The pooled tensor.

    Example:

    >>> ops.max_pool(np.arange(16.0).reshape(1, 4, 4, 1), 2)[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    rank = _array(inputs).ndim - 2
    x, window, strides, pads, data_format, result = _pool_setup("max_pool", inputs, pool_size, strides, padding,
                                                                data_format)
    pool_forward = dispatch.max_pool3d_forward if rank == 3 else dispatch.max_pool2d_forward
    y, argmax = pool_forward(x, window, strides, pads)
    return _from_last(_squeezed(y, rank), data_format, result), (x.shape, argmax)


@max_pool.defbackward
def _(g, out, inputs, pool_size, strides=None, padding="valid", data_format=None, *, saved):
    shape, argmax = saved   # shape: the (2-D or 3-D) channels-last input the kernel pooled
    rank = _array(inputs).ndim - 2
    dy = _to_last(g, _data_format(data_format, "max_pool"), _pool_dtype(inputs))
    if rank == 3:
        dx = dispatch.max_pool3d_backward(dy, argmax, shape)
    else:
        dx = _squeezed(dispatch.max_pool2d_backward(dy[:, None] if rank == 1 else dy, argmax, shape), rank)
    return _from_last(dx, data_format, _array(inputs).dtype)


def _pool_dtype(inputs):
    """The dtype the pooling kernels ran in for these inputs."""
    return _compute_dtype("pool", _array(inputs))[0]


@operation(differentiable=("inputs",), saves=True)
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling: y = the mean of every window, per channel (padding cells not counted).

    Backward: share each upstream gradient equally among the cells of its window
    (``dispatch.avg_pool2d_backward``).

    Args:
        inputs: tensor of rank 3, 4 or 5.
        pool_size: an int or a tuple, one per spatial axis.
        strides: an int or a tuple; None (default) uses ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the global default).

    Returns:
        The pooled tensor.

    Example:

    >>> ops.average_pool(np.arange(16.0).reshape(1, 4, 4, 1), 2)[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    rank = _array(inputs).ndim - 2
    x, window, strides, pads, data_format, result = _pool_setup("average_pool", inputs, pool_size, strides,
                                                                padding, data_format)
    pool_forward = dispatch.avg_pool3d_forward if rank == 3 else dispatch.avg_pool2d_forward
    y = pool_forward(x, window, strides, pads)
    return _from_last(_squeezed(y, rank), data_format, result), (x.shape, window, strides, pads)


@average_pool.defbackward
def _(g, out, inputs, pool_size, strides=None, padding="valid", data_format=None, *, saved):
    shape, window, strides, pads = saved
    rank = _array(inputs).ndim - 2
    dy = _to_last(g, _data_format(data_format, "average_pool"), _pool_dtype(inputs))
    if rank == 3:
        dx = dispatch.avg_pool3d_backward(dy, shape, window, strides, pads)
    else:
        dx = _squeezed(dispatch.avg_pool2d_backward(dy[:, None] if rank == 1 else dy, shape, window, strides, pads),
                       rank)
    return _from_last(dx, data_format, _array(inputs).dtype)


# ================================================================ adaptive pooling
def _adaptive_bins(size, out):
    """The input range of each of ``out`` bins over ``size`` cells: [floor(i N / out), ceil((i + 1) N / out)).
    Neighbouring bins overlap by a cell where N / out is not whole."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _adaptive_windows(spatial, output_size):
    """(output index, input window) for every output cell, both as index tuples with the batch axis."""
    bins = [_adaptive_bins(n, o) for n, o in zip(spatial, output_size)]
    for index in itertools.product(*(range(o) for o in output_size)):
        window = tuple(slice(*bins[axis][i]) for axis, i in enumerate(index))
        yield (slice(None),) + index, (slice(None),) + window


def _adaptive_setup(op, inputs, output_size, data_format):
    inputs = _array(inputs)
    rank = _rank(inputs, op)
    data_format = _data_format(data_format, op)
    compute, result = _compute_dtype(op, inputs)
    x = _to_last(inputs, data_format, compute)
    return x, _tuple(output_size, rank, "output_size", op), data_format, result


@operation(differentiable=("inputs",))
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average pooling to a fixed output size: output cell i averages the input cells
    [floor(i N / out), ceil((i + 1) N / out)) on each spatial axis.

    Backward: each upstream gradient shared equally by the cells of its bin.

    Args:
        inputs: tensor of rank 3, 4 or 5.
        output_size: an int or a tuple, the output's spatial sizes.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the global default).

    Returns:
        (batch, *output_size, channels) channels-last.

    Example:

    >>> ops.adaptive_average_pool(np.arange(6.0).reshape(1, 6, 1), 2)[0, :, 0]
    array([1., 4.])
    """
    x, output_size, data_format, result = _adaptive_setup("adaptive_average_pool", inputs, output_size, data_format)
    m = xp(x)
    y = m.empty((x.shape[0],) + output_size + (x.shape[-1],), dtype=x.dtype)
    spatial_axes = tuple(range(1, x.ndim - 1))
    for index, window in _adaptive_windows(x.shape[1:-1], output_size):
        y[index] = x[window].mean(axis=spatial_axes)
    return _from_last(y, data_format, result)


@adaptive_average_pool.defbackward
def _(g, out, inputs, output_size, data_format=None):
    x, output_size, data_format, _ = _adaptive_setup("adaptive_average_pool", inputs, output_size, data_format)
    dy = _to_last(g, data_format, x.dtype)
    dx = xp(x).zeros_like(x)
    expand = (slice(None),) + (None,) * len(output_size)
    for index, window in _adaptive_windows(x.shape[1:-1], output_size):
        cells = dx[window][0, ..., 0].size
        dx[window] += dy[index][expand] / cells
    return _from_last(dx, data_format, _array(inputs).dtype)


@operation(differentiable=("inputs",))
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max pooling to a fixed output size: output cell i is the max of the input cells
    [floor(i N / out), ceil((i + 1) N / out)) on each spatial axis.

    Backward: each upstream gradient routed to the cell that won its bin (the first on ties).

    Args:
        inputs: tensor of rank 3, 4 or 5.
        output_size: an int or a tuple, the output's spatial sizes.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None: the global default).

    Returns:
        (batch, *output_size, channels) channels-last.

    Example:

    >>> ops.adaptive_max_pool(np.array([[[1.0], [5.0], [2.0], [0.0], [3.0]]]), 2)[0, :, 0]
    array([5., 3.])
    """
    x, output_size, data_format, result = _adaptive_setup("adaptive_max_pool", inputs, output_size, data_format)
    y = xp(x).empty((x.shape[0],) + output_size + (x.shape[-1],), dtype=x.dtype)
    for index, window in _adaptive_windows(x.shape[1:-1], output_size):
        y[index] = x[window].reshape(x.shape[0], -1, x.shape[-1]).max(axis=1)
    return _from_last(y, data_format, result)


@adaptive_max_pool.defbackward
def _(g, out, inputs, output_size, data_format=None):
    x, output_size, data_format, _ = _adaptive_setup("adaptive_max_pool", inputs, output_size, data_format)
    m = xp(x)
    dy = _to_last(g, data_format, x.dtype)
    dx = m.zeros_like(x)
    for index, window in _adaptive_windows(x.shape[1:-1], output_size):
        cells = x[window].reshape(x.shape[0], -1, x.shape[-1])
        winner = cells.argmax(axis=1)                                        # (batch, channels)
        routed = (m.arange(cells.shape[1])[None, :, None] == winner[:, None, :]) * dy[index][:, None, :]
        dx[window] += routed.reshape(x[window].shape)
    return _from_last(dx, data_format, _array(inputs).dtype)


# ================================================================ im2col and col2im
def _window_geometry(op, shape, kernel_size, dilation, padding, stride):
    kh, kw = _tuple(kernel_size, 2, "kernel_size", op)
    dh, dw = _tuple(dilation, 2, "dilation", op)
    ph, pw = _tuple(padding, 2, "padding", op, minimum=0)
    sh, sw = _tuple(stride, 2, "stride", op)
    oh = geometry.output_size(shape[0], kh, sh, ph, ph, dh)
    ow = geometry.output_size(shape[1], kw, sw, pw, pw, dw)
    if oh < 1 or ow < 1:
        raise ValueError(f"ops.{op}: a spatial size {tuple(shape)} is too small for kernel_size {(kh, kw)}, "
                         f"dilation {(dh, dw)}, padding {(ph, pw)}")
    return (kh, kw), (dh, dw), (ph, pw), (sh, sw), (oh, ow)


def _taps(kernel, dilation, stride, out):
    """For every kernel tap (p, q): the slices of the padded image it reads, one cell per output position."""
    for p, q in itertools.product(range(kernel[0]), range(kernel[1])):
        rows = slice(p * dilation[0], p * dilation[0] + stride[0] * (out[0] - 1) + 1, stride[0])
        cols = slice(q * dilation[1], q * dilation[1] + stride[1] * (out[1] - 1) + 1, stride[1])
        yield p, q, (slice(None), slice(None), rows, cols)


def _im2col(x, kernel, dilation, padding, stride, out):
    m = xp(x)
    n, c = x.shape[:2]
    padded = m.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    columns = m.empty((n, c, kernel[0], kernel[1]) + out, dtype=x.dtype)
    for p, q, taps in _taps(kernel, dilation, stride, out):
        columns[:, :, p, q] = padded[taps]
    return columns.reshape(n, c * kernel[0] * kernel[1], out[0] * out[1])


def _col2im(columns, size, kernel, dilation, padding, stride, out):
    m = xp(columns)
    n, c = columns.shape[0], columns.shape[1] // (kernel[0] * kernel[1])
    columns = columns.reshape((n, c) + tuple(kernel) + tuple(out))
    padded = m.zeros((n, c, size[0] + 2 * padding[0], size[1] + 2 * padding[1]), dtype=columns.dtype)
    for p, q, taps in _taps(kernel, dilation, stride, out):
        padded[taps] += columns[:, :, p, q]          # overlapping windows add up
    return padded[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]


def _nchw(x, op):
    x = _array(x)
    if x.ndim != 4:
        raise ValueError(f"ops.{op}: expected a 4-D input (batch, channels, height, width), got shape "
                         f"{tuple(x.shape)}")
    return x


@operation(differentiable=("x",))
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: every sliding window of an NCHW image as one column.

        y[n, (c*kh + p)*kw + q, i*ow + j] = x_padded[n, c, i*s_h + p*d_h, j*s_w + q*d_w]

    The classic route to convolution: one large matrix product of the kernel with these columns.
    Backward: ``fold`` (col2im) of the gradient - each column's gradient added back onto the cells
    it was read from.

    Args:
        x: (batch, channels, height, width).
        kernel_size: an int or a pair.
        dilation: an int or a pair (default 1).
        padding: zeros on both sides, an int or a pair (default 0).
        stride: an int or a pair (default 1).

    Returns:
        (batch, channels * kh * kw, out_h * out_w).

    Example:

    >>> ops.unfold(np.arange(9.0).reshape(1, 1, 3, 3), 2)[0]
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    x = _nchw(x, "unfold")
    kernel, dilation, padding, stride, out = _window_geometry("unfold", x.shape[2:], kernel_size, dilation, padding,
                                                              stride)
    return _im2col(x, kernel, dilation, padding, stride, out)


@unfold.defbackward
def _(g, out, x, kernel_size, dilation=1, padding=0, stride=1):
    x = _nchw(x, "unfold")
    geometry_ = _window_geometry("unfold", x.shape[2:], kernel_size, dilation, padding, stride)
    return _col2im(g, x.shape[2:], *geometry_).astype(x.dtype, copy=False)


def _fold_geometry(x, output_size, kernel_size, dilation, padding, stride):
    x = _array(x)
    size = _tuple(output_size, 2, "output_size", "fold")
    geometry_ = _window_geometry("fold", size, kernel_size, dilation, padding, stride)
    kernel, out = geometry_[0], geometry_[-1]
    if x.ndim != 3 or x.shape[1] % (kernel[0] * kernel[1]) or x.shape[2] != out[0] * out[1]:
        raise ValueError(f"ops.fold: expected x of shape (batch, channels * {kernel[0] * kernel[1]}, "
                         f"{out[0] * out[1]}) "
                         f"for output_size {size} and kernel_size {kernel}, got {tuple(x.shape)}")
    return x, size, geometry_


@operation(differentiable=("x",))
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of ``unfold``: every column added back onto the window it describes.

        y[n, c, i*s_h + p*d_h - pad_h, j*s_w + q*d_w - pad_w] += x[n, (c*kh + p)*kw + q, i*ow + j]

    Where windows overlap their values add.  Backward: ``unfold`` of the gradient.

    Args:
        x: (batch, channels * kh * kw, blocks).
        output_size: the image's (height, width), an int or a pair.
        kernel_size: an int or a pair.
        dilation: an int or a pair (default 1).
        padding: an int or a pair (default 0).
        stride: an int or a pair (default 1).

    Returns:
        (batch, channels, height, width).

    Example:

    >>> ops.fold(np.ones((1, 4, 4)), 3, 2)[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    x, size, geometry_ = _fold_geometry(x, output_size, kernel_size, dilation, padding, stride)
    return _col2im(x, size, *geometry_)


@fold.defbackward
def _(g, out, x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    x, size, geometry_ = _fold_geometry(x, output_size, kernel_size, dilation, padding, stride)
    return _im2col(g, *geometry_).astype(x.dtype, copy=False)


# ================================================================ depth <-> space
def _block_setup(op, x, block_size, data_format):
    x = _array(x)
    if x.ndim != 4:
        raise ValueError(f"ops.{op}: expected a 4-D input, got shape {tuple(x.shape)}")
    if not isinstance(block_size, (int, np.integer)) or block_size < 2:
        raise ValueError(f"ops.{op}: block_size must be an int >= 2, got {block_size!r}")
    return x, int(block_size), _data_format(data_format, op)


def _depth_to_space(x, r, data_format):
    """channels_last (N, H, W, r*r*C) -> (N, H*r, W*r, C): channel (i*r + j)*C + c goes to cell
    (h*r + i, w*r + j).  channels_first, as Keras orders it: channel (c*r + i)*r + j."""
    m = xp(x)
    if data_format == "channels_last":
        n, h, w, c = x.shape
        if c % (r * r):
            raise ValueError(f"ops.depth_to_space: the channels ({c}) must be divisible by block_size ** 2 ({r * r})")
        blocks = m.transpose(x.reshape(n, h, w, r, r, c // (r * r)), (0, 1, 3, 2, 4, 5))
        return blocks.reshape(n, h * r, w * r, c // (r * r))
    n, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"ops.depth_to_space: the channels ({c}) must be divisible by block_size ** 2 ({r * r})")
    blocks = m.transpose(x.reshape(n, c // (r * r), r, r, h, w), (0, 1, 4, 2, 5, 3))
    return blocks.reshape(n, c // (r * r), h * r, w * r)


def _space_to_depth(x, r, data_format):
    """The inverse rearrangement: every r x r block of cells stacked into the channels."""
    m = xp(x)
    h, w = x.shape[1:3] if data_format == "channels_last" else x.shape[2:]
    if h % r or w % r:
        raise ValueError(f"ops.space_to_depth: height and width ({h}, {w}) must be divisible by block_size ({r})")
    if data_format == "channels_last":
        n, c = x.shape[0], x.shape[3]
        blocks = m.transpose(x.reshape(n, h // r, r, w // r, r, c), (0, 1, 3, 2, 4, 5))
        return blocks.reshape(n, h // r, w // r, r * r * c)
    n, c = x.shape[:2]
    blocks = m.transpose(x.reshape(n, c, h // r, r, w // r, r), (0, 1, 3, 5, 2, 4))
    return blocks.reshape(n, c * r * r, h // r, w // r)


@operation(differentiable=("x",))
def depth_to_space(x, block_size, data_format="channels_last"):
    """Pixel shuffle: (N, H, W, r^2 C) -> (N, rH, rW, C), each cell's channels spread over an r x r block.

        y[n, h*r + i, w*r + j, c] = x[n, h, w, (i*r + j)*C + c]        (channels_last)
        y[n, c, h*r + i, w*r + j] = x[n, (c*r + i)*r + j, h, w]        (channels_first)

    A pure rearrangement: the backward is ``space_to_depth`` of the gradient.

    Args:
        x: a 4-D tensor.
        block_size: r, an int >= 2.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        The rearranged tensor, same dtype.

    Example:

    >>> ops.depth_to_space(np.arange(4.0).reshape(1, 1, 1, 4), 2)[0, :, :, 0]
    array([[0., 1.],
           [2., 3.]])
    """
    x, r, data_format = _block_setup("depth_to_space", x, block_size, data_format)
    return _depth_to_space(x, r, data_format)


@depth_to_space.defbackward
def _(g, out, x, block_size, data_format="channels_last"):
    g, r, data_format = _block_setup("depth_to_space", g, block_size, data_format)
    return _space_to_depth(g, r, data_format)


@operation(differentiable=("x",))
def space_to_depth(x, block_size, data_format="channels_last"):
    """(N, rH, rW, C) -> (N, H, W, r^2 C): every r x r block of cells stacked into the channels.

        y[n, h, w, (i*r + j)*C + c] = x[n, h*r + i, w*r + j, c]        (channels_last)
        y[n, (c*r + i)*r + j, h, w] = x[n, c, h*r + i, w*r + j]        (channels_first)

    The backward is ``depth_to_space`` of the gradient.

    Args:
        x: a 4-D tensor.
        block_size: r, an int >= 2.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        The rearranged tensor, same dtype.

    Example:

    >>> ops.space_to_depth(np.arange(4.0).reshape(1, 2, 2, 1), 2)[0, 0, 0]
    array([0., 1., 2., 3.])
    """
    x, r, data_format = _block_setup("space_to_depth", x, block_size, data_format)
    return _space_to_depth(x, r, data_format)


@space_to_depth.defbackward
def _(g, out, x, block_size, data_format="channels_last"):
    g, r, data_format = _block_setup("space_to_depth", g, block_size, data_format)
    return _depth_to_space(g, r, data_format)
