"""Every layer of ``tinyconv.layers`` runs on the GPU device: forward (training and inference) and backward
on the strict CuPy stand-in (or real CuPy under ``make gpu-check``) equal the same layer on the CPU kernels
with the same weights.

The layer classes are enumerated from ``tinyconv.layers``, so a new layer fails here until it has a case
in ``CASES`` (a small configuration and input shape) and runs on the device.
"""
import contextlib
import dataclasses

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import backend, devices, layers, ops
from tinyconv.layers import Layer

from .conftest import to_host


@dataclasses.dataclass
class Case:
    make: object                 # () -> the layer (called once per device, under the same random seed)
    shapes: object               # input shape, or a list of shapes for a layer with several inputs
    integers: int = 0            # > 0: integer inputs in [0, integers) (Embedding's indices)
    random: str = ""             # training noise drawn by the device's own generator, checked by its form:
    #                              "mask" (y = x * m, dx = dy * m) or "additive" (y = x + n, dx = dy)
    positive: bool = False       # inputs in (0.5, 1.5) (fractional powers, log)
    before: object = None        # (layer) -> layer run before it on the same device (MaxUnpooling2D's pool)


def _paired_unpooling():
    pool = layers.MaxPooling2D(2)
    return layers.MaxUnpooling2D(pool)


def _normalization():
    return layers.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 1.0, 0.25])


