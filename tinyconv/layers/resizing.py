"""Making feature maps larger (up-sampling, unpooling, zero padding) or smaller (cropping).

The course's decoder tools ("what if we want to increase the size?"):

* ``UpSampling1D/2D/3D``: nearest neighbours copy each pixel into a size-shaped block
  (backward: each pixel sums its block's gradients); ``UpSampling2D(interpolation="bilinear")``
  blends the 4 nearest pixels as Keras / TensorFlow resize with half-pixel centres do
  (= PyTorch's ``align_corners=False``).  1-D and 3-D reuse the 2-D nearest kernel.
* ``BedOfNailsUnpooling2D(size)``: each value goes to the top-left cell of its block, zeros
  elsewhere; backward reads the gradient back from those cells.
* ``MaxUnpooling2D(pool)``: each value goes back to where the paired ``MaxPooling2D`` found
  its max (PyTorch's ``MaxUnpool2d``); backward reads the gradient back from those cells.
* ``ZeroPadding1D/2D/3D`` and ``Cropping1D/2D/3D``: add zeros around / cut cells off each
  spatial axis; each one's backward is the other's forward.
"""
import numpy as np

from .. import devices, dispatch
from .arguments import (as_tuple, check_data_format, contiguous, from_channels_last, input_layout, is_int,
                        shape_from_channels_last, shape_to_channels_last, to_channels_last, zero_pad)
from .base import Layer
from .pooling import MaxPooling2D


