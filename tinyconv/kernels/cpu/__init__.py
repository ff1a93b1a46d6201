"""Compiled kernels (Cython + OpenMP), the fast twins of ``tinyconv.kernels.reference``.

Same functions, same signatures; each checks its arguments in Python before the
compiled loops (which run without bounds checks) touch them.
"""
from .activation import activation_backward, activation_forward, bias_gradient
from .matrix_product import matmul
from .conv2d import CONV2D_USES_CACHE, conv2d_backward, conv2d_forward, conv2d_route
from .local import locally_connected2d_backward, locally_connected2d_forward
from .tiled import tiled_conv2d_backward, tiled_conv2d_forward
from .conv3d import conv3d_backward, conv3d_forward
from .normalization import batch_norm_backward, batch_norm_forward_infer, batch_norm_forward_train
from .norms import group_norm_backward, group_norm_forward, layer_norm_backward, layer_norm_forward
from .lrn import lrn_backward, lrn_forward
from .pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from .pooling3d import avg_pool3d_backward, avg_pool3d_forward, max_pool3d_backward, max_pool3d_forward
from .pooling_variants import (logsumexp_pool2d_backward, logsumexp_pool2d_forward, lp_pool2d_backward,
                               lp_pool2d_forward, min_pool2d_forward, weighted_pool2d_backward,
                               weighted_pool2d_forward)
from .upsampling import (upsample2d_bilinear_backward, upsample2d_bilinear_forward, upsample2d_nearest_backward,
                         upsample2d_nearest_forward)
from .threads import get_num_threads, num_procs, openmp_enabled, set_num_threads
