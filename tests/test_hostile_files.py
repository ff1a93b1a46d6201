"""Files that try to make loading do more than it should: read other files (external storage, virtual
datasets, links), allocate gigabytes (huge declared shapes, zip bombs), change half a model (a bad
dataset in the second layer), run code (lambdas in a config).  Each is built here, in ``tmp_path``;
each must be refused with a clear error, quickly, without reading the bytes, and leave the model as it was.
"""
import io
import json
import os
import signal
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="saving needs h5py")

import tinyconv as keras  # noqa: E402
from tinyconv import layers  # noqa: E402
from tinyconv.saving import atomic, h5_weights, keras_zip  # noqa: E402

X = np.random.default_rng(0).random((6, 4, 4, 1)).astype("float32")
Y = np.arange(6) % 3


def _model():
    """conv2d (3, 3, 1, 2) + (2,), then dense (8, 3) + (3,): 'layer 1' and 'layer 2'."""
    return keras.Sequential([keras.Input((4, 4, 1)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
                             layers.Dense(3, activation="softmax")])


def _snapshot(model):
    return [w.copy() for w in model.weights]


def _assert_unchanged(model, before):
    for old, new in zip(before, model.weights):
        assert old.tobytes() == new.tobytes(), "a failed load changed the model's weights"


def _dense_kernel_path(h5):
    """Where the second layer's kernel lives: Keras 3 layout or Keras 2 layout."""
    if "layers" in h5:
        return "layers/dense/vars/0"
    found = []
    h5.visititems(lambda name, obj: found.append(name) if name.endswith("kernel:0") and "dense" in name else None)
    return found[0]


def _weights_file(tmp_path, model, suffix):
    path = tmp_path / f"w{suffix}"
    model.save_weights(path)
    return path


def _replace_dense_kernel(path, make):
    """Swap the dense kernel for ``make(group, name)``'s object (a link, a dataset)."""
    with h5py.File(path, "r+") as h5:
        where = _dense_kernel_path(h5)
        group_name, name = where.rsplit("/", 1)
        group = h5[group_name]
        del group[name]
        make(group, name)


FORMATS = [".weights.h5", ".h5"]


# ------------------------------------------------------------------ reading other files
@pytest.mark.parametrize("suffix", FORMATS)
def test_external_storage_is_refused(tmp_path, suffix):
    model = _model()
    before = _snapshot(model)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full((8, 3), 7.0, dtype="float32").tobytes())
    path = _weights_file(tmp_path, model, suffix)
    _replace_dense_kernel(path, lambda g, n: g.create_dataset(n, shape=(8, 3), dtype="float32",
                                                             external=[(str(secret), 0, 8 * 3 * 4)]))
    with pytest.raises(ValueError, match="external file"):
        model.load_weights(path)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("suffix", FORMATS)
def test_virtual_dataset_is_refused(tmp_path, suffix):
    model = _model()
    before = _snapshot(model)
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as h5:
        h5["data"] = np.full((8, 3), 7.0, dtype="float32")
    path = _weights_file(tmp_path, model, suffix)

    def virtual(group, name):
        layout = h5py.VirtualLayout(shape=(8, 3), dtype="float32")
        layout[...] = h5py.VirtualSource(str(source), "data", shape=(8, 3))
        group.create_virtual_dataset(name, layout)

    _replace_dense_kernel(path, virtual)
    with pytest.raises(ValueError, match="virtual dataset"):
        model.load_weights(path)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("link", ["soft", "external"])
def test_links_are_refused(tmp_path, suffix, link):
    model = _model()
    before = _snapshot(model)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["data"] = np.full((8, 3), 7.0, dtype="float32")
    path = _weights_file(tmp_path, model, suffix)
    with h5py.File(path, "r+") as h5:
        h5["elsewhere"] = np.full((8, 3), 7.0, dtype="float32")

    def make(group, name):
        group[name] = h5py.SoftLink("/elsewhere") if link == "soft" else h5py.ExternalLink(str(other), "/data")

    _replace_dense_kernel(path, make)
    with pytest.raises(ValueError, match=f"{link} link"):
        model.load_weights(path)
    _assert_unchanged(model, before)


