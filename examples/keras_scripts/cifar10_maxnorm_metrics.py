"""A small CIFAR-10 CNN with max-norm constraints and dropout, stateful metrics and a loss-history callback.

Written the way three well-known public Keras texts write these pieces:
* the CNN is the classic "simple CNN for CIFAR-10" of Jason Brownlee's tutorial "Object Recognition with
  Convolutional Neural Networks in the Keras Deep Learning Library" (machinelearningmastery.com):
  Conv2D / Dense with ``kernel_constraint=MaxNorm(3)`` and Dropout, SGD with momentum and time-based decay;
* the metrics list follows keras.io's example "Imbalanced classification: credit card fraud detection"
  (``keras.metrics.FalseNegatives(name="fn")`` ... ``Precision(name="precision")``,
  ``Recall(name="recall")``);
* the callback is the "recording loss history" example of the Keras 2 callbacks documentation
  (keras.io/callbacks, Keras 2): ``on_train_begin`` / ``on_batch_end`` with ``logs={}``.
"""
from __future__ import print_function

import numpy as np
import keras
from keras.constraints import MaxNorm
from keras.datasets import cifar10
from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from keras.models import Sequential
from keras.optimizers import SGD
from keras.utils import to_categorical


class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs={}):
        self.losses = []

    def on_batch_end(self, batch, logs={}):
        self.losses.append(logs.get('loss'))


# load data and normalize inputs from 0-255 to 0.0-1.0
(X_train, y_train), (X_test, y_test) = cifar10.load_data()
X_train = X_train.astype('float32') / 255.0
X_test = X_test.astype('float32') / 255.0

# one hot encode outputs
y_train = to_categorical(y_train)
y_test = to_categorical(y_test)
num_classes = y_test.shape[1]

# create model
model = Sequential()
model.add(Conv2D(32, (3, 3), input_shape=(32, 32, 3), padding='same', activation='relu',
                 kernel_constraint=MaxNorm(3)))
model.add(Dropout(0.2))
model.add(Conv2D(32, (3, 3), activation='relu', padding='same', kernel_constraint=MaxNorm(3)))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Flatten())
model.add(Dense(512, activation='relu', kernel_constraint=MaxNorm(3)))
model.add(Dropout(0.5))
model.add(Dense(num_classes, activation='softmax'))

# compile model
epochs = 25
lrate = 0.01
decay = lrate / epochs
sgd = SGD(lr=lrate, momentum=0.9, decay=decay, nesterov=False)
metrics = [
    keras.metrics.CategoricalAccuracy(name='accuracy'),
    keras.metrics.FalseNegatives(name='fn'),
    keras.metrics.FalsePositives(name='fp'),
    keras.metrics.TrueNegatives(name='tn'),
    keras.metrics.TruePositives(name='tp'),
    keras.metrics.Precision(name='precision'),
    keras.metrics.Recall(name='recall'),
    keras.metrics.AUC(name='auc'),
]
model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=metrics)
model.summary()

history = LossHistory()
model.fit(X_train, y_train, validation_data=(X_test, y_test), epochs=epochs, batch_size=32,
          callbacks=[history])
print('Recorded the loss of %d batches' % len(history.losses))

# every filter of the first convolution keeps a norm of at most 3
kernel = model.layers[0].get_weights()[0]
print('Largest filter norm: %.3f' % np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))).max())

# final evaluation of the model
scores = model.evaluate(X_test, y_test, verbose=0, return_dict=True)
print('Accuracy: %.2f%%, precision %.3f, recall %.3f, AUC %.3f' % (
    scores['accuracy'] * 100, scores['precision'], scores['recall'], scores['auc']))
