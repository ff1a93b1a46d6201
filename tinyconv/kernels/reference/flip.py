"""True convolution versus cross-correlation, on one 2-D image.

The course (dl1 lecture) defines the convolution of a signal x with a kernel w as

    (x * w)(t) = sum_tau x(tau) w(t - tau)            -- the kernel runs backwards

and notes that deep learning uses the related *cross-correlation*

    (x star w)(t) = sum_tau x(t + tau) w(tau)         -- the kernel runs forwards

In 2-D, for a kh x kw kernel and 'valid' output positions:

    cross_correlate2d:  y[i, j] = sum_{p,q} x[i + p, j + q] * w[p, q]
    convolve2d:         y[i, j] = sum_{p,q} x[i + p, j + q] * w[kh-1-p, kw-1-q]

so a convolution is a cross-correlation with the kernel flipped upside down and left to right.
When w is learned the flip doesn't matter (the network learns the flipped kernel instead), so
every framework, and ``Conv2D`` here, computes the cross-correlation and calls it convolution.
The two agree exactly when the kernel is symmetric under the flip (w[p, q] == w[kh-1-p, kw-1-q]).

Only the true convolution is commutative (x * w == w * x); that needs the 'full' output, every
position where the two overlap at all (zero-padding by kh-1 and kw-1 on each side).
"""
import numpy as np

from .conv import conv2d_forward

__all__ = ["cross_correlate2d", "convolve2d", "true_convolution2d", "flip_kernel"]


def flip_kernel(kernel):
    """w[kh-1-p, kw-1-q]: the kernel turned upside down and left to right (a 180-degree rotation)."""
    return np.asarray(kernel)[::-1, ::-1]


def cross_correlate2d(image, kernel, mode="valid"):
    """y[i, j] = sum_{p,q} x[i+p, j+q] w[p, q]: what Conv2D computes, for one 2-D image and kernel.

    ``mode="valid"``: positions where the kernel fits inside the image; ``"full"``: every overlap.
    """
    image, kernel = _as_2d(image, "image"), _as_2d(kernel, "kernel")
    kh, kw = kernel.shape
    if mode == "valid":
        pads = ((0, 0), (0, 0))
    elif mode == "full":
        pads = ((kh - 1, kh - 1), (kw - 1, kw - 1))
    else:
        raise ValueError(f"cross_correlate2d: mode must be 'valid' or 'full', got {mode!r}")
    dtype = np.result_type(image, kernel, np.float32)
    x = image.astype(dtype)[None, :, :, None]  # one sample, one channel (NHWC)
    w = np.ascontiguousarray(kernel.astype(dtype)[:, :, None, None])  # (kh, kw, in=1, out=1)
    return conv2d_forward(x, w, None, (1, 1), pads, (1, 1), 1)[0, :, :, 0]


def convolve2d(image, kernel, mode="valid"):
    """y[i, j] = sum_{p,q} x[i+p, j+q] w[kh-1-p, kw-1-q]: the true (flipped-kernel) convolution."""
    return cross_correlate2d(image, np.ascontiguousarray(flip_kernel(_as_2d(kernel, "kernel"))), mode)


true_convolution2d = convolve2d  # the name that says what it is, beside the lecture's "convolution"


def _as_2d(array, name):
    array = np.asarray(array)
    if array.ndim != 2 or min(array.shape) < 1:
        raise ValueError(f"expected a non-empty 2-D {name}, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"expected a numeric {name}, got dtype {array.dtype}")
    return array
