"""The shapes every route of the 2-D convolution shares: output geometry, kernel layouts.

``ConvGeometry`` maps an output cell to input pixels (the compiled loops read it through
``im2col.pxd``'s ``c_geometry``); the kernel helpers turn the Keras kernel (KH, KW, Cg, F)
into the matrices the GEMMs multiply, or into the kernel of dL/dx.
"""
from collections import namedtuple

import numpy as np

__all__ = ["ConvGeometry", "conv_geometry", "is_pointwise", "correlation_pads", "flipped_kernel",
           "kernel_matrix", "group_weight_matrices"]

ConvGeometry = namedtuple("ConvGeometry", "height width out_h out_w kh kw sh sw dh dw top left")


def conv_geometry(x_shape, kernel_shape, strides, pads, dilation, out_hw):
    """The geometry of a layer whose arguments were checked (``out_hw`` from the checks)."""
    (top, _), (left, _) = pads
    return ConvGeometry(
        height=x_shape[1], width=x_shape[2], out_h=out_hw[0], out_w=out_hw[1],
        kh=kernel_shape[0], kw=kernel_shape[1], sh=strides[0], sw=strides[1],
        dh=dilation[0], dw=dilation[1], top=top, left=left,
    )


def is_pointwise(kernel_shape, strides, pads):
    """1x1 kernel, stride 1, no padding: output cell (i, j) sees exactly pixel (i, j).

    (Dilation spaces out kernel cells; a 1x1 kernel has only one, so it does not matter.)
    """
    return tuple(kernel_shape[:2]) == (1, 1) and tuple(strides) == (1, 1) and tuple(pads) == ((0, 0), (0, 0))


# dL/dx of a stride-1 convolution is itself a convolution: dy, padded, correlated with the
# kernel turned 180 degrees and with its channel and filter axes swapped (the "full"
# convolution of the lectures).  That trades col2im's scattered additions and a GEMM with a
# short inner dimension (the filters) for a product shaped like forward's: measured 15-35%
# faster on the 3x3 layers of ResNet-20 and the VGG block.

def correlation_pads(geo, pads):
    """Pads under which the stride-1 convolution of dy with the flipped kernel is dL/dx,
    or None (a strided layer, or padding wider than the kernel reaches)."""
    if geo.sh != 1 or geo.sw != 1:
        return None
    reach_h, reach_w = (geo.kh - 1) * geo.dh, (geo.kw - 1) * geo.dw   # dilated kernel size - 1
    (top, bottom), (left, right) = pads
    result = ((reach_h - top, reach_h - bottom), (reach_w - left, reach_w - right))
    return result if min(result[0] + result[1]) >= 0 else None


def flipped_kernel(kernel, groups):
    """flipped[p, q, f, g*Cg + c] = kernel[KH-1-p, KW-1-q, c, g*Fg + f]: the kernel of dL/dx."""
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    per_group = kernel[::-1, ::-1].reshape(kh, kw, cg, groups, fg)
    return np.ascontiguousarray(per_group.transpose(0, 1, 4, 3, 2)).reshape(kh, kw, fg, groups * cg)


def correlation_geometry(dy_shape, x_shape, kernel_shape, dx_pads, dilation):
    """The geometry of dL/dx as the stride-1 convolution of dy (shape ``dy_shape``) with the
    flipped kernel under ``dx_pads``: its output is the input's height and width."""
    flipped_shape = (kernel_shape[0], kernel_shape[1], kernel_shape[3], x_shape[3])
    return conv_geometry(dy_shape, flipped_shape, (1, 1), dx_pads, dilation, x_shape[1:3])


def kernel_matrix(kernel):
    """Kernel (KH, KW, Cg, F) -> (KH*KW*Cg, F), rows ordered (p, q, c); group g owns columns g*F/groups..."""
    kh, kw, cg, filters = kernel.shape
    return np.ascontiguousarray(kernel).reshape(kh * kw * cg, filters)


def group_weight_matrices(kernel, groups):
    """Kernel (KH, KW, Cg, F) -> one (KH*KW*Cg, F/groups) matrix per group, rows ordered (p, q, c)."""
    matrix, fg = kernel_matrix(kernel), kernel.shape[3] // groups
    return [np.ascontiguousarray(matrix[:, g * fg:(g + 1) * fg]) for g in range(groups)]
