"""The cases of the fair race (``benchmarks/race.py``): training steps, one framework at a time.

Each case builds a step callable for ONE framework, importing only that framework, so the
race can time tinyconv and PyTorch in separate processes.  The models and the step itself are
those of ``benchmarks/cases.py`` (``tinyconv_train_step``, ``torch_train_step``, ``ConvShape``);
the only model added here is LeNet-5 on 32x32x3 images, which ``cases.py`` has only for
28x28x1.

Example:
>>> [case.name for case in race_cases()][:2]
['lenet5_28x28x1_b64', 'lenet5_32x32x3_b256']
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmarks import cases

CIFAR_LENET_INPUT = (32, 32, 3)


def tinyconv_lenet_32x32x3():
    """LeNet-5 as LeCun drew it, on 32x32 images: no padding, so the second pooling leaves 5x5x16,
    as the 'same'-padded 28x28 version of ``cases.tinyconv_lenet`` does."""
    import tinyconv as keras
    from tinyconv import layers

    return keras.Sequential([
        keras.Input(shape=CIFAR_LENET_INPUT),
        layers.Conv2D(6, 5, activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="tanh"),
        layers.Dense(84, activation="tanh"),
        layers.Dense(cases.CLASSES, activation="softmax"),
    ])


def torch_lenet_32x32x3():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(CIFAR_LENET_INPUT[2], 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Tanh(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, cases.CLASSES),
    )


LENET_32X32X3 = cases.ModelSpec("lenet5_32x32x3", "32x32x3, tanh, avg pool, no padding",
                                tinyconv_lenet_32x32x3, torch_lenet_32x32x3, CIFAR_LENET_INPUT)


def tinyconv_conv_step(shape, rng):
    """Conv2D forward then backward (dx, dW, db), as ``cases.forward_backward_case`` times it."""
    from tinyconv import layers

    x = cases.float32(rng, (shape.batch, shape.height, shape.width, shape.in_channels))
    layer = layers.Conv2D(shape.filters, shape.kernel, strides=shape.stride, padding=shape.padding)
    layer.build_for((None,) + x.shape[1:])
    dy = cases.float32(rng, layer.forward(x, training=True).shape)

    def step():
        layer.forward(x, training=True)
        layer.backward(dy)

    return step


def torch_conv_step(shape, rng):
    import torch

    x = cases.float32(rng, (shape.batch, shape.height, shape.width, shape.in_channels))
    conv = torch.nn.Conv2d(shape.in_channels, shape.filters, shape.kernel, stride=shape.stride,
                           padding=cases.torch_padding(shape))
    x_torch = cases.nchw_tensor(x).requires_grad_(True)  # torch computes dx too, as tinyconv does
    out_h, out_w = shape.output_hw()
    dy = cases.nchw_tensor(cases.float32(rng, (shape.batch, out_h, out_w, shape.filters)))
    params = list(conv.parameters())

    def step():
        x_torch.grad = None  # write the gradients afresh, as tinyconv does
        for param in params:
            param.grad = None
        conv(x_torch).backward(dy)

    return step


@dataclass
class RaceCase:
    name: str
    label: str  # as the tables print it
    batch: int
    build: Callable  # build(framework, rng) -> step callable; framework "tinyconv" or "torch"
    flops: int = None  # FLOPs per step, for the convolutions (forward + dx + dW: 3 forwards)


def train_case(name, label, spec, batch):
    def build(framework, rng):
        builder = cases.tinyconv_train_step if framework == "tinyconv" else cases.torch_train_step
        return builder(spec, batch, rng)

    return RaceCase(name, label, batch, build)


def conv_case(name, label, shape):
    def build(framework, rng):
        return (tinyconv_conv_step if framework == "tinyconv" else torch_conv_step)(shape, rng)

    return RaceCase(name, label, shape.batch, build, flops=3 * shape.forward_flops())


def race_cases():
    """The training-step cases of issue 21, in its order."""
    return [
        train_case("lenet5_28x28x1_b64", "LeNet-5 28x28x1 b64", cases.MODELS["lenet5"], 64),
        train_case("lenet5_32x32x3_b256", "LeNet-5 32x32x3 b256", LENET_32X32X3, 256),
        train_case("vgg_block_32x32x3_b64", "VGG block 32x32x3 b64", cases.MODELS["vgg_block"], 64),
        conv_case("conv3x3_56x56_64to64_b16", "Conv2D 3x3 56x56 64->64 b16",
                  cases.ConvShape(16, 56, 56, 64, 64, 3, "same")),
        conv_case("conv3x3_28x28_128to128_b16", "Conv2D 3x3 28x28 128->128 b16",
                  cases.ConvShape(16, 28, 28, 128, 128, 3, "same")),
    ]


def find_case(name):
    """The race case called ``name``; ValueError naming the known ones otherwise."""
    known = {case.name: case for case in race_cases()}
    if name not in known:
        raise ValueError(f"race case: expected one of {sorted(known)}, got {name!r}")
    return known[name]
