"""Merge layers: combine several tensors into one (residual sums, skip-connection concats).

Backward hands each input its share of dL/dy:

    Add:          y = a + b + ...     da = dy                 (every input gets dy)
    Subtract:     y = a - b           da = dy, db = -dy
    Multiply:     y = a * b * ...     da = dy * (product of the others)
    Average:      y = mean(a, b, ..)  da = dy / n
    Maximum:      y = max(a, b, ..)   dy goes to the input that won, elementwise (the first on ties)
    Concatenate:  y = [a, b] on axis  da, db = the slices of dy that came from each

Inputs may broadcast against each other (as in Keras); a gradient is summed back over the
axes its input was broadcast along.
"""
import itertools

import numpy as np

from .. import devices, graph
from .base import Layer


def _unbroadcast(gradient, shape):
    """Sum ``gradient`` down to ``shape`` (undo NumPy broadcasting)."""
    while gradient.ndim > len(shape):
        gradient = gradient.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and gradient.shape[axis] != 1:
            gradient = gradient.sum(axis=axis, keepdims=True)
    return gradient


class _Merge(Layer):
    min_inputs = 2

    def _check_inputs_list(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < self.min_inputs:
            raise ValueError(f"{self.describe()}: expects a list of at least {self.min_inputs} inputs, "
                             f"got {shapes!r}")

    def build_for(self, input_shape):
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, (list, tuple)) and input_shape \
            and isinstance(input_shape[0], (list, tuple)) else input_shape
        self._check_inputs_list(shapes)
        self.input_shape = shapes
        self.output_shape = self.compute_output_shape(shapes)
        self.built = True
        return self.output_shape

    def compute_output_shape(self, shapes):
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            raise ValueError(f"{self.describe()}: inputs must have the same rank, got shapes {shapes}")
        out = []
        for dims in zip(*shapes):
            known = {d for d in dims if d is not None and d != 1}
            if len(known) > 1:
                raise ValueError(f"{self.describe()}: input shapes {shapes} are not compatible")
            out.append(known.pop() if known else (None if None in dims else 1))
        return tuple(out)

    def check_input(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self.min_inputs:
            raise ValueError(f"{self.describe()}: expects a list of at least {self.min_inputs} arrays")
        self.compute_output_shape([a.shape for a in inputs])

    def __call__(self, inputs, training=False):
        if graph.is_symbolic(inputs):
            return graph.call_layer_on_symbols(self, list(inputs))
        inputs = [devices.place(a, dtype=self.dtype) for a in inputs]
        self.build_for([(None,) + a.shape[1:] for a in inputs])
        self.check_input(inputs)
        return self.forward(inputs, training=training)

    def forward(self, inputs, training=False):
        self._shapes = [a.shape for a in inputs]
        return self._merge(inputs)

    def backward(self, dy, need_input_gradient=True):
        return [_unbroadcast(g, shape) for g, shape in zip(self._input_grads(dy), self._shapes)]


class Add(_Merge):
    """Element-wise sum of a list of inputs: y = x1 + x2 + ... + xk.

    All inputs have the same shape (or shapes NumPy can broadcast together); the output has
    that shape.  Called on a list of tensors.

    Args:
        **kwargs: the base ``Layer`` arguments (``name``, ``trainable``, ``dtype``).

    Input shape:
        A list of tensors of the same shape, e.g. ``(batch, ..., features)``.

    Output shape:
        The inputs' common shape.

    Example:

    >>> layers.Add()([np.array([[1., 2.]]), np.array([[10., 20.]])]).tolist()
    [[11.0, 22.0]]
    """

    def _merge(self, inputs):
        return sum(inputs[1:], inputs[0])

    def _input_grads(self, dy):
        return [dy] * len(self._shapes)


class Subtract(_Merge):
    """Element-wise difference of exactly two inputs: y = x1 - x2.

    All inputs have the same shape (or shapes NumPy can broadcast together); the output has
    that shape.  Called on a list of tensors.

    Args:
        **kwargs: the base ``Layer`` arguments (``name``, ``trainable``, ``dtype``).

    Input shape:
        A list of tensors of the same shape, e.g. ``(batch, ..., features)``.

    Output shape:
        The inputs' common shape.

    Example:

    >>> layers.Subtract()([np.array([[5., 7.]]), np.array([[1., 2.]])]).tolist()
    [[4.0, 5.0]]
    """

    def _check_inputs_list(self, shapes):
        if not isinstance(shapes, list) or len(shapes) != 2:
            raise ValueError(f"{self.describe()}: expects exactly 2 inputs, got {shapes!r}")

    def _merge(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"{self.describe()}: expects exactly 2 inputs, got {len(inputs)}")
        return inputs[0] - inputs[1]

    def _input_grads(self, dy):
        return [dy, -dy]


class Multiply(_Merge):
    """Element-wise product of a list of inputs: y = x1 * x2 * ... * xk.

    All inputs have the same shape (or shapes NumPy can broadcast together); the output has
    that shape.  Called on a list of tensors.

    Args:
        **kwargs: the base ``Layer`` arguments (``name``, ``trainable``, ``dtype``).

    Input shape:
        A list of tensors of the same shape, e.g. ``(batch, ..., features)``.

    Output shape:
        The inputs' common shape.

    Example:

    >>> layers.Multiply()([np.array([[2., 3.]]), np.array([[4., 5.]])]).tolist()
    [[8.0, 15.0]]
    """

    def _merge(self, inputs):
        self._inputs = inputs
        out = inputs[0]
        for a in inputs[1:]:
            out = out * a
        return out

    def _input_grads(self, dy):
        grads = []
        for i in range(len(self._inputs)):
            others = dy
            for j, a in enumerate(self._inputs):
                if j != i:
                    others = others * a
            grads.append(others)
        return grads


class Average(_Merge):
    """Element-wise mean of a list of inputs: y = (x1 + ... + xk) / k.

    All inputs have the same shape (or shapes NumPy can broadcast together); the output has
    that shape.  Called on a list of tensors.

    Args:
        **kwargs: the base ``Layer`` arguments (``name``, ``trainable``, ``dtype``).

    Input shape:
        A list of tensors of the same shape, e.g. ``(batch, ..., features)``.

    Output shape:
        The inputs' common shape.

    Example:

    >>> layers.Average()([np.array([[1., 2.]]), np.array([[3., 6.]])]).tolist()
    [[2.0, 4.0]]
    """

    def _merge(self, inputs):
        return sum(inputs[1:], inputs[0]) / len(inputs)

    def _input_grads(self, dy):
        return [dy / len(self._shapes)] * len(self._shapes)


class _Extremum(_Merge):
    pick = None  # np.argmax or np.argmin

    def _merge(self, inputs):
        xp = devices.array_module_of(inputs[0])
        stacked = xp.stack(xp.broadcast_arrays(*inputs))
        self._winner = type(self).pick(stacked, axis=0)  # the first input wins ties
        return xp.take_along_axis(stacked, self._winner[None], axis=0)[0]

    def _input_grads(self, dy):
        xp = devices.array_module_of(dy)
        return [xp.where(self._winner == i, dy, 0).astype(dy.dtype) for i in range(len(self._shapes))]


class Maximum(_Extremum):
    """Element-wise maximum of a list of inputs: y = max(x1, ..., xk).

    All inputs have the same shape (or shapes NumPy can broadcast together); the output has
    that shape.  Called on a list of tensors.

    Args:
        **kwargs: the base ``Layer`` arguments (``name``, ``trainable``, ``dtype``).

    Input shape:
        A list of tensors of the same shape, e.g. ``(batch, ..., features)``.

    Output shape:
        The inputs' common shape.

    Example:

    >>> layers.Maximum()([np.array([[1., 8.]]), np.array([[3., 6.]])]).tolist()
    [[3.0, 8.0]]
    """

    pick = staticmethod(np.argmax)


class Minimum(_Extremum):
    """Element-wise minimum of a list of inputs: y = min(x1, ..., xk).

    All inputs have the same shape (or shapes NumPy can broadcast together); the output has
    that shape.  Called on a list of tensors.

    Args:
        **kwargs: the base ``Layer`` arguments (``name``, ``trainable``, ``dtype``).

    Input shape:
        A list of tensors of the same shape, e.g. ``(batch, ..., features)``.

    Output shape:
        The inputs' common shape.

    Example:

    >>> layers.Minimum()([np.array([[1., 8.]]), np.array([[3., 6.]])]).tolist()
    [[1.0, 6.0]]
    """

    pick = staticmethod(np.argmin)


class Concatenate(_Merge):
    """Join a list of inputs along ``axis``.

    The inputs agree on every axis but ``axis``; the output's ``axis`` is the sum of theirs.

    Args:
        axis: the axis to join along (default -1, the features/channels).

    Input shape:
        A list of tensors, e.g. ``(batch, ..., c1)``, ``(batch, ..., c2)``.

    Output shape:
        ``(batch, ..., c1 + c2 + ...)`` for ``axis=-1``.

    Example:

    >>> layers.Concatenate()([np.ones((2, 3)), np.zeros((2, 4))]).shape
    (2, 7)
    >>> layers.Concatenate(axis=1)([np.ones((2, 3, 4)), np.zeros((2, 5, 4))]).shape
    (2, 8, 4)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, shapes):
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"{self.describe()}: inputs must have the same rank, got shapes {shapes}")
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"{self.describe()}: cannot concatenate along the batch axis")
        for i in range(rank):
            if i != axis and len({s[i] for s in shapes if s[i] is not None}) > 1:
                raise ValueError(f"{self.describe()}: inputs must match on every axis but {self.axis}, "
                                 f"got shapes {shapes}")
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def _merge(self, inputs):
        return devices.array_module_of(inputs[0]).concatenate(inputs, axis=self.axis)

    def _input_grads(self, dy):
        axis = self.axis % dy.ndim
        bounds = list(itertools.accumulate(shape[axis] for shape in self._shapes))[:-1]   # host ints
        return devices.array_module_of(dy).split(dy, bounds, axis=axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
