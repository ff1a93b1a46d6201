# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""``conv_direct`` built with AVX-512 F, VL, BW, DQ (setup.py); imported only on CPUs that have them."""
include "conv_direct_body.pxi"