CASES = {
    # convolutions
    "Conv1D": Case(lambda: layers.Conv1D(3, 2, padding="same", activation="relu"), (2, 6, 2)),
    "Conv2D": Case(lambda: layers.Conv2D(3, 3, strides=2, padding="same", groups=1), (2, 7, 7, 2)),
    "Conv3D": Case(lambda: layers.Conv3D(2, 2, padding="same"), (2, 3, 4, 4, 2)),
    "Conv1DTranspose": Case(lambda: layers.Conv1DTranspose(3, 3, strides=2), (2, 5, 2)),
    "Conv2DTranspose": Case(lambda: layers.Conv2DTranspose(3, 3, strides=2, padding="same"), (2, 4, 4, 2)),
    "Conv3DTranspose": Case(lambda: layers.Conv3DTranspose(2, 2, strides=2), (1, 2, 3, 3, 2)),
    "DepthwiseConv2D": Case(lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (2, 5, 5, 3)),
    "SeparableConv2D": Case(lambda: layers.SeparableConv2D(4, 3, depth_multiplier=2), (2, 6, 6, 3)),
    "LocallyConnected1D": Case(lambda: layers.LocallyConnected1D(3, 2), (2, 6, 2)),
    "LocallyConnected2D": Case(lambda: layers.LocallyConnected2D(3, 2, strides=2), (2, 6, 6, 2)),
    "TiledConv2D": Case(lambda: layers.TiledConv2D(3, 2, tile_size=(2, 2), padding="same"), (2, 5, 5, 2)),
    # core
    "InputLayer": Case(lambda: layers.InputLayer(shape=(4,)), (3, 4)),
    "Dense": Case(lambda: layers.Dense(4, activation="tanh"), (3, 5)),
    "Activation": Case(lambda: layers.Activation("gelu"), (3, 5)),
    "ReLU": Case(lambda: layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=-0.2), (3, 5)),
    "Flatten": Case(lambda: layers.Flatten(data_format="channels_first"), (2, 3, 2, 2)),
    "Dropout": Case(lambda: layers.Dropout(0.4, seed=3), (6, 5), random="mask"),
    # merges
    "Add": Case(layers.Add, [(3, 4), (3, 4), (3, 4)]),
    "Subtract": Case(layers.Subtract, [(3, 4), (3, 4)]),
    "Multiply": Case(layers.Multiply, [(3, 4), (3, 4)]),
    "Average": Case(layers.Average, [(3, 4), (3, 4)]),
    "Maximum": Case(layers.Maximum, [(3, 4), (3, 4)]),
    "Minimum": Case(layers.Minimum, [(3, 4), (3, 4)]),
    "Concatenate": Case(lambda: layers.Concatenate(axis=1), [(3, 2, 4), (3, 5, 4)]),
    # normalisation
    "BatchNormalization": Case(lambda: layers.BatchNormalization(axis=1), (4, 3, 2, 2)),
    "LayerNormalization": Case(lambda: layers.LayerNormalization(axis=(1, 2)), (3, 2, 4)),
    "GroupNormalization": Case(lambda: layers.GroupNormalization(groups=2), (2, 3, 3, 4)),
    "LocalResponseNormalization": Case(lambda: layers.LocalResponseNormalization(2, alpha=1e-2), (2, 3, 3, 5)),
    # activations as layers
    "ELU": Case(lambda: layers.ELU(0.7), (3, 5)),
    "LeakyReLU": Case(lambda: layers.LeakyReLU(0.2), (3, 5)),
    "Maxout": Case(lambda: layers.Maxout(2), (3, 6)),
    "PReLU": Case(lambda: layers.PReLU(alpha_initializer="random_uniform", shared_axes=[1]), (3, 2, 4)),
    "Softmax": Case(lambda: layers.Softmax(axis=1), (3, 4, 2)),
    # noise
    "GaussianDropout": Case(lambda: layers.GaussianDropout(0.3, seed=2), (4, 5), random="mask"),
    "GaussianNoise": Case(lambda: layers.GaussianNoise(0.5, seed=2), (4, 5), random="additive"),
    "SpatialDropout1D": Case(lambda: layers.SpatialDropout1D(0.5, seed=1), (4, 3, 6), random="mask"),
    "SpatialDropout2D": Case(lambda: layers.SpatialDropout2D(0.5, seed=1, data_format="channels_first"),
                             (4, 6, 2, 2), random="mask"),
    "SpatialDropout3D": Case(lambda: layers.SpatialDropout3D(0.5, seed=1), (4, 2, 2, 2, 6), random="mask"),
    # reshaping
    "Permute": Case(lambda: layers.Permute((3, 1, 2)), (2, 3, 4, 5)),
    "RepeatVector": Case(lambda: layers.RepeatVector(3), (2, 4)),
    "Reshape": Case(lambda: layers.Reshape((2, -1)), (3, 2, 3)),
    "Embedding": Case(lambda: layers.Embedding(7, 3), (3, 4), integers=7),
    # pooling
    "AveragePooling1D": Case(lambda: layers.AveragePooling1D(2, padding="same"), (2, 5, 3)),
    "AveragePooling2D": Case(lambda: layers.AveragePooling2D(2, data_format="channels_first"), (2, 3, 4, 4)),
    "AveragePooling3D": Case(lambda: layers.AveragePooling3D(2), (2, 2, 4, 4, 2)),
    "MaxPooling1D": Case(lambda: layers.MaxPooling1D(2, strides=1), (2, 5, 3)),
    "MaxPooling2D": Case(lambda: layers.MaxPooling2D(2, padding="same"), (2, 5, 5, 3)),
    "MaxPooling3D": Case(lambda: layers.MaxPooling3D((1, 2, 2)), (2, 2, 4, 4, 2)),
    "GlobalAveragePooling1D": Case(lambda: layers.GlobalAveragePooling1D(keepdims=True), (2, 5, 3)),
    "GlobalAveragePooling2D": Case(lambda: layers.GlobalAveragePooling2D(data_format="channels_first"),
                                   (2, 3, 4, 4)),
    "GlobalAveragePooling3D": Case(layers.GlobalAveragePooling3D, (2, 2, 3, 3, 2)),
    "GlobalMaxPooling1D": Case(layers.GlobalMaxPooling1D, (2, 5, 3)),
    "GlobalMaxPooling2D": Case(lambda: layers.GlobalMaxPooling2D(keepdims=True), (2, 4, 4, 3)),
    "GlobalMaxPooling3D": Case(layers.GlobalMaxPooling3D, (2, 2, 3, 3, 2)),
    "LogSumExpPooling2D": Case(lambda: layers.LogSumExpPooling2D(2, beta=2.0), (2, 4, 4, 3)),
    "LpPooling2D": Case(lambda: layers.LpPooling2D(2, p=3), (2, 4, 4, 3), positive=True),
    "MinPooling2D": Case(lambda: layers.MinPooling2D(2, padding="same"), (2, 5, 5, 3)),
    "WeightedPooling2D": Case(lambda: layers.WeightedPooling2D(3, strides=1, sigma=1.0), (2, 5, 5, 3)),
    # resizing, padding, cropping, unpooling
    "UpSampling1D": Case(lambda: layers.UpSampling1D(3), (2, 3, 2)),
    "UpSampling2D": Case(lambda: layers.UpSampling2D(2, interpolation="bilinear"), (2, 3, 3, 2)),
    "UpSampling3D": Case(lambda: layers.UpSampling3D((1, 2, 2), data_format="channels_first"), (2, 2, 2, 3, 3)),
    "BedOfNailsUnpooling2D": Case(lambda: layers.BedOfNailsUnpooling2D(2), (2, 3, 3, 2)),
    "MaxUnpooling2D": Case(_paired_unpooling, (2, 3, 3, 2), before=lambda layer: layer.pool),
    "ZeroPadding1D": Case(lambda: layers.ZeroPadding1D((1, 2)), (2, 3, 2)),
    "ZeroPadding2D": Case(lambda: layers.ZeroPadding2D(((1, 0), (2, 1)), data_format="channels_first"),
                          (2, 2, 3, 3)),
    "ZeroPadding3D": Case(lambda: layers.ZeroPadding3D(1), (1, 2, 2, 2, 2)),
    "Cropping1D": Case(lambda: layers.Cropping1D((1, 2)), (2, 6, 2)),
    "Cropping2D": Case(lambda: layers.Cropping2D(((1, 0), (0, 2))), (2, 5, 5, 2)),
    "Cropping3D": Case(lambda: layers.Cropping3D(1, data_format="channels_first"), (1, 2, 4, 4, 4)),
    # preprocessing
    "Rescaling": Case(lambda: layers.Rescaling(1 / 127.5, offset=-1), (2, 3, 3, 2)),
    "Normalization": Case(_normalization, (3, 4, 3)),
    "Resizing": Case(lambda: layers.Resizing(5, 3), (2, 4, 6, 2)),
    "CenterCrop": Case(lambda: layers.CenterCrop(3, 2), (2, 5, 4, 2)),
    "RandomCrop": Case(lambda: layers.RandomCrop(3, 2, seed=4), (2, 5, 4, 2)),
    "RandomFlip": Case(lambda: layers.RandomFlip(seed=5), (4, 3, 3, 2)),
    "RandomRotation": Case(lambda: layers.RandomRotation(0.2, seed=6), (2, 5, 5, 2)),
    "RandomTranslation": Case(lambda: layers.RandomTranslation(0.2, 0.3, seed=7), (2, 5, 5, 2)),
    "RandomZoom": Case(lambda: layers.RandomZoom(0.3, seed=8, fill_mode="nearest"), (2, 5, 5, 2)),
    "RandomBrightness": Case(lambda: layers.RandomBrightness(0.3, value_range=(-3, 3), seed=9), (2, 3, 3, 2)),
    "RandomContrast": Case(lambda: layers.RandomContrast(0.4, value_range=(-3, 3), seed=10), (2, 3, 3, 2)),
    # layers around user code
    "Lambda": Case(lambda: layers.Lambda(lambda x: ops.tanh(x) * 2.0 + ops.mean(x, axis=-1, keepdims=True)),
                   (3, 4)),
}

