"""Dataset loaders: where they look, the formats they read, downloads, and the error when nothing is found.

Every test runs in a sandbox: Keras's cache, TINYCONV_DATA, the system and shared folders all point into a
temporary directory, and downloads go to a loopback HTTP server (or to a closed port).
"""
import hashlib
import http.server
import io
import os
import pickle
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from tinyconv.datasets import _files, _idx, cifar10, fashion_mnist, mnist

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist.npz"


def _closed_port_url():
    with socket.socket() as s:  # a port nothing listens on: connections are refused at once
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Every place the loaders look, inside tmp_path; downloads refused."""
    places = {name: tmp_path / name for name in ("keras_home", "user", "system", "shared", "served")}
    for folder in places.values():
        folder.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(places["keras_home"]))
    monkeypatch.delenv("TINYCONV_DATA", raising=False)
    monkeypatch.setattr(_files, "SYSTEM_DATASETS_DIR", places["system"])
    monkeypatch.setattr(_files, "SHARED_DATASETS_DIRS", [places["shared"]])
    monkeypatch.setenv("TINYCONV_DATASETS_URL", _closed_port_url())
    places["cache"] = places["keras_home"] / "datasets"
    places["cache"].mkdir()
    return places


@pytest.fixture
def http_server(sandbox, monkeypatch):
    """A loopback HTTP server serving sandbox['served']; TINYCONV_DATASETS_URL points at it."""
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(sandbox["served"]), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("TINYCONV_DATASETS_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    yield sandbox["served"]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- small synthetic files in each format ----------------------------------------------------------------------

def _digits(n_train, n_test, seed=0, side=28):
    rng = np.random.default_rng(seed)
    return ((rng.integers(0, 256, (n_train, side, side), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8)),
            (rng.integers(0, 256, (n_test, side, side), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8)))


def _write_npz(path, data):
    (x_train, y_train), (x_test, y_test) = data
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def _write_idx_folder(folder, data, compressed=True):
    (x_train, y_train), (x_test, y_test) = data
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compressed else ""
    for name, array in (("train-images-idx3-ubyte", x_train), ("train-labels-idx1-ubyte", y_train),
                        ("t10k-images-idx3-ubyte", x_test), ("t10k-labels-idx1-ubyte", y_test)):
        _idx.write_idx(folder / (name + suffix), array)
    return folder


def _cifar_arrays(per_batch=3, seed=0):
    """Train (5 * per_batch) and test (per_batch) images, channels_last uint8, labels (N,)."""
    rng = np.random.default_rng(seed)
    n = 6 * per_batch
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    return images, labels


def _write_cifar_batches(folder, images, labels, per_batch=3):
    """The pickled batches as the python version of CIFAR-10 stores them: rows of R, G, B planes."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        part = slice(k * per_batch, (k + 1) * per_batch)
        planes = images[part].transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels[part]], b"data": planes,
                 b"filenames": [b"x.png"] * per_batch}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder


def _write_cifar_archive(path, images, labels):
    staging = path.parent / "staging"
    _write_cifar_batches(staging / "cifar-10-batches-py", images, labels)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return path


def _assert_same(loaded, data):
    for got, want in zip(loaded[0] + loaded[1], data[0] + data[1]):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


# --- IDX ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    array = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    _idx.write_idx(tmp_path / name, array)
    back = _idx.read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian_and_checked():
    # uint8, 2 dims: 2 x 3, then 6 bytes
    data = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    np.testing.assert_array_equal(_idx.parse_idx(data), np.arange(6, dtype=np.uint8).reshape(2, 3))
    with pytest.raises(ValueError, match="6 bytes of data"):
        _idx.parse_idx(data[:-1])
    with pytest.raises(ValueError, match="not an IDX file"):
        _idx.parse_idx(b"\x01" + data[1:])
    with pytest.raises(ValueError, match="unknown IDX type"):
        _idx.parse_idx(bytes([0, 0, 0x07, 1, 0, 0, 0, 0]))


# --- MNIST -------------------------------------------------------------------------------------------------------

def test_mnist_from_keras_cache(sandbox):
    data = _digits(5, 3)
    _write_npz(sandbox["cache"] / "mnist.npz", data)
    _assert_same(mnist.load_data(), data)


def test_mnist_prefers_explicit_path_then_tinyconv_data_then_cache(sandbox, monkeypatch, tmp_path):
    cached, user, explicit = _digits(4, 2, seed=1), _digits(4, 2, seed=2), _digits(4, 2, seed=3)
    _write_npz(sandbox["cache"] / "mnist.npz", cached)
    _write_npz(sandbox["user"] / "mnist.npz", user)
    _write_npz(tmp_path / "elsewhere" / "digits.npz", explicit)
    _assert_same(mnist.load_data(), cached)
    monkeypatch.setenv("TINYCONV_DATA", str(sandbox["user"]))
    _assert_same(mnist.load_data(), user)
    _assert_same(mnist.load_data(path=tmp_path / "elsewhere" / "digits.npz"), explicit)


