"""Normalisation layers: BatchNormalization, LayerNormalization, GroupNormalization,
LocalResponseNormalization.

* ``BatchNormalization`` (Keras's arguments, weights and moving-average rule).  Training uses
  the statistics of the batch, per channel = per index of ``axis``:

      mu = mean(x),  var = mean((x - mu)^2),  x_hat = (x - mu) / sqrt(var + eps)
      y  = gamma * x_hat + beta
      moving_mean     <- moving_mean * momentum + mu  * (1 - momentum)
      moving_variance <- moving_variance * momentum + var * (1 - momentum)

  Inference uses the moving statistics instead of the batch's.  Weights, in ``get_weights()``
  order: gamma, beta (trainable), moving_mean, moving_variance (not trainable).

The others take their statistics from each sample alone, so training and inference compute
the same function and there are no moving averages:

* ``LayerNormalization``: each sample normalised over the feature axes (Keras 3's arguments;
  weights gamma, beta with the shape of those axes).
* ``GroupNormalization``: the channels cut into ``groups`` groups, each normalised over its
  channels and all positions (weights gamma, beta of shape (channels,)).
  ``groups=1`` normalises over all channels and positions together;
  ``groups=-1`` (or the channel count) is **instance normalisation**, each channel of each sample
  on its own, which is PyTorch's ``instance_norm`` without running statistics.
* ``LocalResponseNormalization``: AlexNet's cross-channel normalisation, with TensorFlow's
  ``tf.nn.local_response_normalization`` arguments (Keras has no such layer):
  y_c = x_c / (bias + alpha * sum_{|j - c| <= depth_radius} x_j^2)^beta.
  PyTorch's ``LocalResponseNorm(size, alpha, beta, k)`` divides the sum by ``size``: the same
  layer is ``LocalResponseNorm(size=2*depth_radius+1, alpha=alpha*size, beta=beta, k=bias)``.

The kernels normalise over the *last* axis (batch and layer norm) or take channels last (group
norm), so the layers move the axes they work on to the end and back.
"""
import numpy as np

from .. import devices, dispatch
from ..distribute import active as replicas, sync_batchnorm
from .arguments import contiguous, is_int
from .base import Layer


