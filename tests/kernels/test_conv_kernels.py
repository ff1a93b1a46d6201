"""Tests for the 2-D convolution kernels: the NumPy reference and its compiled twin.

1. worked examples from the course, with their exact numbers;
2. fast == reference on random shapes (hypothesis), and each route inside the fast kernel
   (1x1 shortcut, im2col, batch chunking) on its own;
3. numerical gradients (central differences, float64) for both kernels;
4. PyTorch parity, forward and backward (skipped without torch);
5. bad arguments raise ValueError saying what was expected and what was received.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv import geometry
from tinyconv.dispatch import KernelCache
from tinyconv.kernels.cpu import conv2d as fast
from tinyconv.kernels.cpu.conv2d import chunked_path, route
from tinyconv.kernels.cpu.conv2d.geometry import is_pointwise
from tinyconv.kernels.reference import conv as ref

from ..gradcheck import numerical_gradient

KERNELS = [pytest.param(ref, id="reference"), pytest.param(fast, id="cpu")]
VALID = ((0, 0), (0, 0))


def conv(module, x, kernel, bias=None, strides=(1, 1), pads=VALID, dilation=(1, 1), groups=1):
    return module.conv2d_forward(x, kernel, bias, strides, pads, dilation, groups)


def random_problem(rng, n, h, w, c, kh, kw, f, groups, dtype=np.float64, bias=True):
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c // groups, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if bias else None
    return x, kernel, b


def assert_matches(actual, expected, magnitude, dtype):
    """Compare with a tolerance scaled to the size of the summed terms.

    ``magnitude`` bounds sum |term| for each entry; rounding error grows with it, not with the
    (possibly cancelled) result, so atol is relative to it.
    """
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    assert actual.dtype == expected.dtype == dtype
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * (float(np.max(magnitude, initial=0.0)) + 1.0))


def assert_fast_matches_reference(x, kernel, bias, strides, pads, dilation, groups, rng):
    """Forward and backward of the compiled kernel against the reference."""
    args = (strides, pads, dilation, groups)
    dtype = x.dtype
    y_ref = ref.conv2d_forward(x, kernel, bias, *args)
    y_fast = fast.conv2d_forward(x, kernel, bias, *args)
    y_size = ref.conv2d_forward(abs(x), abs(kernel), None if bias is None else abs(bias), *args)
    assert_matches(y_fast, y_ref, y_size, dtype)

    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    grads_ref = ref.conv2d_backward(dy, x, kernel, *args)
    grads_fast = fast.conv2d_backward(dy, x, kernel, *args)
    grad_sizes = ref.conv2d_backward(abs(dy), abs(x), abs(kernel), *args)
    for got, want, size in zip(grads_fast, grads_ref, grad_sizes):
        assert_matches(got, want, size, dtype)
    dx, dkernel, dbias = grads_fast
    assert dx.shape == x.shape and dkernel.shape == kernel.shape and dbias.shape == (kernel.shape[3],)


# --- 1. worked examples ------------------------------------------------------------------


def test_course_5x5_image_3x3_kernel():
    # lecture-ce40717: "Convoluting a 5x5x1 image with a 3x3x1 kernel to get a 3x3x1 convolved feature"
    image = np.array([[1, 1, 1, 0, 0],
                      [0, 1, 1, 1, 0],
                      [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0],
                      [0, 1, 1, 0, 0]], dtype=np.float64)
    kernel = np.array([[1, 0, 1],
                       [0, 1, 0],
                       [1, 0, 1]], dtype=np.float64)
    expected = [[4, 3, 4],
                [2, 4, 3],
                [2, 3, 4]]
    x, k = image[None, :, :, None], kernel[:, :, None, None]
    for module in (ref, fast):
        np.testing.assert_array_equal(conv(module, x, k)[0, :, :, 0], expected)
    np.testing.assert_array_equal(ref.conv2d_forward_direct(x, k, None, (1, 1), VALID, (1, 1), 1)[0, :, :, 0], expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vertical_edge_detector(dtype):
    # Bright left half (10s), dark right half (0s): the detector fires (30) only where the edge is.
    image = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=dtype)
    detector = np.array([[1, 0, -1]] * 3, dtype=dtype)
    expected = np.array([[0, 30, 30, 0]] * 4, dtype=dtype)
    for module in (ref, fast):
        np.testing.assert_array_equal(conv(module, image[None, :, :, None], detector[:, :, None, None])[0, :, :, 0], expected)


def test_course_sobel_example_is_a_flipped_kernel():
    # lecture-cosc2779 computes I_o(i, j) = sum w[p, q] I(i - p, j - q): a *true* convolution, which
    # is our cross-correlation with the kernel flipped in both axes.  The slide prints the image
    # rounded to 2 decimals and computed the output from the unrounded one, hence atol=0.025.
    image = np.array([[0.80, 0.74, 0.60, 0.50, 0.47, 0.55],
                      [0.81, 0.73, 0.58, 0.45, 0.41, 0.46],
                      [0.81, 0.73, 0.58, 0.43, 0.35, 0.38],
                      [0.81, 0.73, 0.58, 0.43, 0.31, 0.31],
                      [0.82, 0.73, 0.61, 0.44, 0.29, 0.27],
                      [0.83, 0.75, 0.62, 0.44, 0.27, 0.25]])
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
    slide = np.array([[-0.89, -1.09, -0.71, 0.02],
                      [-0.92, -1.18, -0.91, -0.20],
                      [-0.90, -1.20, -1.11, -0.44],
                      [-0.87, -1.21, -1.26, -0.63]])
    flipped = np.ascontiguousarray(sobel[::-1, ::-1])
    for module in (ref, fast):
        out = conv(module, image[None, :, :, None], flipped[:, :, None, None])[0, :, :, 0]
        np.testing.assert_allclose(out, slide, atol=0.025)


@pytest.mark.parametrize("stride, expected_size", [(1, 5), (2, 3), (3, 2)])
def test_course_stride_output_sizes(stride, expected_size):
    # 7x7 input, 3x3 filter: (7 - 3)/1 + 1 = 5, (7 - 3)/2 + 1 = 3; stride 3 gives 2.33, floored to 2.
    x = np.ones((1, 7, 7, 1))
    for module in (ref, fast):
        y = conv(module, x, np.ones((3, 3, 1, 1)), strides=(stride, stride))
        assert y.shape == (1, expected_size, expected_size, 1)
        np.testing.assert_array_equal(y, 9.0)


def test_course_32x32x3_ten_5x5_filters_pad_2():
    # (32 + 2*2 - 5)/1 + 1 = 32, so 32x32x10; each filter has 5*5*3 + 1 = 76 parameters.
    rng = np.random.default_rng(0)
    x, kernel, bias = random_problem(rng, 1, 32, 32, 3, 5, 5, 10, 1, np.float32)
    assert kernel.size + bias.size == 760
    pads = geometry.resolve_padding(2, (32, 32), (5, 5), (1, 1))
    for module in (ref, fast):
        assert conv(module, x, kernel, bias, pads=pads).shape == (1, 32, 32, 10)


# --- 2. fast == reference ----------------------------------------------------------------


@st.composite
def conv_problems(draw):
    """A random but valid convolution: shapes, strides, dilation, padding and groups."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    channels = groups * draw(st.integers(1, 8 // groups))
    filters = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    mode = draw(st.sampled_from(["valid", "same", "explicit"]))
    pads = VALID if mode != "explicit" else tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    # The image must be at least as large as the dilated kernel, less any padding ('same' needs no minimum).
    hw = []
    for k, d, (before, after) in zip((kh, kw), dilation, pads):
        smallest = 1 if mode == "same" else max(1, geometry.effective_kernel_size(k, d) - before - after)
        hw.append(draw(st.integers(smallest, smallest + 6)))
    if mode == "same":
        pads = geometry.resolve_padding("same", hw, (kh, kw), strides, dilation)
    return dict(n=draw(st.integers(1, 3)), hw=tuple(hw), channels=channels, filters=filters, kernel_hw=(kh, kw),
                strides=strides, pads=pads, dilation=dilation, groups=groups,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)))


