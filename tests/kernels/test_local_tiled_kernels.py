"""Locally connected and tiled convolution kernels: references, compiled twins, oracles.

1. the references against a direct einsum over all patches (the formula, written another way);
2. fast == reference on random shapes (hypothesis), float32 and float64;
3. numerical gradients (float64) for both kernel sets;
4. the special cases: tile (1, 1) is conv2d, tile = output size is a locally connected layer;
5. PyTorch parity through ``unfold`` (skipped without torch);
6. bad arguments raise ValueError saying what was expected and what was received.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gradcheck import numerical_gradient, relative_error
from tinyconv.kernels.cpu import local as fast_local
from tinyconv.kernels.cpu import tiled as fast_tiled
from tinyconv.kernels.reference import conv as ref_conv
from tinyconv.kernels.reference import local as ref_local
from tinyconv.kernels.reference import tiled as ref_tiled

LOCAL = [pytest.param(ref_local, id="reference"), pytest.param(fast_local, id="cpu")]
TILED = [pytest.param(ref_tiled, id="reference"), pytest.param(fast_tiled, id="cpu")]
VALID = ((0, 0), (0, 0))


def all_patches(x, kernel_size, strides, out_hw):
    """patches[n, i, j, k]: every window flattened in (p, q, c) order, built by fancy indexing."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, strides, out_hw
    rows = (np.arange(oh) * sh)[:, None] + np.arange(kh)[None, :]  # (OH, KH)
    cols = (np.arange(ow) * sw)[:, None] + np.arange(kw)[None, :]  # (OW, KW)
    windows = x[:, rows[:, None, :, None], cols[None, :, None, :], :]  # (N, OH, OW, KH, KW, C)
    return windows.reshape(x.shape[0], oh, ow, -1)


def local_oracle(x, kernel, bias, kernel_size, strides, out_hw):
    patches = all_patches(x, kernel_size, strides, out_hw)
    per_position = kernel.reshape(*out_hw, *kernel.shape[1:])  # (OH, OW, K, F)
    y = np.einsum("nijk,ijkf->nijf", patches, per_position)
    return y if bias is None else y + bias


def random_local(rng, n, h, w, c, kernel_size, strides, f, dtype=np.float64):
    out_hw = ref_local.locally_connected_output_hw((h, w), kernel_size, strides)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((out_hw[0] * out_hw[1], kernel_size[0] * kernel_size[1] * c, f)).astype(dtype)
    bias = rng.standard_normal((*out_hw, f)).astype(dtype)
    return x, kernel, bias, out_hw


def tolerance(dtype):
    return dict(rtol=3e-5, atol=3e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


# --- 1. the formula ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", LOCAL)
def test_local_forward_matches_einsum_oracle(module):
    rng = np.random.default_rng(0)
    x, kernel, bias, out_hw = random_local(rng, 2, 7, 6, 3, (3, 2), (2, 1), 4)
    np.testing.assert_allclose(module.locally_connected2d_forward(x, kernel, bias, (3, 2), (2, 1), out_hw),
                               local_oracle(x, kernel, bias, (3, 2), (2, 1), out_hw), **tolerance(np.float64))


@pytest.mark.parametrize("module", TILED)
def test_tiled_forward_matches_einsum_oracle(module):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 7, 3))
    kernel = rng.standard_normal((2, 3, 3, 2, 3, 4))
    bias = rng.standard_normal(4)
    strides = (1, 2)
    out_hw = (6, 3)
    patches = all_patches(x, (3, 2), strides, out_hw)
    tiles = kernel.reshape(2, 3, -1, 4)
    per_position = tiles[np.arange(6)[:, None] % 2, np.arange(3)[None, :] % 3]  # (OH, OW, K, F)
    expected = np.einsum("nijk,ijkf->nijf", patches, per_position) + bias
    np.testing.assert_allclose(module.tiled_conv2d_forward(x, kernel, bias, strides, VALID), expected,
                               **tolerance(np.float64))


