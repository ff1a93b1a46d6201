"""Reserved for Keras's op namespace (``keras.ops``); today only the kernel-set switch, kept for old scripts.

The kernel dispatch moved to ``tinyconv.dispatch`` (one function per kernel), and choosing the
kernel set is ``tinyconv.backend.set_kernels`` / ``use_kernels`` / ``active_kernels``.  These
names still work from here so that scripts written against earlier versions keep running.
"""
from .dispatch import active_kernels, compiled_kernels_available, set_kernels, use_kernels

__all__ = ["active_kernels", "compiled_kernels_available", "set_kernels", "use_kernels"]
