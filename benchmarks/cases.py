"""The benchmark cases: each builds a tinyconv callable and a PyTorch callable on the same data.

Each framework runs in its own layout (NHWC for tinyconv, NCHW for torch); every conversion
happens here, while the case is built, never inside the timed callables.

Four kinds of case:

* ``layer``: one layer, ``forward`` (training mode) or ``fwd+bwd`` (forward then backward);
* ``train``: one whole training step of a model (forward, loss, backward, SGD update);
* ``inference``: one batch through a model in inference mode (reported in images/s).

A case may carry the work it does (``flops``, for the compute-bound ops) or the bytes it
must at least move (``bytes_moved``, for the memory-bound ops), so the report can set the
measured rate beside the machine's own ceiling.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass
class Case:
    name: str
    description: str
    build: Callable  # build(rng) -> (tinyconv_fn, torch_fn)
    flops: Optional[int] = None  # FLOPs per call, when the count is meaningful
    bytes_moved: Optional[int] = None  # least bytes a call must read + write (memory-bound ops)
    items: Optional[int] = None  # images per call (inference throughput)
    kind: str = "layer"  # "layer", "train" or "inference"


def nchw_tensor(x_nhwc):
    """NHWC array -> contiguous NCHW torch tensor (2-D arrays pass through)."""
    import torch

    if x_nhwc.ndim == 4:
        x_nhwc = x_nhwc.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x_nhwc))


def float32(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------- one layer
def forward_case(name, description, make, flops=None, bytes_moved=None):
    """``make(rng) -> (tinyconv layer, torch module, x in NHWC)``; times the training-mode forward."""
    def build(rng):
        layer, module, x = make(rng)
        x_torch = nchw_tensor(x)

        def tinyconv_forward():
            layer.forward(x, training=True)

        def torch_forward():
            # Autograd on (the weights require grad), as tinyconv's training-mode forward
            # keeps what its backward needs.
            module(x_torch)

        return tinyconv_forward, torch_forward

    return Case(f"{name}/forward", description, build, flops=flops, bytes_moved=bytes_moved)


def forward_backward_case(name, description, make, flops=None, bytes_moved=None):
    """Times forward then backward, both frameworks computing dx and every weight gradient afresh."""
    def build(rng):
        layer, module, x = make(rng)
        dy = float32(rng, layer.forward(x, training=True).shape)
        x_torch = nchw_tensor(x).requires_grad_(True)  # so torch computes dx too, as tinyconv does
        dy_torch = nchw_tensor(dy)
        params = list(module.parameters())

        def tinyconv_step():
            layer.forward(x, training=True)
            layer.backward(dy)

        def torch_step():
            # Clear gradients so torch writes them, as tinyconv does, rather than accumulating.
            x_torch.grad = None
            for param in params:
                param.grad = None
            module(x_torch).backward(dy_torch)

        return tinyconv_step, torch_step

    return Case(f"{name}/fwd+bwd", description, build, flops=flops, bytes_moved=bytes_moved)


def layer_cases(name, description, make, forward_flops=None, forward_bytes=None, backward_bytes=None):
    """The forward case and the forward+backward case of one layer."""
    both_bytes = None if forward_bytes is None else forward_bytes + backward_bytes
    return [
        forward_case(name, description, make, forward_flops, forward_bytes),
        # Backward = input gradient + weight gradient, each as many FLOPs as the forward.
        forward_backward_case(name, description, make, None if forward_flops is None else 3 * forward_flops,
                              both_bytes),
    ]


# ----------------------------------------------------------------------------- Conv2D
@dataclass
class ConvShape:
    batch: int
    height: int
    width: int
    in_channels: int
    filters: int
    kernel: int
    padding: str  # "valid" or "same" (odd kernels only, so both frameworks do the same work)
    stride: int = 1

    def output_hw(self):
        if self.padding == "same":
            return -(-self.height // self.stride), -(-self.width // self.stride)
        return ((self.height - self.kernel) // self.stride + 1, (self.width - self.kernel) // self.stride + 1)

    def forward_flops(self):
        """Multiply-adds of one forward pass, counted as 2 FLOPs each (bias left out)."""
        out_h, out_w = self.output_hw()
        return 2 * self.batch * out_h * out_w * self.kernel * self.kernel * self.in_channels * self.filters

    def describe(self):
        stride = f" stride {self.stride}" if self.stride != 1 else ""
        return (f"N={self.batch} {self.height}x{self.width}x{self.in_channels} -> {self.filters} "
                f"{self.kernel}x{self.kernel} {self.padding}{stride}")


def torch_padding(shape):
    """torch's padding for the same work: 'same' only exists for stride 1 there.

    With stride 2 Keras pads (0, 1) and torch (1, 1) here; the output sizes, and so the
    work, are the same.
    """
    if shape.padding == "valid":
        return 0
    return "same" if shape.stride == 1 else shape.kernel // 2


def conv_maker(shape):
    def make(rng):
        """A tinyconv Conv2D and a torch nn.Conv2d with the same weights, plus NHWC input data."""
        import torch
        from tinyconv import layers

        x = float32(rng, (shape.batch, shape.height, shape.width, shape.in_channels))
        layer = layers.Conv2D(shape.filters, shape.kernel, strides=shape.stride, padding=shape.padding)
        layer.build_for((None,) + x.shape[1:])
        conv = torch.nn.Conv2d(shape.in_channels, shape.filters, shape.kernel, stride=shape.stride,
                               padding=torch_padding(shape))
        with torch.no_grad():
            # Keras kernel (kh, kw, in, out) -> torch weight (out, in, kh, kw).
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.kernel.transpose(3, 2, 0, 1))))
            conv.bias.copy_(torch.from_numpy(layer.bias.copy()))
        return layer, conv, x

    return make


def conv_cases(label, shape):
    return layer_cases(f"conv2d/{label}", shape.describe(), conv_maker(shape), forward_flops=shape.forward_flops())


# ----------------------------------------------------------------------------- memory-bound layers
def memory_bound_bytes(in_shape, out_shape, itemsize=4):
    """Least traffic: forward reads x and writes y; backward reads dy and x, writes dx."""
    x_bytes, y_bytes = int(np.prod(in_shape)) * itemsize, int(np.prod(out_shape)) * itemsize
    return x_bytes + y_bytes, 2 * x_bytes + y_bytes


def max_pool_cases(batch, height, width, channels):
    def make(rng):
        import torch
        from tinyconv import layers

        x = float32(rng, (batch, height, width, channels))
        layer = layers.MaxPooling2D(2)
        layer.build_for((None,) + x.shape[1:])
        return layer, torch.nn.MaxPool2d(2), x

    in_shape, out_shape = (batch, height, width, channels), (batch, height // 2, width // 2, channels)
    forward_bytes, backward_bytes = memory_bound_bytes(in_shape, out_shape)
    return layer_cases("maxpool2d", f"N={batch} {height}x{width}x{channels}, 2x2", make,
                       forward_bytes=forward_bytes, backward_bytes=backward_bytes)


def batch_norm_cases(batch, height, width, channels):
    def make(rng):
        import torch
        from tinyconv import layers

        x = float32(rng, (batch, height, width, channels))
        layer = layers.BatchNormalization()
        layer.build_for((None,) + x.shape[1:])
        # Keras's defaults in torch's terms: eps 1e-3, momentum 0.99 on the old value = 0.01 on the new.
        return layer, torch.nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01), x

    shape = (batch, height, width, channels)
    forward_bytes, backward_bytes = memory_bound_bytes(shape, shape)
    return layer_cases("batchnorm", f"N={batch} {height}x{width}x{channels}, training mode", make,
                       forward_bytes=forward_bytes, backward_bytes=backward_bytes)


def relu_cases(batch, height, width, channels):
    def make(rng):
        import torch
        from tinyconv import layers

        x = float32(rng, (batch, height, width, channels))
        layer = layers.Activation("relu")
        layer.build_for((None,) + x.shape[1:])
        return layer, torch.nn.ReLU(), x

    shape = (batch, height, width, channels)
    forward_bytes, backward_bytes = memory_bound_bytes(shape, shape)
    return layer_cases("relu", f"N={batch} {height}x{width}x{channels}", make,
                       forward_bytes=forward_bytes, backward_bytes=backward_bytes)


def dense_cases(batch, in_features, units):
    def make(rng):
        import torch
        from tinyconv import layers

        x = float32(rng, (batch, in_features))
        layer = layers.Dense(units)
        layer.build_for((None, in_features))
        linear = torch.nn.Linear(in_features, units)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.kernel.T)))
            linear.bias.copy_(torch.from_numpy(layer.bias.copy()))
        return layer, linear, x

    return layer_cases("dense", f"N={batch} {in_features} -> {units}", make,
                       forward_flops=2 * batch * in_features * units)


# ----------------------------------------------------------------------------- models
CLASSES = 10
LEARNING_RATE = 0.01
LENET_INPUT = (28, 28, 1)
CIFAR_INPUT = (32, 32, 3)


def tinyconv_lenet():
    """Classic Keras LeNet-5: tanh, average pooling, 'same' padding on the first conv."""
    import tinyconv as keras
    from tinyconv import layers

    return keras.Sequential([
        keras.Input(shape=LENET_INPUT),
        layers.Conv2D(6, 5, padding="same", activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="tanh"),
        layers.Dense(84, activation="tanh"),
        layers.Dense(CLASSES, activation="softmax"),
    ])


def torch_lenet():
    """The same network in torch, ending in logits (softmax lives in CrossEntropyLoss)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Tanh(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, CLASSES),
    )


