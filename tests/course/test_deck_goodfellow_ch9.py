"""CNNs after Goodfellow et al., ch. 9 (lecture-goodfellow-ch9-cnn.txt): its worked numbers and formulas,
computed with tinyconv.

The deck's text has no slide numbers; each test names the slide by its title. Formulas use 1-based indices
(V_{l, j+m-1, k+n-1}); the code below is 0-based (V[l, j+m, k+n])."""
import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers
from tinyconv.teaching import Gabor
from tinyconv.teaching.flops import layer_cost, layer_flops, matrix_vs_convolution

from .helpers import alexnet, as_batch, built_params, conv2d

# "Convolution Operation": the 5x5 image and the kernel written as subscripts (x1 x0 x1 / x0 x1 x0 / x1 x0 x1).
IMAGE_5X5 = np.array([[1, 1, 1, 0, 0],
                      [0, 1, 1, 1, 0],
                      [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0],
                      [0, 1, 1, 0, 0]])
KERNEL_3X3 = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])


def test_convolution_operation_first_output():
    """lecture-goodfellow-ch9-cnn.txt, "Convolution Operation": S(i, j) = sum_m sum_n I(i + m, j + n) K(m, n);
    the first cell of the convolved feature is 4."""
    assert conv2d(IMAGE_5X5, KERNEL_3X3)[0, 0] == 4
    assert sum(IMAGE_5X5[m, n] * KERNEL_3X3[m, n] for m in range(3) for n in range(3)) == 4


def test_local_connectivity_and_weight_sharing_parameters():
    """lecture-goodfellow-ch9-cnn.txt, "CNN: Local Connectivity" and "CNN: Weight Sharing": 7 input units,
    3 hidden units (a width-3 window moved by 2); global connectivity 3 x 7 = 21 parameters, local 3 x 3 = 9,
    with weight sharing 3 x 1 = 3 (biases left out, as on the slides)."""
    assert built_params(layers.Dense(3, use_bias=False), (7,)) == 21
    local = layers.LocallyConnected1D(1, 3, strides=2, use_bias=False)
    assert local(np.zeros((1, 7, 1), "float32")).shape == (1, 3, 1)
    assert local.count_params() == 9
    shared = layers.Conv1D(1, 3, strides=2, use_bias=False)
    assert shared(np.zeros((1, 7, 1), "float32")).shape == (1, 3, 1)
    assert shared.count_params() == 3


def test_edge_detection_by_convolution():
    """lecture-goodfellow-ch9-cnn.txt, "Edge Detection by Convolution" / "Efficiency of Convolution": the kernel
    [-1, +1] on a 320 x 280 image (280 rows of 320) gives 319 x 280 outputs, each a pixel minus its left
    neighbour."""
    image = np.random.default_rng(0).random((280, 320))
    edges = conv2d(image, [[-1.0, 1.0]])
    assert edges.shape == (280, 319)
    np.testing.assert_allclose(edges, image[:, 1:] - image[:, :-1])


def test_efficiency_of_convolution_table():
    """lecture-goodfellow-ch9-cnn.txt, "Efficiency of Convolution": stored floats: convolution 2, dense matrix
    319*280*320*280 > 8e9, sparse matrix 2*319*280 = 178,640; float muls or adds: convolution
    319*280*3 = 267,960 (2 multiplications + 1 addition per output), dense matrix > 16e9, sparse matrix the
    same as convolution (267,960)."""
    edge = layers.Conv2D(1, (1, 2), use_bias=False)
    edge(np.zeros((1, 280, 320, 1), "float32"))
    assert edge.count_params() == 2
    assert layer_flops(edge, convention="muls_adds") == 267_960 == 319 * 280 * 3
    assert layer_cost(edge).macs == 178_640  # multiply-adds: 2 per output
    table = matrix_vs_convolution((280, 320), (1, 2))
    assert table["convolution"] == {"stored floats": 2, "operations": 267_960}
    assert table["dense matrix"]["stored floats"] == 319 * 280 * 320 * 280 > 8e9
    assert table["dense matrix"]["operations"] > 16e9
    assert table["sparse matrix"] == {"stored floats": 178_640, "operations": 267_960}


