"""LeNet-5 as the course builds it: 32x32 inputs, tanh, average pooling, SGD."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()

# LeNet-5 expects 32x32 images: pad the 28x28 digits by 2 pixels on every side.
x_train = np.pad(x_train, ((0, 0), (2, 2), (2, 2)), "constant")[..., np.newaxis] / 255.0
x_test = np.pad(x_test, ((0, 0), (2, 2), (2, 2)), "constant")[..., np.newaxis] / 255.0

model = keras.Sequential()
model.add(layers.Conv2D(6, kernel_size=(5, 5), strides=(1, 1), activation="tanh", input_shape=(32, 32, 1)))
model.add(layers.AveragePooling2D(pool_size=(2, 2), strides=(2, 2)))
model.add(layers.Conv2D(16, kernel_size=(5, 5), strides=(1, 1), activation="tanh"))
model.add(layers.AveragePooling2D(pool_size=(2, 2), strides=(2, 2)))
model.add(layers.Conv2D(120, kernel_size=(5, 5), strides=(1, 1), activation="tanh"))
model.add(layers.Flatten())
model.add(layers.Dense(84, activation="tanh"))
model.add(layers.Dense(10, activation="softmax"))

model.summary()
assert model.count_params() == 61706

model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
              loss=keras.losses.SparseCategoricalCrossentropy(),
              metrics=["accuracy"])
hist = model.fit(x=x_train, y=y_train, epochs=10, batch_size=128, validation_data=(x_test, y_test), verbose=1)

test_score = model.evaluate(x_test, y_test)
print("Test loss {:.4f}, accuracy {:.2f}%".format(test_score[0], test_score[1] * 100))
