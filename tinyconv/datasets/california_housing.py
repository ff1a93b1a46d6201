"""California housing prices (Pace & Barry, 1997): 20,640 census block groups, 8 features each.

``load_data()`` returns what ``keras.datasets.california_housing.load_data()`` returns: x (N, 8) and
y (N,) median house values in dollars, shuffled with ``np.random.RandomState(seed)`` and split at
``int(n * (1 - test_split))``; ``version="small"`` keeps the first 600 samples before shuffling. The file
is Keras's ``california_housing.npz`` (arrays x, y).
"""
from . import _keras_npz
from .boston_housing import split_shuffled

FILE_NAME = "california_housing.npz"
SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"  # Keras's published checksum
VERSIONS = ("large", "small")
SMALL_SIZE = 600


def load_data(version="large", path=FILE_NAME, test_split=0.2, seed=113):
    """Loads the California housing regression dataset.

    Args:
        version: ``"large"`` (all 20,640 samples) or ``"small"`` (the first 600).
        path: Keras's ``california_housing.npz`` (a file, or a bare name looked for and downloaded).
        test_split: the fraction of samples kept for testing, in [0, 1).
        seed: seed of the shuffle before the split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        DatasetNotFoundError: no copy found and the download failed.
        ValueError: an unknown ``version`` or ``test_split`` outside [0, 1).

    Example:

    >>> (x_train, y_train), _ = california_housing.load_data(version="small")  # doctest: +SKIP
    >>> x_train.shape  # doctest: +SKIP
    (480, 8)
    """
    _keras_npz.check_test_split("california_housing", test_split)
    if version not in VERSIONS:
        raise ValueError(f"california_housing.load_data: version must be one of {VERSIONS}, got {version!r}")
    file = _keras_npz.find_or_download("california_housing", path, FILE_NAME, sha256=SHA256)
    arrays = _keras_npz.load_npz(file, "california_housing", ("x", "y"))
    x, y = arrays["x"], arrays["y"]
    if version == "small":
        x, y = x[:SMALL_SIZE], y[:SMALL_SIZE]
    return split_shuffled(x, y, test_split, seed)
