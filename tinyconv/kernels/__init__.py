"""The kernels: ``reference`` (plain NumPy, the teaching text and test oracle) and ``cpu``
(Cython + OpenMP).  Layers never import these directly; they go through ``tinyconv.dispatch``."""
