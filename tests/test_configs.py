"""get_config / from_config for every layer, model configs, JSON, clone_model."""
import inspect
import json

import numpy as np
import pytest

import tinyconv as keras
from tinyconv import layers
from tinyconv.models import clone_model, model_from_json

# Smallest valid value for each required constructor argument, by argument name.
_REQUIRED = {"units": 3, "filters": 2, "kernel_size": 3, "rate": 0.5, "activation": "relu", "n": 2,
             "target_shape": (4,), "dims": (2, 1), "num_units": 2, "stddev": 0.1, "pool_size": 2,
             "input_dim": 10, "output_dim": 4}


def _layer_classes():
    found = {}
    for name, cls in vars(layers).items():
        if inspect.isclass(cls) and issubclass(cls, layers.Layer) and cls not in (layers.Layer, layers.InputLayer):
            found.setdefault(cls.__name__, cls)
    return [found[name] for name in sorted(found)]


def _make(cls):
    if cls.__name__ == "MaxUnpooling2D":
        return cls(layers.MaxPooling2D(2))
    params = inspect.signature(cls.__init__).parameters.values()
    required = [p.name for p in params if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD
                and p.name != "self"]
    missing = [name for name in required if name not in _REQUIRED]
    assert not missing, f"add a minimal value for {cls.__name__}'s required argument(s) {missing} to _REQUIRED"
    return cls(**{name: _REQUIRED[name] for name in required})


def _json_round(config):
    return json.loads(json.dumps(config, default=list))


@pytest.mark.parametrize("cls", _layer_classes(), ids=lambda c: c.__name__)
def test_every_layer_config_round_trips(cls, fresh_names):
    layer = _make(cls)
    config = layer.get_config()
    if cls.__name__ == "MaxUnpooling2D":
        # Its config names its partner pool layer; only a model can hand the object back.
        assert config["pool"] == layer.pool.name
        again = cls.from_config({**config, "pool": layer.pool})
        assert again.get_config() == config
        return
    again = type(layer).from_config(config)
    assert type(again) is type(layer)
    assert _json_round(again.get_config()) == _json_round(config)
    # through Keras's serialized form and JSON, as a .keras file stores it
    entry = json.loads(json.dumps(layers.serialize(layer)))
    assert entry["module"] == "keras.layers" and entry["class_name"] == cls.__name__
    assert entry["registered_name"] is None
    rebuilt = layers.deserialize(entry)
    assert _json_round(layers.serialize(rebuilt)["config"]) == _json_round(entry["config"])


def test_initializer_objects_keep_their_arguments():
    dense = layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=2),
                         kernel_regularizer=keras.regularizers.L2(0.05))
    entry = layers.serialize(dense)
    init = entry["config"]["kernel_initializer"]
    assert init["module"] == "keras.initializers" and init["class_name"] == "RandomNormal"
    assert init["config"]["stddev"] == 0.3 and init["registered_name"] is None
    clone = layers.deserialize(json.loads(json.dumps(entry)))
    clone.build_for((None, 4))
    dense.build_for((None, 4))
    np.testing.assert_array_equal(clone.get_weights()[0], dense.get_weights()[0])  # same seed, same values
    assert clone.regularizers["kernel"].l2 == pytest.approx(0.05)


def test_trainable_flag_survives_config():
    layer = layers.Conv2D(2, 3, name="frozen")
    layer.trainable = False
    assert layers.deserialize(layers.serialize(layer)).trainable is False


def test_keras_only_arguments_at_their_defaults_are_accepted():
    entry = {"module": "keras.layers", "class_name": "Conv2D", "registered_name": None, "config": {
        "name": "c", "filters": 2, "kernel_size": [3, 3], "groups": 1, "kernel_constraint": None,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}},
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                               "config": {"seed": None, "input_axes": None, "output_axes": None}}}}
    layer = layers.deserialize(entry)
    assert layer.dtype == "float64" and layer.kernel_size == (3, 3)


def test_unsupported_keras_argument_is_a_clear_error():
    entry = {"class_name": "Dense", "config": {"name": "d", "units": 2, "lora_rank": 4}}
    with pytest.raises(ValueError, match=r"Dense 'd'.*lora_rank=4"):
        layers.deserialize(entry)


