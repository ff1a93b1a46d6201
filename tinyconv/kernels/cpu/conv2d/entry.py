"""The compiled 2-D convolution's two entry points: check, ask ``route.py`` once, run the route.

Same functions and results as ``tinyconv.kernels.reference.conv`` (read that file for the
formula).  Every argument is checked here (``validate_conv2d_args``) before the compiled
loops, which run without bounds checks, touch it.  No route calls back into these functions
or into the router: dL/dx as a convolution of dy calls the chosen route's ``forward`` directly.
"""
import functools

import numpy as np

from tinyconv.kernels.cpu.activation import bias_gradient
from tinyconv.kernels.checks.conv import validate_conv2d_args, validate_upstream_gradient

from . import block_path, chunked_path, direct_path, implicit_path, pointwise_path, route, scatter_path
from .geometry import conv_geometry, correlation_geometry, correlation_pads, flipped_kernel
from .workspace import scratch_buffer

__all__ = ["CONV2D_USES_CACHE", "conv2d_forward", "conv2d_backward"]

# The dispatch hands this set a KernelCache (tinyconv.dispatch) from a training layer's forward
# to its backward: forward keeps in ``cache.kept`` the im2col columns of a few-channel layer, or
# the zero-padded input planes of the direct route; ``cache.spare`` is the kept buffer of the
# layer's previous step, reused when its shape fits.
CONV2D_USES_CACHE = True


def conv2d_forward(x, kernel, bias, strides, pads, dilation, groups, cache=None):
    """y = x (*) kernel + bias (cross-correlation), NHWC input, Keras-layout kernel."""
    source = x
    x, kernel, bias, out_hw = validate_conv2d_args(x, kernel, bias, strides, pads, dilation, groups)
    x = np.ascontiguousarray(x)
    if bias is not None:
        bias = np.ascontiguousarray(bias)   # the routes read it as one contiguous row (a ::1 view)
    geo = conv_geometry(x.shape, kernel.shape, strides, pads, dilation, out_hw)
    chosen = route.conv2d_route(x.shape, kernel.shape, strides, pads, dilation, groups, x.dtype,
                                training=cache is not None, passes=("forward",))
    spare = cache.spare if cache is not None else None
    y, kept = _forward(chosen.forward, x, kernel, bias, geo, pads, groups, chosen.kept is not None, spare, source)
    if cache is not None:
        cache.kept, cache.spare = kept, None   # the spare is now part of cache.kept (or not reusable)
    return y


def conv2d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True,
                    cache=None):
    """Return (dx, dkernel, dbias) given dL/dy.  A gradient not asked for
    (``input_gradient``/``kernel_gradient`` False) is None, and its work is skipped.
    ``cache``: what forward kept for this same ``x`` (or None: recompute)."""
    source = x
    x, kernel, _, out_hw = validate_conv2d_args(x, kernel, None, strides, pads, dilation, groups)
    dy = np.ascontiguousarray(validate_upstream_gradient(dy, x, kernel, out_hw))
    x = np.ascontiguousarray(x)
    geo = conv_geometry(x.shape, kernel.shape, strides, pads, dilation, out_hw)
    kept = cache.kept if cache is not None else None
    if direct_path.usable(kept, source, x, dy, geo):
        kept_kind = "planes"
    elif chunked_path.usable_columns(kept, x, geo, groups):
        kept_kind = "columns"
    else:
        kept, kept_kind = None, None
    chosen = route.conv2d_route(x.shape, kernel.shape, strides, pads, dilation, groups, x.dtype, kept=kept_kind,
                                passes=_backward_passes(input_gradient, kernel_gradient))
    dbias = bias_gradient(dy.reshape(-1, kernel.shape[3]))

    dx = dkernel = None
    joint = (input_gradient and kernel_gradient and not chosen.input_gradient_by_correlation
             and _same_backward(chosen.weight_gradient, chosen.input_gradient))
    if joint:       # one pass over the batch for both (blocks, chunks, pointwise)
        dx, dkernel = _backward(chosen.weight_gradient, dy, x, kernel, geo, pads, groups, kept, True, True)
    else:
        if kernel_gradient:
            dkernel = _weight_gradient(chosen.weight_gradient, dy, x, kernel, geo, pads, groups, kept)
        if input_gradient:
            dx = _input_gradient(chosen, dy, x, kernel, geo, pads, dilation, groups)
    return dx, dkernel, dbias


