# In the manner of Keras 2's examples/addition_rnn.py: an LSTM encoder-decoder learns to add
# two numbers written as strings (Keras 2 names: predict_classes, TimeDistributed).
import numpy as np
from keras.models import Sequential
from keras import layers

DIGITS, SAMPLES, HIDDEN, BATCH = 3, 4000, 128, 128
MAXLEN = DIGITS + 1 + DIGITS
chars = "0123456789+ "


class CharacterTable(object):
    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.index = dict((c, i) for i, c in enumerate(self.chars))

    def encode(self, text, rows):
        x = np.zeros((rows, len(self.chars)))
        for i, c in enumerate(text):
            x[i, self.index[c]] = 1
        return x

    def decode(self, x, calc_argmax=True):
        if calc_argmax:
            x = x.argmax(axis=-1)
        return "".join(self.chars[i] for i in x)


table = CharacterTable(chars)
rng = np.random.RandomState(0)
questions, answers, seen = [], [], set()
while len(questions) < SAMPLES:
    a, b = (int("".join(rng.choice(list("0123456789")) for _ in range(rng.randint(1, DIGITS + 1)))) for _ in range(2))
    if (a, b) in seen:
        continue
    seen.add((a, b))
    q = "{}+{}".format(a, b)
    questions.append((q + " " * (MAXLEN - len(q)))[::-1])
    ans = str(a + b)
    answers.append(ans + " " * (DIGITS + 1 - len(ans)))
x = np.array([table.encode(q, MAXLEN) for q in questions], dtype=bool)
y = np.array([table.encode(a, DIGITS + 1) for a in answers], dtype=bool)
split = len(x) - len(x) // 10
(x_train, x_val), (y_train, y_val) = (x[:split], x[split:]), (y[:split], y[split:])

RNN = layers.LSTM
model = Sequential()
model.add(RNN(HIDDEN, input_shape=(MAXLEN, len(chars))))
model.add(layers.RepeatVector(DIGITS + 1))
model.add(RNN(HIDDEN, return_sequences=True))
model.add(layers.TimeDistributed(layers.Dense(len(chars), activation="softmax")))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.summary()
for iteration in range(1, 3):
    print("Iteration", iteration)
    model.fit(x_train, y_train, batch_size=BATCH, epochs=1, validation_data=(x_val, y_val))
    for i in range(5):
        row = rng.randint(0, len(x_val))
        rowx = x_val[np.array([row])]
        guess = table.decode(model.predict_classes(rowx, verbose=0)[0], calc_argmax=False)
        print("Q", table.decode(rowx[0])[::-1], "T", table.decode(y_val[row]), "guess", guess)
