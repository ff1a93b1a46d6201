"""Raw CUDA kernels for the steps that whole-array operations cannot do in one pass.

One module per family, each holding its CUDA C++ source as a readable string (``SOURCE``, written
against ``scalar_t`` and compiled for float32 and float64), the names of its entry points
(``ENTRY_POINTS``) and the ``build_*(cupy)`` functions that compile it and launch it:

* ``windows``: im2col and col2im over images (convolution's gather and its adjoint);
* ``pooling``: max/min and average pooling windows, forward and backward;
* ``softmax_ce``: softmax cross-entropy with integer labels, per-sample loss and gradient;
* ``batch_norm``: batch norm's per-channel statistics and gradient sums, one launch each;
* ``softmax``: softmax over the last axis, one thread per row.

Each kernel runs through ``fused.run(name, twin, build, *arrays)``: compiled on CuPy, its
array-module twin everywhere else (the readable version and the test oracle).  The twins of the
window and pooling kernels are the functions of ``_windows.py``, which also decides when the raw
kernel applies (2-D, sizes indexable with 32-bit ints).
"""
from . import batch_norm, pooling, softmax, softmax_ce, windows

FAMILIES = {"batch_norm": batch_norm, "pooling": pooling, "softmax": softmax, "softmax_ce": softmax_ce,
            "windows": windows}
