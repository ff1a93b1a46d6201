"""Reuters newswires (Reuters-21578): 11,228 newswires over 46 topics, encoded as word indices.

``load_data()`` returns what ``keras.datasets.reuters.load_data()`` returns: x_train / x_test object arrays
of Python lists of word indices, y_train / y_test int64 topic numbers. All newswires are shuffled with
``np.random.RandomState(seed)`` and the first ``int(n * (1 - test_split))`` form the training set, as in
Keras. The file is Keras's ``reuters.npz`` (``reuters_word_index.json`` for ``get_word_index``).
"""
import numpy as np

from . import _keras_npz, _word_sequences

FILE_NAME = "reuters.npz"
SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"  # Keras's published checksum
WORD_INDEX_NAME = "reuters_word_index.json"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"

# Topic i of y is LABEL_NAMES[i] (the names Keras lists).
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog",
    "lead",
)


def load_data(path=FILE_NAME, num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """Loads the Reuters topic classification dataset, encoded as word indices.

    Args:
        path: Keras's ``reuters.npz``: a file, or a bare name looked for in the data folders and Keras's
            cache (and downloaded there when missing).
        num_words: keep the ``num_words`` most frequent words; rarer ones become ``oov_char``.
        skip_top: the most frequent ``skip_top`` words also become ``oov_char``.
        maxlen: drop newswires of ``maxlen`` words or more (None keeps all).
        test_split: the fraction of newswires kept for testing, in [0, 1).
        seed: seed of the shuffle.
        start_char: index that marks the start of every newswire (None: no marker).
        oov_char: index of words cut by ``num_words`` / ``skip_top`` (None: drop them).
        index_from: the offset added to every word rank.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        DatasetNotFoundError: no copy found and the download failed.
        ValueError: ``test_split`` outside [0, 1).

    Example:

    >>> (x_train, y_train), _ = reuters.load_data(num_words=10000)  # doctest: +SKIP
    """
    _keras_npz.check_test_split("reuters", test_split)
    file = _keras_npz.find_or_download("reuters", path, FILE_NAME, sha256=SHA256)
    arrays = _keras_npz.load_npz(file, "reuters", ("x", "y"))
    sequences, labels = _keras_npz.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    sequences = _word_sequences.shift_and_mark(sequences, start_char, index_from)
    if maxlen:
        sequences, labels = _word_sequences.drop_long(maxlen, sequences, labels)
    sequences = _word_sequences.limit_vocabulary(sequences, num_words, skip_top, oov_char)
    split = int(len(sequences) * (1 - test_split))
    return ((_word_sequences.as_object_array(sequences[:split]), np.array(labels[:split])),
            (_word_sequences.as_object_array(sequences[split:]), np.array(labels[split:])))


def get_word_index(path=WORD_INDEX_NAME):
    """The ``{word: rank}`` dictionary of the Reuters newswires (the word of rank r is r + index_from).

    Args:
        path: Keras's ``reuters_word_index.json`` (a file, or a bare name looked for and downloaded).

    Returns:
        A dict from word to rank.

    Example:

    >>> reuters.get_word_index()["the"]  # doctest: +SKIP
    1
    """
    file = _keras_npz.find_or_download("reuters", path, WORD_INDEX_NAME, md5=WORD_INDEX_MD5)
    return _word_sequences.read_word_index(file)


def get_label_names():
    """The 46 topic names, in label order: ``get_label_names()[y]`` names topic y.

    Returns:
        A tuple of strings.

    Example:

    >>> tinyconv.datasets.reuters.get_label_names()[:3]
    ('cocoa', 'grain', 'veg-oil')
    """
    return LABEL_NAMES
