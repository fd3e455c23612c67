# In the manner of Keras 2's examples/conv_lstm.py: stacked ConvLSTM2D + BatchNormalization and a
# Conv3D predict the next frame of made-up movies of moving squares (smaller than the original).
from keras.models import Sequential
from keras.layers.convolutional import Conv3D
from keras.layers.convolutional_recurrent import ConvLSTM2D
from keras.layers.normalization import BatchNormalization
import numpy as np

seq = Sequential()
seq.add(ConvLSTM2D(filters=8, kernel_size=(3, 3), input_shape=(None, 20, 20, 1), padding="same", return_sequences=True))
seq.add(BatchNormalization())
seq.add(ConvLSTM2D(filters=8, kernel_size=(3, 3), padding="same", return_sequences=True))
seq.add(BatchNormalization())
seq.add(Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same", data_format="channels_last"))
seq.compile(loss="binary_crossentropy", optimizer="adadelta")


def generate_movies(n_samples=60, n_frames=8):
    row = 40
    noisy_movies = np.zeros((n_samples, n_frames, row, row, 1), dtype=np.float32)
    shifted_movies = np.zeros((n_samples, n_frames, row, row, 1), dtype=np.float32)
    for i in range(n_samples):
        for j in range(np.random.randint(2, 4)):
            xstart, ystart = np.random.randint(10, 30), np.random.randint(10, 30)
            directionx, directiony = np.random.randint(0, 3) - 1, np.random.randint(0, 3) - 1
            w = np.random.randint(2, 4)
            for t in range(n_frames):
                x_shift, y_shift = xstart + directionx * t, ystart + directiony * t
                noisy_movies[i, t, x_shift - w: x_shift + w, y_shift - w: y_shift + w, 0] += 1
                shifted_movies[i, t, x_shift + directionx - w: x_shift + directionx + w,
                               y_shift + directiony - w: y_shift + directiony + w, 0] += 1
    noisy_movies = noisy_movies[:, :, 10:30, 10:30, :]
    shifted_movies = shifted_movies[:, :, 10:30, 10:30, :]
    noisy_movies[noisy_movies >= 1] = 1
    shifted_movies[shifted_movies >= 1] = 1
    return noisy_movies, shifted_movies


noisy_movies, shifted_movies = generate_movies()
seq.fit(noisy_movies[:50], shifted_movies[:50], batch_size=10, epochs=300, validation_split=0.05)
track = noisy_movies[55][:4, ::, ::, ::]
for j in range(4):
    new_pos = seq.predict(track[np.newaxis, ::, ::, ::, ::])
    new = new_pos[::, -1, ::, ::, ::]
    track = np.concatenate((track, new), axis=0)
print("predicted frames:", track.shape)
