"""Kernels for the GPU backend, written once against an array module ``xp``.

With ``xp = cupy`` (what ``tinyconv.backend.set_device("gpu")`` selects) they run on an NVIDIA GPU:
gathers with precomputed index tables, cuBLAS matrix products and reductions.  With ``xp = numpy``
(``use_array_module(numpy)``, the default until the GPU is selected) the very same code runs on the
CPU, which is how the test suite checks it against the reference kernels on machines without a GPU.

Same function names and signatures as ``tinyconv.kernels.reference`` and ``tinyconv.kernels.cpu``
(every name in ``tinyconv.dispatch.KERNEL_NAMES``), one module per family; the sliding-window gathers
they share (im2col / col2im over any number of spatial axes) are in ``_windows.py``.  A kernel name
with no GPU version yet gets the stand-in of ``unported.py``.
"""
from ...dispatch import KERNEL_NAMES
from ._common import use_array_module, xp as array_module
from .activation import activation_backward, activation_forward, bias_gradient, matmul
from .conv import conv2d_backward, conv2d_forward
from .conv3d import conv3d_backward, conv3d_forward
from .local import (locally_connected2d_backward, locally_connected2d_forward, tiled_conv2d_backward,
                    tiled_conv2d_forward)
from .lrn import lrn_backward, lrn_forward
from .normalization import (batch_norm_backward, batch_norm_forward_infer, batch_norm_forward_train,
                            batch_norm_forward_train_and_update, batch_norm_update_moving_statistics)
from .norms import group_norm_backward, group_norm_forward, layer_norm_backward, layer_norm_forward
from .pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from .pooling3d import avg_pool3d_backward, avg_pool3d_forward, max_pool3d_backward, max_pool3d_forward
from .pooling_variants import (logsumexp_pool2d_backward, logsumexp_pool2d_forward, lp_pool2d_backward,
                               lp_pool2d_forward, min_pool2d_forward, weighted_pool2d_backward,
                               weighted_pool2d_forward)
from .unported import unported_kernel
from .upsampling import (upsample2d_bilinear_backward, upsample2d_bilinear_forward, upsample2d_nearest_backward,
                         upsample2d_nearest_forward)

# conv2d_backward(..., bias_gradient=False) skips dbias for a layer without a bias (dispatch asks).
CONV2D_BIAS_OPTIONAL = True
# conv2d_forward/backward take a dispatch.KernelCache: the forward's im2col patches serve the backward.
CONV2D_USES_CACHE = True

# Every name in KERNEL_NAMES that is not imported above (none today) gets a clear stand-in.
PORTED = tuple(name for name in KERNEL_NAMES if name in globals())
for _name in KERNEL_NAMES:
    if _name not in PORTED:
        globals()[_name] = unported_kernel(_name)
del _name
