"""Optimizers: SGD, Adam, AdamW, RMSprop, Adadelta, Adagrad, Adamax, Nadam with Keras 3's update rules,
updating NumPy arrays in place.

Vocabulary: ``param`` is a weight array (a kernel, a bias), ``grad`` is d(loss)/d(param) from the backward
pass, ``lr`` the learning rate, ``t`` the step number counted from 1. Per-parameter state (momentum buffers,
moving averages of squared gradients) is created on a parameter's first update, zero-filled, in its dtype.

Before the update rule, as in Keras: gradients are clipped (``clipnorm`` per array, ``global_clipnorm``
over all arrays together, or ``clipvalue`` per element), then decoupled weight decay shrinks each param:
``param -= lr * weight_decay * param``.

The learning rate may be a number or a schedule from ``tinyconv.optimizers.schedules`` (evaluated at
``iterations`` before each step).  Keras 2 spellings still work: ``lr=`` for ``learning_rate=``, and ``decay=``
for time-based decay, ``lr_t = lr / (1 + decay * iterations)``.

On the GPU a step over a model's weights is a few launches, not ten per weight: given the layers that hold
the weights (``apply(..., holders=[model])`` or ``build``), the weights move into one flat buffer per dtype
(``optimizer_buffers.py``) and each rule runs as one fused kernel (``kernels/gpu/fused_update.py``), the
same formula as the per-weight rule below, which stays what runs on the CPU.
"""
from __future__ import annotations

import inspect
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Self, TypeAlias, TypeGuard

import numpy as np

from . import devices, schedules, serialization
from .devices import DeviceArray
from .variables import Variable

# A learning rate: a positive number, a schedule of the step (``schedules.ExponentialDecay(...)``, or its
# serialized dict), or a function of no arguments returning the rate.
LearningRate: TypeAlias = float | schedules.LearningRateSchedule | Callable[[], float] | dict[str, Any]
# What apply() updates: weights as Variables or as bare float arrays (NumPy, or CuPy on the GPU).
Weights: TypeAlias = Iterable[Variable | DeviceArray]

# Keras's path: ``from tinyconv.optimizers.schedules import ExponentialDecay`` (this module is not a package).
sys.modules[__name__ + ".schedules"] = schedules


