"""NaN and +-inf go through every kernel as the formulas say, in every kernel set.

1. Every kernel of ``dispatch.KERNEL_NAMES``, forward and backward, gets inputs holding NaN, +inf
   and -inf (a backward gets what its reference forward made of such inputs, as a layer would pass
   it); the compiled and the GPU set (NumPy standing in for CuPy) must give the reference's
   numbers, NaN and inf in the same places.
2. The reference itself agrees with NumPy or PyTorch on a few hand-made cases: a NaN in a max,
   min or Lp pooling window, an inf in one LRN channel, an inf in a log-sum-exp window.
3. The activation kernels refuse integer arrays instead of computing in them.
"""
import numpy as np
import pytest

from tinyconv import dispatch
from tinyconv.kernels import cpu, gpu, reference

NONFINITE = (np.nan, np.inf, -np.inf)
POOL2D = ((3, 2), (2, 1), ((1, 1), (0, 1)))          # overlapping windows and padding
POOL3D = ((2, 2, 1), (1, 2, 1), ((1, 0), (0, 1), (0, 0)))
CONV2D = ((1, 2), ((1, 0), (0, 1)), (2, 1), 2)
CONV3D = ((1, 2, 1), ((1, 0), (0, 1), (1, 1)), (1, 1, 2), 1)
TILED = ((2, 1), ((1, 0), (0, 1)))
LOCAL = ((2, 3), (1, 2), (4, 2))
LRN = (2, 1.0, 1e-2, 0.75)


@pytest.fixture(autouse=True)
def numpy_array_module():
    gpu.use_array_module(np)


def poisoned(rng, shape, dtype=np.float32, count=3, positive=False):
    """Random numbers with ``count`` cells of each of NaN, +inf and -inf at random places
    (``positive``: numbers > 0, NaN and +inf only)."""
    values = rng.standard_normal(shape)
    specials = NONFINITE
    if positive:
        values, specials = np.abs(values) + 0.5, NONFINITE[:2]
    flat = values.reshape(-1)
    places = rng.choice(flat.size, size=min(flat.size, count * len(specials)), replace=False)
    for k, place in enumerate(places):
        flat[place] = specials[k % len(specials)]
    return values.astype(dtype)


