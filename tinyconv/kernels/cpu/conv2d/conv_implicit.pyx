# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Implicit-GEMM convolution for float32 layers, built for any CPU of its kind.

im2col + GEMM copies every receptive field into a columns matrix (KH*KW times the input)
and then multiplies.  Here the multiplication reads its rows from the image itself, in a
register-blocked loop shaped like a BLAS kernel: the copy and its memory traffic are gone
(read ``conv_implicit_body.pxi``, then ``implicit_micro.h``).  ``conv_implicit_avx2`` and
``conv_implicit_avx512`` are the same code built for AVX2 and FMA and for AVX-512, with larger
register tiles; ``builds.py`` picks the newest one this CPU can run (``TINYCONV_ISA`` caps it),
and ``route.py`` says when this route is taken.
"""
include "conv_implicit_body.pxi"
