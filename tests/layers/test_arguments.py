"""The layers' argument rules (tinyconv/layers/arguments.py), the same for every layer, as Keras has them."""
import ast
import re

import numpy as np
import pytest

from tinyconv import geometry, layers
from tinyconv.layers import arguments

ME = "Conv2D 'c'"


# --- as_tuple ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, rank, expected", [
    (3, 2, (3, 3)), ((3, 5), 2, (3, 5)), ([2], 1, (2,)), (np.int64(4), 3, (4, 4, 4)),
    ((np.int32(1), 2, 3), 3, (1, 2, 3)),
])
def test_as_tuple_accepts_an_int_or_a_sequence_of_ints(value, rank, expected):
    result = arguments.as_tuple(value, rank, "kernel_size", ME)
    assert result == expected and all(type(v) is int for v in result)


@pytest.mark.parametrize("value, expected", [(True, (1, 1)), ((True, 2), (1, 2)), ((2, np.bool_(True)), (2, 1))])
def test_as_tuple_counts_a_bool_as_an_int_as_keras_does(value, expected):
    result = arguments.as_tuple(value, 2, "kernel_size", ME)
    assert result == expected and all(type(v) is int for v in result)


def test_as_tuple_refuses_false_as_not_positive():
    with pytest.raises(ValueError, match=r"Conv2D 'c': kernel_size must be positive, got False"):
        arguments.as_tuple(False, 2, "kernel_size", ME)


@pytest.mark.parametrize("value", [(3,), (3, 3, 3), 2.0, (2, 2.5), "3", None])
def test_as_tuple_refuses_other_forms_naming_the_expected_and_received(value):
    with pytest.raises(ValueError, match=r"Conv2D 'c': strides must be an int or a tuple of 2 ints, got "
                                         + re.escape(repr(value))):
        arguments.as_tuple(value, 2, "strides", ME)


def test_as_tuple_refuses_sizes_below_the_minimum():
    with pytest.raises(ValueError, match=r"Conv2D 'c': strides must be positive, got \(1, 0\)"):
        arguments.as_tuple((1, 0), 2, "strides", ME)
    assert arguments.as_tuple(0, 2, "cropping", ME, minimum=0) == (0, 0)
    with pytest.raises(ValueError, match=r"cropping must be >= 0, got -1"):
        arguments.as_tuple(-1, 2, "cropping", ME, minimum=0)


# --- modes, filters, groups, strides with dilation ----------------------------------------------------


def test_padding_is_a_mode_name_case_insensitive():
    assert arguments.check_padding("SAME", ME) == "same"
    assert arguments.check_padding("Causal", ME, ("valid", "same", "causal")) == "causal"
    with pytest.raises(ValueError, match=r"Conv2D 'c': padding must be 'valid' or 'same', got 'causal'"):
        arguments.check_padding("causal", ME)
    with pytest.raises(ValueError, match=r"padding must be 'valid', 'same' or 'causal', got 1"):
        arguments.check_padding(1, ME, ("valid", "same", "causal"))


def test_data_format_defaults_to_the_backend_and_refuses_other_names():
    assert arguments.check_data_format(None, ME) == "channels_last"
    assert arguments.check_data_format("channels_first", ME) == "channels_first"
    with pytest.raises(ValueError, match=r"Conv2D 'c': data_format must be 'channels_last' or 'channels_first', "
                                         r"got 'NCHW'"):
        arguments.check_data_format("NCHW", ME)


def test_filters_and_groups():
    assert arguments.check_filters(np.int64(4), ME) == 4
    assert arguments.check_filters(True, ME) == 1      # Keras's rule: a bool is an int
    for bad in (0, -1, 2.0, False):
        with pytest.raises(ValueError, match=rf"Conv2D 'c': filters must be a positive integer, got {bad!r}"):
            arguments.check_filters(bad, ME)
    assert arguments.check_groups(2, 4, ME) == 2
    for bad in (3, 0, False):
        with pytest.raises(ValueError, match=r"groups must be a positive integer dividing filters=4"):
            arguments.check_groups(bad, 4, ME)


