"""imdb, reuters, cifar100, boston_housing, california_housing: Keras's signatures, return layouts and shuffles,
checked against Keras 3's own loaders on small synthetic files in Keras's formats; where the files are found;
the error offline; refusal of pickles that hold more than arrays. Nothing is downloaded."""
import importlib
import inspect
import pickle
import socket
import tarfile

import numpy as np
import pytest

from tinyconv import datasets
from tinyconv.datasets import _files, boston_housing, california_housing, cifar100, imdb, reuters


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Keras's cache and every other place inside tmp_path; downloads refused at once."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("TINYCONV_DATA", raising=False)
    monkeypatch.setattr(_files, "SYSTEM_DATASETS_DIR", tmp_path / "system")
    monkeypatch.setattr(_files, "SHARED_DATASETS_DIRS", [tmp_path / "shared"])
    monkeypatch.setenv("TINYCONV_DATASETS_URL", _closed_port_url())
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    return cache


def _sequences(rng, n):
    array = np.empty(n, dtype=object)
    for i in range(n):
        array[i] = rng.integers(1, 60, rng.integers(3, 25)).tolist()
    return array


def _write_all(cache):
    rng = np.random.default_rng(0)
    np.savez(cache / "imdb.npz", x_train=_sequences(rng, 30), y_train=rng.integers(0, 2, 30),
             x_test=_sequences(rng, 20), y_test=rng.integers(0, 2, 20))
    np.savez(cache / "reuters.npz", x=_sequences(rng, 40), y=rng.integers(0, 46, 40))
    np.savez(cache / "boston_housing.npz", x=rng.standard_normal((37, 13)), y=rng.standard_normal(37))
    np.savez(cache / "california_housing.npz", x=rng.standard_normal((650, 8)), y=rng.standard_normal(650))
    folder = cache / "cifar-100-python-target" / "cifar-100-python"  # where Keras extracts it
    folder.mkdir(parents=True)
    for name, n in (("train", 6), ("test", 3)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"fine_labels": rng.integers(0, 100, n).tolist(),
                         b"coarse_labels": rng.integers(0, 20, n).tolist()}, f)


def _assert_same(ours, theirs):
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == object:
            assert [list(s) for s in a] == [list(s) for s in b]
        else:
            np.testing.assert_array_equal(a, b)


@pytest.fixture
def keras_datasets(sandbox, monkeypatch):
    """Keras's loaders, reading our synthetic files (their hash check bypassed: the files are not Keras's)."""
    pytest.importorskip("torch", reason="Keras runs on its torch backend here")
    keras = pytest.importorskip("keras", reason="Keras 3 is the oracle (pip install keras)")
    _write_all(sandbox)
    for name in ("imdb", "reuters", "boston_housing", "california_housing", "cifar100"):
        monkeypatch.setattr(importlib.import_module(f"keras.src.datasets.{name}"), "get_file",
                            lambda fname=None, origin=None, **kwargs: str(sandbox / fname))
    return keras.datasets


SEQUENCE_CASES = [dict(), dict(num_words=30, skip_top=2, maxlen=15, seed=5),
                  dict(start_char=None, oov_char=None, index_from=0, num_words=20)]


@pytest.mark.parametrize("kwargs", SEQUENCE_CASES)
def test_imdb_and_reuters_match_keras(keras_datasets, kwargs):
    _assert_same(imdb.load_data(**kwargs), keras_datasets.imdb.load_data(**kwargs))
    _assert_same(reuters.load_data(**kwargs), keras_datasets.reuters.load_data(**kwargs))
    _assert_same(reuters.load_data(test_split=0.35, **kwargs), keras_datasets.reuters.load_data(test_split=0.35,
                                                                                                **kwargs))


def test_housing_and_cifar100_match_keras(keras_datasets):
    _assert_same(boston_housing.load_data(), keras_datasets.boston_housing.load_data())
    _assert_same(boston_housing.load_data(test_split=0.4, seed=1),
                 keras_datasets.boston_housing.load_data(test_split=0.4, seed=1))
    for version in ("large", "small"):
        _assert_same(california_housing.load_data(version=version, seed=3),
                     keras_datasets.california_housing.load_data(version=version, seed=3))
    for mode in ("fine", "coarse"):
        _assert_same(cifar100.load_data(mode), keras_datasets.cifar100.load_data(mode))
    (x_train, y_train), _ = cifar100.load_data()
    assert x_train.shape == (6, 32, 32, 3) and y_train.shape == (6, 1)