def run_problem(problem, dtype):
    rng = np.random.default_rng(problem["seed"])
    x, kernel, bias = random_problem(rng, problem["n"], *problem["hw"], problem["channels"], *problem["kernel_hw"],
                                     problem["filters"], problem["groups"], dtype, problem["bias"])
    assert_fast_matches_reference(x, kernel, bias, problem["strides"], problem["pads"], problem["dilation"],
                                  problem["groups"], rng)


@settings(max_examples=40, deadline=None)
@given(conv_problems())
def test_fast_matches_reference_float64(problem):
    run_problem(problem, np.float64)


@settings(max_examples=40, deadline=None)
@given(conv_problems())
def test_fast_matches_reference_float32(problem):
    run_problem(problem, np.float32)


# Named corner cases, so they run every time rather than when hypothesis happens to pick them.
CORNER_CASES = {
    "kernel_equals_input": dict(hw=(4, 3), kernel_hw=(4, 3), strides=(1, 1), pads=VALID, dilation=(1, 1), groups=1),
    "stride_larger_than_kernel": dict(hw=(9, 8), kernel_hw=(2, 1), strides=(4, 3), pads=VALID, dilation=(1, 1), groups=1),
    "stride2_explicit_asymmetric_pads": dict(hw=(7, 6), kernel_hw=(3, 2), strides=(2, 2), pads=((1, 2), (0, 1)),
                                             dilation=(1, 1), groups=2),
    "stride2_same": dict(hw=(8, 7), kernel_hw=(3, 5), strides=(2, 2), pads="same", dilation=(1, 1), groups=1),
    "dilated_non_square": dict(hw=(9, 7), kernel_hw=(2, 3), strides=(1, 2), pads=VALID, dilation=(3, 2), groups=3),
    "pad_larger_than_image": dict(hw=(1, 2), kernel_hw=(3, 3), strides=(1, 1), pads=((2, 2), (1, 3)),
                                  dilation=(1, 1), groups=1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CORNER_CASES))
