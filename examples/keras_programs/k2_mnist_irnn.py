# In the manner of Keras 2's examples/mnist_irnn.py: a ReLU SimpleRNN with an identity recurrent
# kernel reads MNIST one pixel at a time (Le et al. 2015); Keras 2's RMSprop(lr=...).
from __future__ import print_function
import keras
from keras.datasets import mnist
from keras.models import Sequential
from keras.layers import Dense, Activation
from keras.layers import SimpleRNN
from keras import initializers
from keras.optimizers import RMSprop

batch_size, num_classes, epochs, hidden_units = 32, 10, 200, 100
learning_rate = 1e-6
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]
x_train = x_train.reshape(x_train.shape[0], -1, 1).astype("float32") / 255
x_test = x_test.reshape(x_test.shape[0], -1, 1).astype("float32") / 255
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)
model = Sequential()
model.add(SimpleRNN(hidden_units, kernel_initializer=initializers.RandomNormal(stddev=0.001),
                    recurrent_initializer=initializers.Identity(gain=1.0), activation="relu",
                    input_shape=x_train.shape[1:]))
model.add(Dense(num_classes))
model.add(Activation("softmax"))
rmsprop = RMSprop(lr=learning_rate)
model.compile(loss="categorical_crossentropy", optimizer=rmsprop, metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=1, validation_data=(x_test, y_test))
scores = model.evaluate(x_test, y_test, verbose=0)
print("IRNN test score:", scores[0])
print("IRNN test accuracy:", scores[1])
