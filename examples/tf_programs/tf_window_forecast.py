# A course-style forecasting program: a tf.data window pipeline over a noisy seasonal series,
# Conv1D + stacked LSTMs, the Huber loss, and a forecast made from windows.
import numpy as np
import tensorflow as tf

tf.random.set_seed(51)
np.random.seed(51)
time = np.arange(4 * 365 + 1, dtype="float32")
series = 10 + 0.05 * time + 20 * np.sin(time / 365 * 2 * np.pi * 4) + np.random.randn(len(time)) * 2
split_time = 1000
x_train, x_valid = series[:split_time], series[split_time:]
window_size, batch_size, shuffle_buffer = 30, 32, 1000


def windowed_dataset(series, window_size, batch_size, shuffle_buffer):
    series = tf.expand_dims(series, axis=-1)
    ds = tf.data.Dataset.from_tensor_slices(series)
    ds = ds.window(window_size + 1, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda w: w.batch(window_size + 1))
    ds = ds.shuffle(shuffle_buffer)
    ds = ds.map(lambda w: (w[:-1], w[1:]))
    return ds.batch(batch_size).prefetch(1)


train_set = windowed_dataset(x_train, window_size, batch_size, shuffle_buffer)
print(train_set.element_spec)
model = tf.keras.models.Sequential([
    tf.keras.layers.Conv1D(filters=32, kernel_size=5, strides=1, padding="causal", activation="relu",
                           input_shape=[None, 1]),
    tf.keras.layers.LSTM(32, return_sequences=True),
    tf.keras.layers.LSTM(32, return_sequences=True),
    tf.keras.layers.Dense(1),
    tf.keras.layers.Lambda(lambda x: x * 20.0),
])
model.compile(loss=tf.keras.losses.Huber(), optimizer=tf.keras.optimizers.SGD(learning_rate=1e-5, momentum=0.9),
              metrics=["mae"])
history = model.fit(train_set, epochs=3)


def model_forecast(model, series, window_size):
    ds = tf.data.Dataset.from_tensor_slices(series)
    ds = ds.window(window_size, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda w: w.batch(window_size))
    return model.predict(ds.batch(32).prefetch(1))


forecast = model_forecast(model, series[..., np.newaxis], window_size)
forecast = forecast[split_time - window_size:-1, -1, 0]
print("validation MAE:", tf.keras.metrics.mean_absolute_error(x_valid, forecast).numpy())