def test_corner_cases(name, dtype):
    case = CORNER_CASES[name]
    rng = np.random.default_rng(1)
    groups = case["groups"]
    x, kernel, bias = random_problem(rng, 2, *case["hw"], 2 * groups, *case["kernel_hw"], 2 * groups, groups, dtype)
    pads = case["pads"]
    if pads == "same":
        pads = geometry.resolve_padding("same", case["hw"], case["kernel_hw"], case["strides"], case["dilation"])
    assert_fast_matches_reference(x, kernel, bias, case["strides"], pads, case["dilation"], groups, rng)


@pytest.mark.parametrize("groups", [1, 2])
def test_pointwise_shortcut_and_im2col_route_agree(groups, monkeypatch):
    """A 1x1 conv takes the shortcut; forcing it down the im2col route must give the same answer."""
    rng = np.random.default_rng(2)
    x, kernel, bias = random_problem(rng, 3, 5, 4, 4, 1, 1, 6, groups)
    args = ((1, 1), VALID, (1, 1), groups)
    assert is_pointwise(kernel.shape, (1, 1), VALID)
    assert_fast_matches_reference(x, kernel, bias, *args, rng)

    monkeypatch.setattr(route, "is_pointwise", lambda *a: False)
    assert_fast_matches_reference(x, kernel, bias, *args, rng)


@pytest.mark.parametrize("strides, pads", [((2, 1), VALID), ((1, 1), ((1, 0), (0, 1)))])
def test_pointwise_kernel_with_stride_or_padding_uses_im2col(strides, pads):
    rng = np.random.default_rng(3)
    x, kernel, bias = random_problem(rng, 2, 5, 4, 3, 1, 1, 2, 1)
    assert not is_pointwise(kernel.shape, strides, pads)
    assert_fast_matches_reference(x, kernel, bias, strides, pads, (1, 1), 1, rng)


@pytest.mark.parametrize("samples_per_chunk", [1, 2])
def test_batch_split_into_workspace_chunks(samples_per_chunk, monkeypatch):
    """A small workspace budget splits the batch (5 samples: 1+1+1+1+1, or 2+2+1 forward and
    1+1+1+1+1 backward, which needs two workspaces); results must not change."""
    rng = np.random.default_rng(4)
    x, kernel, bias = random_problem(rng, 5, 6, 5, 4, 3, 2, 4, 2)
    strides, pads = (1, 2), ((1, 1), (1, 0))
    oh, ow = geometry.output_hw((6, 5), (3, 2), strides, pads)
    bytes_per_sample = oh * ow * 3 * 2 * 2 * x.itemsize  # one im2col row per output cell, 3*2*Cg wide
    monkeypatch.setattr(chunked_path, "WORKSPACE_BYTES", samples_per_chunk * bytes_per_sample)
    monkeypatch.setattr(chunked_path, "MIN_CHUNK_ROWS", 0)
    assert chunked_path._batch_chunks(5, oh * ow, 3 * 2 * 2, x.itemsize)[-1] == (4, 5)
    assert len(chunked_path._batch_chunks(5, oh * ow, 3 * 2 * 2, x.itemsize)) == (5 if samples_per_chunk == 1 else 3)
    assert len(chunked_path._batch_chunks(5, oh * ow, 3 * 2 * 2, x.itemsize, workspaces=2)) == 5
    assert_fast_matches_reference(x, kernel, bias, strides, pads, (1, 1), 2, rng)