def test_a_linked_group_on_the_way_is_refused(tmp_path):
    model = _model()
    path = _weights_file(tmp_path, model, ".weights.h5")
    with h5py.File(path, "r+") as h5:
        h5.move("layers/dense", "hidden_dense")
        h5["layers/dense"] = h5py.SoftLink("/hidden_dense")
    with pytest.raises(ValueError, match="soft link"):
        model.load_weights(path)


# ------------------------------------------------------------------ huge declarations
def _peak_bytes_while(call):
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_4_tib_declaration_fails_on_its_shape_without_reading(tmp_path, suffix):
    model = _model()
    before = _snapshot(model)
    path = _weights_file(tmp_path, model, suffix)
    _replace_dense_kernel(path, lambda g, n: g.create_dataset(n, shape=(1 << 20, 1 << 20), dtype="float32"))
    assert os.path.getsize(path) < 64 << 10  # the file is small; only its declaration is huge
    with pytest.raises(ValueError, match=r"\(8, 3\) in the model but the file declares \(1048576, 1048576\)"):
        model.load_weights(path)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_64_mib_declaration_is_never_read(tmp_path, suffix):
    model = _model()
    path = _weights_file(tmp_path, model, suffix)
    _replace_dense_kernel(path, lambda g, n: g.create_dataset(n, shape=(4096, 4096), dtype="float32"))

    def load():
        with pytest.raises(ValueError, match="kernel") as refused:
            model.load_weights(path)
        return refused

    assert _peak_bytes_while(load) < 4 << 20


def test_a_huge_optimizer_slot_is_never_read(tmp_path):
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    # the iteration count, declared as 64 MiB
    weights = _rewritten_weights(path, lambda h5: (h5.__delitem__("optimizer/vars/0"),
                                                   h5.create_dataset("optimizer/vars/0", shape=(1 << 24,),
                                                                     dtype="float32")))
    _write_keras(path, weights=weights)

    def load():
        with pytest.raises(ValueError, match="one number"):
            keras.models.load_model(path)

    assert _peak_bytes_while(load) < 4 << 20


# ------------------------------------------------------------------ zip bombs
def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_keras(path, **replaced):
    """Rewrite a .keras file with some members replaced (``weights=`` / ``config=`` bytes)."""
    members = _members(path)
    names = {"weights": keras_zip.WEIGHTS_FILE, "config": keras_zip.CONFIG_FILE}
    members.update({names[key]: value for key, value in replaced.items()})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _rewritten_weights(path, change):
    data = _members(path)[keras_zip.WEIGHTS_FILE]
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as h5:
        change(h5)
    return buffer.getvalue()