def test_strides_above_one_with_dilation_above_one_are_refused():
    arguments.check_strides_with_dilation((2, 1), (1, 1), ME)
    arguments.check_strides_with_dilation((1, 1), (2, 3), ME)
    with pytest.raises(ValueError, match=r"Conv2D 'c': strides > 1 is not supported together with "
                                         r"dilation_rate > 1, got strides=\(2, 1\) and dilation_rate=\(1, 2\)"):
        arguments.check_strides_with_dilation((2, 1), (1, 2), ME)


# --- the channel axis ---------------------------------------------------------------------------------


def test_channel_moves_are_inverse_for_any_rank():
    for shape in [(2, 3, 5), (2, 3, 4, 5), (2, 3, 4, 5, 6)]:
        x = np.arange(np.prod(shape)).reshape(shape)
        last = arguments.to_channels_last(x, "channels_first")
        assert last.shape == shape[:1] + shape[2:] + shape[1:2] and last.flags.c_contiguous
        np.testing.assert_array_equal(arguments.from_channels_last(last, "channels_first"), x)
        assert arguments.shape_to_channels_last((None,) + shape[1:], "channels_first") == \
            (None,) + shape[2:] + shape[1:2]
        assert arguments.shape_from_channels_last(last.shape, "channels_first") == shape
        assert arguments.to_channels_last(x, "channels_last") is x


def test_input_layout_names_the_axes(fresh_names):
    assert arguments.input_layout(1) == "(batch, steps, channels)"
    assert arguments.input_layout(3, "channels_first") == "(batch, channels, depth, height, width)"
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': expected input of rank 4 "
                                         r"\(batch, channels, height, width\), got shape \(None, 3, 5\)"):
        layers.Conv2D(2, 3, data_format="channels_first")(np.zeros((1, 3, 5)))


# --- every layer follows them -------------------------------------------------------------------------


def test_conv2d_refuses_strides_with_dilation_like_conv1d_and_conv3d():
    for cls, rank in ((layers.Conv1D, 1), (layers.Conv2D, 2), (layers.Conv3D, 3)):
        with pytest.raises(ValueError, match=r"strides > 1 is not supported together with dilation_rate > 1"):
            cls(2, 3, strides=2, dilation_rate=2)
        cls(2, 3, strides=(1,) * rank, dilation_rate=2)   # either one alone is fine
        cls(2, 3, strides=2, dilation_rate=1)
    with pytest.raises(ValueError, match=r"strides > 1 is not supported together with dilation_rate > 1"):
        layers.Conv2DTranspose(2, 3, strides=2, dilation_rate=2)
    # Keras's depthwise convolutions accept the pair (the kernels compute it), and so do ours.
    layers.DepthwiseConv2D(3, strides=2, dilation_rate=2)
    layers.SeparableConv2D(2, 3, strides=2, dilation_rate=2)


@pytest.mark.parametrize("make, argument", [
    (lambda: layers.Conv1D(2, kernel_size=True), "kernel_size"),
    (lambda: layers.Conv2D(2, kernel_size=True), "kernel_size"),
    (lambda: layers.Conv3D(2, kernel_size=True), "kernel_size"),
    (lambda: layers.Conv2D(2, 3, strides=(1, True)), "strides"),
    (lambda: layers.Conv2DTranspose(2, kernel_size=True), "kernel_size"),
    (lambda: layers.DepthwiseConv2D(kernel_size=True), "kernel_size"),
    (lambda: layers.SeparableConv2D(2, kernel_size=True), "kernel_size"),
    (lambda: layers.LocallyConnected1D(2, kernel_size=True), "kernel_size"),
    (lambda: layers.LocallyConnected2D(2, kernel_size=True), "kernel_size"),
    (lambda: layers.TiledConv2D(2, 3, tile_size=True), "tile_size"),
    (lambda: layers.MaxPooling1D(pool_size=True), "pool_size"),
    (lambda: layers.MaxPooling2D(pool_size=True), "pool_size"),
    (lambda: layers.AveragePooling2D(pool_size=2, strides=True), "strides"),
    (lambda: layers.MaxPooling3D(pool_size=True), "pool_size"),
    (lambda: layers.MinPooling2D(pool_size=True), "pool_size"),
    (lambda: layers.UpSampling2D(size=True), "size"),
])
def test_a_bool_size_follows_one_rule_in_every_layer(make, argument, fresh_names):
    """Keras's rule everywhere (Conv2D and MaxPooling2D used to accept True where Conv1D refused it):
    True is a size of 1, stored as the int."""
    values = getattr(make(), argument)
    assert all(type(v) is int for v in values) and 1 in values


