"""A Keras program with no word about devices, as tutorials write it (the seed program's model:
CuDNNLSTM 128 twice, Dense 64, softmax), for `lstmkit run` on a GPU machine: it prints where the
weights went and the epoch's time. An argument names a dtype policy ("mixed_bfloat16").

    lstmkit run benchmarks/gpu_keras_program.py [POLICY]
"""
import sys
import time

import keras
from keras.datasets import mnist
from keras.layers import CuDNNLSTM, Dense, Dropout
from keras.models import Sequential

if len(sys.argv) > 1:
    keras.mixed_precision.set_global_policy(sys.argv[1])

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0

model = Sequential()
model.add(CuDNNLSTM(128, input_shape=x_train.shape[1:], return_sequences=True))
model.add(Dropout(0.2))
model.add(CuDNNLSTM(128))
model.add(Dense(64, activation="relu"))
model.add(Dropout(0.2))
model.add(Dense(10, activation="softmax"))
model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(lr=1e-3), metrics=["accuracy"])

start = time.perf_counter()
model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=2)
seconds = time.perf_counter() - start
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"policy {keras.mixed_precision.global_policy().name}: weights on {model.weights[0].device}, "
      f"epoch {seconds:.1f} s, test accuracy {accuracy:.4f}")
