"""Checks of the activation and bias-gradient kernels."""
import numpy as np

from ...activations import KERNEL_ACTIVATIONS

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_activation_name(name):
    if name not in KERNEL_ACTIVATIONS:
        raise ValueError(f"activation kernels: expected one of {KERNEL_ACTIVATIONS}, got {name!r}")


def check_float_arrays(kernel, **arrays):
    """Every array float32 or float64.  The layers cast at their entrance; a kernel called
    directly with integers would compute in them (a sigmoid of int32 is all zeros), so it refuses.
    Only the dtype is read, so NumPy and CuPy arrays both pass through here."""
    for name, array in arrays.items():
        dtype = getattr(array, "dtype", None)
        if dtype not in FLOAT_DTYPES:
            got = dtype if dtype is not None else type(array).__name__
            raise TypeError(f"{kernel}: expected {name} of dtype float32 or float64, got {got}")


def check_activation_forward(z, activation, out=None):
    check_activation_name(activation)
    check_float_arrays("activation_forward", z=z)
    if out is not None:
        check_float_arrays("activation_forward", out=out)


def check_gradient_shape(dy, a):
    if dy.shape != a.shape:
        raise ValueError(f"activation_backward: gradient shape {dy.shape} does not match the output's {a.shape}")


def check_activation_backward(dy, a, activation):
    check_activation_name(activation)
    check_float_arrays("activation_backward", dy=dy, a=a)
    check_gradient_shape(dy, a)


def check_channel_axis(dz):
    """The bias gradient sums over every axis but the last, so there must be one."""
    check_float_arrays("bias_gradient", dz=dz)
    if dz.ndim < 1:
        raise ValueError(f"bias_gradient: expected an array with a channel axis, got shape {dz.shape}")
