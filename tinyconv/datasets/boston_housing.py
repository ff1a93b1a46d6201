"""Boston housing prices (Harrison & Rubinfeld, 1978, from StatLib): 506 districts, 13 features each.

``load_data()`` returns what ``keras.datasets.boston_housing.load_data()`` returns: x (N, 13) float64
features, y (N,) float64 median prices in thousands of dollars, shuffled with
``np.random.RandomState(seed)`` and split at ``int(n * (1 - test_split))``. The file is Keras's
``boston_housing.npz`` (arrays x, y).
"""
import numpy as np

from . import _keras_npz

FILE_NAME = "boston_housing.npz"
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"  # Keras's published checksum


def load_data(path=FILE_NAME, test_split=0.2, seed=113):
    """Loads the Boston housing regression dataset.

    Args:
        path: Keras's ``boston_housing.npz`` (a file, or a bare name looked for and downloaded).
        test_split: the fraction of samples kept for testing, in [0, 1).
        seed: seed of the shuffle before the split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        DatasetNotFoundError: no copy found and the download failed.
        ValueError: ``test_split`` outside [0, 1).

    Example:

    >>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()  # doctest: +SKIP
    >>> x_train.shape, x_test.shape  # doctest: +SKIP
    ((404, 13), (102, 13))
    """
    _keras_npz.check_test_split("boston_housing", test_split)
    file = _keras_npz.find_or_download("boston_housing", path, FILE_NAME, sha256=SHA256)
    arrays = _keras_npz.load_npz(file, "boston_housing", ("x", "y"))
    return split_shuffled(arrays["x"], arrays["y"], test_split, seed)


def split_shuffled(x, y, test_split, seed):
    """Shuffle (x, y) with ``RandomState(seed)``, then the first ``int(n * (1 - test_split))`` train.

    Keras's split for its regression datasets, so the same seed gives the same rows on both.

    Args:
        x: the samples.
        y: their targets.
        test_split: the fraction kept for testing.
        seed: the shuffle's seed.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = split_shuffled(np.arange(10), np.arange(10) * 2, 0.2, seed=0)
    >>> len(x_train), len(x_test), bool(np.all(y_train == 2 * x_train))
    (8, 2, True)
    """
    x, y = _keras_npz.shuffled(np.random.RandomState(seed), x, y)
    split = int(len(x) * (1 - test_split))
    return (np.array(x[:split]), np.array(y[:split])), (np.array(x[split:]), np.array(y[split:]))
