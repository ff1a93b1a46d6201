"""One launch instead of many: how a fused or raw CUDA kernel runs, and its readable NumPy twin.

Some steps take many array operations (an optimizer update: about ten per weight; an im2col
gather; a softmax with its cross-entropy) but only one pass over memory.  On CuPy such a step is
one compiled kernel (``cupy.ElementwiseKernel`` or ``cupy.RawKernel``).  Every one of them has a
*twin*: a plain NumPy function with the same arguments and results, which is the readable
version, the test oracle, and what runs wherever CUDA does not:

* ``xp = numpy`` (the GPU kernels tested on the CPU): the twin runs directly;
* the test suite's CuPy stand-in: the twin runs on its data through ``xp.launch_twin``, counted
  as one launch, as the compiled kernel would be;
* real CuPy: ``build(cupy)`` compiles the kernel once per device, and it runs.

``run(name, twin, build, *arrays)`` picks among the three.  ``build(cupy)`` returns a callable
taking the same ``*arrays`` as ``twin``.
"""
import numpy as np

from ._common import xp

_compiled = {}  # (kernel name, CUDA device id) -> the callable build() returned


def run(name, twin, build, *arrays, **options):
    """Run fused kernel ``name`` on ``arrays``: compiled on CuPy, ``twin`` anywhere else."""
    module = xp()
    if module is np:
        return twin(*arrays, **options)
    launch_twin = getattr(module, "launch_twin", None)
    if launch_twin is not None:  # an array module without CUDA (the test stand-in)
        return launch_twin(name, twin, *arrays, **options)
    key = (name, module.cuda.get_device_id())
    kernel = _compiled.get(key)
    if kernel is None:
        kernel = _compiled[key] = build(module)
    return kernel(*arrays, **options)


def clear_compiled():
    """Forget the compiled kernels (tests; a changed CUDA context)."""
    _compiled.clear()
