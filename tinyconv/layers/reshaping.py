"""Reshaping layers: Reshape, Permute, RepeatVector.  They move numbers, never change them, so
each backward undoes its forward's move on the gradient (RepeatVector's copies add up)."""
import numpy as np

from .base import Layer


class Reshape(Layer):
    """(batch, ...) -> (batch,) + target_shape; one entry of target_shape may be -1 (inferred).

    Args:
        target_shape: the new shape of one sample, without the batch axis.

    Input shape:
        ``(batch, ...)``.

    Output shape:
        ``(batch,) + target_shape``.

    Example:

    >>> layers.Reshape((3, 4))(np.ones((2, 12))).shape
    (2, 3, 4)
    >>> layers.Reshape((-1, 2))(np.ones((2, 12))).shape
    (2, 6, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in target_shape) > 1 or any(d == 0 or d < -1 for d in target_shape):
            raise ValueError(f"{self.describe()}: target_shape must hold positive sizes and at most one -1, "
                             f"got {target_shape}")
        self.target_shape = target_shape

    def _resolved(self, input_shape):
        """target_shape with the -1 filled in from the number of input values per sample."""
        size = None if any(d is None for d in input_shape[1:]) else int(np.prod(input_shape[1:], dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if size is None:
            return tuple(None if d == -1 else d for d in self.target_shape)
        if -1 in self.target_shape:
            if size % known != 0:
                raise ValueError(f"{self.describe()}: cannot reshape {size} values per sample into "
                                 f"{self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size != known:
            raise ValueError(f"{self.describe()}: target_shape {self.target_shape} holds {known} values, the input "
                             f"{tuple(input_shape)} has {size} per sample")
        return self.target_shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(input_shape)

    def forward(self, x, training=False):
        self._input_shape = x.shape
        return x.reshape((x.shape[0],) + self._resolved((None,) + x.shape[1:]))

    def backward(self, dy, need_input_gradient=True):
        return dy.reshape(self._input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of 1..rank-1 (the batch axis stays first).

    Args:
        dims: the new order of the non-batch axes, numbered from 1 (e.g. ``(2, 1)``).

    Input shape:
        ``(batch, d1, ..., dk)``.

    Output shape:
        The same axes in the order ``dims`` gives.

    Example:

    >>> layers.Permute((2, 1))(np.ones((2, 3, 5))).shape
    (2, 5, 3)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"{self.describe()}: dims must be a permutation of 1..{len(dims)} (the batch axis 0 "
                             f"is not permuted), got {dims}")
        self.dims = dims
        self.expected_ndim = len(dims) + 1

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x, training=False):
        return x.transpose((0,) + self.dims)

    def backward(self, dy, need_input_gradient=True):
        return dy.transpose(tuple(int(axis) for axis in np.argsort((0,) + self.dims)))   # host ints

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features); backward sums the n copies' gradients.

    Args:
        n: the number of copies.

    Input shape:
        ``(batch, features)``.

    Output shape:
        ``(batch, n, features)``.

    Example:

    >>> layers.RepeatVector(3)(np.array([[1., 2.]])).tolist()
    [[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]]
    """

    expected_ndim = 2

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"{self.describe()}: n must be a positive int, got {n!r}")
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False):
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy, need_input_gradient=True):
        return dy.sum(axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}
