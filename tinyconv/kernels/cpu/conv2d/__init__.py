"""The compiled 2-D convolution, one folder: ``route.py`` says which file runs, and why.

    entry.py          conv2d_forward / conv2d_backward: check the arguments, ask route.py
                      once, run the route it names
    route.py          the routing table: every threshold, its measurement, conv2d_route()
    direct_path.py    direct: float32 first layers with <= 4 channels, stride 1
      conv_direct.pyx, conv_direct_avx2.pyx, conv_direct_avx512.pyx, conv_direct_body.pxi,
      direct_micro.h
    implicit_path.py  implicit_gemm: other float32 layers with >= 5 channels, >= 8 filters
      conv_implicit.pyx, conv_implicit_avx2.pyx, conv_implicit_avx512.pyx,
      conv_implicit_body.pxi, implicit_micro.h
    pointwise_path.py pointwise_gemm: 1x1, stride 1, unpadded (one BLAS call per group)
    block_path.py     blocks: >= 9 channels per group when SciPy's BLAS is there
      conv_blocks.pyx (SciPy's BLAS held at one thread: ../blas_threads.py)
    chunked_path.pyx  im2col_chunks (the rest, and builds without the others) and
                      kept_columns (few-channel layers keep forward's columns)
    geometry.py, workspace.py, im2col.pxd, simd_vec.h, builds.py   shared by the routes

dL/dx of a stride-1 layer usually runs as a route's forward over dy with the flipped kernel
(``Conv2DRoute.input_gradient_by_correlation``).
"""
from .entry import CONV2D_USES_CACHE, conv2d_backward, conv2d_forward
from .route import Conv2DRoute, conv2d_route

__all__ = ["CONV2D_USES_CACHE", "conv2d_forward", "conv2d_backward", "conv2d_route", "Conv2DRoute"]
