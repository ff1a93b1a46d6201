"""utils.get_file (Keras's cache, hashes, extraction, no partial files), load_img / img_to_array /
array_to_img / save_img, and image_dataset_from_directory (Keras's file order and split, batches fit takes).

Nothing is downloaded: "remote" files are served from a temporary folder through file:// URLs or a loopback
HTTP server, and a closed port stands for being offline."""
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile

import numpy as np
import pytest

import tinyconv
from tinyconv import layers
from tinyconv.utils import files, image_dataset, images

PIL = pytest.importorskip("PIL", reason="image files are read and written with Pillow (pip install pillow)")


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    return folder


def _closed_port_url(name):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/{name}"


# ------------------------------------------------------------------ get_file
def test_get_file_downloads_into_keras_cache_and_reuses_it(keras_home, served):
    (served / "notes.txt").write_text("hello")
    origin = (served / "notes.txt").as_uri()
    digest = hashlib.sha256(b"hello").hexdigest()
    path = files.get_file("notes.txt", origin, file_hash=digest)
    assert path == str(keras_home / "datasets" / "notes.txt") and open(path).read() == "hello"
    (served / "notes.txt").write_text("changed on the server")
    assert open(files.get_file("notes.txt", origin, file_hash=digest)).read() == "hello"  # cached, not fetched
    assert open(files.get_file("notes.txt", origin, force_download=True)).read() == "changed on the server"


def test_get_file_finds_what_keras_downloaded(keras_home):
    cached = keras_home / "models" / "weights.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"keras put me here")
    path = files.get_file("weights.h5", _closed_port_url("weights.h5"), cache_subdir="models",
                          md5_hash=hashlib.md5(b"keras put me here").hexdigest())
    assert path == str(cached)


def test_get_file_name_defaults_to_the_url(keras_home, served, tmp_path):
    (served / "data.bin").write_bytes(b"\x00\x01")
    path = files.get_file(origin=(served / "data.bin").as_uri(), cache_dir=tmp_path / "elsewhere")
    assert path == str(tmp_path / "elsewhere" / "datasets" / "data.bin")


def test_a_stale_cached_file_is_downloaded_again(keras_home, served):
    (served / "f.txt").write_text("good")
    target = keras_home / "datasets" / "f.txt"
    target.parent.mkdir(parents=True)
    target.write_text("truncated")
    files.get_file("f.txt", (served / "f.txt").as_uri(), file_hash=hashlib.md5(b"good").hexdigest())
    assert target.read_text() == "good"


def test_corrupt_or_failed_downloads_leave_no_file(keras_home, served):
    (served / "f.txt").write_text("tampered")
    with pytest.raises(ValueError, match="corrupted"):
        files.get_file("f.txt", (served / "f.txt").as_uri(), file_hash="0" * 64)
    with pytest.raises(OSError, match=r"Offline, put the file at .*f\.txt"):
        files.get_file("f.txt", _closed_port_url("f.txt"))
    assert os.listdir(keras_home / "datasets") == []


def test_a_stalled_server_times_out(keras_home, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    monkeypatch.setattr(files, "DOWNLOAD_TIMEOUT_S", 0.5)
    try:
        with pytest.raises(OSError, match="timed out"):
            files.get_file("slow.bin", f"http://127.0.0.1:{listener.getsockname()[1]}/slow.bin")
    finally:
        listener.close()
    assert os.listdir(keras_home / "datasets") == []


def test_get_file_over_http(keras_home, served):
    (served / "page.txt").write_text("over http")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        path = files.get_file("page.txt", f"http://127.0.0.1:{server.server_address[1]}/page.txt")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert open(path).read() == "over http"


def test_extract_tar_and_zip_with_keras_folder_names(keras_home, served):
    with tarfile.open(served / "pics.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("pics/a.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"a"))
    with zipfile.ZipFile(served / "notes.zip", "w") as archive:
        archive.writestr("b.txt", "b")
        archive.writestr("../escape.txt", "x")  # must not leave the folder
    folder = files.get_file("pics", (served / "pics.tar.gz").as_uri(), untar=True)
    assert folder == str(keras_home / "datasets" / "pics") and open(os.path.join(folder, "pics", "a.txt")).read() == "a"
    assert os.path.isfile(keras_home / "datasets" / "pics_archive")
    folder = files.get_file("notes.zip", (served / "notes.zip").as_uri(), extract=True)
    assert folder == str(keras_home / "datasets" / "notes_extracted")
    assert open(os.path.join(folder, "b.txt")).read() == "b"
    assert not (keras_home / "datasets" / "escape.txt").exists()


