"""Stand-ins for kernels the GPU backend does not have yet (every kernel name has one today;
``__init__`` uses this for names added to ``dispatch.KERNEL_NAMES`` before their GPU version exists).

With ``xp = numpy`` (the CPU test hook) they run the NumPy reference kernels, so a model using them
still trains in the tests; with CuPy they raise NotImplementedError naming the kernel, rather than
failing somewhere inside NumPy on a GPU array.
"""
import numpy as np

from .. import reference
from ._common import xp


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
