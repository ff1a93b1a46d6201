"""Softmax over the last axis as one raw CUDA kernel.

    softmax(z_r)_k = exp(z_rk - m_r) / sum_j exp(z_rj - m_r),   m_r = max_j z_rj

As whole-array operations that is five launches (max, subtract, exp, sum, divide), each a pass
over the array.  ``tinyconv_softmax`` runs one thread per row: the max, the sum of exponentials,
then the outputs, in three passes over its k values - good for the few classes of a classifier's
last layer; with thousands of classes a block per row would be faster.  Subtracting the max first
keeps every exponential in (0, 1], so none overflows.

``softmax_arrays`` is the readable twin: ``tinyconv.activations.softmax``'s own formula.
"""
import numpy as np

from .. import fused
from ....devices import array_module_of
from ._cuda import KernelFamily, fits_int32, ints, launch

ENTRY_POINTS = ("tinyconv_softmax",)

SOURCE = r"""
extern "C" __global__ void tinyconv_softmax(const scalar_t* z, scalar_t* y, int rows, int classes)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const scalar_t* row = z + (long long)r * classes;
    scalar_t* out = y + (long long)r * classes;
    scalar_t top = row[0];
    for (int k = 1; k < classes; ++k) top = row[k] > top ? row[k] : top;
    scalar_t total = 0;
    for (int k = 0; k < classes; ++k) total += exp(row[k] - top);
    for (int k = 0; k < classes; ++k) out[k] = exp(row[k] - top) / total;
}
"""


def softmax_arrays(z):
    """The twin, on NumPy or CuPy: exp(z - max) / sum(exp(z - max)) along the last axis."""
    module = array_module_of(z)
    shifted = module.exp(z - module.max(z, axis=-1, keepdims=True))
    return shifted / module.sum(shifted, axis=-1, keepdims=True)


def build_softmax(cupy):
    """The compiled kernel: ``(z (R, k)) -> y (R, k)``, one thread per row."""
    family = KernelFamily(cupy, SOURCE)

    def softmax_2d(z):
        z = cupy.ascontiguousarray(z)
        rows, classes = z.shape
        y = cupy.empty(z.shape, dtype=z.dtype)
        launch(family.function("tinyconv_softmax", z.dtype), rows, z, y, *ints(rows, classes))
        return y
    return softmax_2d


def softmax(z):
    """Softmax over the last axis of ``z``: one launch on a GPU.

    Args:
        z: (..., k) float32 or float64 scores, k >= 1.

    Returns:
        An array of ``z``'s shape and dtype whose last axis sums to 1.

    Raises:
        TypeError: for scores that are not float32 / float64.
        ValueError: for an array with no axis or an empty last axis (no class to normalise over).

    Example:

    >>> softmax(np.array([[1.0, 2.0, 3.0]])).round(4)              # NumPy: the twin runs
    array([[0.09  , 0.2447, 0.6652]])
    """
    if np.dtype(z.dtype) not in (np.float32, np.float64):
        raise TypeError(f"softmax: expected float32 or float64 scores, got {z.dtype}")
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"softmax: expected scores with a non-empty last axis (the classes), got shape "
                         f"{tuple(z.shape)}")
    classes = z.shape[-1]
    if not fits_int32(z.size):
        return softmax_arrays(z)
    return fused.run("softmax", softmax_arrays, build_softmax, z.reshape(-1, classes)).reshape(z.shape)
