"""tinyconv.ops nn family (``keras.ops.nn``): values, dtypes and signatures against Keras, every backward checked.

* forward values and dtypes against ``keras.ops`` (torch backend), where Keras's own result is right
  (its ``sparsemax`` and its torch ``average_pool(padding="same")`` are not: checked against the
  definitions instead);
* every backward against central differences in float64 through the tape, and a few against torch;
* the ops call the layers' kernels: ``ops.conv`` and ``Conv2D`` (and the pooling, depthwise, separable
  and transposed ops and layers) agree bit for bit, forward and backward;
* a table: every exported op has a backward or is declared non-differentiable on purpose.
"""
import doctest
import inspect
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from tests.gradcheck import numerical_gradient, relative_error  # noqa: E402
from tinyconv import dispatch, layers, ops  # noqa: E402
from tinyconv.ops import nn  # noqa: E402
from tinyconv.ops.tape import Tape  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def keras_ops():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
    if keras.backend.backend() != "torch":  # pragma: no cover
        pytest.skip(f"expected KERAS_BACKEND=torch, got {keras.backend.backend()!r}")
    return keras.ops


def keras_value(name, *args, **kwargs):
    k = keras_ops()
    args = [k.convert_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    kwargs = {key: k.convert_to_tensor(v) if isinstance(v, np.ndarray) else v for key, v in kwargs.items()}
    out = getattr(k, name)(*args, **kwargs)
    if isinstance(out, (list, tuple)):
        return [np.asarray(k.convert_to_numpy(o)) for o in out]
    return np.asarray(k.convert_to_numpy(out))


def assert_matches_keras(name, *args, rtol=1e-5, atol=1e-5, **kwargs):
    expected = keras_value(name, *args, **kwargs)
    got = getattr(ops, name)(*args, **kwargs)
    for e, g in zip(*(([expected], [got]) if not isinstance(got, list) else (expected, got))):
        g = np.asarray(g)
        assert g.shape == e.shape and g.dtype == e.dtype, (name, kwargs, g.shape, e.shape, g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"{name} {kwargs}")


def rand(*shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- gradient checking through the tape
def taped_gradients(op, args, wrt, kwargs, r_seed=1):
    with Tape() as tape:
        arguments = list(args)
        watched = []
        for i in wrt:
            arguments[i] = tape.watch(args[i])
            watched.append(arguments[i])
        out = op(*arguments, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        r = [np.random.default_rng(r_seed).standard_normal(o.shape) for o in outs]
        return tape.gradient(list(outs), watched, output_gradient=r), r


def assert_gradients(op, args, wrt=(0,), kwargs=None, tol=1e-6):
    kwargs = kwargs or {}
    analytic, r = taped_gradients(op, args, wrt, kwargs)

    def loss():
        value = op(*args, **kwargs)
        values = value if isinstance(value, (list, tuple)) else [value]
        return float(sum(np.sum(np.asarray(v) * ri) for v, ri in zip(values, r)))

    for i, a in zip(wrt, analytic):
        numeric = numerical_gradient(loss, args[i])
        assert a is not None and a.shape == numeric.shape and a.dtype == np.float64, (op.name, i)
        assert relative_error(a, numeric) < tol, f"{op.name} argument {i}: {relative_error(a, numeric)}"


def away_from(x, kinks, gap=0.02):
    """x with every value within ``gap`` of a kink moved off it (finite differences straddle no kink)."""
    x = x.copy()
    for kink in kinks:
        close = np.abs(x - kink) < gap
        x[close] = kink + 3 * gap
    return x


# ================================================================ activations
ACTIVATIONS = [  # (name, kwargs, kinks of the function)
    ("relu", {}, [0]), ("relu6", {}, [0, 6]), ("sigmoid", {}, []), ("softplus", {}, []), ("softsign", {}, [0]),
    ("silu", {}, []), ("swish", {}, []), ("gelu", {}, []), ("gelu", {"approximate": False}, []), ("elu", {}, [0]),
    ("elu", {"alpha": 0.5}, [0]), ("selu", {}, [0]), ("celu", {"alpha": 2.0}, [0]),
    ("leaky_relu", {}, [0]), ("leaky_relu", {"negative_slope": 0.05}, [0]), ("hard_sigmoid", {}, [-3, 3]),
    ("hard_silu", {}, [-3, 3]), ("hard_swish", {}, [-3, 3]), ("hard_tanh", {}, [-1, 1]), ("log_sigmoid", {}, []),
    ("sparse_plus", {}, [-1, 1]), ("squareplus", {}, []), ("squareplus", {"b": 1.0}, []), ("tanh_shrink", {}, []),
    ("soft_shrink", {}, [-0.5, 0.5]), ("soft_shrink", {"threshold": 1.0}, [-1, 1]),
    ("hard_shrink", {}, [-0.5, 0.5]), ("sparse_sigmoid", {}, [-1, 1]),
    ("softmax", {}, []), ("softmax", {"axis": 0}, []), ("log_softmax", {}, []), ("log_softmax", {"axis": 0}, []),
    ("glu", {}, []), ("glu", {"axis": 0}, []),
]


def activation_input(kinks, dtype="float64", seed=0):
    x = np.random.default_rng(seed).uniform(-5, 7, size=(4, 6))
    return away_from(x, kinks).astype(dtype)


@pytest.mark.parametrize("name, kwargs, kinks", ACTIVATIONS, ids=lambda v: str(v))
def test_activation_matches_keras(name, kwargs, kinks):
    x = activation_input(kinks, "float32")
    assert_matches_keras(name, x, **kwargs)
    assert_matches_keras(name, x.astype("float64"), **kwargs)


@pytest.mark.parametrize("name, kwargs, kinks", ACTIVATIONS, ids=lambda v: str(v))
def test_activation_backward_is_its_derivative(name, kwargs, kinks):
    assert_gradients(getattr(ops, name), [activation_input(kinks)], kwargs=kwargs)


def test_threshold_matches_keras_and_differentiates():
    x = activation_input([0.3])
    assert_matches_keras("threshold", x.astype("float32"), 0.3, -2.0)
    assert_gradients(ops.threshold, [x], kwargs={"threshold": 0.3, "default_value": -2.0})


@pytest.mark.parametrize("name", ["relu", "relu6", "hard_tanh", "sigmoid", "softsign", "sparse_plus",
                                  "tanh_shrink", "sparse_sigmoid", "squareplus"])
def test_integer_inputs_get_keras_dtypes(name):
    assert_matches_keras(name, np.arange(-3, 4, dtype="int32"))


@pytest.mark.parametrize("name", ["softmax", "gelu", "elu", "silu", "softplus", "hard_sigmoid"])
def test_integer_inputs_give_float32_where_keras_torch_refuses_them(name):
    # Keras's torch backend raises for int32 here; its other backends (and tinyconv) compute in float32.
    assert getattr(ops, name)(np.arange(-3, 4, dtype="int32")).dtype == np.float32


@pytest.mark.parametrize("name", ["relu", "sigmoid", "gelu", "softmax", "elu", "hard_tanh"])
def test_float16_stays_float16(name):
    x = activation_input([], "float16")
    assert getattr(ops, name)(x).dtype == np.float16
    assert_matches_keras(name, x, rtol=2e-3, atol=2e-3)


def test_sparsemax_is_the_projection_onto_the_simplex():
    # Keras 3.15's sparsemax sums the running sums of the support instead of taking the k-th one, so its
    # output does not sum to one when two or more classes survive; the definition is the oracle here.
    y = ops.sparsemax(np.array([[0.3, 1.2, -0.5, 1.0, 0.9]]))
    np.testing.assert_allclose(y, [[0.0, 0.5, 0.0, 0.3, 0.2]], atol=1e-12)
    x = rand(5, 7)
    for axis in (-1, 0):
        y = ops.sparsemax(x, axis=axis)
        np.testing.assert_allclose(y.sum(axis=axis), 1.0)
        # The projection: y = max(x - tau, 0) minimises ||y - x|| on the simplex, so x - y is tau on the support.
        gap = np.where(y > 0, x - y, np.nan)
        assert np.nanmax(gap, axis=axis) - np.nanmin(gap, axis=axis) == pytest.approx(0, abs=1e-12)
    one_winner = np.array([[5.0, 0.0, -1.0]], dtype="float32")  # one survivor: Keras is right there
    assert_matches_keras("sparsemax", one_winner)
    assert_gradients(ops.sparsemax, [x])
    assert_gradients(ops.sparsemax, [x], kwargs={"axis": 0})


def test_relu_and_sigmoid_run_the_layer_activation_kernels_bit_for_bit():
    x = rand(3, 4, 5, dtype="float32")
    dy = rand(3, 4, 5, seed=1, dtype="float32")
    for name in ("relu", "sigmoid"):
        layer = layers.Activation(name)
        expected = layer.forward(x.copy(), training=True)
        dx_layer = layer.backward(dy.copy())
        with Tape() as tape:
            xt = tape.watch(x)
            y = getattr(ops, name)(xt)
        (dx_op,) = tape.gradient(y, [xt], output_gradient=dy)
        assert np.array_equal(y.value, expected) and np.array_equal(dx_op, dx_layer), name


# ================================================================ convolutions and pooling vs Keras
CONVS = [  # (input shape, kernel shape, kwargs)
    ((2, 7, 8, 4), (3, 2, 4, 5), {}),
    ((2, 7, 8, 4), (3, 2, 2, 6), {"padding": "same", "strides": 2}),                 # groups = 2
    ((2, 9, 4), (3, 4, 5), {"padding": "same", "dilation_rate": 2}),                 # 1-D
    ((1, 5, 6, 7, 2), (2, 3, 2, 2, 3), {"strides": (1, 2, 1), "padding": "same"}),   # 3-D
    ((2, 4, 7, 8), (3, 3, 4, 5), {"data_format": "channels_first", "padding": "SAME"}),
]


@pytest.mark.parametrize("shape, kernel_shape, kwargs", CONVS)
def test_conv_matches_keras(shape, kernel_shape, kwargs):
    assert_matches_keras("conv", rand(*shape, dtype="float32"), rand(*kernel_shape, seed=1, dtype="float32"),
                         rtol=1e-4, atol=1e-4, **kwargs)


@pytest.mark.parametrize("shape, kernel_shape, kwargs", [
    ((2, 7, 8, 4), (3, 2, 4, 2), {}), ((2, 7, 8, 4), (3, 3, 4, 1), {"padding": "same", "strides": 2}),
    ((2, 9, 3), (3, 3, 2), {"padding": "same"})])
def test_depthwise_conv_matches_keras(shape, kernel_shape, kwargs):
    assert_matches_keras("depthwise_conv", rand(*shape, dtype="float32"), rand(*kernel_shape, seed=1, dtype="float32"),
                         rtol=1e-4, atol=1e-4, **kwargs)


def test_separable_conv_matches_keras():
    assert_matches_keras("separable_conv", rand(2, 7, 8, 4, dtype="float32"), rand(3, 3, 4, 2, seed=1, dtype="float32"),
                         rand(1, 1, 8, 5, seed=2, dtype="float32"), padding="same", rtol=1e-4, atol=1e-4)


TRANSPOSES = [
    ((2, 4, 5, 3), (3, 3, 6, 3), {"strides": 2}),
    ((2, 4, 5, 3), (3, 2, 6, 3), {"strides": 2, "padding": "same"}),
    ((2, 4, 5, 3), (3, 3, 6, 3), {"strides": 2, "output_padding": 1}),
    ((2, 6, 3), (4, 2, 3), {"strides": 3, "padding": "same"}),
    ((1, 3, 4, 2, 3), (2, 2, 2, 2, 3), {"strides": 2}),
    ((2, 4, 5, 3), (3, 3, 6, 3), {"dilation_rate": 2, "padding": "same"}),
]


@pytest.mark.parametrize("shape, kernel_shape, kwargs", TRANSPOSES)
def test_conv_transpose_matches_keras(shape, kernel_shape, kwargs):
    assert_matches_keras("conv_transpose", rand(*shape, dtype="float32"), rand(*kernel_shape, seed=1, dtype="float32"),
                         rtol=1e-4, atol=1e-4, **kwargs)


POOLS = [((2, 7, 8, 3), {"pool_size": 2}), ((2, 7, 8, 3), {"pool_size": 3, "strides": 2, "padding": "same"}),
         ((2, 9, 3), {"pool_size": 2, "padding": "same"}), ((1, 5, 6, 7, 2), {"pool_size": 2, "padding": "same"}),
         ((2, 3, 7, 8), {"pool_size": (2, 3), "data_format": "channels_first"})]


@pytest.mark.parametrize("shape, kwargs", POOLS)
def test_max_pool_matches_keras(shape, kwargs):
    assert_matches_keras("max_pool", rand(*shape, dtype="float32"), **kwargs)


@pytest.mark.parametrize("shape, kwargs", [p for p in POOLS if p[1].get("padding") != "same"])
def test_average_pool_matches_keras(shape, kwargs):
    assert_matches_keras("average_pool", rand(*shape, dtype="float32"), **kwargs)


def test_average_pool_same_excludes_the_padding_cells():
    # Keras's torch backend pads "same" with zeros it then counts; Keras's documented rule (and its TF/JAX
    # backends, and AveragePooling2D here) averages the real cells only.  The definition is the oracle.
    x = rand(1, 5, 5, 1)
    y = ops.average_pool(x, 3, strides=2, padding="same")
    before, _ = (1, 1)
    for i in range(3):
        for j in range(3):
            rows = slice(max(i * 2 - before, 0), min(i * 2 - before + 3, 5))
            cols = slice(max(j * 2 - before, 0), min(j * 2 - before + 3, 5))
            assert y[0, i, j, 0] == pytest.approx(x[0, rows, cols, 0].mean())


@pytest.mark.parametrize("shape, output_size", [((2, 7, 8, 3), (3, 5)), ((2, 9, 3), 4), ((1, 5, 6, 7, 2), (2, 3, 4))])
def test_adaptive_pools_match_keras(shape, output_size):
    x = rand(*shape, dtype="float32")
    assert_matches_keras("adaptive_max_pool", x, output_size)
    assert_matches_keras("adaptive_average_pool", x, output_size)
    assert_matches_keras("adaptive_average_pool", np.moveaxis(x, -1, 1).copy(), output_size,
                         data_format="channels_first")


def test_unfold_fold_depth_space_match_keras():
    x = rand(2, 3, 7, 8, dtype="float32")
    assert_matches_keras("unfold", x, 3)
    assert_matches_keras("unfold", x, (2, 3), dilation=2, padding=1, stride=(2, 1))
    assert_matches_keras("fold", rand(2, 18, 16, dtype="float32"), (5, 6), (2, 3))
    assert_matches_keras("fold", rand(2, 8, 12, dtype="float32"), (5, 6), 2, padding=1, stride=2)
    assert_matches_keras("depth_to_space", rand(2, 3, 4, 8, dtype="float32"), 2)
    assert_matches_keras("space_to_depth", rand(2, 4, 6, 3, dtype="float32"), 2)
    assert_matches_keras("depth_to_space", rand(2, 8, 3, 4, dtype="float32"), 2, data_format="channels_first")
    assert_matches_keras("space_to_depth", rand(2, 3, 4, 6, dtype="float32"), 2, data_format="channels_first")


def test_fold_is_the_adjoint_of_unfold():
    x, c = rand(1, 2, 5, 6), rand(1, 2 * 6, 9, seed=1)
    kwargs = {"kernel_size": (2, 3), "dilation": 1, "padding": 1, "stride": 2}
    assert np.sum(ops.unfold(x, **kwargs) * c) == pytest.approx(np.sum(x * ops.fold(c, (5, 6), **kwargs)))


# ================================================================ structured backwards, numerically
STRUCTURED = [  # (op, args builder, differentiable argument indices, kwargs)
    ("conv", lambda: [rand(2, 5, 6, 4), rand(3, 2, 2, 4, seed=1)], (0, 1), {"padding": "same", "strides": 2}),
    ("conv", lambda: [rand(1, 7, 2), rand(3, 2, 3, seed=1)], (0, 1), {"dilation_rate": 2}),
    ("conv", lambda: [rand(1, 2, 5, 4), rand(2, 3, 2, 3, seed=1)], (0, 1), {"data_format": "channels_first"}),
    ("conv", lambda: [rand(1, 3, 4, 4, 2), rand(2, 2, 2, 2, 2, seed=1)], (0, 1), {"padding": "same"}),
    ("depthwise_conv", lambda: [rand(1, 5, 5, 3), rand(3, 3, 3, 2, seed=1)], (0, 1), {"padding": "same", "strides": 2}),
    ("depthwise_conv", lambda: [rand(2, 6, 2), rand(2, 2, 2, seed=1)], (0, 1), {}),
    ("separable_conv", lambda: [rand(1, 5, 5, 2), rand(3, 3, 2, 2, seed=1), rand(1, 1, 4, 3, seed=2)], (0, 1, 2),
     {"padding": "same"}),
    ("conv_transpose", lambda: [rand(1, 3, 4, 2), rand(3, 2, 3, 2, seed=1)], (0, 1), {"strides": 2}),
    ("conv_transpose", lambda: [rand(1, 3, 4, 2), rand(3, 3, 3, 2, seed=1)], (0, 1),
     {"strides": 2, "padding": "same", "output_padding": 1}),
    ("conv_transpose", lambda: [rand(2, 4, 2), rand(3, 2, 2, seed=1)], (0, 1), {"strides": 2, "padding": "same"}),
    ("conv_transpose", lambda: [rand(1, 2, 2, 2, 2), rand(2, 2, 2, 1, 2, seed=1)], (0, 1), {"strides": 2}),
    ("max_pool", lambda: [rand(2, 5, 6, 2)], (0,), {"pool_size": 3, "strides": 2, "padding": "same"}),
    ("max_pool", lambda: [rand(2, 7, 2)], (0,), {"pool_size": 2}),
    ("max_pool", lambda: [rand(1, 4, 4, 4, 1)], (0,), {"pool_size": 2}),
    ("average_pool", lambda: [rand(2, 5, 6, 2)], (0,), {"pool_size": 3, "strides": 2, "padding": "same"}),
    ("average_pool", lambda: [rand(1, 2, 7)], (0,), {"pool_size": 3, "data_format": "channels_first"}),
    ("average_pool", lambda: [rand(1, 4, 4, 4, 1)], (0,), {"pool_size": 2, "padding": "same", "strides": 3}),
    ("adaptive_max_pool", lambda: [rand(2, 5, 7, 2)], (0,), {"output_size": (2, 3)}),
    ("adaptive_average_pool", lambda: [rand(2, 5, 7, 2)], (0,), {"output_size": (2, 3)}),
    ("unfold", lambda: [rand(1, 2, 5, 6)], (0,), {"kernel_size": (2, 3), "padding": 1, "stride": 2}),
    ("fold", lambda: [rand(1, 12, 9)], (0,), {"output_size": (5, 6), "kernel_size": (2, 3), "padding": 1,
                                                "stride": 2}),
    ("depth_to_space", lambda: [rand(1, 2, 3, 8)], (0,), {"block_size": 2}),
    ("space_to_depth", lambda: [rand(1, 2, 4, 6)], (0,), {"block_size": 2, "data_format": "channels_first"}),
]


@pytest.mark.parametrize("name, build, wrt, kwargs", STRUCTURED, ids=[f"{s[0]}-{i}" for i, s in enumerate(STRUCTURED)])
def test_structured_backward_is_its_derivative(name, build, wrt, kwargs):
    assert_gradients(getattr(ops, name), build(), wrt, kwargs)


def test_conv_and_pool_backwards_match_torch_autograd():
    torch = pytest.importorskip("torch")
    x, k = rand(2, 6, 7, 3), rand(3, 2, 3, 4, seed=1)
    dy = rand(2, 3, 7, 4, seed=2)
    with Tape() as tape:
        xt, kt = tape.watch(x), tape.watch(k)
        y = ops.conv(xt, kt, strides=(2, 1), padding="same")
    dx, dk = tape.gradient(y, [xt, kt], output_gradient=dy)
    tx = torch.tensor(np.moveaxis(x, -1, 1), requires_grad=True)
    tk = torch.tensor(np.transpose(k, (3, 2, 0, 1)), requires_grad=True)
    # Keras's "same" for height 6, kernel 3, stride 2 pads (0, 1); width 7, kernel 2, stride 1 pads (0, 1).
    ty = torch.nn.functional.conv2d(torch.nn.functional.pad(tx, (0, 1, 0, 1)), tk, stride=(2, 1))
    ty.backward(torch.tensor(np.moveaxis(dy, -1, 1)))
    np.testing.assert_allclose(y.value, np.moveaxis(ty.detach().numpy(), 1, -1), atol=1e-10)
    np.testing.assert_allclose(dx, np.moveaxis(tx.grad.numpy(), 1, -1), atol=1e-10)
    np.testing.assert_allclose(dk, np.transpose(tk.grad.numpy(), (2, 3, 1, 0)), atol=1e-10)

    with Tape() as tape:
        xt = tape.watch(x)
        y = ops.max_pool(xt, 2)
    dy = rand(*y.shape, seed=3)
    (dx,) = tape.gradient(y, [xt], output_gradient=dy)
    tx = torch.tensor(np.moveaxis(x, -1, 1), requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 2).backward(torch.tensor(np.moveaxis(dy, -1, 1)))
    np.testing.assert_allclose(dx, np.moveaxis(tx.grad.numpy(), 1, -1), atol=1e-12)


# ================================================================ the ops are the layers' kernels
def _layer_and_op(layer, weights, x, dy, op, op_args, op_kwargs, weight_grads):
    """Forward (inference and training) and backward of ``layer`` and of ``op`` under a tape: bit-equal."""
    layer(x)  # builds
    layer.set_weights(weights)
    assert np.array_equal(layer(x), op(x, *weights, **op_kwargs) if op_args is None else op(x, *op_args, **op_kwargs))
    y_layer = layer.forward(x, training=True)
    dx_layer = layer.backward(dy.copy())
    with Tape() as tape:
        xt = tape.watch(x)
        wt = [tape.watch(w) for w in weights]
        y_op = op(xt, *wt, **op_kwargs)
    grads = tape.gradient(y_op, [xt] + wt, output_gradient=dy)
    assert np.array_equal(y_op.value, y_layer)
    assert np.array_equal(grads[0], dx_layer)
    for name, g in zip(weight_grads, grads[1:]):
        assert np.array_equal(g, layer.grads[name]), name


@pytest.mark.parametrize("kernels", ["cpu", "reference"])
def test_conv_ops_and_conv_layers_agree_bit_for_bit(kernels):
    if kernels == "cpu" and not dispatch.compiled_kernels_available():
        pytest.skip("the compiled kernels are not built")
    x = rand(2, 9, 8, 4, dtype="float32")
    with dispatch.use_kernels(kernels):
        for strides, padding, dilation in [(2, "same", 1), (1, "valid", 2)]:
            layer = layers.Conv2D(6, (3, 2), strides=strides, padding=padding, dilation_rate=dilation, use_bias=False)
            kernel = rand(3, 2, 4, 6, seed=1, dtype="float32")
            y = ops.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation)
            _layer_and_op(layer, [kernel], x, rand(*y.shape, seed=2, dtype="float32"), ops.conv, None,
                          {"strides": strides, "padding": padding, "dilation_rate": dilation}, ["kernel"])
        grouped = layers.Conv2D(6, 3, groups=2, use_bias=False, padding="same")
        _layer_and_op(grouped, [rand(3, 3, 2, 6, seed=1, dtype="float32")], x,
                      rand(2, 9, 8, 6, seed=3, dtype="float32"),
                      ops.conv, None, {"padding": "same"}, ["kernel"])
        x1 = rand(2, 11, 3, dtype="float32")
        _layer_and_op(layers.Conv1D(4, 3, padding="same", use_bias=False), [rand(3, 3, 4, seed=1, dtype="float32")],
                      x1, rand(2, 11, 4, seed=2, dtype="float32"), ops.conv, None, {"padding": "same"}, ["kernel"])
        x3 = rand(1, 4, 5, 6, 2, dtype="float32")
        _layer_and_op(layers.Conv3D(3, 2, strides=2, use_bias=False), [rand(2, 2, 2, 2, 3, seed=1, dtype="float32")],
                      x3, rand(1, 2, 2, 3, 3, seed=2, dtype="float32"), ops.conv, None, {"strides": 2}, ["kernel"])
        _layer_and_op(layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False),
                      [rand(3, 3, 4, 2, seed=1, dtype="float32")], x, rand(2, 9, 8, 8, seed=2, dtype="float32"),
                      ops.depthwise_conv, None, {"padding": "same"}, ["kernel"])
        _layer_and_op(layers.SeparableConv2D(5, 3, strides=2, use_bias=False),
                      [rand(3, 3, 4, 1, seed=1, dtype="float32"), rand(1, 1, 4, 5, seed=2, dtype="float32")], x,
                      rand(2, 4, 3, 5, seed=3, dtype="float32"), ops.separable_conv, None, {"strides": 2},
                      ["depthwise_kernel", "pointwise_kernel"])
        for padding in ("valid", "same"):
            transpose = layers.Conv2DTranspose(3, 3, strides=2, padding=padding, use_bias=False)
            kernel = rand(3, 3, 3, 4, seed=1, dtype="float32")
            y = ops.conv_transpose(x, kernel, strides=2, padding=padding)
            _layer_and_op(transpose, [kernel], x, rand(*y.shape, seed=2, dtype="float32"), ops.conv_transpose, None,
                          {"strides": 2, "padding": padding}, ["kernel"])


@pytest.mark.parametrize("kernels", ["cpu", "reference"])
def test_pooling_ops_and_pooling_layers_agree_bit_for_bit(kernels):
    if kernels == "cpu" and not dispatch.compiled_kernels_available():
        pytest.skip("the compiled kernels are not built")
    cases = [(layers.MaxPooling2D(3, strides=2, padding="same"), ops.max_pool, rand(2, 7, 8, 3, dtype="float32"),
              {"pool_size": 3, "strides": 2, "padding": "same"}),
             (layers.AveragePooling2D(2), ops.average_pool, rand(2, 7, 8, 3, dtype="float32"), {"pool_size": 2}),
             (layers.AveragePooling2D(3, strides=2, padding="same"), ops.average_pool,
              rand(2, 7, 8, 3, dtype="float32"),
              {"pool_size": 3, "strides": 2, "padding": "same"}),
             (layers.MaxPooling1D(2, padding="same"), ops.max_pool, rand(2, 9, 3, dtype="float32"),
              {"pool_size": 2, "padding": "same"}),
             (layers.AveragePooling1D(3, strides=2), ops.average_pool, rand(2, 9, 3, dtype="float32"),
              {"pool_size": 3, "strides": 2}),
             (layers.MaxPooling3D(2), ops.max_pool, rand(1, 4, 5, 6, 2, dtype="float32"), {"pool_size": 2}),
             (layers.AveragePooling3D(2, padding="same"), ops.average_pool, rand(1, 4, 5, 6, 2, dtype="float32"),
              {"pool_size": 2, "padding": "same"})]
    with dispatch.use_kernels(kernels):
        for layer, op, x, kwargs in cases:
            y = op(x, **kwargs)
            _layer_and_op(layer, [], x, rand(*y.shape, seed=5, dtype="float32"), op, (), kwargs, [])


def test_conv_without_a_tape_keeps_no_kernel_cache():
    with Tape():
        pass
    out = ops.conv(rand(1, 4, 4, 1, dtype="float32"), rand(2, 2, 1, 1, dtype="float32"))
    assert isinstance(out, np.ndarray)  # a plain array, no (out, saved) pair leaks out of the op


# ================================================================ losses, normalisation, attention
def test_losses_and_encodings_match_keras():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6)).astype("float32")
    t = np.abs(rng.standard_normal((4, 6))).astype("float32")
    p = t / t.sum(-1, keepdims=True)
    assert_matches_keras("categorical_crossentropy", p, np.abs(x))
    assert_matches_keras("categorical_crossentropy", p, x, from_logits=True)
    assert_matches_keras("categorical_crossentropy", p.T.copy(), x.T.copy(), from_logits=True, axis=0)
    labels = rng.integers(0, 6, 4).astype("int32")
    assert_matches_keras("sparse_categorical_crossentropy", labels, np.abs(x))
    assert_matches_keras("sparse_categorical_crossentropy", labels[:, None], x, from_logits=True)
    targets = (rng.random((4, 6)) > 0.5).astype("float32")
    assert_matches_keras("binary_crossentropy", targets, 1 / (1 + np.exp(-x)))
    assert_matches_keras("binary_crossentropy", targets, 5 * x, from_logits=True)
    assert_matches_keras("one_hot", np.array([0, 3, -1, 2]), 4)
    assert_matches_keras("one_hot", np.array([[0, 3], [1, 2]]), 4, axis=0)
    assert_matches_keras("one_hot", np.array([1, 2]), 3, dtype="int32")
    assert_matches_keras("multi_hot", np.array([[0, 3], [1, 1]]), 4)
    assert_matches_keras("multi_hot", np.array([0, 3]), 5)
    assert_matches_keras("psnr", x, x + 0.1, 2.0)


