"""Weight constraints (keras.constraints): Keras's numbers and configs, the layer arguments that take them,
and the projection after every optimizer step (in fit and in a custom loop), with Keras 3 as the oracle."""
import doctest
import json
import os

import numpy as np
import pytest

import tinyconv
from tinyconv import constraints, layers

os.environ.setdefault("KERAS_BACKEND", "torch")


def _keras():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
    if keras.backend.backend() != "torch":
        pytest.skip(f"these tests expect KERAS_BACKEND=torch, got {keras.backend.backend()!r}")
    return keras


CASES = [("MaxNorm", {}), ("MaxNorm", {"max_value": 0.7, "axis": [0, 1, 2]}), ("MaxNorm", {"max_value": 3, "axis": 3}),
         ("MinMaxNorm", {}), ("MinMaxNorm", {"min_value": 0.5, "max_value": 0.9, "rate": 0.4, "axis": [0, 1]}),
         ("UnitNorm", {}), ("UnitNorm", {"axis": [0, 1, 2]}), ("NonNeg", {})]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_projection_and_config_equal_keras(name, kwargs, dtype):
    keras = _keras()
    w = np.random.default_rng(0).normal(scale=0.6, size=(3, 3, 4, 5)).astype(dtype)
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    got = ours(w)
    expected = keras.ops.convert_to_numpy(theirs(keras.ops.convert_to_tensor(w)))
    assert got.dtype == w.dtype and got.shape == w.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == "float32" else 1e-12, atol=1e-7)
    assert ours.get_config() == theirs.get_config()
    assert json.loads(json.dumps(constraints.serialize(ours))) == json.loads(
        json.dumps(keras.constraints.serialize(theirs)))


def test_get_and_deserialize():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("NonNeg"), constraints.NonNeg)
    assert isinstance(constraints.get(constraints.UnitNorm), constraints.UnitNorm)
    assert constraints.get(None) is None
    clip = constraints.get(lambda w: np.clip(w, -1, 1))   # a plain function is a constraint too
    np.testing.assert_array_equal(clip(np.array([-3.0, 2.0])), [-1.0, 1.0])
    entry = {"module": "keras.constraints", "class_name": "MinMaxNorm",
             "config": {"min_value": 0.1, "max_value": 2.0, "rate": 0.5, "axis": [0, 1]}, "registered_name": None}
    rebuilt = constraints.get(entry)
    assert isinstance(rebuilt, constraints.MinMaxNorm) and rebuilt.get_config() == entry["config"]
    assert constraints.max_norm is constraints.MaxNorm and constraints.non_neg is constraints.NonNeg
    with pytest.raises(ValueError, match="Could not interpret constraint identifier"):
        constraints.get("max_nrom")
    with pytest.raises(ValueError, match="Unknown constraint"):
        constraints.deserialize({"class_name": "Spherical", "config": {}})
    with pytest.raises(TypeError, match="axis"):
        constraints.MaxNorm(axis="rows")
    with pytest.raises(TypeError, match="max_value"):
        constraints.MaxNorm(max_value="2")


# (layer, its constructor's other arguments, {constraint argument: weight name})
LAYERS = [
    (layers.Dense, {"units": 3}, {"kernel_constraint": "kernel", "bias_constraint": "bias"}),
    (layers.Conv1D, {"filters": 2, "kernel_size": 3}, {"kernel_constraint": "kernel", "bias_constraint": "bias"}),
    (layers.Conv2D, {"filters": 2, "kernel_size": 3}, {"kernel_constraint": "kernel", "bias_constraint": "bias"}),
    (layers.Conv3D, {"filters": 2, "kernel_size": 3}, {"kernel_constraint": "kernel", "bias_constraint": "bias"}),
    (layers.Conv2DTranspose, {"filters": 2, "kernel_size": 3},
     {"kernel_constraint": "kernel", "bias_constraint": "bias"}),
    (layers.DepthwiseConv2D, {"kernel_size": 3}, {"depthwise_constraint": "kernel", "bias_constraint": "bias"}),
    (layers.SeparableConv2D, {"filters": 2, "kernel_size": 3},
     {"depthwise_constraint": "depthwise_kernel", "pointwise_constraint": "pointwise_kernel",
      "bias_constraint": "bias"}),
    (layers.Embedding, {"input_dim": 10, "output_dim": 4}, {"embeddings_constraint": "embeddings"}),
    (layers.BatchNormalization, {}, {"beta_constraint": "beta", "gamma_constraint": "gamma"}),
    (layers.LayerNormalization, {}, {"beta_constraint": "beta", "gamma_constraint": "gamma"}),
    (layers.GroupNormalization, {"groups": 2}, {"beta_constraint": "beta", "gamma_constraint": "gamma"}),
    (layers.PReLU, {}, {"alpha_constraint": "alpha"}),
    (layers.LocallyConnected2D, {"filters": 2, "kernel_size": 3},
     {"kernel_constraint": "kernel", "bias_constraint": "bias"}),
]


