"""tinyconv: a teaching-grade CNN engine with a Keras-compatible API.

    import tinyconv as keras
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"), ...])

Every layer has a readable ``forward`` and ``backward``; the hot loops run in compiled
Cython + OpenMP kernels whose NumPy twins live in ``tinyconv.kernels.reference``.
"""
from .allocator import keep_freed_memory
from .parallel import prefer_passive_openmp_waits

prefer_passive_openmp_waits()
keep_freed_memory()

from . import (activations, backend, callbacks, datasets, initializers, layers, losses,  # noqa: E402
               metrics, models, ops, optimizers, utils)
from . import dispatch  # noqa: E402
from . import regularizers  # noqa: E402
from . import saving  # noqa: E402
from . import config, constraints  # noqa: E402  (keras.config, keras.constraints)
from . import preprocessing  # noqa: E402
from . import distribute  # noqa: E402  (data parallel training; mpi4py only under mpiexec)
from . import applications  # noqa: E402
from . import random  # noqa: E402  (keras.random: random tensors, SeedGenerator, dropout)
from .layers import Input  # noqa: E402
from .ops.tape import GradientTape  # noqa: E402  (a hand-written training loop: see docs/custom_layers.md)
from .variables import Variable  # noqa: E402
from .models import Model, Sequential  # noqa: E402
from .parallel import get_num_threads, openmp_enabled, set_num_threads  # noqa: E402
from ._version import __version__  # noqa: E402

__all__ = [
    "Input", "Model", "Sequential", "activations", "backend", "callbacks", "datasets", "initializers", "layers",
    "losses", "metrics", "models", "ops", "optimizers", "utils", "set_num_threads", "get_num_threads",
    "openmp_enabled", "regularizers", "preprocessing", "config", "constraints", "applications", "random",
    "distribute", "saving", "GradientTape", "Variable",
]
