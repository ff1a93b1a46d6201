"""``keras.models``: model classes."""
from .model import Model
from .sequential import Sequential
