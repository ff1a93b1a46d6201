"""tinyconv on the GPU (CuPy) against PyTorch CUDA: a 3x3 convolution, a LeNet-5 and a ResNet-20
training step, FP32 with TF32 off, then with TF32 on in both libraries.

Needs an NVIDIA GPU, CuPy and PyTorch with CUDA; run from the repository root:

    python benchmarks/gpu_bench.py                       # every case, TF32 off then on
    python benchmarks/gpu_bench.py --cases lenet --tf32 off --steps 100
    python benchmarks/gpu_bench.py --dry-run             # no GPU: the test suite's CuPy stand-in, tiny sizes

How it measures (each TF32 setting runs in a fresh process, because CuPy reads ``CUPY_TF32`` once,
when it first needs the cuBLAS compute type; the variable is set before CuPy is imported, and the
worker refuses to run when it does not match):

* first call: the very first step in that process, closed by a synchronisation - kernel
  compilation (into a fresh, empty ``CUPY_CACHE_DIR`` unless ``--keep-kernel-cache``), cuBLAS and
  cuDNN start-up, the memory pool's first allocations;
* latency: the median of ``--repeat`` steps, each closed by a device synchronisation, with the
  batch already on the device (NumPy labels for tinyconv: the loss checks them on the host);
* throughput: ``--steps`` steps from host data with one synchronisation at the end, as training
  runs: tinyconv's ``fit`` (each batch copied to the device), PyTorch's loop copying each batch;
* CPU vs GPU: ``cupyx.profiler.benchmark``'s per-step host time and device time (CUDA events on
  the null stream, which PyTorch's default stream also is); host time above device time means the
  step is bound by launching kernels, not by running them;
* accuracy: one float64 training step of LeNet-5 and ResNet-20 with the same weights and batch in
  both libraries: the loss and every weight gradient compared (relative error).

Importing this file needs neither CuPy nor torch, so ``--help`` works anywhere.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = ("conv3x3", "lenet", "resnet20")
BATCH = {"conv3x3": 32, "lenet": 64, "resnet20": 128}
MODEL_CASES = ("lenet", "resnet20")
# The targets: tinyconv's speed as a fraction of PyTorch's (throughput, TF32 off and on alike).
TARGETS = {"conv3x3": 0.5, "lenet": 1.0, "resnet20": 0.5}
ACCURACY_TOLERANCE = 1e-8  # float64: only the order of additions differs between the libraries
RESULT_TAG = "GPU_BENCH_RESULT "
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = {"repeat": 2, "steps": 2, "warmup": 1, "batch": 4}  # --dry-run defaults: exercise, don't measure


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="tinyconv on the GPU (CuPy) vs PyTorch CUDA: first call, latency, throughput, host vs device "
                    "time, float64 accuracy; FP32 with TF32 off, then TF32 on (CUPY_TF32=1 set before CuPy is "
                    "imported, in a fresh process; torch.backends.cuda.matmul.allow_tf32 and cudnn.allow_tf32).")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {CASES}")
    parser.add_argument("--tf32", choices=("off", "on", "both"), default="both", help="which TF32 settings to run")
    parser.add_argument("--repeat", type=int, default=None, help="latency: synchronised steps, median (30)")
    parser.add_argument("--steps", type=int, default=None, help="throughput: steps with one synchronisation (50)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps before each measure (5)")
    parser.add_argument("--batch", type=int, default=None,
                        help=f"one batch size for every case instead of {BATCH} (smoke runs)")
    parser.add_argument("--no-accuracy", dest="accuracy", action="store_false",
                        help="skip the float64 comparison with PyTorch")
    parser.add_argument("--no-torch", dest="torch", action="store_false", help="time tinyconv alone")
    parser.add_argument("--keep-kernel-cache", action="store_true",
                        help="use CuPy's usual kernel cache (the first call then omits compilation)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="also write the results as a markdown table")
    parser.add_argument("--dry-run", action="store_true",
                        help="no GPU needed: tinyconv on the test suite's CuPy stand-in (tests/gpu/standin_cupy.py), "
                             "PyTorch on the CPU if installed, tiny sizes; checks the script, measures nothing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one TF32 setting, this process
    args = parser.parse_args(argv)
    for name, default in (("repeat", 30), ("steps", 50), ("warmup", 5)):
        if getattr(args, name) is None:
            setattr(args, name, SMALL[name] if args.dry_run else default)
    if args.batch is None and args.dry_run:
        args.batch = SMALL["batch"]
    args.case_names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = sorted(set(args.case_names) - set(CASES))
    if unknown or not args.case_names:
        parser.error(f"unknown cases {unknown}; choose from {CASES}")
    if min(args.repeat, args.steps) < 1 or args.warmup < 0 or (args.batch is not None and args.batch < 1):
        parser.error("--repeat, --steps and --batch must be positive, --warmup not negative")
    return args


# ----------------------------------------------------------------------------------------------
# The models, in both libraries, with the same maths
# ----------------------------------------------------------------------------------------------
def lenet_layers(keras):
    return [keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(6, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Conv2D(16, 5, activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(120, activation="relu"),
            keras.layers.Dense(84, activation="relu"), keras.layers.Dense(10, activation="softmax")]


def resnet20(keras):
    """He et al.'s CIFAR ResNet-20: 3 stages x 3 basic blocks, 16/32/64 filters.

    Returns (model, layers with weights in creation order) - the order the PyTorch twin registers them.
    """
    made = []

    def apply(layer, x):  # the layer, remembered in creation order, on x
        made.append(layer)
        return layer(x)

    def conv_bn(x, filters, stride):
        x = apply(keras.layers.Conv2D(filters, 3, strides=stride, padding="same"), x)
        return apply(keras.layers.BatchNormalization(), x)

    inputs = keras.Input(shape=(32, 32, 3))
    x = keras.layers.ReLU()(conv_bn(inputs, 16, 1))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            y = conv_bn(keras.layers.ReLU()(conv_bn(x, filters, stride)), filters, 1)
            shortcut = x if stride == 1 else apply(keras.layers.Conv2D(filters, 1, strides=stride), x)
            x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(x))
    outputs = apply(keras.layers.Dense(10, activation="softmax"), x)
    return keras.Model(inputs, outputs), made


def tinyconv_model(name, keras):
    """(compiled-ready model, its layers with weights in creation order)."""
    if name == "lenet":
        model = keras.Sequential(lenet_layers(keras))
        return model, [layer for layer in model.layers if layer.weights]
    return resnet20(keras)


def torch_models(torch, exact_padding=False):
    """PyTorch twins of the two models (NCHW).  LeNet flattens channels-last, as Keras does, so one
    weight layout serves both.  ``exact_padding`` pads the stride-2 3x3 convolutions (0, 1) as
    Keras's "same" does; the timed model uses PyTorch's usual symmetric padding=1."""
    nn = torch.nn

    class FlattenChannelsLast(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    def lenet():
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.MaxPool2d(2), FlattenChannelsLast(), nn.Linear(400, 120), nn.ReLU(),
                             nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def conv3x3(cin, cout, stride):
        if stride == 1 or not exact_padding:
            return nn.Conv2d(cin, cout, 3, stride, 1)
        return nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(cin, cout, 3, stride, 0))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU(),
                                      conv3x3(cout, cout, 1), nn.BatchNorm2d(cout, eps=1e-3))
            self.short = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)

        def forward(self, x):
            return torch.relu(self.body(x) + self.short(x))

    def resnet():
        layers, cin = [nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16, eps=1e-3), nn.ReLU()], 16
        for stage, cout in enumerate((16, 32, 64)):
            for block in range(3):
                layers.append(Block(cin, cout, 2 if stage > 0 and block == 0 else 1))
                cin = cout
        return nn.Sequential(*layers, nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, 10))

    return {"lenet": lenet, "resnet20": resnet}


def input_shape(name):
    return {"conv3x3": (32, 32, 64), "lenet": (28, 28, 1), "resnet20": (32, 32, 3)}[name]


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------
def first_call_seconds(step, sync):
    start = time.perf_counter()
    step()
    sync()
    return time.perf_counter() - start


def latency_seconds(step, sync, repeat, warmup):
    """Median time of one step, each closed by a synchronisation."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput_seconds(run_steps, sync, steps):
    """Time per step of ``run_steps(steps)``, which runs them back to back; one synchronisation at the end."""
    sync()
    start = time.perf_counter()
    run_steps(steps)
    sync()
    return (time.perf_counter() - start) / steps