def _zip_with_bomb(path, member, size, declared=None):
    """Copy ``path`` with ``member`` replaced by ``size`` zero bytes, deflated (a few kilobytes on disk).
    ``declared``: the uncompressed size the central directory claims instead of the true one."""
    members = _members(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name != member:
                archive.writestr(name, data)
        with archive.open(member, "w", force_zip64=True) as handle:
            zeros = bytes(1 << 20)
            for _ in range(size >> 20):
                handle.write(zeros)
        if declared is not None:
            archive.getinfo(member).file_size = declared
    return path


@pytest.mark.parametrize("loader", ["load_model", "load_weights"])
def test_a_weights_member_declaring_more_than_the_model_needs_is_refused_before_inflating(tmp_path, loader):
    model = _model()
    before = _snapshot(model)
    path = tmp_path / "m.keras"
    model.save(path)
    _zip_with_bomb(path, keras_zip.WEIGHTS_FILE, 64 << 20)
    assert os.path.getsize(path) < 1 << 20

    def load():
        with pytest.raises(ValueError, match="declares 67,108,864 bytes.*refused"):
            keras.models.load_model(path) if loader == "load_model" else model.load_weights(path)

    assert _peak_bytes_while(load) < 8 << 20
    _assert_unchanged(model, before)


def test_a_weights_member_lying_about_its_size_is_cut_off(tmp_path):
    model = _model()
    path = tmp_path / "m.keras"
    model.save(path)
    _zip_with_bomb(path, keras_zip.WEIGHTS_FILE, 64 << 20, declared=1000)

    def load():
        with pytest.raises(ValueError, match="damaged"):
            keras.models.load_model(path)

    assert _peak_bytes_while(load) < 8 << 20


def test_a_config_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "m.keras"
    _model().save(path)
    _zip_with_bomb(path, keras_zip.CONFIG_FILE, 80 << 20)

    def load():
        with pytest.raises(ValueError, match="config.json declares.*refused"):
            keras.models.load_model(path)

    assert _peak_bytes_while(load) < 8 << 20


def test_the_weights_limit_follows_the_model():
    small, large = _model(), keras.Sequential([keras.Input((64,)), layers.Dense(1024), layers.Dense(1024)])
    assert keras_zip.weights_limit_bytes(small) < keras_zip.weights_limit_bytes(large)
    assert keras_zip.weights_limit_bytes(large) >= 4 * sum(w.nbytes for w in large.weights)


# ------------------------------------------------------------------ all or nothing
@pytest.mark.parametrize("suffix", FORMATS)
def test_a_string_dataset_in_layer_2_leaves_layer_1_untouched(tmp_path, suffix):
    model = _model()
    path = _weights_file(tmp_path, model, suffix)
    for weight in model.weights:  # the file now differs from the model everywhere
        weight += 1.0
    before = _snapshot(model)
    _replace_dense_kernel(path, lambda g, n: g.create_dataset(n, data=np.full((8, 3), b"abcd")))
    with pytest.raises(ValueError) as refused:
        model.load_weights(path)
    _assert_unchanged(model, before)
    assert "holds |S4 values; weights must be numbers" in str(refused.value)


def _optimizer_state(optimizer):
    return optimizer.iterations, {key: {slot: np.array(value, copy=True) for slot, value in state.items()
                                        if isinstance(value, np.ndarray)}
                                  for key, state in optimizer._state.items()}


def test_a_bad_optimizer_slot_leaves_weights_and_optimizer_untouched(tmp_path):
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)
    path = tmp_path / "state.h5"
    with h5py.File(path, "w") as h5:
        h5_weights.write_model_state(h5, model, include_optimizer=True)
    model.fit(X, Y, epochs=2, verbose=0)  # weights, slots and iterations move on from the file's
    weights, (iterations, slots) = _snapshot(model), _optimizer_state(model.optimizer)
    with h5py.File(path, "r+") as h5:
        shape = h5["optimizer/vars/5"].shape
        del h5["optimizer/vars/5"]
        h5.create_dataset("optimizer/vars/5", data=np.full(shape, b"x"))
    with h5py.File(path, "r") as h5, pytest.raises(ValueError) as refused:
        h5_weights.read_model_state(h5, model, load_optimizer=True)
    _assert_unchanged(model, weights)
    after_iterations, after_slots = _optimizer_state(model.optimizer)
    assert after_iterations == iterations
    assert after_slots.keys() == slots.keys()
    for key in slots:
        for slot in slots[key]:
            assert after_slots[key][slot].tobytes() == slots[key][slot].tobytes()
    assert "weights must be numbers" in str(refused.value)


def test_a_good_file_still_restores_weights_and_optimizer(tmp_path):
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.iterations == model.optimizer.iterations


# ------------------------------------------------------------------ activations and code in configs
KERAS_FUNCTION_FORM = {"module": "builtins", "class_name": "function", "config": "relu",
                       "registered_name": "function"}
KERAS_LAMBDA_FORM = {"value": ["4wEAAAAAAAAAAAAAAAEAAAADAAAA8wYAAACXAHwAUwCpAU4=\n", None, None]}


