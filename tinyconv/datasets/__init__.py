"""Datasets with Keras's ``load_data()`` return layout."""
from . import digits