def test_unknown_layer_class_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Unknown layer class 'Frobnicate' \(layer 'f'\).*custom_objects"):
        layers.deserialize({"class_name": "Frobnicate", "config": {"name": "f"}})


def test_custom_objects_supply_unknown_classes():
    class Twice(layers.Layer):
        def forward(self, x, training=False):
            return 2 * x

    layer = layers.deserialize({"class_name": "Twice", "config": {"name": "t"}}, custom_objects={"Twice": Twice})
    assert isinstance(layer, Twice) and layer.name == "t"


# ------------------------------------------------------------------ models
def _functional():
    inp = keras.Input((6, 6, 2), name="img")
    x = layers.Conv2D(3, 3, padding="same", activation="relu")(inp)
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    y = shared(x)
    z = shared(y)                                   # the shared layer's second call
    s = layers.Add()([x, z])                        # residual
    f = layers.Flatten()(s)
    return keras.Model(inp, [layers.Dense(2, activation="softmax", name="cls")(f), layers.Dense(1, name="reg")(f)])


def _predict_all(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def test_functional_config_rebuilds_the_same_graph(fresh_names):
    model = _functional()
    config = json.loads(json.dumps(model.get_config()))
    shared = next(l for l in config["layers"] if l["name"] == "shared")
    assert len(shared["inbound_nodes"]) == 2
    assert shared["inbound_nodes"][1]["args"][0]["config"]["keras_history"] == ["shared", 0, 0]
    assert config["input_layers"] == ["img", 0, 0] and config["output_layers"] == [["cls", 0, 0], ["reg", 0, 0]]
    again = keras.models.Functional.from_config(config)
    assert [l.name for l in again.layers] == [l.name for l in model.layers]
    again.set_weights(model.get_weights())
    x = np.random.default_rng(0).random((3, 6, 6, 2)).astype("float32")
    for a, b in zip(_predict_all(model, x), _predict_all(again, x)):
        np.testing.assert_array_equal(a, b)
    assert json.loads(json.dumps(again.get_config())) == config


def test_sequential_config_and_json(fresh_names):
    model = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="relu"), layers.Dropout(0.2),
                              layers.Dense(2)])
    config = model.get_config()
    assert config["layers"][0]["class_name"] == "InputLayer"
    again = keras.Sequential.from_config(config)
    assert [type(l) for l in again.layers] == [type(l) for l in model.layers]
    from_json = model_from_json(model.to_json())
    assert isinstance(from_json, keras.Sequential) and from_json.input_shape == (None, 5)
    assert json.loads(from_json.to_json()) == json.loads(model.to_json())


def test_nested_model_config(fresh_names):
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="inner_dense")], name="inner")
    inp = keras.Input((4,))
    out = layers.Dense(1)(inner(inp))
    model = keras.Model(inp, out)
    again = model_from_json(model.to_json())
    assert isinstance(again.get_layer("inner"), keras.Sequential)
    again.set_weights(model.get_weights())
    x = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_clone_model_same_architecture_fresh_weights(fresh_names):
    for model in (_functional(), keras.Sequential([keras.Input((5,)), layers.Dense(4), layers.Dense(2)])):
        clone = clone_model(model)
        assert [type(l) for l in clone.layers] == [type(l) for l in model.layers]
        assert [w.shape for w in clone.get_weights()] == [w.shape for w in model.get_weights()]
        kernels = [(a, b) for a, b in zip(model.get_weights(), clone.get_weights()) if a.ndim > 1]
        assert all(not np.array_equal(a, b) for a, b in kernels)
        assert all(c is not o for c, o in zip(clone.layers, model.layers))
    shared_clone = clone_model(_functional()).get_layer("shared")
    assert len(shared_clone._inbound_nodes) == 2  # still one layer called twice


def test_clone_model_with_clone_function_and_input_tensors(fresh_names):
    model = keras.Sequential([keras.Input((5,)), layers.Dense(4), layers.Dense(2)])
    seen = []

    def clone_function(layer):
        seen.append(layer.name)
        return type(layer).from_config(layer.get_config())

    clone = clone_model(model, input_tensors=keras.Input((5,)), clone_function=clone_function)
    assert seen == [l.name for l in model.layers] and clone.output_shape == (None, 2)
