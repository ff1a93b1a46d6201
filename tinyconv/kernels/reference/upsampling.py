"""Up-sampling by integer factors (NHWC, plain NumPy), the oracle for ``kernels/cpu/upsampling.pyx``.

The course's two ways to enlarge a feature map by (sh, sw):

* nearest neighbours: copy each input pixel into an sh x sw block of the output,

      y[n, i, j, c] = x[n, i // sh, j // sw, c];

  backward: each input pixel collects the gradients of its block,
  dx[n, h, w, c] = sum of dy over rows h*sh .. h*sh+sh-1, columns w*sw .. w*sw+sw-1;

* bilinear interpolation: each output pixel is a weighted average of the 4 nearest input
  pixels.  Output pixel i sits at input coordinate

      u = (i + 0.5) * H / OH - 0.5           ("half-pixel centres", clamped at 0)

  between rows h0 = floor(u) and h1 = min(h0 + 1, H - 1) with weight a = u - h0 for h1
  (same for columns, giving b), and

      y = (1-a)(1-b) x[h0, w0] + (1-a) b x[h0, w1] + a (1-b) x[h1, w0] + a b x[h1, w1].

  This is Keras's ``UpSampling2D(interpolation="bilinear")`` (TensorFlow's resize with
  half_pixel_centers) and PyTorch's ``interpolate(mode="bilinear", align_corners=False)``.
  Backward: each output gradient goes back to its 4 input pixels with the same weights
  (the map is linear, so the backward is its transpose); contributions add up.
"""
import numpy as np

from ..checks.upsampling import check_backward_arguments, check_forward_arguments


# --------------------------------------------------------------------------------------------
# Nearest neighbours
# --------------------------------------------------------------------------------------------
def upsample2d_nearest_forward(x, size):
    """y[n, i, j, c] = x[n, i // sh, j // sw, c]: each pixel becomes an sh x sw block."""
    sh, sw = check_forward_arguments(x, size)
    return x.repeat(sh, axis=1).repeat(sw, axis=2)


def upsample2d_nearest_backward(dy, input_shape):
    """dL/dx: each input pixel sums the gradients of the block it was copied into."""
    (n, height, width, channels), (sh, sw) = check_backward_arguments(dy, input_shape)
    blocks = dy.reshape(n, height, sh, width, sw, channels)
    return blocks.sum(axis=(2, 4))


# --------------------------------------------------------------------------------------------
# Bilinear
# --------------------------------------------------------------------------------------------
def source_coordinates(out_size, in_size):
    """For each output index: the two input neighbours (low, high) and the weight of high.

    u = (i + 0.5) * in/out - 0.5, clamped to [0, in - 1]; low = floor(u), high = low + 1
    (or low at the last row), weight = u - low.
    """
    u = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    u = np.clip(u, 0.0, in_size - 1)
    low = np.floor(u).astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    return low, high, u - low


def upsample2d_bilinear_forward(x, size):
    """y = the bilinear blend of the 4 nearest input pixels (half-pixel centres)."""
    sh, sw = check_forward_arguments(x, size)
    _, height, width, _ = x.shape
    h0, h1, a = source_coordinates(height * sh, height)
    w0, w1, b = source_coordinates(width * sw, width)
    a = a[None, :, None, None]
    b = b[None, None, :, None]
    top = (1 - b) * x[:, h0][:, :, w0] + b * x[:, h0][:, :, w1]       # blend along the row h0
    bottom = (1 - b) * x[:, h1][:, :, w0] + b * x[:, h1][:, :, w1]    # ... and along row h1
    return ((1 - a) * top + a * bottom).astype(x.dtype)


def upsample2d_bilinear_backward(dy, input_shape):
    """dL/dx: each output gradient flows back to its 4 neighbours with the blend's weights."""
    (n, height, width, channels), _ = check_backward_arguments(dy, input_shape)
    h0, h1, a = source_coordinates(dy.shape[1], height)
    w0, w1, b = source_coordinates(dy.shape[2], width)
    rows_weights = ((h0, 1 - a), (h1, a))
    cols_weights = ((w0, 1 - b), (w1, b))
    dx = np.zeros((n, height, width, channels), dtype=np.float64)
    for rows, row_weight in rows_weights:
        for cols, col_weight in cols_weights:
            share = dy * (row_weight[:, None] * col_weight[None, :])[None, :, :, None]
            # np.add.at adds every contribution when several outputs share a neighbour.
            np.add.at(dx, (slice(None), rows[:, None], cols[None, :]), share)
    return dx.astype(dy.dtype)
