# In the manner of Keras 2's examples/imdb_fasttext.py: bigram features, averaged embeddings.
import numpy as np
from keras.preprocessing import sequence
from keras.models import Sequential
from keras.layers import Dense, Embedding, GlobalAveragePooling1D
from keras.datasets import imdb


def bigrams(ids):
    return set(zip(*[ids[i:] for i in range(2)]))


max_features, maxlen, batch_size, embedding_dims, epochs = 20000, 400, 32, 50, 5
(x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=max_features)
grams = set()
for ids in x_train:
    grams.update(bigrams(ids))
start = max_features + 1
token_of = {g: start + i for i, g in enumerate(sorted(grams))}
max_features = max(token_of.values()) + 1


def add_ngrams(sequences):
    out = []
    for ids in sequences:
        extra = [token_of[g] for g in zip(ids[:-1], ids[1:]) if g in token_of]
        out.append(list(ids) + extra)
    return out


x_train, x_test = add_ngrams(x_train), add_ngrams(x_test)
print("Average train sequence length:", np.mean(list(map(len, x_train)), dtype=int))
x_train = sequence.pad_sequences(x_train, maxlen=maxlen)
x_test = sequence.pad_sequences(x_test, maxlen=maxlen)
model = Sequential()
model.add(Embedding(max_features, embedding_dims, input_length=maxlen))
model.add(GlobalAveragePooling1D())
model.add(Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_data=(x_test, y_test))
