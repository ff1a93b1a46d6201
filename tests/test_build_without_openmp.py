"""A compiler without OpenMP (macOS's clang, say) must still build the kernels, single-threaded,
and say so.  We fake one: a gcc wrapper that refuses -fopenmp."""
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("gcc") is None or not (ROOT / "setup.py").exists(),
                    reason="needs gcc and the source tree's setup.py")
def test_build_without_openmp_warns_and_runs_single_threaded(tmp_path):
    fake_cc = tmp_path / "cc-without-openmp"
    fake_cc.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = "-fopenmp" ] && exit 1; done\nexec gcc "$@"\n')
    fake_cc.chmod(fake_cc.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, CC=str(fake_cc), LDSHARED=f"{fake_cc} -shared", TINYCONV_BUILD_ONLY="threads")
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    assert "without OpenMP" in build.stderr
    built = next((tmp_path / "lib").rglob("threads*.so"))
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('tinyconv.kernels.cpu.threads', {str(built)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "module.set_num_threads(4)\n"
        "print(module.openmp_enabled(), module.get_num_threads())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "1"], result.stderr
