"""Convolutional autoencoder for MNIST digits (Keras 3 functional style)."""
import numpy as np
import keras
from keras import layers

(x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
x_train = np.expand_dims(x_train.astype("float32") / 255.0, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255.0, -1)

input_img = keras.Input(shape=(28, 28, 1))

# Encoder
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input_img)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
encoded = layers.MaxPooling2D((2, 2), padding="same")(x)

# Decoder
x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(encoded)
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
x = layers.UpSampling2D((2, 2))(x)
decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
autoencoder.summary()

autoencoder.fit(x_train, x_train, epochs=50, batch_size=128, shuffle=True,
                validation_data=(x_test, x_test))

encoder = keras.Model(input_img, encoded)
codes = encoder.predict(x_test)
reconstructions = autoencoder.predict(x_test)
print("codes:", codes.shape, "reconstructions:", reconstructions.shape)
print("mean reconstruction error:", float(np.mean((reconstructions - x_test) ** 2)))
