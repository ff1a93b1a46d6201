"""The ring allreduce, written out: the teaching twin of MPI's ``Allreduce`` (see docs/distributed.md).

Every rank holds a buffer of n numbers; afterwards every rank must hold the element-wise sum of all
N buffers. Put the ranks in a ring (rank r sends to r + 1 and receives from r - 1) and cut each
buffer into N chunks. Two phases of N - 1 steps each, every rank sending one chunk per step:

1. **reduce-scatter**: at step s, rank r sends chunk (r - s) mod N to its right neighbour and adds
   the chunk (r - s - 1) mod N that arrives from its left one to its own. A chunk travels round
   the ring picking up one more rank's contribution at every hop, so after N - 1 steps rank r holds
   the complete sum of chunk (r + 1) mod N.
2. **all-gather**: at step s, rank r sends chunk (r + 1 - s) mod N (complete) to the right and
   stores the complete chunk (r - s) mod N arriving from the left. After N - 1 steps every rank
   holds every complete chunk.

Cost: each rank sends 2 (N - 1) messages of n / N numbers, so with a per-message latency alpha and a
link bandwidth beta

    time = 2 (N - 1) alpha + 2 (N - 1) / N * bytes / beta

The bandwidth term hardly grows with N (it tends to 2 x bytes / beta): that is why the ring is
the allreduce of large gradients. The latency term grows linearly with N: that is why small
buffers use other algorithms (recursive doubling takes log2 N steps).

``ring_allreduce`` runs over MPI point-to-point messages (``Sendrecv``); ``simulate_ring_allreduce``
runs the same steps for N buffers in one process, to be stepped through without MPI.
"""
import numpy as np


def chunk_bounds(n, size):
    """Where each of ``size`` chunks of an n-element buffer starts and stops (sizes differ by at most one).

    Example:

    >>> chunk_bounds(7, 3)
    [0, 2, 4, 7]
    """
    return [n * i // size for i in range(size + 1)]


def reduce_scatter_step(rank, size, step):
    """(chunk sent to the right, chunk received from the left and added) at ``step`` of phase 1."""
    return (rank - step) % size, (rank - step - 1) % size


def all_gather_step(rank, size, step):
    """(chunk sent to the right, chunk received from the left and stored) at ``step`` of phase 2."""
    return (rank + 1 - step) % size, (rank - step) % size


def ring_allreduce(buffer, comm):
    """The sum of ``buffer`` over all ranks of ``comm``, by the ring algorithm: a new flat array on every rank.

    Args:
        buffer: this rank's numbers (any shape; flattened). Every rank passes the same size and dtype.
        comm: an ``mpi4py.MPI.Comm``, or a ``tinyconv.distribute`` communicator over MPI.

    Returns:
        A 1-D array of ``buffer``'s dtype: the element-wise sum over the ranks.

    Example (a plain ``python`` process is a ring of one, which gives its own buffer back; under
    ``mpiexec -n 3`` every rank would get the sum of the three buffers):

    >>> import numpy as np
    >>> from tinyconv.distribute.communicator import connect
    >>> ring_allreduce(np.arange(4.0), connect())
    array([0., 1., 2., 3.])
    """
    comm = getattr(comm, "comm", comm)  # a tinyconv communicator wraps the mpi4py one
    result = np.array(buffer, copy=True).reshape(-1)
    size = comm.Get_size() if hasattr(comm, "Get_size") else 1
    if size == 1:
        return result
    rank = comm.Get_rank()
    right, left = (rank + 1) % size, (rank - 1) % size
    bounds = chunk_bounds(result.size, size)

    def chunk(index):  # a view: what arrives is written straight into the result
        return result[bounds[index]:bounds[index + 1]]

    for step in range(size - 1):  # phase 1: reduce-scatter
        send, receive = reduce_scatter_step(rank, size, step)
        incoming = np.empty_like(chunk(receive))
        comm.Sendrecv(chunk(send), dest=right, recvbuf=incoming, source=left)
        chunk(receive)[...] += incoming
    for step in range(size - 1):  # phase 2: all-gather
        send, receive = all_gather_step(rank, size, step)
        comm.Sendrecv(chunk(send), dest=right, recvbuf=chunk(receive), source=left)
    return result


def simulate_ring_allreduce(buffers):
    """The ring allreduce of ``buffers`` (one per rank) in one process, step by step as the ranks would run it.

    Args:
        buffers: a list of N arrays of one size and dtype, buffer r being rank r's.

    Returns:
        A list of N flat arrays, each the element-wise sum of all buffers.

    Example:

    >>> import numpy as np
    >>> [b.tolist() for b in simulate_ring_allreduce([np.array([1, 2, 3]), np.array([10, 20, 30])])]
    [[11, 22, 33], [11, 22, 33]]
    """
    held = [np.array(b, copy=True).reshape(-1) for b in buffers]
    size = len(held)
    bounds = chunk_bounds(held[0].size if held else 0, size)

    def chunk(rank, index):
        return held[rank][bounds[index]:bounds[index + 1]]

    for step in range(size - 1):
        # Every rank sends at once: collect the messages first, then deliver them.
        sent = [chunk(rank, reduce_scatter_step(rank, size, step)[0]).copy() for rank in range(size)]
        for rank in range(size):
            chunk(rank, reduce_scatter_step(rank, size, step)[1])[...] += sent[(rank - 1) % size]
    for step in range(size - 1):
        sent = [chunk(rank, all_gather_step(rank, size, step)[0]).copy() for rank in range(size)]
        for rank in range(size):
            chunk(rank, all_gather_step(rank, size, step)[1])[...] = sent[(rank - 1) % size]
    return held


def ring_cost_seconds(nbytes, size, bandwidth_bytes_per_s, latency_s):
    """The cost model of the ring: 2 (N - 1) latency + 2 (N - 1) / N x bytes / bandwidth.

    Example: 1 MB over 4 ranks on a 10 Gbit/s link (1.25e9 B/s) with 10 us per message:

    >>> round(ring_cost_seconds(1e6, 4, 1.25e9, 10e-6) * 1e3, 3)  # milliseconds
    1.26
    """
    if size < 2:
        return 0.0
    return 2 * (size - 1) * latency_s + 2 * (size - 1) / size * nbytes / bandwidth_bytes_per_s
