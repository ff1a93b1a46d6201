"""Run every scenario of ``scenarios.py`` on this rank and write what it produced to ``OUTDIR/rank<r>.npz``.

Usage: mpiexec -n 2 python -m mpi4py run_scenarios.py OUTDIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/distribute

import numpy as np  # noqa: E402

import tinyconv  # noqa: E402
from tinyconv import distribute  # noqa: E402

import scenarios  # noqa: E402

tinyconv.set_num_threads(1)  # one thread per rank: the ranks share the cores


def main(folder):
    dp = distribute.DataParallel()
    arrays, histories = {}, {}
    for name, run in scenarios.SCENARIOS.items():
        result = run(dp)
        histories[name] = result["history"]
        for epoch, weights in enumerate(result["weights"]):
            for index, weight in enumerate(weights):
                arrays[f"{name}/{epoch}/{index}"] = weight
    resumed = scenarios.save_and_resume(dp, folder)
    for kind in ("straight", "resumed"):
        for index, weight in enumerate(resumed[kind]):
            arrays[f"save_and_resume_{kind}/{index}"] = weight
    histories["save_and_resume_iterations"] = resumed["iterations"]
    np.savez(os.path.join(folder, f"rank{dp.rank}.npz"), **arrays)
    with open(os.path.join(folder, f"rank{dp.rank}.json"), "w") as handle:
        json.dump({"size": dp.size, "histories": histories}, handle)


if __name__ == "__main__":
    main(sys.argv[1])
