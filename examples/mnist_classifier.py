"""Classifying MNIST digits with a stacked LSTM, the way the classic Keras tutorial does it.

Each 28x28 image is read as a sequence of 28 rows, 28 pixels each. Two LSTM layers of 128 units
read the rows top to bottom; a small dense head picks one of ten digits.

    python examples/mnist_classifier.py               # three epochs on the full data
    python examples/mnist_classifier.py --limit 5000  # a quick run on the first 5,000 images

The data ships with lstmkit: nothing is downloaded.
"""

import argparse

from lstmkit.datasets import mnist
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.models import Sequential
from lstmkit.optimizers import Adam
from lstmkit.utils import set_random_seed

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--limit", type=int, default=None, help="use only the first N training and test images")
args = parser.parse_args()
set_random_seed(0)

(x_train, y_train), (x_test, y_test) = mnist.load_data()
if args.limit:
    x_train, y_train, x_test, y_test = x_train[: args.limit], y_train[: args.limit], x_test[: args.limit], y_test[: args.limit]
# pixels from 0..255 to 0..1; the labels stay digits 0..9 (a sparse loss takes them as they are)
x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0

model = Sequential()
model.add(LSTM(128, input_shape=(28, 28), return_sequences=True))  # one output per row for the next LSTM
model.add(Dropout(0.2))
model.add(LSTM(128))  # only the last step's output: a summary of the whole image
model.add(Dense(64, activation="relu"))
model.add(Dropout(0.2))
model.add(Dense(10, activation="softmax"))
model.summary()

model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_data=(x_test, y_test))

loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"Test loss {loss:.4f}, test accuracy {accuracy:.4f}")
predicted = model.predict(x_test[:10]).argmax(axis=-1)
print("First ten test digits:", y_test[:10].tolist())
print("Predicted:            ", predicted.tolist())