def test_get_file_bad_arguments(keras_home):
    with pytest.raises(ValueError, match="origin"):
        files.get_file("x")
    with pytest.raises(ValueError, match="bare file name"):
        files.get_file("sub/x.txt", "http://127.0.0.1:9/x.txt")
    with pytest.raises(ValueError, match="hash_algorithm"):
        files.get_file("x.txt", "http://127.0.0.1:9/x.txt", hash_algorithm="sha1")


def test_hashes_match_keras():
    keras = pytest.importorskip("keras")
    from keras.src.utils import file_utils

    path = os.path.abspath(__file__)
    for algorithm in ("sha256", "md5"):
        assert files.hash_file(path, algorithm) == file_utils.hash_file(path, algorithm)
    assert keras is not None


# ------------------------------------------------------------------ images
def test_image_round_trip_and_modes(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.float32)
    images.save_img(tmp_path / "a.png", x, scale=False)
    loaded = images.img_to_array(images.load_img(tmp_path / "a.png"))
    assert loaded.shape == (5, 7, 3) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, x)
    grey = images.img_to_array(images.load_img(str(tmp_path / "a.png"), color_mode="grayscale"))
    assert grey.shape == (5, 7, 1)
    assert images.img_to_array(images.load_img(tmp_path / "a.png", color_mode="rgba")).shape == (5, 7, 4)
    assert images.img_to_array(images.load_img(tmp_path / "a.png"), data_format="channels_first").shape == (3, 5, 7)
    resized = images.load_img(tmp_path / "a.png", target_size=(2, 3), interpolation="bilinear")
    assert resized.size == (3, 2)
    scaled = images.img_to_array(images.array_to_img(x / 1000.0))
    assert scaled.min() == 0 and scaled.max() == 255  # scale=True stretches to 0..255
    assert images.array_to_img(np.full((2, 2, 1), 1000.0), scale=False).mode == "I"


@pytest.mark.parametrize("kwargs", [dict(target_size=(3, 3), keep_aspect_ratio=True),
                                    dict(target_size=(4, 2), interpolation="bicubic"),
                                    dict(color_mode="grayscale", target_size=(5, 5))])
def test_load_img_matches_keras(tmp_path, kwargs):
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(1).integers(0, 256, (6, 9, 3)).astype(np.float32)
    images.save_img(tmp_path / "b.png", x, scale=False)
    ours = images.img_to_array(images.load_img(tmp_path / "b.png", **kwargs))
    theirs = keras.utils.img_to_array(keras.utils.load_img(tmp_path / "b.png", **kwargs))
    np.testing.assert_array_equal(ours, theirs)


def test_image_errors_name_what_to_fix(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="color_mode"):
        images.load_img(tmp_path / "none.png", color_mode="cmyk")
    with pytest.raises(TypeError, match="path-like"):
        images.load_img(42)
    with pytest.raises(ValueError, match="channels"):
        images.array_to_img(np.zeros((2, 2, 2)))
    monkeypatch.setattr(images, "pil_image", lambda: (_ for _ in ()).throw(ImportError("pip install pillow")))
    with pytest.raises(ImportError, match="pip install pillow"):
        images.save_img(tmp_path / "c.png", np.zeros((2, 2, 3)))


