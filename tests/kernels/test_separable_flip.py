"""Spatially separable convolution (two 1-D passes) and true convolution vs cross-correlation."""
import numpy as np
import pytest

from tinyconv.kernels.reference import conv as ref_conv
from tinyconv.kernels.reference.flip import convolve2d, cross_correlate2d, flip_kernel, true_convolution2d
from tinyconv.kernels.reference.separable import factor_kernel, separable_conv2d, separable_cost

SOBEL_X = np.array([[1, 0, -1],
                    [2, 0, -2],
                    [1, 0, -1]], dtype=np.float64)


# --- spatially separable convolution ------------------------------------------------------


def test_sobel_factors_into_smoothing_column_and_derivative_row():
    column, row = factor_kernel(SOBEL_X)
    np.testing.assert_allclose(np.outer(column, row), SOBEL_X, atol=1e-12)
    # Up to a scale shared between the two: [1, 2, 1]^T and [1, 0, -1].
    np.testing.assert_allclose(column / column[0], [1, 2, 1], atol=1e-12)
    np.testing.assert_allclose(row / row[0], [1, 0, -1], atol=1e-12)


def test_two_sobel_passes_equal_the_2d_sobel_convolution():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 8, 3))
    full_kernel = np.repeat(SOBEL_X[:, :, None, None], 3, axis=3)  # the same Sobel on each channel
    expected = ref_conv.conv2d_forward(x, full_kernel, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 3)
    two_passes = separable_conv2d(x, [1, 2, 1], [1, 0, -1])
    np.testing.assert_allclose(two_passes, expected, atol=1e-12)


@pytest.mark.parametrize("strides, pads, dilation", [((2, 1), ((1, 1), (0, 2)), (1, 1)),
                                                     ((1, 3), ((0, 1), (1, 1)), (2, 1))])
def test_two_passes_match_with_strides_padding_and_dilation(strides, pads, dilation):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 11, 10, 2))
    column, row = rng.standard_normal(4), rng.standard_normal(3)
    full_kernel = np.repeat(np.outer(column, row)[:, :, None, None], 2, axis=3)
    expected = ref_conv.conv2d_forward(x, full_kernel, None, strides, pads, dilation, 2)
    np.testing.assert_allclose(separable_conv2d(x, column, row, strides, pads, dilation), expected, atol=1e-12)


def test_separable_cost_counts_multiplications_per_pixel():
    assert separable_cost(SOBEL_X.shape) == {"full": 9, "separable": 6}
    assert separable_cost(7) == {"full": 49, "separable": 14}
    assert separable_cost((5, 1)) == {"full": 5, "separable": 6}  # a 1-D kernel gains nothing
    with pytest.raises(ValueError, match="positive kernel shape"):
        separable_cost((0, 3))


def test_random_rank1_kernel_roundtrips_and_full_rank_kernel_is_refused():
    rng = np.random.default_rng(2)
    column, row = rng.standard_normal(5), rng.standard_normal(3)
    got_column, got_row = factor_kernel(np.outer(column, row))
    np.testing.assert_allclose(np.outer(got_column, got_row), np.outer(column, row), atol=1e-12)
    with pytest.raises(ValueError, match="not rank 1"):
        factor_kernel(rng.standard_normal((3, 3)))
    # A rank-1 kernel plus noise: refused at a strict tolerance, accepted at a loose one.
    noisy = np.outer(column, row) + 1e-4 * rng.standard_normal((5, 3))
    with pytest.raises(ValueError, match="not rank 1"):
        factor_kernel(noisy, tol=1e-8)
    approx_column, approx_row = factor_kernel(noisy, tol=1e-2)
    np.testing.assert_allclose(np.outer(approx_column, approx_row), noisy, atol=1e-3)
    with pytest.raises(ValueError, match="2-D kernel"):
        factor_kernel(np.ones(3))


# --- true convolution vs cross-correlation --------------------------------------------------

# The dl1 lecture's numerical example: a 5x5 input, a 3x3 weight, stride 1, no padding.
LECTURE_INPUT = np.array([[3, 3, 2, 1, 0],
                          [0, 0, 1, 3, 1],
                          [3, 1, 2, 2, 3],
                          [2, 0, 0, 2, 2],
                          [2, 0, 0, 0, 1]], dtype=np.float64)
LECTURE_WEIGHT = np.array([[0, 1, 2],
                           [2, 2, 0],
                           [0, 1, 2]], dtype=np.float64)
LECTURE_OUTPUT = np.array([[12, 12, 17],
                           [10, 17, 19],
                           [9, 6, 14]], dtype=np.float64)


def test_lecture_example_is_a_cross_correlation():
    np.testing.assert_array_equal(cross_correlate2d(LECTURE_INPUT, LECTURE_WEIGHT), LECTURE_OUTPUT)
    # The true convolution flips the weight and gives other numbers (its top-left cell:
    # sum of x[p, q] * w[2-p, 2-q] = 3*2 + 3*1 + 2*0 + 0*0 + 0*2 + 1*2 + 3*2 + 1*1 + 2*0 = 18).
    flipped = convolve2d(LECTURE_INPUT, LECTURE_WEIGHT)
    assert flipped[0, 0] == 18
    assert not np.array_equal(flipped, LECTURE_OUTPUT)
    np.testing.assert_array_equal(flipped, cross_correlate2d(LECTURE_INPUT, flip_kernel(LECTURE_WEIGHT)))


def test_asymmetric_kernel_differs_and_symmetric_kernel_agrees():
    rng = np.random.default_rng(3)
    image = rng.standard_normal((6, 7))
    asymmetric = SOBEL_X  # flipping it negates it
    np.testing.assert_allclose(convolve2d(image, asymmetric), -cross_correlate2d(image, asymmetric))
    assert np.abs(convolve2d(image, asymmetric) - cross_correlate2d(image, asymmetric)).max() > 0.1
    symmetric = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64)  # unchanged by the flip
    np.testing.assert_allclose(convolve2d(image, symmetric), cross_correlate2d(image, symmetric))
    assert true_convolution2d is convolve2d


def test_full_convolution_is_commutative_and_matches_scipy():
    signal = pytest.importorskip("scipy.signal", reason="scipy is the oracle for the true convolution")
    rng = np.random.default_rng(4)
    image, kernel = rng.standard_normal((5, 6)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(convolve2d(image, kernel, "full"), convolve2d(kernel, image, "full"), atol=1e-12)
    np.testing.assert_allclose(convolve2d(image, kernel, "full"), signal.convolve2d(image, kernel, "full"),
                               atol=1e-12)
    np.testing.assert_allclose(convolve2d(image, kernel), signal.convolve2d(image, kernel, "valid"), atol=1e-12)
    np.testing.assert_allclose(cross_correlate2d(image, kernel), signal.correlate2d(image, kernel, "valid"),
                               atol=1e-12)
    with pytest.raises(ValueError, match="mode"):
        convolve2d(image, kernel, "same")
