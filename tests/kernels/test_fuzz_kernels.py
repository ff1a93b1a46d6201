"""A fuzzer: every compiled kernel against its NumPy reference, on the shapes that break loops.

Hypothesis draws the edge cases a hand-written test forgets: 1x1 images, a batch of one,
1, 7 or 33 channels, groups (depthwise included), a stride wider than the kernel, a large
dilation, odd and asymmetric padding, float32 and float64, inputs that are read-only or
strided views, and data holding NaN, +inf and -inf.  Each call goes through both kernel sets
with the argument conventions of ``tinyconv/dispatch.py``; the results must agree, NaN and inf
in the same places (the reference defines them: NaN and inf travel through its sums and
products as IEEE arithmetic says).

Few examples by default, so the file runs in seconds; ``make fuzz`` runs many more
(``TINYCONV_FUZZ_EXAMPLES=2000``).  A failure prints the drawn case and a seed: rerun it
with ``@example(...)`` or ``@reproduce_failure`` to debug.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tinyconv import dispatch
from tinyconv.dispatch import KernelCache
from tinyconv.kernels import cpu, reference

# NaN and inf inputs make NumPy warn ("invalid value encountered") in both kernel sets: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# --- the time budget -------------------------------------------------------------------------
# The suite runs the profile with few examples (derandomised: the same cases every run); a long
# run (make fuzz) sets TINYCONV_FUZZ_EXAMPLES and explores new random cases each time.
FUZZ_EXAMPLES = int(os.environ.get("TINYCONV_FUZZ_EXAMPLES", "0")) or None
settings.register_profile(
    "kernel-fuzz",
    max_examples=FUZZ_EXAMPLES or 50,
    derandomize=FUZZ_EXAMPLES is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("kernel-fuzz")

DTYPES = st.sampled_from([np.float32, np.float64])
CHANNELS = st.sampled_from([1, 7, 33])
SEEDS = st.integers(0, 2 ** 32 - 1)
LAYOUTS = st.sampled_from(["contiguous", "read_only", "strided"])
# Small values are likelier: the edge cases live there.  A stride or dilation of 5 is wider
# than any kernel drawn here.
STRIDES = st.sampled_from([1, 1, 2, 3, 5])
DILATIONS = st.sampled_from([1, 1, 2, 5])
PADS = st.sampled_from([0, 0, 1, 2, 3])

# float32 sums of up to a few hundred terms: compared relative to the largest result.
TOLERANCE = {np.float32: 1e-4, np.float64: 1e-9}


# --- inputs ------------------------------------------------------------------------------------

class Inputs:
    """Random arrays for one drawn case: values from ``seed``, every array in ``layout``, and
    (``poison``) NaN, +inf and -inf planted in the data arrays the case asks for."""

    def __init__(self, seed, dtype, layout="contiguous", poison=False):
        self.rng = np.random.default_rng(seed)
        self.dtype, self.layout, self.poison = dtype, layout, poison

    def weights(self, shape):
        """Parameters (kernels, biases, gamma): always finite."""
        return self.laid_out(self.rng.standard_normal(shape))

    def data(self, shape, positive=False, distinct=False, poison=True):
        """Images and gradients; they carry the NaN and inf of a poisoned case (unless ``poison``
        is False: where the reference does not define the result)."""
        if distinct:   # tie-free, so a max or min window has one winner
            values = self.rng.permutation(int(np.prod(shape))).astype(np.float64).reshape(shape) / 7.0 - 3.0
        else:
            values = self.rng.standard_normal(shape)
        if positive:
            values = np.abs(values) + 0.5
        if self.poison and poison:
            flat = values.reshape(-1)
            specials = (np.nan, np.inf) if positive else (np.nan, np.inf, -np.inf)
            for place, special in zip(self.rng.choice(flat.size, size=min(flat.size, 3), replace=False), specials):
                flat[place] = special
        return self.laid_out(values)

    def laid_out(self, values):
        return lay_out(values.astype(self.dtype), self.layout)


def lay_out(array, layout):
    """The same values as a plain array, a read-only one, or a read-only view with a step in every axis."""
    if layout == "contiguous":
        return np.ascontiguousarray(array)
    if layout == "read_only":
        array = array.copy()
    else:
        holder = np.zeros(tuple(2 * n for n in array.shape), dtype=array.dtype)
        holder[tuple(slice(None, None, 2) for _ in array.shape)] = array
        array = holder[tuple(slice(None, None, 2) for _ in array.shape)]
    array.flags.writeable = False
    return array


def frozen(outputs, layout):
    """A reference result passed on to a backward kernel, in the case's layout."""
    return tuple(lay_out(o, layout) if isinstance(o, np.ndarray) else o for o in outputs)


