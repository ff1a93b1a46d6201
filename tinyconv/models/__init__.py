"""``keras.models``: model classes."""
from .functional import Functional
from .model import Model
from .sequential import Sequential
