# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""``conv_implicit`` built with -mavx2 -mfma (setup.py); imported only on CPUs that have both."""
include "conv_implicit_body.pxi"
