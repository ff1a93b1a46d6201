"""tinyconv on the GPU (CuPy) against PyTorch CUDA: a 3x3 convolution, a LeNet and a ResNet-20
training step, in FP32 with TF32 off in PyTorch, then with TF32 on.

Needs an NVIDIA GPU, CuPy and PyTorch with CUDA; run from the repository root:

    python benchmarks/gpu_bench.py              # all cases, TF32 off then on
    python benchmarks/gpu_bench.py --repeat 50 --cases conv3x3,lenet

Importing this file needs neither CuPy nor torch (so ``--help`` works anywhere).  Times are the
median over ``--repeat`` calls after warm-up, each call closed by a device synchronisation.
tinyconv's kernels compute in FP32 through cuBLAS, which uses TF32 only when CuPy is told to
(``CUPY_TF32=1`` in the environment); this script sets it for the TF32 run, but CuPy may read it
only once, so for a clean TF32 figure also run ``CUPY_TF32=1 python benchmarks/gpu_bench.py --tf32 on``.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

CASES = ("conv3x3", "lenet", "resnet20")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="tinyconv GPU (CuPy) vs PyTorch CUDA, FP32 with TF32 off, "
                                     "then TF32 on (torch.backends.cudnn.allow_tf32 and "
                                     "torch.backends.cuda.matmul.allow_tf32).")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {CASES}")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per case (median reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    parser.add_argument("--tf32", choices=("off", "on", "both"), default="both", help="which TF32 settings to run")
    return parser.parse_args(argv)


def median_seconds(fn, sync, repeat, warmup):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lenet_layers(keras):
    return [keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(6, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Conv2D(16, 5, activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(120, activation="relu"),
            keras.layers.Dense(84, activation="relu"), keras.layers.Dense(10, activation="softmax")]


def resnet20(keras):
    """He et al.'s CIFAR ResNet-20: 3 stages x 3 basic blocks, 16/32/64 filters."""
    inputs = keras.Input(shape=(32, 32, 3))
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Conv2D(16, 3, padding="same")(inputs)))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same")(x)
            y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
            y = keras.layers.BatchNormalization()(keras.layers.Conv2D(filters, 3, padding="same")(y))
            shortcut = x if stride == 1 else keras.layers.Conv2D(filters, 1, strides=stride)(x)
            x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(x))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def torch_models(torch):
    nn = torch.nn

    def lenet():
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                             nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                                      nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
            self.short = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)

        def forward(self, x):
            return torch.relu(self.body(x) + self.short(x))

    def resnet():
        layers, cin = [nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU()], 16
        for stage, cout in enumerate((16, 32, 64)):
            for block in range(3):
                layers.append(Block(cin, cout, 2 if stage > 0 and block == 0 else 1))
                cin = cout
        return nn.Sequential(*layers, nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, 10))

    return {"lenet": lenet, "resnet20": resnet}


def tinyconv_case(name, keras, cupy):
    rng = np.random.default_rng(0)
    if name == "conv3x3":
        layer = keras.layers.Conv2D(64, 3, padding="same")
        x = cupy.asarray(rng.standard_normal((32, 32, 32, 64), dtype=np.float32))
        layer(x)  # build on the GPU

        def step():
            layer.backward(layer.forward(x, training=True))
        return step
    batch, shape = (64, (28, 28, 1)) if name == "lenet" else (128, (32, 32, 3))
    model = keras.Sequential(lenet_layers(keras)) if name == "lenet" else resnet20(keras)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    x = cupy.asarray(rng.standard_normal((batch,) + shape, dtype=np.float32))
    y = cupy.asarray(rng.integers(0, 10, batch))
    return lambda: model.train_on_batch(x, y)


def torch_case(name, torch):
    device = torch.device("cuda")
    if name == "conv3x3":
        conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
        x = torch.randn(32, 64, 32, 32, device=device, requires_grad=True)

        def step():
            conv(x).backward(torch.ones(32, 64, 32, 32, device=device))
        return step
    batch, shape = (64, (1, 28, 28)) if name == "lenet" else (128, (3, 32, 32))
    model = torch_models(torch)[name]().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn((batch,) + shape, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step


def run(args):
    import cupy
    import torch

    import tinyconv as keras

    keras.backend.set_device("gpu")
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = set(names) - set(CASES)
    if unknown:
        sys.exit(f"unknown cases {sorted(unknown)}; choose from {CASES}")
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.tf32]
    print(f"{'case':10} {'TF32':5} {'tinyconv ms':>12} {'torch ms':>10} {'speed vs torch':>15}")
    for tf32 in settings:
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        os.environ["CUPY_TF32"] = "1" if tf32 else "0"  # read by CuPy's cuBLAS calls
        for name in names:
            ours = median_seconds(tinyconv_case(name, keras, cupy), cupy.cuda.Device().synchronize,
                                  args.repeat, args.warmup)
            theirs = median_seconds(torch_case(name, torch), torch.cuda.synchronize, args.repeat, args.warmup)
            print(f"{name:10} {'on' if tf32 else 'off':5} {ours * 1e3:12.3f} {theirs * 1e3:10.3f} "
                  f"{theirs / ours:14.2f}x")


if __name__ == "__main__":
    run(parse_args())
