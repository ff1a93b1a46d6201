"""Min, Lp, log-sum-exp and weighted pooling kernels: compiled == reference, gradients, torch, identities."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv import geometry
from tinyconv.kernels.cpu import pooling_variants as cpu
from tinyconv.kernels.reference import pooling as ref_pool
from tinyconv.kernels.reference import pooling_variants as ref

IMPLEMENTATIONS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]
NO_PADS = ((0, 0), (0, 0))


@st.composite
def cases(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 18))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if draw(st.booleans()):
        pads = geometry.resolve_padding("same", (h, w), pool, strides)
    else:
        pool, pads = (min(pool[0], h), min(pool[1], w)), NO_PADS
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, h, w, c), pool, strides, pads, dtype, draw(st.integers(0, 2**31))


def tolerance(dtype):
    return dict(rtol=2e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(cases(), st.sampled_from([1.0, 2.0, 3.0, 1.5]))
def test_cpu_matches_reference(case, parameter):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = (rng.permutation(int(np.prod(shape))).reshape(shape) / np.prod(shape) + 0.1).astype(dtype)  # > 0, tie-free
    tol = tolerance(dtype)
    y_ref, arg_ref = ref.min_pool2d_forward(x, pool, strides, pads)
    y_cpu, arg_cpu = cpu.min_pool2d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(y_cpu, y_ref)
    np.testing.assert_array_equal(arg_cpu, arg_ref)
    for name in ("lp", "logsumexp"):
        forward_ref, forward_cpu = getattr(ref, f"{name}_pool2d_forward"), getattr(cpu, f"{name}_pool2d_forward")
        y = forward_ref(x, parameter, pool, strides, pads)
        np.testing.assert_allclose(forward_cpu(x, parameter, pool, strides, pads), y, **tol)
        dy = rng.standard_normal(y.shape).astype(dtype)
        np.testing.assert_allclose(getattr(cpu, f"{name}_pool2d_backward")(dy, x, y, parameter, pool, strides, pads),
                                   getattr(ref, f"{name}_pool2d_backward")(dy, x, y, parameter, pool, strides, pads),
                                   **tol)
    y = ref.weighted_pool2d_forward(x, parameter, pool, strides, pads)
    np.testing.assert_allclose(cpu.weighted_pool2d_forward(x, parameter, pool, strides, pads), y, **tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(cpu.weighted_pool2d_backward(dy, shape, parameter, pool, strides, pads),
                               ref.weighted_pool2d_backward(dy, shape, parameter, pool, strides, pads), **tol)


def test_threaded_path_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.random((4, 40, 30, 24)) + 0.1
    pads = geometry.resolve_padding("same", (40, 30), (3, 3), (2, 2))
    args = ((3, 3), (2, 2), pads)
    y = ref.lp_pool2d_forward(x, 2.0, *args)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(cpu.lp_pool2d_forward(x, 2.0, *args), y, rtol=1e-12)
    np.testing.assert_allclose(cpu.lp_pool2d_backward(dy, x, y, 2.0, *args),
                               ref.lp_pool2d_backward(dy, x, y, 2.0, *args), rtol=1e-10)
    np.testing.assert_array_equal(cpu.min_pool2d_forward(x, *args)[1], ref.min_pool2d_forward(x, *args)[1])


# --------------------------------------------------------------------------------------------
# Identities the course would state
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_min_pool_is_minus_max_pool_of_minus_x(impl):
    x = np.random.default_rng(1).standard_normal((2, 7, 6, 3))
    pads = geometry.resolve_padding("same", (7, 6), (3, 2), (2, 2))
    y, argmin = impl.min_pool2d_forward(x, (3, 2), (2, 2), pads)
    y_max, argmax = ref_pool.max_pool2d_forward(-x, (3, 2), (2, 2), pads)
    np.testing.assert_array_equal(y, -y_max)
    np.testing.assert_array_equal(argmin, argmax)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_course_min_pool_example(impl):
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float32)[None, :, :, None]
    y, argmin = impl.min_pool2d_forward(x, (2, 2), (2, 2), NO_PADS)
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 2], [1, 0]])
    np.testing.assert_array_equal(argmin[0, :, :, 0], [[0, 2], [12, 11]])  # ties: the first cell wins


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_l2_pool_is_the_window_norm_and_lse_tends_to_max(impl):
    x = np.random.default_rng(2).standard_normal((1, 4, 4, 2))
    l2 = impl.lp_pool2d_forward(x, 2, (2, 2), (2, 2), NO_PADS)
    norms = np.sqrt((x.reshape(1, 2, 2, 2, 2, 2) ** 2).sum(axis=(2, 4)))
    np.testing.assert_allclose(l2, norms, rtol=1e-12)
    maxima = ref_pool.max_pool2d_forward(x, (2, 2), (2, 2), NO_PADS)[0]
    soft = impl.logsumexp_pool2d_forward(x, 200.0, (2, 2), (2, 2), NO_PADS)
    assert np.all(soft >= maxima) and np.all(soft - maxima <= np.log(4) / 200 + 1e-12)
    np.testing.assert_allclose(impl.logsumexp_pool2d_forward(x * 0 + 3.0, 1.0, (2, 2), (2, 2), NO_PADS),
                               3.0 + np.log(4))  # log(4 e^3)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_weighted_pool_favours_the_centre_and_tends_to_mean(impl):
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 1.0
    centre_weight = impl.weighted_pool2d_forward(x, 1.0, (3, 3), (1, 1), NO_PADS).item()
    g = np.exp(-np.array([2, 1, 2, 1, 0, 1, 2, 1, 2]) / 2.0)  # squared distances to the centre
    assert centre_weight == pytest.approx(1.0 / g.sum())
    x = np.random.default_rng(3).standard_normal((2, 5, 5, 3))
    pads = geometry.resolve_padding("same", (5, 5), (3, 3), (2, 2))
    np.testing.assert_allclose(impl.weighted_pool2d_forward(x, 1e6, (3, 3), (2, 2), pads),
                               ref_pool.avg_pool2d_forward(x, (3, 3), (2, 2), pads), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Gradients and PyTorch
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name, parameter", [("lp", 2.0), ("lp", 3.0), ("logsumexp", 1.5), ("weighted", 0.8)])
def test_gradients_are_numerically_right(impl, name, parameter):
    rng = np.random.default_rng(4)
    x = rng.random((2, 5, 6, 2)) + 0.2
    pads = geometry.resolve_padding("same", (5, 6), (3, 2), (2, 1))
    window = ((3, 2), (2, 1), pads)
    forward = getattr(impl, f"{name}_pool2d_forward")
    y = forward(x, parameter, *window)
    r = rng.standard_normal(y.shape)
    if name == "weighted":
        analytic = impl.weighted_pool2d_backward(r, x.shape, parameter, *window)
    else:
        analytic = getattr(impl, f"{name}_pool2d_backward")(r, x, y, parameter, *window)
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric[index] = (np.sum(forward(up, parameter, *window) * r)
                          - np.sum(forward(down, parameter, *window) * r)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("p, pool, strides", [(2.0, (2, 2), (2, 2)), (3.0, (3, 2), (1, 2)), (1.5, (2, 3), (2, 1))])
def test_lp_pool_matches_torch(impl, p, pool, strides):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(5)
    x = rng.random((2, 6, 7, 3)) + 0.1
    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    yt = torch.nn.functional.lp_pool2d(xt, p, pool, strides)
    r = rng.standard_normal(yt.shape)
    (yt * torch.tensor(r)).sum().backward()
    y = impl.lp_pool2d_forward(x, p, pool, strides, NO_PADS)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10)
    dx = impl.lp_pool2d_backward(r.transpose(0, 2, 3, 1).copy(), x, y, p, pool, strides, NO_PADS)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_arguments_raise(impl):
    x = np.ones((1, 4, 4, 1))
    with pytest.raises(ValueError, match="expected p to be a positive number"):
        impl.lp_pool2d_forward(x, 0, (2, 2), (2, 2), NO_PADS)
    with pytest.raises(ValueError, match="expected beta"):
        impl.logsumexp_pool2d_forward(x, -1, (2, 2), (2, 2), NO_PADS)
    with pytest.raises(ValueError, match="expected sigma"):
        impl.weighted_pool2d_forward(x, float("nan"), (2, 2), (2, 2), NO_PADS)
    with pytest.raises(ValueError, match="fit the input"):
        impl.min_pool2d_forward(x, (5, 5), (1, 1), NO_PADS)
    y = impl.lp_pool2d_forward(x, 2, (2, 2), (2, 2), NO_PADS)
    with pytest.raises(ValueError, match="expected dy of shape"):
        impl.lp_pool2d_backward(np.ones((1, 3, 3, 1)), x, y, 2, (2, 2), (2, 2), NO_PADS)
    with pytest.raises(ValueError, match="expected y of shape"):
        impl.logsumexp_pool2d_backward(y, x, y[:, :1], 1.0, (2, 2), (2, 2), NO_PADS)
