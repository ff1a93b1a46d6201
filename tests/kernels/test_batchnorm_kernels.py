"""Batch-norm kernels: compiled == reference, numerical gradients, PyTorch parity, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import normalization as cpu_bn
from tinyconv.kernels.reference import normalization as ref_bn

from ..gradcheck import numerical_gradient_of

IMPLEMENTATIONS = [pytest.param(ref_bn, id="reference"), pytest.param(cpu_bn, id="cpu")]
EPSILON = 1e-3


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def random_batch(shape, rng, dtype=np.float64):
    """Input with a per-channel offset and spread (as activations have), plus gamma and beta."""
    channels = shape[-1]
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, channels) + rng.uniform(-2, 2, channels)
    gamma = rng.uniform(0.5, 2, channels)
    beta = rng.standard_normal(channels)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


def assert_close(actual, expected, dtype, scale=1.0):
    assert actual.dtype == dtype
    if dtype == np.float32:
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12 * scale)


# --------------------------------------------------------------------------------------------
# Compiled == reference
# --------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).flatmap(
        lambda lead: st.integers(1, 16).map(lambda c: (*lead, c))),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_cpu_matches_reference(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta = random_batch(shape, rng, dtype)
    y_ref, mean_ref, var_ref, inv_ref = ref_bn.batch_norm_forward_train(x, gamma, beta, EPSILON)
    y_cpu, mean_cpu, var_cpu, inv_cpu = cpu_bn.batch_norm_forward_train(x, gamma, beta, EPSILON)
    assert y_cpu.shape == x.shape and mean_cpu.shape == var_cpu.shape == inv_cpu.shape == (shape[-1],)
    for actual, expected in ((y_cpu, y_ref), (mean_cpu, mean_ref), (var_cpu, var_ref), (inv_cpu, inv_ref)):
        assert_close(actual, expected, dtype, scale=np.abs(expected).max() + 1)

    moving_var = rng.uniform(0.5, 2, shape[-1]).astype(dtype)
    assert_close(cpu_bn.batch_norm_forward_infer(x, gamma, beta, mean_ref, moving_var, EPSILON),
                 ref_bn.batch_norm_forward_infer(x, gamma, beta, mean_ref, moving_var, EPSILON), dtype, scale=10)

    dy = rng.standard_normal(shape).astype(dtype)
    m = x.size // shape[-1]
    for actual, expected in zip(cpu_bn.batch_norm_backward(dy, x, gamma, mean_ref, inv_ref),
                                ref_bn.batch_norm_backward(dy, x, gamma, mean_ref, inv_ref)):
        # sums over M rows carry ~M times the rounding of one term
        assert_close(actual, expected, dtype, scale=m * (np.abs(expected).max() + 1))


def test_statistics_are_the_biased_ones_keras_uses():
    rng = np.random.default_rng(1)
    x, gamma, beta = random_batch((4, 5, 3, 6), rng)
    for impl in (ref_bn, cpu_bn):
        y, mean, var, inv_std = impl.batch_norm_forward_train(x, gamma, beta, EPSILON)
        np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-12)
        np.testing.assert_allclose(var, x.var(axis=(0, 1, 2), ddof=0), rtol=1e-12)
        np.testing.assert_allclose(inv_std, 1 / np.sqrt(var + EPSILON), rtol=1e-12)
        xhat = (y - beta) / gamma  # undo the scale and shift: zero mean, (almost) unit variance
        np.testing.assert_allclose(xhat.mean(axis=(0, 1, 2)), 0, atol=1e-12)
        np.testing.assert_allclose(xhat.var(axis=(0, 1, 2)), var / (var + EPSILON), rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_inference_uses_the_moving_statistics(impl):
    rng = np.random.default_rng(2)
    x, gamma, beta = random_batch((3, 4, 4, 5), rng)
    moving_mean, moving_var = rng.standard_normal(5), rng.uniform(0.5, 2, 5)
    y = impl.batch_norm_forward_infer(x, gamma, beta, moving_mean, moving_var, EPSILON)
    np.testing.assert_allclose(y, gamma * (x - moving_mean) / np.sqrt(moving_var + EPSILON) + beta, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_results_do_not_depend_on_the_thread_count(dtype):
    rng = np.random.default_rng(3)
    x, gamma, beta = random_batch((64, 8, 8, 16), rng, dtype)  # big enough to be threaded
    dy = rng.standard_normal(x.shape).astype(dtype)
    before = cpu.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            cpu.set_num_threads(threads)
            forward = cpu_bn.batch_norm_forward_train(x, gamma, beta, EPSILON)
            backward = cpu_bn.batch_norm_backward(dy, x, gamma, forward[1], forward[3])
            results.append(forward + backward)
    finally:
        cpu.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)  # bit-identical, not just close


# --------------------------------------------------------------------------------------------
# Numerical gradients (float64)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("shape", [(4, 3, 2, 3), (7, 2)])
def test_gradients_are_numerically_right(impl, shape):
    rng = np.random.default_rng(4)
    x, gamma, beta = random_batch(shape, rng)
    weights = rng.standard_normal(shape)  # loss = sum(y * weights): dy = weights

    def loss(x_, gamma_, beta_):
        return np.sum(impl.batch_norm_forward_train(x_, gamma_, beta_, EPSILON)[0] * weights)

    _, mean, _, inv_std = impl.batch_norm_forward_train(x, gamma, beta, EPSILON)
    dx, dgamma, dbeta = impl.batch_norm_backward(weights, x, gamma, mean, inv_std)
    np.testing.assert_allclose(dx, numerical_gradient_of(lambda v: loss(v, gamma, beta), x.copy()),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dgamma, numerical_gradient_of(lambda v: loss(x, v, beta), gamma.copy()),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dbeta, numerical_gradient_of(lambda v: loss(x, gamma, v), beta.copy()),
                               rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------------------------
# PyTorch parity: F.batch_norm(training=True) on NCHW.  Only outputs and gradients are
# compared: torch's running variance is the unbiased one, Keras's moving variance is biased.
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("shape", [(4, 5, 6, 3), (10, 7)])
def test_training_forward_and_backward_match_torch(impl, shape):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(5)
    x, gamma, beta = random_batch(shape, rng)
    dy = rng.standard_normal(shape)
    to_channels_first = (0, 3, 1, 2) if len(shape) == 4 else (0, 1)
    to_channels_last = (0, 2, 3, 1) if len(shape) == 4 else (0, 1)
    xt = torch.tensor(x.transpose(to_channels_first).copy(), requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=EPSILON)
    (yt * torch.tensor(dy.transpose(to_channels_first).copy())).sum().backward()

    y, mean, _, inv_std = impl.batch_norm_forward_train(x, gamma, beta, EPSILON)
    dx, dgamma, dbeta = impl.batch_norm_backward(dy, x, gamma, mean, inv_std)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(to_channels_last), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(to_channels_last), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=1e-10)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_arguments_raise_value_error_naming_expected_and_got(impl):
    x = np.zeros((2, 3, 4))
    ones, zeros = np.ones(4), np.zeros(4)
    with pytest.raises(ValueError, match=r"expected gamma of shape \(4,\).*got \(3,\)"):
        impl.batch_norm_forward_train(x, np.ones(3), zeros, EPSILON)
    with pytest.raises(ValueError, match=r"expected beta of shape \(4,\)"):
        impl.batch_norm_forward_train(x, ones, np.zeros((4, 1)), EPSILON)
    with pytest.raises(ValueError, match=r"expected epsilon > 0.*got 0"):
        impl.batch_norm_forward_train(x, ones, zeros, 0)
    with pytest.raises(ValueError, match=r"rank >= 2.*got shape \(4,\)"):
        impl.batch_norm_forward_train(np.zeros(4), ones, zeros, EPSILON)
    with pytest.raises(ValueError, match=r"expected moving_var of shape \(4,\)"):
        impl.batch_norm_forward_infer(x, ones, zeros, zeros, np.ones(5), EPSILON)
    with pytest.raises(ValueError, match=r"expected dy of x's shape \(2, 3, 4\), got \(2, 3, 5\)"):
        impl.batch_norm_backward(np.zeros((2, 3, 5)), x, ones, zeros, ones)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_dtypes_raise_type_error(impl):
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(TypeError, match="float32 or float64.*got int64"):
        impl.batch_norm_forward_train(np.zeros((2, 4), np.int64), np.ones(4), np.zeros(4), EPSILON)
    with pytest.raises(TypeError, match="expected gamma with x's dtype float32, got float64"):
        impl.batch_norm_forward_train(x, np.ones(4), np.zeros(4, np.float32), EPSILON)
