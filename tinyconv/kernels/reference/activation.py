"""Elementwise activations and the bias gradient, as kernels.

The formulas live in ``tinyconv/activations.py`` (Keras's ``keras.activations.*`` and their
derivatives); these functions are the kernel-set form of the four that every CNN layer uses,
so a layer can call ``dispatch.activation_forward`` and get the compiled, multi-threaded twin
(``tinyconv/kernels/cpu/activation.pyx``) when it is active:

    relu:    a = max(z, 0)            dz = dy * [a > 0]
    tanh:    a = tanh(z)              dz = dy * (1 - a^2)
    sigmoid: a = 1 / (1 + e^-z)       dz = dy * a * (1 - a)
    linear:  a = z                    dz = dy

and the bias gradient of a layer z = ... + b, b broadcast over every axis but the last:

    db[f] = sum over every (sample, position) of dz[..., f]
"""
from ... import activations
from ..checks.activation import check_activation_backward, check_activation_forward, check_channel_axis


def activation_forward(z, activation, out=None):
    """a = activation(z); written into ``out`` (which may be ``z`` itself) when given."""
    check_activation_forward(z, activation, out)
    a = activations.get(activation)(z)
    if out is None:
        return a
    out[...] = a
    return out


def activation_backward(dy, a, activation):
    """dL/dz from dL/da = ``dy`` and the activation's output ``a``."""
    check_activation_backward(dy, a, activation)
    return activations.backward(activations.get(activation), dy, a)


def bias_gradient(dz):
    """db: dz summed over every axis but the last (the channels/units axis)."""
    check_channel_axis(dz)
    return dz.reshape(-1, dz.shape[-1]).sum(axis=0)