def finite(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def first(out):
    return out[0] if isinstance(out, tuple) else out


# --- one call per kernel: name -> (rng) -> arguments, data poisoned, weights finite ---------------

def conv2d_forward(rng):
    return poisoned(rng, (2, 6, 5, 4)), finite(rng, (3, 2, 2, 6)), finite(rng, 6), *CONV2D


def conv2d_backward(rng):
    x, kernel, _, *geometry = conv2d_forward(rng)
    y = reference.conv2d_forward(x, kernel, None, *geometry)
    return poisoned(rng, y.shape), x, kernel, *geometry


def conv3d_forward(rng):
    return poisoned(rng, (2, 4, 5, 4, 2)), finite(rng, (2, 3, 2, 2, 3)), finite(rng, 3), *CONV3D


def conv3d_backward(rng):
    x, kernel, _, *geometry = conv3d_forward(rng)
    y = reference.conv3d_forward(x, kernel, None, *geometry)
    return poisoned(rng, y.shape), x, kernel, *geometry


def locally_connected2d_forward(rng):
    return poisoned(rng, (2, 5, 6, 3)), finite(rng, (8, 18, 4)), finite(rng, (4, 2, 4)), *LOCAL


def locally_connected2d_backward(rng):
    x, kernel, _, *geometry = locally_connected2d_forward(rng)
    return poisoned(rng, (2, 4, 2, 4)), x, kernel, *geometry


def tiled_conv2d_forward(rng):
    return poisoned(rng, (2, 6, 6, 3)), finite(rng, (2, 2, 2, 2, 3, 4)), finite(rng, 4), *TILED


def tiled_conv2d_backward(rng):
    x, kernel, _, *geometry = tiled_conv2d_forward(rng)
    y = reference.tiled_conv2d_forward(x, kernel, None, *geometry)
    return poisoned(rng, y.shape), x, kernel, *geometry


def max_pool2d_forward(rng):
    return poisoned(rng, (2, 5, 4, 3)), *POOL2D


def max_pool2d_backward(rng):
    y, argmax = reference.max_pool2d_forward(*max_pool2d_forward(rng))
    return poisoned(rng, y.shape), argmax, (2, 5, 4, 3)


def avg_pool2d_forward(rng):
    return poisoned(rng, (2, 5, 4, 3)), *POOL2D


def avg_pool2d_backward(rng):
    y = reference.avg_pool2d_forward(*avg_pool2d_forward(rng))
    return poisoned(rng, y.shape), (2, 5, 4, 3), *POOL2D


def max_pool3d_forward(rng):
    return poisoned(rng, (2, 3, 4, 3, 2)), *POOL3D


def max_pool3d_backward(rng):
    y, argmax = reference.max_pool3d_forward(*max_pool3d_forward(rng))
    return poisoned(rng, y.shape), argmax, (2, 3, 4, 3, 2)


def avg_pool3d_forward(rng):
    return poisoned(rng, (2, 3, 4, 3, 2)), *POOL3D


def avg_pool3d_backward(rng):
    y = reference.avg_pool3d_forward(*avg_pool3d_forward(rng))
    return poisoned(rng, y.shape), (2, 3, 4, 3, 2), *POOL3D


def min_pool2d_forward(rng):
    return poisoned(rng, (2, 5, 4, 3)), *POOL2D


def parametric_forward(name, parameter, positive=False):
    return lambda rng: (poisoned(rng, (2, 5, 4, 3), positive=positive), parameter, *POOL2D)


def parametric_backward(name, parameter, positive=False):
    def arguments(rng):
        x = poisoned(rng, (2, 5, 4, 3), positive=positive)
        y = getattr(reference, name)(x, parameter, *POOL2D)
        return poisoned(rng, y.shape), x, y, parameter, *POOL2D
    return arguments


def weighted_pool2d_forward(rng):
    return poisoned(rng, (2, 5, 4, 3)), 1.0, *POOL2D


def weighted_pool2d_backward(rng):
    y = reference.weighted_pool2d_forward(*weighted_pool2d_forward(rng))
    return poisoned(rng, y.shape), (2, 5, 4, 3), 1.0, *POOL2D


def upsample2d_nearest_forward(rng):
    return poisoned(rng, (2, 3, 4, 3)), (2, 3)


def upsample2d_nearest_backward(rng):
    return poisoned(rng, (2, 6, 12, 3)), (2, 3, 4, 3)


upsample2d_bilinear_forward = upsample2d_nearest_forward
upsample2d_bilinear_backward = upsample2d_nearest_backward


def batch_norm_forward_train(rng):
    return poisoned(rng, (4, 3, 2, 5), count=1), finite(rng, 5), finite(rng, 5), 1e-3


def batch_norm_forward_infer(rng):
    x, gamma, beta, epsilon = batch_norm_forward_train(rng)
    return x, gamma, beta, finite(rng, 5), np.abs(finite(rng, 5)) + 0.5, epsilon


def batch_norm_backward(rng):
    x, gamma, beta, epsilon = batch_norm_forward_train(rng)
    _, mean, _, inv_std = reference.batch_norm_forward_train(x, gamma, beta, epsilon)
    return poisoned(rng, x.shape, count=1), x, gamma, mean, inv_std


def layer_norm_forward(rng):
    return poisoned(rng, (3, 4, 6), count=1), finite(rng, 6), finite(rng, 6), 1e-3


def layer_norm_backward(rng):
    x, gamma, beta, epsilon = layer_norm_forward(rng)
    _, mean, inv_std = reference.layer_norm_forward(x, gamma, beta, epsilon)
    return poisoned(rng, x.shape, count=1), x, gamma, mean, inv_std


def group_norm_forward(rng):
    return poisoned(rng, (3, 4, 6), count=1), 3, finite(rng, 6), finite(rng, 6), 1e-3


def group_norm_backward(rng):
    x, groups, gamma, beta, epsilon = group_norm_forward(rng)
    _, mean, inv_std = reference.group_norm_forward(x, groups, gamma, beta, epsilon)
    return poisoned(rng, x.shape, count=1), x, groups, gamma, mean, inv_std


def lrn_forward(rng):
    return poisoned(rng, (2, 3, 4, 9), count=2), *LRN


def lrn_backward(rng):
    x = poisoned(rng, (2, 3, 4, 9), count=2)
    _, denom = reference.lrn_forward(x, *LRN)
    return poisoned(rng, x.shape, count=2), x, denom, *LRN


def activation_forward_of(activation):
    return lambda rng: (poisoned(rng, (3, 4, 5)), activation)


def activation_backward_of(activation):
    def arguments(rng):
        a = reference.activation_forward(poisoned(rng, (3, 4, 5)), activation)
        return poisoned(rng, a.shape), a, activation
    return arguments


def bias_gradient(rng):
    return (poisoned(rng, (3, 4, 5), count=1),)


def matmul(rng):
    return poisoned(rng, (7, 9), count=1), rng.standard_normal((9, 4)).astype(np.float32)


CASES = {name: {"": make} for name, make in list(globals().items()) if name in dispatch.KERNEL_NAMES}
for _name, _parameter in (("lp_pool2d", 2.0), ("logsumexp_pool2d", 2.0)):
    CASES[f"{_name}_forward"] = {"": parametric_forward(f"{_name}_forward", _parameter)}
    CASES[f"{_name}_backward"] = {"": parametric_backward(f"{_name}_forward", _parameter)}
# A fractional p on positive cells (a negative cell makes its windows NaN, tested by hand below).
CASES["lp_pool2d_forward"]["p=0.5"] = parametric_forward("lp_pool2d_forward", 0.5, positive=True)
CASES["lp_pool2d_backward"]["p=0.5"] = parametric_backward("lp_pool2d_forward", 0.5, positive=True)
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
CASES["activation_forward"] = {a: activation_forward_of(a) for a in ACTIVATIONS}
CASES["activation_backward"] = {a: activation_backward_of(a) for a in ACTIVATIONS}
ALL_CASES = [pytest.param(name, make, id=f"{name}-{variant}" if variant else name)
             for name in dispatch.KERNEL_NAMES for variant, make in CASES[name].items()]


def test_every_kernel_has_a_case():
    assert sorted(CASES) == sorted(dispatch.KERNEL_NAMES)


def outputs(result):
    return [r for r in (result if isinstance(result, tuple) else (result,))]


def assert_same_nonfinite(got, want, where):
    """Equal up to rounding where finite, and NaN, +inf, -inf in exactly the same places."""
    for k, (g, w) in enumerate(zip(outputs(got), outputs(want))):
        if w is None:
            assert g is None, f"{where} output {k}"
            continue
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{where} output {k}"
        if not np.issubdtype(w.dtype, np.floating):    # an argmax: exact
            np.testing.assert_array_equal(g, w, err_msg=f"{where} output {k}")
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{where} output {k}: NaN places")
        np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w), err_msg=f"{where} output {k}: +inf places")
        np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w), err_msg=f"{where} output {k}: -inf places")
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5, equal_nan=True, err_msg=f"{where} output {k}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kernel_set", [cpu, gpu], ids=["cpu", "gpu"])
@pytest.mark.parametrize("name, make_arguments", ALL_CASES)
def test_nonfinite_inputs_give_the_references_results(kernel_set, name, make_arguments):
    arguments = make_arguments(np.random.default_rng(7))
    want = getattr(reference, name)(*arguments)
    assert any(not np.all(np.isfinite(w)) for w in outputs(want) if isinstance(w, np.ndarray)
               and np.issubdtype(w.dtype, np.floating)), "the case should reach a non-finite output"
    got = getattr(kernel_set, name)(*arguments)
    assert_same_nonfinite(got, want, f"{kernel_set.__name__}.{name}")


