"""Training on several processes (and machines): synchronous data parallelism over MPI.

    from tinyconv import distribute
    dp = distribute.DataParallel()

Every rank holds the whole model and trains on its shard of the data; the gradients are averaged
over the ranks by an allreduce before every update, so the ranks stay identical. Launch with
``mpiexec -n 4 python -m mpi4py train.py``; under plain ``python`` the same script runs as one
process. mpi4py is optional: it is imported only under an MPI launcher. See docs/distributed.md.

One module per job:

* ``data_parallel``: ``DataParallel``, the script's entry point;
* ``communicator``: which processes we are (MPI or a single process) and their collectives;
* ``sharding``: which samples each rank trains on;
* ``fused``, ``averaging``: the gradients of all layers averaged in one buffer, in the optimizer;
* ``state``, ``callbacks``: rank 0's weights broadcast at the start, logs averaged each epoch;
* ``active``: the communicator ``BatchNormalization(synchronized=True)`` reduces over;
* ``ring_allreduce``: the teaching twin of MPI's ``Allreduce``, with its cost model;
* ``nccl``: the GPU path (CuPy + NCCL), loaded only when asked for.
"""
from .communicator import MPICommunicator, SingleProcess, connect, launched_by_mpi
from .data_parallel import DataParallel
from .ring_allreduce import ring_allreduce, simulate_ring_allreduce
from .sharding import ShardedBatches, shard

__all__ = ["DataParallel", "MPICommunicator", "ShardedBatches", "SingleProcess", "connect", "launched_by_mpi",
           "ring_allreduce", "shard", "simulate_ring_allreduce"]
