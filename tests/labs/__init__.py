"""The labs' tests; ``load_lab_tool`` imports ``tools/labs.py`` (a script, not a package module)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_lab_tool():
    """``tools/labs.py`` as a module (strip, restore, notebook conversion)."""
    spec = importlib.util.spec_from_file_location("lab_tool", ROOT / "tools" / "labs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
