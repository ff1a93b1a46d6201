"""Global settings, as Keras 3's ``keras.config``.

    import tinyconv as keras
    keras.config.set_floatx("float64")
    keras.config.enable_unsafe_deserialization()

``floatx``, ``epsilon`` and ``image_data_format`` are ``tinyconv.backend``'s own settings (the same state,
not a copy).  The settings kept here are those that have no home in the backend: safe mode for loading
files, traceback filtering, and the caps on epochs and steps that let a long script run quickly
(``set_max_epochs(1)``, ``set_max_steps_per_epoch(2)``: ``fit``, ``evaluate`` and ``predict`` honour them).

Names of ``keras.config`` that do not apply here: ``set_backend`` (tinyconv computes with NumPy, or CuPy
after ``tinyconv.backend.set_device("gpu")``), the flash-attention and JAX NNX switches (no attention
layers, no JAX) and the interactive-logging switches (tinyconv's progress display already turns into one
line per epoch when the output is not a terminal).
"""
from .backend import backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx, set_image_data_format

__all__ = ["backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx", "set_image_data_format",
           "disable_traceback_filtering", "enable_traceback_filtering", "is_traceback_filtering_enabled",
           "enable_unsafe_deserialization", "unsafe_deserialization_enabled", "safe_mode_for", "dtype_policy",
           "set_dtype_policy", "max_epochs", "set_max_epochs", "max_steps_per_epoch", "set_max_steps_per_epoch"]

_STATE = {"traceback_filtering": True, "unsafe_deserialization": False, "max_epochs": None,
          "max_steps_per_epoch": None}


# ------------------------------------------------------------------ tracebacks
def enable_traceback_filtering():
    """Keras hides its own frames from tracebacks when this is on (the default).

    tinyconv never rewrites a traceback: its frames are plain Python worth reading.  The setting is
    kept so that scripts which switch it (and read it back) run unchanged.

    Example:

    >>> tinyconv.config.disable_traceback_filtering()
    >>> tinyconv.config.is_traceback_filtering_enabled()
    False
    >>> tinyconv.config.enable_traceback_filtering()
    >>> tinyconv.config.is_traceback_filtering_enabled()
    True
    """
    _STATE["traceback_filtering"] = True


def disable_traceback_filtering():
    """Turn Keras's traceback filtering off (see ``enable_traceback_filtering``)."""
    _STATE["traceback_filtering"] = False


def is_traceback_filtering_enabled():
    """The traceback-filtering setting (True by default, as in Keras).

    Returns:
        A bool.
    """
    return _STATE["traceback_filtering"]


# ------------------------------------------------------------------ safe mode
def enable_unsafe_deserialization():
    """Allow loading what safe mode refuses (a ``Lambda`` layer's Python code), for the whole process.

    As in Keras this overrides ``load_model(..., safe_mode=True)``: after it, every load is unsafe.  Only
    call it for files you trust: loading them may run their code.

    Example:

    >>> tinyconv.config.unsafe_deserialization_enabled()
    False
    >>> tinyconv.config.enable_unsafe_deserialization()
    >>> tinyconv.config.safe_mode_for(True)
    False
    >>> tinyconv.config._STATE["unsafe_deserialization"] = False  # (back to safe, for the other examples)
    """
    _STATE["unsafe_deserialization"] = True


def unsafe_deserialization_enabled():
    """True after ``enable_unsafe_deserialization()``.

    Returns:
        A bool.
    """
    return _STATE["unsafe_deserialization"]


def safe_mode_for(safe_mode=True):
    """The safe mode a loader must apply, given the ``safe_mode`` argument it received: False whenever
    ``enable_unsafe_deserialization()`` was called (Keras's global setting wins), else ``safe_mode``.

    Args:
        safe_mode: the loader's argument (``load_model(..., safe_mode=...)``); None means True.

    Returns:
        A bool: True when code from a file must be refused.

    Example:

    >>> tinyconv.config.safe_mode_for(True), tinyconv.config.safe_mode_for(False)
    (True, False)
    """
    if _STATE["unsafe_deserialization"]:
        return False
    return True if safe_mode is None else bool(safe_mode)


# ------------------------------------------------------------------ dtype policy
def dtype_policy():
    """The dtype of new layers' weights and computations: Keras's policy name, here ``floatx()``.

    Returns:
        ``"float32"`` or ``"float64"`` (Keras returns a ``DTypePolicy`` object of that name).

    Example:

    >>> tinyconv.config.dtype_policy()
    'float32'
    """
    return floatx()


def set_dtype_policy(policy):
    """Set the dtype new layers use: ``"float32"`` or ``"float64"`` (``set_floatx``).

    Args:
        policy: a policy name, or an object with a ``name`` attribute (a Keras ``DTypePolicy``).

    Raises:
        ValueError: for a mixed-precision policy (``"mixed_float16"``...), which tinyconv does not have.
    """
    name = getattr(policy, "name", policy)
    if name not in ("float32", "float64"):
        raise ValueError(f"set_dtype_policy: tinyconv computes in one float type, 'float32' or 'float64'; got "
                         f"{name!r} (mixed precision is not supported)")
    set_floatx(name)


# ------------------------------------------------------------------ caps for quick runs
def _check_cap(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int or None, got {value!r}")
    return value


def set_max_epochs(max_epochs):
    """Cap the number of epochs every ``fit`` runs (None: no cap), e.g. to try a long script quickly.

    Args:
        max_epochs: a positive int, or None.

    Raises:
        ValueError: for anything else.

    Example:

    >>> tinyconv.config.set_max_epochs(1)
    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> len(model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=50, verbose=0).history["loss"])
    1
    >>> tinyconv.config.set_max_epochs(None)
    """
    _STATE["max_epochs"] = _check_cap(max_epochs, "set_max_epochs: max_epochs")


def max_epochs():
    """The cap set by ``set_max_epochs`` (None when there is none)."""
    return _STATE["max_epochs"]


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the batches of every epoch of ``fit`` and of every ``evaluate`` / ``predict`` (None: no cap).

    Args:
        max_steps_per_epoch: a positive int, or None.

    Raises:
        ValueError: for anything else.

    Example:

    >>> tinyconv.config.set_max_steps_per_epoch(2)
    >>> model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    >>> model.predict(np.ones((100, 2)), batch_size=10, verbose=0).shape  # two batches of 10
    (20, 1)
    >>> tinyconv.config.set_max_steps_per_epoch(None)
    """
    _STATE["max_steps_per_epoch"] = _check_cap(max_steps_per_epoch, "set_max_steps_per_epoch: max_steps_per_epoch")


def max_steps_per_epoch():
    """The cap set by ``set_max_steps_per_epoch`` (None when there is none)."""
    return _STATE["max_steps_per_epoch"]