VGG_FILTERS = (32, 64)


def tinyconv_vgg():
    """Two VGG blocks (two 3x3 'same' convs + ReLU, then 2x2 max pooling), then a classifier."""
    import tinyconv as keras
    from tinyconv import layers

    stack = [keras.Input(shape=CIFAR_INPUT)]
    for filters in VGG_FILTERS:
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu"),
                  layers.Conv2D(filters, 3, padding="same", activation="relu"),
                  layers.MaxPooling2D(2)]
    stack += [layers.Flatten(), layers.Dense(CLASSES, activation="softmax")]
    return keras.Sequential(stack)


def torch_vgg():
    from torch import nn

    stack, channels = [], CIFAR_INPUT[2]
    for filters in VGG_FILTERS:
        stack += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(),
                  nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = filters
    side = CIFAR_INPUT[0] // 2 ** len(VGG_FILTERS)
    return nn.Sequential(*stack, nn.Flatten(), nn.Linear(channels * side * side, CLASSES))


RESNET_FILTERS = (16, 32, 64)


def tinyconv_resnet(blocks_per_stage=3):
    """ResNet-20 (He et al. 2016, CIFAR version) with tinyconv's functional API.

    conv3x3(16)-BN-ReLU, three stages of ``blocks_per_stage`` basic blocks (16, 32, 64 filters;
    the first block of stages 2 and 3 halves the image and uses a 1x1 convolution + BN as
    its shortcut), global average pooling, Dense(10).
    """
    import tinyconv as keras
    from tinyconv import layers

    def conv_bn(x, filters, kernel, strides=1):
        x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        return layers.BatchNormalization()(x)

    inputs = keras.Input(shape=CIFAR_INPUT)
    x = layers.Activation("relu")(conv_bn(inputs, RESNET_FILTERS[0], 3))
    for stage, filters in enumerate(RESNET_FILTERS):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            y = layers.Activation("relu")(conv_bn(x, filters, 3, strides))
            y = conv_bn(y, filters, 3)
            shortcut = conv_bn(x, filters, 1, strides) if strides != 1 else x
            x = layers.Activation("relu")(layers.add([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(CLASSES, activation="softmax")(x))


def torch_resnet(blocks_per_stage=3):
    import torch
    from torch import nn

    def conv_bn(cin, cout, kernel, stride=1):
        return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
                             nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.first = conv_bn(cin, cout, 3, stride)
            self.second = conv_bn(cout, cout, 3)
            self.shortcut = conv_bn(cin, cout, 1, stride) if stride != 1 else nn.Identity()

        def forward(self, x):
            y = self.second(torch.relu(self.first(x)))
            return torch.relu(y + self.shortcut(x))

    stack, channels = [conv_bn(CIFAR_INPUT[2], RESNET_FILTERS[0], 3), nn.ReLU()], RESNET_FILTERS[0]
    for stage, filters in enumerate(RESNET_FILTERS):
        for block in range(blocks_per_stage):
            stack.append(Block(channels, filters, 2 if stage > 0 and block == 0 else 1))
            channels = filters
    return nn.Sequential(*stack, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, CLASSES))


@dataclass
class ModelSpec:
    label: str
    description: str
    tinyconv_model: Callable
    torch_model: Callable
    input_shape: tuple


MODELS = {
    "lenet5": ModelSpec("lenet5", "28x28x1, tanh, avg pool", tinyconv_lenet, torch_lenet, LENET_INPUT),
    "vgg_block": ModelSpec("vgg_block", "32x32x3, 2x(conv3x3 32, conv3x3 32, maxpool) with 32, 64",
                           tinyconv_vgg, torch_vgg, CIFAR_INPUT),
    "resnet20": ModelSpec("resnet20", "32x32x3, functional API, BN, residual adds",
                          tinyconv_resnet, torch_resnet, CIFAR_INPUT),
}


def model_data(spec, batch, rng):
    x = float32(rng, (batch,) + spec.input_shape)
    y = rng.integers(0, CLASSES, size=batch)
    return x, y


def tinyconv_train_step(spec, batch, rng, **model_args):
    """A callable running one tinyconv training step (train_on_batch) on fixed data."""
    import tinyconv as keras

    x, y = model_data(spec, batch, rng)
    model = spec.tinyconv_model(**model_args)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
                  loss="sparse_categorical_crossentropy")
    return lambda: model.train_on_batch(x, y)


