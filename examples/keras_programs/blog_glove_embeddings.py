# In the manner of the Keras 2 blog programs on pre-trained word embeddings: GloVe vectors from
# get_file(extract=True), a Tokenizer, an Embedding(weights=[matrix], trainable=False), then
# Conv1D / MaxPooling1D / LSTM on the reviews of keras.datasets.imdb turned back into words.
import os
import numpy as np
from keras.utils import get_file
from keras.datasets import imdb
from keras.preprocessing.text import Tokenizer
from keras.preprocessing.sequence import pad_sequences
from keras.models import Sequential
from keras.layers import Embedding, Conv1D, MaxPooling1D, LSTM, Dense, Dropout

path = get_file("glove.6B.zip", origin="http://nlp.stanford.edu/data/glove.6B.zip", extract=True)
embeddings_index = {}
with open(os.path.join(path, "glove.6B.50d.txt"), encoding="utf8") as f:
    for line in f:
        values = line.split()
        embeddings_index[values[0]] = np.asarray(values[1:], dtype="float32")
print("Found %s word vectors." % len(embeddings_index))

(x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=5000)
word_index = imdb.get_word_index()
reverse = {i + 3: w for w, i in word_index.items()}
texts = [" ".join(reverse.get(i, "?") for i in review) for review in x_train]
tokenizer = Tokenizer(num_words=5000)
tokenizer.fit_on_texts(texts)
data = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=200)
embedding_matrix = np.zeros((5000, 50))
for word, i in tokenizer.word_index.items():
    if i < 5000 and word in embeddings_index:
        embedding_matrix[i] = embeddings_index[word]
model = Sequential()
model.add(Embedding(5000, 50, weights=[embedding_matrix], input_length=200, trainable=False))
model.add(Dropout(0.2))
model.add(Conv1D(64, 5, activation="relu"))
model.add(MaxPooling1D(pool_size=4))
model.add(LSTM(50))
model.add(Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["acc"])
history = model.fit(data, y_train, validation_split=0.2, epochs=3, batch_size=32)
print("val_acc:", history.history["val_acc"])
