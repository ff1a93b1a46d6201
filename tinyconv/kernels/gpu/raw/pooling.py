"""Pooling windows as raw CUDA kernels: max/min and average pooling over images (N, H, W, C),
their backward passes, and max pooling's backward for any number of spatial axes.

The array-module versions (``_windows.py``) gather every window into a (N, OH, OW, PH*PW, C) array
and reduce it (several launches, and a copy PH*PW times the size of x).  Here one thread per output
cell walks its window in row-major order and keeps a running max or sum in a register:

* ``tinyconv_extreme_pool_2d``: max (or min) and the flat index h*W + w of the first winning real
  cell; padding never takes part; a NaN beats any number and the first NaN stays, as NumPy's
  argmax / argmin decide;
* ``tinyconv_avg_pool_2d``: the sum of the real cells over their count (padding not counted);
* ``tinyconv_avg_pool_2d_backward``: one thread per input cell collects dy / count from every
  window that covers it (a gather: no atomics);
* ``tinyconv_max_pool_backward``: the kernel's signature gives only argmax (no geometry), so every
  window *adds* its gradient into its winning cell with ``atomicAdd``, into a zeroed dx (a memset
  and one launch).  With overlapping windows (stride < pool) the order of those float additions -
  not the set of terms - may change between runs.  ``max_pool_backward`` joins it with its twin.
"""
import numpy as np

from .. import fused
from ....devices import array_module_of
from ._cuda import KernelFamily, fits_int32, ints, launch

ENTRY_POINTS = ("tinyconv_extreme_pool_2d", "tinyconv_avg_pool_2d", "tinyconv_avg_pool_2d_backward",
                "tinyconv_max_pool_backward")

