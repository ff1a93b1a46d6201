"""conv2d_backward / conv3d_backward(..., input_gradient=False / kernel_gradient=False): the other gradient is
None and the asked one is unchanged, in every kernel set (a transposed convolution relies on it)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyconv.kernels import cpu, gpu, reference

KERNEL_SETS = {"reference": reference, "cpu": cpu, "gpu (NumPy)": gpu}


@st.composite
def problems(draw):
    groups = draw(st.sampled_from([1, 2]))
    channels, filters = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = ((draw(st.integers(0, 2)), draw(st.integers(0, 2))), (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    height, width = draw(st.integers(kh, 7)), draw(st.integers(kw, 7))
    out_h = (height + sum(pads[0]) - kh) // strides[0] + 1
    out_w = (width + sum(pads[1]) - kw) // strides[1] + 1
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.integers(1, 3))
    return dict(dy=rng.standard_normal((n, out_h, out_w, filters)), x=rng.standard_normal((n, height, width, channels)),
                kernel=rng.standard_normal((kh, kw, channels // groups, filters)), strides=strides, pads=pads,
                dilation=(1, 1), groups=groups)


@pytest.mark.parametrize("name", KERNEL_SETS)
@settings(max_examples=25, deadline=None)
@given(problem=problems())
def test_each_gradient_alone_equals_the_full_backward(name, problem):
    kernels = KERNEL_SETS[name]
    args = [problem[k] for k in ("dy", "x", "kernel", "strides", "pads", "dilation", "groups")]
    dx, dkernel, dbias = kernels.conv2d_backward(*args)
    only_dx = kernels.conv2d_backward(*args, kernel_gradient=False)
    only_dkernel = kernels.conv2d_backward(*args, input_gradient=False)
    assert only_dx[1] is None and only_dkernel[0] is None
    np.testing.assert_allclose(only_dx[0], dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(only_dkernel[1], dkernel, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(only_dx[2], dbias, rtol=1e-12)


@pytest.mark.parametrize("name", KERNEL_SETS)
def test_conv3d_each_gradient_alone_equals_the_full_backward(name):
    kernels = KERNEL_SETS[name]
    rng = np.random.default_rng(7)
    x, kernel = rng.standard_normal((2, 4, 5, 3, 4)), rng.standard_normal((2, 3, 2, 2, 6))
    args = (rng.standard_normal((2, 3, 2, 2, 6)), x, kernel, (1, 2, 1), ((0, 0), (0, 0), (0, 0)), (1, 1, 1), 2)
    dx, dkernel, dbias = kernels.conv3d_backward(*args)
    only_dx = kernels.conv3d_backward(*args, kernel_gradient=False)
    only_dkernel = kernels.conv3d_backward(*args, input_gradient=False)
    assert only_dx[1] is None and only_dkernel[0] is None
    np.testing.assert_allclose(only_dx[0], dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(only_dkernel[1], dkernel, rtol=1e-12, atol=1e-12)
