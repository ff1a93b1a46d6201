"""The optimizer of synchronous data parallelism: average the ranks' gradients, then update as one.

Each rank computes the gradient of the mean loss over its own share of the batch. When every rank
has the same number of samples, the mean of those gradients is the gradient of the mean loss over
the whole (global) batch, so after

    sum the gradients of all layers over the ranks (one allreduce of one fused buffer)
    divide by the number of ranks
    apply the wrapped optimizer's rule (SGD, Adam, ...) to those averages

every rank makes the same update from the same weights and the weights stay identical everywhere.

``average_gradients(optimizer, communicator)`` returns an optimizer of the same class (an ``SGD``
stays an ``SGD`` for ``isinstance``, for the saved file and for the callbacks that change its
learning rate) whose ``apply`` averages first.
"""
from .. import optimizers
from .fused import FusedBuffer


class GradientAveraging:
    """Mixed into the wrapped optimizer's class: ``apply`` averages the gradients over the ranks first."""

    def apply(self, params, grads):
        params, grads = list(params), list(grads)
        if self._communicator.size > 1:
            if not self._weights_broadcast:
                raise RuntimeError(
                    f"{type(self).__name__} (data parallel): the ranks' weights were never made equal; pass "
                    f"callbacks=dp.callbacks() to fit, or call dp.broadcast(model) before training on batches")
            grads = self._average(grads)
        super().apply(params, grads)

    def _average(self, grads):
        present = [g for g in grads if g is not None]
        if self._fused is None or not self._fused.matches(present):
            self._fused = FusedBuffer(present)  # a new layout (first step, or a layer was frozen)
        self._fused.pack(present)
        for buffer in self._fused.buffers:
            self._communicator.allreduce_sum(buffer)
            buffer /= self._communicator.size
        averaged = iter(self._fused.views())
        return [None if g is None else next(averaged) for g in grads]


def average_gradients(optimizer, communicator):
    """An optimizer like ``optimizer`` (same class, configuration and state) that averages gradients first.

    Args:
        optimizer: a ``tinyconv.optimizers.Optimizer`` or anything ``optimizers.get`` accepts ("sgd").
        communicator: the communicator to average over (``DataParallel.communicator``).

    Returns:
        A new optimizer; use it in place of the one passed in (the two do not share their step count).

    Raises:
        ValueError: for an identifier ``optimizers.get`` does not know.

    Example:

    >>> from tinyconv import optimizers
    >>> from tinyconv.distribute.communicator import SingleProcess
    >>> sgd = average_gradients(optimizers.SGD(0.1), SingleProcess())
    >>> isinstance(sgd, optimizers.SGD), type(sgd).__name__, sgd.learning_rate
    (True, 'SGD', 0.1)
    """
    inner = optimizers.get(optimizer)
    if isinstance(inner, GradientAveraging):
        raise ValueError(f"average_gradients: {inner!r} already averages its gradients over the ranks")
    cls = type(inner)
    # Same name as the wrapped class: the saved optimizer config reads "SGD", not a wrapper's name.
    averaging_cls = type(cls.__name__, (GradientAveraging, cls), {"__module__": cls.__module__,
                                                                   "__qualname__": cls.__qualname__})
    wrapped = object.__new__(averaging_cls)
    wrapped.__dict__.update(inner.__dict__)  # configuration and any state it has
    wrapped._state = dict(inner._state)  # its own table (the slot arrays themselves are taken over)
    wrapped._communicator = communicator
    wrapped._fused = None
    wrapped._weights_broadcast = False
    return wrapped