def host_and_device_seconds(step, profiler, repeat, warmup):
    """(median host time, median device time) per step by ``cupyx.profiler.benchmark``; (None, None) without it."""
    if profiler is None:
        return None, None
    result = profiler.benchmark(step, n_repeat=repeat, n_warmup=warmup)
    return float(np.median(result.cpu_times)), float(np.median(result.gpu_times))


def measure(step, run_steps, sync, profiler, args):
    """Every timing of one case in one library, in milliseconds."""
    first = first_call_seconds(step, sync)
    latency = latency_seconds(step, sync, args.repeat, args.warmup)
    run_steps(args.warmup)
    throughput = throughput_seconds(run_steps, sync, args.steps)
    host, device = host_and_device_seconds(step, profiler, args.repeat, args.warmup)
    to_ms = lambda seconds: None if seconds is None else round(seconds * 1e3, 4)  # noqa: E731
    return {"first_call_ms": to_ms(first), "latency_ms": to_ms(latency), "throughput_ms": to_ms(throughput),
            "host_ms": to_ms(host), "device_ms": to_ms(device)}


def batch_size(name, args):
    return args.batch or BATCH[name]


def tinyconv_timing(name, keras, xp, sync, profiler, args):
    rng = np.random.default_rng(0)
    batch = batch_size(name, args)
    if name == "conv3x3":
        layer = keras.layers.Conv2D(64, 3, padding="same")
        x = xp.asarray(rng.standard_normal((batch, *input_shape(name)), dtype=np.float32))
        layer.build(x.shape)  # weights on the device; nothing run yet, so the first call compiles

        def step():
            layer.backward(layer.forward(x, training=True))

        def run_steps(count):
            for _ in range(count):
                step()
        return measure(step, run_steps, sync, profiler, args)
    keras.utils.set_random_seed(0)
    model, _ = tinyconv_model(name, keras)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    x_host = rng.standard_normal((batch, *input_shape(name)), dtype=np.float32)
    y_host = rng.integers(0, 10, batch)            # labels stay NumPy: the loss checks them on the host
    x = xp.asarray(x_host)
    most = max(args.steps, args.warmup)
    x_many, y_many = np.concatenate([x_host] * most), np.concatenate([y_host] * most)

    def run_steps(count):                          # as training runs: fit over host data, one batch a step
        if count:
            model.fit(x_many[:count * batch], y_many[:count * batch], batch_size=batch, epochs=1, shuffle=False,
                      verbose=0)
    return measure(lambda: model.train_on_batch(x, y_host), run_steps, sync, profiler, args)


