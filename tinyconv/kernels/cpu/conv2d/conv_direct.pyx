# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Direct convolution for layers with few input channels, built for any CPU of its kind.

A first layer on grey or RGB images has a tiny patch (KH*KW*C numbers, 25 for LeNet's
5x5 on one channel), so im2col writes many short rows and the GEMM that follows has a
short inner dimension: both run far below the machine's rate.  Here each output is summed
in place instead, in vector registers (read ``conv_direct_body.pxi``, then
``direct_micro.h``).  ``conv_direct_avx2`` and ``conv_direct_avx512`` are the same code built
for AVX2 and FMA and for AVX-512; ``builds.py`` picks the newest one this CPU can run
(``TINYCONV_ISA`` caps it); ``route.py`` says when this route is taken.
"""
include "conv_direct_body.pxi"
