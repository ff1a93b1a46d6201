"""BatchNormalization, with Keras's arguments, weights and moving-average rule.

Training (statistics of the batch, per channel = per index of ``axis``):

    mu = mean(x),  var = mean((x - mu)^2),  x_hat = (x - mu) / sqrt(var + eps)
    y  = gamma * x_hat + beta
    moving_mean     <- moving_mean * momentum + mu  * (1 - momentum)
    moving_variance <- moving_variance * momentum + var * (1 - momentum)

Inference uses the moving statistics instead of the batch's.  Weights, in ``get_weights()``
order: gamma, beta (trainable), moving_mean, moving_variance (not trainable).
"""
import numpy as np

from .. import devices, dispatch
from .base import Layer


class BatchNormalization(Layer):
    runs_on_gpu = True
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
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
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
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
        if self._training_forward:
            y, mean, var, inv_std = dispatch.batch_norm_forward_train(x_last, gamma, beta, self.epsilon)
            self._cache = (x_last, gamma, mean, inv_std)
            self.moving_mean *= self.momentum
            self.moving_mean += (1 - self.momentum) * mean
            self.moving_variance *= self.momentum
            self.moving_variance += (1 - self.momentum) * var
        else:
            y = dispatch.batch_norm_forward_infer(x_last, gamma, beta, self.moving_mean, self.moving_variance,
                                             self.epsilon)
            self._cache = (x_last, gamma, None, None)
        return np.moveaxis(y, -1, self._axis) if moved else y

    def backward(self, dy, need_input_gradient=True):
        moved = self._axis != dy.ndim - 1
        xp = devices.array_module_of(dy)
        dy_last = xp.ascontiguousarray(xp.moveaxis(dy, self._axis, -1) if moved else dy, dtype=self.dtype)
        x_last, gamma, mean, inv_std = self._cache
        if self._training_forward:
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
        return np.moveaxis(dx, -1, self._axis) if moved else dx

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