# --- 2. fast == reference -------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 5), f=st.integers(1, 6),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       use_bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_local_fast_matches_reference(n, h, w, c, f, kh, kw, sh, sw, use_bias, dtype, seed):
    kh, kw = min(kh, h), min(kw, w)
    rng = np.random.default_rng(seed)
    x, kernel, bias, out_hw = random_local(rng, n, h, w, c, (kh, kw), (sh, sw), f, dtype)
    bias = bias if use_bias else None
    args = ((kh, kw), (sh, sw), out_hw)
    y_ref = ref_local.locally_connected2d_forward(x, kernel, bias, *args)
    y_fast = fast_local.locally_connected2d_forward(x, kernel, bias, *args)
    assert y_fast.dtype == dtype
    np.testing.assert_allclose(y_fast, y_ref, **tolerance(dtype))
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    for got, want in zip(fast_local.locally_connected2d_backward(dy, x, kernel, *args),
                         ref_local.locally_connected2d_backward(dy, x, kernel, *args)):
        assert got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, **tolerance(dtype))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 5), f=st.integers(1, 6),
       kh=st.integers(1, 3), kw=st.integers(1, 3), th=st.integers(1, 4), tw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), pad=st.integers(0, 2), use_bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_tiled_fast_matches_reference(n, h, w, c, f, kh, kw, th, tw, sh, sw, pad, use_bias, dtype, seed):
    kh, kw = min(kh, h), min(kw, w)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((th, tw, kh, kw, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype) if use_bias else None
    pads = ((pad, 0), (0, pad))  # asymmetric on purpose
    y_ref = ref_tiled.tiled_conv2d_forward(x, kernel, bias, (sh, sw), pads)
    y_fast = fast_tiled.tiled_conv2d_forward(x, kernel, bias, (sh, sw), pads)
    np.testing.assert_allclose(y_fast, y_ref, **tolerance(dtype))
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    for got, want in zip(fast_tiled.tiled_conv2d_backward(dy, x, kernel, (sh, sw), pads),
                         ref_tiled.tiled_conv2d_backward(dy, x, kernel, (sh, sw), pads)):
        assert got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, **tolerance(dtype))


# --- 3. numerical gradients -----------------------------------------------------------------


def check_kernel_gradients(forward, backward, arrays):
    """L = sum(forward(*arrays) * r): compare backward's gradients with central differences."""
    rng = np.random.default_rng(5)
    r = rng.standard_normal(forward().shape)
    analytic = backward(r)
    for name, array in arrays.items():
        numeric = numerical_gradient(lambda: float(np.sum(forward() * r)), array)
        assert relative_error(analytic[name], numeric) < 1e-7, name


@pytest.mark.parametrize("module", LOCAL)
def test_local_gradients(module):
    rng = np.random.default_rng(2)
    x, kernel, bias, out_hw = random_local(rng, 2, 5, 6, 2, (2, 3), (1, 2), 3)
    args = ((2, 3), (1, 2), out_hw)

    def backward(r):
        dx, dkernel, dbias = module.locally_connected2d_backward(r, x, kernel, *args)
        return {"x": dx, "kernel": dkernel, "bias": dbias}

    check_kernel_gradients(lambda: module.locally_connected2d_forward(x, kernel, bias, *args), backward,
                           {"x": x, "kernel": kernel, "bias": bias})


@pytest.mark.parametrize("module", TILED)
def test_tiled_gradients(module):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6, 2))
    kernel = rng.standard_normal((2, 2, 2, 3, 2, 3))
    bias = rng.standard_normal(3)
    args = ((2, 1), ((1, 0), (1, 1)))

    def backward(r):
        dx, dkernel, dbias = module.tiled_conv2d_backward(r, x, kernel, *args)
        return {"x": dx, "kernel": dkernel, "bias": dbias}

    check_kernel_gradients(lambda: module.tiled_conv2d_forward(x, kernel, bias, *args), backward,
                           {"x": x, "kernel": kernel, "bias": bias})


# --- 4. the two ends of tiling --------------------------------------------------------------


@pytest.mark.parametrize("module", TILED)
def test_tile_one_by_one_is_conv2d(module):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 8, 3))
    conv_kernel = rng.standard_normal((3, 2, 3, 5))
    bias = rng.standard_normal(5)
    pads = ((1, 1), (0, 1))
    y_tiled = module.tiled_conv2d_forward(x, conv_kernel[None, None], bias, (2, 1), pads)
    np.testing.assert_allclose(y_tiled, ref_conv.conv2d_forward(x, conv_kernel, bias, (2, 1), pads, (1, 1), 1),
                               **tolerance(np.float64))
    dy = rng.standard_normal(y_tiled.shape)
    dx, dkernel, dbias = module.tiled_conv2d_backward(dy, x, conv_kernel[None, None], (2, 1), pads)
    for got, want in zip((dx, dkernel[0, 0], dbias),
                         ref_conv.conv2d_backward(dy, x, conv_kernel, (2, 1), pads, (1, 1), 1)):
        np.testing.assert_allclose(got, want, **tolerance(np.float64))


