"""Image resampling: resizing and affine warps of NHWC batches, each with a loop reference and a fast twin.

Both are *linear* in the image, which is what makes their backward simple: the output is a fixed
weighted sum of input pixels, so dL/dx is the same weights applied the other way round (the transpose).

**Resize** (Keras's ``Resizing`` and ``image_dataset_from_directory``, PyTorch's ``interpolate`` with
``align_corners=False``). Output row i reads the input at the "half-pixel centre"

    u = (i + 0.5) * H / OH - 0.5              (u < 0 is taken as 0)

* bilinear: between rows h0 = floor(u) and h1 = min(h0 + 1, H - 1), with weight a = u - h0 on h1;
  columns the same (v, w0, w1, b), and
  y[i, j] = (1-a)(1-b) x[h0, w0] + (1-a) b x[h0, w1] + a (1-b) x[h1, w0] + a b x[h1, w1];
* nearest ("nearest-exact"): row min(floor((i + 0.5) * H / OH), H - 1).

Rows and columns are independent, so the resize is two small matrices: y = R_h x R_w^T per channel, with
R_h (OH, H) and R_w (OW, W) holding the weights above. Backward: dx = R_h^T dy R_w.

**Affine warp** (Keras's ``RandomRotation`` / ``RandomZoom`` / ``RandomTranslation``, i.e.
``keras.ops.image.affine_transform``). A transform ``[a0, a1, a2, b0, b1, b2, 0, 0]`` maps each *output*
pixel (x = column, y = row) to the input point

    x_in = a0 x + a1 y + a2,      y_in = b0 x + b1 y + b2,

read there with bilinear (the 4 neighbours, weights as above) or nearest (round half to even)
interpolation. A neighbour outside the image is folded back in by ``fill_mode``:

* ``reflect``  (d c b a | a b c d | d c b a)   * ``wrap``     (a b c d | a b c d | a b c d)
* ``nearest``  (a a a a | a b c d | d d d d)   * ``constant`` (k k k k | a b c d | k k k k), k = fill_value.

The fast twin gathers every tap at once into a sparse matrix S (one row per output pixel), so the
forward is y = S x (+ the constant fill) and the backward dx = S^T dy.
"""
import numpy as np
from scipy import sparse

RESIZE_INTERPOLATIONS = ("bilinear", "nearest")
WARP_INTERPOLATIONS = ("bilinear", "nearest")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")


# --------------------------------------------------------------------------------------------
# Resize
# --------------------------------------------------------------------------------------------
def source_taps(out_size, in_size, interpolation):
    """For each output index: [(input index, weight), ...] as the formulas in the module docstring.

    Args:
        out_size: the resized length.
        in_size: the original length.
        interpolation: "bilinear" or "nearest".

    Returns:
        A list with one list of ``(input index, weight)`` pairs per output index.

    Example:

    >>> source_taps(2, 4, "bilinear")   # output 0 reads at u = 0.5: half of row 0, half of row 1
    [[(0, 0.5), (1, 0.5)], [(2, 0.5), (3, 0.5)]]
    """
    scale = in_size / out_size
    taps = []
    for i in range(out_size):
        if interpolation == "nearest":
            taps.append([(min(int(np.floor((i + 0.5) * scale)), in_size - 1), 1.0)])
            continue
        u = max((i + 0.5) * scale - 0.5, 0.0)
        low = int(np.floor(u))
        high = min(low + 1, in_size - 1)
        taps.append([(low, 1.0 - (u - low)), (high, u - low)])
    return taps


def resize_reference(x, size, interpolation="bilinear"):
    """y[n, i, j, c] = sum over the row taps (h, a) and column taps (w, b) of a * b * x[n, h, w, c].

    The loop version, to read beside the formula; ``resize`` is its fast twin.

    Args:
        x: images (N, H, W, C).
        size: ``(OH, OW)``.
        interpolation: "bilinear" or "nearest".

    Returns:
        The resized images (N, OH, OW, C), in ``x``'s dtype.

    Example:

    >>> x = np.arange(4.0).reshape(1, 2, 2, 1)
    >>> resize_reference(x, (1, 1))[0, :, :, 0]    # the centre: the mean of the four
    array([[1.5]])
    """
    out_h, out_w = size
    rows = source_taps(out_h, x.shape[1], interpolation)
    cols = source_taps(out_w, x.shape[2], interpolation)
    y = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), dtype=np.float64)
    for i in range(out_h):
        for j in range(out_w):
            for h, a in rows[i]:
                for w, b in cols[j]:
                    y[:, i, j, :] += a * b * x[:, h, w, :]
    return y.astype(x.dtype)