# --- the reference against NumPy and PyTorch on hand-made cases -----------------------------------

KERNEL_SETS = pytest.mark.parametrize("kernel_set", [reference, cpu, gpu], ids=["reference", "cpu", "gpu"])


def window_of_four(values, dtype=np.float32):
    """One 2 x 2 window, one sample, one channel: (1, 2, 2, 1)."""
    return np.array(values, dtype=dtype).reshape(1, 2, 2, 1)


@KERNEL_SETS
@pytest.mark.parametrize("pooling, numpy_reduction", [("max_pool2d_forward", np.max), ("min_pool2d_forward", np.min)])
@pytest.mark.parametrize("nan_at", [0, 1, 3])
def test_a_nan_in_a_window_wins_the_max_and_the_min(kernel_set, pooling, numpy_reduction, nan_at):
    values = [1.0, 5.0, 3.0, 2.0]
    values[nan_at] = np.nan
    y, winner = getattr(kernel_set, pooling)(window_of_four(values), (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert np.isnan(numpy_reduction(values)) and np.isnan(y[0, 0, 0, 0])
    assert winner[0, 0, 0, 0] == nan_at
    dx = kernel_set.max_pool2d_backward(np.full((1, 1, 1, 1), 2.0, np.float32), winner, (1, 2, 2, 1))
    np.testing.assert_array_equal(dx.reshape(-1), np.eye(4, dtype=np.float32)[nan_at] * 2)


@KERNEL_SETS
def test_the_first_nan_of_a_window_wins(kernel_set):
    y, winner = kernel_set.max_pool2d_forward(window_of_four([1.0, np.nan, np.inf, np.nan]), (2, 2), (2, 2),
                                              ((0, 0), (0, 0)))
    assert np.isnan(y[0, 0, 0, 0]) and winner[0, 0, 0, 0] == 1


@KERNEL_SETS
@pytest.mark.parametrize("nan_at", [0, 5])
def test_a_nan_wins_a_3d_max(kernel_set, nan_at):
    x = np.arange(8, dtype=np.float64).reshape(1, 2, 2, 2, 1)
    x.reshape(-1)[nan_at] = np.nan
    y, winner = kernel_set.max_pool3d_forward(x, (2, 2, 2), (2, 2, 2), ((0, 0),) * 3)
    assert np.isnan(y[0, 0, 0, 0, 0]) and winner[0, 0, 0, 0, 0] == nan_at
    dx = kernel_set.max_pool3d_backward(np.ones((1, 1, 1, 1, 1)), winner, x.shape)
    np.testing.assert_array_equal(dx.reshape(-1), np.eye(8)[nan_at])


def test_max_pooling_matches_pytorch_with_nan():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = poisoned(rng, (2, 6, 5, 3), dtype=np.float64)
    y, argmax = reference.max_pool2d_forward(x, (2, 2), (1, 2), ((0, 0), (0, 0)))
    want, indices = torch.nn.functional.max_pool2d(torch.from_numpy(x.transpose(0, 3, 1, 2)), (2, 2), (1, 2),
                                                   return_indices=True)
    np.testing.assert_array_equal(y, want.numpy().transpose(0, 2, 3, 1))
    # PyTorch picks the same cell except among equal non-NaN values (+-inf twice in a window).
    same = ~np.isinf(y)
    np.testing.assert_array_equal(argmax[same], indices.numpy().transpose(0, 2, 3, 1)[same])


@KERNEL_SETS
def test_lp_pooling_of_a_negative_cell_with_a_fractional_p_is_nan(kernel_set):
    x = window_of_four([-1.0, 4.0, 9.0, 16.0])
    y = kernel_set.lp_pool2d_forward(x, 0.5, (2, 2), (2, 2), ((0, 0), (0, 0)))
    with np.errstate(invalid="ignore"):
        assert np.isnan(np.sum(x ** 0.5) ** 2)
    assert np.isnan(y[0, 0, 0, 0])
    dx = kernel_set.lp_pool2d_backward(np.ones_like(y), x, y, 0.5, (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert np.all(np.isnan(dx))


@KERNEL_SETS
def test_lp_pooling_passes_a_nan_on(kernel_set):
    x = window_of_four([1.0, np.nan, 2.0, 3.0], dtype=np.float64)
    y = kernel_set.lp_pool2d_forward(x, 2.0, (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert np.isnan(y[0, 0, 0, 0])
    dx = kernel_set.lp_pool2d_backward(np.ones_like(y), x, y, 2.0, (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert np.all(np.isnan(dx))


@KERNEL_SETS
def test_lp_pooling_of_zeros_passes_no_gradient(kernel_set):
    """y = 0: the backward's 0 * x^(p-1) would be 0 * inf = NaN for p < 1; the kernels give 0."""
    x = window_of_four([0.0, 0.0, 0.0, 0.0])
    y = kernel_set.lp_pool2d_forward(x, 0.5, (2, 2), (2, 2), ((0, 0), (0, 0)))
    dx = kernel_set.lp_pool2d_backward(np.ones_like(y), x, y, 0.5, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(dx, np.zeros_like(x))


@KERNEL_SETS
@pytest.mark.parametrize("values, expected", [([1.0, np.inf, 2.0, 0.0], np.inf),
                                              ([-np.inf] * 4, -np.inf),
                                              ([np.inf, -np.inf, 0.0, 1.0], np.inf),
                                              ([1.0, np.nan, 2.0, 0.0], np.nan)])
def test_logsumexp_pooling_of_infinite_cells(kernel_set, values, expected):
    torch = pytest.importorskip("torch")
    assert torch.logsumexp(torch.tensor(values) * 2.0, 0).item() / 2.0 == pytest.approx(expected, nan_ok=True)
    y = kernel_set.logsumexp_pool2d_forward(window_of_four(values), 2.0, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(y[0, 0, 0, 0], np.float32(expected))


@KERNEL_SETS
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_lrn_keeps_an_inf_in_the_windows_that_hold_it(kernel_set, bad):
    """An inf or NaN in channel 1 reaches channels 0..1+r only; PyTorch agrees on every channel."""
    torch = pytest.importorskip("torch")
    radius, bias, alpha, beta = 1, 1.0, 0.1, 0.75
    x = np.linspace(-1.0, 1.0, 8).reshape(1, 1, 1, 8)
    x[..., 1] = bad
    y, _ = kernel_set.lrn_forward(x, radius, bias, alpha, beta)
    size = 2 * radius + 1
    want = torch.nn.functional.local_response_norm(torch.from_numpy(x.transpose(0, 3, 1, 2)), size,
                                                   alpha=alpha * size, beta=beta, k=bias)
    want = want.numpy().transpose(0, 2, 3, 1)
    assert np.all(np.isfinite(want[..., 1 + radius + 1:]))
    np.testing.assert_allclose(y, want, rtol=1e-12, equal_nan=True)
    dx = kernel_set.lrn_backward(np.ones_like(x), x, _, radius, bias, alpha, beta)
    assert np.all(np.isfinite(dx[..., 1 + 2 * radius + 1:]))    # the backward reaches 2r channels further


@KERNEL_SETS
def test_relu_backward_is_a_switch(kernel_set):
    """dz = dy where a > 0 and 0 elsewhere, even for an inf or NaN dy (PyTorch's rule)."""
    a = np.array([0.0, 0.0, 2.0, 3.0], np.float32)
    dy = np.array([np.inf, np.nan, np.nan, -np.inf], np.float32)
    np.testing.assert_array_equal(kernel_set.activation_backward(dy, a, "relu"), [0, 0, np.nan, -np.inf])


# --- integers refused ------------------------------------------------------------------------------

INTEGER_CALLS = {
    "activation_forward": lambda z: (z, "sigmoid"),
    "activation_backward": lambda z: (np.ones(z.shape, np.float32), z, "tanh"),
    "bias_gradient": lambda z: (z,),
}


@KERNEL_SETS
@pytest.mark.parametrize("kernel", list(INTEGER_CALLS))
def test_activation_kernels_refuse_integers(kernel_set, kernel):
    z = np.array([[1, 2, -3]], dtype=np.int32)
    with pytest.raises(TypeError, match=rf"{kernel}: expected .* float32 or float64, got int32"):
        getattr(kernel_set, kernel)(*INTEGER_CALLS[kernel](z))