def test_chunks_keep_a_minimum_of_rows_on_several_threads(monkeypatch):
    """Every chunk costs thread wake-ups, so on several threads a chunk never drops below
    MIN_CHUNK_ROWS output cells, whatever the workspace budget; on one thread the budget rules."""
    import tinyconv

    monkeypatch.setattr(chunked_path, "WORKSPACE_BYTES", 1)          # the budget alone: one sample per chunk
    monkeypatch.setattr(chunked_path, "MIN_CHUNK_ROWS", 3 * 10)      # 10 cells per sample -> 3 samples
    before = tinyconv.get_num_threads()
    try:
        tinyconv.set_num_threads(2)
        assert chunked_path._batch_chunks(7, 10, 4, 4) == [(0, 3), (3, 6), (6, 7)]
        tinyconv.set_num_threads(1)
        assert len(chunked_path._batch_chunks(7, 10, 4, 4)) == 7
    finally:
        tinyconv.set_num_threads(before)


@pytest.mark.parametrize("module", KERNELS)
def test_empty_batch(module):
    x, kernel = np.zeros((0, 5, 5, 2)), np.ones((3, 3, 2, 4))
    assert conv(module, x, kernel).shape == (0, 3, 3, 4)
    dx, dkernel, dbias = module.conv2d_backward(np.zeros((0, 3, 3, 4)), x, kernel, (1, 1), VALID, (1, 1), 1)
    assert dx.shape == x.shape and not dkernel.any() and not dbias.any()


def test_fast_accepts_non_contiguous_input():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 6, 8))[:, ::2, :, ::2]  # strided view, (2, 3, 6, 4)
    kernel = np.asfortranarray(rng.standard_normal((2, 2, 4, 3)))
    np.testing.assert_allclose(conv(fast, x, kernel), conv(ref, x, kernel), rtol=1e-12, atol=1e-12)


def test_vectorised_reference_matches_the_seven_loops():
    rng = np.random.default_rng(6)
    x, kernel, bias = random_problem(rng, 2, 6, 5, 4, 3, 2, 4, 2)
    args = (bias, (2, 1), ((1, 0), (2, 1)), (1, 2), 2)
    np.testing.assert_allclose(ref.conv2d_forward(x, kernel, *args), ref.conv2d_forward_direct(x, kernel, *args),
                               rtol=1e-12, atol=1e-12)


# --- 3. numerical gradients --------------------------------------------------------------

GRADIENT_CASES = {
    "groups2_same": dict(x=(2, 4, 4, 4), kernel=(3, 3, 2, 4), strides=(1, 1), pads=((1, 1), (1, 1)),
                         dilation=(1, 1), groups=2),
    "stride2_padded_non_square": dict(x=(1, 5, 6, 2), kernel=(3, 2, 2, 3), strides=(2, 2), pads=((1, 1), (1, 0)),
                                      dilation=(1, 1), groups=1),
    "dilation2": dict(x=(1, 6, 5, 3), kernel=(2, 3, 1, 3), strides=(1, 1), pads=((0, 1), (1, 1)),
                      dilation=(2, 2), groups=3),
    "pointwise": dict(x=(2, 3, 3, 4), kernel=(1, 1, 2, 2), strides=(1, 1), pads=VALID, dilation=(1, 1), groups=2),
}


@pytest.mark.parametrize("module", KERNELS)
@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_central_differences(module, name):
    case = GRADIENT_CASES[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal(case["x"])
    kernel = rng.standard_normal(case["kernel"])
    bias = rng.standard_normal(case["kernel"][3])
    args = (case["strides"], case["pads"], case["dilation"], case["groups"])
    # loss = sum(y * upstream), so dL/dy = upstream.
    upstream = rng.standard_normal(module.conv2d_forward(x, kernel, bias, *args).shape)

    def loss():
        return float(np.sum(module.conv2d_forward(x, kernel, bias, *args) * upstream))

    dx, dkernel, dbias = module.conv2d_backward(upstream, x, kernel, *args)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dkernel, numerical_gradient(loss, kernel), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dbias, numerical_gradient(loss, bias), rtol=1e-6, atol=1e-7)


