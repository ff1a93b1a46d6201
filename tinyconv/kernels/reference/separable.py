"""Spatially separable convolution: one k x k kernel as two 1-D passes.

The course (Goodfellow, ch. 9, "Efficient convolution algorithms"): a 2-D kernel is
*separable* when it is the outer product of a column and a row,

    K[p, q] = column[p] * row[q]        (K has rank 1)

and then the 2-D sum splits into two 1-D sums:

    y[i, j] = sum_p sum_q x[i+p, j+q] column[p] row[q]
            = sum_q row[q] * ( sum_p column[p] x[i+p, j+q] )
                              '-- first pass: a (k, 1) kernel down the columns
            '-- second pass: a (1, k) kernel along the rows

A k_h x k_w kernel costs k_h*k_w multiplications per output pixel; the two passes cost
k_h + k_w (3x3: 9 against 6; 7x7: 49 against 14).  The Sobel x-derivative is the textbook case:

    [[1, 0, -1],      [1]
     [2, 0, -2],  =   [2] [1, 0, -1]     (smooth down the column, differentiate along the row)
     [1, 0, -1]]      [1]

Learned kernels are rarely exactly rank 1, which is why frameworks offer *depthwise*
separable convolution (channels split from space) rather than this one; see
``tinyconv.layers.SeparableConv2D``.  These are the functions only (no layer).
"""
import numpy as np

from .conv import conv2d_forward

__all__ = ["factor_kernel", "separable_conv2d", "separable_cost"]


def factor_kernel(k2d, tol=1e-6):
    """Factor a rank-1 2-D kernel into ``(column, row)`` with ``np.outer(column, row) == k2d``.

    Uses the singular value decomposition K = sum_r s_r u_r v_r^T: K is rank 1 exactly when every
    singular value after the first is zero, and then K = (sqrt(s_1) u_1)(sqrt(s_1) v_1)^T.
    ``tol`` is relative to the largest singular value.  Raises ValueError when K is not rank 1.
    The signs are chosen so that the column's largest entry (in absolute value) is positive.
    """
    kernel = np.asarray(k2d, dtype=np.float64)
    if kernel.ndim != 2 or min(kernel.shape) < 1:
        raise ValueError(f"factor_kernel: expected a non-empty 2-D kernel, got shape {kernel.shape}")
    u, singular, vt = np.linalg.svd(kernel)
    if singular[0] == 0:
        return np.zeros(kernel.shape[0]), np.zeros(kernel.shape[1])
    leftover = singular[1:] / singular[0]
    if leftover.size and leftover.max() > tol:
        raise ValueError(
            f"factor_kernel: kernel is not rank 1 within tol={tol}: singular values {np.round(singular, 6).tolist()} "
            f"(second/first = {leftover.max():.3g}), so it is not an outer product of two vectors"
        )
    scale = np.sqrt(singular[0])
    column, row = u[:, 0] * scale, vt[0] * scale
    if column[np.argmax(np.abs(column))] < 0:  # u and v are only defined up to a shared sign
        column, row = -column, -row
    return column, row


def separable_conv2d(x, column, row, strides=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1)):
    """Cross-correlate each channel of NHWC ``x`` with ``outer(column, row)`` in two 1-D passes.

    First pass: the (k_h, 1) kernel ``column`` (vertical stride, padding and dilation); second
    pass: the (1, k_w) kernel ``row`` (horizontal ones).  Both run through the conv2d kernel with
    one group per channel, so every channel is filtered on its own (as a depthwise convolution).
    The result equals ``conv2d_forward`` with the full kernel, at k_h + k_w multiplications per
    output pixel instead of k_h * k_w.
    """
    x = np.asarray(x)
    channels = x.shape[-1] if x.ndim == 4 else None
    if channels is None:
        raise ValueError(f"separable_conv2d: expected x of rank 4 (N, H, W, C), got shape {x.shape}")
    column = np.asarray(column, dtype=x.dtype).reshape(-1)
    row = np.asarray(row, dtype=x.dtype).reshape(-1)
    (top_bottom, left_right) = pads
    # The same 1-D filter for every channel: kernel (k, 1, 1, C) with groups = C.
    column_kernel = np.repeat(column[:, None, None, None], channels, axis=3)
    row_kernel = np.repeat(row[None, :, None, None], channels, axis=3)
    down_columns = conv2d_forward(x, column_kernel, None, (strides[0], 1), (top_bottom, (0, 0)),
                                  (dilation[0], 1), channels)
    return conv2d_forward(down_columns, row_kernel, None, (1, strides[1]), ((0, 0), left_right),
                          (1, dilation[1]), channels)


def separable_cost(kernel_shape):
    """Multiplications per output pixel (and channel): ``{"full": kh*kw, "separable": kh + kw}``."""
    kh, kw = (int(kernel_shape), int(kernel_shape)) if np.isscalar(kernel_shape) else map(int, kernel_shape[:2])
    if kh < 1 or kw < 1:
        raise ValueError(f"separable_cost: expected a positive kernel shape, got {kernel_shape!r}")
    return {"full": kh * kw, "separable": kh + kw}
