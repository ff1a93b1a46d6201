"""Datasets with Keras's ``load_data()`` return layout."""
from . import cifar10, digits, fashion_mnist, mnist
