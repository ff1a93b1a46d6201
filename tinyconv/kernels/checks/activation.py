"""Checks of the activation and bias-gradient kernels."""
from ...activations import KERNEL_ACTIVATIONS


def check_activation_name(name):
    if name not in KERNEL_ACTIVATIONS:
        raise ValueError(f"activation kernels: expected one of {KERNEL_ACTIVATIONS}, got {name!r}")


def check_gradient_shape(dy, a):
    if dy.shape != a.shape:
        raise ValueError(f"activation_backward: gradient shape {dy.shape} does not match the output's {a.shape}")


def check_activation_backward(dy, a, activation):
    check_activation_name(activation)
    check_gradient_shape(dy, a)


def check_channel_axis(dz):
    """The bias gradient sums over every axis but the last, so there must be one."""
    if dz.ndim < 1:
        raise ValueError(f"bias_gradient: expected an array with a channel axis, got shape {dz.shape}")
