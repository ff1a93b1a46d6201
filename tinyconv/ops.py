"""The dispatch table: one name per kernel, implemented by the active kernel set.

Layers call ``ops.conv2d_forward(...)`` and never import a kernel module themselves, so
``layers/conv.py`` reads as the maths of the layer and ``kernels/reference/conv.py`` as the
loops.  Two kernel sets exist on the CPU:

* ``"cpu"``: Cython + OpenMP (the default whenever the compiled extensions are importable);
* ``"reference"``: plain NumPy, the readable twin and the test oracle.

Switch globally with ``set_kernels("reference")`` or for a block with
``with use_kernels("reference"): ...``.
"""
import contextlib
import importlib
import warnings

KERNEL_NAMES = (
    "conv2d_forward",
    "conv2d_backward",
    "conv3d_forward",
    "conv3d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "max_pool3d_forward",
    "max_pool3d_backward",
    "avg_pool3d_forward",
    "avg_pool3d_backward",
    "min_pool2d_forward",
    "lp_pool2d_forward",
    "lp_pool2d_backward",
    "logsumexp_pool2d_forward",
    "logsumexp_pool2d_backward",
    "weighted_pool2d_forward",
    "weighted_pool2d_backward",
    "upsample2d_nearest_forward",
    "upsample2d_nearest_backward",
    "upsample2d_bilinear_forward",
    "upsample2d_bilinear_backward",
    "batch_norm_forward_train",
    "batch_norm_forward_infer",
    "batch_norm_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    "group_norm_forward",
    "group_norm_backward",
    "lrn_forward",
    "lrn_backward",
    "locally_connected2d_forward",
    "locally_connected2d_backward",
    "tiled_conv2d_forward",
    "tiled_conv2d_backward",
    "activation_forward",
    "activation_backward",
    "bias_gradient",
)

# "gpu": the kernels of the GPU backend (tinyconv.kernels.gpu), selected by backend.set_device("gpu");
# set_kernels("gpu") on its own runs them with NumPy (kernels.gpu.use_array_module) for testing.
_MODULES = {"cpu": "tinyconv.kernels.cpu", "reference": "tinyconv.kernels.reference",
            "gpu": "tinyconv.kernels.gpu"}
_active = None
_active_name = None


def _load(name):
    if name not in _MODULES:
        raise ValueError(f"unknown kernel set {name!r}; choose one of {sorted(_MODULES)}")
    return importlib.import_module(_MODULES[name])


def compiled_kernels_available():
    try:
        _load("cpu")
        return True
    except ImportError:
        return False


def set_kernels(name):
    """Make ``name`` ('cpu', 'reference' or 'gpu') the kernel set every layer uses."""
    global _active, _active_name
    _active = _load(name)
    _active_name = name


def active_kernels():
    """Name of the kernel set in use."""
    _ensure_loaded()
    return _active_name


@contextlib.contextmanager
def use_kernels(name):
    """Run a block with another kernel set, then restore the previous one."""
    previous = active_kernels()
    set_kernels(name)
    try:
        yield
    finally:
        set_kernels(previous)


def _ensure_loaded():
    if _active is None:
        try:
            set_kernels("cpu")
        except ImportError as error:
            warnings.warn(
                f"tinyconv: compiled kernels are not importable ({error}); using the NumPy reference "
                "kernels, which are much slower. Reinstall with `pip install .` to build them.",
                RuntimeWarning,
                stacklevel=3,
            )
            set_kernels("reference")


def _make_dispatcher(kernel_name):
    def dispatch(*args, **kwargs):
        _ensure_loaded()
        return getattr(_active, kernel_name)(*args, **kwargs)

    dispatch.__name__ = kernel_name
    dispatch.__doc__ = f"``{kernel_name}`` of the active kernel set (see tinyconv.kernels)."
    return dispatch


for _name in KERNEL_NAMES:
    globals()[_name] = _make_dispatcher(_name)
del _name