class BatchNormalization(Layer):
    """Normalise each feature over the batch: y = gamma * (x - mean) / sqrt(var + epsilon) + beta.

    In training, mean and var are the batch's statistics over every axis but ``axis``, and the
    moving statistics follow them: moving = momentum * moving + (1 - momentum) * batch.  At
    inference the moving mean and variance are used instead.

    Args:
        axis: the feature axis (default -1, the channels of channels_last data).
        momentum: weight of the past in the moving mean and variance (default 0.99).
        epsilon: added to the variance to avoid dividing by zero (default 1e-3).
        center: if ``True``, learn the offset ``beta``.
        scale: if ``True``, learn the factor ``gamma``.
        beta_initializer: initializer of ``beta`` (default ``"zeros"``).
        gamma_initializer: initializer of ``gamma`` (default ``"ones"``).
        moving_mean_initializer: initializer of the moving mean (default ``"zeros"``).
        moving_variance_initializer: initializer of the moving variance (default ``"ones"``).
        synchronized: if ``True`` and a ``tinyconv.distribute.DataParallel`` runs several ranks, the
            batch statistics (and their gradients) are those of the global batch, summed over all ranks;
            otherwise each rank normalises with its own share of the batch. One process: no difference.

    Input shape:
        Any; e.g. ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> x = np.array([[1., 10.], [3., 30.]])
    >>> np.round(layers.BatchNormalization()(x, training=True), 3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> layers.BatchNormalization()(np.ones((2, 4, 4, 3))).shape
    (2, 4, 4, 3)
    """

    _CONSTRAINT_ARGUMENTS = {"beta_constraint": "beta", "gamma_constraint": "gamma"}

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(synchronized, bool):
            raise TypeError(f"{self.describe()}: synchronized must be True or False, got {synchronized!r}")
        self.synchronized = synchronized
        self._replicas = None  # the communicator of the last training forward, when it was synchronised
        if not 0 <= momentum <= 1:
            raise ValueError(f"{self.describe()}: momentum must be in [0, 1], got {momentum}")
        if epsilon <= 0:
            raise ValueError(f"{self.describe()}: epsilon must be > 0, got {epsilon}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: expected input of rank >= 2, got shape {shape}")
        if not -len(shape) <= self.axis < len(shape) or self.axis % len(shape) == 0:
            raise ValueError(f"{self.describe()}: axis {self.axis} is not a feature axis of input shape {shape}")

    def build(self, input_shape):
        self._axis = self.axis % len(input_shape)
        channels = input_shape[self._axis]
        if channels is None:
            raise ValueError(f"{self.describe()}: the normalised axis must be known, got {input_shape}")
        shape = (channels,)
        self.gamma = self._add_array_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self._add_array_weight("beta", shape, self.beta_initializer) if self.center else None
        self.moving_mean = self._add_array_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self._add_array_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)

    def check_input(self, x):
        super().check_input(x)
        channels = self.moving_mean.shape[0]
        if x.ndim != len(self.input_shape) or x.shape[self._axis] != channels:
            raise ValueError(f"{self.describe()}: expected input with {channels} features on axis {self.axis} "
                             f"(from its weights), got shape {x.shape}")

    def _scale_and_shift(self, dtype):
        channels = self.moving_mean.shape[0]
        xp = devices.array_module_of(self.moving_mean)  # numpy, or cupy for a model on the GPU
        gamma = self.gamma if self.scale else xp.ones(channels, dtype)
        beta = self.beta if self.center else xp.zeros(channels, dtype)
        return gamma, beta

    def forward(self, x, training=False):
        # The kernels normalise the last axis; another axis is moved there and back.
        moved = self._axis != x.ndim - 1
        xp = devices.array_module_of(x)
        x_last = xp.ascontiguousarray(xp.moveaxis(x, self._axis, -1)) if moved else xp.ascontiguousarray(x)
        gamma, beta = self._scale_and_shift(x.dtype)
        self._training_forward = bool(training and self.trainable)
        # Statistics over all ranks only when asked for and several ranks run (else None: this batch alone).
        self._replicas = replicas.communicator() if self.synchronized and self._training_forward else None
        if self._training_forward:
            if self._replicas is not None:
                y, mean, var, inv_std = sync_batchnorm.forward(x_last, gamma, beta, self.epsilon, self._replicas)
                # Keras's moving averages, kept for inference: moving = momentum * moving + (1 - momentum) * batch
                self.moving_mean *= self.momentum
                self.moving_mean += (1 - self.momentum) * mean
                self.moving_variance *= self.momentum
                self.moving_variance += (1 - self.momentum) * var
            else:   # the statistics and the moving averages (one kernel on the GPU)
                y, mean, var, inv_std = dispatch.batch_norm_forward_train(
                    x_last, gamma, beta, self.epsilon, self.moving_mean, self.moving_variance, self.momentum)
            self._cache = (x_last, gamma, mean, inv_std)
        else:
            y = dispatch.batch_norm_forward_infer(x_last, gamma, beta, self.moving_mean, self.moving_variance,
                                             self.epsilon)
            self._cache = (x_last, gamma, None, None)
        return xp.moveaxis(y, -1, self._axis) if moved else y

    def backward(self, dy, need_input_gradient=True):
        moved = self._axis != dy.ndim - 1
        xp = devices.array_module_of(dy)
        dy_last = xp.ascontiguousarray(xp.moveaxis(dy, self._axis, -1) if moved else dy, dtype=self.dtype)
        x_last, gamma, mean, inv_std = self._cache
        if self._replicas is not None:
            dx, dgamma, dbeta = sync_batchnorm.backward(dy_last, x_last, gamma, mean, inv_std, self._replicas)
        elif self._training_forward:
            dx, dgamma, dbeta = dispatch.batch_norm_backward(dy_last, x_last, gamma, mean, inv_std)
        else:
            # Moving statistics are constants here: y is an affine function of x.
            inv_std = 1.0 / xp.sqrt(self.moving_variance + self.epsilon)
            x_hat = (x_last - self.moving_mean) * inv_std
            axes = tuple(range(dy_last.ndim - 1))
            dgamma = (dy_last * x_hat).sum(axis=axes)
            dbeta = dy_last.sum(axis=axes)
            dx = dy_last * (gamma * inv_std)
        if self.scale:
            self.grads["gamma"] = dgamma.astype(self.dtype, copy=False)
        if self.center:
            self.grads["beta"] = dbeta.astype(self.dtype, copy=False)
        return xp.moveaxis(dx, -1, self._axis) if moved else dx

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "synchronized": self.synchronized}