def torch_train_step(spec, batch, rng, **model_args):
    """The same step in torch: zero_grad, forward, cross-entropy on logits, backward, SGD step."""
    import torch

    x, y = model_data(spec, batch, rng)
    net = spec.torch_model(**model_args)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_torch, y_torch = nchw_tensor(x), torch.from_numpy(y.astype(np.int64))

    def step():
        optimizer.zero_grad()
        loss = loss_fn(net(x_torch), y_torch)
        loss.backward()
        optimizer.step()
        loss.item()  # train_on_batch returns the loss as a Python float, so fetch it here too

    return step


def train_step_case(spec, batch, **model_args):
    def build(rng):
        seed = int(rng.integers(2**31))
        return (tinyconv_train_step(spec, batch, np.random.default_rng(seed), **model_args),
                torch_train_step(spec, batch, np.random.default_rng(seed), **model_args))

    return Case(f"{spec.label}/train_step", f"N={batch} {spec.description}, SGD", build, kind="train")


def inference_case(spec, batch, **model_args):
    def build(rng):
        import torch

        x, _ = model_data(spec, batch, rng)
        model = spec.tinyconv_model(**model_args)
        net = spec.torch_model(**model_args).eval()
        x_torch = nchw_tensor(x)

        def tinyconv_predict():
            model.predict_on_batch(x)

        def torch_predict():
            with torch.no_grad():
                net(x_torch)

        return tinyconv_predict, torch_predict

    return Case(f"{spec.label}/inference", f"N={batch} {spec.input_shape}, inference mode", build,
                items=batch, kind="inference")


