"""Elementwise activations and the bias gradient on the GPU backend (same formulas as
``kernels/reference/activation.py``).

relu and tanh forward are one array operation each; sigmoid and every backward are a few, so they run
as one fused elementwise kernel (``fused.run``: a ``cupy.ElementwiseKernel`` on a GPU, the NumPy twin
below anywhere else, one launch either way).  The bias gradient is one matrix-vector product against a
cached vector of ones: CuPy reduces over the rows of a narrow matrix with very few thread blocks, cuBLAS
does not.
"""
import numpy as np

from ..checks.activation import check_activation_backward, check_activation_forward, check_channel_axis
from . import fused
from ._common import column_sums, xp


def _sigmoid(module, z):
    """1 / (1 + e^-z) without overflow: e^-|z| is at most 1."""
    e = module.exp(-module.abs(z))
    return module.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def sigmoid_twin(z, out=None):
    """The fused sigmoid's NumPy twin (also the array-module version on NumPy)."""
    a = _sigmoid(np, z)
    if out is None:
        return a
    out[...] = a
    return out


def _build_sigmoid(cupy):
    kernel = cupy.ElementwiseKernel(
        "T z", "T a",
        "T e = exp(-abs(z)); a = z >= (T)0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e)",
        "tinyconv_sigmoid")
    return lambda z, out=None: kernel(z, out) if out is not None else kernel(z)


def activation_forward(z, activation, out=None):
    """a = activation(z); written into ``out`` (which may be ``z`` itself) when given."""
    check_activation_forward(z, activation, out)
    module = xp()
    if activation == "relu":
        return module.maximum(z, 0, out=out)
    if activation == "tanh":
        return module.tanh(z, out=out)
    if activation == "linear":
        if out is None:
            return z
        out[...] = z
        return out
    return fused.run("sigmoid", sigmoid_twin, _build_sigmoid, z, out)


def backward_twin(dy, a, activation):
    """dL/dz from dL/da and the activation's output, in NumPy: the fused kernel's twin."""
    if activation == "relu":
        return np.where(a > 0, dy, 0).astype(dy.dtype, copy=False)   # a switch: 0 even for an inf dy
    if activation == "tanh":
        return dy * (1 - a * a)
    return dy * a * (1 - a)                                          # sigmoid


_BACKWARD_OPERATIONS = {
    "relu": "dz = a > (T)0 ? dy : (T)0",
    "tanh": "dz = dy * ((T)1 - a * a)",
    "sigmoid": "dz = dy * a * ((T)1 - a)",
}


def _build_backward(cupy):
    kernels = {name: cupy.ElementwiseKernel("T dy, T a", "T dz", operation, f"tinyconv_{name}_backward")
               for name, operation in _BACKWARD_OPERATIONS.items()}
    return lambda dy, a, activation: kernels[activation](dy, a)


def activation_backward(dy, a, activation):
    """dL/dz from dL/da = ``dy`` and the activation's output ``a`` (one fused launch)."""
    check_activation_backward(dy, a, activation)
    if activation == "linear":
        return dy
    return fused.run("activation_backward", backward_twin, _build_backward, dy, a, activation=activation)


def bias_gradient(dz):
    """db: dz summed over every axis but the last (the channels/units axis), as ones @ rows."""
    check_channel_axis(dz)
    return column_sums(dz.reshape(-1, dz.shape[-1]))


def matmul(a, b):
    """``a @ b``: one cuBLAS GEMM (leading batch axes of a folded in by CuPy)."""
    return a @ b
