"""Keras's automatic layer and model names: ``conv2d``, ``conv2d_1``, ``conv2d_2`` ..."""
import re
from collections import defaultdict

_counts = defaultdict(int)


def to_snake_case(name):
    """``MaxPooling2D`` -> ``max_pooling2d``, ``ReLU`` -> ``re_lu`` (Keras's rule)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """The first ``base`` is returned as is, later ones get ``_1``, ``_2`` ..."""
    count = _counts[base]
    _counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def reset():
    """Forget every name handed out (``tinyconv.backend.clear_session``)."""
    _counts.clear()