SOURCE = r"""
// Does v replace best as the window's max (take_min == 0) or min (take_min == 1)?  A NaN beats any
// number and the first NaN stays: NumPy's argmax and argmin both return the first NaN.
__device__ __forceinline__ bool replaces(scalar_t v, scalar_t best, int take_min)
{
    if (isnan(best)) return false;
    if (isnan(v)) return true;
    return take_min ? v < best : v > best;
}

// How many real (unpadded) cells window o covers along one axis.
__device__ __forceinline__ int real_cells(int o, int pool, int stride, int before, int size)
{
    int start = o * stride - before;
    return min(start + pool, size) - max(start, 0);
}

// y[s, i, j, c] = max (or min) of the real cells of window (i, j); where[s, i, j, c] = its h*W + w.
extern "C" __global__ void tinyconv_extreme_pool_2d(
        const scalar_t* x, scalar_t* y, long long* where,
        int height, int width, int channels, int out_h, int out_w, int pool_h, int pool_w,
        int stride_h, int stride_w, int top, int left, int take_min, int total)
{
    int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int rest = index;
    int c = rest % channels;  rest /= channels;
    int j = rest % out_w;     rest /= out_w;
    int i = rest % out_h;
    int s = rest / out_h;
    const scalar_t* plane = x + (long long)s * height * width * channels + c;
    scalar_t best = 0;
    int best_at = -1;                                   // no real cell seen yet
    for (int p = 0; p < pool_h; ++p) {
        int row = i * stride_h + p - top;
        if (row < 0 || row >= height) continue;         // padding never takes part
        for (int q = 0; q < pool_w; ++q) {
            int col = j * stride_w + q - left;
            if (col < 0 || col >= width) continue;
            scalar_t v = plane[(row * width + col) * channels];
            if (best_at < 0 || replaces(v, best, take_min)) {
                best = v;
                best_at = row * width + col;
            }
        }
    }
    y[index] = best;
    where[index] = best_at;
}

// y[s, i, j, c] = (sum of the real cells of window (i, j)) / (their count).
extern "C" __global__ void tinyconv_avg_pool_2d(
        const scalar_t* x, scalar_t* y,
        int height, int width, int channels, int out_h, int out_w, int pool_h, int pool_w,
        int stride_h, int stride_w, int top, int left, int total)
{
    int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int rest = index;
    int c = rest % channels;  rest /= channels;
    int j = rest % out_w;     rest /= out_w;
    int i = rest % out_h;
    int s = rest / out_h;
    const scalar_t* plane = x + (long long)s * height * width * channels + c;
    scalar_t sum = 0;
    for (int p = 0; p < pool_h; ++p) {
        int row = i * stride_h + p - top;
        if (row < 0 || row >= height) continue;
        for (int q = 0; q < pool_w; ++q) {
            int col = j * stride_w + q - left;
            if (col < 0 || col >= width) continue;
            sum += plane[(row * width + col) * channels];
        }
    }
    int count = real_cells(i, pool_h, stride_h, top, height) * real_cells(j, pool_w, stride_w, left, width);
    y[index] = sum / (scalar_t)count;
}

// dx[s, h, w, c] = sum of dy[s, i, j, c] / count(i, j) over the windows (i, j) that cover (h, w).
extern "C" __global__ void tinyconv_avg_pool_2d_backward(
        const scalar_t* dy, scalar_t* dx,
        int height, int width, int channels, int out_h, int out_w, int pool_h, int pool_w,
        int stride_h, int stride_w, int top, int left, int total)
{
    int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int rest = index;
    int c = rest % channels;  rest /= channels;
    int w = rest % width;     rest /= width;
    int h = rest % height;
    int s = rest / height;
    scalar_t sum = 0;
    for (int p = 0; p < pool_h; ++p) {
        int row = h + top - p;                          // = i * stride_h for the window row i with tap p on h
        if (row < 0) break;
        if (row % stride_h != 0) continue;
        int i = row / stride_h;
        if (i >= out_h) continue;
        int rows = real_cells(i, pool_h, stride_h, top, height);
        for (int q = 0; q < pool_w; ++q) {
            int col = w + left - q;
            if (col < 0) break;
            if (col % stride_w != 0) continue;
            int j = col / stride_w;
            if (j >= out_w) continue;
            int count = rows * real_cells(j, pool_w, stride_w, left, width);
            sum += dy[((s * out_h + i) * out_w + j) * channels + c] / (scalar_t)count;
        }
    }
    dx[index] = sum;
}

// dx (zeroed first) += dy at the winning cell of every window: dx[s, where[s, o, c], c] += dy[s, o, c]
// for (N, O, C) views of dy and where, and (N, V, C) of dx (V cells per sample and channel).
extern "C" __global__ void tinyconv_max_pool_backward(
        const scalar_t* dy, const long long* where, scalar_t* dx,
        int windows, int volume, int channels, int total)
{
    int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int c = index % channels;
    int s = index / (windows * channels);
    long long cell = where[index];
    if (cell < 0 || cell >= volume) return;             // never write outside dx
    atomicAdd(dx + ((long long)s * volume + cell) * channels + c, dy[index]);
}
"""


def fits_image(x_shape, y_shape):
    """True when the input and the pooled output can be indexed with 32-bit ints."""
    return fits_int32(np.prod(x_shape), np.prod(y_shape))


def build_extreme_pool_2d(cupy):
    """The compiled max/min pooling: ``(x, pool, strides, pads, out, pick) -> (y, index)``."""
    family = KernelFamily(cupy, SOURCE)

    def extreme_pool_2d(x, pool, strides, pads, out, pick):
        x = cupy.ascontiguousarray(x)
        n, height, width, channels = x.shape
        y = cupy.empty((n, *out, channels), dtype=x.dtype)
        where = cupy.empty(y.shape, dtype=np.int64)
        launch(family.function("tinyconv_extreme_pool_2d", x.dtype), y.size, x, y, where,
               *ints(height, width, channels, *out, *pool, *strides, pads[0][0], pads[1][0],
                     pick == "argmin", y.size))
        return y, where
    return extreme_pool_2d