@pytest.mark.parametrize("module", TILED)
def test_tile_as_large_as_the_output_is_locally_connected(module):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 5, 2))
    out_hw = ref_local.locally_connected_output_hw((6, 5), (2, 3), (2, 1))  # (3, 3)
    tiled_kernel = rng.standard_normal((*out_hw, 2, 3, 2, 4))
    local_kernel = tiled_kernel.reshape(out_hw[0] * out_hw[1], 2 * 3 * 2, 4)  # position-major, patch in (p, q, c)
    y_tiled = module.tiled_conv2d_forward(x, tiled_kernel, None, (2, 1), VALID)
    y_local = ref_local.locally_connected2d_forward(x, local_kernel, None, (2, 3), (2, 1), out_hw)
    np.testing.assert_allclose(y_tiled, y_local, **tolerance(np.float64))
    dy = rng.standard_normal(y_tiled.shape)
    dx_t, dk_t, _ = module.tiled_conv2d_backward(dy, x, tiled_kernel, (2, 1), VALID)
    dx_l, dk_l, _ = ref_local.locally_connected2d_backward(dy, x, local_kernel, (2, 3), (2, 1), out_hw)
    np.testing.assert_allclose(dx_t, dx_l, **tolerance(np.float64))
    np.testing.assert_allclose(dk_t.reshape(local_kernel.shape), dk_l, **tolerance(np.float64))


# --- 5. PyTorch parity ------------------------------------------------------------------------


@pytest.mark.parametrize("module", LOCAL)
def test_local_matches_torch_unfold(module):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the unfold formulation")
    rng = np.random.default_rng(6)
    x, kernel, bias, out_hw = random_local(rng, 2, 7, 6, 3, (3, 2), (2, 2), 4)
    # torch: unfold gives (N, C*KH*KW, L) with patches in (c, p, q) order; reorder our kernel to match.
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    kernel_cpq = kernel.reshape(-1, 3, 2, 3, 4).transpose(0, 3, 1, 2, 4).reshape(kernel.shape[0], -1, 4)
    kt = torch.tensor(kernel_cpq, requires_grad=True)
    bt = torch.tensor(bias, requires_grad=True)
    patches = torch.nn.functional.unfold(xt, (3, 2), stride=(2, 2))  # (N, K, L)
    yt = torch.einsum("nkl,lkf->nlf", patches, kt).reshape(2, *out_hw, 4) + bt
    y = module.locally_connected2d_forward(x, kernel, bias, (3, 2), (2, 2), out_hw)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tolerance(np.float64))
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    dx, dkernel, dbias = module.locally_connected2d_backward(dy, x, kernel, (3, 2), (2, 2), out_hw)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), **tolerance(np.float64))
    dkernel_cpq = dkernel.reshape(-1, 3, 2, 3, 4).transpose(0, 3, 1, 2, 4).reshape(kernel.shape[0], -1, 4)
    np.testing.assert_allclose(dkernel_cpq, kt.grad.numpy(), **tolerance(np.float64))
    np.testing.assert_allclose(dbias, bt.grad.numpy(), **tolerance(np.float64))


# --- 6. bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", LOCAL)
def test_local_rejects_bad_arguments(module):
    x = np.zeros((1, 5, 5, 2))
    kernel = np.zeros((9, 18, 3))
    with pytest.raises(ValueError, match=r"gives output size \(3, 3\), got out_hw=\(4, 4\)"):
        module.locally_connected2d_forward(x, kernel, None, (3, 3), (1, 1), (4, 4))
    with pytest.raises(ValueError, match=r"expected kernel of shape \(9, 18, filters\)"):
        module.locally_connected2d_forward(x, np.zeros((9, 9, 3)), None, (3, 3), (1, 1), (3, 3))
    with pytest.raises(ValueError, match=r"expected bias of shape \(3, 3, 3\)"):
        module.locally_connected2d_forward(x, kernel, np.zeros(3), (3, 3), (1, 1), (3, 3))
    with pytest.raises(ValueError, match="dtype"):
        module.locally_connected2d_forward(x, kernel.astype(np.float32), None, (3, 3), (1, 1), (3, 3))
    with pytest.raises(ValueError, match=r"expected dy of shape \(1, 3, 3, 3\)"):
        module.locally_connected2d_backward(np.zeros((1, 3, 3, 2)), x, kernel, (3, 3), (1, 1), (3, 3))


@pytest.mark.parametrize("module", TILED)
def test_tiled_rejects_bad_arguments(module):
    x = np.zeros((1, 5, 5, 2))
    with pytest.raises(ValueError, match=r"expected kernel of shape \(TH, TW, KH, KW, 2, F\)"):
        module.tiled_conv2d_forward(x, np.zeros((2, 2, 3, 3, 3, 4)), None, (1, 1), VALID)
    with pytest.raises(ValueError, match="output size would be"):
        module.tiled_conv2d_forward(x, np.zeros((1, 1, 6, 3, 2, 4)), None, (1, 1), VALID)
    with pytest.raises(ValueError, match=r"expected bias of shape \(4,\)"):
        module.tiled_conv2d_forward(x, np.zeros((1, 1, 3, 3, 2, 4)), np.zeros(3), (1, 1), VALID)
    with pytest.raises(ValueError, match=r"expected dy of shape \(1, 3, 3, 4\)"):
        module.tiled_conv2d_backward(np.zeros((1, 3, 3, 3)), x, np.zeros((1, 1, 3, 3, 2, 4)), (1, 1), VALID)
