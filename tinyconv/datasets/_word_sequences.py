"""The word-index encoding imdb and reuters share (Keras's rules, step by step).

Each review / newswire is stored as a list of word ranks (1 = the most frequent word in the training
set). ``load_data`` then, in this order:

1. marks the start with ``start_char`` and shifts every rank by ``index_from`` (so 0, 1, 2 stay free for
   padding, start and out-of-vocabulary);
2. drops sequences of ``maxlen`` words or more (Keras keeps only ``len(x) < maxlen``);
3. replaces every index outside ``[skip_top, num_words)`` by ``oov_char`` (or drops it when
   ``oov_char`` is None); ``num_words=None`` keeps the largest index present.
"""
import json

import numpy as np


def shift_and_mark(sequences, start_char, index_from):
    """Step 1: ``[start_char] + [w + index_from for w in x]`` for every sequence x."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in sequences]
    if index_from:
        return [[w + index_from for w in x] for x in sequences]
    return [list(x) for x in sequences]


def drop_long(maxlen, sequences, labels):
    """Step 2: keep the sequences shorter than ``maxlen`` words, with their labels."""
    kept = [(x, y) for x, y in zip(sequences, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limit_vocabulary(sequences, num_words, skip_top, oov_char):
    """Step 3: indices outside ``[skip_top, num_words)`` become ``oov_char`` (or vanish)."""
    if not num_words:
        num_words = max(max(x) for x in sequences)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in sequences]
    return [[w for w in x if skip_top <= w < num_words] for x in sequences]


def as_object_array(sequences):
    """The list of lists as Keras returns it: ``np.array(..., dtype="object")``."""
    return np.array(sequences, dtype="object")


def read_word_index(path):
    """``{word: rank}`` from a Keras word-index ``.json`` file."""
    with open(path, encoding="utf8") as f:
        return json.load(f)
