"""Softmax cross-entropy with integer labels, fused: per-sample loss and gradient in one kernel.

From logits z (N, k) and labels l (N,):

    loss[r]    = -log softmax(z_r)[l_r] = log(sum_k exp(z_rk - m_r)) - (z_r,l_r - m_r),  m_r = max_k z_rk
    grad[r, k] = (softmax(z_r)_k - [k == l_r]) * grad_scale

The array-module version takes about a dozen launches (max, subtract, exp, sum, log, one-hot,
products, ...).  ``tinyconv_softmax_cross_entropy`` runs one thread per sample: three passes over
its k logits (max, sum of exponentials, outputs), all in registers - good for the few classes of
the course's models; with thousands of classes a block per sample would be faster.

A label outside [0, k) (say -1) selects no class: loss 0 and gradient 0 for that sample, exactly
what the one-hot formula ``-sum_k t_k log softmax_k`` gives with an all-zero row.  (The losses check
labels on the host before they reach the device, so this only keeps a bad label from reading
outside the row.)
"""
import numpy as np

from .. import fused
from ....devices import array_module_of
from ._cuda import KernelFamily, fits_int32, ints, launch

ENTRY_POINTS = ("tinyconv_softmax_cross_entropy",)

SOURCE = r"""
extern "C" __global__ void tinyconv_softmax_cross_entropy(
        const scalar_t* logits, const long long* labels, scalar_t* loss, scalar_t* grad,
        int rows, int classes, scalar_t grad_scale)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const scalar_t* z = logits + (long long)r * classes;
    scalar_t* g = grad + (long long)r * classes;
    scalar_t top = z[0];                                // the max, so no exp() overflows
    for (int k = 1; k < classes; ++k) top = z[k] > top ? z[k] : top;
    scalar_t total = 0;
    for (int k = 0; k < classes; ++k) total += exp(z[k] - top);
    scalar_t log_total = log(total);
    long long label = labels[r];
    bool valid = label >= 0 && label < classes;
    loss[r] = valid ? log_total - (z[label] - top) : (scalar_t)0;
    for (int k = 0; k < classes; ++k) {
        scalar_t probability = exp(z[k] - top - log_total);
        g[k] = valid ? (probability - (k == label ? (scalar_t)1 : (scalar_t)0)) * grad_scale : (scalar_t)0;
    }
}
"""


def softmax_cross_entropy_arrays(logits, labels, grad_scale=1.0):
    """The readable twin, on NumPy or CuPy: the one-hot formulas of ``tinyconv.losses``.

    ``logits`` (R, k) float, ``labels`` (R,) int64; returns (loss (R,), grad (R, k)) in logits' dtype.
    """
    module = array_module_of(logits)
    k = logits.shape[-1]
    target = (labels[:, None] == module.arange(k)).astype(logits.dtype)       # one-hot; all 0 off [0, k)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - module.log(module.exp(shifted).sum(axis=-1, keepdims=True))
    loss = -(target * log_softmax).sum(axis=-1)
    grad = (module.exp(log_softmax) * target.sum(axis=-1, keepdims=True) - target) * logits.dtype.type(grad_scale)
    return loss.astype(logits.dtype, copy=False), grad.astype(logits.dtype, copy=False)


def build_softmax_cross_entropy(cupy):
    """The compiled kernel: ``(logits (R, k), labels (R,), grad_scale) -> (loss (R,), grad (R, k))``."""
    family = KernelFamily(cupy, SOURCE)

    def softmax_cross_entropy_2d(logits, labels, grad_scale=1.0):
        logits = cupy.ascontiguousarray(logits)
        labels = cupy.ascontiguousarray(labels, dtype=np.int64)
        rows, classes = logits.shape
        loss = cupy.empty(rows, dtype=logits.dtype)
        grad = cupy.empty(logits.shape, dtype=logits.dtype)
        launch(family.function("tinyconv_softmax_cross_entropy", logits.dtype), rows, logits, labels, loss, grad,
               *ints(rows, classes), logits.dtype.type(grad_scale))
        return loss, grad
    return softmax_cross_entropy_2d


def softmax_cross_entropy(logits, labels, grad_scale=1.0):
    """Per-sample sparse softmax cross-entropy and its gradient from logits, in one launch on a GPU.

    Args:
        logits: (..., k) float32 or float64 pre-softmax scores.
        labels: (...) integer labels (any integer dtype; int64 is used as is), on the same device.
            A label outside [0, k) gives loss 0 and gradient 0 for its sample.
        grad_scale: a Python number multiplied into the gradient (1 / N for a mean over N samples),
            so the reduction's scaling costs no extra launch.

    Returns:
        (loss, grad): loss of shape ``logits.shape[:-1]``, grad of ``logits.shape``, both logits' dtype.

    Raises:
        ValueError: when labels' shape is not ``logits.shape[:-1]``.
        TypeError: for logits that are not float32 / float64, or labels that are not integers.

    Example:

    >>> loss, grad = softmax_cross_entropy(np.array([[2.0, 1.0, 0.1]]), np.array([0]))  # NumPy: the twin runs
    >>> loss.round(4), grad.round(4)
    (array([0.417]), array([[-0.341 ,  0.2424,  0.0986]]))
    """
    if np.dtype(logits.dtype) not in (np.float32, np.float64):
        raise TypeError(f"softmax_cross_entropy: expected float32 or float64 logits, got {logits.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"softmax_cross_entropy: expected integer labels, got {labels.dtype}")
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"softmax_cross_entropy: expected labels of shape {tuple(logits.shape[:-1])} "
                         f"(logits' shape without the class axis), got {tuple(labels.shape)}")
    classes = logits.shape[-1]
    flat_logits, flat_labels = logits.reshape(-1, classes), labels.reshape(-1)
    if flat_labels.dtype != np.int64:
        flat_labels = flat_labels.astype(np.int64)
    if fits_int32(logits.size):
        loss, grad = fused.run("softmax_cross_entropy", softmax_cross_entropy_arrays, build_softmax_cross_entropy,
                               flat_logits, flat_labels, grad_scale=float(grad_scale))
    else:
        loss, grad = softmax_cross_entropy_arrays(flat_logits, flat_labels, float(grad_scale))
    return loss.reshape(logits.shape[:-1]), grad.reshape(logits.shape)