# --- per-sample normalisation ------------------------------------------------------------------


def _check_epsilon(epsilon, layer):
    if not epsilon > 0:
        raise ValueError(f"{layer.describe()}: epsilon must be > 0, got {epsilon!r}")
    return float(epsilon)


def _move_to_end(x, axes):
    """Transpose so that ``axes`` (in the given order) come last; returns the array and the order."""
    order = [d for d in range(x.ndim) if d not in axes] + list(axes)
    return contiguous(x.transpose(order)), order


def _move_back(y, order):
    return y.transpose(tuple(int(axis) for axis in np.argsort(order)))   # host ints


class LayerNormalization(Layer):
    """y = gamma * (x - mean) / sqrt(var + epsilon) + beta, statistics per sample over ``axis``.

    Args:
        axis: the axis or axes to normalise over (default -1).
        epsilon: added to the variance to avoid dividing by zero (default 1e-3).
        center: if ``True``, learn the offset ``beta``.
        scale: if ``True``, learn the factor ``gamma``.
        beta_initializer: initializer of ``beta`` (default ``"zeros"``).
        gamma_initializer: initializer of ``gamma`` (default ``"ones"``).

    Input shape:
        Any shape, e.g. ``(batch, features)`` or ``(batch, height, width, channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> np.round(layers.LayerNormalization()(np.array([[1., 2., 3.]])), 3)
    array([[-1.224,  0.   ,  1.224]], dtype=float32)
    """

    _CONSTRAINT_ARGUMENTS = {"beta_constraint": "beta", "gamma_constraint": "gamma"}

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = list(axis)
        elif not is_int(axis):
            raise TypeError(f"{self.describe()}: axis must be an int or a list of ints, got {axis!r}")
        self.axis = axis
        self.epsilon = _check_epsilon(epsilon, self)
        self.center = center
        self.scale = scale
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer

    def _axes(self, rank):
        """The normalised axes as sorted positive indices (Keras sorts them too)."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"{self.describe()}: axis {a} is out of range for an input of rank {rank}")
        axes = sorted({a % rank for a in axes})
        if 0 in axes:
            raise ValueError(f"{self.describe()}: axis {self.axis} includes the batch axis 0; normalise over "
                             "feature axes only")
        return axes

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: expected input of rank >= 2, got shape {tuple(shape)}")
        self._axes(len(shape))

    def build(self, input_shape):
        self._normalized_axes = self._axes(len(input_shape))
        shape = tuple(input_shape[d] for d in self._normalized_axes)
        if any(d is None for d in shape):
            raise ValueError(f"{self.describe()}: the normalised axes must have known sizes, got {input_shape}")
        self.gamma = self._add_array_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self._add_array_weight("beta", shape, self.beta_initializer) if self.center else None
        self._feature_shape = shape

    def check_input(self, x):
        super().check_input(x)
        got = tuple(x.shape[d] for d in self._normalized_axes) if x.ndim == len(self.input_shape) else None
        if got != self._feature_shape:
            raise ValueError(f"{self.describe()}: expected sizes {self._feature_shape} on axes "
                             f"{self._normalized_axes} (from its weights), got input shape {x.shape}")

    def _scale_and_shift(self, dtype, xp):
        """gamma and beta flattened to one value per normalised feature (ones and zeros on array module
        ``xp`` when the layer learns none)."""
        size = int(np.prod(self._feature_shape))
        gamma = self.gamma.reshape(-1) if self.scale else xp.ones(size, dtype)
        beta = self.beta.reshape(-1) if self.center else xp.zeros(size, dtype)
        return gamma.astype(dtype, copy=False), beta.astype(dtype, copy=False)

    def forward(self, x, training=False):
        moved, order = _move_to_end(x, self._normalized_axes)
        rows = moved.reshape(moved.shape[:x.ndim - len(self._normalized_axes)] + (-1,))  # (..., D)
        gamma, beta = self._scale_and_shift(x.dtype, devices.array_module_of(x))
        y, mean, inv_std = dispatch.layer_norm_forward(rows, gamma, beta, self.epsilon)
        self._cache = (rows, gamma, mean, inv_std, moved.shape, order)
        return _move_back(y.reshape(moved.shape), order)

    def backward(self, dy, need_input_gradient=True):
        rows, gamma, mean, inv_std, moved_shape, order = self._cache
        dy_rows = contiguous(dy.transpose(order), dtype=rows.dtype).reshape(rows.shape)
        dx, dgamma, dbeta = dispatch.layer_norm_backward(dy_rows, rows, gamma, mean, inv_std)
        if self.scale:
            self.grads["gamma"] = dgamma.reshape(self._feature_shape)
        if self.center:
            self.grads["beta"] = dbeta.reshape(self._feature_shape)
        return _move_back(dx.reshape(moved_shape), order)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


class GroupNormalization(Layer):
    """Normalise groups of channels per sample; ``groups=-1`` gives instance normalisation.

    With x's channels split into ``groups`` groups of C / groups, each sample's group is normalised
    by its own mean and variance: y = gamma * (x - mean) / sqrt(var + epsilon) + beta, with gamma
    and beta per channel.

    Args:
        groups: the number of groups; must divide the channels (default 32, -1 for one per channel).
        axis: the channel axis (default -1).
        epsilon: added to the variance to avoid dividing by zero (default 1e-3).
        center: if ``True``, learn the offset ``beta``.
        scale: if ``True``, learn the factor ``gamma``.
        beta_initializer: initializer of ``beta`` (default ``"zeros"``).
        gamma_initializer: initializer of ``gamma`` (default ``"ones"``).

    Input shape:
        ``(batch, ..., channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> x = np.array([[1., 3., 10., 30.]])
    >>> np.round(layers.GroupNormalization(groups=2)(x), 2).tolist()
    [[-1.0, 1.0, -1.0, 1.0]]
    """

    _CONSTRAINT_ARGUMENTS = {"beta_constraint": "beta", "gamma_constraint": "gamma"}

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if not is_int(groups) or (groups <= 0 and groups != -1):
            raise ValueError(f"{self.describe()}: groups must be a positive int (or -1 for instance "
                             f"normalisation), got {groups!r}")
        if not is_int(axis):
            raise TypeError(f"{self.describe()}: axis must be an int, got {axis!r}")
        self.groups = int(groups)
        self.axis = int(axis)
        self.epsilon = _check_epsilon(epsilon, self)
        self.center = center
        self.scale = scale
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: expected input of rank >= 2, got shape {tuple(shape)}")
        if not -len(shape) <= self.axis < len(shape) or self.axis % len(shape) == 0:
            raise ValueError(f"{self.describe()}: axis {self.axis} is not a channel axis of input shape "
                             f"{tuple(shape)}")

    def build(self, input_shape):
        self._channel_axis = self.axis % len(input_shape)
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"{self.describe()}: the channel axis must have a known size, got {input_shape}")
        if self.groups == -1:
            self.groups = channels
        if channels < self.groups or channels % self.groups != 0:
            raise ValueError(f"{self.describe()}: groups ({self.groups}) must divide the number of channels "
                             f"({channels}) on axis {self.axis}")
        self.gamma = self._add_array_weight("gamma", (channels,), self.gamma_initializer) if self.scale else None
        self.beta = self._add_array_weight("beta", (channels,), self.beta_initializer) if self.center else None
        self._channels = channels

    def check_input(self, x):
        super().check_input(x)
        if x.ndim != len(self.input_shape) or x.shape[self._channel_axis] != self._channels:
            raise ValueError(f"{self.describe()}: expected input with {self._channels} channels on axis "
                             f"{self.axis} (from its weights), got shape {x.shape}")

    def _scale_and_shift(self, dtype, xp):
        gamma = self.gamma if self.scale else xp.ones(self._channels, dtype)
        beta = self.beta if self.center else xp.zeros(self._channels, dtype)
        return gamma.astype(dtype, copy=False), beta.astype(dtype, copy=False)

    def forward(self, x, training=False):
        channels_last, order = _move_to_end(x, [self._channel_axis])
        gamma, beta = self._scale_and_shift(x.dtype, devices.array_module_of(x))
        y, mean, inv_std = dispatch.group_norm_forward(channels_last, self.groups, gamma, beta, self.epsilon)
        self._cache = (channels_last, gamma, mean, inv_std, order)
        return _move_back(y, order)

    def backward(self, dy, need_input_gradient=True):
        channels_last, gamma, mean, inv_std, order = self._cache
        dy_last = contiguous(dy.transpose(order), dtype=channels_last.dtype)
        dx, dgamma, dbeta = dispatch.group_norm_backward(dy_last, channels_last, self.groups, gamma, mean, inv_std)
        if self.scale:
            self.grads["gamma"] = dgamma
        if self.center:
            self.grads["beta"] = dbeta
        return _move_back(dx, order)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}


class LocalResponseNormalization(Layer):
    """AlexNet's LRN over the channels (last axis), with TensorFlow's arguments and defaults.

    y[..., c] = x[..., c] / (bias + alpha * sum over |c' - c| <= depth_radius of x[..., c']^2)^beta.
    Not a Keras layer (TensorFlow's ``tf.nn.local_response_normalization``); tinyconv adds it for AlexNet.

    Args:
        depth_radius: how many neighbouring channels on each side enter the sum (default 5).
        bias: the constant added to the sum (default 1.0).
        alpha: the sum's factor (default 1.0).
        beta: the exponent (default 0.5).

    Input shape:
        ``(batch, ..., channels)``.

    Output shape:
        The input's shape.

    Example:

    >>> x = np.array([[0., 1., 2.]])
    >>> np.round(layers.LocalResponseNormalization(depth_radius=1)(x), 3)
    array([[0.   , 0.408, 0.816]], dtype=float32)
    """

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, **kwargs):
        super().__init__(**kwargs)
        if not is_int(depth_radius) or depth_radius < 0:
            raise ValueError(f"{self.describe()}: depth_radius must be an int >= 0, got {depth_radius!r}")
        if not bias > 0 or not alpha >= 0:
            raise ValueError(f"{self.describe()}: expected bias > 0 and alpha >= 0, got bias={bias!r}, "
                             f"alpha={alpha!r}")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.describe()}: expected input of rank >= 2 (batch, ..., channels), "
                             f"got shape {tuple(shape)}")

    def _arguments(self):
        return self.depth_radius, self.bias, self.alpha, self.beta

    def forward(self, x, training=False):
        x = contiguous(x)
        y, denom = dispatch.lrn_forward(x, *self._arguments())
        self._cache = (x, denom)
        return y

    def backward(self, dy, need_input_gradient=True):
        x, denom = self._cache
        return dispatch.lrn_backward(contiguous(dy, dtype=x.dtype), x, denom, *self._arguments())

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias, "alpha": self.alpha,
                "beta": self.beta}
