"""pad_sequences (against Keras's own), utils.Sequence and normalize, and the Keras 2 backend helpers."""
import numpy as np
import pytest

import tinyconv
from tinyconv import backend as K
from tinyconv.preprocessing.sequence import pad_sequences

SEQUENCES = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9], [10, 11]]


@pytest.mark.parametrize("maxlen", [None, 1, 3, 7])
@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_pad_sequences_matches_keras(maxlen, padding, truncating):
    keras = pytest.importorskip("keras", reason="Keras is the oracle for pad_sequences")
    for sequences, kwargs in ((SEQUENCES, {}), (SEQUENCES, {"dtype": "float32", "value": -1.5}),
                              ([np.ones((2, 3)), np.zeros((4, 3)), np.arange(3.0).reshape(1, 3)],
                               {"dtype": "float64", "value": 9.0})):
        ours = pad_sequences(sequences, maxlen=maxlen, padding=padding, truncating=truncating, **kwargs)
        theirs = keras.utils.pad_sequences(sequences, maxlen=maxlen, padding=padding, truncating=truncating,
                                           **kwargs)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_by_hand():
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]], maxlen=2),
                                  [[2, 3], [0, 4]])
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post"),
                                  [[1, 2], [4, 0]])
    assert pad_sequences([[1], [2, 3]]).dtype == np.int32
    words = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert words.tolist() == [["a", "b"], ["<pad>", "c"]]


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences([[1]], truncating="middle")
    with pytest.raises(ValueError, match="string fill value"):
        pad_sequences([[1]], value="x")
    with pytest.raises(ValueError, match="must have a length"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_preprocessing_namespace_has_keras_2_names():
    import tinyconv.preprocessing as preprocessing
    assert preprocessing.image.ImageDataGenerator is preprocessing.ImageDataGenerator
    assert preprocessing.sequence.pad_sequences is preprocessing.pad_sequences


# --- utils ---------------------------------------------------------------------------------------------------

class Squares(tinyconv.utils.Sequence):
    def __init__(self, n, batch_size):
        super().__init__()
        self.n, self.batch_size, self.epochs_ended = n, batch_size, 0

    def __len__(self):
        return -(-self.n // self.batch_size)

    def __getitem__(self, index):
        x = np.arange(index * self.batch_size, min(self.n, (index + 1) * self.batch_size))
        return x, x ** 2

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_sequence_subclass_iterates_over_its_batches():
    data = Squares(7, 3)
    assert len(data) == 3 and data.num_batches == 3
    batches = list(data)
    assert [len(x) for x, _ in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), np.arange(7) ** 2)
    data.on_epoch_end()
    assert data.epochs_ended == 1


def test_sequence_without_methods_says_what_is_missing():
    class Empty(tinyconv.utils.Sequence):
        pass
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Empty())
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Empty()[0]


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(tinyconv.utils.normalize(x), [[0.6, 0.8], [0, 0], [1, 0]])
    np.testing.assert_allclose(tinyconv.utils.normalize(x, axis=0, order=1),
                               x / np.array([4.0, 4.0]))


# --- backend -------------------------------------------------------------------------------------------------

def test_backend_shape_helpers():
    assert K.backend() == "numpy"
    symbolic = tinyconv.Input(shape=(28, 28, 1))
    assert K.is_keras_tensor(symbolic) and not K.is_keras_tensor(np.zeros(3))
    assert K.int_shape(symbolic) == (None, 28, 28, 1) and K.ndim(symbolic) == 4
    array = np.zeros((2, 3, 4), dtype="float64")
    assert K.int_shape(array) == (2, 3, 4) and K.shape(array) == (2, 3, 4) and K.ndim(array) == 3
    assert K.int_shape([[1, 2]]) == (1, 2)
    assert K.cast_to_floatx([1, 2]).dtype == np.dtype(K.floatx())


def test_get_and_set_value():
    weights = np.zeros((2, 2), dtype="float32")
    K.set_value(weights, np.ones((2, 2)))
    np.testing.assert_array_equal(weights, 1)
    K.set_value(weights, 3.0)
    copy = K.get_value(weights)
    copy[0, 0] = -1
    np.testing.assert_array_equal(weights, 3)  # get_value hands back a copy
    with pytest.raises(ValueError, match="shape"):
        K.set_value(weights, np.ones(3))

    optimizer = tinyconv.optimizers.SGD(learning_rate=0.1)
    K.set_value(optimizer, 0.001)
    assert optimizer.learning_rate == pytest.approx(0.001) and K.get_value(optimizer) == pytest.approx(0.001)
    with pytest.raises(TypeError, match="K.set_value\\(model.optimizer"):
        K.set_value(optimizer.learning_rate, 0.01)
