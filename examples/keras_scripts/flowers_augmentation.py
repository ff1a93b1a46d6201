"""Flower photos: a folder of images per class, data augmentation layers, a small convnet (Keras 3 style).

Follows TensorFlow's tutorial "Image classification"
(https://www.tensorflow.org/tutorials/images/classification, Apache 2.0): the flower_photos archive fetched
with keras.utils.get_file, image_dataset_from_directory with a seeded 80/20 split, RandomFlip /
RandomRotation / RandomZoom in front of the model, Rescaling, three Conv2D/MaxPooling2D blocks, Dropout.
Changed for Keras 3: get_file(fname="flower_photos", extract=True) returns the extraction folder (the
tutorial's `with_suffix('')` trick was for Keras 2), and the tf.data cache/prefetch tuning is left out.
"""
import pathlib

import numpy as np
import keras
from keras import layers

dataset_url = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
archive = keras.utils.get_file("flower_photos", origin=dataset_url, extract=True)
data_dir = pathlib.Path(archive) / "flower_photos"
image_count = len(list(data_dir.glob("*/*.jpg")))
print("images:", image_count)

batch_size = 32
img_height = 180
img_width = 180

train_ds = keras.utils.image_dataset_from_directory(
    data_dir,
    validation_split=0.2,
    subset="training",
    seed=123,
    image_size=(img_height, img_width),
    batch_size=batch_size,
)
val_ds = keras.utils.image_dataset_from_directory(
    data_dir,
    validation_split=0.2,
    subset="validation",
    seed=123,
    image_size=(img_height, img_width),
    batch_size=batch_size,
)
class_names = train_ds.class_names
print(class_names)

for image_batch, labels_batch in train_ds:
    print(image_batch.shape)
    print(labels_batch.shape)
    break

normalization_layer = layers.Rescaling(1.0 / 255)
first_images, _ = next(iter(train_ds))
normalized = normalization_layer(first_images)
print("pixel range after Rescaling:", np.min(normalized), np.max(normalized))

data_augmentation = keras.Sequential(
    [
        layers.RandomFlip("horizontal", input_shape=(img_height, img_width, 3)),
        layers.RandomRotation(0.1),
        layers.RandomZoom(0.1),
    ]
)

num_classes = len(class_names)
model = keras.Sequential(
    [
        data_augmentation,
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(0.2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(num_classes, name="outputs"),
    ]
)
model.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.summary()

epochs = 15
history = model.fit(train_ds, validation_data=val_ds, epochs=epochs)

acc = history.history["accuracy"]
val_acc = history.history["val_accuracy"]
print("final accuracy:", acc[-1], "validation accuracy:", val_acc[-1])

image = keras.utils.load_img(sorted(data_dir.glob("*/*.jpg"))[0], target_size=(img_height, img_width))
img_array = keras.utils.img_to_array(image)
img_array = np.expand_dims(img_array, 0)  # Create a batch
predictions = model.predict(img_array)
score = np.asarray(keras.activations.softmax(predictions))[0]
print(
    "This image most likely belongs to {} with a {:.2f} percent confidence.".format(
        class_names[int(np.argmax(score))], 100 * float(np.max(score))
    )
)