class Optimizer:
    """Base class of the optimizers: clipping, weight decay, learning-rate schedules and per-weight state.

    Subclasses define ``_slots`` (names of their state arrays) and ``_update(param, grad, state, lr)``,
    which must change ``param`` in place; for the GPU, ``_fused_update(group, lr, decay)`` runs the same
    rule over a ``FlatGroup``'s flat buffers as one fused kernel (``decay`` is ``lr * weight_decay``).

    Args:
        learning_rate: a positive number, a ``LearningRateSchedule`` or a callable taking no arguments.
        weight_decay: if set, decoupled weight decay: ``param -= lr * weight_decay * param`` before each step.
        clipnorm: if set, each gradient array is scaled down to this L2 norm at most.
        clipvalue: if set, each gradient element is clipped to ``[-clipvalue, clipvalue]``.
        global_clipnorm: if set, all gradients are scaled together so their joint L2 norm is at most this.
        name: the optimizer's name (the class name in lower case by default).
        lr: Keras 2's name for ``learning_rate`` (deprecated: warns).
        decay: Keras 2's time-based decay, ``lr / (1 + decay * iterations)``; 0 turns it off.

    Raises:
        ValueError: for a negative ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm`` or
            ``decay``, a learning rate that is not positive, or more than one kind of clipping.

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> optimizer = tinyconv.optimizers.SGD(learning_rate=0.1, clipnorm=0.1)
    >>> optimizer.apply([w], [np.array([3.0, 4.0], dtype="float32")])   # the gradient's norm 5 -> 0.1
    >>> w.round(4), optimizer.iterations
    (array([0.994, 1.992], dtype=float32), 1)
    """

    _slots: tuple[str, ...] = ()
    _learning_rate: Any  # a float, a LearningRateSchedule, or a callable of no arguments
    # True when ``_update`` treats every element on its own (all the rules below): the weight can
    # then be updated a piece at a time (see ``_pieces``).  A subclass whose rule looks at the
    # whole array (a norm, as in LARS) keeps the default and gets whole arrays.
    elementwise = False

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
                 name: str | None = None, lr: LearningRate | None = None, decay: float | None = None) -> None:
        self.name = name or type(self).__name__.lower()
        if lr is not None:  # Keras 2's name for the argument
            warnings.warn(f"{type(self).__name__}: the `lr` argument is deprecated, use `learning_rate` instead",
                          stacklevel=3)
            learning_rate = lr
        # (a dict is a serialized schedule, from get_config())
        self.learning_rate = schedules.deserialize(learning_rate) if isinstance(learning_rate, dict) else learning_rate
        if decay is not None and not (_is_number(decay) and decay >= 0):
            raise ValueError(f"{type(self).__name__}: decay must be a non-negative number, got {decay!r}")
        self.decay = float(decay or 0.0)  # Keras 2 time-based decay; 0 turns it off
        for arg, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm),
                           ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None and not (_is_number(value) and value >= 0):
                raise ValueError(f"{type(self).__name__}: {arg} must be a non-negative number or None, got {value!r}")
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{type(self).__name__}: only one of clipnorm, clipvalue and global_clipnorm can be set")
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.iterations = 0  # how many times apply() has run
        # id(param) -> {"param": param, slot name: array}; the reference keeps the id unique
        self._state: dict[int, dict[str, Any]] = {}
        self._flat: Any = None  # on the GPU: the weights packed in flat buffers (optimizer_buffers.FlatWeights)

    # --- learning rate ---------------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The current learning rate as a float: a schedule is evaluated at ``iterations``, another callable
        is called with no arguments (Keras 3)."""
        if schedules.is_schedule(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        if callable(self._learning_rate):
            return float(self._learning_rate())
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | schedules.LearningRateSchedule | Callable[[], float]) -> None:
        # Callbacks (ReduceLROnPlateau, LearningRateScheduler) set a number here between epochs.
        if schedules.is_schedule(getattr(self, "_learning_rate", None)) and not callable(value):
            raise TypeError(f"{type(self).__name__}: this optimizer was created with a LearningRateSchedule as "
                            f"its learning_rate, so its learning rate is not settable")
        if callable(value):
            self._learning_rate = value
            return
        if not _is_number(value) or not value > 0 or not math.isfinite(value):
            raise ValueError(f"{type(self).__name__}: learning_rate must be a positive number, got {value!r}")
        self._learning_rate = float(value)

    @property
    def lr(self) -> LearningRateHandle:
        """Keras 2's ``optimizer.lr``: a handle that ``K.get_value`` / ``K.set_value`` (and ``assign``) use."""
        return LearningRateHandle(self)

    @lr.setter
    def lr(self, value: float) -> None:
        self.learning_rate = float(value)

    def _current_learning_rate(self):
        """The rate this step uses: ``learning_rate``, with Keras 2's time-based ``decay`` applied."""
        lr = self.learning_rate
        if self.decay:
            lr = lr / (1.0 + self.decay * self.iterations)
        return lr

    # --- applying gradients ------------------------------------------------------------------------------------
    def apply(self, params: Weights, grads: Iterable[DeviceArray | Variable | None], *,
              holders: Sequence[Any] | None = None) -> None:
        """One optimisation step: update every weight in ``params`` in place from the matching ``grads``.
        Pairs whose gradient is None are skipped.

        Keras 3 writes ``optimizer.apply(grads, model.trainable_weights)``: when the *second* list holds
        the model's variables, the arguments are read in that order; with bare arrays on both sides the
        order is tinyconv's, ``apply(params, grads)``.

        On the GPU, weights given as ``Variable``s together with ``holders`` move into one flat buffer
        per dtype on the first step (``build`` does it ahead), and every later step over the same
        weights is one fused kernel per dtype, plus the gradients' gather and any clipping.  Their
        arrays are replaced by views into the buffer, in the variables and in the holders'
        attributes (``layer.kernel``): read weights through those after the first step, not
        through an array taken before it.  Without ``holders`` weights not yet packed are updated
        one by one, on the GPU as on the CPU.

        Args:
            params: the weights: float NumPy arrays or ``Variable``s, changed in place.
            grads: one gradient per weight, each of its weight's shape (or None to skip that weight).
            holders: the layers or models holding these weights (a model passes itself): lets the
                optimizer pack GPU weights into flat buffers and repoint the layers' attributes.

        Raises:
            ValueError: if the two lists differ in length, or a gradient's shape is not its weight's.
            TypeError: if a weight is not a float array.

        Example:

        >>> w = np.array([1.0, 2.0], dtype="float32")
        >>> tinyconv.optimizers.SGD(learning_rate=0.1).apply([w], [np.array([0.5, -0.5], dtype="float32")])
        >>> w
        array([0.95, 2.05], dtype=float32)
        """
        params, grads = list(params), list(grads)
        if any(isinstance(g, Variable) for g in grads) and not any(isinstance(p, Variable) for p in params):
            params, grads = grads, params  # Keras 3's order: apply(grads, variables)
        if len(params) != len(grads):
            raise ValueError(f"{type(self).__name__}.apply: got {len(params)} params but {len(grads)} gradients")
        weights = [p for p, g in zip(params, grads) if g is not None]  # Variables or arrays, as given
        variables = {id(p.value): p for p in params if isinstance(p, Variable)}
        params = [p.value if isinstance(p, Variable) else p for p in params]  # the arrays, updated in place
        grads = [g.value if isinstance(g, Variable) else g for g in grads]
        pairs = [(p, g) for p, g in zip(params, grads) if g is not None]
        for p, g in pairs:
            if not hasattr(p, "shape") or not hasattr(p, "dtype") or p.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}.apply: params must be float arrays, got {type(p).__name__}")
            if tuple(g.shape) != tuple(p.shape):
                raise ValueError(f"{type(self).__name__}.apply: gradient shape {tuple(g.shape)} does not match "
                                 f"parameter shape {tuple(p.shape)}")
        lr = self._current_learning_rate()
        flat = self._flat_for(weights, holders)
        if flat is not None:
            self._apply_flat(flat, weights, [g for _, g in pairs], lr)
            self.iterations += 1
            return
        grads = self._clip([g.astype(p.dtype, copy=False) for p, g in pairs])
        self._begin_step()
        for (param, _), grad in zip(pairs, grads):
            state = self._state_for(param)
            pieces = _pieces(param, grad, state) if self.elementwise else [(param, grad, state)]
            for param_piece, grad_piece, state_piece in pieces:
                if self.weight_decay:
                    param_piece -= param.dtype.type(lr * self.weight_decay) * param_piece
                self._update(param_piece, grad_piece, state_piece, lr)
            _project(variables.get(id(param), param))  # projected gradient descent: w <- constraint(w) after the step, as Keras
        self.iterations += 1

    def apply_gradients(self,
                        grads_and_vars: Iterable[tuple[DeviceArray | None, Variable | DeviceArray]]) -> None:
        """One optimisation step, Keras's spelling: the same as ``apply`` with the pairs unzipped.

        Args:
            grads_and_vars: an iterable of ``(grad, param)`` pairs; ``param`` is an array or a ``Variable``.

        Example:

        >>> v = tinyconv.Variable(np.ones(2, dtype="float32"))
        >>> tinyconv.optimizers.SGD(0.1).apply_gradients([(np.array([0.5, -0.5], dtype="float32"), v)])
        >>> v.numpy()
        array([0.95, 1.05], dtype=float32)
        """
        pairs = list(grads_and_vars)
        self.apply([v for _, v in pairs], [g for g, _ in pairs])

    def _clip(self, grads):
        """The clipped gradients, one at a time as the update loop asks for them: a clipped copy
        lives only while its weight is updated, not one copy of every gradient at once."""
        if self.clipnorm:
            return (g * (self.clipnorm / max(_norm(g), self.clipnorm)) for g in grads)
        if self.global_clipnorm:
            total = math.sqrt(sum(_norm(g) ** 2 for g in grads))
            scale = self.global_clipnorm / max(total, self.global_clipnorm)
            return (g * g.dtype.type(scale) for g in grads)
        if self.clipvalue:
            return (np.clip(g, -self.clipvalue, self.clipvalue) for g in grads)
        return iter(grads)

    def build(self, variables: Weights, holders: Sequence[Any] | None = None) -> None:
        """Create the optimizer's per-weight state now instead of at the first step (Keras 3's ``build``).

        On the GPU, with ``holders``, the weights also move into one flat buffer per dtype, with the
        slots beside them (see ``apply``).

        Args:
            variables: the weights the optimizer will update (a model's ``trainable_variables``).
            holders: the layers or models holding them as attributes (a model passes itself).

        Example:

        >>> model = tinyconv.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
        >>> optimizer = tinyconv.optimizers.Adam()
        >>> optimizer.build(model.trainable_variables, holders=[model])
        >>> optimizer.iterations   # the state exists; no step has been taken
        0
        """
        variables = list(variables)
        if self._flat_for(variables, holders) is None:
            for variable in variables:
                self._state_for(variable)

    # --- the GPU step over flat buffers ---------------------------------------------------------------------
    def _has_fused_rule(self):
        """True when this optimizer's rule has a fused kernel: the class that defines ``_update`` also
        defines ``_fused_update`` (a subclass with its own ``_update`` keeps the per-weight loop)."""
        if not self.elementwise:
            return False
        owner = {name: next((k for k in type(self).__mro__ if name in vars(k)), None)
                 for name in ("_update", "_fused_update")}
        return owner["_fused_update"] is not None and owner["_fused_update"] is owner["_update"]

    def _flat_for(self, weights, holders):
        """The flat buffers holding exactly ``weights`` (packed now if need be and ``holders`` allow
        it), with the slots in place; None where the step runs weight by weight: on the host, for a
        rule without a fused kernel, or for weights that are not packed and cannot be."""
        arrays = [w.value if isinstance(w, Variable) else w for w in weights]
        if not arrays or not all(devices.is_device_array(a) for a in arrays):
            self._flat = None  # back on the host: the device buffers can go
            return None
        if not self._has_fused_rule():
            return None
        from . import optimizer_buffers
        from .kernels.gpu import fused_update
        if not fused_update.runs_on(arrays[0]):
            return None
        flat = self._flat
        if flat is None or not flat.holds(arrays):
            if holders is None:
                return None
            flat = optimizer_buffers.FlatWeights.pack(weights, holders, previous=flat, state=self._state)
            if flat is None:
                return None
            self._flat = flat
        flat.sync_slots(self._state, self._slots, self._slot_initial_value)
        return flat

    def _apply_flat(self, flat, weights, grads, lr):
        """One step over the flat buffers: gather the gradients, clip them, one fused update per dtype,
        then each constrained weight's projection."""
        flat.gather(grads)
        self._clip_flat(flat)
        self._begin_step()
        decay = lr * self.weight_decay if self.weight_decay else 0.0
        for group in flat.groups:
            self._fused_update(group, lr, decay)
        for weight in weights:
            _project(weight)

    def _clip_flat(self, flat):
        """``_clip`` on the flat gradient buffers, in place and without a host sync (norms stay on the device)."""
        from .kernels.gpu import fused_update
        if self.clipnorm:
            for group in flat.groups:
                starts, ends, segment = group.segments()
                norms_squared = group.xp.empty(len(group.sizes), dtype=np.float64)
                fused_update.run_segment_sum_of_squares(group.grads, starts, ends, norms_squared)
                fused_update.run_elementwise(fused_update.CLIP_BY_NORM, norms_squared, segment, group.grads,
                                             clipnorm=self.clipnorm)
        elif self.global_clipnorm:
            totals = [fused_update.run_sum_of_squares(group.grads) for group in flat.groups]
            total = sum(totals[1:], totals[0]).reshape(1)
            for group in flat.groups:
                fused_update.run_elementwise(fused_update.CLIP_BY_GLOBAL_NORM, total, group.grads,
                                             clipnorm=self.global_clipnorm)
        elif self.clipvalue:
            for group in flat.groups:
                group.xp.clip(group.grads, -self.clipvalue, self.clipvalue, out=group.grads)

    def _state_for(self, param):
        param = param.value if isinstance(param, Variable) else param  # state is keyed on the array itself
        state = self._state.get(id(param))
        if state is None:
            state = {"param": param}
            state.update({slot: self._initial_slot(slot, param) for slot in self._slots})
            self._state[id(param)] = state
        return state

    def _initial_slot(self, slot, param):
        """A new state array for ``param``, filled with ``_slot_initial_value(slot)``."""
        return np.full_like(param, self._slot_initial_value(slot))

    def _slot_initial_value(self, slot):
        """Where a slot starts: 0, unless the subclass says otherwise (Adagrad)."""
        return 0.0

    def _begin_step(self):
        """Called once per ``apply`` before the per-parameter updates (Nadam keeps a running product here)."""

    def _update(self, param, grad, state, lr):
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all per-parameter state and the step count."""
        self._state.clear()
        self.iterations = 0

    # --- config --------------------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as a dict of plain values (a schedule as its serialized dict).

        Returns:
            A dict that ``from_config`` turns back into an equal optimizer.

        Example:

        >>> tinyconv.optimizers.SGD(learning_rate=0.1, momentum=0.9).get_config()["momentum"]
        0.9
        """
        lr: Any = self._learning_rate
        if schedules.is_schedule(lr):
            lr = schedules.serialize(lr)
        elif callable(lr):
            lr = self.learning_rate
        config: dict[str, Any] = {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        """A new optimizer from what ``get_config`` returned (its per-weight state starts empty).

        Args:
            config: a dict of constructor arguments.

        Example:

        >>> tinyconv.optimizers.Adam.from_config({"learning_rate": 0.01}).learning_rate
        0.01
        """
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name" and v is not None)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, Keras 3 form.

    plain:      param -= lr * g
    momentum:   m = momentum * m - lr * g;   param += m
    nesterov:   m = momentum * m - lr * g;   param += momentum * m - lr * g

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        momentum: in [0, 1]; 0 is plain gradient descent.
        nesterov: use Nesterov momentum.
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).

    Raises:
        ValueError: if ``momentum`` is outside [0, 1] or the learning rate is not positive.

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> g = np.array([0.5, -0.5], dtype="float32")
    >>> optimizer = tinyconv.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    >>> optimizer.apply([w], [g]); optimizer.apply([w], [g])   # m = -0.05, then 0.9 * m - 0.05 = -0.095
    >>> w.round(4)
    array([0.855, 2.145], dtype=float32)
    """

    elementwise = True

    def __init__(self, learning_rate: LearningRate = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str = "SGD", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not _is_number(momentum) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be a number in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._slots = ("m",) if self.momentum != 0 else ()

    def _update(self, param, grad, state, lr):
        step = param.dtype.type(lr) * grad
        if not self._slots:
            param -= step
            return
        mu = param.dtype.type(self.momentum)
        m = state["m"]
        m *= mu
        m -= step
        if self.nesterov:
            param += mu * m - step
        else:
            param += m

    def _fused_update(self, group, lr, decay):
        from .kernels.gpu import fused_update as fu
        if not self._slots:
            fu.run_elementwise(fu.SGD, group.grads, group.params, lr=lr, decay=decay)
            return
        fu.run_elementwise(fu.SGD_NESTEROV if self.nesterov else fu.SGD_MOMENTUM, group.grads, group.params,
                           group.slots["m"], lr=lr, decay=decay, momentum=self.momentum)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras 3 form, t = iterations + 1:

    m = m + (1 - beta_1) (g - m)            running mean of gradients
    v = v + (1 - beta_2) (g^2 - v)          running mean of squared gradients
    v_hat = max(v_hat, v) if amsgrad else v
    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)      bias correction folded into the step size
    param -= alpha * m / (sqrt(v_hat) + epsilon)

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        beta_1: decay of the running mean of gradients, in [0, 1).
        beta_2: decay of the running mean of squared gradients, in [0, 1).
        epsilon: added to the denominator so it is never 0.
        amsgrad: divide by the largest ``v`` seen so far (AMSGrad) instead of the current one.
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).
    Raises:
        ValueError: if an argument is out of its range (a negative rate, a beta outside [0, 1), ...).

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> tinyconv.optimizers.Adam(learning_rate=0.1).apply([w], [np.array([0.5, -0.5], dtype="float32")])
    >>> w.round(4)   # the first step moves each weight by about lr, whatever the gradient's size
    array([0.9, 2.1], dtype=float32)
    """

    elementwise = True

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, name: str = "adam", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not _is_number(value) or not 0 <= value < 1:
                raise ValueError(f"Adam: {arg} must be a number in [0, 1), got {value!r}")
        if not _is_number(epsilon) or epsilon < 0:
            raise ValueError(f"Adam: epsilon must be a non-negative number, got {epsilon!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        self._slots = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _update(self, param, grad, state, lr):
        f = param.dtype.type
        t = self.iterations + 1
        m, v = state["m"], state["v"]
        m += f(1 - self.beta_1) * (grad - m)
        v += f(1 - self.beta_2) * (grad * grad - v)
        if self.amsgrad:
            np.maximum(state["v_hat"], v, out=state["v_hat"])
            v = state["v_hat"]
        alpha = f(lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t))
        param -= m * alpha / (np.sqrt(v) + f(self.epsilon))

    def _fused_update(self, group, lr, decay):
        from .kernels.gpu import fused_update as fu
        t = self.iterations + 1
        scalars = {"alpha": lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t),
                   "one_minus_beta_1": 1 - self.beta_1, "one_minus_beta_2": 1 - self.beta_2,
                   "epsilon": self.epsilon, "decay": decay}
        slots = [group.slots[name] for name in self._slots]  # m, v (and v_hat)
        fu.run_elementwise(fu.ADAM_AMSGRAD if self.amsgrad else fu.ADAM, group.grads, group.params, *slots,
                           **scalars)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class RMSprop(Optimizer):
    """RMSprop, Keras 3 form:

    v = rho v + (1 - rho) g^2                     running mean of squared gradients
    centered: a = rho a + (1 - rho) g;  denom = v - a^2 + epsilon     (variance instead of raw 2nd moment)
    else:     denom = v + epsilon
    increment = lr g / sqrt(denom)
    momentum > 0:  mom = momentum * mom + increment;  param -= mom
    else:          param -= increment

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        rho: decay of the running mean of squared gradients, in [0, 1).
        momentum: in [0, 1]; 0 turns momentum off.
        epsilon: added under the square root so it is never 0.
        centered: divide by the gradient's estimated variance instead of its raw second moment.
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).
    Raises:
        ValueError: if an argument is out of its range (a negative rate, a beta outside [0, 1), ...).

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> tinyconv.optimizers.RMSprop(learning_rate=0.1).apply([w], [np.array([0.5, -0.5], dtype="float32")])
    >>> w.round(4)   # v = 0.1 * g^2, so the step is lr / sqrt(0.1)
    array([0.6838, 2.3162], dtype=float32)
    """

    elementwise = True

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, name: str = "rmsprop", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not _is_number(rho) or not 0 <= rho < 1:
            raise ValueError(f"RMSprop: rho must be a number in [0, 1), got {rho!r}")
        if not _is_number(momentum) or not 0 <= momentum <= 1:
            raise ValueError(f"RMSprop: momentum must be a number in [0, 1], got {momentum!r}")
        if not _is_number(epsilon) or epsilon < 0:
            raise ValueError(f"RMSprop: epsilon must be a non-negative number, got {epsilon!r}")
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self._slots = ("v",) + (("mom",) if self.momentum > 0 else ()) + (("a",) if self.centered else ())

    def _update(self, param, grad, state, lr):
        f = param.dtype.type
        rho = f(self.rho)
        v = state["v"]
        v *= rho
        v += f(1 - self.rho) * grad * grad
        if self.centered:
            a = state["a"]
            a *= rho
            a += f(1 - self.rho) * grad
            denom = v - a * a + f(self.epsilon)
        else:
            denom = v + f(self.epsilon)
        increment = f(lr) * grad / np.sqrt(denom)
        if self.momentum > 0:
            mom = state["mom"]
            mom *= f(self.momentum)
            mom += increment
            param -= mom
        else:
            param -= increment

    def _fused_update(self, group, lr, decay):
        from .kernels.gpu import fused_update as fu
        scalars = {"lr": lr, "rho": self.rho, "one_minus_rho": 1 - self.rho, "epsilon": self.epsilon, "decay": decay}
        source = {(False, False): fu.RMSPROP, (False, True): fu.RMSPROP_MOMENTUM,
                  (True, False): fu.RMSPROP_CENTERED,
                  (True, True): fu.RMSPROP_CENTERED_MOMENTUM}[self.centered, self.momentum > 0]
        if self.momentum > 0:
            scalars["momentum"] = self.momentum
        slots = [group.slots[name] for name in ("v", "a", "mom") if name in self._slots]
        fu.run_elementwise(source, group.grads, group.params, *slots, **scalars)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): before each Adam step
    ``param -= lr * weight_decay * param``.  The same as ``Adam(weight_decay=...)``, with 0.004 by default.

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        weight_decay: the decay factor, a non-negative number (not None).
        beta_1: decay of the running mean of gradients, in [0, 1).
        beta_2: decay of the running mean of squared gradients, in [0, 1).
        epsilon: added to the denominator so it is never 0.
        amsgrad: divide by the largest ``v`` seen so far (AMSGrad).
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).

    Raises:
        ValueError: if ``weight_decay`` is None or negative, or another argument is out of its range.

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> tinyconv.optimizers.AdamW(learning_rate=0.1, weight_decay=0.01).apply(
    ...     [w], [np.array([0.5, -0.5], dtype="float32")])
    >>> w.round(4)   # Adam's step of 0.1, after shrinking w by lr * weight_decay = 0.1%
    array([0.899, 2.098], dtype=float32)
    """

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, name: str = "adam_w",
                 **kwargs: Any) -> None:
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number, got None")
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, name=name, **kwargs)


class Adadelta(Optimizer):
    """Adadelta (Zeiler), Keras 3 form: the step size adapts from running means of g^2 and of past steps.

    acc_grad  = rho acc_grad + (1 - rho) g^2
    step      = -sqrt(acc_step + epsilon) / sqrt(acc_grad + epsilon) * g
    acc_step  = rho acc_step + (1 - rho) step^2
    param    += lr * step

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        rho: decay of both running means, in [0, 1).
        epsilon: added under the square roots so they are never 0.
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).
    Raises:
        ValueError: if an argument is out of its range (a negative rate, a beta outside [0, 1), ...).

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> tinyconv.optimizers.Adadelta(learning_rate=1.0).apply([w], [np.array([0.5, -0.5], dtype="float32")])
    >>> w.round(5)   # the first steps are tiny: acc_step starts at 0
    array([0.99859, 2.00141], dtype=float32)
    """

    elementwise = True
    _slots = ("acc_grad", "acc_step")

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 name: str = "adadelta", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not _is_number(rho) or not 0 <= rho < 1:
            raise ValueError(f"Adadelta: rho must be a number in [0, 1), got {rho!r}")
        _check_epsilon("Adadelta", epsilon)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, param, grad, state, lr):
        f = param.dtype.type
        rho, eps = f(self.rho), f(self.epsilon)
        acc_grad, acc_step = state["acc_grad"], state["acc_step"]
        acc_grad *= rho
        acc_grad += (1 - rho) * grad * grad
        step = -np.sqrt(acc_step + eps) / np.sqrt(acc_grad + eps) * grad
        acc_step *= rho
        acc_step += (1 - rho) * step * step
        param += f(lr) * step

    def _fused_update(self, group, lr, decay):
        from .kernels.gpu import fused_update as fu
        fu.run_elementwise(fu.ADADELTA, group.grads, group.params, group.slots["acc_grad"], group.slots["acc_step"],
                           lr=lr, rho=self.rho, epsilon=self.epsilon, decay=decay)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), Keras 3 form: each weight's step shrinks with its summed squared gradients.

    acc    = acc + g^2                    (acc starts at initial_accumulator_value, not 0)
    param -= lr * g / sqrt(acc + epsilon)

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        initial_accumulator_value: where each ``acc`` starts, a non-negative number.
        epsilon: added under the square root so it is never 0.
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).
    Raises:
        ValueError: if an argument is out of its range (a negative rate, a beta outside [0, 1), ...).

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> tinyconv.optimizers.Adagrad(learning_rate=0.1).apply([w], [np.array([0.5, -0.5], dtype="float32")])
    >>> w.round(4)   # acc = 0.1 + 0.25, step = 0.1 * 0.5 / sqrt(0.35)
    array([0.9155, 2.0845], dtype=float32)
    """

    elementwise = True
    _slots = ("acc",)

    def __init__(self, learning_rate: LearningRate = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, name: str = "adagrad", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not _is_number(initial_accumulator_value) or initial_accumulator_value < 0:
            raise ValueError(f"Adagrad: initial_accumulator_value must be a non-negative number, "
                             f"got {initial_accumulator_value!r}")
        _check_epsilon("Adagrad", epsilon)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value

    def _update(self, param, grad, state, lr):
        f = param.dtype.type
        acc = state["acc"]
        acc += grad * grad
        param -= f(lr) * grad / np.sqrt(acc + f(self.epsilon))

    def _fused_update(self, group, lr, decay):
        from .kernels.gpu import fused_update as fu
        fu.run_elementwise(fu.ADAGRAD, group.grads, group.params, group.slots["acc"], lr=lr, epsilon=self.epsilon,
                           decay=decay)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax (Kingma & Ba, sec. 7), Keras 3 form, t = iterations + 1: Adam with an infinity norm.

    m = m + (1 - beta_1) (g - m)            running mean of gradients
    u = max(beta_2 u, |g|)                  decaying maximum of |g|
    param -= lr * m / ((1 - beta_1^t) (u + epsilon))

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        beta_1: decay of the running mean of gradients, in [0, 1).
        beta_2: decay of the running maximum of ``|g|``, in [0, 1).
        epsilon: added to the denominator so it is never 0.
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).
    Raises:
        ValueError: if an argument is out of its range (a negative rate, a beta outside [0, 1), ...).

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> tinyconv.optimizers.Adamax(learning_rate=0.1).apply([w], [np.array([0.5, -0.5], dtype="float32")])
    >>> w.round(4)
    array([0.9, 2.1], dtype=float32)
    """

    elementwise = True
    _slots = ("m", "u")

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "adamax", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2 = _check_betas("Adamax", beta_1, beta_2)
        _check_epsilon("Adamax", epsilon)
        self.epsilon = float(epsilon)

    def _update(self, param, grad, state, lr):
        f = param.dtype.type
        t = self.iterations + 1
        m, u = state["m"], state["u"]
        m += f(1 - self.beta_1) * (grad - m)
        np.maximum(f(self.beta_2) * u, np.abs(grad), out=u)
        param -= f(lr) * m / (f(1 - self.beta_1 ** t) * (u + f(self.epsilon)))

    def _fused_update(self, group, lr, decay):
        from .kernels.gpu import fused_update as fu
        t = self.iterations + 1
        fu.run_elementwise(fu.ADAMAX, group.grads, group.params, group.slots["m"], group.slots["u"], lr=lr,
                           one_minus_beta_1=1 - self.beta_1, beta_2=self.beta_2,
                           bias_correction=1 - self.beta_1 ** t, epsilon=self.epsilon, decay=decay)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam (Dozat): Adam with Nesterov momentum, Keras 3 form, t = iterations + 1.

    The momentum coefficient warms up: mu_t = beta_1 (1 - 0.5 * 0.96^t), and ``mu_product`` is the product
    mu_1 ... mu_t (kept once per step, shared by all weights).

    m = m + (1 - beta_1) (g - m);   v = v + (1 - beta_2) (g^2 - v)
    m_hat = mu_{t+1} m / (1 - mu_product * mu_{t+1}) + (1 - mu_t) g / (1 - mu_product)   look one step ahead
    v_hat = v / (1 - beta_2^t)
    param -= lr * m_hat / (sqrt(v_hat) + epsilon)

    Args:
        learning_rate: a positive number or a ``LearningRateSchedule``.
        beta_1: decay of the running mean of gradients, in [0, 1).
        beta_2: decay of the running mean of squared gradients, in [0, 1).
        epsilon: added to the denominator so it is never 0.
        name: the optimizer's name.
        **kwargs: the base ``Optimizer``'s arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``; Keras 2's ``lr`` and ``decay``).
    Raises:
        ValueError: if an argument is out of its range (a negative rate, a beta outside [0, 1), ...).

    Example:

    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> tinyconv.optimizers.Nadam(learning_rate=0.1).apply([w], [np.array([0.5, -0.5], dtype="float32")])
    >>> w.round(4)
    array([0.8937, 2.1063], dtype=float32)
    """

    elementwise = True
    _slots = ("m", "v")

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "nadam", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2 = _check_betas("Nadam", beta_1, beta_2)
        _check_epsilon("Nadam", epsilon)
        self.epsilon = float(epsilon)
        self._mu_product = 1.0

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _begin_step(self):
        self._mu_product *= self._mu(self.iterations + 1)

    def _update(self, param, grad, state, lr):
        f = param.dtype.type
        t = self.iterations + 1
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        m, v = state["m"], state["v"]
        m += f(1 - self.beta_1) * (grad - m)
        v += f(1 - self.beta_2) * (grad * grad - v)
        m_hat = f(mu_next / (1 - self._mu_product * mu_next)) * m + f((1 - mu_t) / (1 - self._mu_product)) * grad
        v_hat = v / f(1 - self.beta_2 ** t)
        param -= f(lr) * m_hat / (np.sqrt(v_hat) + f(self.epsilon))

    def _fused_update(self, group, lr, decay):
        from .kernels.gpu import fused_update as fu
        t = self.iterations + 1
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        fu.run_elementwise(fu.NADAM, group.grads, group.params, group.slots["m"], group.slots["v"], lr=lr,
                           one_minus_beta_1=1 - self.beta_1, one_minus_beta_2=1 - self.beta_2,
                           momentum_weight=mu_next / (1 - self._mu_product * mu_next),
                           gradient_weight=(1 - mu_t) / (1 - self._mu_product),
                           bias_correction_2=1 - self.beta_2 ** t, epsilon=self.epsilon, decay=decay)

    def reset(self) -> None:
        super().reset()
        self._mu_product = 1.0

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


