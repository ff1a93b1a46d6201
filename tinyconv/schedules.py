"""Learning-rate schedules: the learning rate as a function of the optimizer's step count.

Pass one as ``learning_rate`` and the optimizer evaluates it at ``optimizer.iterations`` (0 on the first
step) before every update, as Keras 3 does.  Reachable as ``tinyconv.optimizers.schedules``, Keras's path.

    lr = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)     lr(step) = 0.1 * 0.5 ** (step / 100)
    optimizer = tinyconv.optimizers.SGD(learning_rate=lr)
"""
import math


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``.

    Example:

    >>> class Halving(tinyconv.optimizers.schedules.LearningRateSchedule):
    ...     def __call__(self, step):
    ...         return 0.1 * 0.5 ** (step // 10)
    ...     def get_config(self):
    ...         return {}
    >>> optimizer = tinyconv.optimizers.SGD(learning_rate=Halving())
    >>> optimizer.iterations = 20
    >>> optimizer.learning_rate
    0.025
    """

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override __call__(step)")

    def get_config(self):
        """The constructor arguments as a dict, for saving; ``from_config`` reads it back.

        Raises:
            NotImplementedError: in the base class: a subclass must define it.
        """
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override get_config()")

    @classmethod
    def from_config(cls, config):
        """A new schedule from what ``get_config`` returned.

        Args:
            config: a dict of constructor arguments.

        Example:

        >>> schedules = tinyconv.optimizers.schedules
        >>> schedules.ExponentialDecay.from_config({"initial_learning_rate": 0.1, "decay_steps": 10,
        ...                                         "decay_rate": 0.5})(10)
        0.05
        """
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _check_decay_steps(schedule_name, decay_steps):
    if not decay_steps > 0:
        raise ValueError(f"{schedule_name}: decay_steps must be > 0, got decay_steps={decay_steps!r}")


class _DecayOverSteps(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments, their config, and the progress

        p = step / decay_steps   (rounded down with ``staircase=True``, so the rate changes in steps)

    Subclasses turn p into a rate in ``__call__``.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        _check_decay_steps(type(self).__name__, decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def _progress(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_DecayOverSteps):
    """lr(step) = initial_learning_rate * decay_rate ** p,   p = step / decay_steps

    With ``staircase=True`` p is rounded down, so the rate drops in steps every ``decay_steps`` steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: how many steps it takes to multiply the rate by ``decay_rate``; must be > 0.
        decay_rate: the factor per ``decay_steps`` steps.
        staircase: round p down, so the rate is constant between multiples of ``decay_steps``.
        name: the schedule's name.

    Raises:
        ValueError: if ``decay_steps`` is not > 0.

    Example:

    >>> lr = tinyconv.optimizers.schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    >>> lr(0), lr(100), round(lr(150), 4)
    (0.1, 0.05, 0.0354)
    >>> stairs = tinyconv.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5, staircase=True)
    >>> stairs(150)
    0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """A step function: ``values[0]`` while step <= boundaries[0], ``values[i]`` while
    boundaries[i-1] < step <= boundaries[i], and ``values[-1]`` after the last boundary.

    Args:
        boundaries: increasing step numbers where the rate changes.
        values: the rates, one more than ``boundaries``.
        name: the schedule's name.

    Raises:
        ValueError: if ``values`` is not one longer than ``boundaries``, or ``boundaries`` is not increasing.

    Example:

    >>> lr = tinyconv.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001])
    >>> lr(10), lr(11), lr(21)
    (0.1, 0.01, 0.001)
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: the length of boundaries should be 1 less than the length "
                             f"of values, got {len(boundaries)} boundaries and {len(values)} values")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be increasing, got {list(boundaries)}")
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class InverseTimeDecay(_DecayOverSteps):
    """lr(step) = initial_learning_rate / (1 + decay_rate * p),   p = step / decay_steps

    (``staircase=True`` rounds p down.)

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: the unit of p, in steps; must be > 0.
        decay_rate: how fast the rate falls.
        staircase: round p down, so the rate is constant between multiples of ``decay_steps``.
        name: the schedule's name.

    Raises:
        ValueError: if ``decay_steps`` is not > 0.

    Example:

    >>> lr = tinyconv.optimizers.schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=1.0)
    >>> lr(0), lr(10), lr(30)
    (0.1, 0.05, 0.025)
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class CosineDecay(LearningRateSchedule):
    """Half a cosine from a peak rate down to ``alpha * peak`` over ``decay_steps`` steps, then flat.

    cosine(s) = 0.5 * (1 + cos(pi * min(s, decay_steps) / decay_steps))
    decayed(s) = peak * ((1 - alpha) * cosine(s) + alpha)

    Without warmup the peak is ``initial_learning_rate`` and s = step.  With ``warmup_target`` the rate first
    climbs linearly from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps`` steps, then decays
    from ``warmup_target`` with s = step - warmup_steps.

    Args:
        initial_learning_rate: the peak rate, or with ``warmup_target`` the rate the warmup starts from.
        decay_steps: how many steps the half cosine takes; must be > 0.
        alpha: the final rate as a fraction of the peak.
        name: the schedule's name.
        warmup_target: if set, the peak rate reached at the end of the warmup.
        warmup_steps: how many steps the linear warmup takes.

    Raises:
        ValueError: if ``decay_steps`` is not > 0.

    Example:

    >>> lr = tinyconv.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    >>> lr(0), round(lr(50), 4), lr(100), lr(200)
    (0.1, 0.05, 0.0, 0.0)
    >>> warm = tinyconv.optimizers.schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    >>> warm(5), warm(10), round(warm(60), 4)
    (0.05, 0.1, 0.05)
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _check_decay_steps("CosineDecay", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target

    def _decayed(self, step, peak):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = float(step)
        if self.warmup_target is None:
            return self._decayed(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            climbed = step / self.warmup_steps
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * climbed
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_BY_NAME = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, InverseTimeDecay, CosineDecay)}


def serialize(schedule):
    """A schedule as a ``{"class_name": ..., "config": ...}`` dict, which ``deserialize`` reads back.

    Args:
        schedule: a ``LearningRateSchedule``.

    Returns:
        A dict of plain values.

    Example:

    >>> schedules = tinyconv.optimizers.schedules
    >>> schedules.serialize(schedules.PiecewiseConstantDecay([10], [0.1, 0.01]))
    {'class_name': 'PiecewiseConstantDecay', 'config': {'boundaries': [10], 'values': [0.1, 0.01], 'name': 'PiecewiseConstant'}}
    """
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """A schedule from ``{"class_name": ..., "config": {...}}``.

    Args:
        config: a dict from ``serialize``, or a schedule (returned as it is).

    Returns:
        A ``LearningRateSchedule``.

    Raises:
        ValueError: if ``config`` is not such a dict or names no built-in schedule.

    Example:

    >>> schedules = tinyconv.optimizers.schedules
    >>> schedules.deserialize({"class_name": "InverseTimeDecay",
    ...                        "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 1.0}})
    InverseTimeDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=1.0, staircase=False)
    """
    if isinstance(config, LearningRateSchedule):
        return config
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret learning rate schedule config: {config!r}")
    cls = _BY_NAME.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown learning rate schedule {config['class_name']!r}. "
                         f"Valid names: {', '.join(sorted(_BY_NAME))}")
    return cls.from_config(config.get("config", {}))


def is_schedule(value):
    """True for a LearningRateSchedule instance.

    Args:
        value: anything.

    Example:

    >>> schedules = tinyconv.optimizers.schedules
    >>> schedules.is_schedule(schedules.CosineDecay(0.1, 100)), schedules.is_schedule(0.1)
    (True, False)
    """
    return isinstance(value, LearningRateSchedule)