def test_normalization_and_attention_match_keras():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6)).astype("float32")
    x4 = rng.standard_normal((2, 3, 4, 5)).astype("float32")
    mean, var = rng.standard_normal(6).astype("float32"), np.abs(rng.standard_normal(6)).astype("float32")
    assert_matches_keras("moments", x, axes=[0])
    assert_matches_keras("moments", x4, axes=[1, 2], keepdims=True)
    assert_matches_keras("batch_normalization", x, mean, var, axis=-1, offset=2 * mean, scale=var + 1)
    assert_matches_keras("batch_normalization", x4, mean[:3], var[:3], axis=1)
    w, b = rng.standard_normal(5).astype("float32"), rng.standard_normal(5).astype("float32")
    assert_matches_keras("layer_normalization", x4)
    assert_matches_keras("layer_normalization", x4, gamma=w, beta=b)
    assert_matches_keras("layer_normalization", x4, axis=[2, 3], epsilon=1e-3)
    assert_matches_keras("rms_normalization", x4)
    assert_matches_keras("rms_normalization", x4, scale=w, epsilon=1e-2)
    assert_matches_keras("rms_normalization", x4, axis=[2, 3])
    assert_matches_keras("normalize", x4)
    assert_matches_keras("normalize", x4, axis=1, order=1)
    assert_matches_keras("normalize", x4, order=3)
    q, k, v = (rng.standard_normal(s).astype("float32") for s in ((2, 5, 3, 4), (2, 6, 3, 4), (2, 6, 3, 4)))
    assert_matches_keras("dot_product_attention", q, k, v)
    assert_matches_keras("dot_product_attention", q, k[:, :5], v[:, :5], is_causal=True)
    assert_matches_keras("dot_product_attention", q, k, v, bias=rng.standard_normal((1, 3, 5, 6)).astype("float32"),
                         scale=0.7)
    assert_matches_keras("dot_product_attention", q, k, v, mask=rng.random((2, 1, 5, 6)) > 0.3)


