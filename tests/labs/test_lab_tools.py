"""tools/labs.py: student copies without the solutions, the restore check, and the notebooks."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from . import load_lab_tool

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("*.py"))
labs_tool = load_lab_tool()

LAB_TEXT = '''# %% [markdown]
# # A lab
#
# Write `double`.

# %%
import numpy as np


def double(x):
    # BEGIN SOLUTION
    result = 2 * x
    return result
    # END SOLUTION


# %%
class Scaler:
    def scale(self, x):
        if x is not None:
            # BEGIN SOLUTION
            return 3 * x
            # END SOLUTION


print(double(np.arange(3)), Scaler().scale(1))
'''


# --------------------------------------------------------------------------------------------
# strip
# --------------------------------------------------------------------------------------------
def test_strip_replaces_each_block_at_its_indentation():
    stripped = labs_tool.strip_source(LAB_TEXT)
    assert "    raise NotImplementedError(\"write your code here\")\n" in stripped
    assert "            raise NotImplementedError(\"write your code here\")\n" in stripped
    assert stripped.count("NotImplementedError") == 2
    for solution_line in ("result = 2 * x", "return result", "return 3 * x", "BEGIN SOLUTION", "END SOLUTION"):
        assert solution_line not in stripped
    assert "def double(x):" in stripped and "print(double" in stripped  # the rest is untouched
    compile(stripped, "stripped", "exec")
    assert labs_tool.restore_source(stripped, LAB_TEXT) == LAB_TEXT
    assert labs_tool.strip_source("x = 1\n") == "x = 1\n"  # no blocks, no change


@pytest.mark.parametrize("text, words", [
    ("# BEGIN SOLUTION\nx = 1\n", "lab.py:1: '# BEGIN SOLUTION' is never closed"),
    ("x = 1\n# END SOLUTION\n", "lab.py:2: '# END SOLUTION' without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "lab.py:2: '# BEGIN SOLUTION' inside the block"),
    ("# BEGIN SOLUTION\n# nothing\n# END SOLUTION\n", "lab.py:1: an empty solution block"),
    ("if True:\n    # BEGIN SOLUTION\n    x = 1\n# END SOLUTION\n",
     "lab.py:4: '# END SOLUTION' is indented differently"),
])
def test_markers_that_do_not_pair_up_are_refused(text, words):
    with pytest.raises(labs_tool.LabFormatError, match=re.escape(words)):
        labs_tool.strip_source(text, "lab.py")


@pytest.mark.parametrize("lab", LABS, ids=lambda path: path.name)
def test_strip_removes_every_solution_of_every_lab(lab):
    text = lab.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    blocks = labs_tool.solution_blocks(lines, str(lab))
    stripped = labs_tool.strip_source(text, str(lab))
    assert stripped.count(labs_tool.PLACEHOLDER) == len(blocks)
    assert labs_tool.BEGIN not in stripped and labs_tool.END not in stripped
    for begin, end, _ in blocks:
        solution = "".join(lines[begin + 1:end])
        assert solution not in stripped
    compile(stripped, str(lab), "exec")


def test_the_course_labs_with_exercises_have_solution_blocks():
    with_exercises = ["01_convolution_by_hand.py", "02_output_sizes.py", "03_pooling_and_unpooling.py",
                      "04_backprop_conv_pool.py", "05_batch_norm.py"]
    for name in with_exercises:
        lines = (ROOT / "labs" / name).read_text(encoding="utf-8").splitlines(keepends=True)
        assert labs_tool.solution_blocks(lines, name), f"{name} has no exercise between solution markers"


def test_strip_command_writes_the_student_copy(tmp_path, capsys):
    lab = tmp_path / "lab.py"
    lab.write_text(LAB_TEXT, encoding="utf-8")
    labs_tool.main(["strip", str(lab), "-o", str(tmp_path / "student" / "lab.py")])
    assert (tmp_path / "student" / "lab.py").read_text(encoding="utf-8") == labs_tool.strip_source(LAB_TEXT)
    labs_tool.main(["strip", str(lab), "--out-dir", str(tmp_path / "many")])
    assert (tmp_path / "many" / "lab.py").exists()
    with pytest.raises(SystemExit, match="give one lab"):
        labs_tool.main(["strip", str(lab), str(lab), "-o", str(tmp_path / "x.py")])
    (tmp_path / "broken.py").write_text("# BEGIN SOLUTION\nx = 1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="never closed"):
        labs_tool.main(["strip", str(tmp_path / "broken.py")])


# --------------------------------------------------------------------------------------------
# restore-check
# --------------------------------------------------------------------------------------------
def test_restore_check_passes_on_every_lab(capsys):
    labs_tool.main(["restore-check", *map(str, LABS)])
    printed = capsys.readouterr().out
    assert printed.count("ok  ") == len(LABS)


def test_restore_check_catches_a_lab_that_would_break(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n    x = (\n", encoding="utf-8")
    with pytest.raises(labs_tool.LabFormatError, match="does not compile"):
        labs_tool.check_lab(str(bad))
    placeholder = tmp_path / "placeholder.py"
    placeholder.write_text(f"{labs_tool.PLACEHOLDER}\n", encoding="utf-8")
    with pytest.raises(labs_tool.LabFormatError, match="contains the placeholder"):
        labs_tool.check_lab(str(placeholder))


# --------------------------------------------------------------------------------------------
# A stripped lab fails clearly
# --------------------------------------------------------------------------------------------
CHECKED_LAB = '''# %%
import numpy as np

from tinyconv.kernels.reference.pooling import max_pool2d_forward as reference
from tinyconv.teaching.exercises import check


# %%
def max_pool2d_forward(x, pool_size, stride):
    # BEGIN SOLUTION
    return reference(x, pool_size, stride, ((0, 0), (0, 0)))[0]
    # END SOLUTION


# %%
assert check("max_pool2d_forward", max_pool2d_forward).passed, "max_pool2d_forward: see the report above"
print("lab done")
'''


def run_script(path):
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_stripped_labs_checker_call_fails_clearly(tmp_path):
    lab = tmp_path / "lab.py"
    lab.write_text(CHECKED_LAB, encoding="utf-8")
    solved = run_script(lab)
    assert solved.returncode == 0 and "lab done" in solved.stdout, solved.stdout + solved.stderr
    student = tmp_path / "student.py"
    student.write_text(labs_tool.strip_source(CHECKED_LAB), encoding="utf-8")
    unsolved = run_script(student)
    output = unsolved.stdout + unsolved.stderr
    assert unsolved.returncode != 0 and "lab done" not in output
    assert "max_pool2d_forward raised NotImplementedError: write your code here" in output
    assert "The exercise is not written yet" in output
    assert "AssertionError: max_pool2d_forward: see the report above" in output


# --------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------
def test_the_built_in_converter_makes_nbformat_4_cells():
    notebook = labs_tool.notebook_from_percent(LAB_TEXT, "a lab")
    assert notebook["nbformat"] == 4 and notebook["nbformat_minor"] == 5
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds == ["markdown", "code", "code"]
    markdown = notebook["cells"][0]
    assert markdown["source"] == ["# A lab\n", "\n", "Write `double`."]  # the comment marks are gone
    assert "outputs" not in markdown and "execution_count" not in markdown
    for cell in notebook["cells"][1:]:
        assert cell["outputs"] == [] and cell["execution_count"] is None
        assert all(line.endswith("\n") for line in cell["source"][:-1]) and not cell["source"][-1].endswith("\n")
    assert notebook["cells"][1]["source"][0] == "import numpy as np\n"
    ids = [cell["id"] for cell in notebook["cells"]]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
    assert json.loads(json.dumps(notebook)) == notebook
    header = "# ---\n# jupyter:\n#   kernelspec: {}\n# ---\n\n" + LAB_TEXT
    assert labs_tool.notebook_from_percent(header, "a lab") == notebook  # a jupytext header is not a cell


def test_the_notebooks_of_the_labs_are_valid(tmp_path, capsys):
    labs_tool.main(["notebooks", *map(str, LABS), "--out", str(tmp_path / "solutions")])
    labs_tool.main(["notebooks", *map(str, LABS), "--out", str(tmp_path / "student"), "--student"])
    for lab in LABS:
        for folder in ("solutions", "student"):
            notebook = json.loads((tmp_path / folder / (lab.stem + ".ipynb")).read_text(encoding="utf-8"))
            assert notebook["nbformat"] == 4
            kinds = {cell["cell_type"] for cell in notebook["cells"]}
            assert kinds == {"markdown", "code"}, f"{lab.name}: cell kinds {kinds}"
            code = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
            assert ("BEGIN SOLUTION" in code) == (folder == "solutions" and "BEGIN SOLUTION" in lab.read_text())
            if folder == "student":
                assert "BEGIN SOLUTION" not in code


def test_nbformat_accepts_the_built_in_notebooks():
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed: the JSON shape is checked above")
    for lab in LABS:
        notebook = labs_tool.notebook_from_percent(lab.read_text(encoding="utf-8"), lab.stem)
        nbformat.validate(nbformat.from_dict(notebook))


def test_jupytext_reads_the_labs_into_the_same_cells():
    jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed: the built-in converter is used")
    for lab in LABS:
        text = lab.read_text(encoding="utf-8")
        ours = labs_tool.notebook_from_percent(text, lab.stem)["cells"]
        theirs = jupytext.reads(text, fmt="py:percent").cells
        assert [cell["cell_type"] for cell in ours] == [cell.cell_type for cell in theirs]
        assert ["".join(cell["source"]).strip() for cell in ours] == [cell.source.strip() for cell in theirs]
