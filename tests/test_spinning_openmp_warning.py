"""A libgomp loaded before tinyconv without OMP_WAIT_POLICY (PyTorch's) spins: tinyconv says so, with the fix."""
import importlib.util
import os
import subprocess
import sys

import pytest

from tinyconv import parallel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAPPED = "7f00-7f01 r-xp 00000000 08:01 1 /site-packages/torch/lib/libgomp.so.1\n"
OTHER = "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/libc.so.6\n"


@pytest.mark.parametrize("maps, environ, expected", [
    (MAPPED, {}, True),
    (OTHER, {}, False),                                   # no OpenMP loaded yet: tinyconv's setting applies
    (MAPPED, {"OMP_WAIT_POLICY": "PASSIVE"}, False),      # the user chose the waits before it loaded
    (MAPPED, {"GOMP_SPINCOUNT": "0"}, False),
])
def test_detection_reads_the_memory_map_and_the_environment(tmp_path, maps, environ, expected):
    path = tmp_path / "maps"
    path.write_text(maps)
    assert parallel.spinning_openmp_runtime_loaded(str(path), environ) is expected


def test_no_memory_map_means_no_warning(tmp_path):
    assert parallel.spinning_openmp_runtime_loaded(str(tmp_path / "absent"), {}) is False


def run(code, **environ):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch, whose wheel ships libgomp")
def test_importing_torch_first_warns_with_the_fix_and_passive_waits_do_not():
    import torch  # noqa: F401  (only to find where its OpenMP lives)
    torch_gomp = os.path.join(os.path.dirname(sys.modules["torch"].__file__), "lib", "libgomp.so.1")
    if not os.path.exists(torch_gomp):
        pytest.skip("this PyTorch build brings no libgomp of its own")
    first = run("import numpy, torch, tinyconv")
    assert first.returncode == 0, first.stderr
    assert "OMP_WAIT_POLICY=PASSIVE" in first.stderr and "set_num_threads(1)" in first.stderr
    for quiet in (run("import numpy, tinyconv, torch"), run("import torch, tinyconv", OMP_WAIT_POLICY="PASSIVE")):
        assert quiet.returncode == 0 and "libgomp" not in quiet.stderr, quiet.stderr
