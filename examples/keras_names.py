"""The seed tutorial's MNIST classifier, written with Keras 2's names, built and run by lstmkit.

Builds the model exactly as the tutorial writes it (CuDNNLSTM layers included), prints the
Keras-style summary, moves weights in and out as numpy arrays in Keras's layout, and predicts on
a batch of made-up 28x28 "images" (rows as time steps). Training arrives with `compile`/`fit`.

Run:  python examples/keras_names.py
"""

import numpy as np

from lstmkit.layers import CuDNNLSTM, Dense, Dropout
from lstmkit.models import Sequential

classifier = Sequential()
classifier.add(CuDNNLSTM(128, input_shape=(28, 28), return_sequences=True))
classifier.add(Dropout(0.2))
classifier.add(CuDNNLSTM(128))
classifier.add(Dense(64, activation="relu"))
classifier.add(Dropout(0.2))
classifier.add(Dense(10, activation="softmax"))
classifier.summary()

# Weights travel as Keras lays them out: kernel (input_dim, 4u), recurrent_kernel (u, 4u), bias.
weights = classifier.get_weights()
print("weight shapes:", [w.shape for w in weights])
classifier.set_weights(weights)

images = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
probabilities = classifier.predict(images)
print("predicted digits:", probabilities.argmax(axis=1), "rows sum to", probabilities.sum(axis=1).round(6))
