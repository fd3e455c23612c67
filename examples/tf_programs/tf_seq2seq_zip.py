# A seq2seq reverser trained on a Dataset.zip of (encoder input, decoder input) and targets, with
# the encoder's LSTM states as the decoder's initial state, then greedy decoding.
import numpy as np
import tensorflow as tf

tf.random.set_seed(3)
vocab, length, n = 12, 6, 1500
START = vocab - 1
source = np.random.randint(1, vocab - 1, size=(n, length))
target = source[:, ::-1]
decoder_in = np.concatenate([np.full((n, 1), START), target[:, :-1]], axis=1)
encoder_ds = tf.data.Dataset.from_tensor_slices((source, decoder_in))
target_ds = tf.data.Dataset.from_tensor_slices(target)
dataset = tf.data.Dataset.zip((encoder_ds, target_ds)).shuffle(n).batch(64, drop_remainder=True)
dataset = dataset.map(lambda inputs, y: ({"encoder": inputs[0], "decoder": inputs[1]}, y))
enc_in = tf.keras.Input(shape=(None,), name="encoder")
dec_in = tf.keras.Input(shape=(None,), name="decoder")
embed = tf.keras.layers.Embedding(vocab, 16)
_, h, c = tf.keras.layers.LSTM(64, return_state=True)(embed(enc_in))
dec_seq = tf.keras.layers.LSTM(64, return_sequences=True)(embed(dec_in), initial_state=[h, c])
logits = tf.keras.layers.Dense(vocab)(dec_seq)
model = tf.keras.Model([enc_in, dec_in], logits)
model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(dataset, epochs=8)
test = np.random.randint(1, vocab - 1, size=(4, length))
decoded = np.full((4, 1), START)
for _ in range(length):
    step = model.predict({"encoder": test, "decoder": decoded}, verbose=0)
    decoded = tf.concat([decoded, tf.cast(tf.argmax(step[:, -1:, :], axis=-1), tf.int64)], axis=1).numpy()
print("source  ", test.tolist())
print("decoded ", decoded[:, 1:].tolist())