def test_signatures_and_defaults_are_keras(keras_datasets):
    for name in ("imdb", "reuters", "boston_housing", "california_housing", "cifar100"):
        for function in ("load_data", "get_word_index", "get_label_names"):
            theirs = getattr(getattr(keras_datasets, name), function, None)
            if theirs is not None:
                assert inspect.signature(getattr(getattr(datasets, name), function)) == inspect.signature(theirs)
    assert reuters.get_label_names() == keras_datasets.reuters.get_label_names()


def test_word_index_from_the_cache_and_from_a_path(sandbox, tmp_path):
    (sandbox / "imdb_word_index.json").write_text('{"the": 1, "movie": 17}')
    assert imdb.get_word_index() == {"the": 1, "movie": 17}
    (tmp_path / "words.json").write_text('{"oil": 5}')
    assert reuters.get_word_index(path=tmp_path / "words.json") == {"oil": 5}


def test_tinyconv_data_folder_and_explicit_path(sandbox, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    own = tmp_path / "own"
    own.mkdir()
    np.savez(own / "boston_housing.npz", x=rng.standard_normal((10, 13)), y=np.arange(10.0))
    monkeypatch.setenv("TINYCONV_DATA", str(own))
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    assert x_train.shape == (8, 13) and sorted(np.concatenate([y_train, y_test])) == list(range(10))
    np.savez(tmp_path / "mine.npz", x=rng.standard_normal((5, 8)), y=np.arange(5.0))
    assert california_housing.load_data(path=tmp_path / "mine.npz", test_split=0.0)[0][0].shape == (5, 8)


def test_cifar100_from_the_archive(sandbox, tmp_path):
    staging = tmp_path / "staging" / "cifar-100-python"
    staging.mkdir(parents=True)
    for name in ("train", "test"):
        with open(staging / name, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [3, 4], b"coarse_labels": [1, 2]},
                        f)
    with tarfile.open(sandbox / "cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add(staging, arcname="cifar-100-python")
    (_, y_train), (_, y_test) = cifar100.load_data("coarse")
    assert y_train.ravel().tolist() == [1, 2] and y_train.dtype == np.int64
    assert (sandbox / "cifar-100-python-target" / "cifar-100-python" / "train").is_file()


def test_offline_without_files_a_clear_error_and_no_partial_file(sandbox):
    for load, wanted in ((imdb.load_data, "imdb.npz"), (reuters.load_data, "reuters.npz"),
                         (boston_housing.load_data, "boston_housing.npz"),
                         (california_housing.load_data, "california_housing.npz"),
                         (cifar100.load_data, "cifar-100-python"), (imdb.get_word_index, "imdb_word_index.json")):
        with pytest.raises(_files.DatasetNotFoundError) as caught:
            load()
        message = str(caught.value)
        assert wanted in message and str(sandbox) in message and "Downloading it failed" in message
    assert list(sandbox.iterdir()) == []


def test_pickles_holding_more_than_arrays_are_refused(sandbox):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    x = np.empty(2, dtype=object)
    x[0], x[1] = [1, 2], Evil()
    np.savez(sandbox / "reuters.npz", x=x, y=np.zeros(2))
    with pytest.raises(pickle.UnpicklingError, match="reuters: refusing to load builtins.print"):
        reuters.load_data()
    folder = sandbox / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match="cifar100: refusing"):
        cifar100.load_data()


def test_bad_arguments(sandbox):
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data("medium")
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(test_split=1.0)
    np.savez(sandbox / "california_housing.npz", x=np.zeros((3, 8)), y=np.zeros(3))
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="tiny")
    with pytest.raises(_files.DatasetNotFoundError, match="nowhere"):
        imdb.load_data(path=sandbox / "nowhere" / "imdb.npz")
    rng = np.random.default_rng(0)
    np.savez(sandbox / "imdb.npz", x_train=_sequences(rng, 3), y_train=np.zeros(3), x_test=_sequences(rng, 3),
             y_test=np.zeros(3))
    with pytest.raises(ValueError, match="maxlen=2"):
        imdb.load_data(maxlen=2)