# --- running a route -------------------------------------------------------------------------


def _forward(name, x, kernel, bias, geo, pads, groups, keep=False, spare=None, source=None):
    """(y, kept or None) by route ``name``."""
    threads = route.threads_for(x.size * geo.kh * geo.kw, kernel.shape[3] // groups)
    if name == route.DIRECT:
        return direct_path.forward(x, kernel, bias, geo, threads, keep, spare, source)
    if name == route.IMPLICIT_GEMM:
        return implicit_path.forward(x, kernel, bias, geo, groups, threads), None
    if name == route.POINTWISE_GEMM:
        return pointwise_path.forward(x, kernel, bias, groups), None
    if name == route.BLOCKS:
        threads = route.threads_for(_column_entries(x, kernel, geo), kernel.shape[3] // groups)
        return block_path.forward(x, kernel, bias, geo, groups, threads), None
    return chunked_path.forward(x, kernel, bias, geo, pads, groups, keep, spare, threads)


def _weight_gradient(name, dy, x, kernel, geo, pads, groups, kept):
    """dL/dW by route ``name``."""
    if name == route.DIRECT:
        threads = route.threads_for(x.size * geo.kh * geo.kw, kernel.shape[3])
        return direct_path.weight_gradient(kept, dy, kernel.shape, geo, threads)
    if name == route.IMPLICIT_GEMM:
        threads = route.threads_for(dy.size * geo.kh * geo.kw, kernel.shape[2])
        return implicit_path.weight_gradient(x, dy, kernel.shape, geo, groups, threads,
                                             functools.partial(scratch_buffer, "weight slices", np.float32))
    return _backward(name, dy, x, kernel, geo, pads, groups, kept, False, True)[1]


def _input_gradient(chosen, dy, x, kernel, geo, pads, dilation, groups):
    """dL/dx by the route ``chosen`` names: a forward over dy, a scatter, or col2im / GEMM."""
    if chosen.input_gradient == route.SCATTER:
        threads = route.threads_for(_column_entries(x, kernel, geo), kernel.shape[3])
        return scatter_path.input_gradient(dy, kernel, x.shape, geo, threads)
    if chosen.input_gradient_by_correlation:
        dx_pads = correlation_pads(geo, pads)
        dx_geo = correlation_geometry(dy.shape, x.shape, kernel.shape, dx_pads, dilation)
        return _forward(chosen.input_gradient, dy, flipped_kernel(kernel, groups), None, dx_geo, dx_pads, groups)[0]
    return _backward(chosen.input_gradient, dy, x, kernel, geo, pads, groups, None, True, False)[0]


def _backward(name, dy, x, kernel, geo, pads, groups, kept, input_gradient, kernel_gradient):
    """(dx or None, dkernel or None) by one of the routes that sum both in one pass."""
    if name == route.POINTWISE_GEMM:
        return pointwise_path.backward(dy, x, kernel, groups, input_gradient, kernel_gradient)
    threads = route.threads_for(_column_entries(x, kernel, geo), kernel.shape[3] // groups)
    if name == route.BLOCKS:
        return block_path.backward(dy, x, kernel, geo, groups, threads, input_gradient, kernel_gradient)
    columns = kept if name == route.KEPT_COLUMNS else None
    return chunked_path.backward(dy, x, kernel, geo, pads, groups, columns, input_gradient, kernel_gradient,
                                 threads)


def _backward_passes(input_gradient, kernel_gradient):
    """The passes a backward call asks the router for."""
    return ("weight_gradient",) * kernel_gradient + ("input_gradient",) * input_gradient


def _same_backward(weight_route, input_route):
    """True when one backward pass of that route can sum both gradients."""
    chunked = (route.KEPT_COLUMNS, route.IM2COL_CHUNKS)
    if weight_route in chunked and input_route in chunked:
        return True
    return weight_route == input_route and weight_route in (route.POINTWISE_GEMM, route.BLOCKS)


def _column_entries(x, kernel, geo):
    """Numbers in the whole batch's columns matrix: the work the blocks split among threads."""
    return x.shape[0] * geo.out_h * geo.out_w * geo.kh * geo.kw * kernel.shape[2]