LOSS_AND_NORM_GRADIENTS = [
    ("categorical_crossentropy", lambda: [np.abs(rand(3, 4)) + 0.1, np.abs(rand(3, 4, seed=1)) + 0.1], (0, 1), {}),
    ("categorical_crossentropy", lambda: [np.abs(rand(3, 4)), rand(3, 4, seed=1)], (0, 1),
     {"from_logits": True, "axis": 0}),
    ("sparse_categorical_crossentropy", lambda: [np.array([0, 3, 1]), np.abs(rand(3, 4, seed=1)) + 0.1], (1,), {}),
    ("sparse_categorical_crossentropy", lambda: [np.array([[0], [3], [1]]), rand(3, 4, seed=1)], (1,),
     {"from_logits": True}),
    ("binary_crossentropy", lambda: [np.random.default_rng(2).random((3, 4)), np.random.default_rng(3).uniform(
        0.05, 0.95, (3, 4))], (0, 1), {}),
    ("binary_crossentropy", lambda: [np.random.default_rng(2).random((3, 4)), 3 * rand(3, 4)], (0, 1),
     {"from_logits": True}),
    ("psnr", lambda: [rand(3, 4), rand(3, 4, seed=1)], (0, 1), {"max_val": 2.0}),
    ("moments", lambda: [rand(3, 4, 2)], (0,), {"axes": [0, 2]}),
    ("moments", lambda: [rand(3, 4)], (0,), {"axes": 1, "keepdims": True}),
    ("batch_normalization", lambda: [rand(3, 2, 4), rand(2, seed=1), np.abs(rand(2, seed=2)) + 0.5, 1,
                                     rand(2, seed=3), rand(2, seed=4)], (0, 1, 2, 4, 5), {}),
    ("layer_normalization", lambda: [rand(3, 4, 5), rand(5, seed=1), rand(5, seed=2)], (0, 1, 2), {}),
    ("layer_normalization", lambda: [rand(3, 4, 5), rand(4, 5, seed=1), rand(4, 5, seed=2)], (0, 1, 2),
     {"axis": [1, 2], "epsilon": 1e-3}),
    ("rms_normalization", lambda: [rand(3, 4, 5), rand(5, seed=1)], (0, 1), {"epsilon": 1e-3}),
    ("rms_normalization", lambda: [rand(3, 4, 5), rand(3, 1, 1, seed=1)], (0, 1), {"axis": 0}),
    ("normalize", lambda: [rand(3, 5)], (0,), {}),
    ("normalize", lambda: [rand(3, 5)], (0,), {"axis": 0, "order": 1}),
    ("normalize", lambda: [rand(3, 5)], (0,), {"order": 3}),
    ("dot_product_attention", lambda: [rand(2, 3, 2, 4), rand(2, 4, 2, 4, seed=1), rand(2, 4, 2, 4, seed=2),
                                       rand(1, 2, 3, 4, seed=3)], (0, 1, 2, 3), {}),
    ("dot_product_attention", lambda: [rand(1, 4, 2, 3), rand(1, 4, 2, 3, seed=1), rand(1, 4, 2, 3, seed=2)],
     (0, 1, 2), {"is_causal": True, "scale": 0.3}),
    ("dot_product_attention", lambda: [rand(1, 3, 1, 2), rand(1, 4, 1, 2, seed=1), rand(1, 4, 1, 2, seed=2)],
     (0, 1, 2), {"mask": np.array([[[[1, 0, 1, 1], [1, 1, 0, 0], [0, 1, 1, 1]]]], dtype=bool),
                 "attn_logits_soft_cap": 2.0}),
]


