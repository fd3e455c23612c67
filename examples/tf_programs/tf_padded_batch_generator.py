# Variable-length sequences from a generator: from_generator with an output_signature,
# padded_batch, an Embedding with mask_zero and an LSTM that skips the padding.
import numpy as np
import tensorflow as tf

rng = np.random.default_rng(5)


def reviews():
    for _ in range(600):
        length = int(rng.integers(3, 25))
        positive = bool(rng.integers(0, 2))
        words = rng.integers(2, 50, size=length)
        if positive:
            words[rng.integers(0, length)] = 1  # the word that decides
        yield words, int(positive)


ds = tf.data.Dataset.from_generator(
    reviews, output_signature=(tf.TensorSpec(shape=(None,), dtype=tf.int32), tf.TensorSpec(shape=(), dtype=tf.int32)))
train = ds.shuffle(100).padded_batch(32, padded_shapes=([None], []))
for x, y in train.take(1):
    print("batch", x.shape, y.shape, tf.reduce_max(tf.reduce_sum(tf.cast(x > 0, tf.int32), axis=1)).numpy())
model = tf.keras.Sequential([
    tf.keras.layers.Embedding(50, 16, mask_zero=True),
    tf.keras.layers.LSTM(32),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(train, epochs=4)
print(model.evaluate(ds.padded_batch(64)))
