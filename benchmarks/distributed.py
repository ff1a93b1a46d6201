"""Data parallel training over MPI: allreduce time by buffer size, and step-time scaling from 1 to N ranks.

    python3 benchmarks/distributed.py                    # 2 ranks (this machine's cores), a few minutes
    python3 benchmarks/distributed.py --ranks 1,2,4,8,16 --threads 16   # on a 16-core machine

The script is its own driver: run with plain ``python`` it starts its measurements under ``mpiexec``
(the one beside this Python, else the first on PATH) and prints markdown tables:

1. **allreduce**: ``MPI.Allreduce`` of float32 buffers of the benchmark models' gradient sizes and of
   128 MiB, on the largest rank count; median of repeated calls, with the algorithm bandwidth
   (bytes / time) and the bus bandwidth (2 (N - 1) / N x bytes / time, what each link carries in a
   ring) and the teaching ring (``tinyconv.distribute.ring_allreduce``) beside MPI's.
2. **scaling**: one training step (``train_on_batch``, SGD, the suite's global batches: LeNet-5 64,
   VGG block 32, ResNet-20 32) on 1 rank and on N ranks with one thread each (each rank takes
   batch / N and the gradients are averaged), beside one process with ``--threads`` threads.
   Speed-up = 1-rank time / N-rank time; efficiency = speed-up / N. The configurations take turns
   for ``--rounds`` rounds and each keeps its best round (its median step), so that a burst of load
   from elsewhere on a shared machine hits one round, not one configuration.
3. **over a network, on paper**: the same steps if the ranks were machines joined by 10, 25 and
   100 Gbit/s links, from the measured compute time and the ring's cost model
   2 (N - 1) alpha + 2 (N - 1) / N x bytes / beta (alpha: ``--latency-us`` per message).
"""
import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

MODELS = {"lenet5": 64, "vgg_block": 32, "resnet20": 32}  # global batch per step, as in the suite
ALLREDUCE_EXTRA_BYTES = [4 * 1024, 1024 ** 2, 16 * 1024 ** 2, 128 * 1024 ** 2]
LINKS_GBIT = (10, 25, 100)


