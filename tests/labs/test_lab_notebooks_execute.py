"""A lab as a notebook runs in a Jupyter kernel as it runs as a script (nbclient, cell by cell).

Every lab runs as a script in ``test_labs_run.py``; the notebooks are the same cells (``tools/labs.py
notebooks``), so one lab executed here end to end checks the conversion keeps a lab runnable: cell
order, markdown left out of the code, the kernel finding tinyconv.
"""
import json
import os
from pathlib import Path

import pytest

from . import load_lab_tool

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "labs" / "01_convolution_by_hand.py"


def test_the_first_lab_runs_as_a_notebook(tmp_path, monkeypatch):
    for module in ("nbclient", "nbformat", "ipykernel"):
        pytest.importorskip(module, reason=f"executing a notebook needs {module} (pip install 'tinyconv[dev]')")
    import nbclient
    import nbformat

    # Through JSON, as from the .ipynb file `make labs` writes (nbformat joins the source lines on reading).
    written = json.dumps(load_lab_tool().notebook_from_percent(LAB.read_text(encoding="utf-8"), LAB.stem))
    notebook = nbformat.reads(written, as_version=4)
    nbformat.validate(notebook)
    monkeypatch.setenv("TINYCONV_LAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code_cells) >= 5
    errors = [o for cell in code_cells for o in cell.outputs if o.get("output_type") == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for cell in code_cells for o in cell.outputs if o.get("output_type") == "stream")
    assert "PASSED" in text.upper() or "passed" in text, text[-2000:]
