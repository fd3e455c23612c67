"""A character-level language model: read 40 characters of Shakespeare, guess the next one.

This is the second model of the classic tutorial: `LSTM(256)`, `Dropout(0.2)` and a softmax
over the characters, fed as in the tutorial with each character's index scaled to [0, 1) (one
input feature per step) and the next character one-hot.

    python examples/char_lstm.py                      # a few minutes on a laptop CPU
    python examples/char_lstm.py --chars 20000 --epochs 2

After training it writes a few hundred characters, each drawn from the model's prediction.
"""

import argparse

import numpy as np

from lstmkit.datasets import shakespeare
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.models import Sequential
from lstmkit.utils import set_random_seed, to_categorical

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--chars", type=int, default=60000, help="how much of the text to learn from")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--seq-length", type=int, default=40)
parser.add_argument("--generate", type=int, default=300, help="characters to write after training")
args = parser.parse_args()
set_random_seed(0)

text = shakespeare.load_text()[: args.chars]
alphabet = sorted(set(text))
index_of = {c: i for i, c in enumerate(alphabet)}
codes = np.array([index_of[c] for c in text])

# every window of seq_length characters, and the character after it (a step of 3 keeps it small)
starts = np.arange(0, len(codes) - args.seq_length, 3)
windows = np.stack([codes[s : s + args.seq_length] for s in starts])  # (samples, seq_length)
X = (windows / len(alphabet)).astype("float32")[:, :, None]          # (samples, seq_length, 1)
y = to_categorical(codes[starts + args.seq_length], len(alphabet))   # (samples, characters)
print(f"{len(text)} characters, {len(alphabet)} distinct, {len(X)} training windows")

model = Sequential()
model.add(LSTM(256, input_shape=(X.shape[1], X.shape[2])))
model.add(Dropout(0.2))
model.add(Dense(y.shape[1], activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(X, y, epochs=args.epochs, batch_size=128)

# writing: start from a window of the text, then feed each drawn character back in
rng = np.random.default_rng(0)
window = list(codes[:args.seq_length])
written = []
for _ in range(args.generate):
    probs = model.predict((np.array(window) / len(alphabet)).astype("float32")[None, :, None])[0]
    probs = probs.astype("float64")
    probs /= probs.sum()
    code = int(rng.choice(len(alphabet), p=probs))
    written.append(alphabet[code])
    window = window[1:] + [code]
print("Seed:", repr(text[: args.seq_length]))
print("Written:\n" + "".join(written))
print(f"Final training loss {history.history['loss'][-1]:.3f} (a uniform guess: {np.log(len(alphabet)):.3f})")