def test_the_convolution_as_a_sparse_matrix_has_two_entries_per_row():
    """lecture-goodfellow-ch9-cnn.txt, "Efficiency of Convolution": the same map written as a matrix has one
    row per output and one column per pixel, and only the kernel's 2 entries in each row are not zero
    (on a 6 x 5 image; columns found by convolving each one-pixel image)."""
    h, w = 6, 5
    columns = [conv2d(np.eye(h * w)[p].reshape(h, w), [[-1.0, 1.0]]).ravel() for p in range(h * w)]
    matrix = np.stack(columns, axis=1)
    assert matrix.shape == (h * (w - 1), h * w)
    assert np.count_nonzero(matrix) == 2 * h * (w - 1)
    assert sorted(set(matrix[matrix != 0])) == [-1.0, 1.0]
    image = np.arange(h * w, dtype=float).reshape(h, w)
    np.testing.assert_allclose(matrix @ image.ravel(), conv2d(image, [[-1.0, 1.0]]).ravel())


def test_multi_channel_convolution_formula():
    """lecture-goodfellow-ch9-cnn.txt, "Multi-channel Convolution": Z_{i,j,k} = sum_{l,m,n} V_{l,j+m-1,k+n-1}
    K_{i,l,m,n} (V channel-first, K output channel first); Conv2D stores the kernel as (m, n, l, i), channels last."""
    rng = np.random.default_rng(0)
    v, k = rng.standard_normal((3, 6, 5)), rng.standard_normal((4, 3, 2, 3))
    z = np.zeros((4, 5, 3))
    for i, j, kk in np.ndindex(z.shape):
        z[i, j, kk] = sum(v[l, j + m, kk + n] * k[i, l, m, n] for l in range(3) for m in range(2) for n in range(3))
    layer = layers.Conv2D(4, (2, 3), use_bias=False, dtype="float64")
    x = v.transpose(1, 2, 0)[None]
    layer(x)
    layer.set_weights([k.transpose(2, 3, 1, 0)])
    np.testing.assert_allclose(layer(x)[0].transpose(2, 0, 1), z, atol=1e-12)


def test_convolution_with_stride_formula():
    """lecture-goodfellow-ch9-cnn.txt, "Convolution with Stride": Z_{i,j,k} = sum_{l,m,n}
    V_{l,(j-1)s+m,(k-1)s+n} K_{i,l,m,n}: the stride-1 output sampled every s cells."""
    rng = np.random.default_rng(1)
    image, kernel = rng.standard_normal((9, 8)), rng.standard_normal((3, 2))
    for s in (2, 3):
        np.testing.assert_allclose(conv2d(image, kernel, strides=s), conv2d(image, kernel)[::s, ::s], atol=1e-12)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_zero_padding_valid_same_full(k):
    """lecture-goodfellow-ch9-cnn.txt, "Zero-padding Controls Size": valid convolution shrinks the size (by
    k - 1), same convolution keeps it (k - 1 zeros in all), full convolution pads k - 1 zeros on each side and
    every pixel is visited k times (per axis; 1-D here)."""
    n = 7
    row = np.ones((1, n))
    assert conv2d(row, np.ones((1, k))).shape == (1, n - k + 1)
    assert conv2d(row, np.ones((1, k)), padding="same").shape == (1, n)
    layer = layers.Conv2D(1, (1, k), padding=((0, 0), (k - 1, k - 1)), use_bias=False, kernel_initializer="ones",
                          dtype="float64")
    x = as_batch(row)
    layer(x)
    out = layer.forward(x, training=True)
    assert out.shape == (1, 1, n + k - 1, 1)
    visits = layer.backward(np.ones_like(out))[0, 0, :, 0]
    np.testing.assert_array_equal(visits, np.full(n, k))


def test_tiled_convolution_formula():
    """lecture-goodfellow-ch9-cnn.txt, "Tiled Convolution": Z_{i,j,k} = sum_{l,m,n} V_{l,j+m-1,k+n-1}
    K_{i, j%t, k%t, l, m, n}, t kernels cycled over the positions (TiledConv2D, tile t x t, t = 2)."""
    rng = np.random.default_rng(2)
    t = 2
    v = rng.standard_normal((5, 6, 2))  # rows, columns, channels (channels last)
    layer = layers.TiledConv2D(3, 2, tile_size=(t, t), use_bias=False, dtype="float64")
    layer(v[None])
    kernel = layer.get_weights()[0]  # (t, t, m, n, l, i)
    z = np.zeros((4, 5, 3))
    for j, kk, i in np.ndindex(z.shape):
        z[j, kk, i] = np.sum(v[j:j + 2, kk:kk + 2, :] * kernel[j % t, kk % t, :, :, :, i])
    np.testing.assert_allclose(layer(v[None])[0], z, atol=1e-12)
    assert layer.count_params() == t * t * 2 * 2 * 2 * 3  # t^2 kernels, against 1 for a convolution


