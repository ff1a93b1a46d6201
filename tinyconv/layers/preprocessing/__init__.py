"""Keras's preprocessing layers for images: value scaling, resizing and cropping, random augmentation."""
from .random_color import RandomBrightness, RandomContrast
from .random_geometry import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .rescaling import Normalization, Rescaling
from .resizing import CenterCrop, RandomCrop, Resizing

__all__ = ["CenterCrop", "Normalization", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip",
           "RandomRotation", "RandomTranslation", "RandomZoom", "Rescaling", "Resizing"]
