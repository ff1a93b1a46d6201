"""3-D convolution for the GPU backend: vol2col gathers + one (batched) matrix product.

Same maths and signatures as ``kernels/reference/conv3d.py`` (NDHWC, kernel (KD, KH, KW, C/groups, F)):

    y[n, d, i, j, f] = b[f] + sum_{o,p,q,c} x_pad[n, d*sd + o*dd, i*sh + p*dh, j*sw + q*dw, g*Cg + c]
                                            * k[o, p, q, c, f]

It is 2-D convolution with one more spatial axis, and the GPU code is the same: ``conv.py``'s
``conv_forward`` / ``conv_backward`` gather every box of the padded volume (vol2col), multiply
by the kernel as one matrix, and send the patch gradients back with a per-axis col2im gather.
"""
from ..checks.conv3d import validate_conv3d_args
from ._common import check_arrays, shape_proxy
from .conv import _plain, check_gradient, conv_backward, conv_forward


def _validate(where, x, kernel, bias, strides, pads, dilation, groups):
    check_arrays(where, x=x, kernel=kernel, bias=bias)
    _, _, _, out_dhw = validate_conv3d_args(shape_proxy(x), shape_proxy(kernel), shape_proxy(bias), strides, pads,
                                            dilation, groups)
    return _plain(strides, pads, dilation, groups, out_dhw)


def conv3d_forward(x, kernel, bias, strides, pads, dilation, groups):
    """y = x (*) kernel + bias over three spatial axes, as vol2col + matmul."""
    geometry = _validate("gpu conv3d_forward", x, kernel, bias, strides, pads, dilation, groups)
    return conv_forward(x, kernel, bias, *geometry)


def conv3d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True):
    """(dx, dkernel, dbias) given dL/dy, as in the reference kernel (None for a gradient not asked for)."""
    geometry = _validate("gpu conv3d_backward", x, kernel, None, strides, pads, dilation, groups)
    check_gradient("gpu conv3d_backward", dy, x, kernel, geometry[-1])
    return conv_backward(dy, x, kernel, *geometry, input_gradient=input_gradient, kernel_gradient=kernel_gradient)