def torch_timing(name, torch, device, sync, profiler, args):
    rng = np.random.default_rng(0)
    batch = batch_size(name, args)
    if name == "conv3x3":
        conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device)
        x = torch.randn(batch, 64, 32, 32, device=device, requires_grad=True)
        upstream = torch.ones(batch, 64, 32, 32, device=device)

        def step():
            conv(x).backward(upstream)

        def run_steps(count):
            for _ in range(count):
                step()
        return measure(step, run_steps, sync, profiler, args)
    model = torch_models(torch)[name]().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x_host = rng.standard_normal((batch, *input_shape(name)), dtype=np.float32).transpose(0, 3, 1, 2).copy()
    y_host = rng.integers(0, 10, batch)
    x, y = torch.from_numpy(x_host).to(device), torch.from_numpy(y_host).to(device)

    def step(xb=x, yb=y):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()

    def run_steps(count):                          # each batch copied from the host, as a training loop does
        for _ in range(count):
            step(torch.from_numpy(x_host).to(device), torch.from_numpy(y_host).to(device))
    return measure(step, run_steps, sync, profiler, args)


# ----------------------------------------------------------------------------------------------
# float64 accuracy against PyTorch
# ----------------------------------------------------------------------------------------------
def torch_layout(keras_weight, kind):
    """A Keras weight in PyTorch's layout: conv kernels (KH, KW, Cin, Cout) -> (Cout, Cin, KH, KW),
    dense kernels (in, out) -> (out, in); vectors unchanged."""
    if kind == "conv" and keras_weight.ndim == 4:
        return keras_weight.transpose(3, 2, 0, 1)
    if kind == "dense" and keras_weight.ndim == 2:
        return keras_weight.T
    return keras_weight


def relative_error(got, want, floor=0.0):
    """max |got - want| over max |want| (at least ``floor``)."""
    scale = max(float(np.max(np.abs(want))), floor, 1e-300)
    return float(np.max(np.abs(got - want))) / scale


