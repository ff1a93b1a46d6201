"""Cutting the data between ranks so that N ranks take the same steps as one process.

Interleaved shards: sample ``i`` goes to rank ``i % size``. Cut a shard into batches of ``b / N``
and batch ``k`` of every rank holds global samples ``k*b .. (k+1)*b - 1``: the union of the ranks'
k-th batches is the one-process k-th batch of size ``b``. Averaging the ranks' gradients then
gives exactly the one-process gradient (up to the order of the floating-point sums).

Shuffling keeps that property when every rank draws the *same* permutation of the whole data
set each epoch (a shared seed plus the epoch number) and then takes its interleaved part of it:
``ShardedBatches`` does that. Shuffling each shard on its own, with ``fit(shuffle=True)``, is
still correct SGD (every step averages ``b`` distinct samples) but no longer matches a
one-process run step for step.
"""
import numpy as np


def _count(arrays, what):
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"{what}: all arrays must have the same number of samples, got {[len(a) for a in arrays]}")
    return sizes.pop()


def shard(arrays, rank, size, drop_remainder=True):
    """This rank's interleaved share of each array: samples ``rank, rank + size, rank + 2*size, ...``.

    Args:
        arrays: a list of arrays (or None entries, passed through) with the same number of samples.
        rank: this process's rank, ``0 <= rank < size``.
        size: the number of ranks.
        drop_remainder: leave out the last ``n % size`` samples so every rank gets ``n // size``
            (equal shards are what keeps the ranks' step counts and gradient weights equal).
            With False, the first ``n % size`` ranks get one sample more.

    Returns:
        A list of arrays, one per input, in the same order.

    Raises:
        ValueError: for a rank outside ``0..size-1``, arrays of different lengths, or fewer
            samples than ranks.

    Example:

    >>> import numpy as np
    >>> x = np.arange(7)
    >>> shard([x], rank=1, size=3)[0]  # 7 % 3 = 1 sample left out: every rank gets 2
    array([1, 4])
    >>> shard([x], rank=0, size=3, drop_remainder=False)[0]
    array([0, 3, 6])
    """
    if not 0 <= rank < size:
        raise ValueError(f"shard: rank must be in 0..{size - 1}, got {rank}")
    present = [a if a is None or hasattr(a, "shape") else np.asarray(a) for a in arrays]  # lists -> arrays
    n = _count([a for a in present if a is not None], "shard")
    if n < size:
        raise ValueError(f"shard: {n} samples cannot be shared among {size} ranks")
    stop = n - n % size if drop_remainder else n
    return [None if a is None else a[rank:stop:size] for a in present]


class ShardedBatches:
    """This rank's part of every global batch, reshuffled each epoch by a seed all ranks share.

    A ``tinyconv.utils.Sequence`` in all but name: ``fit`` draws ``len()`` batches by index and calls
    ``on_epoch_end``. Epoch ``e`` orders the whole data set by ``default_rng(seed + e).permutation(n)``
    (the same on every rank), cuts it into global batches of ``batch_size`` and gives this rank the
    samples at positions ``rank, rank + size, ...`` of each. A one-process run with the same seed sees the
    union of all ranks' batches, step for step. The last ``n % batch_size`` samples of each epoch's order
    are left out (a different few each epoch), so every rank takes the same number of equal steps.

    Args:
        arrays: ``(x, y)`` or ``(x, y, sample_weight)``, each with the same number of samples.
        batch_size: the global batch size, a multiple of ``size``.
        rank: this process's rank; size: the number of ranks.
        shuffle: draw a new order each epoch (False: the data's own order).
        seed: the shared seed.

    Raises:
        ValueError: when ``batch_size`` is not a positive multiple of ``size`` or exceeds the data.

    Example:

    >>> import numpy as np
    >>> x, y = np.arange(8)[:, None], np.arange(8)
    >>> batches = ShardedBatches((x, y), batch_size=4, rank=1, size=2, shuffle=False)
    >>> len(batches), batches[0][1], batches[1][1]
    (2, array([1, 3]), array([5, 7]))
    """

    def __init__(self, arrays, batch_size, rank, size, shuffle=True, seed=0):
        self.arrays = list(arrays)
        self.n = _count(self.arrays, "ShardedBatches")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0 \
                or batch_size % size:
            raise ValueError(f"ShardedBatches: batch_size (the global batch) must be a positive multiple of the "
                             f"{size} ranks, got {batch_size!r}")
        if batch_size > self.n:
            raise ValueError(f"ShardedBatches: batch_size {batch_size} is larger than the {self.n} samples")
        self.batch_size, self.rank, self.size = int(batch_size), rank, size
        self.shuffle, self.seed, self.epoch = shuffle, int(seed), 0
        self._order = self._order_for(0)

    def _order_for(self, epoch):
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng(self.seed + epoch).permutation(self.n)

    def __len__(self):
        return self.n // self.batch_size

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"ShardedBatches: batch {index} out of range 0..{len(self) - 1}")
        start = index * self.batch_size
        mine = self._order[start + self.rank:start + self.batch_size:self.size]
        return tuple(a[mine] for a in self.arrays)

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._order_for(self.epoch)
