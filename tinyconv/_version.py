"""The version of tinyconv (kept equal to ``version`` in pyproject.toml; a test checks they agree)."""
__version__ = "0.1.0"
