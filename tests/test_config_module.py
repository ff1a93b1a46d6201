"""``tinyconv.config`` (Keras 3's ``keras.config``): the names scripts call, sharing the backend's state."""
import doctest
import os

import numpy as np
import pytest

import tinyconv
from tinyconv import backend, config, layers

os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture(autouse=True)
def restore_settings():
    saved = (backend.floatx(), backend.epsilon(), backend.image_data_format(), dict(config._STATE))
    yield
    backend.set_floatx(saved[0])
    backend.set_epsilon(saved[1])
    backend.set_image_data_format(saved[2])
    config._STATE.clear()
    config._STATE.update(saved[3])


def test_settings_are_the_backend_state_not_a_copy():
    config.set_floatx("float64")
    assert backend.floatx() == "float64" and config.floatx() == "float64"
    assert tinyconv.layers.Dense(2).dtype == "float64"
    backend.set_epsilon(1e-5)
    assert config.epsilon() == 1e-5
    config.set_image_data_format("channels_first")
    assert backend.image_data_format() == "channels_first"
    assert config.backend() == backend.backend()
    with pytest.raises(ValueError, match="float32"):
        config.set_floatx("float16")
    config.set_dtype_policy("float32")
    assert config.dtype_policy() == "float32" == backend.floatx()
    with pytest.raises(ValueError, match="mixed precision"):
        config.set_dtype_policy("mixed_float16")


def test_traceback_and_safe_mode_switches():
    assert config.is_traceback_filtering_enabled() is True      # Keras's default
    config.disable_traceback_filtering()
    assert config.is_traceback_filtering_enabled() is False
    assert config.unsafe_deserialization_enabled() is False
    assert config.safe_mode_for(True) is True and config.safe_mode_for(None) is True
    config.enable_unsafe_deserialization()
    assert config.unsafe_deserialization_enabled() is True
    assert config.safe_mode_for(True) is False                   # the global setting wins, as in Keras


def test_max_epochs_and_steps_cap_fit_evaluate_predict():
    model = tinyconv.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []

    class Count(tinyconv.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    config.set_max_epochs(2)
    config.set_max_steps_per_epoch(3)
    history = model.fit(np.ones((100, 2)), np.ones((100, 1)), batch_size=10, epochs=10, callbacks=[Count()],
                        verbose=0)
    assert len(history.history["loss"]) == 2 and seen == [0, 1, 2, 0, 1, 2]
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 3}
    assert model.predict(np.ones((100, 2)), batch_size=10, verbose=0).shape == (30, 1)
    config.set_max_steps_per_epoch(None)
    config.set_max_epochs(None)
    assert len(model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=3, verbose=0).history["loss"]) == 3
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="positive int"):
            config.set_max_epochs(bad)


def test_names_match_keras_config():
    pytest.importorskip("torch", reason="Keras runs on its torch backend here (pip install torch)")
    keras = pytest.importorskip("keras", reason="Keras 3 lists the names (pip install keras)")
    theirs = {name for name in dir(keras.config) if not name.startswith("_")}
    # not applicable here, and why: see the module docstring of tinyconv.config
    not_applicable = {"set_backend", "disable_flash_attention", "enable_flash_attention",
                      "is_flash_attention_enabled", "is_nnx_enabled", "disable_interactive_logging",
                      "enable_interactive_logging", "is_interactive_logging_enabled"}
    missing = sorted(theirs - not_applicable - set(dir(config)))
    assert not missing, f"keras.config names missing from tinyconv.config: {missing}"
    assert keras.config.epsilon() == config.epsilon() and keras.config.floatx() == config.floatx()
    assert keras.config.image_data_format() == config.image_data_format()


def test_examples_in_docstrings_run():
    result = doctest.testmod(config, extraglobs={"np": np, "tinyconv": tinyconv, "layers": layers},
                             optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 5
