# The tensorflow.org text classification tutorial's way: text_dataset_from_directory over a folder
# of reviews, a custom standardization, TextVectorization mapped over the dataset, an LSTM
# classifier, and an export model that takes raw strings.
import os
import re
import string

import numpy as np
import tensorflow as tf
from tensorflow.keras import layers, losses

rng = np.random.default_rng(0)
good, bad, filler = ["great", "wonderful", "superb", "moving"], ["awful", "boring", "dull", "terrible"], \
    ["the", "film", "plot", "acting", "was", "and", "a", "story"]
for split in ("train", "test"):
    for label, words in (("pos", good), ("neg", bad)):
        os.makedirs(f"aclImdb/{split}/{label}", exist_ok=True)
        for i in range(60):
            text = " ".join(rng.choice(filler + words, size=12)) + "<br /><br />The END!"
            with open(f"aclImdb/{split}/{label}/{i}.txt", "w") as f:
                f.write(text)

batch_size, seed = 16, 42
raw_train_ds = tf.keras.utils.text_dataset_from_directory(
    "aclImdb/train", batch_size=batch_size, validation_split=0.2, subset="training", seed=seed)
raw_val_ds = tf.keras.utils.text_dataset_from_directory(
    "aclImdb/train", batch_size=batch_size, validation_split=0.2, subset="validation", seed=seed)
raw_test_ds = tf.keras.utils.text_dataset_from_directory("aclImdb/test", batch_size=batch_size)
for text_batch, label_batch in raw_train_ds.take(1):
    print("Review", text_batch.numpy()[0], "Label", label_batch.numpy()[0], raw_train_ds.class_names)


def custom_standardization(input_data):
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, "[%s]" % re.escape(string.punctuation), "")


max_features, sequence_length = 1000, 16
vectorize_layer = layers.TextVectorization(standardize=custom_standardization, max_tokens=max_features,
                                           output_mode="int", output_sequence_length=sequence_length)
train_text = raw_train_ds.map(lambda x, y: x)
vectorize_layer.adapt(train_text)
print("vocabulary:", vectorize_layer.get_vocabulary()[:10])


def vectorize_text(text, label):
    text = tf.expand_dims(text, -1)
    return vectorize_layer(text), label


AUTOTUNE = tf.data.AUTOTUNE
train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
test_ds = raw_test_ds.map(vectorize_text).cache().prefetch(buffer_size=AUTOTUNE)
model = tf.keras.Sequential([
    layers.Embedding(max_features, 16),
    layers.Bidirectional(layers.LSTM(16)),
    layers.Dropout(0.2),
    layers.Dense(1),
])
model.compile(loss=losses.BinaryCrossentropy(from_logits=True), optimizer="adam",
              metrics=[tf.metrics.BinaryAccuracy(threshold=0.0)])
history = model.fit(train_ds, validation_data=val_ds, epochs=5)
loss, accuracy = model.evaluate(test_ds)
print("Loss:", loss, "Accuracy:", accuracy)
export_model = tf.keras.Sequential([vectorize_layer, model, layers.Activation("sigmoid")])
export_model.compile(loss=losses.BinaryCrossentropy(from_logits=False), optimizer="adam", metrics=["accuracy"])
print(export_model.evaluate(raw_test_ds))
print(export_model.predict(np.array(["The movie was great!", "awful, boring plot"])))
