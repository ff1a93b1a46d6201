"""Every lab runs top to bottom as a script, quickly; every student copy stops at its first exercise.

The labs (``labs/*.py``, all of them, whoever wrote them) run with ``TINYCONV_LAB_QUICK=1`` (their
small settings) and ``MPLBACKEND=Agg`` (pictures drawn off screen), each in a fresh interpreter and
a scratch folder, several at a time.  The stripped copies (``tools/labs.py strip``) of the labs that
have exercises must fail, and say why: the NotImplementedError the student replaces.
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from . import load_lab_tool

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("*.py"))
COURSE_LABS = ["01_convolution_by_hand.py", "02_output_sizes.py", "03_pooling_and_unpooling.py",
               "04_backprop_conv_pool.py", "05_batch_norm.py"]
LAB_TIMEOUT = 120  # seconds; a quick lab takes a few


labs_tool = load_lab_tool()
WITH_EXERCISES = [lab for lab in LABS if labs_tool.solution_blocks(lab.read_text(encoding="utf-8").splitlines(True))]


def lab_environment():
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # Labs run side by side: one OpenMP thread each keeps them from fighting over the cores.
    return {**os.environ, "TINYCONV_LAB_QUICK": "1", "MPLBACKEND": "Agg", "PYTHONPATH": path,
            "OMP_NUM_THREADS": "1"}


def run(script, folder):
    try:
        done = subprocess.run([sys.executable, str(script)], cwd=folder, env=lab_environment(), capture_output=True,
                              text=True, timeout=LAB_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        return None, f"{script.name} ran longer than {LAB_TIMEOUT} s\n{error.stdout or ''}{error.stderr or ''}"
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run every lab and every student copy once, in parallel; {(kind, lab name): (exit code, output)}."""
    jobs = []
    for lab in LABS:
        jobs.append((("lab", lab.name), lab, tmp_path_factory.mktemp(lab.stem)))
    for lab in WITH_EXERCISES:
        folder = tmp_path_factory.mktemp("student_" + lab.stem)
        student = folder / lab.name
        student.write_text(labs_tool.strip_source(lab.read_text(encoding="utf-8"), str(lab)), encoding="utf-8")
        jobs.append((("student", lab.name), student, folder))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = pool.map(lambda job: (job[0], run(job[1], job[2])), jobs)
        return dict(results)


def test_the_course_labs_exist():
    names = {lab.name for lab in LABS}
    missing = [name for name in COURSE_LABS if name not in names]
    assert not missing, f"labs missing from labs/: {missing}"
    for name in COURSE_LABS:
        assert ROOT / "labs" / name in WITH_EXERCISES, f"{name} has no exercise"


@pytest.mark.parametrize("lab", [lab.name for lab in LABS])
def test_the_lab_runs(lab, runs):
    code, output = runs[("lab", lab)]
    assert code == 0, f"{lab} failed (exit {code}):\n{output[-4000:]}"


@pytest.mark.parametrize("lab", [lab.name for lab in WITH_EXERCISES])
def test_the_student_copy_stops_at_its_first_exercise(lab, runs):
    code, output = runs[("student", lab)]
    assert code not in (0, None), f"the student copy of {lab} did not fail (exit {code}):\n{output[-2000:]}"
    assert "NotImplementedError" in output and "write your code here" in output, output[-2000:]