def resize_matrix(out_size, in_size, interpolation):
    """R (out_size, in_size): row i holds the weights output i gives each input index.

    Args:
        out_size: the resized length.
        in_size: the original length.
        interpolation: "bilinear" or "nearest".

    Returns:
        A float64 matrix whose rows sum to 1.

    Raises:
        ValueError: for another interpolation.

    Example:

    >>> resize_matrix(2, 4, "bilinear")
    array([[0.5, 0.5, 0. , 0. ],
           [0. , 0. , 0.5, 0.5]])
    """
    if interpolation not in RESIZE_INTERPOLATIONS:
        raise ValueError(f"resize: interpolation must be one of {RESIZE_INTERPOLATIONS}, got {interpolation!r}")
    i = np.arange(out_size)
    scale = in_size / out_size
    matrix = np.zeros((out_size, in_size))
    if interpolation == "nearest":
        matrix[i, np.minimum(np.floor((i + 0.5) * scale).astype(np.int64), in_size - 1)] = 1.0
        return matrix
    u = np.maximum((i + 0.5) * scale - 0.5, 0.0)
    low = np.floor(u).astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    np.add.at(matrix, (i, low), 1.0 - (u - low))  # add: low == high on the last row
    np.add.at(matrix, (i, high), u - low)
    return matrix


def _apply_separable(x, rows, cols):
    """y[n, i, j, c] = sum_h sum_w rows[i, h] cols[j, w] x[n, h, w, c], as two matrix products."""
    n, height, width, channels = x.shape
    rows, cols = rows.astype(x.dtype, copy=False), cols.astype(x.dtype, copy=False)
    along_rows = np.matmul(rows, x.reshape(n, height, width * channels))           # (n, OH, W*C)
    along_rows = along_rows.reshape(n, rows.shape[0], width, channels)
    return np.ascontiguousarray(np.einsum("jw,niwc->nijc", cols, along_rows, optimize=True))


def resize(x, size, interpolation="bilinear"):
    """The fast twin of ``resize_reference``: y = R_h x R_w^T for every image and channel.

    Args:
        x: images (N, H, W, C).
        size: ``(OH, OW)``.
        interpolation: "bilinear" or "nearest".

    Returns:
        The resized images (N, OH, OW, C), in ``x``'s dtype.

    Example:

    >>> x = np.random.default_rng(0).random((2, 5, 3, 2))
    >>> np.allclose(resize(x, (4, 7)), resize_reference(x, (4, 7)))
    True
    """
    rows = resize_matrix(size[0], x.shape[1], interpolation)
    cols = resize_matrix(size[1], x.shape[2], interpolation)
    return _apply_separable(x, rows, cols)


