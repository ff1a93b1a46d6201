"""3-D pooling kernels: compiled == reference, numerical gradients, PyTorch parity, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv import geometry
from tinyconv.kernels.cpu import pooling3d as cpu
from tinyconv.kernels.reference import pooling3d as ref

IMPLEMENTATIONS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]
NO_PADS = ((0, 0),) * 3


def tie_free(shape, rng, dtype=np.float64):
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) / size - 0.5).astype(dtype)


@st.composite
def cases(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 5))
    spatial = tuple(draw(st.integers(1, 6)) for _ in range(3))
    pool = tuple(draw(st.integers(1, 3)) for _ in range(3))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(3))
    if draw(st.booleans()):
        pads = tuple(geometry.same_padding(s, k, st_) for s, k, st_ in zip(spatial, pool, strides))
    else:
        pool, pads = tuple(min(k, s) for k, s in zip(pool, spatial)), NO_PADS
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, *spatial, c), pool, strides, pads, dtype, draw(st.integers(0, 2**31))


@settings(max_examples=30, deadline=None)
@given(cases())
def test_cpu_matches_reference(case):
    shape, pool, strides, pads, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = tie_free(shape, rng, dtype)
    y_ref, arg_ref = ref.max_pool3d_forward(x, pool, strides, pads)
    y_cpu, arg_cpu = cpu.max_pool3d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(y_cpu, y_ref)
    np.testing.assert_array_equal(arg_cpu, arg_ref)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cpu.max_pool3d_backward(dy, arg_cpu, shape),
                               ref.max_pool3d_backward(dy, arg_ref, shape), **tol)
    np.testing.assert_allclose(cpu.avg_pool3d_forward(x, pool, strides, pads),
                               ref.avg_pool3d_forward(x, pool, strides, pads), **tol)
    np.testing.assert_allclose(cpu.avg_pool3d_backward(dy, shape, pool, strides, pads),
                               ref.avg_pool3d_backward(dy, shape, pool, strides, pads), **tol)


def test_threaded_path_matches_reference():
    rng = np.random.default_rng(0)
    shape, pool, strides = (2, 9, 17, 16, 20), (3, 3, 2), (2, 2, 2)
    pads = tuple(geometry.same_padding(s, k, t) for s, k, t in zip(shape[1:4], pool, strides))
    x = tie_free(shape, rng, np.float32)
    y, arg = cpu.max_pool3d_forward(x, pool, strides, pads)
    np.testing.assert_array_equal(arg, ref.max_pool3d_forward(x, pool, strides, pads)[1])
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(cpu.avg_pool3d_backward(dy, shape, pool, strides, pads),
                               ref.avg_pool3d_backward(dy, shape, pool, strides, pads), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_argmax_is_the_flat_dhw_index(impl):
    x = np.zeros((1, 2, 3, 4, 1))
    x[0, 1, 2, 3, 0] = 1.0
    _, argmax = impl.max_pool3d_forward(x, (2, 3, 4), (1, 1, 1), NO_PADS)
    assert argmax.item() == 1 * 3 * 4 + 2 * 4 + 3


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_gradients_are_numerically_right(impl):
    rng = np.random.default_rng(1)
    x = tie_free((1, 4, 5, 3, 2), rng)
    pool, strides = (2, 3, 2), (1, 2, 2)
    pads = tuple(geometry.same_padding(s, k, t) for s, k, t in zip(x.shape[1:4], pool, strides))
    y, argmax = impl.max_pool3d_forward(x, pool, strides, pads)
    r = rng.standard_normal(y.shape)
    for forward, analytic in [
        (lambda v: impl.max_pool3d_forward(v, pool, strides, pads)[0], impl.max_pool3d_backward(r, argmax, x.shape)),
        (lambda v: impl.avg_pool3d_forward(v, pool, strides, pads),
         impl.avg_pool3d_backward(r, x.shape, pool, strides, pads)),
    ]:
        numeric = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[index] += 1e-6
            down[index] -= 1e-6
            numeric[index] = (np.sum(forward(up) * r) - np.sum(forward(down) * r)) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("pool, strides", [((2, 2, 2), (2, 2, 2)), ((3, 2, 2), (1, 2, 1))])
def test_matches_torch(impl, pool, strides):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(2)
    x = tie_free((2, 5, 6, 7, 3), rng)
    xt = torch.tensor(np.moveaxis(x, -1, 1).copy(), requires_grad=True)
    yt, indices = torch.nn.functional.max_pool3d(xt, pool, strides, return_indices=True)
    r = rng.standard_normal(yt.shape)
    (yt * torch.tensor(r)).sum().backward()
    y, argmax = impl.max_pool3d_forward(x, pool, strides, NO_PADS)
    np.testing.assert_array_equal(y, np.moveaxis(yt.detach().numpy(), 1, -1))
    np.testing.assert_array_equal(argmax, np.moveaxis(indices.numpy(), 1, -1))
    np.testing.assert_allclose(impl.max_pool3d_backward(np.moveaxis(r, 1, -1).copy(), argmax, x.shape),
                               np.moveaxis(xt.grad.numpy(), 1, -1))
    xt.grad = None
    at = torch.nn.functional.avg_pool3d(xt, pool, strides)
    (at * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(impl.avg_pool3d_forward(x, pool, strides, NO_PADS),
                               np.moveaxis(at.detach().numpy(), 1, -1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(impl.avg_pool3d_backward(np.moveaxis(r, 1, -1).copy(), x.shape, pool, strides,
                                                        NO_PADS), np.moveaxis(xt.grad.numpy(), 1, -1), rtol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_arguments_raise(impl):
    x = np.zeros((1, 4, 4, 4, 1))
    with pytest.raises(ValueError, match="5-D input"):
        impl.max_pool3d_forward(np.zeros((1, 4, 4, 1)), (2, 2, 2), (2, 2, 2), NO_PADS)
    with pytest.raises(ValueError, match="smaller than the pool"):
        impl.avg_pool3d_forward(x, (2, 2, 2), (2, 2, 2), ((2, 0), (0, 0), (0, 0)))
    with pytest.raises(ValueError, match="fit the input"):
        impl.max_pool3d_forward(x, (5, 2, 2), (1, 1, 1), NO_PADS)
    with pytest.raises(TypeError, match="float32 or float64"):
        impl.max_pool3d_forward(x.astype(np.int32), (2, 2, 2), (2, 2, 2), NO_PADS)
    y, argmax = impl.max_pool3d_forward(x, (2, 2, 2), (2, 2, 2), NO_PADS)
    with pytest.raises(ValueError, match=r"argmax values in \[0, 64\)"):
        impl.max_pool3d_backward(y, argmax + 64, x.shape)
    with pytest.raises(ValueError, match="expected dy of shape"):
        impl.avg_pool3d_backward(np.zeros((1, 3, 2, 2, 1)), x.shape, (2, 2, 2), (2, 2, 2), NO_PADS)