# The update rules build temporaries as big as the arrays they are given (lr * g, g - m,
# sqrt(v) + epsilon, ...): on a whole 100 MB Dense kernel, several 100 MB arrays at once.  So a
# weight is updated a piece of UPDATE_PIECE elements at a time.  Every rule is elementwise, so
# the numbers are exactly those of one whole-array update.
UPDATE_PIECE = 1 << 16


# --- weight constraints --------------------------------------------------------------------------------------
def _project(param):
    """Projected gradient descent, as Keras's optimizer: a weight with a ``constraint`` (a layer's
    ``kernel_constraint=...``, or ``add_weight(constraint=...)``) is replaced by ``constraint(w)`` right
    after its update, in a training step and in a custom loop alike."""
    constraint = getattr(param, "constraint", None)
    if constraint is not None:
        array = getattr(param, "value", param)  # a Variable's array, updated in place
        array[...] = constraint(array)


def _pieces(param, grad, state):
    """(param, grad, state) for consecutive pieces of the flattened arrays.

    The pieces are views, so what the rule does in place to a piece lands in the weight and
    in its state arrays.  A small weight, or one whose arrays are not all C-contiguous (they
    then have no flat view), comes back whole.
    """
    slots = {name: value for name, value in state.items()
             if name != "param" and getattr(value, "shape", None) == param.shape}
    arrays = [param, grad, *slots.values()]
    if param.size <= UPDATE_PIECE or not all(a.flags.c_contiguous for a in arrays):
        yield param, grad, state
        return
    flat_param, flat_grad = param.reshape(-1), grad.reshape(-1)
    flat_slots = {name: value.reshape(-1) for name, value in slots.items()}
    for start in range(0, param.size, UPDATE_PIECE):
        piece = slice(start, start + UPDATE_PIECE)
        piece_state = dict(state, param=flat_param[piece])
        piece_state.update({name: flat[piece] for name, flat in flat_slots.items()})
        yield flat_param[piece], flat_grad[piece], piece_state