def exported_layer_classes():
    """{class: its exported names} for every Layer subclass ``tinyconv.layers`` exports (aliases merged)."""
    found = {}
    for name, value in vars(layers).items():
        if isinstance(value, type) and issubclass(value, Layer) and value is not Layer:
            found.setdefault(value, []).append(name)
    return found


def case_of(cls, names):
    for name in [cls.__name__, *names]:
        if name in CASES:
            return CASES[name]
    return None


def test_every_exported_layer_has_a_case_and_claims_the_gpu():
    # No layer is left out, not even the preprocessing ones (which Keras runs in the data pipeline): they
    # too compute with the array module of their input, so they run inside a model on the GPU.
    missing = [names for cls, names in exported_layer_classes().items() if case_of(cls, names) is None]
    assert missing == [], f"add a case to CASES for {missing}"
    assert set(CASES) <= {cls.__name__ for cls in exported_layer_classes()}, "a case names no exported layer"
    assert [cls.__name__ for cls in exported_layer_classes() if not cls.runs_on_gpu] == []


def inputs_for(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = case.shapes if isinstance(case.shapes, list) else [case.shapes]
    arrays = []
    for shape in shapes:
        if case.integers:
            arrays.append(rng.integers(0, case.integers, shape))
        elif case.positive:
            arrays.append(rng.uniform(0.5, 1.5, shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays if isinstance(case.shapes, list) else arrays[0]


def run_layer(case, x, dtype, upload, weights=None):
    """What one device computes: (layer, its first weights, inference output, training output, dx,
    grads by name, the layer's input).  ``weights``: set on the layer once it is built (the CPU's)."""
    keras.utils.set_random_seed(11)
    backend.set_floatx(dtype)
    try:
        layer = case.make()
    finally:
        backend.set_floatx("float32")
    x = [upload(a) for a in x] if isinstance(x, list) else upload(x)
    if case.before is not None:
        x = case.before(layer)(x, training=False)  # e.g. MaxUnpooling2D's pool, run on the same input
    inference = layer(x, training=False)
    if weights is not None:
        layer.set_weights(weights)
        inference = layer(x, training=False)
    first_weights = layer.get_weights()
    training = layer.forward(x, training=True)   # as a model runs it: a call-only layer records its tape
    dy = np.random.default_rng(1).standard_normal(training.shape).astype(training.dtype)
    dx = layer.backward(upload(dy))
    return layer, first_weights, inference, training, dx, dict(layer.grads), x


def tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-10}


def assert_close(got, want, dtype, what):
    if isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), what
        for index, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, dtype, f"{what}[{index}]")
        return
    if want is None:
        assert got is None, what
        return
    assert devices.is_device_array(got), f"{what}: expected a device array, got {type(got).__name__}"
    got = to_host(got)
    assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype, (what, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, err_msg=what, **tolerance(dtype))


