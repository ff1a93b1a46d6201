"""The kernel dispatch: one function per kernel, run by the active kernel set.

Layers call ``dispatch.conv2d_forward(...)`` and never import a kernel module themselves, so
``layers/conv.py`` reads as the maths of the layer and ``kernels/reference/conv.py`` as the
loops.  Three kernel sets implement every name below with the same signature:

* ``"cpu"``: Cython + OpenMP (``tinyconv/kernels/cpu``; the default whenever it is built);
* ``"reference"``: plain NumPy, the readable twin and the test oracle (``tinyconv/kernels/reference``);
* ``"gpu"``: written against an array module, CuPy on an NVIDIA GPU (``tinyconv/kernels/gpu``).

Switch for the whole program with ``tinyconv.backend.set_kernels("reference")``, or for a block
with ``with tinyconv.backend.use_kernels("reference"): ...``; ``backend.set_device("gpu")``
selects the GPU set.  Every function here is explicit, so an editor's "go to definition" on a
layer's kernel call lands on it, and one more jump reaches the kernel set's file.

This module is a leaf of the package: it imports no other part of tinyconv at import time
(a kernel set is imported when it is first selected).
"""
import contextlib
import importlib
import os
import warnings

KERNEL_SETS = {"cpu": "tinyconv.kernels.cpu", "reference": "tinyconv.kernels.reference",
               "gpu": "tinyconv.kernels.gpu"}

_active = None          # the module of the active kernel set, loaded on first use
_active_name = None


# --- choosing the kernel set ------------------------------------------------------------------

def _load(name):
    if name not in KERNEL_SETS:
        raise ValueError(f"unknown kernel set {name!r}; choose one of {sorted(KERNEL_SETS)}")
    return importlib.import_module(KERNEL_SETS[name])


def compiled_kernels_available():
    """True when the Cython kernels were built and import."""
    try:
        _load("cpu")
        return True
    except ImportError:
        return False


def set_kernels(name, array_module=None):
    """Make ``name`` ('cpu', 'reference' or 'gpu') the kernel set every layer uses.

    ``array_module``: for the GPU set, the array library its kernels compute with (CuPy, as
    ``backend.set_device("gpu")`` passes; NumPy, the default, runs them on the CPU for tests)."""
    global _active, _active_name
    module = _load(name)
    if array_module is not None:
        if name != "gpu":
            raise ValueError(f"set_kernels: only the 'gpu' kernel set takes an array module, not {name!r}")
        module.use_array_module(array_module)
    _active = module
    _active_name = name


def active_kernels():
    """The name of the kernel set in use."""
    _kernels()
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


def _kernels():
    """The active kernel set's module: the compiled one unless another was chosen."""
    if _active is None:
        try:
            set_kernels("cpu")
        except ImportError as error:
            warnings.warn(
                f"tinyconv: compiled kernels are not importable ({error}); using the NumPy reference "
                f"kernels, which are much slower. {missing_kernels_advice()}",
                RuntimeWarning,
                stacklevel=3,
            )
            set_kernels("reference")
    return _active


def _has_compiled_modules(folder):
    return any(name.endswith((".so", ".pyd")) for _, _, names in os.walk(folder) for name in names)


def missing_kernels_advice(package_dir=os.path.dirname(os.path.abspath(__file__))):
    """What to do when the compiled kernels do not import, judged by where tinyconv was imported from.

    The common trap: after ``pip install .`` (a copy in site-packages, kernels compiled there),
    Python started in the clone's root imports the source folder first, which has no compiled
    kernels; reinstalling does not help, moving out of the folder does."""
    source_root = os.path.dirname(package_dir)
    if not os.path.exists(os.path.join(source_root, "setup.py")):
        return "Reinstall with `pip install .` from a clone (it needs a C compiler) to build them."
    if _has_compiled_modules(os.path.join(package_dir, "kernels", "cpu")):
        return ("They were built for another Python or are out of date: rebuild them with `pip install -e .` "
                f"(or `make install`) in {source_root}.")
    return (f"tinyconv was imported from the source folder {source_root}, where the kernels were never "
            "compiled. If you installed it with `pip install .`, run Python from another folder (the "
            "current folder comes first on the import path and hides the installed copy); to work in the "
            "clone itself, build the kernels there with `pip install -e .` (or `make install`).")


