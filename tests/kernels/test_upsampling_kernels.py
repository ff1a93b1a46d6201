"""Up-sampling kernels: compiled == reference, PyTorch parity (nearest, bilinear align_corners=False), errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv.kernels.cpu import upsampling as cpu
from tinyconv.kernels.reference import upsampling as ref

IMPLEMENTATIONS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]
MODES = ["nearest", "bilinear"]


@settings(max_examples=30, deadline=None)
@given(st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 20)),
       st.tuples(st.integers(1, 4), st.integers(1, 4)), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**31))
def test_cpu_matches_reference(shape, size, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for mode in MODES:
        y = getattr(ref, f"upsample2d_{mode}_forward")(x, size)
        y_cpu = getattr(cpu, f"upsample2d_{mode}_forward")(x, size)
        assert y_cpu.dtype == dtype and y_cpu.shape == (shape[0], shape[1] * size[0], shape[2] * size[1], shape[3])
        np.testing.assert_allclose(y_cpu, y, **tol)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx = getattr(cpu, f"upsample2d_{mode}_backward")(dy, shape)
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, getattr(ref, f"upsample2d_{mode}_backward")(dy, shape), **tol)


def test_threaded_path_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 20, 20, 24))
    for mode in MODES:
        y = getattr(cpu, f"upsample2d_{mode}_forward")(x, (2, 3))
        np.testing.assert_allclose(y, getattr(ref, f"upsample2d_{mode}_forward")(x, (2, 3)), rtol=1e-12)
        np.testing.assert_allclose(getattr(cpu, f"upsample2d_{mode}_backward")(y, x.shape),
                                   getattr(ref, f"upsample2d_{mode}_backward")(y, x.shape), rtol=1e-10)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_course_nearest_neighbour_example(impl):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
    y = impl.upsample2d_nearest_forward(x, (2, 2))
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    np.testing.assert_array_equal(impl.upsample2d_nearest_backward(np.ones_like(y), x.shape)[0, :, :, 0],
                                  [[4, 4], [4, 4]])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bilinear_half_pixel_numbers(impl):
    x = np.array([[0.0, 4.0]])[None, :, :, None]                   # one row, two pixels
    y = impl.upsample2d_bilinear_forward(x, (1, 2))[0, 0, :, 0]
    # output centres at input coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    np.testing.assert_allclose(y, [0.0, 1.0, 3.0, 4.0])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_matches_torch(impl, mode, size):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 5, 3))
    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    extra = {"align_corners": False} if mode == "bilinear" else {}
    yt = torch.nn.functional.interpolate(xt, scale_factor=size, mode=mode, **extra)
    r = rng.standard_normal(yt.shape)
    (yt * torch.tensor(r)).sum().backward()
    y = getattr(impl, f"upsample2d_{mode}_forward")(x, size)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-14)
    dx = getattr(impl, f"upsample2d_{mode}_backward")(r.transpose(0, 2, 3, 1).copy(), x.shape)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_arguments_raise(impl):
    x = np.zeros((1, 3, 3, 2))
    with pytest.raises(ValueError, match="expected size as two positive ints"):
        impl.upsample2d_nearest_forward(x, (0, 2))
    with pytest.raises(ValueError, match="4-D"):
        impl.upsample2d_bilinear_forward(x[0], (2, 2))
    with pytest.raises(TypeError, match="float32 or float64"):
        impl.upsample2d_bilinear_forward(x.astype(np.int64), (2, 2))
    with pytest.raises(ValueError, match="a multiple of 3"):
        impl.upsample2d_bilinear_backward(np.zeros((1, 7, 6, 2)), x.shape)
