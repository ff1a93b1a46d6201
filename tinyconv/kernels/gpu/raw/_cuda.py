"""What the raw CUDA kernels of this package share: one source compiled per float type, 32-bit
indexing, and a launch of one thread per output element.

Every source in ``raw/`` is written once against ``scalar_t`` and compiled twice, with
``-Dscalar_t=float`` and ``-Dscalar_t=double``: the float32 kernel computes in float32, the
float64 kernel in float64.  Indices are 32-bit ``int`` (64-bit division costs several times more
on a GPU), so a caller first asks ``fits_int32`` and keeps the array-module twin for larger arrays.
"""
import numpy as np

THREADS_PER_BLOCK = 256
INT32_LIMIT = 2 ** 31 - 1
SCALAR_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def compile_options(dtype):
    """The NVRTC options that make ``scalar_t`` the C type of ``dtype`` (float32 -> float, float64 -> double)."""
    dtype = np.dtype(dtype)
    if dtype not in SCALAR_TYPES:
        raise TypeError(f"raw CUDA kernels: expected float32 or float64, got {dtype}")
    return (f"-Dscalar_t={SCALAR_TYPES[dtype]}",)


def fits_int32(*sizes):
    """True when every element count in ``sizes`` can be indexed with a 32-bit int."""
    return all(int(size) <= INT32_LIMIT for size in sizes)


def ints(*values):
    """Kernel arguments declared ``int``: passed as np.int32 so CuPy hands over exactly 4 bytes."""
    return tuple(np.int32(value) for value in values)


class KernelFamily:
    """One CUDA source on one CuPy device: compiled on first use, once per float type.

    Args:
        cupy: the CuPy module.
        source: CUDA C++ source written against ``scalar_t``, with ``extern "C"`` entry points.

    Example (needs CuPy and a GPU):

    >>> from tinyconv.kernels.gpu.raw import windows
    >>> family = KernelFamily(cupy, windows.SOURCE)               # doctest: +SKIP
    >>> family.function("tinyconv_im2col_2d", np.float32)          # doctest: +SKIP
    <cupy.cuda.function.Function object at 0x...>
    """

    def __init__(self, cupy, source):
        self._cupy, self._source = cupy, source
        self._modules, self._functions = {}, {}

    def function(self, entry, dtype):
        """The compiled ``entry`` point of the ``scalar_t = dtype`` build."""
        key = (entry, np.dtype(dtype))
        function = self._functions.get(key)
        if function is None:
            module = self._modules.get(key[1])
            if module is None:
                module = self._modules[key[1]] = self._cupy.RawModule(code=self._source,
                                                                      options=compile_options(dtype))
            function = self._functions[key] = module.get_function(entry)
        return function


def launch(function, total, *args):
    """Run ``function`` with one thread per element, ``total`` elements in all (nothing for 0)."""
    if total == 0:
        return
    blocks = (int(total) + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    function((blocks,), (THREADS_PER_BLOCK,), args)
