"""Turning what ``fit`` / ``evaluate`` / ``predict`` receive into batches.

A batch is ``(inputs, targets, sample_weight)``: ``inputs`` and ``targets`` are lists with one
array per model input / output (``targets`` None when predicting).  Sources:

* NumPy arrays (or lists / dicts of them), cut into ``batch_size`` slices, shuffled per epoch;
* a Python generator or iterator yielding ``x``, ``(x, y)`` or ``(x, y, sample_weight)``;
* a ``tinyconv.utils.Sequence`` (``len()`` batches, indexed, ``on_epoch_end`` after each epoch).
"""
import numpy as np

from ..utils.random import global_rng


def as_list(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def is_batch_source(data):
    """True for generators, iterators and Sequences (anything that yields batches)."""
    if isinstance(data, (np.ndarray, list, tuple, dict)) or data is None:
        return False
    return hasattr(data, "__next__") or (hasattr(data, "__getitem__") and hasattr(data, "__len__"))


def unpack_batch(batch):
    """``x`` / ``(x,)`` / ``(x, y)`` / ``(x, y, sample_weight)`` -> the three parts."""
    if isinstance(batch, tuple):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch
        raise ValueError(f"a batch must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(batch)}")
    return batch, None, None


def class_weights_to_sample_weights(class_weight, y):
    """Keras's class_weight: each sample weighs as much as its class."""
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] > 1:
        labels = labels.argmax(axis=-1)  # one-hot targets
    labels = labels.reshape(len(labels), -1)[:, 0].astype(np.int64)
    missing = set(np.unique(labels).tolist()) - set(int(k) for k in class_weight)
    if missing:
        raise ValueError(f"class_weight has no entry for class(es) {sorted(missing)}")
    lookup = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([lookup[int(label)] for label in labels], dtype=np.float64)


class ArrayBatches:
    """Slices of in-memory arrays; a fresh order every epoch when shuffling."""

    def __init__(self, inputs, targets, sample_weight, batch_size, shuffle):
        self.inputs, self.targets, self.sample_weight = inputs, targets, sample_weight
        self.batch_size, self.shuffle = batch_size, shuffle
        self.size = len(inputs[0])

    def __len__(self):
        return -(-self.size // self.batch_size)

    def epoch(self):
        order = global_rng().permutation(self.size) if self.shuffle else None
        for start in range(0, self.size, self.batch_size):
            if order is None:
                index = slice(start, start + self.batch_size)
            else:
                index = order[start:start + self.batch_size]
            yield ([x[index] for x in self.inputs],
                   None if self.targets is None else [y[index] for y in self.targets],
                   None if self.sample_weight is None else self.sample_weight[index])


class SourceBatches:
    """Batches from a generator, an iterator or a Sequence, ``steps`` per epoch."""

    def __init__(self, source, steps):
        self.source = source
        # Indexable with a length (a Sequence, or Keras's image iterators, which are both)
        self.is_sequence = hasattr(source, "__getitem__") and hasattr(source, "__len__")
        if steps is None:
            if not self.is_sequence:
                raise ValueError("a generator has no length: pass steps_per_epoch (or steps) to say how many "
                                 "batches make an epoch")
            steps = len(source)
        self.steps = int(steps)
        self._iterator = None

    def __len__(self):
        return self.steps

    def epoch(self):
        for step in range(self.steps):
            if self.is_sequence:
                batch = self.source[step % len(self.source)]
            else:
                if self._iterator is None:
                    self._iterator = iter(self.source)
                try:
                    batch = next(self._iterator)
                except StopIteration:
                    return
            x, y, sample_weight = unpack_batch(batch)
            yield as_list(x), as_list(y), sample_weight
        if self.is_sequence and hasattr(self.source, "on_epoch_end"):
            self.source.on_epoch_end()
