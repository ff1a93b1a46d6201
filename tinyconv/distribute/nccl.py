"""The GPU path: the same collectives over NCCL, one GPU per rank, the NCCL id handed round by MPI.

NCCL moves GPU buffers between GPUs directly (NVLink, or the network with GPUDirect), without a
copy to the host. Its communicator is created from a unique id that rank 0 draws and every rank must
receive first: MPI (which the job runs under anyway) carries it. Small Python objects (shapes, logs)
and host arrays still go through MPI.

Each rank takes the GPU of its local rank (its index among the ranks on its own machine), so
``mpiexec -n 8`` on a machine with 8 GPUs puts one rank on each. CuPy with NCCL is needed
(``pip install '.[gpu]'``); without it ``NCCLCommunicator`` refuses with a RuntimeError saying so.
"""
import numpy as np

from .. import devices


def _nccl_module():
    cupy = devices.find_cupy()  # RuntimeError naming what is missing: CuPy, or a CUDA device
    try:
        from cupy.cuda import nccl
    except ImportError as error:
        raise RuntimeError(f"tinyconv.distribute: the GPU path needs CuPy built with NCCL, and "
                           f"`from cupy.cuda import nccl` failed ({error}); install NCCL for CUDA 12 "
                           f"(pip install nvidia-nccl-cu12)") from None
    if not getattr(nccl, "available", True):
        raise RuntimeError("tinyconv.distribute: the GPU path needs NCCL, and this CuPy was built without it; "
                           "install NCCL for CUDA 12 (pip install nvidia-nccl-cu12)")
    return cupy, nccl


class NCCLCommunicator:
    """Collectives on CuPy arrays through NCCL; everything else through the MPI communicator.

    Args:
        mpi: a ``MPICommunicator`` (carries the NCCL id, the Python objects and any host array).

    Raises:
        RuntimeError: without CuPy, NCCL or a CUDA device, or with more ranks on a machine than GPUs.
    """

    name = "NCCL"

    def __init__(self, mpi):
        cupy, nccl = _nccl_module()
        self.cupy, self.nccl, self.mpi = cupy, nccl, mpi
        self.rank, self.size, self.local_rank = mpi.rank, mpi.size, mpi.local_rank
        count = cupy.cuda.runtime.getDeviceCount()
        if self.local_rank >= count:
            raise RuntimeError(f"tinyconv.distribute: rank {self.rank} is local rank {self.local_rank} on its "
                               f"machine, which has {count} GPU(s); start at most one rank per GPU")
        self.device_id = self.local_rank
        cupy.cuda.Device(self.device_id).use()
        unique_id = nccl.get_unique_id() if self.rank == 0 else None
        unique_id = mpi.broadcast_object(unique_id, root=0)
        self.comm = nccl.NcclCommunicator(self.size, unique_id, self.rank)
        self._types = {np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.float32): nccl.NCCL_FLOAT32,
                       np.dtype(np.float64): nccl.NCCL_FLOAT64, np.dtype(np.int32): nccl.NCCL_INT32,
                       np.dtype(np.int64): nccl.NCCL_INT64}

    def _nccl_type(self, buffer):
        kind = self._types.get(np.dtype(buffer.dtype))
        if kind is None:
            raise TypeError(f"NCCLCommunicator: no NCCL type for dtype {buffer.dtype}; "
                            f"expected one of {sorted(str(t) for t in self._types)}")
        return kind

    def allreduce_sum(self, buffer):
        """Sum a contiguous buffer over the ranks in place (CuPy: NCCL; NumPy: MPI); returns it."""
        if devices.is_numpy(buffer):
            return self.mpi.allreduce_sum(buffer)
        stream = self.cupy.cuda.get_current_stream()
        self.comm.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size, self._nccl_type(buffer),
                            self.nccl.NCCL_SUM, stream.ptr)
        return buffer

    def broadcast(self, buffer, root=0):
        """Overwrite a contiguous buffer with the root's (CuPy: NCCL; NumPy: MPI); returns it."""
        if devices.is_numpy(buffer):
            return self.mpi.broadcast(buffer, root)
        stream = self.cupy.cuda.get_current_stream()
        self.comm.broadcast(buffer.data.ptr, buffer.data.ptr, buffer.size, self._nccl_type(buffer), root,
                            stream.ptr)
        return buffer

    def broadcast_object(self, value, root=0):
        return self.mpi.broadcast_object(value, root)

    def allgather_object(self, value):
        return self.mpi.allgather_object(value)

    def barrier(self):
        self.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier()

    def abort(self, code=1):
        self.mpi.abort(code)
