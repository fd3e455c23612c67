# Bag-of-words baselines as Deep Learning with Python compares them: TextVectorization with
# bigrams in multi_hot and tf_idf modes feeding Dense models, beside an int-mode LSTM.
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

rng = np.random.default_rng(11)
pos, neg, common = ["good", "great", "fine"], ["bad", "poor", "weak"], ["the", "movie", "is", "very", "not", "a"]
texts = [" ".join(rng.choice(common + (pos if i % 2 else neg), size=8)) for i in range(600)]
labels = np.array([i % 2 for i in range(600)])
train_ds = tf.data.Dataset.from_tensor_slices((texts[:500], labels[:500])).batch(32)
test_ds = tf.data.Dataset.from_tensor_slices((texts[500:], labels[500:])).batch(32)
text_only_train_ds = train_ds.map(lambda x, y: x)
for mode in ("multi_hot", "tf_idf"):
    text_vectorization = layers.TextVectorization(ngrams=2, max_tokens=200, output_mode=mode, pad_to_max_tokens=True)
    text_vectorization.adapt(text_only_train_ds)
    train = train_ds.map(lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    test = test_ds.map(lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    inputs = keras.Input(shape=(200,))
    x = layers.Dense(16, activation="relu")(inputs)
    outputs = layers.Dense(1, activation="sigmoid")(layers.Dropout(0.5)(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(train.cache(), validation_data=test.cache(), epochs=3)
    print(mode, "test acc:", model.evaluate(test)[1])
sequences = layers.TextVectorization(max_tokens=200, output_mode="int", output_sequence_length=10)
sequences.adapt(text_only_train_ds)
inputs = keras.Input(shape=(1,), dtype="string")
x = layers.Embedding(200, 16, mask_zero=True)(sequences(inputs))
outputs = layers.Dense(1, activation="sigmoid")(layers.Bidirectional(layers.LSTM(16))(x))
model = keras.Model(inputs, outputs)
model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(train_ds, validation_data=test_ds, epochs=3)
print("LSTM test acc:", model.evaluate(test_ds)[1])
