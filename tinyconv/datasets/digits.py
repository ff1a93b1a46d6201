"""scikit-learn's handwritten digits (UCI): 1,797 images of 8x8 pixels, values 0..16.

Shipped inside scikit-learn's wheel, so it needs no download: the default data of the demo.
"""
import numpy as np


def load_data(test_split=0.2, seed=0):
    """``(x_train, y_train), (x_test, y_test)``: images (N, 8, 8) uint8 in 0..16, labels (N,) uint8.

    The split is a fixed, seeded shuffle, the same on every machine.

    Args:
        test_split: the fraction of images kept for testing, in (0, 1).
        seed: the shuffle's seed.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        ImportError: without scikit-learn (the message gives the pip command).
        ValueError: ``test_split`` outside (0, 1).

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_data()
    >>> x_train.shape, x_test.shape, int(x_train.max())
    ((1438, 8, 8), (359, 8, 8), 16)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError("tinyconv.datasets.digits needs scikit-learn: pip install 'tinyconv[data]' "
                          "(or pip install scikit-learn)") from error
    if not 0 < test_split < 1:
        raise ValueError(f"digits.load_data: test_split must be in (0, 1), got {test_split}")
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(len(images) * test_split))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])
