"""Compiled kernels (Cython + OpenMP), the fast twins of ``tinyconv.kernels.reference``."""
