# In the manner of Keras 2's examples/lstm_seq2seq_restore.py: reload s2s.h5 (written by
# lstm_seq2seq.py) and rebuild the sampling models from the trained model's layers.
from __future__ import print_function
from keras.models import Model, load_model
from keras.layers import Input
import numpy as np

latent_dim, num_samples = 256, 10000
data_path = "fra-eng/fra.txt"
input_texts, target_texts, input_characters, target_characters = [], [], set(), set()
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
for i, input_text in enumerate(input_texts):
    for t, char in enumerate(input_text):
        encoder_input_data[i, t, input_token_index[char]] = 1.0

model = load_model("s2s.h5")
encoder_inputs = model.input[0]
encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output
encoder_model = Model(encoder_inputs, [state_h_enc, state_c_enc])
decoder_inputs = model.input[1]
decoder_state_input_h = Input(shape=(latent_dim,), name="input_3")
decoder_state_input_c = Input(shape=(latent_dim,), name="input_4")
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_lstm = model.layers[3]
decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
decoder_dense = model.layers[4]
decoder_model = Model([decoder_inputs] + decoder_states_inputs,
                      [decoder_dense(decoder_outputs), state_h_dec, state_c_dec])
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