def _keras_file_with_activation(tmp_path, activation):
    path = tmp_path / "m.keras"
    _model().save(path)
    config = json.loads(_members(path)[keras_zip.CONFIG_FILE])
    config["config"]["layers"][1]["config"]["activation"] = activation
    _write_keras(path, config=json.dumps(config).encode())
    return path


def test_keras_dict_form_of_an_activation_loads(tmp_path):
    model = keras.models.load_model(_keras_file_with_activation(tmp_path, KERAS_FUNCTION_FORM))
    assert model.layers[0].activation is keras.activations.relu
    assert keras.activations.deserialize(KERAS_FUNCTION_FORM) is keras.activations.relu


@pytest.mark.parametrize("safe_mode", [True, False])
def test_a_lambda_activation_is_refused_in_either_mode(tmp_path, safe_mode):
    path = _keras_file_with_activation(tmp_path, KERAS_LAMBDA_FORM)
    with pytest.raises(ValueError, match="Conv2D 'conv2d.*lambda.*never runs code from a file"):
        keras.saving.load_model(path, safe_mode=safe_mode)


@pytest.mark.parametrize("activation", [{"module": "keras.layers", "class_name": "ReLU", "config": {}},
                                        {"class_name": "function", "config": {"name": "relu"}}, ["relu"]])
def test_other_activation_forms_are_refused_with_a_message(activation):
    with pytest.raises(ValueError, match="is not allowed"):
        keras.activations.get(activation)


def test_an_unknown_function_name_in_the_dict_form_is_refused(tmp_path):
    path = _keras_file_with_activation(tmp_path, {**KERAS_FUNCTION_FORM, "module": "os", "config": "system"})
    with pytest.raises(ValueError, match="unknown activation 'system'"):
        keras.models.load_model(path)


def test_safe_mode_is_taken_and_checked(tmp_path):
    path = tmp_path / "m.keras"
    _model().save(path)
    keras.saving.load_model(path, safe_mode=False)
    with pytest.raises(TypeError, match="safe_mode must be True or False"):
        keras.saving.load_model(path, safe_mode="off")
    with pytest.raises(TypeError, match="safe_mode must be True or False"):   # the models facade passes it on
        keras.models.load_model(path, safe_mode="off")


# ------------------------------------------------------------------ interrupted saves
def _killed_during_save(target):
    """Run a save to ``target`` in a child process and kill -9 it halfway: its temporary file stays."""
    script = (
        "import importlib.util, os, signal, sys\n"
        f"spec = importlib.util.spec_from_file_location('atomic', {atomic.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"with module.atomic_path({str(target)!r}) as temporary:\n"
        "    open(temporary, 'wb').write(b'half a model')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert result.returncode == -signal.SIGKILL


def test_a_save_removes_temporaries_left_by_killed_saves_and_nothing_else(tmp_path):
    target = tmp_path / "m.keras"
    for _ in range(3):
        _killed_during_save(target)
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # kill -9 left its temporary file
    old_style = tmp_path / ".m.keras.abcd_123.tmp"  # from before the PID was in the name, and old
    old_style.write_bytes(b"old")
    os.utime(old_style, (1, 1))
    kept = [".m.keras.running1.{}.tmp".format(os.getpid()),  # a save in progress in this process
            ".other.keras.abcdefgh.1.tmp", ".m.keras.abcdefgh.tmp.bak", "m.keras.abcdefgh.tmp",
            ".m.keras.abc.tmp", "notes.tmp", ".m.keras.h5.abcdefgh.tmp"]
    for name in kept:
        (tmp_path / name).write_bytes(b"keep")
        os.utime(tmp_path / name, (1, 1))

    _model().save(target)

    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"m.keras", *kept}
    assert zipfile.is_zipfile(target)


def test_a_newer_temporary_of_a_dead_process_is_kept(tmp_path):
    target = tmp_path / "m.keras"
    newer = tmp_path / ".m.keras.zzzzzzzz.tmp"
    newer.write_bytes(b"written after this save began")
    os.utime(newer, (4e9, 4e9))
    _model().save(target)
    assert newer.exists()
