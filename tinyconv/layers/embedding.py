"""Embedding: a lookup table of learnt vectors, one row per integer index.

    y[..., :] = embeddings[index]                     (embeddings: (input_dim, output_dim))
    dL/d embeddings[v] = sum of dy at every position whose index is v     (scatter-add)

The indices are not differentiable: backward returns a zero gradient for the input.
Inputs arrive as floats when a model casts its data; like Keras they are cast to integers
(truncated), then checked to lie in [0, input_dim).
"""
import warnings

import numpy as np

from .. import devices
from .base import Layer


class Embedding(Layer):
    """Look up a learned vector for each integer index: y[..., :] = embeddings[x[...], :].

    ``embeddings`` has shape ``(input_dim, output_dim)``; indices must lie in ``[0, input_dim)``.
    Backward adds each output gradient into the row its index selected.

    Args:
        input_dim: the number of distinct indices (vocabulary size).
        output_dim: the length of each vector.
        embeddings_initializer: initializer of the table (default ``"uniform"``, values in
            [-0.05, 0.05] as in Keras).
        mask_zero: stored for Keras compatibility; tinyconv propagates no masks, so later layers
            see every position.

    Input shape:
        Integer array ``(batch, ...)``, e.g. ``(batch, sequence_length)``.

    Output shape:
        ``(batch, ..., output_dim)``.

    Example:

    >>> layer = layers.Embedding(input_dim=10, output_dim=4)
    >>> layer(np.array([[1, 2, 3], [4, 5, 6]])).shape
    (2, 3, 4)
    """

    _CONSTRAINT_ARGUMENTS = {"embeddings_constraint": "embeddings"}

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False, **kwargs):
        input_length = kwargs.pop("input_length", None)  # Keras 2's argument: accepted, not needed
        if input_length is not None:
            warnings.warn("Embedding: input_length is a Keras 2 argument and is ignored (the input shape "
                          "comes from the data)", DeprecationWarning, stacklevel=2)
        super().__init__(**kwargs)
        for value, what in ((input_dim, "input_dim"), (output_dim, "output_dim")):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{self.describe()}: {what} must be a positive int, got {value!r}")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        # Stored for get_config; tinyconv propagates no masks, so later layers see every position.
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length

    def _check_rank(self, shape):
        if len(shape) < 1:
            raise ValueError(f"{self.describe()}: expected input of rank >= 1 (batch, ...), got a scalar")

    def build(self, input_shape):
        initializer = self.embeddings_initializer
        if initializer == "uniform":  # Keras's short name for RandomUniform(-0.05, 0.05)
            initializer = "random_uniform"
        self.embeddings = self._add_array_weight("embeddings", (self.input_dim, self.output_dim), initializer)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _indices(self, x):
        """Integer indices (truncated as Keras's cast does), checked against the table's size.

        On the GPU the checks read one or two flags back to the host: a GPU gather would wrap an
        index out of range silently instead of raising."""
        xp = devices.array_module_of(x)
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise TypeError(f"{self.describe()}: expected integer indices, got an array of dtype {x.dtype}")
        if np.issubdtype(x.dtype, np.floating) and not bool(xp.all(xp.isfinite(x))):
            raise ValueError(f"{self.describe()}: indices must be finite numbers, got NaN or inf")
        indices = x.astype(np.int64)
        outside = (indices < 0) | (indices >= self.input_dim)
        if indices.size and bool(outside.any()):
            bad = devices.to_host(indices[outside])
            raise ValueError(f"{self.describe()}: indices must be in [0, {self.input_dim}) (input_dim), got "
                             f"{bad.size} out of range, e.g. {int(bad.flat[0])}")
        return indices

    def __call__(self, x, training=False):
        if not isinstance(x, (np.ndarray, list, tuple)) and not devices.is_device_array(x):
            return super().__call__(x, training=training)  # e.g. a symbolic tensor of a functional model
        # Indices stay integers here (the base class would cast them to the layer's float dtype).
        x = devices.place(x)
        self.build_for((None,) + x.shape[1:])
        self.check_input(x)
        return self.forward(x, training=training)

    def forward(self, x, training=False):
        x = devices.asarray(x)
        self._input_shape = tuple(x.shape)
        self._index = self._indices(x)
        return self.embeddings[self._index]

    def backward(self, dy, need_input_gradient=True):
        # Scatter-add: an index used at several positions collects all their gradients.
        xp = devices.array_module_of(dy)
        grad = xp.zeros_like(self.embeddings)
        devices.scatter_add(grad, self._index.reshape(-1), dy.reshape(-1, self.output_dim))
        self.grads["embeddings"] = grad
        return xp.zeros(self._input_shape, dtype=dy.dtype) if need_input_gradient else None

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer if isinstance(self.embeddings_initializer, str)
                else type(self.embeddings_initializer).__name__, "mask_zero": self.mask_zero}
