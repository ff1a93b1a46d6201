"""Kernels for the GPU backend, written once against an array module ``xp``.

With ``xp = cupy`` (what ``tinyconv.backend.set_device("gpu")`` selects) they run on an NVIDIA GPU:
gathers with precomputed index tables, cuBLAS matrix products and reductions.  With ``xp = numpy``
(``use_array_module(numpy)``, the default until the GPU is selected) the very same code runs on the
CPU, which is how the test suite checks it against the reference kernels on machines without a GPU.

Same function names and signatures as ``tinyconv.kernels.reference`` and ``tinyconv.kernels.cpu``
(every name in ``tinyconv.ops.KERNEL_NAMES``).  Ported: 2-D convolution, 2-D max/average pooling and
batch normalisation (see ``unported.PORTED``); the others are in ``unported.py``.
"""
from ...ops import KERNEL_NAMES
from ._common import use_array_module, xp as array_module
from .conv import conv2d_backward, conv2d_forward
from .normalization import batch_norm_backward, batch_norm_forward_infer, batch_norm_forward_train
from .pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from .unported import PORTED, unported_kernel

for _name in KERNEL_NAMES:
    if _name not in PORTED:
        globals()[_name] = unported_kernel(_name)
del _name
