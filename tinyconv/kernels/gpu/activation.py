"""Elementwise activations and the bias gradient on the GPU backend (same formulas as
``kernels/reference/activation.py``), each a few array-module calls CuPy runs as kernels."""
from ..checks.activation import check_activation_backward, check_activation_forward, check_channel_axis
from ._common import xp


def _sigmoid(module, z):
    """1 / (1 + e^-z) without overflow: e^-|z| is at most 1."""
    e = module.exp(-module.abs(z))
    return module.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def activation_forward(z, activation, out=None):
    """a = activation(z); written into ``out`` (which may be ``z`` itself) when given."""
    check_activation_forward(z, activation, out)
    module = xp()
    if activation == "relu":
        return module.maximum(z, 0, out=out)
    if activation == "tanh":
        return module.tanh(z, out=out)
    a = z if activation == "linear" else _sigmoid(module, z)
    if out is None:
        return a
    out[...] = a
    return out


def activation_backward(dy, a, activation):
    """dL/dz from dL/da = ``dy`` and the activation's output ``a``."""
    check_activation_backward(dy, a, activation)
    if activation == "relu":
        return xp().where(a > 0, dy, 0).astype(dy.dtype, copy=False)   # a switch: 0 even for an inf dy
    if activation == "tanh":
        return dy * (1 - a * a)
    if activation == "sigmoid":
        return dy * a * (1 - a)
    return dy


def bias_gradient(dz):
    """db: dz summed over every axis but the last (the channels/units axis)."""
    check_channel_axis(dz)
    return dz.reshape(-1, dz.shape[-1]).sum(axis=0)