def accuracy_check(name, keras, devices, torch, torch_device, args):
    """One float64 training step in both libraries from the same weights and batch: relative errors
    of the loss and of every weight gradient (tinyconv's from SGD with learning rate 1: w0 - w1)."""
    rng = np.random.default_rng(1)
    batch = batch_size(name, args)
    floatx = keras.backend.floatx()
    keras.backend.set_floatx("float64")
    try:
        keras.utils.set_random_seed(1)
        model, weighted = tinyconv_model(name, keras)
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
    finally:
        keras.backend.set_floatx(floatx)
    x = rng.standard_normal((batch, *input_shape(name)))
    y = rng.integers(0, 10, batch)
    before = [[devices.host_copy(w.value) for w in layer.trainable_weights] for layer in weighted]

    nn = torch.nn
    reference = torch_models(torch, exact_padding=True)[name]().double().to(torch_device)
    twins = [m for m in reference.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    if len(twins) != len(weighted):
        raise RuntimeError(f"accuracy check {name}: {len(weighted)} tinyconv layers with weights, {len(twins)} in "
                           "the PyTorch twin")
    with torch.no_grad():
        for module, weights in zip(twins, before):
            kind = "conv" if isinstance(module, nn.Conv2d) else "dense" if isinstance(module, nn.Linear) else "norm"
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(torch_layout(weights[0], kind))))
            module.bias.copy_(torch.from_numpy(weights[1]))
    torch_x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(torch_device)
    torch_loss = torch.nn.functional.cross_entropy(reference(torch_x), torch.from_numpy(y).to(torch_device))
    torch_loss.backward()

    loss = model.train_on_batch(x, y)
    errors = {"loss": relative_error(np.float64(loss), np.float64(torch_loss.item()))}
    pairs = []
    for layer, module, old in zip(weighted, twins, before):
        kind = "conv" if isinstance(module, nn.Conv2d) else "dense" if isinstance(module, nn.Linear) else "norm"
        new = [devices.host_copy(w.value) for w in layer.trainable_weights]
        pairs += [(torch_layout(w0 - w1, kind), parameter.grad.cpu().numpy())
                  for (w0, w1), parameter in zip(zip(old, new), (module.weight, module.bias))]
    # A gradient that is zero in exact arithmetic (a convolution's bias just before batch
    # normalisation) is rounding noise in both libraries: measure it against a thousandth of the
    # model's largest gradient entry instead of against itself.
    floor = 1e-3 * max(float(np.max(np.abs(want))) for _, want in pairs)
    gradient_errors = [relative_error(got, want, floor) for got, want in pairs]
    errors["gradients"] = max(gradient_errors)
    errors["ok"] = max(errors["loss"], errors["gradients"]) < ACCURACY_TOLERANCE
    return errors


# ----------------------------------------------------------------------------------------------
# One TF32 setting in this process
# ----------------------------------------------------------------------------------------------
def load_standin():
    """The test suite's strict CuPy stand-in (only for --dry-run, from a clone of the repository)."""
    if REPOSITORY not in sys.path:
        sys.path.insert(0, REPOSITORY)
    try:
        from tests.gpu import standin_cupy
    except ImportError as error:
        sys.exit(f"gpu_bench --dry-run needs the repository's tests/gpu/standin_cupy.py ({error})")
    return standin_cupy


def worker(args):
    tf32 = args.tf32 == "on"
    expected = "1" if tf32 else "0"
    if os.environ.get("CUPY_TF32", "0") != expected or "cupy" in sys.modules:
        sys.exit(f"gpu_bench worker: CUPY_TF32 must be {expected} before CuPy is imported, found "
                 f"{os.environ.get('CUPY_TF32')!r} (run the script without --worker)")
    if args.dry_run:
        xp = load_standin()
        sync, profiler = xp.cuda.Device().synchronize, None
    else:
        import cupy as xp
        import cupyx.profiler as profiler
        sync = xp.cuda.Device().synchronize

    import tinyconv as keras
    from tinyconv import devices

    torch = torch_device = torch_sync = None
    if args.torch or (args.accuracy and not tf32):
        try:
            import torch
        except ImportError:
            if not args.dry_run:
                raise
        if torch is not None:
            if args.dry_run:
                torch_device, torch_sync = torch.device("cpu"), lambda: None
            else:
                torch_device, torch_sync = torch.device("cuda"), torch.cuda.synchronize
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.backends.cudnn.allow_tf32 = tf32
    keras.backend.set_device("gpu", array_module=xp if args.dry_run else None)
    rows = []
    for name in args.case_names:
        row = {"case": name, "tf32": args.tf32, "batch": batch_size(name, args),
               "tinyconv": tinyconv_timing(name, keras, xp, sync, profiler, args), "torch": None, "accuracy": None}
        if args.torch and torch is not None:
            row["torch"] = torch_timing(name, torch, torch_device, torch_sync, None if args.dry_run else profiler, args)
        if args.accuracy and not tf32 and name in MODEL_CASES and torch is not None:
            row["accuracy"] = accuracy_check(name, keras, devices, torch, torch_device, args)
        rows.append(row)
    print(RESULT_TAG + json.dumps({"rows": rows, "dry_run": args.dry_run, "cupy_tf32": expected}), flush=True)