@pytest.mark.parametrize("make", [lambda: layers.Conv1D(2, kernel_size=False), lambda: layers.Conv2D(2, kernel_size=False),
                                  lambda: layers.MaxPooling2D(pool_size=False)])
def test_a_false_size_is_refused_by_every_layer(make, fresh_names):
    with pytest.raises(ValueError, match=r"must be positive, got False"):
        make()


def test_padding_errors_are_the_same_everywhere(fresh_names):
    for make in (lambda: layers.Conv2D(2, 3, padding="full"), lambda: layers.Conv3D(2, 3, padding="causal"),
                 lambda: layers.DepthwiseConv2D(3, padding="full"), lambda: layers.MaxPooling2D(padding=2),
                 lambda: layers.AveragePooling3D(2, padding="full"), lambda: layers.Conv1DTranspose(2, 3, padding="x"),
                 lambda: layers.DepthwiseConv2D(3, padding=1)):
        with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same', got"):
            make()
    with pytest.raises(ValueError, match=r"padding must be 'valid', 'same' or 'causal', got 'full'"):
        layers.Conv1D(2, 3, padding="full")
    assert layers.Conv2D(2, 3, padding="SAME").padding == "same"


def test_conv1d_2d_3d_are_one_class_with_conv2d_kept_on_the_cached_path():
    from tinyconv.layers.conv import _ConvND

    assert all(issubclass(cls, _ConvND) for cls in (layers.Conv1D, layers.Conv2D, layers.Conv3D))
    assert (layers.Conv1D.rank, layers.Conv2D.rank, layers.Conv3D.rank) == (1, 2, 3)
    assert layers.Convolution2D is layers.Conv2D


@pytest.mark.parametrize("cls, shape", [(layers.Conv1D, (2, 7, 3)), (layers.Conv2D, (2, 6, 5, 3)),
                                        (layers.Conv3D, (2, 4, 5, 4, 3))])
def test_every_conv_skips_the_input_gradient_nobody_reads(cls, shape, kernel_set):
    """One backward path for the three: dL/dx is None when not needed, dL/dW unchanged."""
    layer = cls(4, 2, padding="same", activation="relu", dtype="float64")
    layer.build_for((None,) + shape[1:])
    x = np.random.default_rng(0).standard_normal(shape)
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx = layer.backward(dy)
    full = {name: grad.copy() for name, grad in layer.grads.items()}
    layer.forward(x, training=True)
    assert dx.shape == x.shape and layer.backward(dy, need_input_gradient=False) is None
    for name, grad in layer.grads.items():
        np.testing.assert_allclose(grad, full[name], rtol=1e-12)


def test_geometry_is_a_leaf():
    """Kernels and layers import tinyconv/geometry.py; it imports nothing, so no cycle can form."""
    tree = ast.parse(open(geometry.__file__).read())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_convolutions_also_take_the_lectures_explicit_padding(fresh_names):
    """Keras takes only 'valid'/'same'; the course's P (an int, or per axis) is an option on top."""
    x = np.random.default_rng(0).random((2, 5, 6, 3)).astype("float32")
    explicit = layers.Conv2D(4, 3, padding=1)
    same = layers.Conv2D(4, 3, padding="same")
    expected = same(x)
    explicit(x)                                   # (builds it)
    explicit.set_weights(same.get_weights())
    assert explicit.padding == ((1, 1), (1, 1))
    np.testing.assert_allclose(explicit(x), expected, rtol=1e-6)
    assert layers.Conv2D(4, 3, padding=((0, 2), 1)).compute_output_shape((None, 5, 6, 3)) == (None, 5, 6, 4)
    assert layers.Conv1D(2, 3, padding=(2, 0)).compute_output_shape((None, 7, 1)) == (None, 7, 2)
    assert layers.Conv3D(2, 3, padding=1).compute_output_shape((None, 4, 4, 4, 1)) == (None, 4, 4, 4, 2)
    for bad in (-1, (1, 2, 3), ((1, 2, 3), 0), 1.5):
        with pytest.raises(ValueError, match=r"Conv2D '[a-z0-9_]+': explicit padding must be a non-negative int"):
            layers.Conv2D(2, 3, padding=bad)
