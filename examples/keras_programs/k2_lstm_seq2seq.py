# In the manner of Keras 2's examples/lstm_seq2seq.py: character-level English to French with an
# LSTM encoder-decoder (functional API, teacher forcing), saved as s2s.h5, then greedy decoding.
from __future__ import print_function
from keras.models import Model
from keras.layers import Input, LSTM, Dense
import numpy as np

batch_size, epochs, latent_dim, num_samples = 64, 100, 256, 10000
data_path = "fra-eng/fra.txt"
input_texts, target_texts = [], []
input_characters, target_characters = set(), set()
with open(data_path, "r", encoding="utf-8") as f:
    lines = f.read().split("\n")
for line in lines[: min(num_samples, len(lines) - 1)]:
    input_text, target_text = line.split("\t")[:2]
    target_text = "\t" + target_text + "\n"
    input_texts.append(input_text)
    target_texts.append(target_text)
    input_characters.update(input_text)
    target_characters.update(target_text)
input_characters, target_characters = sorted(input_characters), sorted(target_characters)
num_encoder_tokens, num_decoder_tokens = len(input_characters), len(target_characters)
max_encoder_seq_length = max(len(t) for t in input_texts)
max_decoder_seq_length = max(len(t) for t in target_texts)
input_token_index = dict((c, i) for i, c in enumerate(input_characters))
target_token_index = dict((c, i) for i, c in enumerate(target_characters))
encoder_input_data = np.zeros((len(input_texts), max_encoder_seq_length, num_encoder_tokens), dtype="float32")
decoder_input_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
decoder_target_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
for i, (input_text, target_text) in enumerate(zip(input_texts, target_texts)):
    for t, char in enumerate(input_text):
        encoder_input_data[i, t, input_token_index[char]] = 1.0
    for t, char in enumerate(target_text):
        decoder_input_data[i, t, target_token_index[char]] = 1.0
        if t > 0:
            decoder_target_data[i, t - 1, target_token_index[char]] = 1.0

encoder_inputs = Input(shape=(None, num_encoder_tokens))
encoder_outputs, state_h, state_c = LSTM(latent_dim, return_state=True)(encoder_inputs)
encoder_states = [state_h, state_c]
decoder_inputs = Input(shape=(None, num_decoder_tokens))
decoder_lstm = LSTM(latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = Dense(num_decoder_tokens, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)
model = Model([encoder_inputs, decoder_inputs], decoder_outputs)
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit([encoder_input_data, decoder_input_data], decoder_target_data, batch_size=batch_size, epochs=epochs,
          validation_split=0.2)
model.save("s2s.h5")

encoder_model = Model(encoder_inputs, encoder_states)
decoder_state_input_h, decoder_state_input_c = Input(shape=(latent_dim,)), Input(shape=(latent_dim,))
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_outputs, state_h, state_c = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
decoder_model = Model([decoder_inputs] + decoder_states_inputs, [decoder_dense(decoder_outputs), state_h, state_c])
reverse_target_char_index = dict((i, char) for char, i in target_token_index.items())


def decode_sequence(input_seq):
    states_value = encoder_model.predict(input_seq)
    target_seq = np.zeros((1, 1, num_decoder_tokens))
    target_seq[0, 0, target_token_index["\t"]] = 1.0
    decoded = ""
    while True:
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value)
        sampled_char = reverse_target_char_index[np.argmax(output_tokens[0, -1, :])]
        decoded += sampled_char
        if sampled_char == "\n" or len(decoded) > max_decoder_seq_length:
            break
        target_seq = np.zeros((1, 1, num_decoder_tokens))
        target_seq[0, 0, target_token_index[sampled_char]] = 1.0
        states_value = [h, c]
    return decoded


for seq_index in range(3):
    print("Input:", input_texts[seq_index], "Decoded:", repr(decode_sequence(encoder_input_data[seq_index: seq_index + 1])))