# ----------------------------------------------------------------------------- the suites
# Batch sizes keep one call under about half a second on a 2-core machine.
FULL_SIZES = {
    "convs": {
        "lenet_conv1": ConvShape(64, 28, 28, 1, 6, 5, "same"),
        "lenet_conv2": ConvShape(64, 14, 14, 6, 16, 5, "valid"),
        "3x3_56x56x64": ConvShape(8, 56, 56, 64, 64, 3, "same"),
        "3x3_28x28x128": ConvShape(16, 28, 28, 128, 128, 3, "same"),
        "1x1_28x28x128": ConvShape(16, 28, 28, 128, 256, 1, "valid"),
        "3x3s2_56x56x64": ConvShape(16, 56, 56, 64, 128, 3, "same", stride=2),
    },
    "maxpool": (32, 56, 56, 64),
    "batchnorm": (32, 28, 28, 128),
    "relu": (32, 56, 56, 64),
    "dense": (256, 1024, 1024),
    "train": {"lenet5": 64, "vgg_block": 32, "resnet20": 32},
    "inference": {"lenet5": 256, "resnet20": 64},
    "resnet_blocks": 3,
}

QUICK_SIZES = {
    "convs": {
        "lenet_conv1": ConvShape(2, 12, 12, 1, 6, 5, "same"),
        "lenet_conv2": ConvShape(2, 8, 8, 6, 16, 5, "valid"),
        "3x3_56x56x64": ConvShape(1, 8, 8, 8, 8, 3, "same"),
        "3x3_28x28x128": ConvShape(2, 8, 8, 16, 16, 3, "same"),
        "1x1_28x28x128": ConvShape(2, 8, 8, 16, 32, 1, "valid"),
        "3x3s2_56x56x64": ConvShape(2, 8, 8, 8, 16, 3, "same", stride=2),
    },
    "maxpool": (2, 8, 8, 4),
    "batchnorm": (2, 8, 8, 4),
    "relu": (2, 8, 8, 4),
    "dense": (4, 16, 8),
    "train": {"lenet5": 8, "vgg_block": 2, "resnet20": 2},
    "inference": {"lenet5": 8, "resnet20": 2},
    "resnet_blocks": 1,
}

SUITES = {"quick": QUICK_SIZES, "full": FULL_SIZES}


def model_args(label, sizes):
    return {"blocks_per_stage": sizes["resnet_blocks"]} if label == "resnet20" else {}


def all_cases(quick=False, suite=None):
    """Every case of the suite ('quick': tiny sizes for a smoke test; 'full': the real sizes)."""
    sizes = SUITES[suite or ("quick" if quick else "full")]
    cases = []
    for label, shape in sizes["convs"].items():
        cases += conv_cases(label, shape)
    cases += max_pool_cases(*sizes["maxpool"])
    cases += batch_norm_cases(*sizes["batchnorm"])
    cases += relu_cases(*sizes["relu"])
    cases += dense_cases(*sizes["dense"])
    for label, batch in sizes["train"].items():
        cases.append(train_step_case(MODELS[label], batch, **model_args(label, sizes)))
    for label, batch in sizes["inference"].items():
        cases.append(inference_case(MODELS[label], batch, **model_args(label, sizes)))
    return cases


def select_cases(cases, patterns):
    """Cases whose name contains any of ``patterns`` (all cases when there are none)."""
    if not patterns:
        return cases
    return [case for case in cases if any(pattern in case.name for pattern in patterns)]