class _SpatialLayer(Layer):
    """A layer over ``rank`` spatial axes that works on channels-last arrays internally."""

    rank = 2

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, self.describe())
        self.expected_ndim = self.rank + 2

    def _rank_hint(self):
        return input_layout(self.rank, self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


# --------------------------------------------------------------------------------------------
# Up-sampling
# --------------------------------------------------------------------------------------------
def upsample_nearest(x, sizes):
    """Nearest-neighbour up-sampling of every spatial axis of a channels-last x, one axis at a
    time through the 2-D kernel: axis k is viewed as the rows of an image (N*before, n_k, after, C)."""
    for axis, factor in enumerate(sizes, start=1):
        shape = x.shape
        image = x.reshape(int(np.prod(shape[:axis])), shape[axis], -1, shape[-1])
        x = dispatch.upsample2d_nearest_forward(contiguous(image), (factor, 1))
        x = x.reshape(shape[:axis] + (shape[axis] * factor,) + shape[axis + 1:])
    return x


def upsample_nearest_backward(dy, input_shape):
    """Undo ``upsample_nearest`` axis by axis (last axis first): each cell sums its block."""
    for axis in reversed(range(1, len(input_shape) - 1)):
        shape = dy.shape
        image = dy.reshape(int(np.prod(shape[:axis])), shape[axis], -1, shape[-1])
        small = (image.shape[0], input_shape[axis], image.shape[2], image.shape[3])
        dy = dispatch.upsample2d_nearest_backward(contiguous(image), small)
        dy = dy.reshape(shape[:axis] + (input_shape[axis],) + shape[axis + 1:])
    return dy


class _UpSampling(_SpatialLayer):
    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.size = as_tuple(size, self.rank, "size", self.describe())

    def compute_output_shape(self, input_shape):
        shape = shape_to_channels_last(input_shape, self.data_format)
        spatial = tuple(None if n is None else n * s for n, s in zip(shape[1:-1], self.size))
        return shape_from_channels_last((shape[0], *spatial, shape[-1]), self.data_format)

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        return from_channels_last(upsample_nearest(x, self.size), self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)
        return from_channels_last(upsample_nearest_backward(dy, self._input_shape), self.data_format)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling1D(_UpSampling):
    """Repeat every cell ``size`` times along each spatial axis (1-D up-sampling).

    Nearest neighbour: y[n, i, ...] = x[n, i // s, ...], so out = in * s along each axis.

    Args:
        size: the repeat factor, an int (default ``2``).

    Input shape:
        ``(batch, steps, features)`` (channels_last).

    Output shape:
        The same, each spatial axis multiplied by its factor.

    Example:

    >>> x = np.array([[[1.], [2.]]])
    >>> layers.UpSampling1D(size=2)(x)[0, :, 0].tolist()
    [1.0, 1.0, 2.0, 2.0]
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, data_format="channels_last", **kwargs)  # Keras: no data_format here

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        config["size"] = self.size[0]
        return config


class UpSampling2D(_UpSampling):
    """Repeat every cell ``size`` times along each spatial axis (2-D up-sampling).

    Nearest neighbour: y[n, i, ...] = x[n, i // s, ...], so out = in * s along each axis.
    ``interpolation="bilinear"`` interpolates between the neighbouring cells instead.

    Args:
        size: the factors, an int or a tuple of 2 ints (default ``(2, 2)``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.
        interpolation: ``"nearest"`` (the default) or ``"bilinear"``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        The same, each spatial axis multiplied by its factor.

    Example:

    >>> x = np.array([[1., 2.], [3., 4.]]).reshape(1, 2, 2, 1)
    >>> layers.UpSampling2D(size=(1, 2))(x)[0, :, :, 0].tolist()
    [[1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0]]
    >>> layers.UpSampling2D(size=2, interpolation="bilinear")(x).shape
    (1, 4, 4, 1)
    """

    rank = 2
    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format=data_format, **kwargs)
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(f"{self.describe()}: interpolation must be one of {self.INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation

    def forward(self, x, training=False):
        if self.interpolation == "nearest":
            return super().forward(x, training)
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        return from_channels_last(dispatch.upsample2d_bilinear_forward(x, self.size), self.data_format)

    def backward(self, dy, need_input_gradient=True):
        if self.interpolation == "nearest":
            return super().backward(dy)
        dy = contiguous(to_channels_last(dy, self.data_format))
        return from_channels_last(dispatch.upsample2d_bilinear_backward(dy, self._input_shape), self.data_format)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(_UpSampling):
    """Repeat every cell ``size`` times along each spatial axis (3-D up-sampling).

    Nearest neighbour: y[n, i, ...] = x[n, i // s, ...], so out = in * s along each axis.

    Args:
        size: the factors, an int or a tuple of 3 ints (default ``(2, 2, 2)``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        The same, each spatial axis multiplied by its factor.

    Example:

    >>> layers.UpSampling3D(size=(1, 2, 3))(np.ones((1, 2, 2, 2, 4))).shape
    (1, 2, 4, 6, 4)
    """

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format=data_format, **kwargs)


# --------------------------------------------------------------------------------------------
# Unpooling
# --------------------------------------------------------------------------------------------
class BedOfNailsUnpooling2D(_UpSampling):
    """y[n, i*sh, j*sw, c] = x[n, i, j, c]; every other cell of the (sh, sw) block is 0.

    Not in Keras; tinyconv adds it as the simplest unpooling.

    Args:
        size: the up-sampling factors ``(sh, sw)``, an int or a tuple of 2 ints (default ``(2, 2)``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        ``(batch, height * sh, width * sw, channels)``.

    Example:

    >>> x = np.array([[1., 2.]]).reshape(1, 1, 2, 1)
    >>> layers.BedOfNailsUnpooling2D(size=2)(x)[0, :, :, 0].tolist()
    [[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format=data_format, **kwargs)

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        n, height, width, channels = self._input_shape = x.shape
        sh, sw = self.size
        y = devices.array_module_of(x).zeros((n, height * sh, width * sw, channels), dtype=x.dtype)
        y[:, ::sh, ::sw, :] = x   # the nails: the top-left cell of each block
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        """Only the nails came from x, so dx is dy read at the nails."""
        dy = to_channels_last(dy, self.data_format)
        sh, sw = self.size
        return from_channels_last(contiguous(dy[:, ::sh, ::sw, :]), self.data_format)


class MaxUnpooling2D(Layer):
    """Put each value back where the paired ``MaxPooling2D`` found its max; zeros elsewhere.

    ``pool = MaxPooling2D(2); unpool = MaxUnpooling2D(pool)``: at every call the unpooling
    reads ``pool._argmax`` (flat h*W + w per channel plane, PyTorch's convention) from the
    pool's last forward, so the pool must run first on the matching input (as it does in an
    encoder-decoder Sequential).  The output has the pool's input shape.

    This is the max pool's backward applied to x: "send each value to its window's winner"
    (``dispatch.max_pool2d_backward``), where windows overlap, the values that share a winner add up
    (PyTorch keeps one of them).  Backward: dx = dy read at the winners.

    Args:
        pool: the ``MaxPooling2D`` layer whose maxima positions this layer reads.

    Input shape:
        ``(batch, out_height, out_width, channels)``, the pool's output shape.

    Output shape:
        ``(batch, height, width, channels)``, the pool's input shape.

    Example:

    >>> pool = layers.MaxPooling2D(2)
    >>> unpool = layers.MaxUnpooling2D(pool)
    >>> x = np.array([[1., 2.], [4., 3.]]).reshape(1, 2, 2, 1)
    >>> unpool(pool(x))[0, :, :, 0].tolist()
    [[0.0, 0.0], [4.0, 0.0]]
    """

    expected_ndim = 4

    def __init__(self, pool, **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool, str):
            # From a saved config: the pool is named, and the model being rebuilt hands the
            # layer over (``resolve_layer_references``) once it exists.
            self.pool, self.data_format = pool, None
            return
        self._set_pool(pool)

    def _set_pool(self, pool):
        if not isinstance(pool, MaxPooling2D):
            raise TypeError(f"{self.describe()}: expected the MaxPooling2D layer whose maxima to restore, "
                            f"got {type(pool).__name__}")
        self.pool = pool
        self.data_format = pool.data_format

    def resolve_layer_references(self, layers_by_name):
        """Called while a model is rebuilt from its config: swap the pool's name for the layer."""
        if isinstance(self.pool, str):
            if self.pool not in layers_by_name:
                raise ValueError(f"{self.describe()}: its pool layer {self.pool!r} must come before it in the "
                                 f"model; the model has {sorted(layers_by_name)}")
            self._set_pool(layers_by_name[self.pool])

    def _require_pool(self):
        if isinstance(self.pool, str):
            raise ValueError(f"{self.describe()}: pool layer {self.pool!r} is only a name (from a config); "
                             "rebuild the whole model (model_from_json, load_model, clone_model) so that the "
                             "MaxPooling2D layer itself is found")

    def compute_output_shape(self, input_shape):
        self._require_pool()
        if self.pool.input_shape is not None:
            return (input_shape[0],) + tuple(self.pool.input_shape[1:])
        # Not run yet: PyTorch's default size, (out - 1) * stride + pool on each axis.
        batch, height, width, channels = shape_to_channels_last(input_shape, self.data_format)
        spatial = [None if n is None else (n - 1) * s + k
                   for n, s, k in zip((height, width), self.pool.strides, self.pool.pool_size)]
        return shape_from_channels_last((batch, *spatial, channels), self.data_format)

    def _pool_memory(self, x):
        """The pool's argmax and input shape (channels last), checked against x."""
        self._require_pool()
        argmax = getattr(self.pool, "_argmax", None)
        if argmax is None:
            raise ValueError(f"{self.describe()}: its pool {self.pool.describe()} has not run forward yet, "
                             "so there are no max positions to unpool into")
        if argmax.shape != x.shape:
            raise ValueError(f"{self.describe()}: expected input of shape {argmax.shape} (channels last, the "
                             f"output of {self.pool.describe()}'s last forward), got {x.shape}")
        return argmax, self.pool._input_shape

    def forward(self, x, training=False):
        x = contiguous(to_channels_last(x, self.data_format))
        self._argmax, self._output_shape = self._pool_memory(x)
        y = dispatch.max_pool2d_backward(x, self._argmax, self._output_shape)
        return from_channels_last(y, self.data_format)

    def backward(self, dy, need_input_gradient=True):
        dy = to_channels_last(dy, self.data_format)
        n, height, width, channels = dy.shape
        planes = dy.reshape(n, height * width, channels)
        winners = self._argmax.reshape(n, -1, channels)
        dx = devices.array_module_of(dy).take_along_axis(planes, winners, axis=1)   # read at each value's winner
        return from_channels_last(dx.reshape(self._argmax.shape), self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool": self.pool if isinstance(self.pool, str) else self.pool.name}


# --------------------------------------------------------------------------------------------
# Zero padding and cropping
# --------------------------------------------------------------------------------------------
def as_side_pairs(value, rank, what, layer_name):
    """Keras's forms: ``n``, ``(a, b, ...)`` (symmetric per axis) or ``((a0, a1), (b0, b1), ...)``.

    For rank 1 a pair ``(a0, a1)`` means (before, after) of the single axis, as in Keras."""
    def bad():
        return ValueError(f"{layer_name}: {what} must be an int, a tuple of {rank} ints or a tuple of {rank} "
                          f"(before, after) pairs of non-negative ints, got {value!r}")

    try:
        if is_int(value):
            pairs = ((value, value),) * rank
        elif rank == 1 and len(tuple(value)) == 2 and all(is_int(v) for v in value):
            pairs = (tuple(value),)
        else:
            items = tuple(value)
            if len(items) != rank:
                raise bad()
            pairs = tuple((v, v) if is_int(v) else tuple(v) for v in items)
    except TypeError:   # not a sequence (a bool, a float, ...)
        raise bad() from None
    if any(len(p) != 2 or not all(is_int(v) for v in p) or min(p) < 0 for p in pairs):
        raise bad()
    return tuple((int(a), int(b)) for a, b in pairs)


class _ZeroPadding(_SpatialLayer):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = as_side_pairs(padding, self.rank, "padding", self.describe())

    def compute_output_shape(self, input_shape):
        shape = shape_to_channels_last(input_shape, self.data_format)
        spatial = tuple(None if n is None else n + a + b for n, (a, b) in zip(shape[1:-1], self.padding))
        return shape_from_channels_last((shape[0], *spatial, shape[-1]), self.data_format)

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        return from_channels_last(zero_pad(x, ((0, 0),) + self.padding + ((0, 0),)), self.data_format)

    def backward(self, dy, need_input_gradient=True):
        """The zeros came from no input: dx is dy with the padding cut off."""
        dy = to_channels_last(dy, self.data_format)
        inner = tuple(slice(a, n - b) for n, (a, b) in zip(dy.shape[1:-1], self.padding))
        return from_channels_last(contiguous(dy[(slice(None),) + inner]), self.data_format)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class ZeroPadding1D(_ZeroPadding):
    """Add rows of zeros at both ends of each spatial axis (1-D zero padding).

    Along each spatial axis out = a + in + b, with ``(a, b)`` that axis's zeros before and after.

    Args:
        padding: an int (as many zeros at both ends) or a tuple ``(start, end)`` (default ``1``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, steps, features)`` (channels_last).

    Output shape:
        The same, each spatial axis lengthened by its padding.

    Example:

    >>> x = np.array([[[1.], [2.]]])
    >>> layers.ZeroPadding1D(padding=(1, 2))(x)[0, :, 0].tolist()
    [0.0, 1.0, 2.0, 0.0, 0.0]
    """

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Add rows of zeros at both ends of each spatial axis (2-D zero padding).

    Along each spatial axis out = a + in + b, with ``(a, b)`` that axis's zeros before and after.

    Args:
        padding: an int, a tuple of 2 ints (symmetric height and width padding), or
            ``((top, bottom), (left, right))`` (default ``(1, 1)``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        The same, each spatial axis lengthened by its padding.

    Example:

    >>> layers.ZeroPadding2D(padding=(1, 2))(np.ones((1, 3, 3, 4))).shape
    (1, 5, 7, 4)
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Add rows of zeros at both ends of each spatial axis (3-D zero padding).

    Along each spatial axis out = a + in + b, with ``(a, b)`` that axis's zeros before and after.

    Args:
        padding: an int, a tuple of 3 ints (symmetric padding per axis), or three
            ``(start, end)`` pairs (default ``((1, 1), (1, 1), (1, 1))``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        The same, each spatial axis lengthened by its padding.

    Example:

    >>> layers.ZeroPadding3D(padding=1)(np.ones((1, 2, 3, 4, 5))).shape
    (1, 4, 5, 6, 5)
    """

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)


class _Cropping(_SpatialLayer):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = as_side_pairs(cropping, self.rank, "cropping", self.describe())

    def compute_output_shape(self, input_shape):
        shape = shape_to_channels_last(input_shape, self.data_format)
        spatial = []
        for n, (a, b) in zip(shape[1:-1], self.cropping):
            if n is not None and n - a - b < 1:
                raise ValueError(f"{self.describe()}: cropping {self.cropping} leaves nothing of an input of "
                                 f"spatial size {tuple(shape[1:-1])}; expected each crop to be smaller than its axis")
            spatial.append(None if n is None else n - a - b)
        return shape_from_channels_last((shape[0], *spatial, shape[-1]), self.data_format)

    def check_input(self, x):
        super().check_input(x)
        self.compute_output_shape(x.shape)

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._input_shape = x.shape
        kept = tuple(slice(a, n - b) for n, (a, b) in zip(x.shape[1:-1], self.cropping))
        return from_channels_last(x[(slice(None),) + kept], self.data_format)

    def backward(self, dy, need_input_gradient=True):
        """The cut-off cells did not reach the output: their gradient is 0."""
        dy = to_channels_last(dy, self.data_format)
        return from_channels_last(zero_pad(dy, ((0, 0),) + self.cropping + ((0, 0),)), self.data_format)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class Cropping1D(_Cropping):
    """Remove cells from both ends of each spatial axis (1-D cropping).

    Along each spatial axis ``x[..., a:in - b, ...]`` is kept, where ``(a, b)`` are that axis's
    cuts from the start and the end.

    Args:
        cropping: an int (cut as many from both ends) or a tuple ``(start, end)`` (default ``(1, 1)``).

    Input shape:
        ``(batch, steps, features)`` (channels_last).

    Output shape:
        The same, each spatial axis shortened by its two cuts.

    Example:

    >>> x = np.arange(5.).reshape(1, 5, 1)
    >>> layers.Cropping1D(cropping=(1, 2))(x)[0, :, 0].tolist()
    [1.0, 2.0]
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, data_format="channels_last", **kwargs)  # Keras: no data_format here

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        config["cropping"] = self.cropping[0]
        return config


class Cropping2D(_Cropping):
    """Remove cells from both ends of each spatial axis (2-D cropping).

    Along each spatial axis ``x[..., a:in - b, ...]`` is kept, where ``(a, b)`` are that axis's
    cuts from the start and the end.

    Args:
        cropping: an int, a tuple of 2 ints (symmetric height and width cuts), or
            ``((top, bottom), (left, right))`` (default ``((0, 0), (0, 0))``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, height, width, channels)`` (channels_last).

    Output shape:
        The same, each spatial axis shortened by its two cuts.

    Example:

    >>> layers.Cropping2D(cropping=((1, 1), (2, 0)))(np.ones((1, 5, 6, 3))).shape
    (1, 3, 4, 3)
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format=data_format, **kwargs)


class Cropping3D(_Cropping):
    """Remove cells from both ends of each spatial axis (3-D cropping).

    Along each spatial axis ``x[..., a:in - b, ...]`` is kept, where ``(a, b)`` are that axis's
    cuts from the start and the end.

    Args:
        cropping: an int, a tuple of 3 ints (symmetric cuts per axis), or three
            ``(start, end)`` pairs (default ``((1, 1), (1, 1), (1, 1))``).
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``.

    Input shape:
        ``(batch, depth, height, width, channels)`` (channels_last).

    Output shape:
        The same, each spatial axis shortened by its two cuts.

    Example:

    >>> layers.Cropping3D()(np.ones((1, 4, 5, 6, 2))).shape
    (1, 2, 3, 4, 2)
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format=data_format, **kwargs)