def build_avg_pool_2d(cupy):
    """The compiled average pooling: ``(x, pool, strides, pads, out) -> y``."""
    family = KernelFamily(cupy, SOURCE)

    def avg_pool_2d(x, pool, strides, pads, out):
        x = cupy.ascontiguousarray(x)
        n, height, width, channels = x.shape
        y = cupy.empty((n, *out, channels), dtype=x.dtype)
        launch(family.function("tinyconv_avg_pool_2d", x.dtype), y.size, x, y,
               *ints(height, width, channels, *out, *pool, *strides, pads[0][0], pads[1][0], y.size))
        return y
    return avg_pool_2d


def build_avg_pool_2d_backward(cupy):
    """The compiled average pooling backward: ``(dy, input_size, pool, strides, pads) -> dx``."""
    family = KernelFamily(cupy, SOURCE)

    def avg_pool_2d_backward(dy, input_size, pool, strides, pads):
        dy = cupy.ascontiguousarray(dy)
        n, out_h, out_w, channels = dy.shape
        dx = cupy.empty((n, *input_size, channels), dtype=dy.dtype)
        launch(family.function("tinyconv_avg_pool_2d_backward", dy.dtype), dx.size, dy, dx,
               *ints(*input_size, channels, out_h, out_w, *pool, *strides, pads[0][0], pads[1][0], dx.size))
        return dx
    return avg_pool_2d_backward


def max_pool_backward_arrays(dy, where, input_shape):
    """The readable twin: ``bincount`` of dy over each window's winning cell (s*V + where)*C + c.

    Works on NumPy (exact, in order) and CuPy alike; ``input_shape`` is (N, S..., C).
    """
    module = array_module_of(dy)
    n, channels = input_shape[0], input_shape[-1]
    volume = int(np.prod(input_shape[1:-1]))
    sample = module.arange(n, dtype=np.int64).reshape((n,) + (1,) * (dy.ndim - 1))
    channel = module.arange(channels, dtype=np.int64)
    cell = (sample * volume + where) * channels + channel
    dx = module.bincount(cell.ravel(), weights=dy.ravel(), minlength=n * volume * channels)
    return dx.reshape(tuple(input_shape)).astype(dy.dtype, copy=False)


def build_max_pool_backward(cupy):
    """The compiled max pooling backward: ``(dy, where, input_shape) -> dx`` (a memset and one launch)."""
    family = KernelFamily(cupy, SOURCE)

    def max_pool_backward(dy, where, input_shape):
        dy = cupy.ascontiguousarray(dy)
        where = cupy.ascontiguousarray(where, dtype=np.int64)
        n, channels = input_shape[0], input_shape[-1]
        dx = cupy.zeros(tuple(input_shape), dtype=dy.dtype)
        windows = dy.size // max(1, n * channels)
        launch(family.function("tinyconv_max_pool_backward", dy.dtype), dy.size, dy, where, dx,
               *ints(windows, int(np.prod(input_shape[1:-1])), channels, dy.size))
        return dx
    return max_pool_backward


def max_pool_backward(dy, where, input_shape):
    """dL/dx of max pooling over any number of spatial axes: each window's dy goes to its winner.

    Args:
        dy: (N, O..., C) gradient of the pooled output (float32 or float64, on the device).
        where: (N, O..., C) int64 flat index of each window's winning cell in its (S...) volume,
            as the forward pass returned it.
        input_shape: (N, S..., C), the forward input's shape.

    Returns:
        dx of shape ``input_shape`` and dy's dtype.

    Example:

    >>> dy = np.array([[[[5.0]]]])                  # one 2x2 window, whose max was cell (1, 0)
    >>> max_pool_backward(dy, np.array([[[[2]]]]), (1, 2, 2, 1))[0, ..., 0]
    array([[0., 0.],
           [5., 0.]])
    """
    if fits_int32(dy.size, np.prod(input_shape)):
        return fused.run("max_pool_backward", max_pool_backward_arrays, build_max_pool_backward, dy, where,
                         tuple(int(s) for s in input_shape))
    return max_pool_backward_arrays(dy, where, tuple(int(s) for s in input_shape))
