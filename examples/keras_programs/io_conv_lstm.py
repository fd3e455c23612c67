# In the manner of keras.io's "Next-frame video prediction with Convolutional LSTMs" (Keras 3):
# Moving MNIST from keras.utils.get_file, ConvLSTM2D + BatchNormalization + Conv3D, callbacks
# (smaller than the original: 40 clips of 16x16 frames, 16 filters).
import numpy as np
import keras
from keras import layers

fpath = keras.utils.get_file("moving_mnist.npy", "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy")
dataset = np.load(fpath)
dataset = np.swapaxes(dataset, 0, 1)
dataset = dataset[:40, ...]
dataset = np.expand_dims(dataset, axis=-1)
indexes = np.arange(dataset.shape[0])
np.random.shuffle(indexes)
train_index, val_index = indexes[: int(0.9 * dataset.shape[0])], indexes[int(0.9 * dataset.shape[0]):]
train_dataset, val_dataset = dataset[train_index] / 255, dataset[val_index] / 255


def create_shifted_frames(data):
    return data[:, 0: data.shape[1] - 1, :, :], data[:, 1: data.shape[1], :, :]


x_train, y_train = create_shifted_frames(train_dataset)
x_val, y_val = create_shifted_frames(val_dataset)
print("Training Dataset Shapes:", x_train.shape, y_train.shape)
inp = layers.Input(shape=(None, *x_train.shape[2:]))
x = layers.ConvLSTM2D(filters=16, kernel_size=(5, 5), padding="same", return_sequences=True, activation="relu")(inp)
x = layers.BatchNormalization()(x)
x = layers.ConvLSTM2D(filters=16, kernel_size=(3, 3), padding="same", return_sequences=True, activation="relu")(x)
x = layers.BatchNormalization()(x)
x = layers.ConvLSTM2D(filters=16, kernel_size=(1, 1), padding="same", return_sequences=True, activation="relu")(x)
x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
model = keras.models.Model(inp, x)
model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam())
early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10)
reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=5)
model.fit(x_train, y_train, batch_size=5, epochs=20, validation_data=(x_val, y_val),
          callbacks=[early_stopping, reduce_lr])
example = val_dataset[np.random.choice(range(len(val_dataset)), size=1)[0]]
frames = example[:10, ...]
for _ in range(5):
    new_prediction = model.predict(np.expand_dims(frames, axis=0), verbose=0)
    new_prediction = np.squeeze(new_prediction, axis=0)
    predicted_frame = np.expand_dims(new_prediction[-1, ...], axis=0)
    frames = np.concatenate((frames, predicted_frame), axis=0)
print("Frames after prediction:", frames.shape)
