"""IMDB movie reviews (Maas et al., 2011): 25,000 training and 25,000 test reviews, positive (1) or negative (0).

``load_data()`` returns what ``keras.datasets.imdb.load_data()`` returns: x_train and x_test are object
arrays of Python lists of word indices (each review starts with ``start_char``; word ranks are shifted by
``index_from``), y_train and y_test int64 arrays of 0 / 1. The order is Keras's: both halves shuffled with
``np.random.RandomState(seed)`` (the training half first, then the test half with the same generator).

The file is Keras's ``imdb.npz`` (``imdb_word_index.json`` for ``get_word_index``); see
``tinyconv/datasets/_files.py`` for where it is looked for.
"""
import warnings

import numpy as np

from . import _keras_npz, _word_sequences

FILE_NAME = "imdb.npz"
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"  # Keras's published checksum
WORD_INDEX_NAME = "imdb_word_index.json"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(path=FILE_NAME, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """Loads the IMDB sentiment dataset, encoded as word indices.

    Args:
        path: Keras's ``imdb.npz``: a file, or a bare name looked for in the data folders and Keras's cache
            (and downloaded there when missing).
        num_words: keep the ``num_words`` most frequent words; rarer ones become ``oov_char``
            (None keeps all).
        skip_top: the most frequent ``skip_top`` words also become ``oov_char``.
        maxlen: drop reviews of ``maxlen`` words or more (None keeps all).
        seed: seed of the shuffle.
        start_char: index that marks the start of every review (None: no marker).
        oov_char: index of words cut by ``num_words`` / ``skip_top`` (None: drop them).
        index_from: the offset added to every word rank.
        **kwargs: accepted for old scripts and ignored (with a warning), as Keras ignores them.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        DatasetNotFoundError: no copy found and the download failed.
        ValueError: ``maxlen`` left no review.

    Example:

    >>> (x_train, y_train), _ = imdb.load_data(num_words=10000)  # doctest: +SKIP
    """
    if kwargs:
        warnings.warn(f"imdb.load_data: ignoring unknown argument(s) {sorted(kwargs)}", stacklevel=2)
    file = _keras_npz.find_or_download("imdb", path, FILE_NAME, sha256=SHA256)
    arrays = _keras_npz.load_npz(file, "imdb", ("x_train", "y_train", "x_test", "y_test"))
    rng = np.random.RandomState(seed)
    x_train, labels_train = _keras_npz.shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, labels_test = _keras_npz.shuffled(rng, arrays["x_test"], arrays["y_test"])

    x_train = _word_sequences.shift_and_mark(x_train, start_char, index_from)
    x_test = _word_sequences.shift_and_mark(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = _word_sequences.drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = _word_sequences.drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"imdb.load_data: no review is shorter than maxlen={maxlen}; increase maxlen")

    sequences = _word_sequences.limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    split = len(x_train)
    return ((_word_sequences.as_object_array(sequences[:split]), labels[:split]),
            (_word_sequences.as_object_array(sequences[split:]), labels[split:]))


def get_word_index(path=WORD_INDEX_NAME):
    """The ``{word: rank}`` dictionary of IMDB (rank 1 = the most frequent word).

    In ``load_data``'s sequences the word of rank r appears as ``r + index_from``.

    Args:
        path: Keras's ``imdb_word_index.json`` (a file, or a bare name looked for and downloaded).

    Returns:
        A dict from word to rank.

    Example:

    >>> index = imdb.get_word_index()  # doctest: +SKIP
    >>> words = {rank + 3: word for word, rank in index.items()}  # doctest: +SKIP
    """
    file = _keras_npz.find_or_download("imdb", path, WORD_INDEX_NAME, md5=WORD_INDEX_MD5)
    return _word_sequences.read_word_index(file)
