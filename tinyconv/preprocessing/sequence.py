"""``keras.preprocessing.sequence.pad_sequences``: lists of different lengths -> one rectangular array."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or cut) every sequence to ``maxlen`` and stack them into an array (num_sequences, maxlen, ...).

    ``maxlen`` defaults to the longest sequence. ``padding`` says where the fill ``value`` goes,
    ``truncating`` which end of a too-long sequence is dropped: 'pre' (the start) or 'post' (the end).
    Elements may themselves be arrays (e.g. word vectors): their shape must agree across sequences.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: `sequences` must be iterable")
    lengths = []
    sample_shape = ()
    shape_found = False
    for sequence in sequences:
        try:
            lengths.append(len(sequence))
        except TypeError as error:
            raise ValueError(f"pad_sequences: every sequence must have a length, found {sequence!r}") from error
        if not shape_found and len(sequence):
            sample_shape = np.asarray(sequence).shape[1:]  # the shape of one element
            shape_found = True
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post', got {truncating!r}")

    is_text = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text:
        raise ValueError(f"pad_sequences: dtype {dtype} cannot hold the string fill value {value!r}; "
                         "use dtype=object")
    padded = np.full((len(sequences), maxlen) + sample_shape, value, dtype=dtype)
    for i, sequence in enumerate(sequences):
        if not len(sequence):
            continue  # an empty sequence is all padding
        kept = sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has elements of shape {kept.shape[1:]}, "
                             f"expected {sample_shape} like the first non-empty sequence")
        if padding == "post":
            padded[i, :len(kept)] = kept
        else:
            padded[i, maxlen - len(kept):] = kept
    return padded
