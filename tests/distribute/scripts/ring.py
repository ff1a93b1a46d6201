"""The ring allreduce against MPI's Allreduce on random buffers of awkward sizes; a JSON report per rank.

Usage: mpiexec -n 3 python -m mpi4py ring.py OUTDIR   (writes OUTDIR/rank<r>.json)
"""
import json
import os
import sys

import numpy as np
from mpi4py import MPI

from tinyconv.distribute import MPICommunicator, ring_allreduce

comm = MPI.COMM_WORLD
checked, problems = 0, []
for size in (0, 1, 2, 3, 5, 7, 64, 1001, 65537):
    for dtype in ("int64", "float64", "float32"):
        rng = np.random.default_rng(1000 * comm.rank + size)
        mine = (rng.integers(-1000, 1000, size) if dtype == "int64" else rng.normal(size=size)).astype(dtype)
        expected = mine.copy()
        comm.Allreduce(MPI.IN_PLACE, expected, op=MPI.SUM)
        for over in (comm, MPICommunicator(comm)):  # an mpi4py communicator, or tinyconv's wrapper
            got = ring_allreduce(mine, over)
            checked += 1
            if got.dtype != mine.dtype or got.shape != (size,):
                problems.append(f"{size} {dtype}: got {got.dtype} {got.shape}")
            elif dtype == "int64" and not np.array_equal(got, expected):
                problems.append(f"{size} int64: differs from Allreduce")
            elif dtype != "int64" and not np.allclose(got, expected, rtol=1e-5 if dtype == "float32" else 1e-12,
                                                      atol=1e-5 if dtype == "float32" else 1e-12):
                problems.append(f"{size} {dtype}: differs from Allreduce by {np.abs(got - expected).max()}")
        # The input is left as it was; every rank ends with the same sum.
        everyone = comm.allgather(ring_allreduce(mine, comm).tobytes())
        if len(set(everyone)) != 1:
            problems.append(f"{size} {dtype}: the ranks hold different results")
with open(os.path.join(sys.argv[1], f"rank{comm.rank}.json"), "w") as handle:
    json.dump({"rank": comm.rank, "size": comm.size, "checked": checked, "problems": problems}, handle)
