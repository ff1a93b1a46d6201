"""Core layers: Input, Dense, Flatten, Activation, ReLU, Dropout."""
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .. import activations, devices, dispatch, graph, random as random_module, serialization
from ..utils.random import make_rng
from .arguments import check_data_format, from_channels_last, shape_to_channels_last, to_channels_last
from .base import ActivationMixin, Layer


class InputLayer(Layer):
    """Declares the shape of a model's input; holds no weights and passes data through.

    Args:
        shape: the shape of one sample, without the batch axis (e.g. ``(28, 28, 1)``).
        batch_size: a fixed batch size, or ``None`` (any).
        dtype: the input's dtype (default float32).
        name: the layer's name.
        batch_shape: the full shape with the batch axis, instead of ``shape`` and ``batch_size``.
        input_shape: Keras 2's name for ``shape``.

    Input shape:
        ``(batch_size,) + shape``.

    Output shape:
        The input's shape.

    Example:

    >>> layer = layers.InputLayer(shape=(28, 28, 1))
    >>> layer(np.ones((2, 28, 28, 1))).shape
    (2, 28, 28, 1)
    """
    runs_on_gpu = True

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, input_shape=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is None:
            shape = shape if shape is not None else input_shape
            if shape is None:
                raise ValueError("InputLayer: pass shape=(...) without the batch axis, e.g. shape=(28, 28, 1)")
            batch_shape = (batch_size,) + tuple(shape)
        batch_shape = tuple(batch_shape)
        for dim in batch_shape[1:]:
            if dim is not None and (not isinstance(dim, (int, np.integer)) or dim <= 0):
                raise ValueError(f"{self.describe()}: every size in shape must be a positive int, got {batch_shape[1:]}")
        self.batch_shape = batch_shape
        self.build_for(batch_shape)
        graph.Node(self, [], multi_input=False).add_outputs([batch_shape])  # ``self.output`` is its tensor

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_input_gradient=True):
        return dy

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "name": self.name}


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None,
          dtype: npt.DTypeLike | None = None, name: str | None = None,
          batch_shape: Sequence[int | None] | None = None) -> graph.SymbolicTensor:
    """``keras.Input``: a symbolic tensor of the given shape (batch axis excluded).

    Args:
        shape: the shape of one sample, e.g. ``(28, 28, 1)`` (None for a size fixed only at run time).
        batch_size: a fixed batch size, or None.
        dtype: the tensor's dtype (``backend.floatx()`` when None).
        name: the input layer's name.
        batch_shape: the whole shape, batch axis included (instead of ``shape`` and ``batch_size``).

    Returns:
        A ``SymbolicTensor`` to build a functional ``Model`` from.
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output


class Dense(ActivationMixin, Layer):
    """Fully connected layer: y = act(x W + b), W of shape (in, units) as in Keras.

    On inputs of rank > 2 it acts on the last axis, like Keras.
    Backward, with z = x W + b:  dW = x^T dz,  db = sum over the batch of dz,  dx = dz W^T.

    Args:
        units: the number of outputs.
        activation: activation applied to the result (a name such as ``"relu"``, a callable, or
            ``None`` for none).
        use_bias: if ``True`` (the default), add a learned bias per output channel.
        kernel_initializer: initializer of W (default ``"glorot_uniform"``).
        bias_initializer: initializer of b (default ``"zeros"``).

    Input shape:
        ``(batch, ..., input_dim)``.

    Output shape:
        ``(batch, ..., units)``.

    Example:

    >>> layers.Dense(units=4)(np.ones((2, 3))).shape
    (2, 4)
    >>> layers.Dense(4, activation="relu")(np.ones((2, 5, 3))).shape
    (2, 5, 4)
    """
    runs_on_gpu = True

    _CONSTRAINT_ARGUMENTS = {"kernel_constraint": "kernel", "bias_constraint": "bias"}

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{self.describe()}: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: expected input of rank >= 2 (batch, ..., features), got shape {shape}")

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(f"{self.describe()}: the last axis of the input must be known, got {input_shape}")
        self.kernel = self._add_array_weight("kernel", (in_features, self.units), self.kernel_initializer)
        self.bias = self._add_array_weight("bias", (self.units,), self.bias_initializer) if self.use_bias else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def check_input(self, x):
        super().check_input(x)
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"{self.describe()}: expected input with {self.kernel.shape[0]} features on the last axis "
                f"(from its weights), got shape {x.shape}"
            )

    def forward(self, x, training=False):
        self._input = x
        z = dispatch.matmul(x, self.kernel)  # x @ W (BLAS, on the kernel set's threads)
        if self.use_bias:
            z += self.bias
        return self._activate(z, owned=True)

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        x2d = self._input.reshape(-1, self.kernel.shape[0])
        dz2d = dz.reshape(-1, self.units)
        self.grads["kernel"] = dispatch.matmul(x2d.T, dz2d)
        if self.use_bias:
            # On the GPU one matrix-vector product (ones @ dz): a CuPy column sum would get few thread blocks.
            self.grads["bias"] = dispatch.bias_gradient(dz2d) if devices.is_device_array(dz2d) else dz2d.sum(axis=0)
        if not need_input_gradient:
            return None
        return dispatch.matmul(dz, self.kernel.T)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": _init_name(self.kernel_initializer),
                "bias_initializer": _init_name(self.bias_initializer)}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...).  Backward reshapes the gradient back.

    Args:
        data_format: ``"channels_last"`` (the default) or ``"channels_first"``, the layout of the
            input (a channels_first input is flattened in channels_last order, as in Keras).

    Input shape:
        ``(batch, d1, d2, ...)``.

    Output shape:
        ``(batch, d1 * d2 * ...)``.

    Example:

    >>> layers.Flatten()(np.ones((2, 4, 4, 3))).shape
    (2, 48)
    """
    runs_on_gpu = True

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, self.describe())

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: expected input of rank >= 2, got shape {shape}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def forward(self, x, training=False):
        self._input_shape = x.shape
        if x.ndim > 2:
            x = to_channels_last(x, self.data_format)  # Keras flattens channels_first data in channels_last order
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_input_gradient=True):
        if len(self._input_shape) > 2:
            as_flattened = dy.reshape(shape_to_channels_last(self._input_shape, self.data_format))
            return from_channels_last(as_flattened, self.data_format)
        return dy.reshape(self._input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Activation(ActivationMixin, Layer):
    """Applies an activation on its own: ``Activation('relu')``.

    Args:
        activation: the function, by name (``"relu"``, ``"sigmoid"``, ``"softmax"``, ...) or a callable.

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> layers.Activation("relu")(np.array([[-1., 0., 2.]])).tolist()
    [[0.0, 0.0, 2.0]]
    """
    runs_on_gpu = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        return self._activate(x)

    def backward_from_preactivation(self, dz, need_input_gradient=True):
        return dz

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    """Keras's ReLU layer: f(x) = min(max_value, x) for x >= threshold, else negative_slope (x - threshold).

    Args:
        max_value: the ceiling of the output, or ``None`` for none.
        negative_slope: the slope below ``threshold`` (default 0).
        threshold: where the function bends (default 0).

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> x = np.array([[-2., -1., 0., 3., 8.]])
    >>> layers.ReLU()(x).tolist()
    [[0.0, 0.0, 0.0, 3.0, 8.0]]
    >>> layers.ReLU(max_value=6.0, negative_slope=0.5)(x).tolist()
    [[-1.0, -0.5, 0.0, 3.0, 6.0]]
    """
    runs_on_gpu = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"{self.describe()}: max_value must be >= 0, got {max_value}")
        if negative_slope < 0:
            raise ValueError(f"{self.describe()}: negative_slope must be >= 0, got {negative_slope}")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def forward(self, x, training=False):
        self._input = x
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)

    def backward(self, dy, need_input_gradient=True):
        x = self._input
        slope = np.where(x >= self.threshold, 1.0, self.negative_slope)
        if self.max_value is not None:
            slope = np.where(x >= self.max_value, 0.0, slope)
        return (dy * slope).astype(dy.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability 1 - rate and scale it
    by 1 / (1 - rate), so inference needs no change.  Backward uses the same mask.

    Args:
        rate: the fraction of units to drop, in [0, 1).
        noise_shape: shape of the mask (1 on the axes where it is shared), or ``None`` for the input's.
        seed: seed of the mask's random numbers, or ``None``.

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> layer = layers.Dropout(0.5, seed=0)
    >>> layer(np.ones((2, 3))).tolist()  # inference: the identity
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    >>> y = layer(np.ones((100, 10)), training=True)
    >>> sorted(set(y.ravel().tolist()))  # dropped, or kept and scaled by 1 / (1 - rate)
    [0.0, 2.0]
    """
    runs_on_gpu = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"{self.describe()}: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = make_rng(seed) if seed is not None else None
        self._device_rng = None   # the GPU's generator, made on the first training call there

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        if devices.is_device_array(x) and random_module.mask_source() == "device":
            # Drawn by the GPU's own generator: no host work, no copy (tinyconv.random.set_mask_source).
            xp = devices.array_module_of(x)
            if self._device_rng is None:
                self._device_rng = random_module.device_generator(xp, self.seed)
            self._mask = random_module.dropout_mask(self._device_rng, xp, shape, self.rate, x.dtype)
        else:
            rng = self._rng if self._rng is not None else make_rng(None)
            keep = rng.random(shape) >= self.rate
            # Drawn on the host (the same masks on every device for the same seeds), then moved next to x.
            self._mask = devices.array_module_of(x).asarray((keep / (1.0 - self.rate)).astype(x.dtype))
        return x * self._mask

    def backward(self, dy, need_input_gradient=True):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


def _init_name(initializer):
    """A config entry for an initializer: names stay names; objects keep their arguments (Keras's dict form)."""
    if isinstance(initializer, (str, dict)) or initializer is None:
        return initializer
    return serialization.serialize_initializer(initializer)
