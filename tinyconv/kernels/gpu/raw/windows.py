"""im2col and col2im over images (N, H, W, C) as two raw CUDA kernels.

The array-module versions (``_windows.py``) take a padding copy, an index-table gather and, for
col2im, a transpose, a padding copy and one gather-and-sum per axis.  Here each is one pass:

* ``tinyconv_im2col_2d``: one thread per window entry (s, i, j, p, q, c) reads
  ``x[s, i*sh + p*dh - top, j*sw + q*dw - left, c]``, or ``fill`` where that lies in the padding,
  so no padded copy of x is ever made;
* ``tinyconv_col2im_2d``: one thread per input cell (s, h, w, c) *collects* every window entry
  that read it: tap p of output row i reads row h when ``i*sh + p*dh - top == h``, so for each p
  there is at most one i, found by one division.  Each thread writes only its own cell: no atomics,
  and the sum runs in the same order on every run.

Both index with 32-bit ints; ``_windows.py`` keeps the array-module twin for larger arrays.
"""
import numpy as np

from ._cuda import KernelFamily, fits_int32, ints, launch

ENTRY_POINTS = ("tinyconv_im2col_2d", "tinyconv_col2im_2d")

SOURCE = r"""
// windows[s, i, j, p, q, c] = x[s, i*sh + p*dh - top, j*sw + q*dw - left, c], or fill in the padding.
extern "C" __global__ void tinyconv_im2col_2d(
        const scalar_t* x, scalar_t* windows,
        int height, int width, int channels, int out_h, int out_w, int kernel_h, int kernel_w,
        int stride_h, int stride_w, int dilation_h, int dilation_w, int top, int left,
        scalar_t fill, int total)
{
    int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    // index = ((((s*OH + i)*OW + j)*KH + p)*KW + q)*C + c: peel the axes off, last first.
    int rest = index;
    int c = rest % channels;  rest /= channels;
    int q = rest % kernel_w;  rest /= kernel_w;
    int p = rest % kernel_h;  rest /= kernel_h;
    int j = rest % out_w;     rest /= out_w;
    int i = rest % out_h;
    int s = rest / out_h;
    int row = i * stride_h + p * dilation_h - top;
    int col = j * stride_w + q * dilation_w - left;
    bool inside = row >= 0 && row < height && col >= 0 && col < width;
    windows[index] = inside ? x[((s * height + row) * width + col) * channels + c] : fill;
}

// dx[s, h, w, c] = sum of dwindows[s, i, j, p, q, c] over every (i, p), (j, q) with
// i*sh + p*dh - top == h and j*sw + q*dw - left == w: each input cell gathers its readers.
extern "C" __global__ void tinyconv_col2im_2d(
        const scalar_t* dwindows, scalar_t* dx,
        int height, int width, int channels, int out_h, int out_w, int kernel_h, int kernel_w,
        int stride_h, int stride_w, int dilation_h, int dilation_w, int top, int left, int total)
{
    int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int rest = index;
    int c = rest % channels;  rest /= channels;
    int w = rest % width;     rest /= width;
    int h = rest % height;
    int s = rest / height;
    scalar_t sum = 0;
    for (int p = 0; p < kernel_h; ++p) {
        int row = h + top - p * dilation_h;          // = i * stride_h for the output row i that reads h
        if (row < 0) break;                          // larger taps only go further up
        if (row % stride_h != 0) continue;
        int i = row / stride_h;
        if (i >= out_h) continue;
        for (int q = 0; q < kernel_w; ++q) {
            int col = w + left - q * dilation_w;
            if (col < 0) break;
            if (col % stride_w != 0) continue;
            int j = col / stride_w;
            if (j >= out_w) continue;
            sum += dwindows[((((s * out_h + i) * out_w + j) * kernel_h + p) * kernel_w + q) * channels + c];
        }
    }
    dx[index] = sum;
}
"""


def fits(x_shape, out, kernel):
    """True when both the input and its windows can be indexed with 32-bit ints."""
    n, c = x_shape[0], x_shape[-1]
    return fits_int32(np.prod(x_shape), n * np.prod(out) * np.prod(kernel) * c)


def build_im2col_2d(cupy):
    """The compiled im2col: ``(x, pads, kernel, strides, dilation, out, fill) -> (N, OH, OW, KH, KW, C)``."""
    family = KernelFamily(cupy, SOURCE)

    def im2col_2d(x, pads, kernel, strides, dilation, out, fill=0.0):
        x = cupy.ascontiguousarray(x)
        n, height, width, channels = x.shape
        windows = cupy.empty((n, *out, *kernel, channels), dtype=x.dtype)
        launch(family.function("tinyconv_im2col_2d", x.dtype), windows.size, x, windows,
               *ints(height, width, channels, *out, *kernel, *strides, *dilation, pads[0][0], pads[1][0]),
               x.dtype.type(fill), np.int32(windows.size))
        return windows
    return im2col_2d


def build_col2im_2d(cupy):
    """The compiled col2im: ``(dwindows, input_size, kernel, strides, pads, dilation) -> (N, H, W, C)``."""
    family = KernelFamily(cupy, SOURCE)

    def col2im_2d(dwindows, input_size, kernel, strides, pads, dilation):
        dwindows = cupy.ascontiguousarray(dwindows)
        n, out_h, out_w, channels = dwindows.shape[0], dwindows.shape[1], dwindows.shape[2], dwindows.shape[-1]
        dx = cupy.empty((n, *input_size, channels), dtype=dwindows.dtype)
        launch(family.function("tinyconv_col2im_2d", dx.dtype), dx.size, dwindows, dx,
               *ints(*input_size, channels, out_h, out_w, *kernel, *strides, *dilation, pads[0][0], pads[1][0]),
               np.int32(dx.size))
        return dx
    return col2im_2d