# --- what a kernel keeps between a layer's forward and backward ---------------------------------

class KernelCache:
    """Opaque to layers: what the active kernel set keeps from one forward call for its backward.

    A layer makes one per forward call, handing over the cache of its previous, finished step
    (``KernelCache(recycled=old)``) so that a kernel set may reuse its buffers; it passes the
    same object to the backward of that call.  The 2-D convolutions of the compiled set (its im2col
    columns or the zero-padded input planes of a first layer) and of the GPU set (its im2col patches)
    use it; the reference set never sees it.  A shared layer in a functional model snapshots the attribute holding it per
    call, so each call's backward gets its own forward's cache.
    """

    __slots__ = ("kept", "spare")

    def __init__(self, recycled=None):
        self.kept = None    # what forward left for backward (set by the kernel set)
        self.spare = None if recycled is None else recycled.kept   # buffers free for reuse

    def __repr__(self):
        return f"<KernelCache holding {type(self.kept).__name__}>"


def _takes_cache(kernels):
    return getattr(kernels, "CONV2D_USES_CACHE", False)


# --- convolution ------------------------------------------------------------------------------

def conv2d_forward(x, kernel, bias, strides, pads, dilation, groups, cache=None):
    """y = x (*) kernel + bias, NHWC input, Keras-layout kernel (KH, KW, C/groups, F).
    ``cache``: a ``KernelCache`` for the backward of this call (training), or None."""
    kernels = _kernels()
    if cache is not None and _takes_cache(kernels):
        return kernels.conv2d_forward(x, kernel, bias, strides, pads, dilation, groups, cache=cache)
    return kernels.conv2d_forward(x, kernel, bias, strides, pads, dilation, groups)


def conv2d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True,
                    cache=None, bias_gradient=True):
    """(dx, dkernel, dbias) from dL/dy; a gradient not asked for is None (and not computed).
    ``cache``: the ``KernelCache`` that forward filled for this same ``x``, or None.
    ``bias_gradient=False`` (a layer without a bias): kernel sets that can skip dbias do (the GPU one:
    one launch fewer); the others compute it anyway."""
    kernels = _kernels()
    options = {}
    if not bias_gradient and getattr(kernels, "CONV2D_BIAS_OPTIONAL", False):
        options["bias_gradient"] = False
    if cache is not None and _takes_cache(kernels):
        options["cache"] = cache
    return kernels.conv2d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient, kernel_gradient,
                                   **options)


def conv3d_forward(x, kernel, bias, strides, pads, dilation, groups):
    """y = x (*) kernel + bias over (D, H, W), NDHWC input, kernel (KD, KH, KW, C/groups, F)."""
    return _kernels().conv3d_forward(x, kernel, bias, strides, pads, dilation, groups)


def conv3d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient=True, kernel_gradient=True):
    """(dx, dkernel, dbias) of ``conv3d_forward``."""
    return _kernels().conv3d_backward(dy, x, kernel, strides, pads, dilation, groups, input_gradient,
                                      kernel_gradient)


def locally_connected2d_forward(x, kernel, bias, kernel_size, strides, out_hw):
    """A convolution whose weights differ at every output position (unshared weights)."""
    return _kernels().locally_connected2d_forward(x, kernel, bias, kernel_size, strides, out_hw)


def locally_connected2d_backward(dy, x, kernel, kernel_size, strides, out_hw):
    """(dx, dkernel, dbias) of ``locally_connected2d_forward``."""
    return _kernels().locally_connected2d_backward(dy, x, kernel, kernel_size, strides, out_hw)


def tiled_conv2d_forward(x, kernel, bias, strides, pads):
    """A convolution whose weights repeat over tiles of output positions."""
    return _kernels().tiled_conv2d_forward(x, kernel, bias, strides, pads)


def tiled_conv2d_backward(dy, x, kernel, strides, pads):
    """(dx, dkernel, dbias) of ``tiled_conv2d_forward``."""
    return _kernels().tiled_conv2d_backward(dy, x, kernel, strides, pads)


# --- pooling ----------------------------------------------------------------------------------

def max_pool2d_forward(x, pool_size, strides, pads):
    """(y, argmax): the largest value of every window, and where it was."""
    return _kernels().max_pool2d_forward(x, pool_size, strides, pads)