@pytest.mark.parametrize("cls,args,arguments", LAYERS, ids=[c.__name__ for c, _, _ in LAYERS])
def test_layers_take_keras_constraint_arguments(cls, args, arguments):
    given = {argument: constraints.MaxNorm(1.5) for argument in arguments}
    layer = cls(**args, **given)
    assert {weight: type(c).__name__ for weight, c in layer.constraints.items()} == \
        {weight: "MaxNorm" for weight in arguments.values()}
    config = layer.get_config()
    for argument in arguments:
        assert config[argument] == {"module": "keras.constraints", "class_name": "MaxNorm",
                                    "config": {"max_value": 1.5, "axis": 0}, "registered_name": None}
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert set(again.constraints) == set(arguments.values())
    assert "kernel_constraint" not in cls(**args).get_config()     # written only when set, like the regularizers


def test_a_layer_refuses_constraint_arguments_it_has_no_weight_for():
    with pytest.raises(TypeError, match="depthwise_constraint"):
        layers.Dense(3, depthwise_constraint="non_neg")
    with pytest.raises(TypeError, match="kernel_constraint"):
        layers.MaxPooling2D(2, kernel_constraint="non_neg")


def test_keras_layer_config_with_constraints_loads():
    keras = _keras()
    theirs = keras.layers.Conv2D(4, 3, kernel_constraint=keras.constraints.MaxNorm(3, axis=[0, 1, 2]),
                                 bias_constraint="non_neg", name="c")
    entry = json.loads(json.dumps(keras.layers.serialize(theirs)))
    ours = layers.deserialize(entry)
    assert ours.constraints["kernel"].get_config() == {"max_value": 3, "axis": [0, 1, 2]}
    assert isinstance(ours.constraints["bias"], constraints.NonNeg)
    plain = layers.deserialize(json.loads(json.dumps(keras.layers.serialize(keras.layers.Dense(2)))))
    assert plain.constraints == {}     # Keras writes kernel_constraint: None


def _dense_pair(keras, seed=0):
    rng = np.random.default_rng(seed)
    kernel, bias = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=4).astype("float32")
    ours = tinyconv.Sequential([layers.Input((6,)), layers.Dense(4, kernel_constraint=constraints.MaxNorm(0.8),
                                                                 bias_constraint=constraints.NonNeg())])
    theirs = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, kernel_constraint=keras.constraints.MaxNorm(0.8),
                                                                     bias_constraint=keras.constraints.NonNeg())])
    ours.set_weights([kernel, bias])
    theirs.set_weights([kernel, bias])
    return ours, theirs


def test_training_projects_after_each_step_as_keras():
    keras = _keras()
    ours, theirs = _dense_pair(keras)
    ours.compile(optimizer=tinyconv.optimizers.SGD(0.5), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, y = rng.normal(size=(8, 6)).astype("float32"), (3 * rng.normal(size=(8, 4))).astype("float32")
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    kernel, bias = ours.get_weights()
    assert np.all(np.linalg.norm(kernel, axis=0) <= 0.8 + 1e-6) and np.all(bias >= 0)


def test_a_custom_training_loop_is_projected_by_the_optimizer():
    model = tinyconv.Sequential([layers.Input((3,)), layers.Dense(2, kernel_constraint=constraints.NonNeg())])
    model.set_weights([np.full((3, 2), 0.1, "float32"), np.zeros(2, "float32")])
    optimizer = tinyconv.optimizers.SGD(1.0)
    gradients = [np.ones((3, 2), "float32"), np.ones(2, "float32")]
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(kernel, np.zeros((3, 2)))     # 0.1 - 1.0 < 0, projected to 0
    np.testing.assert_array_equal(bias, [-1.0, -1.0])           # no constraint on the bias


def test_examples_in_docstrings_run():
    result = doctest.testmod(constraints, extraglobs={"np": np, "tinyconv": tinyconv},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 6