# ------------------------------------------------------------------ workers (run under mpiexec)
def _median_seconds(fn, repeats, barrier):
    times = []
    for _ in range(repeats):
        barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker_allreduce(args):
    import numpy as np
    from mpi4py import MPI

    from tinyconv.distribute import ring_allreduce

    comm = MPI.COMM_WORLD
    rows = []
    for nbytes in json.loads(args.sizes):
        buffer = np.ones(nbytes // 4, dtype=np.float32)
        repeats = 5 if nbytes >= 64 * 1024 ** 2 else 30
        comm.Allreduce(MPI.IN_PLACE, buffer)  # warm up (connections, page faults)
        mpi = _median_seconds(lambda: comm.Allreduce(MPI.IN_PLACE, buffer), repeats, comm.Barrier)
        ring = _median_seconds(lambda: ring_allreduce(buffer, comm), max(3, repeats // 3), comm.Barrier)
        rows.append({"bytes": nbytes, "mpi_s": mpi, "ring_s": ring})
    if comm.rank == 0:
        pathlib.Path(args.out).write_text(json.dumps({"ranks": comm.size, "rows": rows}))


def worker_steps(args):
    import numpy as np

    import tinyconv as keras
    from tinyconv import distribute
    from benchmarks import cases

    keras.set_num_threads(args.threads)
    dp = distribute.DataParallel()
    rows = []
    for name, global_batch in MODELS.items():
        spec = cases.MODELS[name]
        keras.utils.set_random_seed(0)
        x, y = cases.model_data(spec, global_batch, np.random.default_rng(0))
        x, y = dp.shard(x, y)
        model = spec.tinyconv_model()
        model.compile(optimizer=dp.optimizer(keras.optimizers.SGD(cases.LEARNING_RATE)),
                      loss="sparse_categorical_crossentropy")
        dp.broadcast(model)
        for _ in range(3):
            model.train_on_batch(x, y)
        repeats = args.repeats if name != "lenet5" else 4 * args.repeats
        step = _median_seconds(lambda: model.train_on_batch(x, y), repeats, dp.barrier)
        gradient_bytes = sum(np.asarray(w).nbytes for w in model.trainable_weights)
        buffer = np.ones(gradient_bytes // 4, dtype=np.float32)
        allreduce = _median_seconds(lambda: dp.communicator.allreduce_sum(buffer), 4 * repeats, dp.barrier)
        rows.append({"model": name, "global_batch": global_batch, "step_s": step,
                     "allreduce_s": allreduce if dp.size > 1 else 0.0, "gradient_bytes": gradient_bytes})
    if dp.is_chief:
        pathlib.Path(args.out).write_text(json.dumps({"ranks": dp.size, "threads": args.threads, "rows": rows}))


# ------------------------------------------------------------------ the driver
def best_round(results):
    """One configuration's results over the rounds, each model keeping its fastest round."""
    best = dict(results[0], rows=[])
    for index in range(len(results[0]["rows"])):
        best["rows"].append(min((r["rows"][index] for r in results), key=lambda row: row["step_s"]))
    return best


def mpiexec():
    beside = pathlib.Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("benchmarks/distributed.py needs mpi4py and an MPI launcher: python3 -m pip install mpi4py mpich")
    return found


def launch(ranks, worker_args, threads):
    """Run this file as a worker on ``ranks`` processes (plain python for one); returns its JSON."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "result.json")
        command = [sys.executable, __file__, *worker_args, "--out", out]
        if ranks > 1:
            command = [mpiexec(), "-n", str(ranks), *command]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(pathlib.Path(__file__).parents[1]))
        subprocess.run(command, env=env, check=True, timeout=1800)
        return json.loads(pathlib.Path(out).read_text())


def model_gradient_bytes():
    """float32 bytes of each model's trainable weights: what one step's allreduce carries."""
    import numpy as np

    from benchmarks import cases

    return {name: sum(4 * np.asarray(w).size for w in cases.MODELS[name].tinyconv_model().trainable_weights)
            for name in MODELS}


def cpu_name():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def size_label(nbytes):
    for unit, scale in (("MiB", 1024 ** 2), ("KiB", 1024)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} B"


def allreduce_table(result, model_bytes):
    names = {nbytes: name for name, nbytes in model_bytes.items()}
    n = result["ranks"]
    lines = [f"| buffer | MPI Allreduce | algorithm GB/s | bus GB/s | teaching ring | ring / MPI |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in result["rows"]:
        label = size_label(row["bytes"]) + (f" ({names[row['bytes']]} gradients)" if row["bytes"] in names else "")
        algorithm = row["bytes"] / row["mpi_s"] / 1e9
        lines.append(f"| {label} | {row['mpi_s'] * 1e3:.3f} ms | {algorithm:.2f} | "
                     f"{algorithm * 2 * (n - 1) / n:.2f} | {row['ring_s'] * 1e3:.3f} ms | "
                     f"{row['ring_s'] / row['mpi_s']:.2f} |")
    return "\n".join(lines)


def scaling_table(one, many, threads):
    lines = ["| model (global batch) | 1 rank | " + " | ".join(f"{r['ranks']} ranks (speed-up, efficiency)"
                                                         for r in many)
             + f" | 1 process, {threads['threads']} threads (speed-up) | allreduce share at {many[-1]['ranks']} ranks |",
             "| --- | ---: | " + " | ".join("---:" for _ in many) + " | ---: | ---: |"]
    for index, row in enumerate(one["rows"]):
        cells = []
        for result in many:
            other = result["rows"][index]
            speedup = row["step_s"] / other["step_s"]
            cells.append(f"{other['step_s'] * 1e3:.1f} ms ({speedup:.2f}x, {speedup / result['ranks']:.0%})")
        threaded = threads["rows"][index]["step_s"]
        last = many[-1]["rows"][index]
        lines.append(f"| {row['model']} ({row['global_batch']}) | {row['step_s'] * 1e3:.1f} ms | " + " | ".join(cells)
                     + f" | {threaded * 1e3:.1f} ms ({row['step_s'] / threaded:.2f}x) | "
                     f"{last['allreduce_s'] / last['step_s']:.1%} |")
    return "\n".join(lines)


def network_table(one, latency_s, ranks_list=(2, 4, 16)):
    """Strong scaling on paper: compute T1 / N per rank plus the ring's allreduce over the link."""
    from tinyconv.distribute.ring_allreduce import ring_cost_seconds

    lines = ["| model | link | " + " | ".join(f"{n} machines" for n in ranks_list) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in ranks_list) + " |"]
    for row in one["rows"]:
        for gbit in LINKS_GBIT:
            cells = []
            for n in ranks_list:
                comm = ring_cost_seconds(row["gradient_bytes"], n, gbit * 1e9 / 8, latency_s)
                step = row["step_s"] / n + comm
                cells.append(f"{row['step_s'] / step / n:.0%} ({comm * 1e3:.2f} ms comm)")
            lines.append(f"| {row['model']} | {gbit} Gbit/s | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="2", help="rank counts for the scaling table, e.g. 2 or 2,4,8,16")
    parser.add_argument("--threads", type=int, default=2, help="threads of the one-process comparison")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per model (LeNet-5: 4x)")
    parser.add_argument("--rounds", type=int, default=3, help="turns the configurations take")
    parser.add_argument("--latency-us", type=float, default=10.0, help="per-message latency for the paper table")
    parser.add_argument("--save", help="also write the raw results to this JSON file")
    parser.add_argument("--worker", choices=["allreduce", "steps"], help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "allreduce":
        return worker_allreduce(args)
    if args.worker == "steps":
        return worker_steps(args)

    ranks = [int(r) for r in args.ranks.split(",")]
    model_bytes = model_gradient_bytes()
    sizes = sorted(set(model_bytes.values()) | set(ALLREDUCE_EXTRA_BYTES))
    steps = ["--worker", "steps", "--repeats", str(args.repeats)]
    allreduce = launch(max(ranks), ["--worker", "allreduce", "--sizes", json.dumps(sizes)], 1)
    rounds = []
    for _ in range(args.rounds):
        rounds.append([launch(1, steps + ["--threads", "1"], 1)]
                      + [launch(n, steps + ["--threads", "1"], 1) for n in ranks if n > 1]
                      + [launch(1, steps + ["--threads", str(args.threads)], args.threads)])
    one, *many, threads = [best_round([r[i] for r in rounds]) for i in range(len(rounds[0]))]
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; Python {platform.python_version()}; "
          f"load average at the end (1 / 5 / 15 min): {load}\n")
    print(f"### Allreduce, {allreduce['ranks']} processes on this machine (float32)\n")
    print(allreduce_table(allreduce, model_bytes) + "\n")
    print("### One training step, 1 thread per rank\n")
    print(scaling_table(one, many, threads) + "\n")
    print(f"### On paper: efficiency over a network (alpha = {args.latency_us:g} us per message)\n")
    print(network_table(one, args.latency_us * 1e-6))
    if args.save:
        pathlib.Path(args.save).write_text(json.dumps({"cpu": cpu_name(), "allreduce": allreduce, "one": one,
                                                       "many": many, "threads": threads}, indent=1))


if __name__ == "__main__":
    main()
