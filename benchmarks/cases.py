"""The benchmark cases: each builds a tinyconv callable and a PyTorch callable on the same data.

Each framework runs in its own layout (NHWC for tinyconv, NCHW for torch); every conversion
happens here, while the case is built, never inside the timed callables.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass
class ConvShape:
    batch: int
    height: int
    width: int
    in_channels: int
    filters: int
    kernel: int
    padding: str  # "valid" or "same" (odd kernels only, so both frameworks pad alike)

    def output_hw(self):
        if self.padding == "same":
            return self.height, self.width
        return self.height - self.kernel + 1, self.width - self.kernel + 1

    def forward_flops(self):
        """Multiply-adds of one forward pass, counted as 2 FLOPs each (bias left out)."""
        out_h, out_w = self.output_hw()
        return 2 * self.batch * out_h * out_w * self.kernel * self.kernel * self.in_channels * self.filters

    def describe(self):
        return (f"N={self.batch} {self.height}x{self.width}x{self.in_channels} -> {self.filters} "
                f"{self.kernel}x{self.kernel} {self.padding}")


@dataclass
class Case:
    name: str
    description: str
    build: Callable  # build(rng) -> (tinyconv_fn, torch_fn)
    flops: Optional[int] = None  # FLOPs per call, when the count is meaningful


# ----------------------------------------------------------------------------- Conv2D layer
def make_conv_pair(shape, rng):
    """A tinyconv Conv2D and a torch nn.Conv2d with the same weights, plus NHWC input data."""
    import torch
    from tinyconv import layers

    x = rng.standard_normal((shape.batch, shape.height, shape.width, shape.in_channels)).astype(np.float32)
    layer = layers.Conv2D(shape.filters, shape.kernel, padding=shape.padding)
    layer.build_for((None,) + x.shape[1:])

    conv = torch.nn.Conv2d(shape.in_channels, shape.filters, shape.kernel, padding=shape.padding)
    with torch.no_grad():
        # Keras kernel (kh, kw, in, out) -> torch weight (out, in, kh, kw).
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.kernel.transpose(3, 2, 0, 1))))
        conv.bias.copy_(torch.from_numpy(layer.bias.copy()))
    return layer, conv, x


def nchw_tensor(x_nhwc):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))


def conv_forward_case(label, shape):
    def build(rng):
        layer, conv, x = make_conv_pair(shape, rng)
        x_torch = nchw_tensor(x)

        def tinyconv_forward():
            layer.forward(x, training=True)

        def torch_forward():
            # Autograd on (the weights require grad), as tinyconv's training-mode forward
            # keeps what its backward needs.
            conv(x_torch)

        return tinyconv_forward, torch_forward

    return Case(f"{label}/forward", shape.describe(), build, shape.forward_flops())


def conv_forward_backward_case(label, shape):
    def build(rng):
        layer, conv, x = make_conv_pair(shape, rng)
        out_h, out_w = shape.output_hw()
        dy = rng.standard_normal((shape.batch, out_h, out_w, shape.filters)).astype(np.float32)
        x_torch = nchw_tensor(x).requires_grad_(True)  # so torch computes dx too, as tinyconv does
        dy_torch = nchw_tensor(dy)

        def tinyconv_step():
            layer.forward(x, training=True)
            layer.backward(dy)

        def torch_step():
            # Clear gradients so torch writes them, as tinyconv does, rather than accumulating.
            x_torch.grad = conv.weight.grad = conv.bias.grad = None
            conv(x_torch).backward(dy_torch)

        return tinyconv_step, torch_step

    # Backward = input gradient + kernel gradient, each as many FLOPs as the forward.
    return Case(f"{label}/fwd+bwd", shape.describe(), build, 3 * shape.forward_flops())


# ----------------------------------------------------------------------------- LeNet-5 step
LENET_INPUT = (28, 28, 1)
LENET_CLASSES = 10
LEARNING_RATE = 0.01


def tinyconv_lenet():
    """Classic Keras LeNet-5: tanh, average pooling, 'same' padding on the first conv."""
    import tinyconv as keras
    from tinyconv import layers

    model = keras.Sequential([
        keras.Input(shape=LENET_INPUT),
        layers.Conv2D(6, 5, padding="same", activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="tanh"),
        layers.Dense(84, activation="tanh"),
        layers.Dense(LENET_CLASSES, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
                  loss="sparse_categorical_crossentropy")
    return model


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
        nn.Linear(84, LENET_CLASSES),
    )


def lenet_train_step_case(batch):
    def build(rng):
        import torch

        x = rng.standard_normal((batch,) + LENET_INPUT).astype(np.float32)
        y = rng.integers(0, LENET_CLASSES, size=batch)

        model = tinyconv_lenet()
        net = torch_lenet()
        optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
        loss_fn = torch.nn.CrossEntropyLoss()
        x_torch = nchw_tensor(x)
        y_torch = torch.from_numpy(y.astype(np.int64))

        def tinyconv_step():
            model.train_on_batch(x, y)

        def torch_step():
            optimizer.zero_grad()
            loss = loss_fn(net(x_torch), y_torch)
            loss.backward()
            optimizer.step()
            loss.item()  # train_on_batch returns the loss as a Python float, so fetch it here too

        return tinyconv_step, torch_step

    return Case("lenet5/train_step", f"N={batch} 28x28x1, tanh, avg pool, SGD", build)


# ----------------------------------------------------------------------------- the suite
FULL_SIZES = {
    "lenet_conv2": ConvShape(64, 14, 14, 6, 16, 5, "valid"),
    "conv3x3_128": ConvShape(16, 28, 28, 128, 128, 3, "same"),
    "lenet_batch": 64,
}

QUICK_SIZES = {
    "lenet_conv2": ConvShape(4, 14, 14, 6, 16, 5, "valid"),
    "conv3x3_128": ConvShape(2, 8, 8, 16, 16, 3, "same"),
    "lenet_batch": 8,
}


def all_cases(quick=False):
    sizes = QUICK_SIZES if quick else FULL_SIZES
    cases = []
    for label in ("lenet_conv2", "conv3x3_128"):
        cases.append(conv_forward_case(f"conv2d/{label}", sizes[label]))
        cases.append(conv_forward_backward_case(f"conv2d/{label}", sizes[label]))
    cases.append(lenet_train_step_case(sizes["lenet_batch"]))
    return cases


def select_cases(cases, patterns):
    """Cases whose name contains any of ``patterns`` (all cases when there are none)."""
    if not patterns:
        return cases
    return [case for case in cases if any(pattern in case.name for pattern in patterns)]
