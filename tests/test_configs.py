"""get_config / from_config for every layer, model configs, JSON, clone_model."""
import inspect
import json

import numpy as np
import pytest

import tinyconv
import tinyconv as keras
from tinyconv import layers
from tinyconv.models import clone_model, model_from_json

# Smallest valid value for each required constructor argument, by argument name.
_REQUIRED = {"units": 3, "filters": 2, "kernel_size": 3, "rate": 0.5, "activation": "relu", "n": 2,
             "target_shape": (4,), "dims": (2, 1), "num_units": 2, "stddev": 0.1, "pool_size": 2,
             "input_dim": 10, "output_dim": 4, "height": 4, "width": 4, "factor": 0.1, "height_factor": 0.1,
             "width_factor": 0.1, "scale": 0.5, "function": tinyconv.ops.relu}


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


# ------------------------------------------------------------------ the class registry (tinyconv.serialization)
@pytest.fixture
def scratch_registry(monkeypatch):
    """Classes a test registers are forgotten after it."""
    from tinyconv import serialization

    monkeypatch.setattr(serialization, "_CLASSES_BY_NAME",
                        {kind: dict(named) for kind, named in serialization._CLASSES_BY_NAME.items()})
    monkeypatch.setattr(serialization, "_WRITTEN_AS", dict(serialization._WRITTEN_AS))
    return serialization


@pytest.mark.parametrize("make, module", [
    (lambda: keras.initializers.HeNormal(seed=3), "keras.initializers"),
    (lambda: keras.regularizers.L1L2(l1=0.1, l2=0.2), "keras.regularizers"),
    (lambda: keras.optimizers.Adam(learning_rate=0.01), "keras.optimizers"),
    (lambda: keras.losses.CategoricalCrossentropy(label_smoothing=0.1), "keras.losses"),
    (lambda: layers.Dense(4, name="d"), "keras.layers"),
])
def test_every_kind_is_written_from_its_get_config_and_read_back(make, module):
    from tinyconv import serialization

    obj = make()
    entry = serialization.serialize(obj)
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == (module, type(obj).__name__, None)
    assert set(entry["config"]) == set(obj.get_config())
    again = serialization.deserialize(_json_round(entry))
    assert type(again) is type(obj) and serialization.serialize(again) == entry


def test_a_registered_class_is_found_by_name_and_custom_objects_come_first(scratch_registry):
    @scratch_registry.register("regularizers")
    class Tiny(keras.regularizers.Regularizer):
        def __init__(self, factor=0.5):
            self.factor = factor

        def get_config(self):
            return {"factor": self.factor}

    class Other(Tiny):
        pass

    entry = scratch_registry.serialize(Tiny(0.25))
    assert entry == {"module": "keras.regularizers", "class_name": "Tiny", "config": {"factor": 0.25},
                     "registered_name": None}
    assert type(scratch_registry.deserialize(entry)) is Tiny and scratch_registry.deserialize(entry).factor == 0.25
    assert type(scratch_registry.deserialize(entry, custom_objects={"Tiny": Other})) is Other
    # a subclass nobody registered is written under its own name, in its registered base's module
    assert scratch_registry.serialize(Other())["class_name"] == "Other"
    assert scratch_registry.kind_of(Other()) == "regularizers"


def test_aliases_find_their_class_and_are_written_under_its_name():
    from tinyconv import serialization

    layer = serialization.deserialize({"class_name": "Convolution2D", "config": {"filters": 2, "kernel_size": 3}})
    assert type(layer) is layers.Conv2D and serialization.serialize(layer)["class_name"] == "Conv2D"
    assert serialization.serialize_initializer("he_normal")["class_name"] == "HeNormal"
    assert serialization.serialize_initializer("uniform") == "uniform"  # a name only Embedding understands


def test_an_object_of_no_registered_kind_is_a_clear_error(scratch_registry):
    class Widget:
        def get_config(self):
            return {}

    with pytest.raises(TypeError, match="Widget is not a registered class"):
        scratch_registry.serialize(Widget())
    with pytest.raises(ValueError, match="unknown kind 'widgets'"):
        scratch_registry.register("widgets", Widget)


def test_model_configs_live_in_models_config_and_the_saving_names_still_work(fresh_names):
    from tinyconv import serialization
    from tinyconv.models import config

    assert keras.saving.clone_model is config.clone_model is clone_model
    assert keras.saving.serialize is serialization.serialize and keras.saving.deserialize is serialization.deserialize
    model = _functional()
    assert config.model_config(model) == model.get_config()
    rebuilt = keras.Model.from_config(_json_round(model.get_config()))  # the base class gives a functional model
    assert type(rebuilt) is keras.models.Functional and rebuilt.get_config() == model.get_config()
    assert serialization.serialize(model)["registered_name"] == "Functional"