def _check_betas(optimizer_name, beta_1, beta_2):
    for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
        if not _is_number(value) or not 0 <= value < 1:
            raise ValueError(f"{optimizer_name}: {arg} must be a number in [0, 1), got {value!r}")
    return float(beta_1), float(beta_2)


def _check_epsilon(optimizer_name, epsilon):
    if not _is_number(epsilon) or epsilon < 0:
        raise ValueError(f"{optimizer_name}: epsilon must be a non-negative number, got {epsilon!r}")


def _is_number(x: object) -> TypeGuard[float]:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _norm(g):
    return float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adamw": AdamW, "adadelta": Adadelta,
            "adagrad": Adagrad, "adamax": Adamax, "nadam": Nadam}
serialization.register("optimizers", {**{cls.__name__: cls for cls in _BY_NAME.values()}, "Optimizer": Optimizer})


def get(identifier: str | Optimizer | type[Optimizer] | dict[str, Any]) -> Optimizer:
    """An Optimizer from a name such as 'sgd' / 'adam' / 'nadam' (any case), a config dict, an instance or a
    class.

    Args:
        identifier: a name, a ``{"class_name": ..., "config": ...}`` dict, an ``Optimizer`` (returned as it
            is) or an ``Optimizer`` subclass (instantiated with its defaults).

    Returns:
        An ``Optimizer``.

    Raises:
        ValueError: for an unknown name or anything else it cannot interpret.

    Example:

    >>> tinyconv.optimizers.get("Adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return get(identifier["class_name"]).from_config(identifier.get("config", {}))
    if inspect.isclass(identifier) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """An optimizer as a ``{"class_name": ..., "config": ...}`` dict that ``deserialize`` reads back.

    Args:
        optimizer: an ``Optimizer``.

    Returns:
        A dict of plain values (JSON-serialisable).

    Example:

    >>> tinyconv.optimizers.serialize(tinyconv.optimizers.SGD(learning_rate=0.1))["config"]["learning_rate"]
    0.1
    """
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any] | str | Optimizer) -> Optimizer:
    """An optimizer from what ``serialize`` returned (or anything ``get`` accepts).

    Args:
        config: a ``{"class_name": ..., "config": ...}`` dict.

    Returns:
        A new ``Optimizer``.

    Raises:
        ValueError: if ``config`` names no known optimizer.

    Example:

    >>> tinyconv.optimizers.deserialize({"class_name": "SGD", "config": {"momentum": 0.9}}).momentum
    0.9
    """
    return get(config)


class LearningRateHandle:
    """Stands for an optimizer's learning rate where Keras 2 scripts expect a variable:
    ``K.set_value(model.optimizer.lr, 1e-4)``, ``model.optimizer.lr.assign(1e-4)``, ``float(optimizer.lr)``.

    Args:
        optimizer: the optimizer whose learning rate it stands for (``optimizer.lr`` makes one).

    Example:

    >>> optimizer = tinyconv.optimizers.SGD(learning_rate=0.1)
    >>> optimizer.lr.assign(0.05)
    >>> optimizer.learning_rate, float(optimizer.lr), optimizer.lr == 0.05
    (0.05, 0.05, True)
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer

    def assign(self, value: float) -> None:
        """Set the optimizer's learning rate.

        Args:
            value: the new rate, a positive number.

        Raises:
            ValueError: if ``value`` is not positive.
            TypeError: if the optimizer's rate is a schedule (it cannot be set).
        """
        self._optimizer.learning_rate = float(value)

    def numpy(self) -> np.float32:
        """The learning rate as a NumPy float32, as a Keras variable's ``numpy()`` gives it."""
        return np.float32(self._optimizer.learning_rate)

    def __float__(self) -> float:
        return float(self._optimizer.learning_rate)

    # It reads as the number it stands for: lr == 0.01, lr * 0.1, lr < 1e-3.
    def __eq__(self, other: object) -> bool:
        return float(self) == other

    def __lt__(self, other: float) -> bool:
        return float(self) < other

    def __gt__(self, other: float) -> bool:
        return float(self) > other

    def __mul__(self, other: float) -> float:
        return float(self) * other

    __rmul__ = __mul__
    __hash__: ClassVar[None]  # type: ignore[assignment]  # (unhashable, as a number-like that defines __eq__)
    __hash__ = None

    def __repr__(self) -> str:
        return f"<learning rate of {type(self._optimizer).__name__}: {self._optimizer.learning_rate}>"
