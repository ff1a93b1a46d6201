"""``tinyconv.ops``: Keras 3's op namespace (``keras.ops``), each op with its backward beside it.

The ops run eagerly on arrays (NumPy; CuPy on the GPU device) and follow ``keras.ops``'s names,
arguments, broadcasting and dtype rules.  Each is defined with ``@operation`` (see ``operation.py``):
a forward on arrays and an explicit backward, so that

* a custom layer that defines only ``call()`` trains: the tape (``tape.py``) records the ops its
  ``call`` runs and replays their backwards in reverse;
* ``x + y``, ``x[:, 0]``, ``ops.concatenate([a, b])`` on functional-API tensors become graph nodes.

Where the ops live, one family per module: ``core`` (conversion, casting, ``stop_gradient``, shapes),
``creation`` (``ones``, ``arange``, ...), ``elementwise`` (arithmetic, maths, comparisons), ``reduction``
(``sum``, ``mean``, ``max``, ...), ``linalg`` (``matmul``, ``dot``, ``einsum``, ...), ``shape``
(in ``shaping``: ``reshape``, ``transpose``, ``concatenate``, slicing, ``take``, ``where``, ...) and ``nn`` (activations,
``conv``, pooling, losses: the same kernels the layers call).

The kernel-set switch that used to live here is ``tinyconv.backend.set_kernels`` / ``use_kernels`` /
``active_kernels``; those names still work from here for old scripts.
"""
from ..dispatch import active_kernels, compiled_kernels_available, set_kernels, use_kernels
from . import core, creation, elementwise, linalg, nn, reduction, shaping
from .core import *  # noqa: F401,F403  (core's ops.shape(x) is Keras's function; the shape ops are in shaping)
from .creation import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .nn import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .shaping import *  # noqa: F401,F403
from . import operators  # noqa: F401  (x + y on tensors and variables is ops.add)
from .operation import REGISTRY, Operation, operation
from .tape import GradientTape, Tape, TapedTensor

numpy = __import__("sys").modules[__name__]  # keras.ops.numpy.<name> is keras.ops.<name>

__all__ = list(dict.fromkeys(
    ["active_kernels", "compiled_kernels_available", "set_kernels", "use_kernels", "GradientTape", "Tape",
     "TapedTensor", "Operation", "operation", "REGISTRY"]
    + core.__all__ + creation.__all__ + elementwise.__all__ + linalg.__all__ + nn.__all__
    + reduction.__all__ + shaping.__all__))
