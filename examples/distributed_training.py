"""Data parallel training over MPI: ResNet-20 (or a LeNet-style CNN) on the digits on 1, 2 and 4 processes.

What it teaches: how one training script becomes a distributed one (``tinyconv.distribute``, see
docs/distributed.md). Every rank holds the whole model and trains on its shard of the data; the
gradients are averaged by an allreduce before every update, so the ranks stay identical and N ranks
at batch 64 / N take the steps one process takes at batch 64. The learning rate stays that of the
global batch of 64.

The model: ResNet-20 (He et al., 2016; 16/32/64 filters, batch norm, residual adds) on the 8x8 digits
enlarged to 32x32 by repeating each pixel, or with ``--model lenet`` the project's LeNet-style demo
CNN on the 8x8 digits.

What it prints: for each rank count, the training time, the speed-up over the first rank count and
the test accuracy. The steps are the same whatever the rank count, but float32 sums are added in
another order, and a deep network with batch norm amplifies those last-bit differences: after two
epochs the accuracies differ by a few points (in float64 the weights of 1 and 2 ranks agree to 1e-11).
ResNet-20's steps are long enough for the ranks to pay off; the LeNet-style CNN's take about 2 ms,
much of it fixed costs that do not shrink with the batch, so on 2 ranks it gains little or nothing:
a latency-bound model. On a machine with fewer cores than ranks (or busy with other work) the ranks
wait for each other and the speed-up stops growing: that is the machine, not the method.

    python examples/distributed_training.py [--ranks 1,2,4] [--epochs 2] [--model resnet20|lenet]
    mpiexec -n 4 python -m mpi4py examples/distributed_training.py --worker   # one run, by hand

Needs mpi4py and an MPI (``pip install mpi4py mpich`` where no MPI is installed) and scikit-learn
for the digits.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

GLOBAL_BATCH = 64


def resnet20(keras, layers):
    """ResNet-20 for 32x32x1 images: 3 stages of 3 basic blocks, a 1x1 convolution where a stage halves the size."""
    def conv_bn(x, filters, kernel, strides=1):
        x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        # synchronized: the statistics of the global batch, so every rank count trains the same model;
        # momentum 0.9: the moving statistics settle within the few dozen steps of a short run.
        return layers.BatchNormalization(synchronized=True, momentum=0.9)(x)

    inputs = keras.Input(shape=(32, 32, 1))
    x = layers.Activation("relu")(conv_bn(inputs, 16, 3))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage > 0 and block == 0 else 1
            y = conv_bn(layers.Activation("relu")(conv_bn(x, filters, 3, strides)), filters, 3)
            shortcut = conv_bn(x, filters, 1, strides) if strides != 1 else x
            x = layers.Activation("relu")(layers.add([y, shortcut]))
    outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="resnet20")


def lenet(keras, layers):
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name="lenet_digits")


MODELS = {"resnet20": (resnet20, 4), "lenet": (lenet, 1)}  # builder, how much each digit is enlarged


def worker(model_name, epochs):
    """One rank's part: shard, train, evaluate; rank 0 prints a RESULT line for the driver."""
    import tinyconv as keras
    from tinyconv import distribute, layers

    keras.set_num_threads(1)  # one core per rank: the ranks are the parallelism
    dp = distribute.DataParallel()
    keras.utils.set_random_seed(0)
    build, scale = MODELS[model_name]
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    # Pixels 0..16 to [0, 1], each pixel repeated scale x scale times, a channel axis (NHWC).
    x_train = (x_train / 16.0).astype("float32").repeat(scale, axis=1).repeat(scale, axis=2)[..., None]
    x_test = (x_test / 16.0).astype("float32").repeat(scale, axis=1).repeat(scale, axis=2)[..., None]
    x_train, y_train = dp.shard(x_train, y_train)  # sample i to rank i % size
    x_test, y_test = dp.shard(x_test, y_test)

    model = build(keras, layers)
    model.compile(optimizer=dp.optimizer(keras.optimizers.Adam(1e-3)), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    dp.barrier()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=GLOBAL_BATCH // dp.size, epochs=epochs, shuffle=False,
              callbacks=dp.callbacks(), verbose=0)
    dp.barrier()
    seconds = time.perf_counter() - start
    test = dp.average(model.evaluate(x_test, y_test, verbose=0, return_dict=True))
    if dp.is_chief:
        print("RESULT " + json.dumps({"ranks": dp.size, "seconds": seconds, **test}), flush=True)


def mpiexec():
    beside = pathlib.Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("this example needs an MPI launcher and mpi4py: python3 -m pip install mpi4py mpich")
    return found


def run(ranks, model_name, epochs):
    """Start the worker on ``ranks`` processes and return rank 0's RESULT."""
    command = [sys.executable, "-m", "mpi4py", __file__, "--worker", "--model", model_name, "--epochs", str(epochs)]
    if ranks > 1:
        command = [mpiexec(), "-n", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    root = str(pathlib.Path(__file__).resolve().parents[1])  # this checkout's tinyconv, installed or not
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    output = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if output.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{output.stderr[-3000:]}")
    line = next(line for line in output.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="1,2,4", help="rank counts to compare, e.g. 1,2,4")
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet20")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help="run as one rank (under mpiexec)")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.model, args.epochs)

    results = [run(int(n), args.model, args.epochs) for n in args.ranks.split(",")]
    base = results[0]["seconds"]  # the speed-up is over the first rank count (1 by default)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.model} on the digits, global batch {GLOBAL_BATCH}, {args.epochs} epochs, {cores} cores here")
    print(f"{'ranks':>5} {'batch/rank':>10} {'time':>8} {'speed-up':>9} {'test accuracy':>14}")
    for result in results:
        note = "  (more ranks than cores: they share)" if result["ranks"] > cores else ""
        print(f"{result['ranks']:>5} {GLOBAL_BATCH // result['ranks']:>10} {result['seconds']:>7.2f}s "
              f"{base / result['seconds']:>8.2f}x {result['accuracy']:>14.3f}{note}")
    return results


if __name__ == "__main__":
    main()
