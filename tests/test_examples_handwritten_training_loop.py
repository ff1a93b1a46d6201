"""examples/handwritten_training_loop.py: a loop on public names trains, and ends where model.fit ends."""
import importlib.util
import os
import re

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the example uses scikit-learn's digits")

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "handwritten_training_loop.py")


def load_example():
    spec = importlib.util.spec_from_file_location("example_handwritten_training_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_loop_trains_and_matches_fit(capsys):
    result = load_example().main(["--epochs", "4", "--train-size", "500", "--batch-size", "32"])
    history = result["history"]
    assert history[-1] < 0.9 * history[0]  # the loss falls
    # 500 = 15 batches of 32 and one of 20: the same steps as fit(shuffle=False), so the same weights and losses
    np.testing.assert_allclose(history, result["fit_history"], rtol=1e-5)
    for by_hand, with_fit in zip(result["by_hand"].get_weights(), result["with_fit"].get_weights()):
        np.testing.assert_allclose(by_hand, with_fit, rtol=1e-4, atol=1e-6)
    assert result["max_weight_difference"] < 1e-5
    assert "epoch 4: mean loss" in capsys.readouterr().out


def test_the_loop_really_updates_every_weight():
    example = load_example()
    (x, y), _ = example.load_digits(64)
    model = example.build_model(seed=0)
    before = model.get_weights()
    example.train_by_hand(model, x, y, epochs=1, batch_size=32, learning_rate=0.1, log=lambda line: None)
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_the_loop_uses_public_names_only():
    with open(EXAMPLE) as source:
        code = source.read()
    assert not re.findall(r"\.\_[A-Za-z]", code), "the hand-written loop must not reach for private attributes"
