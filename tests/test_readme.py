"""The README keeps its promises: every Python snippet runs as written, and `make demo` installs
into whichever interpreter runs it.

A snippet that needs hardware the test machine may lack says so on its first line with a marker
comment, ``# requires: gpu``; it is skipped, with the reason, where no CUDA device is usable.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
REQUIRES = re.compile(r"^#\s*requires:\s*(\w+)", re.M)


def readme_snippets():
    with open(README, encoding="utf-8") as handle:
        return re.findall(r"```python\n(.*?)```", handle.read(), re.S)


def gpu_missing():
    """Why the GPU snippets cannot run here, or None when they can."""
    from tinyconv import devices

    try:
        devices.find_cupy()
    except RuntimeError as error:
        return str(error)
    return None


def test_the_readme_has_snippets():
    assert len(readme_snippets()) >= 2


@pytest.mark.parametrize("index", range(len(readme_snippets())))
def test_readme_snippet_runs_as_written(index):
    code = readme_snippets()[index]
    needs = set(REQUIRES.findall(code))
    unknown = needs - {"gpu"}
    assert not unknown, f"README snippet {index}: unknown '# requires:' marker(s) {sorted(unknown)}"
    if "gpu" in needs:
        reason = gpu_missing()
        if reason:
            pytest.skip(f"README snippet {index} is marked '# requires: gpu': {reason}")
    if "datasets.digits" in code and importlib.util.find_spec("sklearn") is None:
        pytest.skip("the digits come with scikit-learn (pip install '.[data]')")
    env = dict(os.environ, PYTHONPATH=ROOT)  # this checkout's tinyconv, whatever is installed
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, f"README snippet {index} failed:\n{code}\n{result.stderr[-3000:]}"


# --- make demo: the install stamp belongs to the interpreter ------------------------------------

def stamp_for(python):
    """The stamp file the Makefile would use for ``python`` (make evaluates, runs nothing)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", ROOT, f"PYTHON={python}",
         "--eval", "print-install-stamp: ; @echo $(STAMP)", "print-install-stamp"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_each_virtual_environment_gets_its_own_install_stamp(tmp_path):
    # A second venv on the same checkout: its `make demo` must install, not trust the first one's stamp.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True,
                   timeout=120)
    other_python = tmp_path / "venv" / "bin" / "python"
    here, there = stamp_for(sys.executable), stamp_for(other_python)
    assert here.startswith("build/.installed") and there.startswith("build/.installed")
    assert here != there
    assert stamp_for(sys.executable) == here  # the same interpreter keeps its stamp between runs
