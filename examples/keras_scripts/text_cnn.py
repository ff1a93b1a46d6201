"""A 1-D convolutional text classifier in the style of Keras's imdb_cnn example.

A small synthetic review set stands in for IMDB: each "review" is a list of word indices,
and positive reviews use more words from a "positive" part of the vocabulary.
"""
from __future__ import print_function
import numpy as np

from keras.preprocessing import sequence
from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation
from keras.layers import Embedding
from keras.layers import Conv1D, GlobalMaxPooling1D

# set parameters:
max_features = 500
maxlen = 40
batch_size = 32
embedding_dims = 50
filters = 64
kernel_size = 3
hidden_dims = 64
epochs = 4


def make_reviews(count, rng):
    reviews, labels = [], []
    for _ in range(count):
        label = int(rng.integers(0, 2))
        length = int(rng.integers(10, 60))
        words = rng.integers(2, max_features // 2, size=length)
        marked = rng.random(length) < 0.3
        words[marked] += (max_features // 2 - 2) * label  # sentiment words live in one half
        reviews.append(list(words))
        labels.append(label)
    return reviews, np.array(labels)


rng = np.random.default_rng(0)
print('Loading data...')
x_train, y_train = make_reviews(400, rng)
x_test, y_test = make_reviews(100, rng)
print(len(x_train), 'train sequences')
print(len(x_test), 'test sequences')

print('Pad sequences (samples x time)')
x_train = sequence.pad_sequences(x_train, maxlen=maxlen)
x_test = sequence.pad_sequences(x_test, maxlen=maxlen)
print('x_train shape:', x_train.shape)
print('x_test shape:', x_test.shape)

print('Build model...')
model = Sequential()
model.add(Embedding(max_features, embedding_dims, input_length=maxlen))
model.add(Dropout(0.2))
model.add(Conv1D(filters, kernel_size, padding='valid', activation='relu', strides=1))
model.add(GlobalMaxPooling1D())
model.add(Dense(hidden_dims))
model.add(Dropout(0.2))
model.add(Activation('relu'))
model.add(Dense(1))
model.add(Activation('sigmoid'))

model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_data=(x_test, y_test))
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print('Test accuracy:', accuracy)