@pytest.mark.parametrize("name, build, wrt, kwargs", LOSS_AND_NORM_GRADIENTS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LOSS_AND_NORM_GRADIENTS)])
def test_loss_normalization_attention_backward_is_its_derivative(name, build, wrt, kwargs):
    assert_gradients(getattr(ops, name), build(), wrt, kwargs)


def test_attention_backward_matches_torch():
    torch = pytest.importorskip("torch")
    q, k, v = rand(2, 3, 2, 4), rand(2, 5, 2, 4, seed=1), rand(2, 5, 2, 4, seed=2)
    dy = rand(2, 3, 2, 4, seed=3)
    with Tape() as tape:
        qt, kt, vt = tape.watch(q), tape.watch(k), tape.watch(v)
        y = ops.dot_product_attention(qt, kt, vt)
    grads = tape.gradient(y, [qt, kt, vt], output_gradient=dy)
    tq, tk, tv = (torch.tensor(np.swapaxes(a, 1, 2), requires_grad=True) for a in (q, k, v))
    out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)
    out.backward(torch.tensor(np.swapaxes(dy, 1, 2)))
    np.testing.assert_allclose(y.value, np.swapaxes(out.detach().numpy(), 1, 2), atol=1e-12)
    for mine, theirs in zip(grads, (tq, tk, tv)):
        np.testing.assert_allclose(mine, np.swapaxes(theirs.grad.numpy(), 1, 2), atol=1e-12)