@pytest.mark.parametrize("w, d", [(3, 2), (3, 3), (5, 2)])
def test_separable_kernel_cost(w, d):
    """lecture-goodfellow-ch9-cnn.txt, "Efficient Convolution Algorithms": a d-dimensional separable kernel
    (outer product of d vectors) is d one-dimensional convolutions; complexity O(w^d) -> O(wd). Checked in 3-D
    with Conv3D (d = 3) or 2-D (d = 2): the same output, w^d against d * w multiply-adds per output."""
    rng = np.random.default_rng(3)
    vectors = [rng.standard_normal(w) for _ in range(d)]
    full_kernel = vectors[0]
    for vector in vectors[1:]:
        full_kernel = np.multiply.outer(full_kernel, vector)
    conv = layers.Conv3D if d == 3 else layers.Conv2D
    x = rng.standard_normal((1,) + (w + 4,) * d + (1,))

    def run(kernel):
        layer = conv(1, kernel.shape, use_bias=False, dtype="float64")
        layer(x if kernel is full_kernel else np.zeros((1,) + (w + 4,) * d + (1,)))
        layer.set_weights([kernel[..., None, None]])
        return layer

    full = run(full_kernel)
    passes = [run(vector.reshape([w if a == axis else 1 for a in range(d)])) for axis, vector in enumerate(vectors)]
    y = x
    for layer in passes:
        y = layer(y)
    np.testing.assert_allclose(full(x), y, atol=1e-10)
    per_output = lambda layer: layer_cost(layer).macs // int(np.prod(layer.output_shape[1:]))  # noqa: E731
    assert per_output(full) == w ** d
    assert sum(per_output(layer) for layer in passes) == d * w


def test_pooling_functions():
    """lecture-goodfellow-ch9-cnn.txt, "Pooling": maximum, average, L2 norm, weighted average by distance from
    the centre, log-sum-exp y = log sum_i e^{x_i} of a rectangular neighbourhood; pooling width 3, stride 2;
    inputs of varying size."""
    window = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [1.0, 3.0, 0.25]])
    x = as_batch(window)

    def pooled(layer):
        return float(np.asarray(layer(x))[0, 0, 0, 0])

    assert pooled(layers.MaxPooling2D(3, dtype="float64")) == 3.0
    assert pooled(layers.AveragePooling2D(3, dtype="float64")) == pytest.approx(window.mean())
    assert pooled(layers.LpPooling2D(3, p=2, dtype="float64")) == pytest.approx(np.sqrt(np.sum(window ** 2)))
    assert pooled(layers.LogSumExpPooling2D(3, dtype="float64")) == pytest.approx(np.log(np.sum(np.exp(window))))
    distance2 = np.add.outer(np.arange(-1, 2) ** 2, np.arange(-1, 2) ** 2)
    g = np.exp(-distance2 / 2.0)
    weighted = layers.WeightedPooling2D(3, sigma=1.0, dtype="float64")
    assert pooled(weighted) == pytest.approx(np.sum(g * window) / g.sum())
    assert layers.MaxPooling2D(3, strides=2)(np.zeros((1, 9, 9, 1), "float32")).shape == (1, 4, 4, 1)
    pool = layers.GlobalMaxPooling2D()
    assert pool(np.zeros((1, 9, 9, 4), "float32")).shape == pool(np.zeros((1, 13, 6, 4), "float32")).shape == (1, 4)