def test_mnist_from_shared_folder_last(sandbox):
    data = _digits(3, 2)
    _write_npz(sandbox["shared"] / "mnist.npz", data)
    _assert_same(mnist.load_data(), data)


def test_mnist_missing_explicit_path_names_it(sandbox, tmp_path):
    with pytest.raises(_files.DatasetNotFoundError, match="nowhere"):
        mnist.load_data(path=tmp_path / "nowhere" / "mnist.npz")


def test_npz_with_missing_arrays_is_refused(sandbox, tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros(2))
    with pytest.raises(ValueError, match="missing"):
        mnist.load_data(path=tmp_path / "bad.npz")


def test_nothing_found_lists_every_place_searched(sandbox, monkeypatch):
    monkeypatch.setenv("TINYCONV_DATA", str(sandbox["user"]))
    with pytest.raises(_files.DatasetNotFoundError) as caught:
        mnist.load_data()
    message = str(caught.value)
    assert "mnist.npz" in message and "Downloading it failed" in message
    for place in ("user", "keras_home", "system", "shared"):
        assert str(sandbox[place]) in message
    with pytest.raises(_files.DatasetNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        fashion_mnist.load_data()
    with pytest.raises(_files.DatasetNotFoundError, match="cifar-10-batches-py"):
        cifar10.load_data()
    assert not any(p.name.endswith(".part") for p in sandbox["cache"].rglob("*"))


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason=f"{SHARED_MNIST} is not on this machine")
def test_real_mnist_from_shared_folder():
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=SHARED_MNIST)
    assert (x_train.shape, x_train.dtype) == ((60000, 28, 28), np.uint8)
    assert (y_train.shape, y_train.dtype) == ((60000,), np.uint8)
    assert (x_test.shape, x_test.dtype, y_test.shape, y_test.dtype) == ((10000, 28, 28), np.uint8, (10000,), np.uint8)
    assert set(np.unique(y_train)) == set(range(10)) and x_train.max() == 255


# --- Fashion-MNIST -----------------------------------------------------------------------------------------------

def test_fashion_from_keras_cache_layout(sandbox):
    data = _digits(6, 4)
    _write_idx_folder(sandbox["cache"] / "fashion-mnist", data)
    _assert_same(fashion_mnist.load_data(), data)


def test_fashion_from_debian_package_folder(sandbox):
    data = _digits(5, 2, seed=4)
    _write_idx_folder(sandbox["system"] / "fashion-mnist", data)
    _assert_same(fashion_mnist.load_data(), data)


def test_fashion_explicit_folder_uncompressed_and_npz(sandbox, tmp_path):
    data = _digits(3, 2, seed=5)
    _assert_same(fashion_mnist.load_data(path=_write_idx_folder(tmp_path / "raw", data, compressed=False)), data)
    _assert_same(fashion_mnist.load_data(path=_write_npz(tmp_path / "f.npz", data)), data)
    with pytest.raises(_files.DatasetNotFoundError):
        fashion_mnist.load_data(path=tmp_path)  # a folder without the IDX files


def test_fashion_refuses_mismatched_images_and_labels(sandbox, tmp_path):
    (x_train, y_train), test = _digits(4, 2)
    _write_idx_folder(tmp_path / "bad", ((x_train, y_train[:3]), test))
    with pytest.raises(ValueError, match="do not pair up"):
        fashion_mnist.load_data(path=tmp_path / "bad")


# --- CIFAR-10 ----------------------------------------------------------------------------------------------------