# --- comparing ---------------------------------------------------------------------------------

def assert_agree(name, got, want, dtype, tolerance=None):
    """Same structure, shapes and dtypes; NaN and +-inf in the same places; finite values close
    (relative to the largest finite value of the result)."""
    if not isinstance(want, tuple):
        got, want = (got,), (want,)
    assert isinstance(got, tuple) and len(got) == len(want), f"{name}: {len(want)} results expected"
    tol = tolerance or TOLERANCE[dtype]
    for index, (g, w) in enumerate(zip(got, want)):
        where = f"{name} result {index}"
        if w is None:
            assert g is None, f"{where}: expected None"
            continue
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{where}: shape {g.shape}, reference {w.shape}"
        assert g.dtype == w.dtype, f"{where}: dtype {g.dtype}, reference {w.dtype}"
        finite = np.isfinite(w)
        scale = float(np.max(np.abs(w[finite]), initial=1.0))
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale, equal_nan=True, err_msg=where)


def both(name, *args, tolerance=None):
    """Run kernel ``name`` in both sets, check they agree, return the reference's result."""
    want = getattr(reference, name)(*args)
    got = getattr(cpu, name)(*args)
    dtype = next(a.dtype.type for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f")
    assert_agree(name, got, want, dtype, tolerance)
    return want


FUZZED = set()


def fuzzes(*names):
    """Mark the kernels a test covers (a test below checks that all of KERNEL_NAMES are)."""
    FUZZED.update(names)
    return lambda test: test


# --- convolutions ------------------------------------------------------------------------------

def unpadded(pads):
    """True without padding.  With padding, dkernel sums zero * dy over the padded cells, and
    0 * inf there is NaN or 0 depending on the BLAS routine NumPy picks (a zero is skipped by
    some), so the reference does not define the result: dy stays finite then."""
    return not any(any(side) for side in pads)


def fitting_size(draw, kernel, dilation, before, after):
    """An input size the dilated kernel fits in (with padding), 1 whenever that fits."""
    smallest = max(1, dilation * (kernel - 1) + 1 - before - after)
    return draw(st.sampled_from([smallest, smallest, smallest + 1, smallest + 4]))


@st.composite
def grouped_channels(draw):
    """(channels, filters, groups): groups divide both, depthwise (groups == channels) included."""
    channels = draw(CHANNELS)
    groups = draw(st.sampled_from([g for g in (1, 3, 7, 11, 33) if channels % g == 0]))
    per_group = draw(st.sampled_from([1, 2, 3, 8, 9]))   # >= 8 filters reach the blocked routes
    return channels, groups * per_group, groups


@st.composite
def conv_cases(draw, rank):
    """(x shape, kernel shape, strides, pads, dilation, groups) for an N-D convolution."""
    channels, filters, groups = draw(grouped_channels())
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(STRIDES) for _ in range(rank))
    dilation = tuple(draw(DILATIONS) for _ in range(rank))
    pads = tuple((draw(PADS), draw(PADS)) for _ in range(rank))
    spatial = tuple(fitting_size(draw, k, d, *p) for k, d, p in zip(kernel, dilation, pads))
    x_shape = (draw(st.integers(1, 2)), *spatial, channels)
    return x_shape, (*kernel, channels // groups, filters), strides, pads, dilation, groups


@FUZZ
@given(conv_cases(rank=2), st.booleans(), st.booleans(), st.sampled_from([(True, True), (True, False), (False, True)]),
       DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("conv2d_forward", "conv2d_backward")
# Found by this fuzzer: the direct route's dL/dW (kept planes) summed x * 0 over the columns
# past the output width, so an inf there made NaN where the formula gives inf.
@example(case=((1, 1, 2, 1), (1, 2, 1, 2), (1, 1), ((0, 0), (0, 0)), (1, 1), 1), with_bias=False, training=True,
         wanted=(True, True), dtype=np.float32, layout="contiguous", poison=True, seed=0)
def test_conv2d(case, with_bias, training, wanted, dtype, layout, poison, seed):
    x_shape, kernel_shape, *geometry = case
    inputs = Inputs(seed, dtype, layout, poison)
    x, kernel = inputs.data(x_shape), inputs.weights(kernel_shape)
    bias = inputs.weights(kernel_shape[-1]) if with_bias else None
    # training: forward keeps what backward reuses (KernelCache), as a layer's training step does
    cache = KernelCache() if training else None
    y_ref = reference.conv2d_forward(x, kernel, bias, *geometry)
    assert_agree("conv2d_forward", cpu.conv2d_forward(x, kernel, bias, *geometry, cache=cache), y_ref, dtype)
    dy = inputs.data(y_ref.shape, poison=unpadded(geometry[1]))
    want = reference.conv2d_backward(dy, x, kernel, *geometry, *wanted)
    got = cpu.conv2d_backward(dy, x, kernel, *geometry, *wanted, cache=cache)
    assert_agree("conv2d_backward", got, want, dtype)


@FUZZ
@given(conv_cases(rank=3), st.booleans(), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("conv3d_forward", "conv3d_backward")
def test_conv3d(case, with_bias, dtype, layout, poison, seed):
    x_shape, kernel_shape, *geometry = case
    inputs = Inputs(seed, dtype, layout, poison)
    x, kernel = inputs.data(x_shape), inputs.weights(kernel_shape)
    bias = inputs.weights(kernel_shape[-1]) if with_bias else None
    y = both("conv3d_forward", x, kernel, bias, *geometry)
    both("conv3d_backward", inputs.data(y.shape, poison=unpadded(geometry[1])), x, kernel, *geometry)


@st.composite
def window_cases(draw):
    """(x shape, kernel (kh, kw), strides, filters) of a window without dilation."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(STRIDES), draw(STRIDES))
    spatial = tuple(fitting_size(draw, k, 1, 0, 0) for k in kernel)
    return (draw(st.integers(1, 2)), *spatial, draw(CHANNELS)), kernel, strides, draw(st.integers(1, 3))


@FUZZ
@given(window_cases(), st.booleans(), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("locally_connected2d_forward", "locally_connected2d_backward")
def test_locally_connected2d(case, with_bias, dtype, layout, poison, seed):
    x_shape, kernel_hw, strides, filters = case
    out_hw = tuple((n - k) // s + 1 for n, k, s in zip(x_shape[1:3], kernel_hw, strides))
    inputs = Inputs(seed, dtype, layout, poison)
    x = inputs.data(x_shape)
    kernel = inputs.weights((out_hw[0] * out_hw[1], kernel_hw[0] * kernel_hw[1] * x_shape[3], filters))
    bias = inputs.weights((*out_hw, filters)) if with_bias else None
    y = both("locally_connected2d_forward", x, kernel, bias, kernel_hw, strides, out_hw)
    both("locally_connected2d_backward", inputs.data(y.shape), x, kernel, kernel_hw, strides, out_hw)


@FUZZ
@given(window_cases(), st.tuples(st.integers(1, 3), st.integers(1, 3)),
       st.tuples(st.tuples(PADS, PADS), st.tuples(PADS, PADS)), st.booleans(), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("tiled_conv2d_forward", "tiled_conv2d_backward")
def test_tiled_conv2d(case, tile, pads, with_bias, dtype, layout, poison, seed):
    x_shape, kernel_hw, strides, filters = case
    inputs = Inputs(seed, dtype, layout, poison)
    x = inputs.data(x_shape)
    kernel = inputs.weights((*tile, *kernel_hw, x_shape[3], filters))
    bias = inputs.weights(filters) if with_bias else None
    y = both("tiled_conv2d_forward", x, kernel, bias, strides, pads)
    both("tiled_conv2d_backward", inputs.data(y.shape, poison=unpadded(pads)), x, kernel, strides, pads)


# --- pooling -----------------------------------------------------------------------------------

@st.composite
def pool_cases(draw, rank=2):
    """(x shape, pool, strides, pads): pads below the pool size (the kernels' rule)."""
    pool = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(STRIDES) for _ in range(rank))
    pads = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in pool)
    spatial = tuple(fitting_size(draw, k, 1, *p) for k, p in zip(pool, pads))
    return (draw(st.integers(1, 2)), *spatial, draw(CHANNELS)), pool, strides, pads


@FUZZ
@given(pool_cases(), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("max_pool2d_forward", "max_pool2d_backward", "min_pool2d_forward", "avg_pool2d_forward",
        "avg_pool2d_backward")
def test_max_min_avg_pool2d(case, dtype, layout, poison, seed):
    shape, *geometry = case
    inputs = Inputs(seed, dtype, layout, poison)
    x = inputs.data(shape, distinct=True)
    for name in ("max_pool2d_forward", "min_pool2d_forward"):
        y, winners = frozen(both(name, x, *geometry), layout)
        both("max_pool2d_backward", inputs.data(y.shape), winners, shape)   # min pooling's backward too
    y = both("avg_pool2d_forward", x, *geometry)
    both("avg_pool2d_backward", inputs.data(y.shape), shape, *geometry)


@FUZZ
@given(pool_cases(), st.sampled_from([1.0, 2.0, 3.0, 2.5]), st.sampled_from([0.5, 1.0, 4.0]),
       st.sampled_from([0.5, 1.0, 2.0]), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("lp_pool2d_forward", "lp_pool2d_backward", "logsumexp_pool2d_forward", "logsumexp_pool2d_backward",
        "weighted_pool2d_forward", "weighted_pool2d_backward")
def test_lp_logsumexp_weighted_pool2d(case, p, beta, sigma, dtype, layout, poison, seed):
    shape, *geometry = case
    inputs = Inputs(seed, dtype, layout, poison)
    # a fractional power of a negative number is NaN in both sets: keep Lp's inputs positive then
    x = inputs.data(shape, positive=p != int(p))
    y, = frozen((both("lp_pool2d_forward", x, p, *geometry),), layout)
    loose = 1e-3 if dtype == np.float32 else None     # x^(p-1) * s^(1/p - 1): rounding grows
    both("lp_pool2d_backward", inputs.data(y.shape), x, y, p, *geometry, tolerance=loose)
    x = inputs.data(shape)
    y, = frozen((both("logsumexp_pool2d_forward", x, beta, *geometry),), layout)
    both("logsumexp_pool2d_backward", inputs.data(y.shape), x, y, beta, *geometry)
    y = both("weighted_pool2d_forward", x, sigma, *geometry)
    both("weighted_pool2d_backward", inputs.data(y.shape), shape, sigma, *geometry)


@FUZZ
@given(pool_cases(rank=3), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("max_pool3d_forward", "max_pool3d_backward", "avg_pool3d_forward", "avg_pool3d_backward")
def test_pool3d(case, dtype, layout, poison, seed):
    shape, *geometry = case
    inputs = Inputs(seed, dtype, layout, poison)
    x = inputs.data(shape, distinct=True)
    y, argmax = frozen(both("max_pool3d_forward", x, *geometry), layout)
    both("max_pool3d_backward", inputs.data(y.shape), argmax, shape)
    y = both("avg_pool3d_forward", x, *geometry)
    both("avg_pool3d_backward", inputs.data(y.shape), shape, *geometry)


# --- up-sampling -------------------------------------------------------------------------------

@FUZZ
@given(st.tuples(st.integers(1, 2), st.sampled_from([1, 1, 2, 5]), st.sampled_from([1, 1, 3, 4]), CHANNELS),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("upsample2d_nearest_forward", "upsample2d_nearest_backward", "upsample2d_bilinear_forward",
        "upsample2d_bilinear_backward")
def test_upsampling(shape, size, dtype, layout, poison, seed):
    inputs = Inputs(seed, dtype, layout, poison)
    x = inputs.data(shape)
    for mode in ("nearest", "bilinear"):
        y = both(f"upsample2d_{mode}_forward", x, size)
        both(f"upsample2d_{mode}_backward", inputs.data(y.shape), shape)


# --- normalisation -----------------------------------------------------------------------------

@st.composite
def channels_last_shapes(draw, min_rank=2):
    """(N, ..., C) of rank min_rank to 4 (just (C,) at rank 1): a batch of one, 1x1 positions and
    1, 7 or 33 channels among them."""
    rank = draw(st.integers(min_rank, 4))
    if rank == 1:
        return (draw(CHANNELS),)
    middle = draw(st.lists(st.sampled_from([1, 1, 2, 5]), min_size=rank - 2, max_size=rank - 2))
    return (draw(st.integers(1, 3)), *middle, draw(CHANNELS))


@FUZZ
@given(channels_last_shapes(), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("batch_norm_forward_train", "batch_norm_forward_infer", "batch_norm_backward")
def test_batch_norm(shape, dtype, layout, poison, seed):
    inputs = Inputs(seed, dtype, layout, poison)
    x, gamma, beta = inputs.data(shape), inputs.weights(shape[-1]), inputs.weights(shape[-1])
    loose = 1e-3 if dtype == np.float32 else 1e-8   # a batch of one: var = 0, 1/sqrt(eps) amplifies rounding
    _, mean, _, inv_std = frozen(both("batch_norm_forward_train", x, gamma, beta, 1e-3, tolerance=loose), layout)
    moving_var = lay_out(np.abs(inputs.rng.standard_normal(shape[-1])).astype(dtype) + 0.5, layout)
    both("batch_norm_forward_infer", x, gamma, beta, inputs.weights(shape[-1]), moving_var, 1e-3)
    both("batch_norm_backward", inputs.data(shape), x, gamma, mean, inv_std, tolerance=loose)


@FUZZ
@given(channels_last_shapes(), st.integers(0, 3), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("layer_norm_forward", "layer_norm_backward", "group_norm_forward", "group_norm_backward")
def test_layer_and_group_norm(shape, group_choice, dtype, layout, poison, seed):
    inputs = Inputs(seed, dtype, layout, poison)
    x, gamma, beta = inputs.data(shape), inputs.weights(shape[-1]), inputs.weights(shape[-1])
    loose = 1e-3 if dtype == np.float32 else 1e-8
    _, mean, inv_std = frozen(both("layer_norm_forward", x, gamma, beta, 1e-3, tolerance=loose), layout)
    both("layer_norm_backward", inputs.data(shape), x, gamma, mean, inv_std, tolerance=loose)
    divisors = [g for g in range(1, shape[-1] + 1) if shape[-1] % g == 0]
    groups = divisors[group_choice % len(divisors)]
    _, mean, inv_std = frozen(both("group_norm_forward", x, groups, gamma, beta, 1e-3, tolerance=loose), layout)
    both("group_norm_backward", inputs.data(shape), x, groups, gamma, mean, inv_std, tolerance=loose)


@FUZZ
@given(channels_last_shapes(min_rank=1), st.sampled_from([0, 1, 2, 5, 40]),
       st.sampled_from([(1.0, 1e-2, 0.75), (2.0, 0.5, 0.5), (1e-3, 1.0, 1.5)]), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("lrn_forward", "lrn_backward")
def test_lrn(shape, radius, constants, dtype, layout, poison, seed):
    inputs = Inputs(seed, dtype, layout, poison)
    x = inputs.data(shape)
    _, denom = frozen(both("lrn_forward", x, radius, *constants), layout)
    both("lrn_backward", inputs.data(shape), x, denom, radius, *constants)


# --- activations and the bias gradient --------------------------------------------------------

@FUZZ
@given(channels_last_shapes(min_rank=1), st.sampled_from(["linear", "relu", "tanh", "sigmoid"]),
       st.sampled_from(["new", "out", "in_place"]), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("activation_forward", "activation_backward", "bias_gradient")
def test_activations_and_bias_gradient(shape, activation, target, dtype, layout, poison, seed):
    inputs = Inputs(seed, dtype, layout, poison)
    z = inputs.data(shape)
    if target == "new":
        a = both("activation_forward", z, activation)
    else:   # into a buffer of the caller's, or over z itself (a layer's pre-activation buffer)
        sources = [z, z] if target == "out" else [np.array(z), np.array(z)]
        buffers = [np.empty(shape, dtype), np.empty(shape, dtype)] if target == "out" else sources
        want = reference.activation_forward(sources[0], activation, out=buffers[0])
        got = cpu.activation_forward(sources[1], activation, out=buffers[1])
        assert got is buffers[1]
        assert_agree("activation_forward", got, want, dtype)
        a = want
    both("activation_backward", inputs.data(shape), lay_out(a, layout), activation)
    both("bias_gradient", inputs.data(shape))


@FUZZ
@given(st.integers(0, 70), st.integers(0, 70), st.integers(0, 70), st.sampled_from([(), (3,)]),
       st.booleans(), st.booleans(), DTYPES, LAYOUTS, st.booleans(), SEEDS)
@fuzzes("matmul")
def test_matmul(m, k, n, lead, transposed_a, transposed_b, dtype, layout, poison, seed):
    """Dense's products, any shapes (empty ones too), either operand a transposed view."""
    inputs = Inputs(seed, dtype, layout, poison)
    a = inputs.data((k, m)).T if transposed_a and not lead else inputs.data(lead + (m, k))
    b = inputs.weights((n, k)).T if transposed_b else inputs.weights((k, n))
    both("matmul", a, b)


def test_the_fuzzer_covers_every_kernel():
    assert sorted(FUZZED) == sorted(dispatch.KERNEL_NAMES)


@pytest.mark.parametrize("layout", ["read_only", "strided"])
def test_lay_out_gives_read_only_arrays(layout):
    array = lay_out(np.arange(6.0).reshape(2, 3), layout)
    assert not array.flags.writeable
    assert array.flags.c_contiguous == (layout == "read_only")
    np.testing.assert_array_equal(array, np.arange(6.0).reshape(2, 3))
