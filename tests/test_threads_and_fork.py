"""The kernels' thread count is one for the whole process, and a forked child never hangs.

OpenMP keeps its own count per calling thread, so tinyconv keeps the count itself and every
compiled pass reads it; after fork (GNU OpenMP's threads do not survive it) the child runs the
kernels on one thread.
"""
import os
import pathlib
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import tinyconv
from tinyconv.kernels.cpu import activation_forward, threads

needs_openmp = pytest.mark.skipif(not tinyconv.openmp_enabled(), reason="kernels built without OpenMP")
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
BIG = 1 << 20  # elements: far above the size where a pass goes parallel


@pytest.fixture
def restore_threads():
    before = tinyconv.get_num_threads()
    yield
    tinyconv.set_num_threads(before)


def _on_new_thread(work):
    """Run ``work()`` on a threading.Thread started now; return what it returned (or raise what it raised)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the test's thread
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _os_threads():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("count", [1, 3])
def test_a_thread_started_later_sees_the_count(restore_threads, count):
    tinyconv.set_num_threads(count)

    def work():
        z = np.linspace(-1, 1, BIG, dtype=np.float32)
        np.testing.assert_array_equal(activation_forward(z, "relu"), np.maximum(z, 0))
        return tinyconv.get_num_threads()

    assert _on_new_thread(work) == (count if tinyconv.openmp_enabled() else 1)


@needs_openmp
@pytest.mark.parametrize("count", [1, 2, 3])
def test_compiled_passes_run_on_the_count(restore_threads, count):
    tinyconv.set_num_threads(count)
    big = max(BIG, threads.min_parallel_elements())   # (higher where waking a team was measured slow)
    assert threads.team_size_of_pass(big) == count
    assert _on_new_thread(lambda: threads.team_size_of_pass(big)) == count
    assert threads.team_size_of_pass(10) == 1  # small passes stay on one thread


@needs_openmp
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux's /proc")
@pytest.mark.parametrize("count", [1, 3])
def test_a_kernel_on_a_new_thread_starts_only_the_threads_asked_for(restore_threads, count):
    """Evidence from a real kernel: OpenMP keeps a finished team's threads (count - 1 of them,
    the calling thread being the first) until the calling thread ends."""
    z = np.linspace(-1, 1, BIG, dtype=np.float32)
    tinyconv.set_num_threads(count)

    def threads_started_by_a_kernel():
        before = _os_threads()
        activation_forward(z, "relu")
        return _os_threads() - before

    assert _on_new_thread(threads_started_by_a_kernel) == count - 1


FORKED_TRAINING = textwrap.dedent("""
    import multiprocessing, queue, sys, warnings
    import numpy as np
    import tinyconv as keras
    from tinyconv import layers

    def train_and_predict():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input(shape=(16, 16, 3)), layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(4, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x, y = rng.random((64, 16, 16, 3)).astype("float32"), rng.integers(0, 4, 64)
        model.fit(x, y, epochs=2, batch_size=64, verbose=0)
        return model.predict(x, verbose=0)

    def child(results):
        asked = keras.get_num_threads()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            keras.set_num_threads(2)
        a = np.ones((600, 600))
        results.put((asked, keras.get_num_threads(), [str(w.message) for w in caught], train_and_predict(),
                     float((a @ a).sum())))

    keras.set_num_threads(2)  # so the parent starts OpenMP's threads, whatever the core count
    expected = train_and_predict()
    np.ones((600, 600)) @ np.ones((600, 600))  # and OpenBLAS's
    results = multiprocessing.get_context("fork").Queue()
    worker = multiprocessing.get_context("fork").Process(target=child, args=(results,))
    worker.start()
    try:
        asked, after_set, messages, got, blas = results.get(timeout=45)
    except queue.Empty:
        worker.kill()
        sys.exit("the forked child did not finish")
    worker.join()
    assert (asked, after_set) == (1, 1), (asked, after_set)
    assert any("'spawn'" in message for message in messages), messages
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert blas == 600.0 ** 3, blas
    print("forked child matched")
""")


def _run_python(script, **environment):
    """Run ``script`` in a fresh interpreter importing the tinyconv under test; a hang fails the test."""
    root = pathlib.Path(tinyconv.__file__).resolve().parent.parent
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    try:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=path, **environment))
    except subprocess.TimeoutExpired:
        pytest.fail("the script hung (a forked child waiting for OpenMP's threads?)")


@needs_fork
def test_fit_and_predict_in_a_forked_child_finish_and_match():
    done = _run_python(FORKED_TRAINING)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "forked child matched" in done.stdout
    assert done.stderr.count("run on one thread here") == 1  # the child's warning, once, at fork


@needs_fork
def test_a_child_forked_before_the_kernels_loaded_keeps_every_thread():
    """Only a parent that loaded the kernels can have started OpenMP's threads."""
    script = textwrap.dedent("""
        import multiprocessing, sys
        import tinyconv
        assert "tinyconv.kernels.cpu.threads" not in sys.modules
        def child(results):
            results.put(tinyconv.get_num_threads())
        results = multiprocessing.get_context("fork").Queue()
        multiprocessing.get_context("fork").Process(target=child, args=(results,)).start()
        print("child threads", results.get(timeout=45))
    """)
    done = _run_python(script, OMP_NUM_THREADS="3")
    assert done.returncode == 0, done.stdout + done.stderr
    expected = 3 if tinyconv.openmp_enabled() else 1
    assert f"child threads {expected}" in done.stdout
    assert "run on one thread" not in done.stderr