def max_pool2d_backward(dy, argmax, input_shape):
    """dL/dx: each upstream gradient routed to the input cell that won its window's max."""
    return _kernels().max_pool2d_backward(dy, argmax, input_shape)


def avg_pool2d_forward(x, pool_size, strides, pads):
    """The mean of every window (padding cells not counted, as in Keras)."""
    return _kernels().avg_pool2d_forward(x, pool_size, strides, pads)


def avg_pool2d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx: each upstream gradient shared equally by the cells of its window."""
    return _kernels().avg_pool2d_backward(dy, input_shape, pool_size, strides, pads)


def max_pool3d_forward(x, pool_size, strides, pads):
    """(y, argmax) of max pooling over (D, H, W)."""
    return _kernels().max_pool3d_forward(x, pool_size, strides, pads)


def max_pool3d_backward(dy, argmax, input_shape):
    """dL/dx of ``max_pool3d_forward``."""
    return _kernels().max_pool3d_backward(dy, argmax, input_shape)


def avg_pool3d_forward(x, pool_size, strides, pads):
    """Average pooling over (D, H, W)."""
    return _kernels().avg_pool3d_forward(x, pool_size, strides, pads)


def avg_pool3d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx of ``avg_pool3d_forward``."""
    return _kernels().avg_pool3d_backward(dy, input_shape, pool_size, strides, pads)


def min_pool2d_forward(x, pool_size, strides, pads):
    """(y, argmin): the smallest value of every window, and where it was."""
    return _kernels().min_pool2d_forward(x, pool_size, strides, pads)


def lp_pool2d_forward(x, p, pool_size, strides, pads):
    """(sum over the window of |x|^p)^(1/p)."""
    return _kernels().lp_pool2d_forward(x, p, pool_size, strides, pads)


def lp_pool2d_backward(dy, x, y, p, pool_size, strides, pads):
    """dL/dx of ``lp_pool2d_forward``."""
    return _kernels().lp_pool2d_backward(dy, x, y, p, pool_size, strides, pads)


def logsumexp_pool2d_forward(x, beta, pool_size, strides, pads):
    """(1/beta) log sum exp(beta x) over every window: a soft maximum."""
    return _kernels().logsumexp_pool2d_forward(x, beta, pool_size, strides, pads)


def logsumexp_pool2d_backward(dy, x, y, beta, pool_size, strides, pads):
    """dL/dx of ``logsumexp_pool2d_forward``: dy times the window's softmax."""
    return _kernels().logsumexp_pool2d_backward(dy, x, y, beta, pool_size, strides, pads)


def weighted_pool2d_forward(x, sigma, pool_size, strides, pads):
    """Every window averaged with Gaussian weights of width ``sigma`` around its centre."""
    return _kernels().weighted_pool2d_forward(x, sigma, pool_size, strides, pads)


def weighted_pool2d_backward(dy, input_shape, sigma, pool_size, strides, pads):
    """dL/dx of ``weighted_pool2d_forward``."""
    return _kernels().weighted_pool2d_backward(dy, input_shape, sigma, pool_size, strides, pads)


# --- up-sampling ------------------------------------------------------------------------------

def upsample2d_nearest_forward(x, size):
    """Every pixel repeated ``size`` times along height and width."""
    return _kernels().upsample2d_nearest_forward(x, size)


def upsample2d_nearest_backward(dy, input_shape):
    """dL/dx: the gradients of each pixel's copies summed."""
    return _kernels().upsample2d_nearest_backward(dy, input_shape)


def upsample2d_bilinear_forward(x, size):
    """Bilinear interpolation to ``size`` times the height and width."""
    return _kernels().upsample2d_bilinear_forward(x, size)


def upsample2d_bilinear_backward(dy, input_shape):
    """dL/dx of ``upsample2d_bilinear_forward``."""
    return _kernels().upsample2d_bilinear_backward(dy, input_shape)


# --- normalisation ----------------------------------------------------------------------------

