"""Keras 2's ``keras.preprocessing``: ``image.ImageDataGenerator`` and ``sequence.pad_sequences``."""
from . import image, sequence
from .image import ImageDataGenerator
from .sequence import pad_sequences

__all__ = ["image", "sequence", "ImageDataGenerator", "pad_sequences"]
