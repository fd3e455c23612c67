# Reading a CSV file line by line with TextLineDataset: skip the header, split and parse with
# tf.strings, filter bad rows, then window the values for an LSTM forecaster.
import numpy as np
import tensorflow as tf

with open("temperatures.csv", "w") as f:
    f.write("day,temperature\n")
    for day in range(1200):
        value = "" if day % 97 == 0 else f"{15 + 10 * np.sin(day / 58.0) + np.random.randn():.3f}"
        f.write(f"{day},{value}\n")
lines = tf.data.TextLineDataset("temperatures.csv").skip(1)
for line in lines.take(2):
    print(line.numpy().decode())


def parse(line):
    fields = tf.strings.split(line, ",")
    return fields[1]


values = lines.map(parse).filter(lambda v: tf.strings.length(v) > 0).map(lambda v: tf.strings.to_number(v))
series = np.array(list(values.as_numpy_iterator()), dtype="float32")
print(len(series), "readings")
window = 20
ds = tf.data.Dataset.from_tensor_slices(series).window(window + 1, shift=1, drop_remainder=True)
ds = ds.flat_map(lambda w: w.batch(window + 1)).map(lambda w: (tf.expand_dims(w[:-1], -1), w[-1]))
ds = ds.shuffle(500, seed=1).batch(32).cache().prefetch(tf.data.AUTOTUNE)
model = tf.keras.Sequential([tf.keras.layers.LSTM(16, input_shape=(window, 1)), tf.keras.layers.Dense(1)])
model.compile(loss="mae", optimizer="adam")
model.fit(ds, epochs=3)
print("cardinality", int(tf.data.experimental.cardinality(ds)))