def batch_norm_forward_train(x, gamma, beta, epsilon, moving_mean=None, moving_variance=None, momentum=None):
    """(y, mean, var, inv_std): normalised with the batch's statistics per channel.

    Given the layer's ``moving_mean``, ``moving_variance`` and ``momentum``, those are updated in place
    too, as the reference's ``batch_norm_update_moving_statistics`` does: the GPU set in the same launches (its
    statistics kernel writes them, ``batch_norm_forward_train_and_update``), the others after the kernel."""
    kernels = _kernels()
    if moving_mean is None:
        return kernels.batch_norm_forward_train(x, gamma, beta, epsilon)
    joined = getattr(kernels, "batch_norm_forward_train_and_update", None)
    if joined is not None:
        return joined(x, gamma, beta, epsilon, moving_mean, moving_variance, momentum)
    y, mean, var, inv_std = kernels.batch_norm_forward_train(x, gamma, beta, epsilon)
    # The moving averages are four array lines on (C,) vectors: the reference's, whatever the kernel set.
    _load("reference").batch_norm_update_moving_statistics(moving_mean, moving_variance, mean, var, momentum)
    return y, mean, var, inv_std


def batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, epsilon):
    """y normalised with the moving statistics (inference)."""
    return _kernels().batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, epsilon)


def batch_norm_backward(dy, x, gamma, mean, inv_std):
    """(dx, dgamma, dbeta) of ``batch_norm_forward_train``."""
    return _kernels().batch_norm_backward(dy, x, gamma, mean, inv_std)


def layer_norm_forward(x, gamma, beta, epsilon):
    """(y, mean, inv_std): every sample normalised over its last axis."""
    return _kernels().layer_norm_forward(x, gamma, beta, epsilon)


def layer_norm_backward(dy, x, gamma, mean, inv_std):
    """(dx, dgamma, dbeta) of ``layer_norm_forward``."""
    return _kernels().layer_norm_backward(dy, x, gamma, mean, inv_std)


def group_norm_forward(x, groups, gamma, beta, epsilon):
    """(y, mean, inv_std): every sample normalised per group of channels."""
    return _kernels().group_norm_forward(x, groups, gamma, beta, epsilon)


def group_norm_backward(dy, x, groups, gamma, mean, inv_std):
    """(dx, dgamma, dbeta) of ``group_norm_forward``."""
    return _kernels().group_norm_backward(dy, x, groups, gamma, mean, inv_std)


def lrn_forward(x, depth_radius, bias, alpha, beta):
    """(y, denom): local response normalisation across neighbouring channels."""
    return _kernels().lrn_forward(x, depth_radius, bias, alpha, beta)


def lrn_backward(dy, x, denom, depth_radius, bias, alpha, beta):
    """dL/dx of ``lrn_forward``."""
    return _kernels().lrn_backward(dy, x, denom, depth_radius, bias, alpha, beta)


# --- activations and biases -------------------------------------------------------------------

def activation_forward(z, activation, out=None):
    """act(z) for the activations every kernel set has (``activations.KERNEL_ACTIVATIONS``)."""
    return _kernels().activation_forward(z, activation, out=out)


def activation_backward(dy, a, activation):
    """dL/dz from dL/dy and the activation's output a."""
    return _kernels().activation_backward(dy, a, activation)


def bias_gradient(dz):
    """dL/db: dz summed over every axis but the last."""
    return _kernels().bias_gradient(dz)


def matmul(a, b):
    """``a @ b`` (a may have leading batch axes when b is a matrix): Dense's products, on the
    kernel set's threads (the compiled set runs BLAS on its own OpenMP threads)."""
    return _kernels().matmul(a, b)


KERNEL_NAMES = (
    "conv2d_forward", "conv2d_backward", "conv3d_forward", "conv3d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "max_pool3d_forward", "max_pool3d_backward", "avg_pool3d_forward", "avg_pool3d_backward",
    "min_pool2d_forward", "lp_pool2d_forward", "lp_pool2d_backward",
    "logsumexp_pool2d_forward", "logsumexp_pool2d_backward", "weighted_pool2d_forward", "weighted_pool2d_backward",
    "upsample2d_nearest_forward", "upsample2d_nearest_backward",
    "upsample2d_bilinear_forward", "upsample2d_bilinear_backward",
    "batch_norm_forward_train", "batch_norm_forward_infer", "batch_norm_backward",
    "layer_norm_forward", "layer_norm_backward", "group_norm_forward", "group_norm_backward",
    "lrn_forward", "lrn_backward",
    "locally_connected2d_forward", "locally_connected2d_backward", "tiled_conv2d_forward", "tiled_conv2d_backward",
    "activation_forward", "activation_backward", "bias_gradient", "matmul",
)
"""Every kernel name; each kernel set implements them all (a test checks it)."""
