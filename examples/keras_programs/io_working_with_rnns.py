# In the manner of keras.io's guide "Working with RNNs" (Keras 3): the built-in layers, their
# states, RNN(LSTMCell), Bidirectional, and a cell of one's own in keras.layers.RNN.
import numpy as np
import keras
from keras import layers, ops

model = keras.Sequential()
model.add(layers.Input(shape=(None,), dtype="int32"))
model.add(layers.Embedding(input_dim=1000, output_dim=64))
model.add(layers.GRU(256, return_sequences=True))
model.add(layers.SimpleRNN(128))
model.add(layers.Dense(10))
model.summary()

encoder_vocab, decoder_vocab = 1000, 2000
encoder_input = layers.Input(shape=(None,))
encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)
output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
decoder_input = layers.Input(shape=(None,))
decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)
decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=[state_h, state_c])
seq2seq = keras.Model([encoder_input, decoder_input], layers.Dense(10)(decoder_output))
seq2seq.summary()

paragraph1, paragraph2 = np.random.random((20, 10, 50)).astype(np.float32), np.random.random((20, 10, 50)).astype(np.float32)
lstm_layer = layers.LSTM(64, stateful=True)
out1 = lstm_layer(paragraph1)
out2 = lstm_layer(paragraph2)
lstm_layer.reset_states()

bidirectional = keras.Sequential([layers.Input(shape=(5, 10)),
                                  layers.Bidirectional(layers.LSTM(64, return_sequences=True)),
                                  layers.Bidirectional(layers.LSTM(32)), layers.Dense(10)])
bidirectional.summary()

cell_model = keras.Sequential([layers.Input(shape=(None, 28)), layers.RNN(layers.LSTMCell(64)), layers.Dense(10)])


class MinimalRNNCell(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        output = ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel)
        return output, [output]


inputs = keras.Input((None, 5))
custom = keras.Model(inputs, layers.Dense(1)(layers.RNN(MinimalRNNCell(32))(inputs)))
custom.compile(optimizer="adam", loss="mse")
custom.fit(np.random.rand(64, 7, 5), np.random.rand(64, 1), batch_size=16, epochs=3)

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train, x_test = x_train[:2000] / 255.0, x_test[:500] / 255.0
y_train, y_test = y_train[:2000], y_test[:500]
mnist_model = keras.models.Sequential([layers.LSTM(64, input_shape=(None, 28)), layers.BatchNormalization(),
                                       layers.Dense(10)])
mnist_model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                    metrics=["accuracy"])
mnist_model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=64, epochs=3)
print("Predicted:", np.argmax(mnist_model.predict(x_test[:5]), axis=-1), "True:", y_test[:5])
