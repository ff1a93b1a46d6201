"""``keras.utils.Sequence``: a dataset that hands out whole batches by index.

Subclass it and define ``__len__`` (the number of batches) and ``__getitem__(index)`` (batch number
``index``, e.g. ``(x_batch, y_batch)``); ``on_epoch_end`` runs after every pass, the place to reshuffle.
Because batches are addressed by number, a pass over a Sequence visits every sample exactly once.
"""


class Sequence:
    """Base class of batch datasets: ``__len__``, ``__getitem__``, ``on_epoch_end``.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are Keras 3's (``PyDataset``) arguments;
    they are kept for scripts that pass them. tinyconv reads batches one at a time in the calling thread.

    Args:
        workers: accepted for Keras's signature.
        use_multiprocessing: accepted for Keras's signature.
        max_queue_size: accepted for Keras's signature.

    Example:

    >>> class Pairs(tinyconv.utils.Sequence):
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, index):
    ...         return np.full((4, 3), index, "float32"), np.zeros((4, 1), "float32")
    >>> model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> len(model.fit(Pairs(), epochs=2, verbose=0).history["loss"])
    2
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning batch `index`")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__() returning the number of batches")

    @property
    def num_batches(self):
        """The number of batches in an epoch (``len(self)``)."""
        return len(self)

    def on_epoch_begin(self):
        """Called before every pass over the data; does nothing unless overridden."""

    def on_epoch_end(self):
        """Called after every pass over the data; does nothing unless overridden."""

    def __iter__(self):
        """One pass: batch 0, 1, ..., len(self) - 1."""
        for index in range(len(self)):
            yield self[index]
