"""Datasets with Keras's ``load_data()`` return layout."""
from . import (boston_housing, california_housing, cifar10, cifar100, digits, fashion_mnist, imdb, mnist,
               reuters)
