"""Moves a Keras 3 model's weights into lstmkit and compares the predictions.

Builds the seed tutorial's MNIST architecture (LSTM 128 x2, Dense 64, Dense 10) once with
Keras's names in Keras and once in lstmkit from the same builder, gives the Keras model random
weights, loads them with `set_weights(keras_model.get_weights())` and predicts the first 2,000
MNIST test images with both. Needs the `dev` extra (Keras, run on its torch backend).

Run:  .venv/bin/python examples/compare_with_keras.py
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import lstmkit.layers  # noqa: E402
from lstmkit.datasets import mnist  # noqa: E402
from lstmkit.models import Sequential  # noqa: E402


def build(layers, sequential):
    return sequential([
        layers.Input(shape=(28, 28)),
        layers.LSTM(128, return_sequences=True),
        layers.Dropout(0.2),
        layers.LSTM(128),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])


(_, _), (x_test, _) = mnist.load_data()
images = x_test[:2000].astype("float32") / 255.0
theirs, ours = build(keras.layers, keras.Sequential), build(lstmkit.layers, Sequential)
rng = np.random.default_rng(0)
theirs.set_weights([rng.uniform(-0.3, 0.3, w.shape).astype("float32") for w in theirs.get_weights()])
ours.set_weights(theirs.get_weights())
expected, got = theirs.predict(images, verbose=0), ours.predict(images)
print(f"max |lstmkit - keras| over {len(images)} images x 10 classes: {np.abs(got - expected).max():.2e}")
print(f"same predicted digit: {(got.argmax(1) == expected.argmax(1)).mean():.2%}")
