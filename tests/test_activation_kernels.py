"""The activation and bias-gradient kernels: compiled twin == reference, on random shapes."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyconv import layers
from tinyconv.kernels import reference
from tinyconv.kernels.cpu import activation as compiled

from .gradcheck import check_layer_gradients

NAMES = ("relu", "tanh", "sigmoid", "linear")
shapes = st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple)


def tolerance(dtype):
    return {"rtol": 2e-6, "atol": 2e-7} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-15}


@settings(max_examples=40, deadline=None)
@given(shape=shapes, name=st.sampled_from(NAMES), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_forward_and_backward_match_the_reference(shape, name, dtype, seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    a = compiled.activation_forward(z, name)
    np.testing.assert_allclose(a, reference.activation_forward(z, name), **tolerance(dtype))
    assert a.dtype == dtype
    np.testing.assert_allclose(compiled.activation_backward(dy, a, name),
                               reference.activation_backward(dy, a, name), **tolerance(dtype))


@pytest.mark.parametrize("name", NAMES)
def test_forward_in_place_overwrites_z(name):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((64, 300)).astype(np.float32)  # big enough for several threads
    expected = reference.activation_forward(z.copy(), name)
    out = compiled.activation_forward(z, name, out=z)
    assert out is z
    np.testing.assert_allclose(z, expected, rtol=2e-6, atol=2e-7)


def test_large_arrays_use_the_parallel_path_and_still_agree():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((8, 56, 56, 16)).astype(np.float32) * 30  # sigmoid saturates both ways
    dy = rng.standard_normal(z.shape).astype(np.float32)
    for name in NAMES:
        a = compiled.activation_forward(z, name)
        np.testing.assert_allclose(a, reference.activation_forward(z, name), rtol=2e-6, atol=2e-7)
        np.testing.assert_allclose(compiled.activation_backward(dy, a, name),
                                   reference.activation_backward(dy, a, name), rtol=2e-6, atol=2e-7)


def test_sigmoid_saturates_without_overflow_and_nan_passes_through():
    z = np.array([-1e4, -100, -88, -87.5, 0, 87.5, 100, 1e4, np.inf, -np.inf, np.nan], dtype=np.float32)
    with np.errstate(all="raise"):
        a = compiled.activation_forward(z, "sigmoid")
    np.testing.assert_allclose(a[:-1], [0, 0, 0, 0, 0.5, 1, 1, 1, 1, 0], atol=1e-30)
    assert np.isnan(a[-1])
    assert np.isnan(compiled.activation_forward(np.array([np.nan], np.float32), "relu")[0])


@settings(max_examples=30, deadline=None)
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_bias_gradient_matches_the_reference(shape, dtype, seed):
    dz = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    got = compiled.bias_gradient(dz)
    assert got.shape == (shape[-1],) and got.dtype == dtype
    # Sums in a different order differ by rounding: up to about sqrt(n) eps sum|dz| per channel (a channel
    # whose terms cancel can end small, so a tolerance relative to the result alone is not enough).
    terms = dz.reshape(-1, shape[-1]).astype(np.float64)
    bound = 4 * np.sqrt(len(terms)) * np.finfo(dtype).eps * np.abs(terms).sum(axis=0)
    expected = reference.bias_gradient(dz)
    assert np.all(np.abs(got.astype(np.float64) - expected) <= bound), (got, expected, bound)


@pytest.mark.parametrize("channels", [1, 6, 15, 16, 40])    # flat runs up to 15 channels, rows from 16
@pytest.mark.parametrize("rows", [1, 7, 1001, 40_003])         # whole periods of rows, a remainder, or neither
def test_bias_gradient_of_few_and_many_channels_matches_the_reference(channels, rows):
    dz = np.random.default_rng(channels * rows).standard_normal((rows, channels)).astype(np.float32)
    terms = dz.astype(np.float64)
    bound = 4 * np.sqrt(rows) * np.finfo(np.float32).eps * np.abs(terms).sum(axis=0)
    assert np.all(np.abs(compiled.bias_gradient(dz).astype(np.float64) - terms.sum(axis=0)) <= bound)


def test_bias_gradient_does_not_depend_on_the_thread_count():
    import tinyconv

    dz = np.random.default_rng(2).standard_normal((50_000, 6)).astype(np.float32)
    before = tinyconv.get_num_threads()
    try:
        tinyconv.set_num_threads(1)
        one = compiled.bias_gradient(dz)
        tinyconv.set_num_threads(2)
        two = compiled.bias_gradient(dz)
    finally:
        tinyconv.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_mixed_dtypes_and_strided_inputs_fall_back_to_numbers_the_reference_gives():
    rng = np.random.default_rng(3)
    a = compiled.activation_forward(rng.standard_normal((6, 5)).astype(np.float32), "tanh")
    dy = rng.standard_normal((6, 5))  # float64 upstream, float32 output
    got = compiled.activation_backward(dy, a, "tanh")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, reference.activation_backward(dy, a, "tanh"))
    z = rng.standard_normal((6, 10)).astype(np.float32)[:, ::2]  # not contiguous
    np.testing.assert_array_equal(compiled.activation_forward(z, "relu"), np.maximum(z, 0))


@pytest.mark.parametrize("kernels", [compiled, reference])
def test_bad_arguments_get_clear_errors(kernels):
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="expected one of .*got 'softmax'"):
        kernels.activation_forward(z, "softmax")
    with pytest.raises(ValueError, match=r"gradient shape \(3, 2\) does not match the output's \(2, 3\)"):
        kernels.activation_backward(np.zeros((3, 2), np.float32), z, "relu")


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dense_overwrites_its_own_z_but_not_its_input(fresh_names, activation):
    """In-place activation is for the layer's own fresh z; an Activation layer's input is someone else's."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    dense = layers.Dense(5, activation=activation)
    dense.build(x.shape)
    y = dense.forward(x, training=True)
    expected = reference.activation_forward(x @ dense.kernel + dense.bias, activation)
    np.testing.assert_allclose(y, expected, rtol=2e-6, atol=2e-7)
    assert dense._preactivation is None  # z was overwritten by y: nothing kept twice

    standalone = layers.Activation(activation)
    kept = x.copy()
    standalone.forward(x, training=True)
    np.testing.assert_array_equal(x, kept)


@pytest.mark.parametrize("in_place", [False, True])
def test_float32_tanh_split_across_threads_is_numpys_tanh_exactly(in_place):
    import tinyconv

    z = np.random.default_rng(5).standard_normal(compiled.TANH_SPLIT_MIN_ELEMENTS * 3 + 7).astype(np.float32)
    expected = np.tanh(z)
    before = tinyconv.get_num_threads()
    try:
        for threads in (1, 2, 3):
            tinyconv.set_num_threads(threads)
            source = z.copy()
            got = compiled.activation_forward(source, "tanh", out=source if in_place else None)
            assert (got is source) == in_place
            np.testing.assert_array_equal(got, expected)
    finally:
        tinyconv.set_num_threads(before)


@pytest.mark.parametrize("name", NAMES)
def test_activation_layer_gradients_in_float64(kernel_set, fresh_names, name):
    """Central differences through the activation kernels, on both kernel sets."""
    x = np.random.default_rng(6).standard_normal((3, 4, 5)) + 0.05  # keep relu's kink away from samples
    check_layer_gradients(layers.Activation(name, dtype="float64"), x)
    check_layer_gradients(layers.Dense(3, activation=name, dtype="float64"), x)
