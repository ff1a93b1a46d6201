"""Initializers: shapes, dtypes, Keras fan rules and statistics, seeding, lookup."""
import math

import numpy as np
import pytest

from tinyconv import initializers
from tinyconv.utils.random import set_random_seed


def test_compute_fans():
    assert initializers.compute_fans((3, 3, 16, 32)) == (9 * 16, 9 * 32)
    assert initializers.compute_fans((5, 3, 2, 4)) == (30, 60)
    assert initializers.compute_fans((100, 10)) == (100, 10)
    assert initializers.compute_fans((7,)) == (7, 7)


def test_glorot_uniform_bounds_for_conv_kernel():
    shape = (3, 5, 8, 16)  # non-square on purpose
    w = initializers.GlorotUniform(seed=1)(shape)
    limit = math.sqrt(6 / (3 * 5 * 8 + 3 * 5 * 16))
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit                   # fills the interval ...
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.05)  # ... uniformly


@pytest.mark.parametrize("cls,scale,fan", [
    (initializers.HeNormal, 2.0, "in"),
    (initializers.GlorotNormal, 1.0, "avg"),
    (initializers.LecunNormal, 1.0, "in"),
])
def test_truncated_normal_family(cls, scale, fan):
    shape = (3, 3, 32, 64)
    fan_in, fan_out = 9 * 32, 9 * 64
    n = fan_in if fan == "in" else (fan_in + fan_out) / 2
    w = cls(seed=3)(shape)
    target_std = math.sqrt(scale / n)
    # the 0.8796 correction makes the truncated draw have the intended stddev
    assert w.std() == pytest.approx(target_std, rel=0.03)
    assert np.abs(w).max() <= 2 * target_std / 0.87962566103423978 + 1e-7
    assert abs(w.mean()) < 0.05 * target_std


def test_he_uniform_and_random_defaults():
    w = initializers.HeUniform(seed=0)((200, 50))
    assert np.abs(w).max() <= math.sqrt(6 / 200)
    w = initializers.RandomNormal(seed=0)((100, 100))
    assert w.std() == pytest.approx(0.05, rel=0.05) and abs(w.mean()) < 0.005
    w = initializers.RandomUniform(seed=0)((100, 100))
    assert w.min() >= -0.05 and w.max() <= 0.05 and w.max() > 0.049


def test_constants():
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(initializers.Ones()((4,)), np.ones(4))
    c = initializers.Constant(0.25)((2, 2), dtype="float64")
    assert c.dtype == np.float64 and np.all(c == 0.25)


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float64])
def test_dtypes(dtype):
    for cls in (initializers.GlorotUniform, initializers.HeNormal, initializers.Zeros, initializers.RandomNormal):
        assert cls()((3, 4), dtype=dtype).dtype == np.dtype(dtype)
    with pytest.raises(ValueError, match="float dtype"):
        initializers.GlorotUniform()((3, 4), dtype="int32")


def test_seeding():
    a = initializers.GlorotUniform(seed=42)((3, 3, 2, 4))
    b = initializers.GlorotUniform(seed=42)((3, 3, 2, 4))
    np.testing.assert_array_equal(a, b)
    init = initializers.HeNormal(seed=7)
    np.testing.assert_array_equal(init((5, 5)), init((5, 5)))  # Keras 3: a seeded initializer repeats
    assert not np.array_equal(initializers.GlorotUniform(seed=1)((5, 5)), initializers.GlorotUniform(seed=2)((5, 5)))
    unseeded = initializers.GlorotUniform()
    assert not np.array_equal(unseeded((5, 5)), unseeded((5, 5)))
    set_random_seed(123)
    x = unseeded((5, 5))
    set_random_seed(123)
    np.testing.assert_array_equal(x, unseeded((5, 5)))


def test_get():
    names = {"glorot_uniform": initializers.GlorotUniform, "glorot_normal": initializers.GlorotNormal,
             "he_normal": initializers.HeNormal, "he_uniform": initializers.HeUniform,
             "lecun_normal": initializers.LecunNormal, "zeros": initializers.Zeros, "ones": initializers.Ones,
             "random_normal": initializers.RandomNormal, "random_uniform": initializers.RandomUniform}
    for name, cls in names.items():
        assert type(initializers.get(name)) is cls
        assert type(initializers.get(cls.__name__)) is cls
    inst = initializers.Constant(3)
    assert initializers.get(inst) is inst
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)

    def custom(shape, dtype=None):
        return np.full(shape, 7.0, dtype=dtype)

    assert initializers.get(custom) is custom
    assert initializers.get(None) is None
    with pytest.raises(ValueError, match="Valid names"):
        initializers.get("glorot_unicorn")


def test_config_round_trip():
    init = initializers.RandomNormal(mean=1.0, stddev=0.2, seed=5)
    again = initializers.RandomNormal.from_config(init.get_config())
    np.testing.assert_array_equal(init((3,)), again((3,)))
    assert initializers.GlorotUniform(seed=3).get_config() == {"seed": 3}


def test_hand_designed_kernels_live_in_the_initializers_package():
    from tinyconv import teaching
    from tinyconv.initializers import hand_designed

    assert teaching.Sobel is hand_designed.Sobel and teaching.Gabor is hand_designed.Gabor
    assert isinstance(initializers.get("prewitt_y"), hand_designed.Prewitt)
    assert initializers.get({"class_name": "Gaussian", "config": {"sigma": 2.0}}).sigma == 2.0
    with pytest.raises(ModuleNotFoundError):
        import tinyconv.teaching.kernels  # noqa: F401  (moved to tinyconv.initializers.hand_designed)


def test_initializers_do_not_import_the_teaching_tools():
    import ast
    import pathlib

    package = pathlib.Path(initializers.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "teaching" not in (node.module or ""), f"{path.name} imports {node.module}"
