# In the manner of the Keras 2 blog tutorials on TimeseriesGenerator: a univariate series, windows
# from the generator, an LSTM trained with fit_generator, a one-step forecast.
from numpy import array, hstack
import numpy as np
from keras.models import Sequential
from keras.layers import Dense, LSTM
from keras.preprocessing.sequence import TimeseriesGenerator

series = np.sin(np.arange(0, 40, 0.2))
n_input, n_features = 8, 1
data = series.reshape((len(series), n_features))
generator = TimeseriesGenerator(data, series, length=n_input, batch_size=16)
print("Samples: %d" % len(generator))
x, y = generator[0]
print("%s => %s" % (x[0].flatten(), y[0]))
model = Sequential()
model.add(LSTM(50, activation="relu", input_shape=(n_input, n_features)))
model.add(Dense(1))
model.compile(optimizer="adam", loss="mse")
model.fit_generator(generator, steps_per_epoch=len(generator), epochs=200, verbose=2)
x_input = array(series[-n_input:]).reshape((1, n_input, n_features))
print("Next value:", model.predict(x_input, verbose=0))
# two parallel series, windows of both, the target from the first
in_seq1, in_seq2 = series.reshape(-1, 1), np.cos(np.arange(0, 40, 0.2)).reshape(-1, 1)
multi = TimeseriesGenerator(hstack((in_seq1, in_seq2)), series, length=n_input, batch_size=16)
model2 = Sequential([LSTM(20, input_shape=(n_input, 2)), Dense(1)])
model2.compile(optimizer="adam", loss="mse")
model2.fit_generator(multi, steps_per_epoch=len(multi), epochs=50, verbose=0)
print("Two-series forecast:", model2.predict(multi[0][0][:1], verbose=0))
