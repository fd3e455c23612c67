# An old-style program: NumPy's removed aliases, keras.preprocessing.image augmentation of digit
# images, an LSTM reading the image rows, top-k accuracy, and activations called as functions.
import numpy as np
import tensorflow as tf
from tensorflow.keras.preprocessing import image

rng = np.random.RandomState(0)
x = np.zeros((400, 16, 16, 1), dtype=np.float)
y = rng.randint(0, 4, size=400)
for i, label in enumerate(y):
    x[i, 2 + 3 * label:5 + 3 * label, 3:13, 0] = 1.0
augmented = np.array([image.random_shift(image.random_rotation(img, 10, row_axis=0, col_axis=1, channel_axis=2),
                                         0.1, 0.1, row_axis=0, col_axis=1, channel_axis=2) for img in x])
picture = image.array_to_img(augmented[0])
print("image", picture.size, image.img_to_array(picture).shape)
model = tf.keras.Sequential([
    tf.keras.layers.Reshape((16, 16), input_shape=(16, 16, 1)),
    tf.keras.layers.LSTM(32),
    tf.keras.layers.Dense(4, activation=tf.keras.activations.softmax),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=["accuracy", tf.keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
model.fit(augmented.astype(np.float32), y, epochs=4, batch_size=32, validation_split=0.2)
print("relu", tf.keras.activations.relu(np.array([-1.0, 2.0]), max_value=1.0).numpy())
print("labels", np.array(y[:5], dtype=np.int))