def test_normalization_formulas():
    """lecture-goodfellow-ch9-cnn.txt, "Normalization": batch norm mu_B = (1/m) sum x_i,
    sigma_B^2 = (1/m) sum (x_i - mu_B)^2, x_hat = (x - mu_B) / sqrt(sigma_B^2 + eps) per channel over the batch;
    layer, instance and group norm take the same statistics over other axes."""
    x = np.random.default_rng(4).standard_normal((4, 5, 3, 6))
    eps = 1e-3

    def normalised(axes):
        return (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)

    batch = layers.BatchNormalization(epsilon=eps, dtype="float64")(x, training=True)
    np.testing.assert_allclose(batch, normalised((0, 1, 2)), atol=1e-10)
    layer_norm = layers.LayerNormalization(axis=[1, 2, 3], epsilon=eps, dtype="float64")(x)
    np.testing.assert_allclose(layer_norm, normalised((1, 2, 3)), atol=1e-10)
    instance = layers.GroupNormalization(groups=6, epsilon=eps, dtype="float64")(x)
    np.testing.assert_allclose(instance, normalised((1, 2)), atol=1e-10)
    grouped = layers.GroupNormalization(groups=2, epsilon=eps, dtype="float64")(x)
    by_group = x.reshape(4, 5, 3, 2, 3)
    expected = ((by_group - by_group.mean(axis=(1, 2, 4), keepdims=True))
                / np.sqrt(by_group.var(axis=(1, 2, 4), keepdims=True) + eps)).reshape(x.shape)
    np.testing.assert_allclose(grouped, expected, atol=1e-10)


def test_gabor_formula():
    """lecture-goodfellow-ch9-cnn.txt, "Gabor Model for the Receptive Field of V1 Cell":
    w = alpha exp(-beta_x x'^2 - beta_y y'^2) cos(f x' + phi), x' = (x - x0) cos(tau) + (y - y0) sin(tau),
    y' = -(x - x0) sin(tau) + (y - y0) cos(tau); tinyconv's Gabor with alpha = 1, (x0, y0) the kernel's centre,
    beta_x = 1 / (2 sigma^2), beta_y = gamma^2 / (2 sigma^2), f = 2 pi / lambd, phi = psi, tau = theta."""
    sigma, theta, lambd, gamma, psi = 1.5, 0.6, 3.0, 0.7, 0.4
    kernel = Gabor(sigma=sigma, theta=theta, lambd=lambd, gamma=gamma, psi=psi)((7, 7, 1, 1))[:, :, 0, 0]
    y, x = np.meshgrid(np.arange(7) - 3.0, np.arange(7) - 3.0, indexing="ij")
    x_rot = x * np.cos(theta) + y * np.sin(theta)
    y_rot = -x * np.sin(theta) + y * np.cos(theta)
    beta_x, beta_y, f = 1 / (2 * sigma ** 2), gamma ** 2 / (2 * sigma ** 2), 2 * np.pi / lambd
    np.testing.assert_allclose(kernel, np.exp(-beta_x * x_rot ** 2 - beta_y * y_rot ** 2) * np.cos(f * x_rot + psi),
                               atol=1e-6)


def test_alexnet_hidden_layers_units_and_parameters():
    """lecture-goodfellow-ch9-cnn.txt, "AlexNet": 7 hidden layers, 650,000 units, 60,000,000 params. With the
    paper's two-GPU grouping (groups=2 in conv2, conv4, conv5) on a 227x227 input: 7 hidden weighted layers
    (5 convolutions, 2 fully connected), 659,272 units in the weighted layers (about 650,000), 60,965,224
    parameters."""
    model = alexnet()
    weighted = [layer for layer in model.layers if layer.count_params()]
    assert len(weighted) - 1 == 7  # the last one is the output layer
    units = sum(int(np.prod(layer.output_shape[1:])) for layer in weighted)
    assert units == 659_272 and abs(units - 650_000) / 650_000 < 0.015
    assert model.count_params() == 60_965_224 and round(model.count_params(), -7) == 60_000_000


def test_yolo_prediction_vector():
    """lecture-goodfellow-ch9-cnn.txt, "YOLO (You Only Look Once)": S x S x (B x 5 + C), e.g. 7 x 7 x (2 x 5 + 20)
    = 7 x 7 x 30 = 1470 numbers; a 1x1 convolution head on a 7x7 map makes that tensor."""
    s, b, c = 7, 2, 20
    head = keras.Sequential([keras.Input((s, s, 1024)), layers.Conv2D(b * 5 + c, 1)])
    assert head.output_shape == (None, 7, 7, 30)
    assert int(np.prod(head.output_shape[1:])) == 1470