def resize_backward(dy, input_shape, interpolation="bilinear"):
    """dL/dx of ``resize``: dx = R_h^T dy R_w (each output gradient back to its taps, same weights).

    Args:
        dy: the gradient of the resized images (N, OH, OW, C).
        input_shape: the shape of the images before resizing.
        interpolation: the interpolation of the forward pass.

    Returns:
        dL/dx, shaped like the input.

    Example:

    >>> dy = np.ones((1, 1, 1, 1))
    >>> resize_backward(dy, (1, 2, 2, 1))[0, :, :, 0]   # the centre's gradient shared by the four
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    rows = resize_matrix(dy.shape[1], input_shape[1], interpolation)
    cols = resize_matrix(dy.shape[2], input_shape[2], interpolation)
    return _apply_separable(dy, rows.T, cols.T)


def crop_box_for_aspect_ratio(height, width, target_height, target_width):
    """(top, left, crop_height, crop_width) of the largest centred box with the target's aspect ratio.

    Args:
        height, width: the image's size.
        target_height, target_width: the size whose aspect ratio the box takes.

    Returns:
        ``(top, left, crop_height, crop_width)`` as ints.

    Example:

    >>> crop_box_for_aspect_ratio(100, 200, 50, 50)   # a square from a landscape image
    (0, 50, 100, 100)
    """
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    return int(float(height - crop_height) / 2), int(float(width - crop_width) / 2), crop_height, crop_width


# --------------------------------------------------------------------------------------------
# Affine warp
# --------------------------------------------------------------------------------------------
def fold_index(index, size, fill_mode):
    """Bring an integer index (or array of them) back into [0, size) as ``fill_mode`` says.

    Args:
        index: an int or an integer array, possibly outside [0, size).
        size: the length of the axis.
        fill_mode: "reflect", "wrap", "nearest" or "constant" (which clips; the caller fills).

    Returns:
        The folded index or indices.

    Raises:
        ValueError: for another fill mode.

    Example:

    >>> i = np.arange(-3, 7)
    >>> fold_index(i, 4, "reflect"), fold_index(i, 4, "wrap")
    (array([2, 1, 0, 0, 1, 2, 3, 3, 2, 1]), array([1, 2, 3, 0, 1, 2, 3, 0, 1, 2]))
    """
    if fill_mode in ("nearest", "constant"):
        return np.clip(index, 0, size - 1)
    if fill_mode == "wrap":
        return np.mod(index, size)
    if fill_mode == "reflect":  # the mirror wave of period 2*size over the half-integer grid
        period = 2 * size
        folded = np.mod(index, period)
        return np.where(folded < size, folded, period - 1 - folded)
    raise ValueError(f"affine warp: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")


def _axis_taps(coordinate, interpolation):
    """[(integer index, weight), ...] of a real coordinate (arrays work too)."""
    if interpolation == "nearest":
        return [(np.round(coordinate).astype(np.int64), np.ones_like(coordinate))]
    low = np.floor(coordinate)
    upper = coordinate - low
    return [(low.astype(np.int64), 1.0 - upper), (low.astype(np.int64) + 1, upper)]


def source_points(transforms, height, width):
    """(rows, cols), each (N, H, W): where each output pixel reads the input, per transform.

    Args:
        transforms: one transform ``[a0, a1, a2, b0, b1, b2, 0, 0]`` or an (N, 8) array of them.
        height, width: the image's size.

    Returns:
        ``(rows, cols)``: float64 arrays (N, H, W) of input coordinates.

    Example:

    >>> shift_right = [1, 0, -1, 0, 1, 0, 0, 0]        # output column x reads input column x - 1
    >>> rows, cols = source_points(shift_right, 2, 3)
    >>> cols[0]
    array([[-1.,  0.,  1.],
           [-1.,  0.,  1.]])
    """
    t = np.asarray(transforms, dtype=np.float64).reshape(-1, 8)
    y, x = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    a0, a1, a2, b0, b1, b2 = (t[:, k, None, None] for k in range(6))
    return b0 * x + b1 * y + b2, a0 * x + a1 * y + a2


def _points_for_batch(transforms, n, height, width):
    """``source_points`` for a batch of ``n``: one transform serves every image (as in Keras)."""
    rows, cols = source_points(transforms, height, width)
    if rows.shape[0] not in (1, n):
        raise ValueError(f"affine warp: expected 1 or {n} transforms for {n} images, got {rows.shape[0]}")
    return np.broadcast_to(rows, (n, height, width)), np.broadcast_to(cols, (n, height, width))


def _check_warp(transforms, interpolation, fill_mode):
    if interpolation not in WARP_INTERPOLATIONS:
        raise ValueError(f"affine warp: interpolation must be one of {WARP_INTERPOLATIONS}, got {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"affine warp: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    if np.any(np.asarray(transforms, dtype=np.float64).reshape(-1, 8)[:, 6:] != 0):
        raise ValueError("affine warp: only affine transforms (last two entries 0) are supported")


def affine_warp_reference(x, transforms, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
    """Output pixel by output pixel: find its input point, blend the taps, fold or fill the outside ones.

    The loop version, to read beside the formulas of the module docstring; ``affine_warp`` is its
    fast twin.

    Args:
        x: images (N, H, W, C).
        transforms: one transform ``[a0, a1, a2, b0, b1, b2, 0, 0]`` or one per image.
        interpolation: "bilinear" or "nearest".
        fill_mode: "reflect", "wrap", "nearest" or "constant".
        fill_value: the value outside the image in "constant" mode.

    Returns:
        The warped images, in ``x``'s dtype.

    Raises:
        ValueError: for an unknown interpolation or fill mode, or a projective transform.

    Example:

    >>> x = np.arange(3.0).reshape(1, 1, 3, 1)
    >>> shift_right = [1, 0, -1, 0, 1, 0, 0, 0]
    >>> affine_warp_reference(x, shift_right, fill_mode="constant", fill_value=9)[0, 0, :, 0]
    array([9., 0., 1.])
    """
    _check_warp(transforms, interpolation, fill_mode)
    n, height, width, _ = x.shape
    rows, cols = _points_for_batch(transforms, n, height, width)
    y = np.zeros(x.shape, dtype=np.float64)
    for b in range(n):
        for i in range(height):
            for j in range(width):
                for r, a in _axis_taps(rows[b, i, j], interpolation):
                    for c, w in _axis_taps(cols[b, i, j], interpolation):
                        inside = 0 <= r < height and 0 <= c < width
                        if fill_mode == "constant" and not inside:
                            y[b, i, j, :] += a * w * fill_value
                        else:
                            y[b, i, j, :] += a * w * x[b, fold_index(r, height, fill_mode),
                                                       fold_index(c, width, fill_mode), :]
    return y.astype(x.dtype)


class AffineWarp:
    """The fast twin: the warp of one batch shape as a sparse matrix, reusable for forward and backward.

    ``matrix`` (N*H*W outputs x N*H*W inputs) holds every tap's weight; ``outside`` (N*H*W,) the weight
    that fell outside the image in ``constant`` mode (it multiplies ``fill_value``).

    Args:
        transforms: one transform ``[a0, a1, a2, b0, b1, b2, 0, 0]`` or one per image.
        shape: the batch's shape (N, H, W, C).
        interpolation: "bilinear" or "nearest".
        fill_mode: "reflect", "wrap", "nearest" or "constant".
        fill_value: the value outside the image in "constant" mode.

    Raises:
        ValueError: for an unknown interpolation or fill mode, or a projective transform.

    Example:

    >>> x = np.random.default_rng(0).random((2, 4, 5, 3))
    >>> turn = [0.9, -0.3, 1.0, 0.3, 0.9, -0.5, 0, 0]
    >>> warp = AffineWarp(turn, x.shape)
    >>> np.allclose(warp.forward(x), affine_warp_reference(x, turn))   # one transform for both images
    True
    >>> dy = np.random.default_rng(1).random(x.shape)     # <S x, dy> == <x, S^T dy>
    >>> bool(np.isclose(np.sum(warp.forward(x) * dy), np.sum(x * warp.backward(dy))))
    True
    """

    def __init__(self, transforms, shape, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
        _check_warp(transforms, interpolation, fill_mode)
        n, height, width = shape[:3]
        self.shape, self.fill_value = tuple(shape), float(fill_value)
        rows, cols = _points_for_batch(transforms, n, height, width)
        image = np.arange(n)[:, None, None] * (height * width)
        out_index = np.arange(n * height * width).reshape(n, height, width)
        entries_out, entries_in, entries_weight = [], [], []
        self.outside = np.zeros(n * height * width)
        for r, a in _axis_taps(rows, interpolation):
            for c, w in _axis_taps(cols, interpolation):
                weight = np.broadcast_to(a * w, out_index.shape)
                inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
                keep = inside if fill_mode == "constant" else np.ones_like(inside)
                source = image + fold_index(r, height, fill_mode) * width + fold_index(c, width, fill_mode)
                entries_out.append(out_index[keep])
                entries_in.append(source[keep])
                entries_weight.append(weight[keep])
                if fill_mode == "constant":
                    np.add.at(self.outside, out_index[~inside], weight[~inside])
        size = n * height * width
        self.matrix = sparse.csr_matrix((np.concatenate(entries_weight),
                                         (np.concatenate(entries_out), np.concatenate(entries_in))),
                                        shape=(size, size))  # duplicates (folded taps) add up

    def forward(self, x):
        """y = S x (+ fill_value times the weight that fell outside, in "constant" mode).

        Args:
            x: images of the shape given at construction.

        Returns:
            The warped images, in ``x``'s dtype.
        """
        flat = x.reshape(-1, x.shape[-1])
        y = self.matrix @ flat
        if self.fill_value != 0.0:
            y = y + self.fill_value * self.outside[:, None]
        return np.asarray(y, dtype=x.dtype).reshape(x.shape)

    def backward(self, dy):
        """dL/dx = S^T dL/dy (the constant fill does not depend on x).

        Args:
            dy: the gradient of the warped images.

        Returns:
            dL/dx, shaped like the input.
        """
        dx = self.matrix.T @ dy.reshape(-1, dy.shape[-1])
        return np.asarray(dx, dtype=dy.dtype).reshape(self.shape[:3] + (dy.shape[-1],))


def affine_warp(x, transforms, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
    """The fast twin of ``affine_warp_reference`` (one call; use ``AffineWarp`` to keep the backward).

    Args:
        x: images (N, H, W, C).
        transforms: one transform ``[a0, a1, a2, b0, b1, b2, 0, 0]`` or one per image.
        interpolation: "bilinear" or "nearest".
        fill_mode: "reflect", "wrap", "nearest" or "constant".
        fill_value: the value outside the image in "constant" mode.

    Returns:
        The warped images, in ``x``'s dtype.

    Example:

    >>> x = np.arange(3.0).reshape(1, 1, 3, 1)
    >>> affine_warp(x, [1, 0, -1, 0, 1, 0, 0, 0], fill_mode="wrap")[0, 0, :, 0]   # shifted right, wrapped
    array([2., 0., 1.])
    """
    return AffineWarp(transforms, x.shape, interpolation, fill_mode, fill_value).forward(x)