@pytest.fixture(params=sorted(CASES))
def case_name(request):
    return request.param


@contextlib.contextmanager
def host_drawn_noise():
    """Random layers draw with NumPy's generator on the GPU too: the same noise as on the CPU."""
    previous = keras.random.set_mask_source("host")
    try:
        yield
    finally:
        keras.random.set_mask_source(previous)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_on_the_device_equals_the_cpu(case_name, dtype, device, fresh_names):
    case = CASES[case_name]
    x = inputs_for(case, dtype)
    backend.set_device("cpu")
    _, cpu_weights, *want = run_layer(case, x, dtype, upload=lambda a: a)
    backend.set_device("gpu", array_module=device)
    with host_drawn_noise():
        layer, _, inference, training, dx, grads, _ = run_layer(case, x, dtype, device.asarray, cpu_weights)
    want_inference, want_training, want_dx, want_grads, _ = want
    assert_close(inference, want_inference, dtype, f"{case_name} inference")
    assert_close(training, want_training, dtype, f"{case_name} training")
    if case.integers:
        assert dx is None or to_host(dx).shape == np.shape(x)
    else:
        assert_close(dx, want_dx, dtype, f"{case_name} dx")
    assert sorted(grads) == sorted(want_grads)
    for name in grads:
        assert_close(grads[name], want_grads[name], dtype, f"{case_name} d{name}")


