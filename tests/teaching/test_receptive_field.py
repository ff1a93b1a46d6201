"""The receptive-field calculator against what backprop says one output cell depends on."""
import io

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers, teaching
from tinyconv.teaching import conv_cost, receptive_field, receptive_field_of


def influence_box(model, out_cell):
    """Rows and columns of the input that reach output cell (i, j), channel 0: backprop a one-hot."""
    input_shape = (1,) + tuple(model.input_shape[1:])
    x = np.random.default_rng(0).random(input_shape)
    y = model.predict_on_batch(x)
    seed = np.zeros_like(y)
    seed[(0,) + tuple(out_cell) + (0,)] = 1.0
    dx = model._run_backward([seed], [False])[0]
    rows, cols = np.nonzero(np.abs(dx[0]).sum(axis=-1))
    return (rows.min(), rows.max()), (cols.min(), cols.max())


def positive_model(specs, size=40):
    """Linear layers with positive weights: no cancellation, so every input in the field shows up."""
    model = keras.Sequential([keras.Input((size, size, 1))])
    for kind, kwargs in specs:
        if kind == "conv":
            model.add(layers.Conv2D(2, kernel_initializer="ones", dtype="float64", **kwargs))
        elif kind == "pool":
            model.add(layers.AveragePooling2D(dtype="float64", **kwargs))
        else:
            model.add(layers.Conv2DTranspose(2, kernel_initializer="ones", dtype="float64", **kwargs))
    return model


def test_three_3x3_convolutions_see_7x7_for_27_instead_of_49_c_squared():
    rf = receptive_field([(3, 1, 1, 0)] * 3)
    assert [row["receptive_field"] for row in rf.as_dict()["layers"]] == [3, 5, 7]
    assert rf.size == 7 and rf.jump == 1
    assert receptive_field([(7, 1, 1, 0)]).size == 7
    assert conv_cost(7, 1) == 49 and conv_cost(3, 1, layers=3) == 27
    assert conv_cost(3, 64, layers=3) == 27 * 64 ** 2
    out = io.StringIO()
    text = rf.explain(print_fn=lambda s: out.write(s))
    assert "r_3 = r_2 + (k - 1) * d * j_2 = 5 + (3 - 1) * 1 * 1 = 7" in text and out.getvalue() == text


def test_strides_dilation_and_dict_specs():
    rf = receptive_field([{"kernel": 3, "stride": 2}, {"kernel": 3, "dilation": 2}, (2, 2)])
    # 1 + 2*1 = 3, j 2; 3 + 2*2*2 = 11, j 2; 11 + 1*2 = 13, j 4
    assert rf.size == 13 and rf.jump == 4
    two_d = receptive_field([((3, 5), 1), ((2, 2), (2, 2))])
    assert two_d.size == (4, 6) and two_d.jump == (2, 2)
    with pytest.raises(ValueError, match="input_size"):
        receptive_field([(3, 2, 1, "same")])
    # N=8, s=2, k=3: 'same' pads 1 in total, 0 before, so cell 0's field is centred on pixel 1
    assert receptive_field([(3, 2, 1, "same")], input_size=8).start == 1
    assert receptive_field([(3, 2, 1, "same")], input_size=7).start == 0  # pads 1 before


CASES = [
    [("conv", {"kernel_size": 3})] * 3,
    [("conv", {"kernel_size": (3, 5), "strides": 2}), ("pool", {"pool_size": 2}),
     ("conv", {"kernel_size": 3, "dilation_rate": 2})],
    [("conv", {"kernel_size": 4, "strides": 3, "padding": "same"}), ("pool", {"pool_size": 3, "strides": 2}),
     ("conv", {"kernel_size": 2, "padding": "same"})],
]


@pytest.mark.parametrize("specs", CASES)
def test_computed_field_equals_the_region_backprop_reaches(specs):
    model = positive_model(specs)
    rf = receptive_field_of(model)
    r, j, start = rf.size, rf.jump, rf.start
    out_h, out_w = model.output_shape[1:3]
    for cell in [(out_h // 2, out_w // 2), (out_h // 2 + 1, out_w // 2 - 1)]:
        box = influence_box(model, cell)
        for axis in range(2):
            centre = start[axis] + cell[axis] * j[axis]
            expected = (centre - (r[axis] - 1) / 2, centre + (r[axis] - 1) / 2)
            assert box[axis] == pytest.approx(expected), (axis, cell, str(rf))


def test_transposed_convolution_field_is_the_largest_over_output_cells():
    model = positive_model([("transposed", {"kernel_size": 3, "strides": 2})], size=6)
    rf = receptive_field_of(model)
    sizes = {tuple(hi - lo + 1 for lo, hi in influence_box(model, (i, i))) for i in range(2, 9)}
    assert max(s[0] for s in sizes) == rf.size[0] == 2 and rf.jump == (0.5, 0.5)


def test_summary_columns_and_unchanged_default(fresh_names):
    model = keras.Sequential([keras.Input((12, 12, 1)), layers.Conv2D(4, 3), layers.ReLU(), layers.Conv2D(4, 3),
                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(2)])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Receptive field" not in lines[0] and "FLOPs" not in lines[0]
    assert lines[0].splitlines()[1] == "┏" + "━" * 34 + "┳" + "━" * 25 + "┳" + "━" * 17 + "┓"
    teaching.summary(model, print_fn=lines.append)
    text = lines[1]
    assert "Receptive field" in text and "Jump" in text and "FLOPs" in text
    assert text.splitlines()[1].startswith(lines[0].splitlines()[1][:-1])  # Keras's columns, then the new ones
    row = next(line for line in text.splitlines() if line.startswith("│ conv2d_1"))
    assert "5x5" in row and f"{2 * 8 * 8 * 9 * 4 * 4:,}" in row
    relu_row = next(line for line in text.splitlines() if line.startswith("│ re_lu"))
    assert "3x3" in relu_row
    assert "whole input" in next(line for line in text.splitlines() if line.startswith("│ dense"))
    assert text.splitlines()[-3:] == lines[0].splitlines()[-3:]  # the same parameter counts


def test_summary_columns_one_at_a_time_and_only_for_chains(fresh_names):
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)])
    lines = []
    teaching.summary(model, receptive_field=False, print_fn=lines.append)
    assert "FLOPs" in lines[0] and "Receptive field" not in lines[0]
    teaching.summary(model, flops=False, print_fn=lines.append)
    assert "Receptive field" in lines[1] and "FLOPs" not in lines[1]
    with pytest.raises(TypeError):
        model.summary(show_receptive_field=True)  # the teaching columns are teaching.summary's now

    inputs = keras.Input((8, 8, 1))
    branching = keras.Model(inputs, layers.Add()([layers.Conv2D(1, 3, padding="same")(inputs), inputs]))
    with pytest.raises(ValueError, match="chain of layers"):
        teaching.summary(branching, print_fn=lines.append)