# ================================================================ contract tables
NOT_DIFFERENTIABLE = {"one_hot": "its input is integer labels", "multi_hot": "its input is integer labels"}


def test_every_exported_op_has_a_backward_or_is_declared_non_differentiable():
    for name in nn.__all__:
        op = getattr(nn, name)
        if name in NOT_DIFFERENTIABLE:
            assert not op.differentiable, name
        else:
            assert op.differentiable and op.backward is not None, f"ops.{name} has no backward"
    assert set(nn.__all__) <= set(ops.__all__)


def test_signatures_are_keras():
    keras = keras_ops()
    for name in nn.__all__:
        mine = inspect.signature(getattr(nn, name))
        theirs = inspect.signature(getattr(keras, name))
        assert [(p.name, p.default, p.kind) for p in mine.parameters.values()] == \
            [(p.name, p.default, p.kind) for p in theirs.parameters.values()], name


def test_aliases_are_the_same_op():
    assert ops.swish is ops.silu and ops.hard_swish is ops.hard_silu


@pytest.mark.parametrize("name", nn.__all__)
def test_docstring_examples_run(name):
    op = getattr(nn, name)
    assert "Args:" in op.__doc__ and "Returns:" in op.__doc__ and ">>>" in op.__doc__, name
    test = doctest.DocTestParser().get_doctest(op.__doc__, {"np": np, "ops": ops}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, name


# ================================================================ errors name the op, the expected and the received
@pytest.mark.parametrize("call, message", [
    (lambda: ops.conv(np.ones((1, 4, 4, 3)), np.ones((2, 2, 2, 4))), "not a multiple"),
    (lambda: ops.conv(np.ones((4, 4)), np.ones((2, 2))), "expected inputs with"),
    (lambda: ops.conv(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)), padding="full"), "padding must be"),
    (lambda: ops.conv(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1))), "too small"),
    (lambda: ops.max_pool(np.ones((1, 4, 4, 1)), 2, data_format="nhwc"), "data_format"),
    (lambda: ops.depthwise_conv(np.ones((1, 4, 4, 3)), np.ones((2, 2, 2, 1))), "channels in axis -2"),
    (lambda: ops.conv_transpose(np.ones((1, 4, 4, 3)), np.ones((2, 2, 1, 2))), "expected a kernel"),
    (lambda: ops.glu(np.ones((2, 3))), "must be even"),
    (lambda: ops.categorical_crossentropy(np.ones((2, 3)), np.ones((2, 4))), "same shape"),
    (lambda: ops.depth_to_space(np.ones((1, 2, 2, 3)), 2), "divisible"),
    (lambda: ops.normalize(np.ones(3), order=0), "order must be"),
    (lambda: ops.fold(np.ones((1, 4, 5)), 3, 2), "expected x of shape"),
    (lambda: ops.one_hot(np.array([1]), 3, sparse=True), "sparse"),
    (lambda: ops.dot_product_attention(np.ones((2, 3, 4)), np.ones((2, 3, 4)), np.ones((2, 3, 4))), "rank 4"),
])
def test_bad_arguments_are_refused_clearly(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