@pytest.mark.parametrize("case_name", sorted(name for name, case in CASES.items() if case.random))
def test_noise_drawn_on_the_device_has_the_layers_form(case_name, device, fresh_names):
    case = CASES[case_name]
    x = inputs_for(case, "float32")
    layer, _, inference, training, dx, _, x_seen = run_layer(case, x, "float32", device.asarray)
    np.testing.assert_array_equal(to_host(inference), x)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype("float32")
    y, x = to_host(training), to_host(x_seen)
    assert not np.allclose(y, x), "training adds noise"
    if case.random == "mask":   # y = x * m: the backward multiplies dy by the same m
        assert_close(dx, dy * (y / x), "float32", f"{case_name} dx = dy * mask")
    else:                       # y = x + n: the backward is the identity
        assert_close(dx, dy, "float32", f"{case_name} dx = dy")
    if hasattr(device, "census"):   # the stand-in counts: the noise came from the device, not from the host
        with device.counting() as record:
            layer.forward(x_seen, training=True)
        assert record["uploads"] == 0 and record["syncs"] == 0


class ManyOps(Layer):
    """A user's layer written with only ``call`` and many ``tinyconv.ops``: on the device its tape replays
    the same ops there (forward and backward), with no host copy."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 6), initializer="glorot_uniform", name="w")
        self.b = self.add_weight(shape=(6,), initializer="random_normal", name="b")

    def call(self, x):
        h = ops.matmul(x, self.w) + self.b                                          # (n, 6)
        a = ops.concatenate([ops.relu(h), ops.gelu(h), ops.tanh(h)], axis=-1)       # (n, 18)
        a = ops.transpose(ops.reshape(a, (-1, 3, 6)), (0, 2, 1))                   # (n, 6, 3)
        s = ops.softmax(a, axis=-1) * ops.sigmoid(a) + ops.square(a) / 3.0
        m = ops.max(a, axis=-1) + ops.mean(s, axis=-1) - ops.min(s, axis=-1)     # (n, 6)
        m = ops.sqrt(ops.abs(m) + 1.0) + ops.log(ops.exp(ops.clip(m, -3.0, 3.0)) + 1.0)
        m = ops.where(m > 1.5, m, 0.5 * m) + ops.cumsum(m, axis=-1) * 0.1
        picked = ops.take(m, [0, 2, 2], axis=1) * ops.stop_gradient(ops.one_hot(ops.argmax(m[:, :3], axis=-1), 3))
        stacked = ops.stack([m[:, ::2], ops.flip(m[:, 1::2], axis=1)], axis=1)     # (n, 2, 3)
        tiled = ops.tile(ops.expand_dims(ops.logsumexp(m, axis=-1), -1), (1, 2))
        padded = ops.pad(ops.einsum("nij->nj", stacked), ((0, 0), (1, 0)))
        return ops.concatenate([picked, ops.squeeze(stacked[:, :1], 1), tiled, padded], axis=-1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_call_only_layer_runs_its_ops_on_the_device(dtype, device, fresh_names):
    case = Case(ManyOps, (4, 5))
    x = inputs_for(case, dtype)
    backend.set_device("cpu")
    _, cpu_weights, *want = run_layer(case, x, dtype, upload=lambda a: a)
    backend.set_device("gpu", array_module=device)
    layer, _, inference, training, dx, grads, _ = run_layer(case, x, dtype, device.asarray, cpu_weights)
    assert layer.runs_on_gpu
    assert_close(inference, want[0], dtype, "ManyOps inference")
    assert_close(training, want[1], dtype, "ManyOps training")
    assert_close(dx, want[2], dtype, "ManyOps dx")
    assert sorted(grads) == ["b", "w"]
    for name in grads:
        assert_close(grads[name], want[3][name], dtype, f"ManyOps d{name}")
