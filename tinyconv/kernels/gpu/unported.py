"""Kernels the GPU backend does not have yet.

With ``xp = numpy`` (the CPU test hook) they run the NumPy reference kernels, so a model using them
still trains in the tests; with CuPy they raise NotImplementedError naming the kernel, rather than
failing somewhere inside NumPy on a GPU array.
"""
import numpy as np

from .. import reference
from ._common import xp

PORTED = (
    "conv2d_forward", "conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward_train", "batch_norm_forward_infer", "batch_norm_backward",
)


def unported_kernel(name):
    """A stand-in for kernel ``name``: the reference on NumPy, a clear error on a GPU."""
    reference_kernel = getattr(reference, name)

    def kernel(*args, **kwargs):
        if xp() is not np:
            raise NotImplementedError(f"tinyconv: the kernel {name} is not available on the GPU backend yet; "
                                      "use a layer with GPU kernels or tinyconv.backend.set_device('cpu')")
        return reference_kernel(*args, **kwargs)

    kernel.__name__ = name
    kernel.__doc__ = f"``{name}``: the NumPy reference with xp=numpy; not available with CuPy yet."
    return kernel