# ------------------------------------------------------------------ image_dataset_from_directory
def _image_folder(root, counts, size=(6, 8)):
    rng = np.random.default_rng(2)
    for name, count in counts.items():
        folder = root / name
        (folder / "nested").mkdir(parents=True)
        for i in range(count):
            where = folder / "nested" if i % 3 == 0 else folder
            images.save_img(where / f"img_{i:02d}.png", rng.integers(0, 256, size + (3,)).astype(np.float32),
                            scale=False)
        (folder / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


@pytest.mark.parametrize("shuffle, seed", [(True, 7), (False, None), (True, 123)])
def test_file_order_labels_and_split_match_keras(tmp_path, shuffle, seed):
    keras = pytest.importorskip("keras")
    from keras.src.utils import dataset_utils

    root = _image_folder(tmp_path, {"cats": 5, "dogs": 4, "emus": 3})
    paths, labels, names = image_dataset.index_directory(str(root), "inferred", shuffle=shuffle, seed=seed)
    k_paths, k_labels, k_names = dataset_utils.index_directory(str(root), "inferred", formats=(".png",),
                                                              shuffle=shuffle, seed=seed, verbose=False)
    assert paths == k_paths and names == k_names and np.array_equal(labels, k_labels)
    for subset in ("training", "validation"):
        ours = image_dataset.split(paths, labels, 0.25, subset)
        theirs = dataset_utils.get_training_or_validation_split(k_paths, k_labels, 0.25, subset)
        assert ours[0] == theirs[0] and np.array_equal(ours[1], theirs[1])
    assert keras is not None


def test_dataset_batches_fit_and_class_names(tmp_path, capsys):
    root = _image_folder(tmp_path, {"cats": 5, "dogs": 4})
    train, validation = tinyconv.utils.image_dataset_from_directory(
        root, validation_split=0.3, subset="both", seed=1, image_size=(4, 5), batch_size=3)
    assert "Found 9 files belonging to 2 classes." in capsys.readouterr().out
    assert train.class_names == validation.class_names == ["cats", "dogs"]
    assert len(train.file_paths) == 7 and len(validation.file_paths) == 2 and len(train) == 3
    assert not set(train.file_paths) & set(validation.file_paths)
    x, y = train[0]
    assert x.shape == (3, 4, 5, 3) and x.dtype == np.float32 and y.dtype == np.int32
    first_pass = [tuple(batch[1]) for batch in train]
    train.on_epoch_end()
    assert sorted(sum(first_pass, ())) == sorted(sum([tuple(b[1]) for b in train], ()))  # same files, new order
    model = tinyconv.Sequential([tinyconv.Input((4, 5, 3)), layers.Rescaling(1 / 255.0), layers.Flatten(),
                                 layers.Dense(2)])
    model.compile("adam", tinyconv.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(train, validation_data=validation, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


def test_label_modes_and_resizing_as_keras(tmp_path):
    root = _image_folder(tmp_path, {"a": 2, "b": 2}, size=(6, 8))
    one_hot = tinyconv.utils.image_dataset_from_directory(root, label_mode="categorical", shuffle=False,
                                                          image_size=(3, 4), verbose=False)
    x, y = one_hot[0]
    np.testing.assert_array_equal(y, [[1, 0], [1, 0], [0, 1], [0, 1]])
    # Keras resizes with the half-pixel bilinear formula (tf.image.resize): 6x8 -> 3x4 averages 2x2 blocks
    original = images.img_to_array(images.load_img(one_hot.file_paths[0]))
    np.testing.assert_allclose(x[0], original.reshape(3, 2, 4, 2, 3).mean(axis=(1, 3)), rtol=1e-5)
    binary = tinyconv.utils.image_dataset_from_directory(root, label_mode="binary", shuffle=False,
                                                         image_size=(6, 8), verbose=False)
    assert binary[0][1].shape == (4, 1) and binary[0][1].dtype == np.float32
    unlabeled = tinyconv.utils.image_dataset_from_directory(root, labels=None, batch_size=None,
                                                            image_size=(6, 6), crop_to_aspect_ratio=True,
                                                            shuffle=False, verbose=False)
    assert unlabeled.class_names is None and unlabeled[0].shape == (6, 6, 3) and len(unlabeled) == 4
    np.testing.assert_array_equal(unlabeled[0], images.img_to_array(images.load_img(unlabeled.file_paths[0]))[:, 1:7])
    grey = tinyconv.utils.image_dataset_from_directory(root, color_mode="grayscale", image_size=(6, 8),
                                                       class_names=["b"], verbose=False, seed=0)
    assert grey.class_names == ["b"] and grey[0][0].shape == (2, 6, 8, 1)


def test_dataset_argument_errors(tmp_path):
    root = _image_folder(tmp_path, {"a": 2, "b": 1, "c": 1})
    make = tinyconv.utils.image_dataset_from_directory
    with pytest.raises(ValueError, match="seed"):
        make(root, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        make(root, label_mode="binary", verbose=False)
    with pytest.raises(ValueError, match="label_mode"):
        make(root, label_mode="sparse")
    with pytest.raises(ValueError, match="class_names"):
        make(root, class_names=["zebra"], verbose=False)
    (tmp_path / "empty" / "class_a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images found"):
        make(tmp_path / "empty", verbose=False)


def test_examples_in_docstrings_run(tmp_path, monkeypatch):
    import doctest
    import tempfile

    from tinyconv.utils import plotting, resample

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for module in (files, images, image_dataset, plotting, resample):
        namespace = {"np": np, "tinyconv": tinyconv, "save_img": images.save_img,
                     "image_dataset_from_directory": image_dataset.image_dataset_from_directory}
        result = doctest.testmod(module, extraglobs=namespace, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