# --- 4. PyTorch parity -------------------------------------------------------------------

TORCH_CASES = [
    dict(x=(2, 7, 6, 6), kernel_hw=(3, 2), filters=6, strides=(2, 1), padding="explicit", pads=((1, 2), (0, 1)),
         dilation=(1, 2), groups=3),
    dict(x=(1, 8, 8, 3), kernel_hw=(3, 3), filters=4, strides=(2, 2), padding="same", dilation=(1, 1), groups=1),
    dict(x=(3, 9, 7, 4), kernel_hw=(4, 2), filters=2, strides=(1, 1), padding="same", dilation=(1, 1), groups=2),
    dict(x=(2, 5, 5, 4), kernel_hw=(1, 1), filters=8, strides=(1, 1), padding="valid", dilation=(1, 1), groups=4),
    dict(x=(1, 10, 9, 2), kernel_hw=(2, 3), filters=3, strides=(3, 2), padding="valid", dilation=(2, 3), groups=1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("module", KERNELS)
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: f"{c['padding']}-k{c['kernel_hw']}-g{c['groups']}")
def test_matches_pytorch(case, module, dtype):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    n, h, w, c = case["x"]
    x, kernel, bias = random_problem(rng, n, h, w, c, *case["kernel_hw"], case["filters"], case["groups"], dtype)
    pads = case.get("pads") or geometry.resolve_padding(case["padding"], (h, w), case["kernel_hw"], case["strides"],
                                                     case["dilation"])
    args = (case["strides"], pads, case["dilation"], case["groups"])

    # PyTorch: NCHW input, (F, C/groups, KH, KW) kernel; pad first, since 'same' may be asymmetric.
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    kt = torch.tensor(kernel).permute(3, 2, 0, 1).requires_grad_()
    bt = torch.tensor(bias).requires_grad_()
    (top, bottom), (left, right) = pads
    yt = F.conv2d(F.pad(xt, (left, right, top, bottom)), kt, bt, stride=case["strides"], dilation=case["dilation"],
                  groups=case["groups"])
    dy = rng.standard_normal(tuple(yt.permute(0, 2, 3, 1).shape)).astype(dtype)
    yt.backward(torch.tensor(dy).permute(0, 3, 1, 2))

    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    y = module.conv2d_forward(x, kernel, bias, *args)
    np.testing.assert_allclose(y, yt.detach().permute(0, 2, 3, 1).numpy(), **tol)
    dx, dkernel, dbias = module.conv2d_backward(dy, x, kernel, *args)
    np.testing.assert_allclose(dx, xt.grad.permute(0, 2, 3, 1).numpy(), **tol)
    np.testing.assert_allclose(dkernel, kt.grad.permute(2, 3, 1, 0).numpy(), **tol)
    np.testing.assert_allclose(dbias, bt.grad.numpy(), **tol)


# --- 5. bad arguments --------------------------------------------------------------------


def good_args():
    rng = np.random.default_rng(9)
    x, kernel, bias = random_problem(rng, 1, 5, 5, 4, 3, 3, 4, 2, np.float32)
    return dict(x=x, kernel=kernel, bias=bias, strides=(1, 1), pads=VALID, dilation=(1, 1), groups=2)


BAD_ARGUMENTS = {
    "x_rank_3": (dict(x=np.zeros((5, 5, 4), np.float32)), r"rank 4.*got shape \(5, 5, 4\)"),
    "kernel_rank_2": (dict(kernel=np.zeros((3, 3), np.float32)), r"kernel of rank 4.*got shape \(3, 3\)"),
    "channel_mismatch": (dict(kernel=np.zeros((3, 3, 3, 4), np.float32)), r"2 input channels.*\(3, 3, 3, 4\)"),
    "groups_not_dividing_channels": (dict(groups=3), r"input channels \(4\).*divisible by groups \(3\)"),
    "groups_not_dividing_filters": (dict(kernel=np.zeros((3, 3, 2, 3), np.float32)), r"filters \(3\).*groups \(2\)"),
    "groups_zero": (dict(groups=0), r"groups >= 1, got 0"),
    "kernel_dtype": (dict(kernel=np.zeros((3, 3, 2, 4), np.float64)), r"match x \(float32\), got float64"),
    "bias_dtype": (dict(bias=np.zeros(4, np.float64)), r"bias dtype.*float32.*got float64"),
    "bias_shape": (dict(bias=np.zeros(3, np.float32)), r"bias of shape \(4,\), got \(3,\)"),
    "integer_input": (dict(x=np.zeros((1, 5, 5, 4), np.int64)), r"float32 or float64, got int64"),
    "output_too_small": (dict(x=np.zeros((1, 2, 5, 4), np.float32)), r"output size would be \(0, 3\)"),
    "dilation_makes_output_empty": (dict(dilation=(3, 1)), r"output size would be"),
    "negative_pads": (dict(pads=((-1, 0), (0, 0))), r"non-negative pads"),
    "malformed_pads": (dict(pads=(1, 1)), r"\(\(top, bottom\), \(left, right\)\)"),
    "zero_stride": (dict(strides=(0, 1)), r"strides >= 1, got 0"),
    "stride_not_a_pair": (dict(strides=2), r"strides as a pair"),
    "non_integer_dilation": (dict(dilation=(1.5, 1)), r"integer for dilation"),
}


@pytest.mark.parametrize("module", KERNELS)
@pytest.mark.parametrize("name", sorted(BAD_ARGUMENTS))
def test_bad_arguments_raise_value_error(module, name):
    changes, message = BAD_ARGUMENTS[name]
    args = {**good_args(), **changes}
    with pytest.raises(ValueError, match=message):
        module.conv2d_forward(**args)
    if "bias" in changes:
        return  # backward takes no bias
    backward_args = {key: value for key, value in args.items() if key != "bias"}
    with pytest.raises(ValueError, match=message):
        module.conv2d_backward(np.zeros((1, 3, 3, 4), np.float32), **backward_args)


@pytest.mark.parametrize("module", KERNELS)
def test_backward_checks_upstream_gradient(module):
    args = good_args()
    del args["bias"]
    with pytest.raises(ValueError, match=r"dy of shape \(1, 3, 3, 4\), got \(1, 3, 3, 5\)"):
        module.conv2d_backward(np.zeros((1, 3, 3, 5), np.float32), **args)
    with pytest.raises(ValueError, match=r"dy dtype must match x \(float32\), got float64"):
        module.conv2d_backward(np.zeros((1, 3, 3, 4), np.float64), **args)


@pytest.mark.parametrize("channels", [1, 3])
def test_few_channels_match_the_reference(channels):
    """Few input channels: im2col copies whole kernel rows at once where it can; same numbers."""
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((3, 9, 8, channels))
    kernel = rng.standard_normal((3, 2, channels, 5))
    bias = rng.standard_normal(5)
    for args in (((2, 1), ((1, 1), (0, 1)), (1, 2), 1), ((1, 1), ((1, 1), (0, 1)), (1, 1), 1)):
        y = fast.conv2d_forward(x, kernel, bias, *args)
        np.testing.assert_allclose(y, ref.conv2d_forward(x, kernel, bias, *args), rtol=1e-10)
        dy = rng.standard_normal(y.shape)
        for got, expected in zip(fast.conv2d_backward(dy, x, kernel, *args), ref.conv2d_backward(dy, x, kernel, *args)):
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_kept_columns_give_the_same_gradients(monkeypatch):
    """The layer's entry points: forward keeps the im2col columns, backward reuses them."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 6, 3))
    kernel = rng.standard_normal((3, 3, 3, 4))
    bias = rng.standard_normal(4)
    args = ((1, 2), ((1, 1), (1, 0)), (1, 1), 1)
    cache = KernelCache()
    y = fast.conv2d_forward(x, kernel, bias, *args, cache=cache)
    columns = cache.kept
    assert isinstance(columns, np.ndarray)
    np.testing.assert_allclose(y, fast.conv2d_forward(x, kernel, bias, *args), rtol=1e-12)
    dy = rng.standard_normal(y.shape)
    for kept, recomputed in zip(fast.conv2d_backward(dy, x, kernel, *args, cache=cache),
                                ref.conv2d_backward(dy, x, kernel, *args)):
        np.testing.assert_allclose(kept, recomputed, rtol=1e-10, atol=1e-12)
    again = KernelCache(recycled=cache)
    fast.conv2d_forward(x, kernel, bias, *args, cache=again)
    assert again.kept is columns  # the buffer is reused when its shape fits
    monkeypatch.setattr(route, "KEPT_COLUMNS_BYTES", 0)
    none_kept = KernelCache()
    fast.conv2d_forward(x, kernel, bias, *args, cache=none_kept)
    assert none_kept.kept is None