def _check_cifar(loaded, images, labels, per_batch=3):
    (x_train, y_train), (x_test, y_test) = loaded
    n_train = 5 * per_batch
    assert x_train.shape == (n_train, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (n_train, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (per_batch, 32, 32, 3) and y_test.shape == (per_batch, 1)
    np.testing.assert_array_equal(x_train, images[:n_train])
    np.testing.assert_array_equal(x_test, images[n_train:])
    np.testing.assert_array_equal(y_train[:, 0], labels[:n_train])
    np.testing.assert_array_equal(y_test[:, 0], labels[n_train:])


@pytest.mark.parametrize("layout", ["cifar-10-batches-py", "cifar-10-batches-py-target/cifar-10-batches-py"])
def test_cifar_from_keras_cache_batches(sandbox, layout):
    images, labels = _cifar_arrays()
    _write_cifar_batches(sandbox["cache"] / layout, images, labels)
    _check_cifar(cifar10.load_data(), images, labels)


def test_cifar_from_archive_extracts_once(sandbox, monkeypatch):
    images, labels = _cifar_arrays(seed=1)
    _write_cifar_archive(sandbox["user"] / "cifar-10-python.tar.gz", images, labels)
    monkeypatch.setenv("TINYCONV_DATA", str(sandbox["user"]))
    _check_cifar(cifar10.load_data(), images, labels)
    assert (sandbox["user"] / "cifar-10-batches-py" / "test_batch").is_file()
    assert not list(sandbox["user"].glob(".cifar10-extract-*"))


def test_cifar_explicit_npz_of_the_shared_subset_layout(sandbox, tmp_path):
    rng = np.random.default_rng(0)
    data = ((rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (4, 1), dtype=np.uint8)),
            (rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (2, 1), dtype=np.uint8)))
    _assert_same(cifar10.load_data(path=_write_npz(tmp_path / "c.npz", data)), data)
    _write_npz(sandbox["shared"] / "cifar10_jpeg_subset.npz", data)
    with pytest.warns(UserWarning, match="subset"):
        _assert_same(cifar10.load_data(), data)


def test_cifar_unpickler_accepts_only_arrays(sandbox, tmp_path):
    class Gadget:
        def __reduce__(self):
            return (os.getcwd, ())
    folder = tmp_path / "evil"
    images, labels = _cifar_arrays()
    _write_cifar_batches(folder, images, labels)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Gadget(), b"labels": []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        cifar10.load_data(path=folder)


# --- downloads ---------------------------------------------------------------------------------------------------

def _serve(served, name, payload):
    (served / name).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest(), hashlib.md5(payload).hexdigest()


def test_mnist_download_into_cache_atomically(http_server, sandbox, monkeypatch):
    data = _digits(4, 2, seed=7)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=data[0][0], y_train=data[0][1], x_test=data[1][0], y_test=data[1][1])
    sha256, _ = _serve(http_server, "mnist.npz", buffer.getvalue())
    monkeypatch.setattr(mnist, "SHA256", sha256)
    _assert_same(mnist.load_data(), data)
    assert (sandbox["cache"] / "mnist.npz").is_file()
    assert [p.name for p in sandbox["cache"].iterdir()] == ["mnist.npz"]  # no temporary file left
    (http_server / "mnist.npz").unlink()
    _assert_same(mnist.load_data(), data)  # the second call reads the cache


def test_download_with_wrong_checksum_saves_nothing(http_server, sandbox):
    _serve(http_server, "mnist.npz", b"not the real file")
    with pytest.raises(_files.ChecksumError, match="sha256"):
        mnist.load_data()
    assert list(sandbox["cache"].iterdir()) == []


def test_fashion_download_checks_md5(http_server, sandbox, monkeypatch):
    data = _digits(3, 2, seed=8)
    _write_idx_folder(http_server, data)
    checksums = {name: hashlib.md5((http_server / name).read_bytes()).hexdigest() for name in fashion_mnist.FILES}
    monkeypatch.setattr(fashion_mnist, "FILES", checksums)
    _assert_same(fashion_mnist.load_data(), data)
    assert sorted(p.name for p in (sandbox["cache"] / "fashion-mnist").iterdir()) == sorted(checksums)
    monkeypatch.setattr(fashion_mnist, "FILES", {**checksums, "t10k-images-idx3-ubyte.gz": "0" * 32})
    (sandbox["cache"] / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(_files.ChecksumError, match="md5"):
        fashion_mnist.load_data()


def test_cifar_download_and_extract(http_server, sandbox, monkeypatch, tmp_path):
    images, labels = _cifar_arrays(seed=2)
    archive = _write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", images, labels)
    sha256, _ = _serve(http_server, "cifar-10-python.tar.gz", archive.read_bytes())
    monkeypatch.setattr(cifar10, "SHA256", sha256)
    _check_cifar(cifar10.load_data(), images, labels)
    assert (sandbox["cache"] / "cifar-10-batches-py" / "data_batch_5").is_file()


def test_base_url_can_be_overridden(monkeypatch):
    monkeypatch.setenv("TINYCONV_DATASETS_URL", "http://127.0.0.1:1/mirror")
    assert _files.base_url(_files.KERAS_DATASETS_URL) == "http://127.0.0.1:1/mirror/"
    monkeypatch.delenv("TINYCONV_DATASETS_URL")
    assert _files.base_url(_files.KERAS_DATASETS_URL).startswith("https://storage.googleapis.com/")
