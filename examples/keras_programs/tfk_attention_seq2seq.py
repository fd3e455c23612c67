# A tf.keras blog program: an encoder-decoder of LSTMs joined by tf.keras.layers.AdditiveAttention
# (and the dot-product Attention), on a toy copy task, evaluated with a per-step accuracy.
import numpy as np
import tensorflow as tf
from tensorflow.keras.layers import Input, LSTM, Dense, Embedding, AdditiveAttention, Attention, Concatenate
from tensorflow.keras.models import Model

vocab, steps = 12, 6
source = np.random.randint(1, vocab, (400, steps))
target_in = np.concatenate([np.zeros((400, 1), int), source[:, :-1]], axis=1)
target_out = source
enc_in, dec_in = Input(shape=(steps,)), Input(shape=(steps,))
enc_emb = Embedding(vocab, 16)(enc_in)
enc_seq, h, c = LSTM(32, return_sequences=True, return_state=True)(enc_emb)
dec_emb = Embedding(vocab, 16)(dec_in)
dec_seq = LSTM(32, return_sequences=True)(dec_emb, initial_state=[h, c])
context = AdditiveAttention()([dec_seq, enc_seq])
luong = Attention(use_scale=True)([dec_seq, enc_seq])
joined = Concatenate(axis=-1)([dec_seq, context, luong])
probs = Dense(vocab, activation="softmax")(joined)
model = Model([enc_in, dec_in], probs)
model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
history = model.fit([source, target_in], target_out, batch_size=32, epochs=30, validation_split=0.1)
print("Final validation accuracy:", history.history["val_accuracy"][-1])