# ----------------------------------------------------------------------------------------------
# The driver: a fresh process per TF32 setting, then the report
# ----------------------------------------------------------------------------------------------
def worker_command(args, setting):
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--tf32", setting, "--cases",
               ",".join(args.case_names), "--repeat", str(args.repeat), "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
    if args.batch is not None:
        command += ["--batch", str(args.batch)]
    command += [flag for flag, on in (("--no-accuracy", not args.accuracy), ("--no-torch", not args.torch),
                                      ("--dry-run", args.dry_run)) if on]
    return command


def run_setting(args, setting):
    """Run one TF32 setting in a fresh interpreter; its parsed results."""
    environment = dict(os.environ, CUPY_TF32="1" if setting == "on" else "0")
    with tempfile.TemporaryDirectory(prefix="tinyconv-kernel-cache-") as cache:
        if not args.keep_kernel_cache:
            environment["CUPY_CACHE_DIR"] = cache   # the first call then includes compiling the kernels
        completed = subprocess.run(worker_command(args, setting), env=environment, capture_output=True, text=True,
                                   cwd=REPOSITORY)
    sys.stderr.write(completed.stderr)
    found = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if completed.returncode != 0 or not found:
        sys.exit(f"gpu_bench: the TF32 {setting} run failed (exit {completed.returncode}):\n{completed.stdout}"
                 f"{completed.stderr[-4000:]}")
    return json.loads(found[-1][len(RESULT_TAG):])["rows"]


def speed(row):
    """tinyconv's throughput as a fraction of PyTorch's (above 1: faster)."""
    if not row["torch"]:
        return None
    return row["torch"]["throughput_ms"] / row["tinyconv"]["throughput_ms"]


def format_ms(value):
    return "-" if value is None else f"{value:.3f}"


def table(rows):
    """The results as markdown table lines."""
    lines = ["| case | batch | TF32 | library | first call ms | latency ms | throughput ms/step | host ms | device ms "
             "| speed vs torch | target |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = speed(row)
        verdict = "-" if ratio is None else f"{'met' if ratio >= TARGETS[row['case']] else 'missed'} " \
                                            f"(>= {TARGETS[row['case']]}x)"
        for library in ("tinyconv", "torch"):
            times = row[library]
            if times is None:
                continue
            ours = library == "tinyconv"
            lines.append(f"| {row['case']} | {row['batch']} | {row['tf32']} | {library} | "
                         f"{format_ms(times['first_call_ms'])} | {format_ms(times['latency_ms'])} | "
                         f"{format_ms(times['throughput_ms'])} | {format_ms(times['host_ms'])} | "
                         f"{format_ms(times['device_ms'])} | "
                         f"{(f'{ratio:.2f}x' if ratio is not None else '-') if ours else ''} | "
                         f"{verdict if ours else ''} |")
    checks = [row for row in rows if row["accuracy"]]
    if checks:
        lines += ["", "| float64 step vs PyTorch | loss rel. error | max gradient rel. error | within "
                  f"{ACCURACY_TOLERANCE:g} |", "|---|---|---|---|"]
        lines += [f"| {row['case']} | {row['accuracy']['loss']:.2e} | {row['accuracy']['gradients']:.2e} | "
                  f"{'yes' if row['accuracy']['ok'] else 'NO'} |" for row in checks]
    return lines


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    settings = {"off": ["off"], "on": ["on"], "both": ["off", "on"]}[args.tf32]
    rows = [row for setting in settings for row in run_setting(args, setting)]
    lines = table(rows)
    if args.dry_run:
        lines.insert(0, "Dry run on the CuPy stand-in (NumPy on the CPU; PyTorch on the CPU): the figures say "
                        "nothing about a GPU.\n")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "dry_run": args.dry_run}, handle, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    failed = [row["case"] for row in rows if row["accuracy"] and not row["accuracy"]["ok"]]
    if failed:
        print(f"float64 accuracy check failed for {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
