"""Turning what ``fit`` / ``evaluate`` / ``predict`` receive into batches.

A batch is ``(inputs, targets, sample_weight)``: ``inputs`` and ``targets`` are lists with one
array per model input / output (``targets`` None when predicting).  Sources:

* NumPy arrays (or lists / dicts of them), cut into ``batch_size`` slices, shuffled per epoch;
* a Python generator or iterator yielding ``x``, ``(x, y)`` or ``(x, y, sample_weight)``;
* a ``tinyconv.utils.Sequence`` (``len()`` batches, indexed, ``on_epoch_end`` after each epoch).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from ..utils.random import global_rng


class IndexedBatches(Protocol):
    """A source of batches with a length and an index, as ``tinyconv.utils.Sequence`` (and Keras's image
    iterators): ``source[i]`` is batch ``i``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Any: ...


# What fit / evaluate / predict take as ``x`` or ``y``: an array with the batch axis first (NumPy, a nested list,
# or a CuPy array on the GPU), a list of them (one per model input or output) or a dict keyed by name.
ArrayData: TypeAlias = npt.ArrayLike | Sequence[npt.ArrayLike] | Mapping[str, npt.ArrayLike]
# ... or, for ``x`` alone, a source of batches: a generator or iterator, or a Sequence.
BatchData: TypeAlias = ArrayData | Iterator[Any] | IndexedBatches


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


# --- checks that speak to a beginner ------------------------------------------------------------
# Two mistakes are common in a first script: labels left as class names, and images in another
# layout than the model's (channels first, or one image without the batch axis).  These checks
# run before any layer does, so the message can say what to change rather than only which shapes
# differ.

def check_targets_are_numbers(target, what):
    """Refuse class names (strings) as targets, with the line that turns them into class indices."""
    array = np.asarray(target)
    if array.dtype.kind in "US":
        names = array.ravel()
    elif array.dtype.kind == "O":
        names = [value for value in array.ravel() if isinstance(value, (str, bytes))]
    else:
        return
    if len(names) == 0:
        return
    example = names[0].item() if isinstance(names[0], np.generic) else names[0]  # 'cat', not np.str_('cat')
    raise ValueError(
        f"{what}: the targets must be integer class indices (0, 1, 2, ...; or one-hot rows for "
        f"'categorical_crossentropy'), got text labels such as {example!r}. Map the names to integers "
        "first, e.g. `class_names, y = np.unique(labels, return_inverse=True)` "
        "(class_names[i] is then the name of class i)")


def _layout_hint(expected, got):
    """What most likely went wrong when an array of shape ``got`` meets a model input ``expected``
    (``expected[0]`` is the batch axis); an empty string when no common mistake fits."""
    sample = tuple(expected[1:])  # one sample's shape; None matches any size

    def fits(shape):
        return len(shape) == len(sample) and all(e is None or e == g for e, g in zip(sample, shape))

    if fits(got):
        return ("; this looks like one sample without the batch axis: pass x[None] "
                "(or np.expand_dims(x, 0)) for a batch of one")
    if len(got) == len(expected) and len(sample) >= 2:
        if fits(tuple(got[2:]) + (got[1],)):  # (N, C, H, W) where (N, H, W, C) was expected
            return ("; this looks like channels-first data (samples, channels, height, width) for a model "
                    "built channels-last: move the channel axis with np.moveaxis(x, 1, -1), or build the "
                    f"model for channels-first data (keras.Input(shape={tuple(got[1:])}) and "
                    "data_format=\"channels_first\" on its layers)")
        if fits((got[-1],) + tuple(got[1:-1])):  # (N, H, W, C) where (N, C, H, W) was expected
            return ("; this looks like channels-last data for a model built channels-first: "
                    "move the channel axis with np.moveaxis(x, -1, 1)")
    if sample and sample[-1] == 1:  # one-channel images given without their channel axis
        if len(got) == len(expected) - 1 and fits(tuple(got[1:]) + (1,)):
            return ("; the channel axis is missing: add it with x[..., None] "
                    "(or np.expand_dims(x, -1)) for one-channel images")
        if len(got) == len(sample) - 1 and fits(tuple(got) + (1,)):
            return ("; this looks like one image without the batch and channel axes: "
                    "pass x[None, ..., None]")
    return ""


def check_input_shape(array_shape, expected, subject):
    """``array_shape`` must fit the model input ``expected`` (None entries match any size).

    ``subject`` starts the message and names the input, e.g. "fit: Sequential 'cnn': expected input
    of shape"; the expected shape, the received one and a hint follow."""
    if expected is None:
        return
    got = tuple(array_shape)
    if len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected[1:], got[1:])):
        return
    raise ValueError(f"{subject} {tuple(expected)}, got {got}{_layout_hint(tuple(expected), got)}")
